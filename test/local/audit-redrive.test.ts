/**
 * Nothing is skipped for good (issue 9): on DynamoDB Local, the audit writer fails on purpose for a
 * window; the poller retries, bisects and sends those records to the failure file and moves on, as
 * Lambda does. verify then names what is pending (reading the failure file itself), a restart of the
 * audit trail redrives it into the late chain, and the log ends whole: verify passes and the table
 * reconciles with it, every event item exactly once.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ScanCommand } from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import type { Context } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AUDIT_FAILURES_FILE, AUDIT_KEYS_DIR, startLocalAudit, type LocalAudit } from '../../local/audit.js';
import { ensureDecisionTable, startDynamoDbLocal, type DynamoDbLocal } from '../../local/dynamodb-local.js';
import { memoryLogger } from '../../local/log.js';
import type { StreamHandler } from '../../local/stream-poller.js';
import { DynamoChainStore } from '../../shared/adapters/aws/dynamo-chain-store.js';
import { DynamoDecisionStore } from '../../shared/adapters/aws/dynamo-decision-store.js';
import { Ed25519Signer } from '../../shared/adapters/local/ed25519-signer.js';
import { LocalAuditSink } from '../../shared/adapters/local/local-audit-sink.js';
import { readLocalFailures } from '../../shared/audit/failures.js';
import { AUDIT_PREFIX } from '../../shared/audit/format.js';
import { parseAuditObject } from '../../shared/audit/object.js';
import { formatReport, reconcileEventItems, verifyAuditLog, type VerifyReport } from '../../shared/audit/verify.js';
import { writeAuditBatch, type AuditStreamRecord } from '../../shared/audit/writer.js';
import { decideRequest } from '../../shared/domain/intake.js';
import { main as auditCli } from '../../scripts/audit.js';
import { actionRequested } from '../support/requests.js';
import { eventually } from './support.js';

const TABLE = 'countersign-redrive-it';
let dataDir: string;
let ddb: DynamoDbLocal;
let store: DynamoDecisionStore;
let failing = false;
const log = memoryLogger();
const allow = { decide: () => ({ kind: 'allow' as const, policyIds: ['reads'], reason: 'allowed', validity: { validFor: 'PT15M', validForSeconds: 900 } }) };

/** The audit writer as the poller invokes it, failing while `failing` is set (the table or S3 unreachable). */
function writer(sink: LocalAuditSink): StreamHandler {
  const deps = { sink, chain: new DynamoChainStore(ddb.client, TABLE), retentionDays: 1, now: () => new Date() };
  return async (event: unknown, _context: Context) => {
    if (failing) throw new Error('the audit bucket is unreachable (failing on purpose)');
    const shardEvent = event as { Records: AuditStreamRecord[]; shardId: string };
    await writeAuditBatch(shardEvent.Records, deps, { shardId: shardEvent.shardId });
    return { batchItemFailures: [] };
  };
}

function start(): Promise<LocalAudit> {
  const sink = new LocalAuditSink(join(dataDir, 'audit-bucket'));
  return startLocalAudit({
    dataDir, dynamoDb: ddb.client, dynamoDbEndpoint: ddb.endpoint, tableName: TABLE, retentionDays: 1, handler: writer(sink), log,
    pollIntervalMs: 50, batchWindowMs: 50, retryBackoffMs: 5, maxRetries: 1,
  });
}

async function record(actionId: string): Promise<void> {
  await store.recordRequest(decideRequest(actionRequested({ actionId, action: 'db.query' }), allow, new Date().toISOString()));
}

async function tableEventIds(): Promise<string[]> {
  const { Items = [] } = await ddb.client.send(new ScanCommand({ TableName: TABLE, ConsistentRead: true }));
  // Event items, and request items as their requested events (issue 15).
  return Items.map((item) => unmarshall(item)).flatMap((item) => (item.kind === 'event' ? [item.eventId as string] : item.kind === 'request' ? [`${String(item.key)}/requested`] : []));
}

async function logRecords() {
  const sink = new LocalAuditSink(join(dataDir, 'audit-bucket'));
  const records = [];
  for (const key of await sink.list(AUDIT_PREFIX)) records.push(...parseAuditObject((await sink.getObject(key))!));
  return records;
}

async function verify(): Promise<VerifyReport> {
  const signer = await Ed25519Signer.fromKeyDir(join(dataDir, AUDIT_KEYS_DIR));
  return verifyAuditLog({
    sink: new LocalAuditSink(join(dataDir, 'audit-bucket')), publicKeyPem: await signer.publicKeyPem(), collectEventIds: true,
    failures: await readLocalFailures(join(dataDir, AUDIT_FAILURES_FILE)),
  });
}

