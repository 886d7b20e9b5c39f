import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { memoryLogger } from '../../local/log.js';
import { localAuditDir } from '../../local/audit.js';
import { REPO_ROOT, startLocalStack, type LocalStack } from '../../local/local-stack.js';
import type { SlackMessage } from '../../local/slack/workspace.js';
import { eventually } from './support.js';

/**
 * Flood control and the kill switch on the local stack (issue 16): the real handlers, DynamoDB Local, the
 * synthesized state machine, and the Slack emulator driven through the page's own endpoints. billing-agent
 * may have 2 reviews open at once here (its own limit in the directory).
 */

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

const run = `fl${Date.now().toString(36)}`;
const SECURITY = 'C0SECURITY';
const CAROL = 'U0CAROL';
const IAM_UPDATE = { action: 'iam.policy.update', resource: { type: 'IamPolicy', id: 'billing-readers' }, environment: 'prod' };
const DB_QUERY = { action: 'db.query', resource: { type: 'Database', id: 'customers' }, environment: 'prod' };

let dataDir: string;
let stack: LocalStack;
let events: EventBridgeClient;
const log = memoryLogger();

interface Decision { actionId: string; outcome: string; reason: string; policyIds: string[] }

async function send(actionId: string, request: Record<string, unknown>, parameters: Record<string, unknown>, agent = { id: 'billing-agent', onBehalfOf: 'erin@example.com' }): Promise<void> {
  const detail = { specVersion: '1', actionId, agent, ...request, parameters, justification: 'rotate readers' };
  const response = await events.send(new PutEventsCommand({ Entries: [{ EventBusName: 'countersign', Source: `agent.${agent.id}`, DetailType: 'Action Requested', Detail: JSON.stringify(detail) }] }));
  expect(response.FailedEntryCount).toBe(0);
}

async function decision(actionId: string): Promise<Decision | undefined> {
  const response = await fetch(`${stack.url}/actions/${encodeURIComponent(actionId)}`);
  return response.status === 200 ? await response.json() as Decision : undefined;
}

const outcome = (actionId: string, wanted: string) => eventually(async () => {
  const found = await decision(actionId);
  return found?.outcome === wanted ? found : undefined;
}, `${actionId} to be ${wanted}`, 30_000);

const reviewIn = (actionId: string, where: (m: SlackMessage) => boolean = () => true) =>
  eventually(() => stack.slack.workspace.messages(SECURITY).find((m) => JSON.stringify(m.blocks ?? []).includes(actionId) && where(m)), `a review of ${actionId}`, 30_000);

