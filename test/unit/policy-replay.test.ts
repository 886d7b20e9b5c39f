import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../local/local-stack.js';
import { canonicalJson } from '../../shared/domain/canonical-json.js';
import type { ActionRequest } from '../../shared/domain/contract.js';
import { CedarPolicyEngine } from '../../shared/policy/cedar-policy-engine.js';
import { loggedRecords, loggedRequest } from '../support/logged-requests.js';
import { formatReplayCsv, formatReplayText, replayExitCode, replayRequests, type LoggedRecord, type LoggedRecordSource } from '../../shared/policy/replay.js';

/**
 * The replay's core: logged requested/decided records (as the store writes them, hashes and all) decided
 * again with a candidate set, the real Cedar engine, and compared.
 */

const POLICIES = join(REPO_ROOT, 'policies');
const enforced = new CedarPolicyEngine({ policyDir: POLICIES });
const candidateDir = mkdtempSync(join(tmpdir(), 'countersign-replay-'));
cpSync(POLICIES, candidateDir, { recursive: true });
// The candidate: prod queries of customers need a data owner (the shipped shadow rule, promoted).
cpSync(join(POLICIES, 'shadow', 'customer-queries.cedar'), join(candidateDir, 'customer-queries.cedar'));
rmSync(join(candidateDir, 'shadow'), { recursive: true });
const candidate = new CedarPolicyEngine({ policyDir: candidateDir });
afterAll(() => rmSync(candidateDir, { recursive: true, force: true }));

const request = loggedRequest;
const logged = (req: ActionRequest, at: string, overrides: { detail?: Record<string, unknown> } = {}) => loggedRecords(enforced, req, at, overrides);

function source(records: LoggedRecord[]): LoggedRecordSource {
  return { description: 'the test log', async *records() { yield* records; } };
}

const query = request('q-1', {});
const ordersQuery = request('q-2', { resource: { type: 'Database', id: 'orders' } });
const stagingQuery = request('q-3', { environment: 'staging' });
const exportProd = request('e-1', { action: 'db.export', parameters: { table: 'customers' } });

