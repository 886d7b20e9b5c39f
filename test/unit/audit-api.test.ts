import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FixtureLogWriter, type RecordFields } from '../../bench/audit-log-fixture.js';
import { agentTextOf, AuditRecordsReader, AuditRecordsQueryError, countsPerHour, createAuditRoutes, parseAuditRecordsQuery, type AuditRecordsQuery } from '../../local/audit-api.js';
import { LocalAuditSink } from '../../shared/adapters/local/local-audit-sink.js';

/**
 * The audit page's data over a fixture log (real DuckDB, real gzip objects): the filters, each
 * request counted once at its final outcome, the approval latencies, the agent's text kept as text,
 * an empty log that grows while the reader is open, and the query parameters it refuses.
 */

const at = (hhmmss: string) => `2026-11-20T${hhmmss}.000Z`;
const HOUR_10 = new Date('2026-11-20T10:00:00Z');
const HOUR_11 = new Date('2026-11-20T11:00:00Z');
const HOSTILE = '<img src=x onerror="alert(1)"> please';

function request(id: string | null, agent: string | null, events: Array<Partial<RecordFields> & { event_type: RecordFields['event_type']; occurred_at: string }>): RecordFields[] {
  return events.map((e) => ({
    event_id: `${id ?? 'invalid-1'}/${e.event_type}/${e.occurred_at}`, action_id: id, agent_id: agent, action: 'db.export', resource_type: 'Database',
    resource_id: 'customers', environment: 'prod', payload_sha256: 'ab'.repeat(32), ...e,
  }));
}

const requested = (time: string, justification = 'routine'): Partial<RecordFields> & { event_type: 'requested'; occurred_at: string } => ({
  event_type: 'requested',
  occurred_at: at(time),
  detail: JSON.stringify({ eventType: 'requested', requestJson: JSON.stringify({ justification, parameters: { table: 'customers', note: HOSTILE } }) }),
});

let dir: string;
let reader: AuditRecordsReader;
let writer: FixtureLogWriter;
const query = (q: Partial<AuditRecordsQuery> = {}) => reader.read({ limit: 200, ...q });

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'audit-api-'));
  writer = new FixtureLogWriter(new LocalAuditSink(dir));
  reader = new AuditRecordsReader(dir);
});

afterAll(async () => {
  await reader.close();
  await rm(dir, { recursive: true, force: true });
});