let pending: VerifyReport;
let whole: VerifyReport;
let lostIds: string[];

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'countersign-redrive-'));
  ddb = await startDynamoDbLocal();
  await ensureDecisionTable(ddb.client, TABLE);
  store = new DynamoDecisionStore(ddb.client, TABLE);
  let audit = await start();
  await record('before-1');
  await record('before-2');
  await eventually(async () => ((await logRecords()).length === 4 ? true : undefined), 'the first requests in the log', 20_000);

  // The window: the writer fails, the poller gives up on those records and moves on.
  failing = true;
  await record('lost-1');
  await record('lost-2');
  const failureFile = join(dataDir, AUDIT_FAILURES_FILE);
  await eventually(async () => (existsSync(failureFile) && (await readLocalFailures(failureFile)).flatMap((b) => b.records).length === 4 ? true : undefined), 'the failure file to hold the window\'s records', 20_000);
  failing = false;
  await record('after-1');
  await eventually(async () => ((await logRecords()).length === 6 ? true : undefined), 'the request after the window in the log', 20_000);
  lostIds = ['lost-1/decided', 'lost-1/requested', 'lost-2/decided', 'lost-2/requested'];
  await audit.stop();
  pending = await verify();

  // The next start redrives what the failure file holds.
  audit = await start();
  await audit.stop();
  whole = await verify();
}, 120_000);

afterAll(async () => {
  await ddb?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('records sent to the failure destination', () => {
  it('are pending until redriven: verify names them from the failure file, not whole', () => {
    expect(pending.ok).toBe(false);
    expect(pending.failureDestination).toEqual({ batches: expect.any(Number), eventItems: 4, pending: 4 });
    const messages = pending.problems.filter((p) => p.kind !== 'reconcile-statement').map((p) => `[${p.kind}] ${p.message}`);
    expect(messages.length).toBeGreaterThan(0);
    for (const message of messages) expect(message).toMatch(/^\[record-pending-redrive\] .*audit-failures\.jsonl line \d+: \d event item\(s\) of shard \S+ \(sequences \d+-\d+, first lost-\d\/(requested|decided)\) went to the failure destination at \S+ and are not in the log yet/);
    for (const id of lostIds) expect(pending.eventIds!.has(id)).toBe(false);
  });

  it('are redriven at the next start into the late chain, marked late, and the log ends whole', async () => {
    expect(log.lines.some((line) => line.includes('4 record(s) from audit-failures.jsonl written to the log, late'))).toBe(true);
    expect(formatReport(whole)).toMatch(/^audit log verified/);
    expect(whole.problems).toEqual([]);
    expect(whole.failureDestination).toMatchObject({ eventItems: 4, pending: 0 });
    expect(whole.requestsChecked).toBe(5);
    const late = (await logRecords()).filter((r) => r.redriven_at !== null);
    expect(late.map((r) => r.event_id).sort()).toEqual(lostIds);
    for (const r of late) expect(r.shard_id).toMatch(/^late\./);
    expect((await logRecords()).filter((r) => r.redriven_at === null)).toHaveLength(6);
  });

  it('records a signed reconciliation at each stop: the first names what is missing, the one after the redrive agrees', () => {
    expect(log.lines.some((line) => /reconciliations\/dt=\S+\/reconciliation-\d{9}Z\.json: table countersign-redrive-it and the log differ over the start \.\. \S+: 4 missing from the log \(lost-1\/decided, lost-1\/requested, lost-2\/decided, …\)/.test(line))).toBe(true);
    expect(pending.problems.some((p) => p.kind === 'reconcile-statement' && p.message.includes('4 missing from the log'))).toBe(true);
    expect(whole.reconciliation.statements).toBe(2);
    expect(whole.reconciliation.newest).toMatch(/: table countersign-redrive-it and the log agree over the start \.\. \S+ \(10 event items, each in the log exactly once\)$/);
  });

  it('reconciles with the table: every event item in the log exactly once', async () => {
    const tableIds = await tableEventIds();
    expect(tableIds).toHaveLength(10);
    expect(reconcileEventItems(tableIds, whole.eventIds!, { wholeLog: true })).toEqual([]);
  });

  it('a second redrive writes nothing twice', async () => {
    const audit = await start();
    await audit.stop();
    expect((await logRecords()).length).toBe(10);
    expect((await verify()).ok).toBe(true);
  });

  it('the CLI reads the failure file beside the log by itself', async () => {
    let out = '';
    const write = process.stdout.write.bind(process.stdout);
    process.stdout.write = ((chunk: string) => ((out += chunk), true)) as typeof process.stdout.write;
    try {
      expect(await auditCli(['verify', '--dir', join(dataDir, 'audit-bucket')])).toBe(0);
    } finally {
      process.stdout.write = write;
    }
    expect(out).toContain(`failure destination: ${readFileSync(join(dataDir, AUDIT_FAILURES_FILE), 'utf8').trim().split('\n').length} failed batch(es), 4 event item(s), all of them in the log`);
  });
});
