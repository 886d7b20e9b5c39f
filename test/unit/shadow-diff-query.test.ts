import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FixtureLogWriter } from '../../bench/audit-log-fixture.js';
import { LocalAuditSink } from '../../shared/adapters/local/local-audit-sink.js';
import { openAuditQuery, type AuditQueryEngine } from '../../shared/audit/query.js';
import { renderSavedQuery, savedQuery } from '../../shared/audit/queries.js';

/** The `shadow-diff` saved query (issue 16) over a local log, with DuckDB as `npm run audit -- query` runs it. */

let dir: string;
let engine: AuditQueryEngine;
const at = (hhmm: string) => `2026-11-23T${hhmm}:00.000Z`;
const decided = (id: string, hhmm: string, fields: Record<string, unknown>) => ({
  event_id: `${id}/decided`, event_type: 'decided' as const, action_id: id, agent_id: 'billing-agent', action: 'db.query', resource_type: 'Database',
  resource_id: 'customers', environment: 'prod', occurred_at: at(hhmm), policy_ids: ['db-query'], ...fields,
});

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'shadow-diff-'));
  const writer = new FixtureLogWriter(new LocalAuditSink(dir));
  await writer.write('shard-1', new Date('2026-11-23T10:00:00Z'), [
    { event_id: 'q-1/requested', event_type: 'requested', action_id: 'q-1', occurred_at: at('10:00') },
    decided('q-1', '10:00', { outcome: 'allowed', shadow_outcome: 'pending', shadow_policy_ids: ['db-query-customers-prod-needs-data-owners', 'db-query'] }),
    decided('q-2', '10:01', { outcome: 'allowed', shadow_outcome: 'allowed', shadow_policy_ids: ['db-query'] }),
    decided('q-3', '10:02', { outcome: 'pending', shadow_outcome: 'denied', shadow_policy_ids: [] }),
    // Before issue 16 (no shadow fields in the line) and with no shadow set deployed (null): never listed.
    decided('q-4', '10:03', { outcome: 'denied' }),
    decided('q-5', '10:04', { outcome: 'allowed', shadow_outcome: null, shadow_policy_ids: [] }),
    // The same words on another record type are not decisions.
    { event_id: 'q-1/outcome', event_type: 'outcome', action_id: 'q-1', occurred_at: at('10:05'), outcome: 'approved', shadow_outcome: 'denied' },
  ]);
  engine = await openAuditQuery(dir);
});

afterAll(async () => {
  engine.close();
  await rm(dir, { recursive: true, force: true });
});

describe('shadow-diff', () => {
  it('lists the decisions whose shadow outcome differs, with both outcomes and both sets of policy ids', async () => {
    const rows = (await engine.run(renderSavedQuery(savedQuery('shadow-diff')))).rows;
    expect(rows.map((r) => [r.action_id, r.outcome, r.shadow_outcome, r.policy_ids, r.shadow_policy_ids])).toEqual([
      ['q-1', 'allowed', 'pending', ['db-query'], ['db-query-customers-prod-needs-data-owners', 'db-query']],
      ['q-3', 'pending', 'denied', ['db-query'], []],
    ]);
  });

  it('keeps to the time range', async () => {
    const rows = (await engine.run(renderSavedQuery(savedQuery('shadow-diff'), { from: '2026-11-23 10:01:00', to: '2026-11-24 00:00:00' }))).rows;
    expect(rows.map((r) => r.action_id)).toEqual(['q-3']);
  });
});
