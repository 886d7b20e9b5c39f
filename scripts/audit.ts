/**
 * The auditors' command line.
 *
 *   npm run audit -- verify [--from ISO] [--to ISO] [--dir PATH | --bucket NAME]
 *                           [--keys DIR | --public-key PEM_FILE | --key-id KMS_KEY | --trust-key-in-log]
 *                           [--failures FILE | --failure-bucket NAME] [--max-digest-age HOURS] [--reconcile --table NAME [--endpoint URL]] [--workers N] [--json]
 *
 * The failure destination is read too: locally the data folder's audit-failures.jsonl (beside the
 * log's folder), in AWS the failure bucket (`--failure-bucket`, the stack output AuditFailureBucketName).
 *
 * The trust anchor (the key the digests must be signed with) never comes from the log unless
 * `--trust-key-in-log` says so: locally the data folder's `keys/` (beside the log's folder), in AWS
 * the KMS key (`--key-id`, the stack output DigestSigningKeyArn), or a PEM file kept elsewhere.
 *   npm run audit -- query "<SQL>" [--dir PATH] [--json | --csv]
 *   npm run audit -- query --saved NAME [--param name=value]... [--dir PATH] [--json | --csv]
 *   npm run audit -- queries                      list the saved queries and their parameters
 *
 * Exit codes: 0 whole (or the query ran); 1 verify found problems (the report says which); 2 the
 * command could not run: no log, unreadable log, wrong key, bad date range, bad arguments or SQL, or an
 * error in the tool itself (never 1: that is only ever findings about the log).
 */
import { readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { scanEventItems } from '../shared/adapters/aws/dynamo-decision-store.js';
import { GetPublicKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { S3Client } from '@aws-sdk/client-s3';
import { ED25519_KEY_FILE, Ed25519Signer } from '../shared/adapters/local/ed25519-signer.js';
import { getIfExists, PUBLIC_KEY_OBJECT, type AuditObjectReader } from '../shared/audit/digest-store.js';
import { AuditQueryError, formatCsv, formatJson, formatTable, openAuditQuery } from '../shared/audit/query.js';
import { renderSavedQuery, SAVED_QUERIES, savedQuery, SavedQueryError } from '../shared/audit/queries.js';
import { S3AuditSink } from '../shared/adapters/aws/s3-audit-sink.js';
import { DuckDbColumnarEngine } from '../shared/adapters/local/duckdb-columnar-engine.js';
import { FailureEntryError, readLocalFailures, readS3Failures, type FailedBatch } from '../shared/audit/failures.js';
import { AUDIT_FAILURES_FILE, DEFAULT_LOCAL_AUDIT_DIR, LOCAL_KEYS_DIR, openLocalAuditLog, openS3AuditLog } from '../shared/audit/verify-sources.js';
import { AuditVerifyInputError, formatReport, reconcileEventItems, verifyAuditLog, type VerifyProgress } from '../shared/audit/verify.js';

export { DEFAULT_LOCAL_AUDIT_DIR };

const USAGE = `usage:
  npm run audit -- verify [--from ISO] [--to ISO] [--dir PATH | --bucket NAME] [--keys DIR | --public-key FILE | --key-id KMS_KEY | --trust-key-in-log] [--failures FILE | --failure-bucket NAME] [--max-digest-age HOURS] [--reconcile --table NAME [--endpoint URL]] [--workers N] [--json]
  npm run audit -- query "<SQL>" | --saved NAME [--param name=value]... [--dir PATH] [--json | --csv]
  npm run audit -- queries`;

const HELP = `npm run audit: check and query the audit log.

${USAGE}

commands:
  verify     proves the log whole and unaltered: every object version, the hash chains, the signed digests
             (against the trust anchor, never a key found in the log), request numbering, the failure
             destination and the reconciliation statements. Exit 0 whole, 1 problems found, 2 could not run.
  query      runs SQL (DuckDB) over the log as the table audit_events, or a saved query (--saved NAME)
  queries    lists the saved queries and their parameters

options:
  --dir PATH            the local log (default: .countersign/audit-bucket)
  --bucket NAME         the S3 audit bucket of a deployment, instead of --dir
  --from ISO, --to ISO  verify only the hours in this range
  --keys DIR            the local digest key pair (default: keys/ beside the log's folder)
  --public-key FILE     a PEM public key kept outside the bucket, as the trust anchor
  --key-id KMS_KEY      the KMS key of a deployment (stack output DigestSigningKeyArn), as the trust anchor
  --trust-key-in-log    trust the public key published in the log (only for a log whose anchor is lost)
  --failures FILE       the local failure destination (default: audit-failures.jsonl beside the log's folder)
  --failure-bucket NAME the failure bucket of a deployment (stack output AuditFailureBucketName)
  --reconcile --table NAME [--endpoint URL]
                        also compares the log with the decision table
  --workers N           verify: worker threads that check objects beside the main thread's reads (0: none;
                        default: one fewer than the cores, at most 8, and none for a log under 64 objects)
  --saved NAME          a saved query (see queries); --param name=value sets its parameters
  --json, --csv         the output format (verify: --json only); the default is a table or a report
  --help, -h            this help`;

class UsageError extends Error {
  constructor(message: string) {
    super(`${message}\n${USAGE}`);
    this.name = 'UsageError';
  }
}

interface Args {
  command: string | undefined;
  positional: string[];
  flags: Map<string, string[]>;
}

const VALUE_FLAGS = new Set(['--workers', '--max-digest-age', '--from', '--to', '--dir', '--bucket', '--keys', '--public-key', '--key-id', '--failures', '--failure-bucket', '--table', '--endpoint', '--saved', '--param']);
const BOOLEAN_FLAGS = new Set(['--reconcile', '--json', '--csv', '--trust-key-in-log']);

function parseArgs(argv: string[]): Args {
  const [command, ...rest] = argv;
  const flags = new Map<string, string[]>();
  const positional: string[] = [];
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i]!;
    const [name, inline] = arg.startsWith('--') && arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    if (VALUE_FLAGS.has(name)) {
      const value = inline ?? rest[++i];
      if (value === undefined) throw new UsageError(`${name} needs a value`);
      flags.set(name, [...(flags.get(name) ?? []), value]);
    } else if (BOOLEAN_FLAGS.has(name)) flags.set(name, ['true']);
    else if (arg.startsWith('--')) throw new UsageError(`unknown option ${arg}`);
    else positional.push(arg);
  }
  return { command, positional, flags };
}

const one = (args: Args, name: string) => args.flags.get(name)?.at(-1);
const has = (args: Args, name: string) => args.flags.has(name);

function parseDate(name: string, text: string | undefined): Date | undefined {
  if (text === undefined) return undefined;
  const date = new Date(/^\d{4}-\d{2}-\d{2}$/.test(text) ? `${text}T00:00:00Z` : text);
  if (Number.isNaN(date.getTime())) throw new AuditVerifyInputError(`${name} "${text}" is not a date (use ISO 8601, e.g. 2026-11-22 or 2026-11-22T03:00Z)`, 'bad-range');
  return date;
}

function progressPrinter(): (progress: VerifyProgress) => void {
  const started = Date.now();
  let last = 0;
  return (p) => {
    const now = Date.now();
    if (now - started < 1000 || now - last < 1000) return;
    last = now;
    const rate = p.records / ((now - started) / 1000);
    process.stderr.write(`verify: ${p.phase} ${p.done}/${p.total}, ${p.records.toLocaleString('en-US')} records (${Math.round(rate).toLocaleString('en-US')}/s)\n`);
  };
}

/** How far behind the newest digest of an S3 log may be (the schedule runs hourly, retries for an hour). */
const DEFAULT_S3_MAX_DIGEST_AGE_HOURS = 3;

interface TrustAnchor {
  publicKeyPem: string;
  source: string;
}

const ANCHOR_FLAGS = ['--keys', '--public-key', '--key-id', '--trust-key-in-log'] as const;

