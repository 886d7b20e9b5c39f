import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ScanCommand, type AttributeValue, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localDynamoDbClient } from '../../local/dynamodb-local.js';
import { memoryLogger } from '../../local/log.js';
import { LOCAL_TABLE_NAME, REPO_ROOT, startLocalStack, type LocalStack } from '../../local/local-stack.js';
import { getIfExists, PUBLIC_KEY_OBJECT } from '../../shared/audit/digest-store.js';
import { AUDIT_PREFIX } from '../../shared/audit/format.js';
import { parseAuditObject } from '../../shared/audit/object.js';
import { openLocalAuditLog } from '../../shared/audit/verify-sources.js';
import { formatReport, reconcileEventItems, verifyAuditLog, type VerifyReport } from '../../shared/audit/verify.js';
import { eventually } from './support.js';

/**
 * The audit trail of the local stack end to end: real requests through the real EventBridge client,
 * the stream poller feeding the real audit-writer, digests signed at stop, then `verify` in process
 * and through the CLI; a restart duplicates nothing (the checkpoint); a changed byte is caught.
 */

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

const run = `au${Date.now().toString(36)}`;
const exec = promisify(execFile);

let dataDir: string;
let auditDir: string;
let stack: LocalStack | undefined;
let events: EventBridgeClient;
const log = memoryLogger();

async function send(actionId: string, request: { action: string; resource: { type: string; id: string }; environment: string }, source = 'agent.billing-agent'): Promise<void> {
  const response = await events.send(new PutEventsCommand({ Entries: [{
    EventBusName: 'countersign',
    Source: source,
    DetailType: 'Action Requested',
    Detail: JSON.stringify({
      specVersion: '1',
      actionId,
      agent: { id: 'billing-agent', onBehalfOf: 'alice@example.com' },
      ...request,
      parameters: { table: 'customers' },
      justification: 'audit trail test',
    }),
  }] }));
  expect(response.FailedEntryCount).toBe(0);
}

async function outcomeOf(actionId: string): Promise<string | undefined> {
  const response = await fetch(`${stack!.url}/actions/${encodeURIComponent(actionId)}`);
  if (response.status !== 200) return undefined;
  return (await response.json() as { outcome?: string }).outcome;
}

function outcome(actionId: string, wanted: string): Promise<string> {
  return eventually(async () => ((await outcomeOf(actionId)) === wanted ? wanted : undefined), `${actionId} to be ${wanted}`, 20_000);
}

async function vote(actionId: string, reviewer: string, body: unknown): Promise<{ status: number; text: string }> {
  const response = await fetch(`${stack!.url}/actions/${encodeURIComponent(actionId)}/votes`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-countersign-reviewer': reviewer },
    body: JSON.stringify(body),
  });
  return { status: response.status, text: await response.text() };
}

async function tableEventIds(client: DynamoDBClient): Promise<string[]> {
  const ids: string[] = [];
  let start: Record<string, AttributeValue> | undefined;
  do {
    const page = await client.send(new ScanCommand({
      TableName: LOCAL_TABLE_NAME, ExclusiveStartKey: start, FilterExpression: '#kind IN (:event, :request)',
      ExpressionAttributeNames: { '#kind': 'kind' }, ExpressionAttributeValues: { ':event': { S: 'event' }, ':request': { S: 'request' } },
    }));
    for (const item of page.Items ?? []) {
      // A request item is its requested event (issue 15): `<key>/requested`.
      if (item.kind?.S === 'request') ids.push(`${item.key!.S!}/requested`);
      else if (item.eventId?.S !== undefined) ids.push(item.eventId.S);
    }
    start = page.LastEvaluatedKey;
  } while (start !== undefined);
  return ids;
}

/** Every record of the log: object key and event id. */
async function logRecords(): Promise<{ key: string; eventId: string; text: string }[]> {
  const sink = await openLocalAuditLog(auditDir);
  const out: { key: string; eventId: string; text: string }[] = [];
  for (const key of await sink.list(AUDIT_PREFIX)) {
    if (!key.endsWith('.ndjson.gz')) continue;
    const body = await sink.getObject(key);
    for (const record of parseAuditObject(body!)) out.push({ key, eventId: record.event_id, text: JSON.stringify(record) });
  }
  return out;
}