const hasButtons = (m: SlackMessage) => JSON.stringify(m.blocks ?? []).includes('"action_id":"approve"');
async function vote(actionId: string, reviewer: string, body: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${stack.url}/actions/${encodeURIComponent(actionId)}/votes`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-countersign-reviewer': reviewer }, body: JSON.stringify(body) });
  return { status: response.status, body: await response.json() as Record<string, unknown> };
}

const lines = (prefix: string) => stack.slack.workspace.messages(SECURITY).map((m) => m.text ?? '').filter((text) => text.startsWith(prefix));

async function agentApi(path: string, reviewer: string | undefined, body: unknown, agentId = 'billing-agent'): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${stack.url}/agents/${agentId}/${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(reviewer === undefined ? {} : { 'x-countersign-reviewer': reviewer }) },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: await response.json() as Record<string, unknown> };
}

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'countersign-flood-'));
  const directory = JSON.parse(readFileSync(join(import.meta.dirname, '../../config/directory.json'), 'utf8')) as { agents: Record<string, Record<string, unknown>>; floodControl?: Record<string, unknown> };
  directory.agents['billing-agent'] = { ...directory.agents['billing-agent'], limits: { maxOpenReviews: 2 } };
  // Two reviewer rejections within an hour quarantine an agent (only ops-agent's test rejects by vote).
  directory.floodControl = { ...directory.floodControl, autoQuarantine: { rejections: 2, windowMinutes: 60 } };
  const directoryFile = join(dataDir, 'directory.json');
  writeFileSync(directoryFile, JSON.stringify(directory));
  stack = await startLocalStack({ port: 0, dataDir: join(dataDir, 'data'), log, timeScale: 60, directoryFile });
  events = new EventBridgeClient({ endpoint: stack.url, region: 'us-east-1', credentials: { accessKeyId: 'x', secretAccessKey: 'x' } });
}, 120_000);

afterAll(async () => {
  events?.destroy();
  await stack?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('flood control and quarantine in the local stack', () => {
  it('limits a flooding agent with one summary line, refuses a duplicate, and a quarantine from the Slack page stops it until lifted', async () => {
    // Two reviews open: the limit.
    await send(`${run}-a`, IAM_UPDATE, { policy: 'a' });
    await send(`${run}-b`, IAM_UPDATE, { policy: 'b' });
    const first = await reviewIn(`${run}-a`, hasButtons);
    await reviewIn(`${run}-b`, hasButtons);

    // The flood: three more are denied, saying which limit; the channel gets one line, not three.
    for (const n of [1, 2, 3]) await send(`${run}-flood-${n}`, IAM_UPDATE, { policy: `flood-${n}` });
    for (const n of [1, 2, 3]) {
      const denied = await outcome(`${run}-flood-${n}`, 'denied');
      expect(denied.reason).toBe('flood control: "billing-agent" has 2 reviews open, the limit is 2 open at once; it resets when one of them is decided');
    }
    await eventually(() => (lines('Flood control:').length > 0 ? true : undefined), 'the burst line');
    expect(lines('Flood control:')).toHaveLength(1);
    expect(lines('Flood control:')[0]).toContain('billing-agent is being limited (too many open reviews)');

    // A duplicate of a pending request names the one to wait for.
    await send(`${run}-again`, IAM_UPDATE, { policy: 'a' });
    expect((await outcome(`${run}-again`, 'denied')).reason).toContain(`duplicate of pending request "${run}-a"`);

    // carol (security, the quarantine group) taps "Block this agent" and gives a reason in the modal.
    const tap = await fetch(`${stack.url}/slack/act`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: CAROL, channel: SECURITY, ts: first.ts, actionId: 'block_agent' }) });
    expect(await tap.json()).toMatchObject({ status: 200 });
    const modal = await eventually(() => stack.slack.workspace.openViewFor(CAROL), 'the quarantine modal for carol');
    expect(JSON.stringify(modal.view)).toContain('Quarantine agent billing-agent?');
    const submit = await fetch(`${stack.url}/slack/views/submit`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ user: CAROL, viewId: modal.view.id, values: { countersign_quarantine_reason: { reason: 'looping on policy updates' } } }),
    });
    expect(await submit.json()).toMatchObject({ status: 200, closed: true });

    // Its open reviews are closed as rejected, and the messages lose their buttons.
    for (const id of [`${run}-a`, `${run}-b`]) {
      expect((await outcome(id, 'rejected')).reason).toContain('agent quarantined by carol: looping on policy updates');
      await reviewIn(id, (m) => !hasButtons(m));
    }
    await eventually(() => lines('Countersign: agent billing-agent was quarantined by carol').at(0), 'the owners told');
    expect(lines('Countersign: agent billing-agent was quarantined by carol')[0]).toContain('Owners: alice');

    // Every request is denied now, even one the policy allows; the decision API shows the quarantine.
    await send(`${run}-query`, DB_QUERY, { sql: 'select 1' });
    expect((await outcome(`${run}-query`, 'denied')).reason).toMatch(/^agent quarantined by carol: looping on policy updates/);
    const status = await (await fetch(`${stack.url}/agents/billing-agent`)).json() as Record<string, unknown>;
    expect(status).toMatchObject({ agentId: 'billing-agent', quarantine: { by: 'carol', reason: 'looping on policy updates', origin: 'manual' }, openReviews: 0, pendingActionIds: [] });

    // bob is not in the quarantine group: refused. dan is: the lift restores the agent.
    expect(await agentApi('lift', 'bob', { reason: 'mine' })).toMatchObject({ status: 403, body: { error: 'LiftRefused' } });
    expect(await agentApi('lift', 'dan', {})).toMatchObject({ status: 400, body: { message: expect.stringContaining('reason') } });
    expect(await agentApi('lift', 'dan', { reason: 'loop fixed in run 8' })).toMatchObject({ status: 200, body: { quarantine: null, result: 'lifted' } });
    await send(`${run}-query-2`, DB_QUERY, { sql: 'select 2' });
    await outcome(`${run}-query-2`, 'allowed');
    await send(`${run}-c`, IAM_UPDATE, { policy: 'c' });
    await outcome(`${run}-c`, 'pending');
    await reviewIn(`${run}-c`, hasButtons);

    // The review API: bob may not quarantine; carol may, and it closes the review opened since.
    expect(await agentApi('quarantine', 'bob', { reason: 'x' })).toMatchObject({ status: 403, body: { error: 'QuarantineRefused', message: expect.stringContaining('only members of "security"') } });
    const viaApi = await agentApi('quarantine', 'carol', { reason: 'looping on exports' });
    expect(viaApi).toMatchObject({ status: 200, body: { result: 'quarantined', closedActionIds: [`${run}-c`], quarantine: { by: 'carol', reason: 'looping on exports' } } });
    expect((await outcome(`${run}-c`, 'rejected')).reason).toContain('agent quarantined by carol: looping on exports');
    expect(await agentApi('quarantine', 'dan', { reason: 'again' })).toMatchObject({ status: 200, body: { result: 'already_quarantined', quarantine: { by: 'carol' } } });

    // The audit log (and so the audit page) has each quarantine and the lift: who, why, numbered per agent.
    const audited = await eventually(async () => {
      const response = await fetch(`${stack.url}/audit/records?agent=billing-agent&limit=500`);
      const view = await response.json() as { records: Array<{ eventType: string; eventId: string; reviewerId: string | null; reason: string | null }> };
      const agentRecords = view.records.filter((r) => r.eventType.startsWith('agent_'));
      return agentRecords.length === 3 ? agentRecords : undefined;
    }, 'the quarantine records in the audit log', 30_000);
    expect(audited.map((r) => [r.eventId, r.reviewerId, r.reason]).sort()).toEqual([
      ['agent/billing-agent/agent_quarantined/1', 'carol', 'looping on policy updates'],
      ['agent/billing-agent/agent_quarantined/3', 'carol', 'looping on exports'],
      ['agent/billing-agent/agent_released/2', 'dan', 'loop fixed in run 8'],
    ]);
  }, 120_000);

  it('quarantines an agent automatically when reviewers reject two of its requests within the hour, and a lift restores it', async () => {
    const ops = { id: 'ops-agent', onBehalfOf: 'alice@example.com' };
    for (const n of [1, 2, 3]) await send(`${run}-ops-${n}`, IAM_UPDATE, { policy: `ops-${n}` }, ops);
    for (const n of [1, 2, 3]) await reviewIn(`${run}-ops-${n}`, hasButtons);

    // erin (security) denies two of them through the votes API; the second trips the rule.
    for (const n of [1, 2]) {
      expect(await vote(`${run}-ops-${n}`, 'erin', { vote: 'deny', comment: `wrong policy ${n}` })).toMatchObject({ status: 200, body: { outcome: 'rejected' } });
    }
    const by = 'countersign (auto: 2 rejections in 60 min)';
    const reason = `reviewers rejected 2 of its requests within 60 minutes (the limit is 2): ${run}-ops-1, ${run}-ops-2`;
    // The third review is closed as rejected, its message loses its buttons, and the owners are told.
    expect((await outcome(`${run}-ops-3`, 'rejected')).reason).toContain(`agent quarantined by ${by}: ${reason}`);
    await reviewIn(`${run}-ops-3`, (m) => !hasButtons(m));
    const told = await eventually(() => lines(`Countersign: agent ops-agent was quarantined by ${by}`).at(0), 'the owners told');
    expect(told).toContain('Owners: carol');
    const status = await (await fetch(`${stack.url}/agents/ops-agent`)).json() as Record<string, unknown>;
    expect(status).toMatchObject({ agentId: 'ops-agent', quarantine: { by, reason, origin: 'auto' }, openReviews: 0, pendingActionIds: [] });

    // Every request is denied now; lifting it is the quarantine group's act, the same as for a manual one.
    await send(`${run}-ops-query`, DB_QUERY, { sql: 'select 1' }, ops);
    expect((await outcome(`${run}-ops-query`, 'denied')).reason).toMatch(new RegExp(`^agent quarantined by countersign \\(auto: 2 rejections in 60 min\\)`));
    expect(await agentApi('lift', 'dan', { reason: 'prompt fixed' }, 'ops-agent')).toMatchObject({ status: 200, body: { quarantine: null, result: 'lifted' } });
    await send(`${run}-ops-query-2`, DB_QUERY, { sql: 'select 2' }, ops);
    await outcome(`${run}-ops-query-2`, 'allowed');

    // The audit log has the automatic quarantine (by Countersign) and the lift.
    const audited = await eventually(async () => {
      const response = await fetch(`${stack.url}/audit/records?agent=ops-agent&limit=500`);
      const view = await response.json() as { records: Array<{ eventType: string; eventId: string; reviewerId: string | null; reason: string | null }> };
      const agentRecords = view.records.filter((r) => r.eventType.startsWith('agent_'));
      return agentRecords.length === 2 ? agentRecords : undefined;
    }, 'the automatic quarantine in the audit log', 30_000);
    expect(audited.map((r) => [r.eventId, r.reviewerId, r.reason]).sort()).toEqual([
      ['agent/ops-agent/agent_quarantined/1', by, reason],
      ['agent/ops-agent/agent_released/2', 'dan', 'prompt fixed'],
    ]);

    // The saved query lists them, as the README types it (pointed at this stack's audit folder).
    const query = spawnSync('npm', ['run', '--silent', 'audit', '--', 'query', '--saved', 'quarantines', '--param', 'agent_id=ops-agent', '--json', '--dir', localAuditDir(join(dataDir, 'data'))], { cwd: REPO_ROOT, encoding: 'utf8', timeout: 60_000 });
    expect(query.status, query.stderr).toBe(0);
    const rows = JSON.parse(query.stdout) as Array<Record<string, unknown>>;
    expect(rows.map((r) => [r.agent_id, r.change, r.by, r.origin, r.reason])).toEqual([
      ['ops-agent', 'quarantined', by, 'auto', reason],
      ['ops-agent', 'lifted', 'dan', null, 'prompt fixed'],
    ]);
  }, 120_000);

  it('"Block this agent" on the Teams card quarantines the agent and closes its review; the lift restores it', async () => {
    const ops = { id: 'ops-agent', onBehalfOf: 'alice@example.com' };
    const actionId = `${run}-ops-teams`;
    await send(actionId, IAM_UPDATE, { policy: 'teams' }, ops);
    const thread = await eventually(() => stack.teams.allThreads().find((t) => t.channelId === '19:approvals-security@thread.tacv2' && JSON.stringify(t.root).includes(actionId)), `a Teams card for ${actionId}`);
    const card = (thread.root.attachments[0] as { content: { actions: Array<{ title: string; data?: { reviewId: string } }> } }).content;
    expect(card.actions.map((a) => a.title)).toEqual(['Approve', 'Deny', 'Block this agent']);
    const reviewId = card.actions[0]?.data?.reviewId ?? '';
    const tap = async (user: string, quarantineReason: string) => {
      const response = await fetch(`${stack.url}/teams/act`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user, conversationId: thread.conversationId, verb: 'block_agent', data: { reviewId, quarantineReason } }) });
      expect(response.status).toBe(200);
      return JSON.stringify(await response.json());
    };
    // bob (data-owners) may not; carol (security) may.
    expect(await tap('00000000-0000-4000-8000-000000000b0b', 'x')).toContain('bob may not quarantine agents');
    expect(await tap('00000000-0000-4000-8000-00000000ca01', 'looping in Teams')).toContain('ops-agent is quarantined');
    expect((await outcome(actionId, 'rejected')).reason).toContain('agent quarantined by carol: looping in Teams');
    const status = await (await fetch(`${stack.url}/agents/ops-agent`)).json() as Record<string, unknown>;
    expect(status).toMatchObject({ quarantine: { by: 'carol', reason: 'looping in Teams', origin: 'manual' }, openReviews: 0 });
    expect(await agentApi('lift', 'dan', { reason: 'ok again' }, 'ops-agent')).toMatchObject({ status: 200, body: { quarantine: null, result: 'lifted' } });
  }, 120_000);
});
