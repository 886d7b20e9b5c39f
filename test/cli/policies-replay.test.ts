import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FixtureLogWriter } from '../../bench/audit-log-fixture.js';
import { REPO_ROOT } from '../../local/local-stack.js';
import { LocalAuditSink } from '../../shared/adapters/local/local-audit-sink.js';
import { canonicalJson } from '../../shared/domain/canonical-json.js';
import { CedarPolicyEngine } from '../../shared/policy/cedar-policy-engine.js';
import { loggedRecords, loggedRequest } from '../support/logged-requests.js';

/**
 * `npm run policies:replay` as a person runs it, on a local log written in the audit log's format:
 * its exit codes and what it says when it cannot run. (The demo test replays a real stack's history.)
 */

const root = mkdtempSync(join(tmpdir(), 'countersign-replay-cli-'));
const clean = join(root, 'clean');
const lying = join(root, 'lying');
const enforced = new CedarPolicyEngine();
afterAll(() => rmSync(root, { recursive: true, force: true }));

const replay = (...args: string[]) => spawnSync('npm', ['run', '--silent', 'policies:replay', '--', ...args], { cwd: REPO_ROOT, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
const fields = (records: ReturnType<typeof loggedRecords>, shard: string) => records.map((r, i) => ({ ...r, event_id: `${r.action_id}/${r.event_type}/${shard}${i}` }));

beforeAll(async () => {
  const hour = new Date('2026-12-06T10:00:00Z');
  await new FixtureLogWriter(new LocalAuditSink(clean)).write('shard-1', hour, fields([
    ...loggedRecords(enforced, loggedRequest('q-1'), '2026-12-06T10:00:00.000Z'),
    ...loggedRecords(enforced, loggedRequest('x-1', { action: 'db.export', environment: 'staging', parameters: { table: 'orders' } }), '2026-12-06T10:01:00.000Z'),
  ], 'a'));
  const tampered = loggedRequest('q-2');
  await new FixtureLogWriter(new LocalAuditSink(lying)).write('shard-1', hour, fields(
    loggedRecords(enforced, tampered, '2026-12-06T10:00:00.000Z', { detail: { requestJson: canonicalJson({ ...tampered, parameters: { sql: 'drop table customers' } }) } }),
    'b',
  ));
});

describe('npm run policies:replay', () => {
  it('exits 0 and says so when the candidate decides as before; --json carries the counts', () => {
    const result = replay('--log', clean, '--from', '2026-12-06', '--to', '2026-12-07', '--json');
    expect(result.status, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ requests: 2, replayed: 2, unchanged: 2, changed: [], problems: [], range: { from: '2026-12-06T00:00:00.000Z', to: '2026-12-07T00:00:00.000Z' } });
  });

  it("exits 1 with the diff for the README's staging change, as CSV", () => {
    const dir = join(root, 'candidate');
    cpSync(join(REPO_ROOT, 'policies'), dir, { recursive: true });
    writeFileSync(join(dir, 'staging-exports.cedar'), '@id("db-export-staging-needs-data-owners")\n@approval\n@approvers("data-owners")\npermit (principal, action == Action::"db.export", resource is Database)\nwhen { context.environment == Environment::"staging" };\n');
    const result = replay('--dir', dir, '--log', clean, '--csv');
    expect(result.status, result.stderr).toBe(1);
    expect(result.stdout.trim().split('\n')).toEqual([
      'action_id,requested_at,agent_id,action,resource,environment,old_outcome,old_policy_ids,new_outcome,new_policy_ids,problem',
      'x-1,2026-12-06T10:01:00.000Z,billing-agent,db.export,Database::customers,staging,allowed,db-export-non-prod,pending,db-export-staging-needs-data-owners db-export-non-prod,',
    ]);
  });

  it('exits 3 and names the request whose payload hash does not match its logged request', () => {
    const result = replay('--log', lying);
    expect(result.status, result.stderr).toBe(3);
    expect(result.stdout).toContain('Replayed 0 of 1 requests');
    expect(result.stdout).toMatch(/^ {2}q-2 \(2026-12-06T10:00:00\.000Z\): payload hash mismatch: the log says payloadSha256 [0-9a-f]{64}, but the request in requestJson hashes to [0-9a-f]{64}/m);
  });

  it('exits 2 with what was wrong: a bad time, a lone --workgroup, a missing log, a candidate set that does not load', () => {
    const badTime = replay('--from', 'soon');
    expect(badTime.status).toBe(2);
    expect(badTime.stderr).toContain('--from: "soon" is neither an ISO 8601 time (2026-12-06T10:00:00Z, 2026-12-06) nor a duration back from now (24h, 7d, 90m)');
    const lone = replay('--athena', '--database', 'd');
    expect(lone.status).toBe(2);
    expect(lone.stderr).toContain('--athena needs --workgroup NAME and --database NAME');
    const missing = replay('--log', join(root, 'nowhere'));
    expect(missing.status).toBe(2);
    expect(missing.stderr).toContain(`no audit log at ${join(root, 'nowhere')}; start the local stack (npm start), or pass --log, --bucket or --athena`);
    const broken = join(root, 'broken');
    cpSync(join(REPO_ROOT, 'policies'), broken, { recursive: true });
    writeFileSync(join(broken, 'broken.cedar'), '@id("broken")\npermit (principal, action == Action::"db.query", resource is Database) when { resource.owner == "x" };\n');
    const unusable = replay('--dir', broken, '--log', clean);
    expect(unusable.status).toBe(2);
    expect(unusable.stderr).toMatch(/cannot be used[\s\S]*broken\.cedar/);
    expect(unusable.stdout).toBe('');
  });
});
