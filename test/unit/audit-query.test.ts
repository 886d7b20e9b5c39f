import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FixtureLogWriter, type RecordFields } from '../../bench/audit-log-fixture.js';
import { LocalAuditSink } from '../../shared/adapters/local/local-audit-sink.js';
import { AUDIT_COLUMNS } from '../../shared/audit/format.js';
import { formatCsv, openAuditQuery, type AuditQueryEngine } from '../../shared/audit/query.js';
import { renderSavedQuery, SAVED_QUERIES, savedQuery, sqlString } from '../../shared/audit/queries.js';

let dir: string;
let engine: AuditQueryEngine;

const at = (hhmm: string, day = '20') => `2026-11-${day}T${hhmm}:00.000Z`;
function action(id: string, agent: string, behalf: string | null, events: Array<Partial<RecordFields> & { event_type: RecordFields['event_type'] }>, day = '20'): RecordFields[] {
  return events.map((e, i) => ({
    event_id: `${id}/${e.event_type}/${i}`, action_id: id, agent_id: agent, on_behalf_of: behalf, action: 'db.export', resource_type: 'Database',
    resource_id: 'customers', environment: 'prod', occurred_at: at(`10:${String(i).padStart(2, '0')}`, day), ...e,
  }));
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'audit-query-'));
  const writer = new FixtureLogWriter(new LocalAuditSink(dir));
  const h10 = new Date('2026-11-20T10:00:00Z');
  await writer.write('shard-1', h10, [
    ...action('act-1', 'billing-agent', 'alice', [{ event_type: 'requested' }, { event_type: 'decided', outcome: 'allowed' }]),
    ...action('act-2', 'billing-agent', 'alice', [{ event_type: 'requested' }, { event_type: 'decided', outcome: 'denied', reason: 'prod exports are forbidden' }]),
    ...action('act-3', 'billing-agent', 'alice', [
      { event_type: 'requested' }, { event_type: 'decided', outcome: 'pending' }, { event_type: 'review_requested' },
      { event_type: 'vote_refused', reviewer_id: 'alice', vote: 'approve', reason: 'self_approval: You cannot vote on this request' },
      { event_type: 'vote_refused', reviewer_id: 'carol', vote: 'approve', reason: 'not_in_approver_group: carol is not in data-owners' },
      { event_type: 'vote_refused', reviewer_id: 'bob', vote: 'approve', reason: 'already_voted: you voted' },
      { event_type: 'vote', reviewer_id: 'bob', vote: 'approve', comment: "it's fine" },
      { event_type: 'outcome', outcome: 'approved' },
    ]),
  ]);
  await writer.write('shard-2', h10, [
    ...action('act-4', 'ops-agent', null, [{ event_type: 'decided', outcome: 'pending' }, { event_type: 'vote', reviewer_id: 'bob', vote: 'deny' }, { event_type: 'outcome', outcome: 'rejected' }]),
    ...action('act-5', 'ops-agent', null, [{ event_type: 'decided', outcome: 'pending' }, { event_type: 'outcome', outcome: 'expired' }]),
    // Two bypasses: approved with no vote at all, and approved only by the human the agent acts for.
    ...action('act-6', 'ops-agent', null, [{ event_type: 'decided', outcome: 'pending' }, { event_type: 'outcome', outcome: 'approved' }]),
    ...action('act-8', 'ops-agent', 'dave', [{ event_type: 'review_requested' }, { event_type: 'vote', reviewer_id: 'dave', vote: 'approve' }, { event_type: 'outcome', outcome: 'approved' }]),
  ]);
  await writer.write('shard-1', new Date('2026-11-21T10:00:00Z'), action('act-7', 'billing-agent', 'alice', [{ event_type: 'requested' }, { event_type: 'decided', outcome: 'allowed' }], '21'));
  // Issue 12, on the 22nd: executions and violations of exec-agent.
  const t = (hhmmss: string) => `2026-11-22T${hhmmss}.000Z`;
  await writer.write('shard-3', new Date('2026-11-22T10:00:00Z'), [
    // Allowed at 10:01 (valid 15 min), started 30 s later, ran 1.5 s.
    ...action('ex-1', 'exec-agent', null, [
      { event_type: 'requested' }, { event_type: 'decided', outcome: 'allowed', valid_until: t('10:16:00') },
      { event_type: 'executed', outcome: 'allowed', valid_until: t('10:16:00'), execution_status: 'succeeded', started_at: t('10:01:30'), finished_at: '2026-11-22T10:01:31.500Z' },
    ], '22'),
    // Approved at 10:02 (valid until 10:20), never executed.
    ...action('ex-2', 'exec-agent', null, [
      { event_type: 'decided', outcome: 'pending' }, { event_type: 'vote', reviewer_id: 'bob', vote: 'approve' }, { event_type: 'outcome', outcome: 'approved', valid_until: t('10:20:00') },
    ], '22'),
    // Allowed at 10:01, started 90 s later, failed; then a second, different report: already_executed.
    ...action('ex-3', 'exec-agent', null, [
      { event_type: 'requested' }, { event_type: 'decided', outcome: 'allowed', valid_until: t('10:16:00') },
      { event_type: 'executed', outcome: 'allowed', valid_until: t('10:16:00'), execution_status: 'failed', started_at: t('10:02:30'), finished_at: t('10:02:32'), reason: 'Timeout: took too long' },
      { event_type: 'execution_violation', outcome: 'allowed', valid_until: t('10:16:00'), execution_status: 'succeeded', started_at: t('10:04:00'), finished_at: t('10:04:01'), violation_rule: 'already_executed', reason: 'the request was already executed' },
    ], '22'),
    // A report naming no request: no request number, no request fields.
    { event_id: 'execution/f00d/execution_violation', event_type: 'execution_violation', action_id: 'ghost-1', agent_id: 'exec-agent', occurred_at: t('10:05:00'), violation_rule: 'no_decision', execution_status: 'succeeded', started_at: t('10:04:00'), finished_at: t('10:04:30'), reason: 'no request with actionId "ghost-1" was received' },
    // An executed record whose permit is not in the log.
    ...action('ex-4', 'exec-agent', null, [{ event_type: 'executed', execution_status: 'succeeded', started_at: t('10:06:00'), finished_at: t('10:06:01') }], '22'),
    // Written before issue 12: no valid_until (nor any new field) in the line at all.
    ...action('ex-old', 'exec-agent', null, [{ event_type: 'decided', outcome: 'allowed', valid_until: undefined, execution_status: undefined, started_at: undefined, finished_at: undefined, violation_rule: undefined }], '22'),
  ]);
  // Issue 16, on the 23rd: a manual quarantine and its lift, then an automatic one.
  const q = (seq: number, type: 'agent_quarantined' | 'agent_released', agent: string, hhmm: string, by: string, reason: string): RecordFields =>
    ({ event_id: `agent/${agent}/${type}/${seq}`, event_type: type, action_id: null, agent_id: agent, occurred_at: `2026-11-23T${hhmm}:00.000Z`, reviewer_id: by, reason });
  await writer.write('shard-4', new Date('2026-11-23T10:00:00Z'), [
    q(1, 'agent_quarantined', 'billing-agent', '10:00', 'carol', 'looping on policy updates'),
    q(2, 'agent_released', 'billing-agent', '10:30', 'dan', 'loop fixed'),
    q(1, 'agent_quarantined', 'ops-agent', '10:45', 'countersign (auto: 2 rejections in 60 min)', 'reviewers rejected 2 of its requests within 60 minutes (the limit is 2): a, b'),
  ]);
  engine = await openAuditQuery(dir);
});