describe('the audit page data', () => {
  it('answers empty lists for a log without objects, then the records once objects are written', async () => {
    const empty = await query();
    expect(empty).toMatchObject({ records: [], total: 0, agents: [], perHour: [], latencies: [], log: { records: 0, objects: 0 } });
    expect(empty.outcomes).toEqual(expect.arrayContaining(['allowed', 'denied', 'pending', 'approved', 'rejected', 'expired', 'invalid']));

    await writer.write('shard-1', HOUR_10, [
      ...request('act-allowed', 'billing-agent', [requested('10:00:00'), { event_type: 'decided', occurred_at: at('10:00:01'), outcome: 'allowed' }]),
      ...request('act-denied', 'billing-agent', [requested('10:01:00'), { event_type: 'decided', occurred_at: at('10:01:01'), outcome: 'denied', reason: 'prod deletes are forbidden' }]),
      ...request('act-approved', 'billing-agent', [
        requested('10:02:00', HOSTILE),
        { event_type: 'decided', occurred_at: at('10:02:01'), outcome: 'pending' },
        { event_type: 'review_requested', occurred_at: at('10:02:02') },
        { event_type: 'vote_refused', occurred_at: at('10:03:00'), reviewer_id: 'alice', vote: 'approve', reason: 'self_approval: you own the agent' },
        { event_type: 'vote', occurred_at: at('10:09:00'), reviewer_id: 'bob', vote: 'approve', comment: 'scope checked' },
        { event_type: 'outcome', occurred_at: at('10:09:00'), outcome: 'approved', reason: 'approved by bob' },
      ]),
      ...request(null, null, [{ event_type: 'decided', occurred_at: at('10:30:00'), outcome: 'invalid', reason: 'agent.id: does not match the source' }]),
    ]);
    const grown = await query();
    expect(grown.log).toEqual({ records: 11, objects: 1 });
    expect(grown.total).toBe(11);
    expect(grown.agents).toEqual(['billing-agent']);
  });

  it('grows with every object written while it is open', async () => {
    await writer.write('shard-2', HOUR_11, [
      ...request('act-rejected', 'ops-agent', [
        requested('11:00:00'), { event_type: 'decided', occurred_at: at('11:00:01'), outcome: 'pending' },
        { event_type: 'vote', occurred_at: at('11:20:00'), reviewer_id: 'carol', vote: 'deny', comment: 'too broad' },
        { event_type: 'outcome', occurred_at: at('11:20:00'), outcome: 'rejected' },
      ]),
      ...request('act-expired', 'ops-agent', [
        requested('11:01:00'), { event_type: 'decided', occurred_at: at('11:01:01'), outcome: 'pending' },
        { event_type: 'outcome', occurred_at: at('11:45:00'), outcome: 'expired' },
      ]),
      ...request('act-waiting', 'ops-agent', [requested('11:50:00'), { event_type: 'decided', occurred_at: at('11:50:01'), outcome: 'pending' }, { event_type: 'review_requested', occurred_at: at('11:50:02') }]),
    ]);
    const view = await query();
    expect(view.log).toEqual({ records: 21, objects: 2 });
    expect(view.agents).toEqual(['billing-agent', 'ops-agent']);
  });

  it('lists the records newest first, up to the limit, with the total that matched', async () => {
    const view = await query({ limit: 3 });
    expect(view.total).toBe(21);
    expect(view.records.map((r) => [r.eventType, r.actionId])).toEqual([['review_requested', 'act-waiting'], ['decided', 'act-waiting'], ['requested', 'act-waiting']]);
    expect(view.records[0]).toMatchObject({ occurredAt: '2026-11-20T11:50:02.000Z', agentId: 'ops-agent', action: 'db.export', resourceType: 'Database', resourceId: 'customers', environment: 'prod', requestOutcome: 'pending', payloadSha256: 'ab'.repeat(32) });
  });

  it('filters by agent, by event type, and by the outcome of the request each record belongs to', async () => {
    expect(new Set((await query({ agent: 'ops-agent' })).records.map((r) => r.agentId))).toEqual(new Set(['ops-agent']));
    expect((await query({ agent: 'nobody' })).records).toEqual([]);
    expect((await query({ eventType: 'vote' })).records.map((r) => [r.actionId, r.reviewerId, r.vote])).toEqual([['act-rejected', 'carol', 'deny'], ['act-approved', 'bob', 'approve']]);
    const approved = await query({ outcome: 'approved' });
    expect(new Set(approved.records.map((r) => r.actionId))).toEqual(new Set(['act-approved']));
    expect(approved.records.map((r) => r.eventType)).toEqual(['outcome', 'vote', 'vote_refused', 'review_requested', 'decided', 'requested']);
    expect((await query({ outcome: 'pending' })).records.every((r) => r.actionId === 'act-waiting')).toBe(true);
    expect((await query({ outcome: 'invalid' })).records).toMatchObject([{ eventType: 'decided', actionId: null, agentId: null, outcome: 'invalid' }]);
  });

  it('filters by time: from inclusive, to exclusive', async () => {
    const view = await query({ from: '2026-11-20T10:02:00Z', to: '2026-11-20T10:09:00Z' });
    expect(view.records.map((r) => r.eventType)).toEqual(['vote_refused', 'review_requested', 'decided', 'requested']);
    expect((await query({ from: '2026-11-20T11:15:00+01:00', to: '2026-11-20T11:45:00+01:00' })).records.map((r) => r.eventType)).toEqual(['decided']);
    expect((await query({ from: '2026-11-21T00:00:00Z' })).total).toBe(0);
  });

  it('counts each request once, in the hour of its final outcome, and not while it is pending', async () => {
    expect((await query()).perHour).toEqual([
      { hour: '2026-11-20T10:00:00Z', counts: { allowed: 1, denied: 1, approved: 1, invalid: 1 } },
      { hour: '2026-11-20T11:00:00Z', counts: { rejected: 1, expired: 1 } },
    ]);
    expect((await query({ agent: 'ops-agent', outcome: 'expired' })).perHour).toEqual([{ hour: '2026-11-20T11:00:00Z', counts: { expired: 1 } }]);
    expect((await query({ to: '2026-11-20T11:00:00Z' })).perHour.map((h) => h.hour)).toEqual(['2026-11-20T10:00:00Z']);
  });

  it('measures the approval latency from the request to the outcome of reviewed requests', async () => {
    expect((await query()).latencies).toEqual([
      { actionId: 'act-expired', agentId: 'ops-agent', outcome: 'expired', requestedAt: at('11:01:00'), decidedAt: at('11:45:00'), seconds: 2640 },
      { actionId: 'act-rejected', agentId: 'ops-agent', outcome: 'rejected', requestedAt: at('11:00:00'), decidedAt: at('11:20:00'), seconds: 1200 },
      { actionId: 'act-approved', agentId: 'billing-agent', outcome: 'approved', requestedAt: at('10:02:00'), decidedAt: at('10:09:00'), seconds: 420 },
    ]);
    expect((await query({ agent: 'billing-agent' })).latencies.map((l) => l.actionId)).toEqual(['act-approved']);
  });

  it('keeps what the agent wrote as text: the justification and parameters of the request', async () => {
    const [record] = (await query({ eventType: 'requested', outcome: 'approved' })).records;
    expect(record).toMatchObject({ justification: HOSTILE, parameters: { table: 'customers', note: HOSTILE } });
  });
});

