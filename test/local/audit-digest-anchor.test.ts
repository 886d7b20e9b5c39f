/**
 * The local stack's digest job reads the audit writer's chain heads from DynamoDB Local, as the AWS digest
 * function does: an object of a brand-new shard added to the log folder (records that hash and chain from
 * the genesis hash, no key needed) is not signed at the stop; the writer's own objects are.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Context } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AUDIT_KEYS_DIR, localAuditDir, startLocalAudit } from '../../local/audit.js';
import { ensureDecisionTable, startDynamoDbLocal, type DynamoDbLocal } from '../../local/dynamodb-local.js';
import { memoryLogger } from '../../local/log.js';
import { DynamoChainStore } from '../../shared/adapters/aws/dynamo-chain-store.js';
import { DynamoDecisionStore } from '../../shared/adapters/aws/dynamo-decision-store.js';
import { Ed25519Signer } from '../../shared/adapters/local/ed25519-signer.js';
import { LocalAuditSink } from '../../shared/adapters/local/local-audit-sink.js';
import { chainRecords } from '../../shared/audit/chain.js';
import type { AuditDigest } from '../../shared/audit/digest.js';
import { AUDIT_PREFIX, DIGEST_PREFIX, GENESIS_HASH } from '../../shared/audit/format.js';
import { buildAuditObject, type AuditObject } from '../../shared/audit/object.js';
import { toAuditRecordBody } from '../../shared/audit/record.js';
import { verifyAuditLog, type VerifyReport } from '../../shared/audit/verify.js';
import { writeAuditBatch, type AuditStreamRecord } from '../../shared/audit/writer.js';
import { decideRequest } from '../../shared/domain/intake.js';
import { actionRequested } from '../support/requests.js';
import { eventually } from './support.js';

const TABLE = 'countersign-digest-anchor-local';
const log = memoryLogger();
let dataDir: string;
let ddb: DynamoDbLocal;
let sink: LocalAuditSink;
let forged: AuditObject;
let listed: string[];
let report: VerifyReport;

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'countersign-anchor-local-'));
  ddb = await startDynamoDbLocal();
  await ensureDecisionTable(ddb.client, TABLE);
  sink = new LocalAuditSink(localAuditDir(dataDir));
  const writerDeps = { sink, chain: new DynamoChainStore(ddb.client, TABLE), retentionDays: 1, now: () => new Date() };
  const audit = await startLocalAudit({
    dataDir, dynamoDb: ddb.client, dynamoDbEndpoint: ddb.endpoint, tableName: TABLE, retentionDays: 1, log,
    handler: async (event: unknown, _context: Context) => {
      const shardEvent = event as { Records: AuditStreamRecord[]; shardId: string };
      await writeAuditBatch(shardEvent.Records, writerDeps, { shardId: shardEvent.shardId });
      return { batchItemFailures: [] };
    },
    pollIntervalMs: 50, batchWindowMs: 50,
  });
  const allow = { decide: () => ({ kind: 'allow' as const, policyIds: ['reads'], reason: 'allowed', validity: { validFor: 'PT15M', validForSeconds: 900 } }) };
  await new DynamoDecisionStore(ddb.client, TABLE).recordRequest(decideRequest(actionRequested({ actionId: 'genuine-1', action: 'db.query' }), allow, new Date().toISOString()));
  await eventually(async () => ((await sink.list(AUDIT_PREFIX)).length > 0 ? true : undefined), 'the writer\'s object in the log', 20_000);

  const now = new Date();
  const body = toAuditRecordBody(
    { pk: 'REQ#forged-1', sk: 'EVENT#decided', kind: 'event', eventId: 'forged-1/decided', eventType: 'decided', occurredAt: now.toISOString(), actionId: 'forged-1', outcome: 'allowed', reason: 'forged', policyIds: ['p'] },
    { shardId: 'shardId-forged', sequenceNumber: '7', streamCreatedAt: now.toISOString() },
  );
  forged = buildAuditObject(chainRecords([body], GENESIS_HASH), now);
  await sink.putObject(forged.key, forged.body, { sha256OfUncompressed: forged.sha256, retainUntil: new Date(now.getTime() + 86_400_000) });
  // The stop drains the poller and signs what the current hour holds.
  await audit.stop();

  const digests = (await sink.list(DIGEST_PREFIX)).filter((key) => /\/digest(-\d+)?\.json$/.test(key));
  listed = (await Promise.all(digests.map(async (key) => (JSON.parse(Buffer.from((await sink.getObject(key))!).toString('utf8')) as AuditDigest).objects.map((o) => o.key)))).flat();
  const signer = await Ed25519Signer.fromKeyDir(join(dataDir, AUDIT_KEYS_DIR));
  report = await verifyAuditLog({ sink, publicKeyPem: await signer.publicKeyPem() });
}, 120_000);

afterAll(async () => {
  await ddb?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('the local stack\'s digest job and the chain heads', () => {
  it('signs the writer\'s objects and not the forged new-shard object, and says why in the log', async () => {
    const genuine = (await sink.list(AUDIT_PREFIX)).filter((key) => key !== forged.key);
    expect(genuine.length).toBeGreaterThan(0);
    expect(listed.sort()).toEqual(genuine.sort());
    expect(log.lines.some((line) => line.includes(`audit digest: object ${forged.key}: the audit writer's chain head for shard shardId-forged does not reach sequence 7 (there is none)`))).toBe(true);
  });

  it('verify names the forged object as not signed', () => {
    expect(report.pendingObjects).toEqual([forged.key]);
  });
});