async function verify(): Promise<VerifyReport> {
  const sink = await openLocalAuditLog(auditDir);
  const publicKeyPem = Buffer.from((await getIfExists(sink, PUBLIC_KEY_OBJECT))!).toString('utf8');
  return verifyAuditLog({ sink, publicKeyPem, collectEventIds: true });
}

let reconciled: { code: number; out: string } = { code: -1, out: '' };
let tableIds: string[] = [];
let firstVerify: VerifyReport;
let dynamoDbPort: number;
let httpPort: number;

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'countersign-audit-'));
  stack = await startLocalStack({ port: 0, dataDir, log, timeScale: 600 });
  auditDir = stack.auditDir!;
  httpPort = stack.port;
  dynamoDbPort = Number(new URL(stack.dynamoDbEndpoint).port);
  events = new EventBridgeClient({ endpoint: stack.url, region: 'us-east-1', credentials: { accessKeyId: 'x', secretAccessKey: 'x' } });

  await send(`${run}-allowed`, { action: 'db.query', resource: { type: 'Database', id: 'customers' }, environment: 'prod' });
  await send(`${run}-denied`, { action: 'storage.bucket.delete', resource: { type: 'Bucket', id: 'invoices' }, environment: 'prod' });
  await send(`${run}-invalid`, { action: 'db.query', resource: { type: 'Database', id: 'customers' }, environment: 'dev' }, 'agent.impostor');
  const exportId = `${run}-export`;
  await send(exportId, { action: 'db.export', resource: { type: 'Database', id: 'customers' }, environment: 'prod' });
  await outcome(`${run}-allowed`, 'allowed');
  await outcome(`${run}-denied`, 'denied');
  await outcome(`${run}-invalid`, 'invalid');
  await outcome(exportId, 'pending');
  // alice owns the agent: her vote is refused (a vote_refused record); bob's approves.
  // Votes are taken once the review is open (request-review runs in the workflow).
  await eventually(async () => ((await vote(exportId, 'alice', { vote: 'approve', comment: 'mine' })).text.includes('VoteRefused') ? true : undefined), 'alice vote refused');
  await eventually(async () => ((await vote(exportId, 'bob', { vote: 'approve', comment: 'ok' })).status === 200 ? true : undefined), 'bob vote accepted');
  await outcome(exportId, 'approved');

  // The stream reaches the log: every event item of the table, once the table is quiet.
  const client = localDynamoDbClient(stack.dynamoDbEndpoint);
  try {
    await eventually(async () => {
      const ids = await tableEventIds(client);
      const logged = new Set((await logRecords()).map((r) => r.eventId));
      return ids.length > 0 && ids.every((id) => logged.has(id)) ? ids : undefined;
    }, 'the audit log to hold every event item', 30_000);
    tableIds = await tableEventIds(client);
    // The CLI's reconciliation scans the live table and finds every event item once in the log.
    reconciled = await exec('npx', ['tsx', join(REPO_ROOT, 'scripts', 'audit.ts'), 'verify', '--dir', auditDir, '--reconcile', '--table', 'countersign-decisions', '--endpoint', stack.dynamoDbEndpoint], {
      cwd: REPO_ROOT, timeout: 60_000, env: { ...process.env, AWS_REGION: 'us-east-1', AWS_ACCESS_KEY_ID: 'local', AWS_SECRET_ACCESS_KEY: 'local' },
    }).then((r) => ({ code: 0, out: r.stdout }), (e: { code?: number; stdout?: string; stderr?: string }) => ({ code: e.code ?? 1, out: `${e.stdout ?? ''}${e.stderr ?? ''}` }));
    await stack.stop();
  } finally {
    client.destroy();
  }
  firstVerify = await verify();
}, 120_000);

