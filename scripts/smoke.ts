/**
 * The post-deploy check: does this deployment work before an agent depends on it?
 *
 *   npm run smoke -- --stack Countersign-<stage> [--region R] [--agent ID] [--timeout SECONDS]
 *   npm run smoke -- --endpoint http://127.0.0.1:4010 --audit-dir DIR --key-dir DIR [--agent ID]   (the local stack)
 *
 * One line per check, ✓ or ✗ with the reason and what to fix (○ for a check that does not apply locally);
 * exit 1 on any ✗, 2 on a usage error. In AWS the credentials come from the default chain, and the agent's
 * role needs events:PutEvents (as agent.<ID>) and the decision API's two Function URL permissions; reading
 * the stack, the bus policy, the audit bucket and the signing key's public key needs cloudformation:DescribeStacks,
 * events:DescribeEventBus, s3:ListBucket/GetObject (and kms:Decrypt) on the audit bucket and kms:GetPublicKey.
 */
import { pathToFileURL } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { Sha256 } from '@aws-crypto/sha256-js';
import { DescribeEventBusCommand, EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { GetPublicKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { S3Client } from '@aws-sdk/client-s3';
import { defaultProvider } from '@aws-sdk/credential-provider-node';
import { SignatureV4 } from '@smithy/signature-v4';
import { createAgentClient, type Credentials } from '../client/index.js';
import { S3AuditSink } from '../shared/adapters/aws/s3-audit-sink.js';
import { Ed25519Signer } from '../shared/adapters/local/ed25519-signer.js';
import { LocalAuditSink } from '../shared/adapters/local/local-audit-sink.js';
import { DETAIL_TYPE_DECIDED } from '../shared/domain/contract.js';
import { AUDIT_PREFIX, DIGEST_PREFIX } from '../shared/audit/format.js';
import { verifyAuditLog } from '../shared/audit/verify.js';
import type { AuditSink } from '../shared/ports/audit.js';

export const DEFAULT_SMOKE_AGENT = 'billing-agent';
const REQUIRED_OUTPUTS = ['EventBusName', 'DecisionApiUrl', 'AuditBucketName', 'DigestSigningKeyArn'] as const;

export interface SmokeLine {
  status: 'pass' | 'fail' | 'skip';
  check: string;
  detail: string;
}

/** Where the deployment is: AWS (from the stack's outputs) or the local stack (endpoint overrides). */
export interface SmokeTarget {
  eventBusName: string;
  decisionApiUrl: string;
  /** PutEvents endpoint override (the local stack). */
  busEndpoint?: string;
  region: string;
  credentials: Credentials;
  sign: boolean;
  audit: Pick<AuditSink, 'list' | 'getObject'>;
  publicKeyPem: () => Promise<string>;
  /** Reads the bus's resource policy; undefined where the bus has none to check (the local stack). */
  busPolicy?: () => Promise<string | undefined>;
}

export interface SmokeOptions {
  agentId: string;
  /** How long to wait for the decision and for the audit records. */
  timeoutMs: number;
  now?: () => Date;
  onLine?: (line: SmokeLine) => void;
}

/** The bus policy as the stack writes it: one document, with the deny that keeps anyone else from publishing decisions. */
export function checkBusPolicy(policy: string | undefined): SmokeLine {
  const check = 'bus policy';
  if (policy === undefined || policy === '') return { status: 'fail', check, detail: 'the bus has no resource policy: redeploy the stack (the bus carries it as its Policy property)' };
  let statements: Array<Record<string, unknown>>;
  try {
    const document = JSON.parse(policy) as { Statement?: unknown };
    statements = [document.Statement ?? []].flat() as Array<Record<string, unknown>>;
  } catch {
    return { status: 'fail', check, detail: 'the bus policy is not JSON' };
  }
  const decisionDeny = statements.find((s) => s.Effect === 'Deny'
    && JSON.stringify(s.Principal) === JSON.stringify({ AWS: '*' })
    && (s.Condition as { StringEquals?: Record<string, unknown> } | undefined)?.StringEquals?.['events:detail-type'] === DETAIL_TYPE_DECIDED);
  if (decisionDeny === undefined) {
    return { status: 'fail', check, detail: `no Deny of detail-type "${DETAIL_TYPE_DECIDED}" to everyone but Countersign: anyone in the account could forge decisions; redeploy the stack, and remove any policy edits made outside it` };
  }
  return { status: 'pass', check, detail: `one document, ${statements.length} statements, the "${DETAIL_TYPE_DECIDED}" deny present` };
}

/** Runs every check in order; a failed step skips the steps that need it. */
export async function runSmoke(target: SmokeTarget, options: SmokeOptions): Promise<SmokeLine[]> {
  const lines: SmokeLine[] = [];
  const report = (line: SmokeLine) => { lines.push(line); options.onLine?.(line); return line; };
  const now = options.now ?? (() => new Date());

  if (target.busPolicy === undefined) report({ status: 'skip', check: 'bus policy', detail: 'the local bus has no resource policy' });
  else {
    try {
      report(checkBusPolicy(await target.busPolicy()));
    } catch (error) {
      report({ status: 'fail', check: 'bus policy', detail: `cannot read it (${(error as Error).message}): the caller needs events:DescribeEventBus` });
    }
  }

  const startedAt = now();
  const actionId = `smoke-${startedAt.getTime()}-${Math.random().toString(36).slice(2, 8)}`;
  const client = createAgentClient({
    agentId: options.agentId, eventBusName: target.eventBusName, decisionApiUrl: target.decisionApiUrl, region: target.region,
    credentials: target.credentials, sign: target.sign, waitTimeoutMs: options.timeoutMs,
    ...(target.busEndpoint === undefined ? {} : { busEndpoint: target.busEndpoint }),
  });
  try {
    const decision = await client.requestAction({
      actionId, action: 'db.query', resource: { type: 'Database', id: 'countersign-smoke' }, environment: 'test',
      parameters: { sql: 'SELECT 1' }, justification: 'Countersign post-deploy smoke check: a harmless query the shipped policies allow',
    });
    if (decision.outcome !== 'allowed') {
      report({ status: 'fail', check: 'request', detail: `${actionId} was ${decision.outcome} (${decision.reason}); the shipped policy db-query allows it: are the deployed policies the shipped ones?` });
      return lines;
    }
    report({ status: 'pass', check: 'request', detail: `${actionId} sent as agent.${options.agentId}, allowed by ${decision.policyIds.join(', ')}` });
  } catch (error) {
    report({ status: 'fail', check: 'request', detail: `${(error as Error).message} (the agent's role needs events:PutEvents with events:source agent.${options.agentId}, and lambda:InvokeFunctionUrl and lambda:InvokeFunction on the decision API)` });
    return lines;
  } finally {
    client.destroy();
  }

  const found = await auditRecordsOf(target.audit, actionId, startedAt, options.timeoutMs);
  if (found.length === 0) {
    report({ status: 'fail', check: 'audit records', detail: `no record of ${actionId} in the audit log after ${Math.round(options.timeoutMs / 1000)} s: check the audit writer (WriterErrorsAlarm, IteratorAgeAlarm) and the failure bucket` });
    return lines;
  }
  report({ status: 'pass', check: 'audit records', detail: `${found.map((r) => r.event_type).join(', ')} of ${actionId} in ${new Set(found.map((r) => r.key)).size} object(s)` });

  try {
    // From the newest signed digest on: it, and every object written since (ours among them, not yet signed).
    const from = await newestDigestHour(target.audit);
    const since = from === undefined ? 'the start of the log' : from.toISOString();
    const verified = await verifyAuditLog({ sink: target.audit, publicKeyPem: await target.publicKeyPem(), ...(from === undefined ? {} : { from }) });
    report(verified.ok
      ? { status: 'pass', check: 'verify', detail: `${verified.objects} object(s), ${verified.records} record(s) since ${since} whole; ${verified.pendingObjects.length} not yet in a signed digest` }
      : { status: 'fail', check: 'verify', detail: `${verified.problems.length} problem(s) since ${since}, first: ${verified.problems[0]?.message ?? 'unknown'}; run npm run audit -- verify for the full report` });
  } catch (error) {
    report({ status: 'fail', check: 'verify', detail: (error as Error).message });
  }
  return lines;
}

/** Polls the log's partitions since `since` for records of `actionId` until `requested` and `decided` are both there. */
async function auditRecordsOf(audit: SmokeTarget['audit'], actionId: string, since: Date, timeoutMs: number): Promise<Array<{ event_type: string; key: string }>> {
  const deadline = Date.now() + timeoutMs;
  const read = new Map<string, Array<{ event_type: string; key: string }>>();
  for (;;) {
    for (const day of daysSince(since)) {
      for (const key of await audit.list(`${AUDIT_PREFIX}dt=${day}/`)) {
        if (read.has(key) || !key.endsWith('.ndjson.gz')) continue;
        const body = await audit.getObject(key);
        if (body === undefined) continue;
        const records = gunzipSync(body).toString('utf8').split('\n').filter((line) => line !== '')
          .map((line) => JSON.parse(line) as { action_id: string | null; event_type: string })
          .filter((record) => record.action_id === actionId)
          .map((record) => ({ event_type: record.event_type, key }));
        read.set(key, records);
      }
    }
    const found = [...read.values()].flat();
    const types = new Set(found.map((r) => r.event_type));
    if ((types.has('requested') && types.has('decided')) || Date.now() > deadline) return found;
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}

/** The hour of the newest digest (`digests/dt=YYYY-MM-DD/hour=HH/…`), or undefined when none is signed yet. */
async function newestDigestHour(audit: SmokeTarget['audit']): Promise<Date | undefined> {
  const hours = (await audit.list(DIGEST_PREFIX))
    .map((key) => /dt=(\d{4}-\d{2}-\d{2})\/hour=(\d{2})\//.exec(key))
    .filter((match) => match !== null)
    .map((match) => `${match[1]}T${match[2]}:00:00.000Z`)
    .sort();
  const newest = hours.at(-1);
  return newest === undefined ? undefined : new Date(newest);
}

function daysSince(since: Date): string[] {
  const days = new Set<string>();
  for (let t = since.getTime(); t <= Date.now() + 1; t += 3_600_000) days.add(new Date(t).toISOString().slice(0, 10));
  days.add(new Date().toISOString().slice(0, 10));
  return [...days];
}

/** The stack's outputs, with CloudFormation's query API (DescribeStacks) signed with SigV4. */
export async function describeStackOutputs(stack: string, region: string, credentials: Credentials, fetchImpl: typeof fetch = fetch): Promise<Record<string, string>> {
  const hostname = `cloudformation.${region}.amazonaws.com`;
  const body = new URLSearchParams({ Action: 'DescribeStacks', StackName: stack, Version: '2010-05-15' }).toString();
  const signer = new SignatureV4({ credentials, region, service: 'cloudformation', sha256: Sha256 });
  const signed = await signer.sign({ method: 'POST', protocol: 'https:', hostname, path: '/', headers: { host: hostname, 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' }, body });
  const { host: _host, ...headers } = signed.headers;
  const response = await fetchImpl(`https://${hostname}/`, { method: 'POST', headers, body });
  const xml = await response.text();
  if (!response.ok) throw new SmokeUsageError(`DescribeStacks ${stack} in ${region} answered ${response.status}: ${/<Message>([^<]*)<\/Message>/.exec(xml)?.[1] ?? xml.slice(0, 200)}`);
  const outputs: Record<string, string> = {};
  for (const member of xml.split('<member>')) {
    const key = /<OutputKey>([^<]*)<\/OutputKey>/.exec(member)?.[1];
    const value = /<OutputValue>([^<]*)<\/OutputValue>/.exec(member)?.[1];
    if (key !== undefined && value !== undefined) outputs[key] = unescapeXml(value);
  }
  return outputs;
}

function unescapeXml(text: string): string {
  return text.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&apos;/g, "'").replace(/&amp;/g, '&');
}

export class SmokeUsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SmokeUsageError';
  }
}

const USAGE = `usage:
  npm run smoke -- --stack Countersign-<stage> [--region R] [--agent ID] [--timeout SECONDS]
  npm run smoke -- --endpoint URL --audit-dir DIR --key-dir DIR [--agent ID] [--timeout SECONDS]   (the local stack)`;

/** The CLI's arguments, as `--name value` pairs. */
export function parseSmokeArgs(argv: readonly string[]): Map<string, string> {
  const args = new Map<string, string>();
  for (let i = 0; i < argv.length; i += 2) {
    const name = argv[i]!;
    const value = argv[i + 1];
    if (!['--stack', '--region', '--agent', '--timeout', '--endpoint', '--audit-dir', '--key-dir'].includes(name)) throw new SmokeUsageError(`unknown option ${name}\n${USAGE}`);
    if (value === undefined || value.startsWith('--')) throw new SmokeUsageError(`${name} needs a value\n${USAGE}`);
    args.set(name, value);
  }
  if (args.has('--stack') === args.has('--endpoint')) throw new SmokeUsageError(`give --stack (AWS) or --endpoint (the local stack), one of them\n${USAGE}`);
  return args;
}

/** The target from the arguments: the stack's outputs in AWS, endpoint overrides locally. */
export async function smokeTarget(args: Map<string, string>): Promise<SmokeTarget> {
  const endpoint = args.get('--endpoint');
  if (endpoint !== undefined) {
    const auditDir = args.get('--audit-dir');
    const keyDir = args.get('--key-dir');
    if (auditDir === undefined || keyDir === undefined) throw new SmokeUsageError(`the local stack needs --audit-dir and --key-dir (under its data directory)\n${USAGE}`);
    return {
      eventBusName: 'countersign', decisionApiUrl: endpoint, busEndpoint: endpoint, region: 'us-east-1',
      credentials: { accessKeyId: 'x', secretAccessKey: 'x' }, sign: false,
      audit: new LocalAuditSink(auditDir),
      publicKeyPem: async () => (await Ed25519Signer.fromKeyDir(keyDir)).publicKeyPem(),
    };
  }
  const region = args.get('--region') ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION;
  if (region === undefined) throw new SmokeUsageError(`no region: give --region or set AWS_REGION\n${USAGE}`);
  const credentials = defaultProvider();
  const outputs = await describeStackOutputs(args.get('--stack')!, region, credentials);
  const missing = REQUIRED_OUTPUTS.filter((name) => outputs[name] === undefined);
  if (missing.length > 0) throw new SmokeUsageError(`the stack has no output ${missing.join(', ')}: is it a Countersign stack, deployed from this version?`);
  const events = new EventBridgeClient({ region, credentials });
  return {
    eventBusName: outputs.EventBusName!, decisionApiUrl: outputs.DecisionApiUrl!, region, credentials, sign: true,
    audit: new S3AuditSink(new S3Client({ region, credentials }), outputs.AuditBucketName!),
    // The trust anchor is the KMS key, never a key found in the log (DESIGN.md decision 12).
    publicKeyPem: async () => {
      const { PublicKey } = await new KMSClient({ region, credentials }).send(new GetPublicKeyCommand({ KeyId: outputs.DigestSigningKeyArn! }));
      if (PublicKey === undefined) throw new Error(`KMS returned no public key for ${outputs.DigestSigningKeyArn}`);
      return `-----BEGIN PUBLIC KEY-----\n${Buffer.from(PublicKey).toString('base64').replace(/.{1,64}/g, '$&\n')}-----END PUBLIC KEY-----\n`;
    },
    busPolicy: async () => (await events.send(new DescribeEventBusCommand({ Name: outputs.EventBusName! }))).Policy,
  };
}

export function formatLine(line: SmokeLine): string {
  return `${line.status === 'pass' ? '✓' : line.status === 'fail' ? '✗' : '○'} ${line.check}: ${line.detail}`;
}

export async function main(argv: readonly string[]): Promise<number> {
  try {
    const args = parseSmokeArgs(argv);
    const timeout = Number(args.get('--timeout') ?? '180');
    if (!Number.isFinite(timeout) || timeout <= 0) throw new SmokeUsageError(`--timeout must be a number of seconds, got ${args.get('--timeout')}`);
    const target = await smokeTarget(args);
    const lines = await runSmoke(target, { agentId: args.get('--agent') ?? DEFAULT_SMOKE_AGENT, timeoutMs: timeout * 1000, onLine: (line) => process.stdout.write(`${formatLine(line)}\n`) });
    return lines.some((line) => line.status === 'fail') ? 1 : 0;
  } catch (error) {
    if (!(error instanceof SmokeUsageError)) throw error;
    process.stderr.write(`smoke: ${error.message}\n`);
    return 2;
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = await main(process.argv.slice(2));
}