describe('agentTextOf', () => {
  it('shows the parameters of an invalid request nested 10,000 levels deep as text, so that the answer can be serialized (issue 11)', () => {
    const parameters = `{"deep":${'['.repeat(10_000)}${']'.repeat(10_000)}}`;
    const detail = JSON.stringify({ eventType: 'requested', requestJson: null, rawDetail: `{"justification":"why","parameters":${parameters}}` });
    const shown = agentTextOf(detail);
    expect(shown).toEqual({ justification: 'why', parameters });
    expect(() => JSON.stringify(shown)).not.toThrow();
  });

  it('keeps parameters within the nesting limit as data', () => {
    const detail = JSON.stringify({ eventType: 'requested', rawDetail: JSON.stringify({ justification: 'why', parameters: { a: [[1]] } }) });
    expect(agentTextOf(detail)).toEqual({ justification: 'why', parameters: { a: [[1]] } });
  });
});

describe('countsPerHour', () => {
  it('groups outcome counts by hour, in hour order', () => {
    expect(countsPerHour([{ hour: 'b', outcome: 'allowed', n: 2 }, { hour: 'a', outcome: 'denied', n: 1 }, { hour: 'b', outcome: 'denied', n: 3 }])).toEqual([
      { hour: 'a', counts: { denied: 1 } },
      { hour: 'b', counts: { allowed: 2, denied: 3 } },
    ]);
  });
});

describe('the query parameters of /audit/records', () => {
  const refused = (queryString: string) => {
    try {
      parseAuditRecordsQuery(queryString);
    } catch (error) {
      if (error instanceof AuditRecordsQueryError) return { parameter: error.parameter, message: error.message };
      throw error;
    }
    throw new Error(`"${queryString}" was accepted`);
  };

  it('takes the filters, treats empty values as not set, and defaults the limit to 200', () => {
    expect(parseAuditRecordsQuery('')).toEqual({ limit: 200 });
    expect(parseAuditRecordsQuery('agent=billing-agent&outcome=approved&eventType=vote&from=2026-11-20T10:00:00Z&to=2026-11-20T11:00:00.5%2B01:00&limit=1000')).toEqual({
      agent: 'billing-agent', outcome: 'approved', eventType: 'vote', from: '2026-11-20T10:00:00Z', to: '2026-11-20T11:00:00.5+01:00', limit: 1000,
    });
    expect(parseAuditRecordsQuery('agent=&outcome=&from=&limit=')).toEqual({ limit: 200 });
  });

  it.each([
    ['from=yesterday', 'from'],
    ['from=2026-11-20T10:00', 'from'],
    ['to=2026-13-01T00:00:00Z', 'to'],
    ['from=2026-11-20T11:00:00Z&to=2026-11-20T10:00:00Z', 'to'],
    ['limit=0', 'limit'],
    ['limit=1001', 'limit'],
    ['limit=ten', 'limit'],
    ['limit=2.5', 'limit'],
    ['outcome=maybe', 'outcome'],
    ['eventType=deleted', 'eventType'],
    ['agent=a&agent=b', 'agent'],
    ['agnet=billing-agent', 'agnet'],
  ])('refuses %s, naming %s', (queryString, parameter) => {
    const answer = refused(queryString);
    expect(answer.parameter).toBe(parameter);
    expect(answer.message.startsWith(`${parameter}: `)).toBe(true);
  });
});