afterAll(async () => {
  events?.destroy();
  await stack?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('the audit trail of the local stack', () => {
  it('logs each event item once, with no task token, and verify passes', async () => {
    expect(log.lines.some((line) => line.includes('audited') && line.includes('audit/dt='))).toBe(true);
    expect(formatReport(firstVerify)).toMatch(/^audit log verified/);
    expect(firstVerify.ok).toBe(true);
    expect(firstVerify.digests).toBeGreaterThan(0);
    expect(firstVerify.pendingObjects).toEqual([]);
    const records = await logRecords();
    expect(records.length).toBe(firstVerify.records);
    expect(reconcileEventItems(new Set(records.map((r) => r.eventId)), firstVerify.eventIds!, { wholeLog: true })).toEqual([]);
    // No task token, under any key: only its SHA-256 (taskTokenSha256, in the review phases' detail) is kept.
    expect(records.every((r) => !/taskToken\\?"/i.test(r.text) && !/task_token/i.test(r.text))).toBe(true);
    expect(records.some((r) => r.text.includes('taskTokenSha256'))).toBe(true);
    const types = new Set(records.map((r) => JSON.parse(r.text).event_type as string));
    for (const type of ['requested', 'decided', 'vote', 'vote_refused']) expect(types).toContain(type);
  });

  it('holds exactly the events of the table (event items, and request items as their requested events)', () => {
    expect(tableIds.length).toBeGreaterThan(0);
    expect(firstVerify.records).toBe(tableIds.length);
    expect(reconcileEventItems(tableIds, firstVerify.eventIds!, { wholeLog: true })).toEqual([]);
  });

  it('a restart on the same data folder duplicates nothing (the stream checkpoint)', async () => {
    const checkpoint = JSON.parse(readFileSync(join(dataDir, 'stream-checkpoint.json'), 'utf8')) as { streams: Record<string, unknown> };
    expect(Object.keys(checkpoint.streams)).toHaveLength(1);
    stack = await startLocalStack({ port: httpPort, dynamoDbPort, dataDir, log, timeScale: 600 });
    // Let the poller read the stream again from its checkpoint: nothing of the first run comes back.
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect((await logRecords()).length).toBe(firstVerify.records);
    // A new request after the restart is logged once, chained onto the first run's records.
    const before = new Set((await logRecords()).map((r) => r.eventId));
    await send(`${run}-after-restart`, { action: 'db.query', resource: { type: 'Database', id: 'customers' }, environment: 'dev' });
    await outcome(`${run}-after-restart`, 'allowed');
    await eventually(async () => ((await logRecords()).length >= firstVerify.records + 2 ? true : undefined), 'the new request in the log', 15_000);
    await stack.stop();
    stack = undefined;
    const report = await verify();
    expect(formatReport(report)).toMatch(/^audit log verified/);
    expect(report.ok).toBe(true);
    const records = await logRecords();
    expect(report.records).toBe(records.length);
    expect(records.filter((r) => !before.has(r.eventId)).length).toBe(report.records - firstVerify.records);
    expect([...report.eventIds!.values()].every((count) => count === 1)).toBe(true);
  });

  it('the CLI reconciles the table with the log', () => {
    expect(reconciled.out).toMatch(/reconciled with table countersign-decisions: \d+ event items, each in the log exactly once/);
    expect(reconciled.code).toBe(0);
  });

  it('the CLI verifies the log and answers a saved query', async () => {
    const cli = join(REPO_ROOT, 'scripts', 'audit.ts');
    const verified = await exec('npx', ['tsx', cli, 'verify', '--dir', auditDir], { cwd: REPO_ROOT, timeout: 60_000 });
    expect(verified.stdout + verified.stderr).toMatch(/audit log verified/);
    const query = await exec('npx', ['tsx', cli, 'query', '--saved', 'refused-votes', '--json', '--dir', auditDir], { cwd: REPO_ROOT, timeout: 60_000 });
    const rows = JSON.parse(query.stdout) as unknown[];
    expect(Array.isArray(rows)).toBe(true);
    expect(rows.length).toBeGreaterThan(0);
  }, 90_000);

  it('a changed byte in an object makes verify fail, naming the object', async () => {
    const key = (await logRecords())[0]!.key;
    const file = join(auditDir, key);
    const bytes = readFileSync(file);
    const at = Math.floor(bytes.length / 2);
    bytes[at] = bytes[at]! ^ 0x01;
    writeFileSync(file, bytes);
    const report = await verify();
    expect(report.ok).toBe(false);
    expect(report.problems.some((p) => p.objectKey === key)).toBe(true);
    expect(formatReport(report)).toContain(key);
  });
});