/**
 * The key the digests must be signed with, from outside the log: the local stack's key folder, a
 * PEM file, or the KMS key. The key published in the log only when asked for by name.
 */
async function trustAnchorFor(args: Args, sink: AuditObjectReader, where: string, logDir: string | undefined): Promise<TrustAnchor> {
  const given = ANCHOR_FLAGS.filter((flag) => has(args, flag));
  if (given.length > 1) throw new UsageError(`give one trust anchor, not ${given.join(' and ')}`);
  const file = one(args, '--public-key');
  if (file !== undefined) {
    try {
      return { publicKeyPem: await readFile(file, 'utf8'), source: `public key file ${file}` };
    } catch (error) {
      throw new AuditVerifyInputError(`cannot read the public key ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`, 'wrong-key');
    }
  }
  const keyId = one(args, '--key-id');
  if (keyId !== undefined) {
    const response = await new KMSClient({}).send(new GetPublicKeyCommand({ KeyId: keyId }));
    if (response.PublicKey === undefined) throw new AuditVerifyInputError(`KMS returned no public key for ${keyId}`, 'wrong-key');
    return {
      publicKeyPem: `-----BEGIN PUBLIC KEY-----\n${Buffer.from(response.PublicKey).toString('base64').replace(/.{1,64}/g, '$&\n')}-----END PUBLIC KEY-----\n`,
      source: `KMS key ${response.KeyId ?? keyId}`,
    };
  }
  if (has(args, '--trust-key-in-log')) {
    // The first version (the one written with If-None-Match), not whatever was put on top of it.
    const first = (await sink.listVersions?.(PUBLIC_KEY_OBJECT))?.find((v) => v.key === PUBLIC_KEY_OBJECT && !v.isDeleteMarker);
    const published = first !== undefined && sink.getObjectVersion !== undefined ? await sink.getObjectVersion(PUBLIC_KEY_OBJECT, first.versionId) : await getIfExists(sink, PUBLIC_KEY_OBJECT);
    if (published === undefined) throw new AuditVerifyInputError(`--trust-key-in-log: ${where} has no ${PUBLIC_KEY_OBJECT}`, 'wrong-key');
    process.stderr.write(`audit: warning: trusting ${PUBLIC_KEY_OBJECT} from the log itself: this proves the log intact only against someone who could not replace that key; compare its fingerprint with one kept outside the bucket\n`);
    return { publicKeyPem: Buffer.from(published).toString('utf8'), source: `the key published in the log (${where}/${PUBLIC_KEY_OBJECT}), trusted on request` };
  }
  if (logDir === undefined) {
    throw new AuditVerifyInputError(`verifying ${where} needs a trust anchor outside the bucket: --key-id <DigestSigningKeyArn> (the stack output), or --public-key FILE kept elsewhere (or --trust-key-in-log, which proves less)`, 'wrong-key');
  }
  const keysDir = resolve(one(args, '--keys') ?? join(dirname(logDir), LOCAL_KEYS_DIR));
  const keyFile = join(keysDir, ED25519_KEY_FILE);
  let pem: string;
  try {
    pem = await readFile(keyFile, 'utf8');
  } catch (error) {
    throw new AuditVerifyInputError(`no trust anchor: cannot read the local digest key ${keyFile} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}); the local stack keeps it in its data folder's ${LOCAL_KEYS_DIR}/, beside the log: pass --keys DIR or --public-key FILE (or --trust-key-in-log, which proves less)`, 'wrong-key');
  }
  try {
    return { publicKeyPem: await Ed25519Signer.fromPrivateKeyPem(pem).publicKeyPem(), source: `local key ${keyFile}` };
  } catch (error) {
    throw new AuditVerifyInputError(`the local digest key ${keyFile} is not usable: ${(error as Error).message}`, 'wrong-key');
  }
}