describe('the audit routes', () => {
  it('answer 400 naming the parameter, 405 for other methods, 404 for other paths', async () => {
    const routes = createAuditRoutes({ auditDir: dir });
    const call = (method: string, path: string, query = '') => routes.handle({ method, path, query, headers: {}, body: Buffer.alloc(0), remoteAddress: '127.0.0.1' });
    try {
      const bad = await call('GET', '/audit/records', 'limit=0');
      expect(bad.statusCode).toBe(400);
      expect(JSON.parse(String(bad.body))).toMatchObject({ error: 'BadRequest', message: expect.stringMatching(/^limit: /) });
      expect((await call('POST', '/audit/records')).statusCode).toBe(405);
      expect((await call('GET', '/audit/elsewhere')).statusCode).toBe(404);
      const ok = await call('GET', '/audit/records', 'agent=ops-agent');
      expect(ok.statusCode).toBe(200);
      expect(JSON.parse(String(ok.body)).records.length).toBeGreaterThan(0);
    } finally {
      await routes.close();
    }
  });
});

describe('executions and violations on the audit page (issue 12)', () => {
  it('gives an execution its status, times, result and validity, a violation its rule, and counts neither as a decision', async () => {
    const own = await mkdtemp(join(tmpdir(), 'audit-api-exec-'));
    const ownReader = new AuditRecordsReader(own);
    try {
      const item = { resultSummary: 'exported 12 rows', resultSha256: 'ef'.repeat(32), executedPayloadSha256: 'ab'.repeat(32), errorCode: null, errorMessage: null };
      await new FixtureLogWriter(new LocalAuditSink(own)).write('shard-1', HOUR_10, [
        ...request('act-run', 'billing-agent', [
          requested('10:00:00'),
          { event_type: 'decided', occurred_at: at('10:00:01'), outcome: 'allowed', valid_until: at('10:15:01') },
          { event_type: 'executed', occurred_at: at('10:00:09'), outcome: 'allowed', valid_until: at('10:15:01'), execution_status: 'succeeded', started_at: at('10:00:05'), finished_at: '2026-11-20T10:00:08.500Z', detail: JSON.stringify(item) },
          { event_type: 'execution_violation', occurred_at: at('10:01:00'), outcome: 'allowed', violation_rule: 'already_executed', reason: 'the request was already executed', execution_status: 'failed', started_at: at('10:00:50'), finished_at: at('10:00:51'), detail: JSON.stringify({ ...item, errorCode: 'Timeout', errorMessage: 'took too long', resultSummary: null }) },
        ]),
      ]);
      const view = await ownReader.read({ limit: 200 });
      const [violation, executed] = view.records;
      expect(executed).toMatchObject({
        eventType: 'executed', validUntil: at('10:15:01'), violationRule: null, requestOutcome: 'allowed',
        execution: { status: 'succeeded', startedAt: at('10:00:05'), finishedAt: '2026-11-20T10:00:08.500Z', resultSummary: 'exported 12 rows', resultSha256: 'ef'.repeat(32), error: null, executedPayloadSha256: 'ab'.repeat(32) },
      });
      expect(violation).toMatchObject({ eventType: 'execution_violation', violationRule: 'already_executed', execution: { status: 'failed', error: { code: 'Timeout', message: 'took too long' } } });
      expect(view.records.find((r) => r.eventType === 'decided')).toMatchObject({ validUntil: at('10:15:01'), execution: null });
      expect(view.perHour).toEqual([{ hour: '2026-11-20T10:00:00Z', counts: { allowed: 1 } }]);
      expect((await ownReader.read({ limit: 200, eventType: 'execution_violation' })).records.map((r) => r.eventType)).toEqual(['execution_violation']);
    } finally {
      await ownReader.close();
      await rm(own, { recursive: true, force: true });
    }
  });
});