describe('replayRequests', () => {
  it('decides each logged request again and reports the changed ones, with a transition table', async () => {
    const records = [
      ...logged(query, '2026-12-06T10:00:00.000Z'),
      ...logged(ordersQuery, '2026-12-06T10:01:00.000Z'),
      ...logged(stagingQuery, '2026-12-06T10:02:00.000Z'),
      ...logged(exportProd, '2026-12-06T10:03:00.000Z'),
      // Refused by the contract: no request to replay.
      { event_type: 'requested', action_id: 'bad-1', occurred_at: '2026-12-06T10:04:00.000Z', outcome: null, policy_ids: [], payload_sha256: null, detail: canonicalJson({ requestJson: null, rawDetail: '{}' }) },
      { event_type: 'decided', action_id: 'bad-1', occurred_at: '2026-12-06T10:04:00.000Z', outcome: 'invalid', policy_ids: [], payload_sha256: null, detail: null },
    ] satisfies LoggedRecord[];
    const report = await replayRequests(source(records), candidate, {});
    expect(report).toMatchObject({ requests: 5, replayed: 4, unchanged: 3, contractInvalid: 1, problems: [] });
    expect(report.transitions).toEqual([{ from: 'allowed', to: 'pending', count: 1 }]);
    expect(report.changed).toEqual([{
      actionId: 'q-1', requestedAt: '2026-12-06T10:00:00.000Z', agentId: 'billing-agent', action: 'db.query', resource: 'Database::customers', environment: 'prod',
      old: { outcome: 'allowed', policyIds: ['db-query'] },
      new: { outcome: 'pending', policyIds: ['db-query-customers-prod-needs-data-owners', 'db-query'], reason: expect.stringContaining('needs 1 approval from data-owners') },
    }]);
    expect(replayExitCode(report)).toBe(1);
    const text = formatReplayText(report);
    expect(text).toContain('Replayed 4 of 5 requests in the test log, the beginning to now: 1 would change, 3 would not; 1 refused by the contract');
    expect(text).toMatch(/^allowed\s+needs approval\s+1$/m);
    expect(text).toMatch(/^q-1\s+billing-agent\s+db\.query\s+Database::customers\s+prod\s+allowed\s+db-query\s+needs approval\s+db-query-customers-prod-needs-data-owners,db-query$/m);
    expect(formatReplayCsv(report).split('\n')[1]).toBe('q-1,2026-12-06T10:00:00.000Z,billing-agent,db.query,Database::customers,prod,allowed,db-query,pending,db-query-customers-prod-needs-data-owners db-query,');
  });

  it('exits 0 when the candidate decides everything as before', async () => {
    const report = await replayRequests(source([...logged(query, '2026-12-06T10:00:00.000Z'), ...logged(exportProd, '2026-12-06T10:01:00.000Z')]), enforced, {});
    expect(report).toMatchObject({ replayed: 2, unchanged: 2, changed: [], transitions: [] });
    expect(replayExitCode(report)).toBe(0);
  });

  it('keeps to the range: requests received in [from, to), their decisions wherever they are', async () => {
    const records = [...logged(query, '2026-12-06T09:59:59.999Z'), ...logged(request('q-4', {}), '2026-12-06T10:00:00.000Z'), ...logged(request('q-5', {}), '2026-12-06T11:00:00.000Z')];
    const report = await replayRequests(source(records), candidate, { from: '2026-12-06T10:00:00.000Z', to: '2026-12-06T11:00:00.000Z' });
    expect(report.changed.map((c) => c.actionId)).toEqual(['q-4']);
    expect(report.requests).toBe(1);
  });

  it('re-checks the payload hash from the log and reports a mismatch instead of replaying it', async () => {
    const tampered = logged(query, '2026-12-06T10:00:00.000Z', { detail: { requestJson: canonicalJson({ ...query, parameters: { sql: 'drop table customers' } }) } });
    const forged = logged(request('q-6', {}), '2026-12-06T10:01:00.000Z', { detail: { payloadJson: canonicalJson({ other: true }) } });
    const report = await replayRequests(source([...tampered, ...forged]), candidate, {});
    expect(report.replayed).toBe(0);
    expect(report.problems).toEqual([
      { actionId: 'q-1', requestedAt: '2026-12-06T10:00:00.000Z', problem: expect.stringMatching(/^payload hash mismatch: the log says payloadSha256 [0-9a-f]{64}, but the request in requestJson hashes to [0-9a-f]{64}; the log does not hold the request that was decided$/) },
      { actionId: 'q-6', requestedAt: '2026-12-06T10:01:00.000Z', problem: expect.stringContaining('payload hash mismatch: payloadJson in the requested record does not hash to the payloadSha256') },
    ]);
    expect(replayExitCode(report)).toBe(3);
    expect(formatReplayText(report)).toContain('Cannot be replayed:\n  q-1 (2026-12-06T10:00:00.000Z): payload hash mismatch');
  });

  it('replays a record written before payloadJson existed, checking requestJson against payloadSha256', async () => {
    const [requested, decided] = logged(query, '2026-12-06T10:00:00.000Z');
    const detail = JSON.parse(requested!.detail!) as Record<string, unknown>;
    delete detail.payloadJson;
    const report = await replayRequests(source([{ ...requested!, detail: canonicalJson(detail) }, decided!]), candidate, {});
    expect(report).toMatchObject({ replayed: 1, problems: [] });
    expect(report.changed).toHaveLength(1);
  });

  it('replays a request the policy found invalid (no payloadSha256) against its fingerprint', async () => {
    const unknownEnvironment = request('i-1', { environment: 'production' });
    const records = logged(unknownEnvironment, '2026-12-06T10:00:00.000Z');
    expect(records[0]?.payload_sha256).toBeNull();
    const report = await replayRequests(source(records), candidate, {});
    expect(report).toMatchObject({ replayed: 1, unchanged: 1, problems: [] });
    const forged = logged(unknownEnvironment, '2026-12-06T10:00:00.000Z', { detail: { fingerprint: 'f'.repeat(64) } });
    expect((await replayRequests(source(forged), candidate, {})).problems[0]?.problem).toContain('payload hash mismatch: the log says payloadSha256 ffff');
  });

  it('counts apart, and does not compare, requests denied by flood control or a quarantine (no policy decided them)', async () => {
    const [requested, decided] = logged(exportProd, '2026-12-06T10:00:00.000Z');
    // As intake records a flood-control denial: the policy's ids with Countersign's limit added, outcome denied.
    const limited = { ...decided!, outcome: 'denied', policy_ids: [...decided!.policy_ids, 'countersign:open-reviews'] };
    const report = await replayRequests(source([requested!, limited, ...logged(query, '2026-12-06T10:01:00.000Z')]), enforced, {});
    expect(report).toMatchObject({ requests: 2, replayed: 1, unchanged: 1, limited: 1, changed: [], problems: [] });
    expect(replayExitCode(report)).toBe(0);
    expect(formatReplayText(report)).toContain('1 denied by flood control or a quarantine (not a policy\'s decision, not compared)');
  });

  it('names a request whose decision is not in the log', async () => {
    const [requested] = logged(query, '2026-12-06T10:00:00.000Z');
    const report = await replayRequests(source([requested!]), candidate, {});
    expect(report.problems).toEqual([{ actionId: 'q-1', requestedAt: '2026-12-06T10:00:00.000Z', problem: 'the log has no decided record for this request' }]);
  });
});