/** The writer's failure destination: the local file beside the log's folder, or the failure bucket. Undefined: not checked. */
async function failuresFor(args: Args, logDir: string | undefined): Promise<FailedBatch[] | undefined> {
  const bucket = one(args, '--failure-bucket');
  const file = one(args, '--failures');
  if (bucket !== undefined && file !== undefined) throw new UsageError('give --failures or --failure-bucket, not both');
  try {
    if (bucket !== undefined) return await readS3Failures(new S3AuditSink(new S3Client({}), bucket), bucket);
    if (file !== undefined) return await readLocalFailures(resolve(file));
    if (logDir !== undefined) return await readLocalFailures(join(dirname(logDir), AUDIT_FAILURES_FILE));
  } catch (error) {
    if (error instanceof FailureEntryError) throw new AuditVerifyInputError(`the failure destination cannot be read: ${error.message}`, 'missing-log');
    throw error;
  }
  return undefined;
}

async function tableEventIds(table: string, endpoint: string | undefined): Promise<string[]> {
  return (await scanEventItems(new DynamoDBClient(endpoint === undefined ? {} : { endpoint }), table)).map((item) => item.eventId);
}

async function verifyCommand(args: Args): Promise<number> {
  const bucket = one(args, '--bucket');
  if (bucket !== undefined && has(args, '--dir')) throw new UsageError('give --dir or --bucket, not both');
  const from = parseDate('--from', one(args, '--from'));
  const to = parseDate('--to', one(args, '--to'));
  const reconcile = has(args, '--reconcile');
  const table = one(args, '--table');
  if (reconcile && table === undefined) throw new UsageError('--reconcile needs --table NAME (and --endpoint URL for DynamoDB Local)');
  const dir = resolve(one(args, '--dir') ?? DEFAULT_LOCAL_AUDIT_DIR);
  const sink = bucket !== undefined ? openS3AuditLog(new S3Client({}), bucket) : await openLocalAuditLog(dir);
  const where = bucket !== undefined ? `s3://${bucket}` : dir;
  const anchor = await trustAnchorFor(args, sink, where, bucket === undefined ? dir : undefined);
  const failures = await failuresFor(args, bucket === undefined ? dir : undefined);
  // In AWS the digest job runs hourly: its newest digest must be recent. Locally the stack may be stopped.
  const ageText = one(args, '--max-digest-age');
  const maxDigestAgeHours = ageText !== undefined ? Number(ageText) : bucket !== undefined ? DEFAULT_S3_MAX_DIGEST_AGE_HOURS : undefined;
  if (maxDigestAgeHours !== undefined && !(Number.isInteger(maxDigestAgeHours) && maxDigestAgeHours >= 0)) throw new UsageError(`--max-digest-age takes a whole number of hours, not "${ageText}"`);
  const workersText = one(args, '--workers');
  const workers = workersText === undefined ? undefined : Number(workersText);
  if (workers !== undefined && !(/^\d+$/.test(workersText!) && Number.isSafeInteger(workers))) throw new UsageError(`--workers takes a whole number of threads (0 for none), not "${workersText}"`);
  const report = await verifyAuditLog({
    sink, publicKeyPem: anchor.publicKeyPem, anchorSource: anchor.source, ...(maxDigestAgeHours === undefined ? {} : { maxDigestAgeHours }), ...(failures === undefined ? {} : { failures }), ...(from === undefined ? {} : { from }), ...(to === undefined ? {} : { to }), onProgress: progressPrinter(), collectEventIds: reconcile,
    columnar: new DuckDbColumnarEngine(), ...(workers === undefined ? {} : { workers }),
  });
  let reconciled: string | undefined;
  if (reconcile) {
    const tableIds = await tableEventIds(table!, one(args, '--endpoint'));
    const problems = reconcileEventItems(tableIds, report.eventIds!, { wholeLog: from === undefined && to === undefined });
    report.problems.push(...problems);
    report.ok = report.problems.length === 0;
    if (problems.length === 0) reconciled = `reconciled with table ${table}: ${tableIds.length} event items, each in the log exactly once`;
  }
  if (has(args, '--json')) {
    const { eventIds: _ids, ...plain } = report;
    process.stdout.write(`${JSON.stringify(plain, null, 2)}\n`);
  } else process.stdout.write(`${formatReport(report)}\n${reconciled === undefined ? '' : `${reconciled}\n`}`);
  return report.ok ? 0 : 1;
}

