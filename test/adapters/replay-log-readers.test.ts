import { AthenaClient, GetQueryExecutionCommand, GetQueryResultsCommand, StartQueryExecutionCommand } from '@aws-sdk/client-athena';
import { GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { AthenaRecordSource, AthenaReplayError, replayQuery } from '../../shared/adapters/aws/athena-logged-records.js';
import { S3AuditSink } from '../../shared/adapters/aws/s3-audit-sink.js';
import { chainRecords } from '../../shared/audit/chain.js';
import { AuditObjectRecordSource, dayPrefixes } from '../../shared/audit/logged-records.js';
import { buildAuditObject } from '../../shared/audit/object.js';
import type { AuditRecord } from '../../shared/audit/format.js';
import type { LoggedRecord } from '../../shared/policy/replay.js';

/** The replay's two AWS readers of the audit log, on mocked clients: no test reaches AWS. */

const athena = mockClient(AthenaClient);
const s3 = mockClient(S3Client);
const noWait = async () => {};

async function collect(records: AsyncIterable<LoggedRecord>): Promise<LoggedRecord[]> {
  const out: LoggedRecord[] = [];
  for await (const record of records) out.push(record);
  return out;
}

const column = (Name: string) => ({ Name, Type: 'varchar' });
const COLUMNS = ['event_type', 'action_id', 'occurred_at', 'outcome', 'policy_ids', 'payload_sha256', 'detail'];
const row = (...values: Array<string | undefined>) => ({ Data: values.map((v) => (v === undefined ? {} : { VarCharValue: v })) });

describe('AthenaRecordSource', () => {
  beforeEach(() => athena.reset());

  it('runs the replay query in the workgroup and database, waits for it, and reads every page past the header', async () => {
    athena.on(StartQueryExecutionCommand).resolves({ QueryExecutionId: 'q-123' });
    athena.on(GetQueryExecutionCommand)
      .resolvesOnce({ QueryExecution: { Status: { State: 'QUEUED' } } })
      .resolvesOnce({ QueryExecution: { Status: { State: 'RUNNING' } } })
      .resolves({ QueryExecution: { Status: { State: 'SUCCEEDED' } } });
    const metadata = { ColumnInfo: COLUMNS.map(column) };
    athena.on(GetQueryResultsCommand, { QueryExecutionId: 'q-123', NextToken: undefined }).resolves({
      ResultSet: { ResultSetMetadata: metadata, Rows: [row(...COLUMNS), row('requested', 'a-1', '2026-12-06 10:00:00.000', undefined, '[]', 'ab'.repeat(32), '{"requestJson":null}')] },
      NextToken: 'page-2',
    });
    athena.on(GetQueryResultsCommand, { QueryExecutionId: 'q-123', NextToken: 'page-2' }).resolves({
      ResultSet: { ResultSetMetadata: metadata, Rows: [row('decided', 'a-1', '2026-12-06 10:00:00.000', 'allowed', '["db-query","a, comma"]', 'ab'.repeat(32), undefined)] },
    });
    const waits: number[] = [];
    const source = new AthenaRecordSource(new AthenaClient({ region: 'eu-west-1' }), { workGroup: 'countersign-audit', database: 'countersign_audit', pollMs: 250, sleep: async (ms) => { waits.push(ms); } });
    const records = await collect(source.records({ from: '2026-12-06T00:00:00.000Z', to: '2026-12-07T00:00:00.000Z' }));

    expect(records).toEqual([
      { event_type: 'requested', action_id: 'a-1', occurred_at: '2026-12-06T10:00:00.000Z', outcome: null, policy_ids: [], payload_sha256: 'ab'.repeat(32), detail: '{"requestJson":null}' },
      { event_type: 'decided', action_id: 'a-1', occurred_at: '2026-12-06T10:00:00.000Z', outcome: 'allowed', policy_ids: ['db-query', 'a, comma'], payload_sha256: 'ab'.repeat(32), detail: null },
    ]);
    expect(athena).toHaveReceivedCommandWith(StartQueryExecutionCommand, {
      WorkGroup: 'countersign-audit', QueryExecutionContext: { Database: 'countersign_audit' }, QueryString: replayQuery({ from: '2026-12-06T00:00:00.000Z', to: '2026-12-07T00:00:00.000Z' }),
    });
    expect(athena).toHaveReceivedCommandTimes(GetQueryResultsCommand, 2);
    expect(waits).toEqual([250, 250]);
    expect(source.description).toBe('Athena (workgroup countersign-audit, countersign_audit.audit_events)');
  });

  it('says why when the query fails, and gives up on one that never finishes', async () => {
    athena.on(StartQueryExecutionCommand).resolves({ QueryExecutionId: 'q-9' });
    athena.on(GetQueryExecutionCommand).resolves({ QueryExecution: { Status: { State: 'FAILED', StateChangeReason: 'Insufficient permissions to execute the query' } } });
    const source = new AthenaRecordSource(new AthenaClient({ region: 'eu-west-1' }), { workGroup: 'w', database: 'd', sleep: noWait });
    await expect(collect(source.records({}))).rejects.toThrow(new AthenaReplayError('Athena query q-9 failed: Insufficient permissions to execute the query'));

    athena.on(GetQueryExecutionCommand).resolves({ QueryExecution: { Status: { State: 'RUNNING' } } });
    const slow = new AthenaRecordSource(new AthenaClient({ region: 'eu-west-1' }), { workGroup: 'w', database: 'd', pollMs: 1000, maxWaitMs: 3000, sleep: noWait });
    await expect(collect(slow.records({}))).rejects.toThrow('Athena query q-9 did not finish within 3 s (state RUNNING)');
  });

  it('filters on the dt partition (through the day after the range) and quotes its literals', () => {
    const sql = replayQuery({ from: '2026-12-06T10:00:00.000Z', to: '2026-12-07T09:30:00.000Z' }, 'audit_events');
    expect(sql).toContain("dt BETWEEN '2026-12-06' AND '2026-12-08'");
    expect(sql).toContain("(event_type = 'decided' OR (occurred_at >= CAST('2026-12-06 10:00:00.000' AS TIMESTAMP) AND occurred_at < CAST('2026-12-07 09:30:00.000' AS TIMESTAMP)))");
    expect(sql).toContain('CAST(policy_ids AS JSON) AS policy_ids');
    expect(replayQuery({})).not.toContain('dt BETWEEN');
  });
});

function record(fields: Partial<AuditRecord> & Pick<AuditRecord, 'event_id' | 'event_type'>, seq: number): Omit<AuditRecord, 'prev_hash' | 'hash'> {
  return {
    action_id: 'a-1', occurred_at: '2026-12-06T10:00:00.000Z', agent_id: 'billing-agent', on_behalf_of: null, action: 'db.query', resource_type: 'Database', resource_id: 'customers',
    environment: 'prod', outcome: null, reason: null, reviewer_id: null, vote: null, comment: null, policy_ids: [], payload_sha256: null, request_seq: seq, shard_id: 'shardId-1',
    sequence_number: String(seq), redriven_at: null, valid_until: null, execution_status: null, started_at: null, finished_at: null, violation_rule: null, shadow_outcome: null,
    shadow_policy_ids: [], detail: null, ...fields,
  };
}

describe('AuditObjectRecordSource on the S3 bucket', () => {
  beforeEach(() => s3.reset());

  it("lists only the range's days (and the day after), reads each object, and yields its requested and decided records", async () => {
    const records = chainRecords([
      record({ event_id: 'a-1/requested', event_type: 'requested', detail: '{"requestJson":null}' }, 1),
      record({ event_id: 'a-1/decided', event_type: 'decided', outcome: 'allowed', policy_ids: ['db-query'] }, 2),
      record({ event_id: 'a-1/executed', event_type: 'executed' }, 3),
    ], '0'.repeat(64));
    const object = buildAuditObject(records, new Date('2026-12-06T10:00:00.000Z'));
    s3.on(ListObjectsV2Command).resolves({ Contents: [] });
    s3.on(ListObjectsV2Command, { Prefix: 'audit/dt=2026-12-06/' }).resolves({ Contents: [{ Key: object.key }] });
    s3.on(GetObjectCommand, { Key: object.key }).resolves({ Body: { transformToByteArray: async () => object.body } as never });

    const source = new AuditObjectRecordSource(new S3AuditSink(new S3Client({ region: 'eu-west-1' }), 'countersign-audit'), 's3://countersign-audit');
    const got = await collect(source.records({ from: '2026-12-06T09:00:00.000Z', to: '2026-12-06T12:00:00.000Z' }));
    expect(got.map((r) => [r.event_type, r.outcome])).toEqual([['requested', null], ['decided', 'allowed']]);
    expect(s3.commandCalls(ListObjectsV2Command).map((call) => call.args[0].input.Prefix)).toEqual(['audit/dt=2026-12-06/', 'audit/dt=2026-12-07/']);
    expect(s3).toHaveReceivedCommandWith(GetObjectCommand, { Bucket: 'countersign-audit', Key: object.key });
  });

  it('names the object that cannot be read', async () => {
    s3.on(ListObjectsV2Command).resolves({ Contents: [{ Key: 'audit/dt=2026-12-06/hour=10/shard=s/1-2.ndjson.gz' }] });
    s3.on(GetObjectCommand).resolves({ Body: { transformToByteArray: async () => new TextEncoder().encode('not gzip') } as never });
    const source = new AuditObjectRecordSource(new S3AuditSink(new S3Client({ region: 'eu-west-1' }), 'b'), 's3://b');
    await expect(collect(source.records({ from: '2026-12-06T00:00:00.000Z', to: '2026-12-06T01:00:00.000Z' }))).rejects.toThrow(/^audit object audit\/dt=2026-12-06\/hour=10\/shard=s\/1-2\.ndjson\.gz: cannot be decompressed/);
  });

  it('lists the whole log when the range has no start', () => {
    expect(dayPrefixes({}, new Date('2026-12-06T00:00:00Z'))).toEqual(['audit/']);
    expect(dayPrefixes({ from: '2026-12-05T23:00:00.000Z' }, new Date('2026-12-06T01:00:00Z'))).toEqual(['audit/dt=2026-12-05/', 'audit/dt=2026-12-06/', 'audit/dt=2026-12-07/']);
  });
});