afterAll(async () => {
  engine.close();
  await rm(dir, { recursive: true, force: true });
});

const run = async (name: string, params: Record<string, string> = {}) => (await engine.run(renderSavedQuery(savedQuery(name), params))).rows;

describe('audit_events over the local log', () => {
  it('has exactly the AUDIT_COLUMNS, then dt and hour', async () => {
    const result = await engine.run('SELECT * FROM audit_events LIMIT 1');
    expect(result.columns).toEqual([...AUDIT_COLUMNS.map((c) => c.name), 'dt', 'hour']);
    expect(result.rows[0]).toMatchObject({ dt: '2026-11-20', hour: '10', policy_ids: [] });
  });

  it('is an empty table over an empty log', async () => {
    const empty = await mkdtemp(join(tmpdir(), 'audit-query-empty-'));
    const none = await openAuditQuery(empty);
    expect((await none.run('SELECT count(*) AS n FROM audit_events')).rows).toEqual([{ n: '0' }]);
    none.close();
    await rm(empty, { recursive: true });
  });
});

describe('saved queries', () => {
  it('actions-by-agent: one row per action of the agent within the range', async () => {
    const rows = await run('actions-by-agent', { agent_id: 'billing-agent', from: '2026-11-20 00:00:00', to: '2026-11-21 00:00:00' });
    expect(rows.map((r) => [r.action_id, r.decision, r.final_outcome])).toEqual([['act-1', 'allowed', null], ['act-2', 'denied', null], ['act-3', 'pending', 'approved']]);
    expect((await run('actions-by-agent', { agent_id: 'billing-agent' })).map((r) => r.action_id)).toEqual(['act-1', 'act-2', 'act-3', 'act-7']);
  });

  it('who-approved: the accepted approve votes of one action', async () => {
    expect(await run('who-approved', { action_id: 'act-3' })).toEqual([expect.objectContaining({ reviewer_id: 'bob', vote: 'approve', comment: "it's fine" })]);
    expect(await run('who-approved', { action_id: 'act-4' })).toEqual([]);
  });

  it('denied-rejected-expired', async () => {
    expect((await run('denied-rejected-expired')).map((r) => [r.action_id, r.outcome])).toEqual([['act-2', 'denied'], ['act-5', 'expired'], ['act-4', 'rejected']]);
  });

  it('votes-per-reviewer', async () => {
    expect(await run('votes-per-reviewer')).toEqual([
      { reviewer_id: 'bob', votes: '3', approvals: '2', denials: '1' },
      { reviewer_id: 'dave', votes: '1', approvals: '1', denials: '0' },
    ]);
  });

  it('refused-votes: self-approval and non-approver attempts, not other refusals', async () => {
    expect((await run('refused-votes')).map((r) => [r.reviewer_id, r.rule])).toEqual([['alice', 'self_approval'], ['carol', 'not_in_approver_group']]);
  });

  it('approval-bypassed: approved with no vote, or only by the human the agent acts for', async () => {
    expect((await run('approval-bypassed')).map((r) => [r.action_id, r.outcome, r.approvers])).toEqual([['act-6', 'approved', '0'], ['act-8', 'approved', '0']]);
  });

  it('approved-not-executed: permitted, validity passed, no executed record; not before the window ends, nor requests without validUntil', async () => {
    expect((await run('approved-not-executed', { as_of: '2026-11-22 12:00:00' })).map((r) => [r.action_id, r.outcome, r.valid_until])).toEqual([['ex-2', 'approved', '2026-11-22 10:20:00']]);
    expect(await run('approved-not-executed', { as_of: '2026-11-22 10:19:59' })).toEqual([]);
    // Now (the default) is long after the fixture's windows.
    expect((await run('approved-not-executed')).map((r) => r.action_id)).toEqual(['ex-2']);
  });

  it('executed-without-approval: every violation (with its rule), and an executed record with no permit in the log', async () => {
    expect((await run('executed-without-approval')).map((r) => [r.action_id, r.rule])).toEqual([
      ['ex-4', 'no_permit_in_log'], ['ex-3', 'already_executed'], ['ghost-1', 'no_decision'],
    ]);
    expect(await run('executed-without-approval', { from: '2026-11-20 00:00:00', to: '2026-11-22 00:00:00' })).toEqual([]);
  });

  it('quarantines: every quarantine and lift (agent, change, by whom, manual or automatic, why), for one agent or all, in a time range', async () => {
    const rows = (await run('quarantines')).map((r) => [r.agent_id, r.change, r.by, r.origin, r.reason, String(r.occurred_at)]);
    expect(rows).toEqual([
      ['billing-agent', 'quarantined', 'carol', 'manual', 'looping on policy updates', '2026-11-23 10:00:00'],
      ['billing-agent', 'lifted', 'dan', null, 'loop fixed', '2026-11-23 10:30:00'],
      ['ops-agent', 'quarantined', 'countersign (auto: 2 rejections in 60 min)', 'auto', 'reviewers rejected 2 of its requests within 60 minutes (the limit is 2): a, b', '2026-11-23 10:45:00'],
    ]);
    expect((await run('quarantines', { agent_id: 'ops-agent' })).map((r) => r.event_id)).toEqual(['agent/ops-agent/agent_quarantined/1']);
    expect((await run('quarantines', { from: '2026-11-23 10:15:00', to: '2026-11-23 10:40:00' })).map((r) => r.event_id)).toEqual(['agent/billing-agent/agent_released/2']);
  });

  it('time-to-execute: from the decision to the start, per agent and action', async () => {
    expect(await run('time-to-execute', { from: '2026-11-22 00:00:00', to: '2026-11-23 00:00:00' })).toEqual([
      { agent_id: 'exec-agent', action: 'db.export', executions: '2', failed: '1', avg_seconds_to_start: 60, max_seconds_to_start: 90, avg_seconds_running: 1.75 },
    ]);
  });

  it('reads the new columns as timestamps and strings, and records written before them as nulls', async () => {
    const rows = (await engine.run("SELECT action_id, event_type, valid_until, execution_status, started_at, finished_at, violation_rule, request_seq FROM audit_events WHERE agent_id = 'exec-agent' AND event_type IN ('executed', 'execution_violation') OR action_id = 'ex-old' ORDER BY event_id")).rows;
    expect(rows).toEqual([
      { action_id: 'ex-1', event_type: 'executed', valid_until: '2026-11-22 10:16:00', execution_status: 'succeeded', started_at: '2026-11-22 10:01:30', finished_at: '2026-11-22 10:01:31.5', violation_rule: null, request_seq: null },
      { action_id: 'ex-3', event_type: 'executed', valid_until: '2026-11-22 10:16:00', execution_status: 'failed', started_at: '2026-11-22 10:02:30', finished_at: '2026-11-22 10:02:32', violation_rule: null, request_seq: null },
      { action_id: 'ex-3', event_type: 'execution_violation', valid_until: '2026-11-22 10:16:00', execution_status: 'succeeded', started_at: '2026-11-22 10:04:00', finished_at: '2026-11-22 10:04:01', violation_rule: 'already_executed', request_seq: null },
      { action_id: 'ex-4', event_type: 'executed', valid_until: null, execution_status: 'succeeded', started_at: '2026-11-22 10:06:00', finished_at: '2026-11-22 10:06:01', violation_rule: null, request_seq: null },
      { action_id: 'ex-old', event_type: 'decided', valid_until: null, execution_status: null, started_at: null, finished_at: null, violation_rule: null, request_seq: null },
      { action_id: 'ghost-1', event_type: 'execution_violation', valid_until: null, execution_status: 'succeeded', started_at: '2026-11-22 10:04:00', finished_at: '2026-11-22 10:04:30', violation_rule: 'no_decision', request_seq: null },
    ]);
  });

  it('every saved query renders with its defaults and runs', async () => {
    for (const query of SAVED_QUERIES) await expect(engine.run(renderSavedQuery(query))).resolves.toBeDefined();
  });
});

describe('parameters', () => {
  it('are quoted as SQL string literals, so a value cannot change the query', async () => {
    expect(sqlString("o'brien")).toBe("'o''brien'");
    const sql = renderSavedQuery(savedQuery('who-approved'), { action_id: "x' OR '1'='1" });
    expect(sql).toContain("action_id = 'x'' OR ''1''=''1'");
    expect(await engine.run(sql)).toMatchObject({ rows: [] });
  });

  it('unknown parameters and queries are named in the error', () => {
    expect(() => renderSavedQuery(savedQuery('who-approved'), { agent: 'x' })).toThrow('saved query "who-approved" has no parameter "agent"; it takes action_id');
    expect(() => savedQuery('nope')).toThrow(/no saved query "nope"; the saved queries are: actions-by-agent, who-approved/);
  });

  it('CSV quotes what needs quoting', () => {
    expect(formatCsv({ columns: ['a', 'b'], rows: [{ a: 'x,y', b: 'say "hi"' }, { a: null, b: ['p1'] }] })).toBe('a,b\n"x,y","say ""hi"""\n,"[""p1""]"\n');
  });
});