async function queryCommand(args: Args): Promise<number> {
  if (has(args, '--bucket')) throw new UsageError('query runs on the local log; on S3, query with Athena (the stack ships the same saved queries as named queries)');
  if (has(args, '--json') && has(args, '--csv')) throw new UsageError('give --json or --csv, not both');
  const name = one(args, '--saved');
  let sql: string;
  if (name !== undefined) {
    if (args.positional.length > 0) throw new UsageError('give either SQL or --saved NAME, not both');
    const params: Record<string, string> = {};
    for (const pair of args.flags.get('--param') ?? []) {
      const eq = pair.indexOf('=');
      if (eq <= 0) throw new UsageError(`--param takes name=value, not "${pair}"`);
      params[pair.slice(0, eq)] = pair.slice(eq + 1);
    }
    sql = renderSavedQuery(savedQuery(name), params);
  } else {
    if (args.positional.length !== 1) throw new UsageError('query takes one SQL text (quote it) or --saved NAME');
    if (has(args, '--param')) throw new UsageError('--param goes with --saved');
    sql = args.positional[0]!;
  }
  const dir = resolve(one(args, '--dir') ?? DEFAULT_LOCAL_AUDIT_DIR);
  await openLocalAuditLog(dir);
  const engine = await openAuditQuery(dir);
  try {
    const result = await engine.run(sql);
    process.stdout.write(has(args, '--json') ? formatJson(result) : has(args, '--csv') ? formatCsv(result) : formatTable(result));
  } finally {
    engine.close();
  }
  return 0;
}

function listQueries(): number {
  for (const query of SAVED_QUERIES) {
    process.stdout.write(`${query.name}: ${query.description}\n`);
    for (const [name, param] of Object.entries(query.params)) process.stdout.write(`    --param ${name}=...   ${param.description} (default '${param.default}')\n`);
  }
  return 0;
}

export async function main(argv: string[]): Promise<number> {
  try {
    if (argv.some((arg) => arg === '--help' || arg === '-h') || argv[0] === 'help') {
      process.stdout.write(`${HELP}\n`);
      return 0;
    }
    const args = parseArgs(argv);
    switch (args.command) {
      case 'verify': return await verifyCommand(args);
      case 'query': return await queryCommand(args);
      case 'queries': return listQueries();
      default: throw new UsageError(args.command === undefined ? 'no command given' : `unknown command "${args.command}"`);
    }
  } catch (error) {
    if (error instanceof AuditVerifyInputError || error instanceof UsageError || error instanceof SavedQueryError || error instanceof AuditQueryError) {
      process.stderr.write(`audit: ${error.message}\n`);
      return 2;
    }
    const e = error as Error;
    // A log the SDK or the file system cannot read (no credentials, no bucket, permissions): one line.
    if (['NoSuchBucket', 'AccessDenied', 'CredentialsProviderError', 'EACCES', 'NotFoundException', 'AccessDeniedException'].includes(e.name) || (e as NodeJS.ErrnoException).code === 'EACCES') {
      process.stderr.write(`audit: cannot read the audit log: ${e.name}: ${e.message.split('\n')[0]}\n`);
      return 2;
    }
    // Anything else is a fault of this tool, not a finding about the log: exit 2 (could not run), never 1,
    // so that "1" always means the log has problems; the trace is for a bug report.
    process.stderr.write(`audit: could not run: an error in the audit tool, not a finding about the log (report it with this trace):\n${e instanceof Error ? (e.stack ?? `${e.name}: ${e.message}`) : String(error)}\n`);
    return 2;
  }
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === resolve(new URL(import.meta.url).pathname)) {
  process.exitCode = await main(process.argv.slice(2));
}
