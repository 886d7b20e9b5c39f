import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { payloadSha256, type ActionRequest } from '../../shared/domain/contract.js';
import { signSlackRequest } from '../../shared/slack/verify-signature.js';
import { memoryLogger } from '../../local/log.js';
import { startLocalStack, type LocalStack } from '../../local/local-stack.js';
import type { SlackMessage } from '../../local/slack/workspace.js';
import { BotFrameworkIssuer } from '../../local/teams/bot-framework-issuer.js';
import { DEFAULT_TEAMS_APP_ID } from '../../local/teams/emulator.js';
import { eventually } from './support.js';

/**
 * Approvals end to end on the local stack: the real handlers, DynamoDB Local, the state machine the
 * CDK app synthesizes, the Slack emulator driven through the page's own endpoints (the same requests
 * the browser sends), and the votes API. Workflow time runs 600 times faster: a 30-minute policy
 * timeout is a reminder after 2 s and expiry after 4 s (whole seconds, rounded up).
 */

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

const run = `ap${Date.now().toString(36)}`;
const CHANNEL = { dataOwners: 'C0DATAOWNERS', security: 'C0SECURITY', securityLeads: 'C0SECURITYLEADS', dba: 'C0DBA' } as const;
const USER = { alice: 'U0ALICE', bob: 'U0BOB', carol: 'U0CAROL', dan: 'U0DAN', grace: 'U0GRACE', frank: 'U0FRANK' } as const;

interface Request {
  agent?: { id: string; onBehalfOf?: string };
  action: string;
  resource: { type: string; id: string };
  environment: string;
}

const DB_EXPORT: Request = { action: 'db.export', resource: { type: 'Database', id: 'customers' }, environment: 'prod' };
const IAM_UPDATE: Request = { action: 'iam.policy.update', resource: { type: 'IamPolicy', id: 'billing-readers' }, environment: 'prod' };
const SCHEMA_UPDATE: Request = { action: 'db.schema.update', resource: { type: 'Database', id: 'customers' }, environment: 'prod' };

interface Decision {
  actionId: string;
  outcome: string;
  reason: string;
  reviewers: { id: string; vote: string; comment?: string }[];
}

let dataDir: string;
let stack: LocalStack;
let events: EventBridgeClient;
const log = memoryLogger();
const escalatedId = `${run}-escalated`;

/** Sends the request; returns its payload's SHA-256, what an execution report must name. */
async function send(actionId: string, request: Request): Promise<string> {
  const detail = {
    specVersion: '1',
    actionId,
    agent: { id: 'billing-agent', onBehalfOf: 'erin@example.com', runId: 'run-7', model: 'test-model' },
    ...request,
    // Each request its own payload: a second pending request with the same payload is refused as a duplicate (issue 16).
    parameters: { table: 'customers', note: '<!channel> <https://evil.example|click>', request: actionId },
    justification: 'Quarterly churn analysis <!here>',
  };
  const response = await events.send(new PutEventsCommand({ Entries: [{ EventBusName: 'countersign', Source: 'agent.billing-agent', DetailType: 'Action Requested', Detail: JSON.stringify(detail) }] }));
  expect(response.FailedEntryCount).toBe(0);
  return payloadSha256(detail as ActionRequest);
}

/** The agent's `Action Executed` report, as an agent sends it (PutEvents with its own source). */
async function report(actionId: string, fields: Record<string, unknown>): Promise<void> {
  const now = Date.now();
  const detail = { specVersion: '1', actionId, status: 'succeeded', startedAt: new Date(now - 2_000).toISOString(), finishedAt: new Date(now - 1_000).toISOString(), ...fields };
  const response = await events.send(new PutEventsCommand({ Entries: [{ EventBusName: 'countersign', Source: 'agent.billing-agent', DetailType: 'Action Executed', Detail: JSON.stringify(detail) }] }));
  expect(response.FailedEntryCount).toBe(0);
}

/** Alerts the app posted to a channel: one plain_text section each (never mrkdwn), outside any review. */
function alertsIn(channel: string): string[] {
  return stack.slack.workspace.messages(channel)
    .filter((m) => (m.text ?? '').startsWith('Execution violation'))
    .map((m) => {
      expect(m.blocks).toEqual([{ type: 'section', text: { type: 'plain_text', text: expect.any(String), emoji: false } }]);
      return (m.blocks?.[0] as { text: { text: string } }).text.text;
    });
}

async function decision(actionId: string): Promise<{ status: number; body: Decision }> {
  const response = await fetch(`${stack.url}/actions/${encodeURIComponent(actionId)}`);
  return { status: response.status, body: await response.json() as Decision };
}

function outcome(actionId: string, wanted: string, timeoutMs = 20_000): Promise<Decision> {
  return eventually(async () => {
    const { body } = await decision(actionId);
    return body.outcome === wanted ? body : undefined;
  }, `${actionId} to be ${wanted}`, timeoutMs);
}

/** The review message for a request in a channel, as the Slack emulator holds it. */
function reviewIn(channel: string, actionId: string, where: (message: SlackMessage) => boolean = () => true): Promise<SlackMessage> {
  return eventually(() => stack.slack.workspace.messages(channel).find((m) => JSON.stringify(m.blocks ?? []).includes(actionId) && where(m)), `a review of ${actionId} in ${channel}`);
}

const hasButtons = (message: SlackMessage) => JSON.stringify(message.blocks ?? []).includes('"action_id":"approve"');

/** What the page sends when a member taps a button. */
async function tap(user: string, channel: string, ts: string, actionId: 'approve' | 'deny'): Promise<{ status: number; problem?: string }> {
  const response = await fetch(`${stack.url}/slack/act`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user, channel, ts, actionId }) });
  expect(response.status).toBe(200);
  return await response.json() as { status: number; problem?: string };
}

function ephemeralsOf(user: string, channel: string): string[] {
  return stack.slack.workspace.ephemeralsFor(user).filter((e) => e.channel === channel && e.source === 'app').map((e) => e.text);
}

async function vote(actionId: string, reviewer: string | undefined, body: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${stack.url}/actions/${encodeURIComponent(actionId)}/votes`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(reviewer === undefined ? {} : { 'x-countersign-reviewer': reviewer }) },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: await response.json() as Record<string, unknown> };
}

const SECURITY_TEAMS = '19:approvals-security@thread.tacv2';
const CAROL_AAD = '00000000-0000-4000-8000-00000000ca01';
const ERIN_AAD = '00000000-0000-4000-8000-00000000e214';

const threadOf = (actionId: string) => eventually(() => stack.teams.allThreads().find((t) => t.channelId === SECURITY_TEAMS && JSON.stringify(t.root).includes(actionId)), `a Teams card for ${actionId}`);

async function tapTeams(user: string, conversationId: string, verb: string, data: Record<string, unknown>) {
  const response = await fetch(`${stack.url}/teams/act`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user, conversationId, verb, data }) });
  expect(response.status).toBe(200);
  return await response.json() as { status: number; card?: unknown; error?: string };
}

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'countersign-approvals-'));
  stack = await startLocalStack({ port: 0, dataDir, log, timeScale: 600 });
  events = new EventBridgeClient({ endpoint: stack.url, region: 'us-east-1', credentials: { accessKeyId: 'x', secretAccessKey: 'x' } });
  // The longest path (reminder, escalation, expiry: 3 s + 3 s + 3 s) runs while the other cases do.
  await send(escalatedId, IAM_UPDATE);
});

afterAll(async () => {
  events?.destroy();
  await stack?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('approvals in the Slack emulator', () => {
  it('db.export in prod: the agent owner is refused, bob approves, the message shows who decided', async () => {
    const actionId = `${run}-export`;
    await send(actionId, DB_EXPORT);
    const message = await reviewIn(CHANNEL.dataOwners, actionId, hasButtons);
    expect((await decision(actionId)).body.outcome).toBe('pending');
    // Agent text stays inert: Slack would show it literally (plain_text), never as a broadcast or a link.
    const texts = JSON.stringify(message.blocks);
    expect(texts).toContain('<!here>');
    expect((message.blocks ?? []).filter((b) => JSON.stringify(b).includes('<!here>')).every((b) => !JSON.stringify(b).includes('"mrkdwn"'))).toBe(true);

    expect((await tap(USER.alice, CHANNEL.dataOwners, message.ts, 'approve')).status).toBe(200);
    const refusal = await eventually(() => ephemeralsOf(USER.alice, CHANNEL.dataOwners)[0], 'the refusal shown to alice');
    expect(refusal).toMatch(/you own the agent "billing-agent"/);
    expect((await decision(actionId)).body.outcome).toBe('pending');

    expect((await tap(USER.bob, CHANNEL.dataOwners, message.ts, 'approve')).status).toBe(200);
    const decided = await outcome(actionId, 'approved');
    expect(decided.reviewers.map((r) => [r.id, r.vote])).toEqual([['bob', 'approve']]);
    const updated = await reviewIn(CHANNEL.dataOwners, actionId, (m) => m.edited !== undefined && !hasButtons(m));
    expect(updated.ts).toBe(message.ts);
    expect(JSON.stringify(updated.blocks)).toContain('U0BOB');
  });

  it('iam.policy.update in prod needs two: carol tapping twice counts once, dan completes the quorum', async () => {
    const actionId = `${run}-iam`;
    await send(actionId, IAM_UPDATE);
    const message = await reviewIn(CHANNEL.security, actionId, hasButtons);
    await tap(USER.carol, CHANNEL.security, message.ts, 'approve');
    await tap(USER.carol, CHANNEL.security, message.ts, 'approve');
    await eventually(() => ephemeralsOf(USER.carol, CHANNEL.security).find((text) => /already voted/i.test(text)), 'the second-vote refusal for carol');
    // Her first tap was confirmed to her alone, through chat.postEphemeral, as counted.
    expect(ephemeralsOf(USER.carol, CHANNEL.security)).toContain('Your approval counted (1 of 2): 1 more approval needed.');
    expect(ephemeralsOf(USER.dan, CHANNEL.security)).toEqual([]);
    // Still pending, and the decision API shows the one vote counted so far.
    const halfway = (await decision(actionId)).body;
    expect(halfway.outcome).toBe('pending');
    expect(halfway.reviewers.map((r) => [r.id, r.vote])).toEqual([['carol', 'approve']]);
    await tap(USER.dan, CHANNEL.security, message.ts, 'approve');
    const decided = await outcome(actionId, 'approved');
    expect(decided.reviewers.map((r) => r.id).sort()).toEqual(['carol', 'dan']);
  });

  it('a deny goes through the reason modal and rejects the request', async () => {
    const actionId = `${run}-schema`;
    await send(actionId, SCHEMA_UPDATE);
    const message = await reviewIn(CHANNEL.dba, actionId, hasButtons);
    expect((await tap(USER.grace, CHANNEL.dba, message.ts, 'deny')).status).toBe(200);
    const modal = await eventually(() => stack.slack.workspace.openViewFor(USER.grace), 'the deny modal for grace');
    const input = (modal.view.blocks as { type: string; block_id: string; element?: { action_id: string } }[]).find((b) => b.type === 'input');
    expect(input).toBeDefined();
    const submit = await fetch(`${stack.url}/slack/views/submit`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ user: USER.grace, viewId: modal.view.id, values: { [input?.block_id ?? '']: { [input?.element?.action_id ?? '']: 'migration window is next week' } } }),
    });
    expect(await submit.json()).toMatchObject({ status: 200, closed: true });
    const decided = await outcome(actionId, 'rejected');
    expect(decided.reviewers).toMatchObject([{ id: 'grace', vote: 'deny', comment: 'migration window is next week' }]);
    expect(decided.reason).toContain('migration window is next week');
  });

  it('refuses an interaction whose signed body was altered (401), and one without a signature', async () => {
    const body = new URLSearchParams({ payload: JSON.stringify({ type: 'block_actions', user: { id: USER.bob }, team: { id: 'T0LOCAL' }, api_app_id: 'A0COUNTERSIGN', trigger_id: '1.2.ab', actions: [{ action_id: 'approve', value: 'x' }] }) }).toString();
    const headers = signSlackRequest({ rawBody: body, signingSecret: 'local-signing-secret', timestampSeconds: Math.floor(Date.now() / 1000) });
    const tampered = await fetch(`${stack.url}/slack/interactions`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, body: body.replace('U0BOB', 'U0DAN') });
    expect(tampered.status).toBe(401);
    const unsigned = await fetch(`${stack.url}/slack/interactions`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body });
    expect([400, 401]).toContain(unsigned.status);
  });
});

describe('after the approval: the act', () => {
  it('records the agent\'s report, shows it on the message and the decision API; a second report and one for nothing are alerted', async () => {
    const actionId = `${run}-executed`;
    const hash = await send(actionId, DB_EXPORT);
    const message = await reviewIn(CHANNEL.dataOwners, actionId, hasButtons);
    await tap(USER.bob, CHANNEL.dataOwners, message.ts, 'approve');
    const approved = await outcome(actionId, 'approved') as Decision & { validUntil: string | null };
    expect(Date.parse(approved.validUntil ?? '') - Date.now()).toBeGreaterThan(10 * 60_000);
    await reviewIn(CHANNEL.dataOwners, actionId, (m) => JSON.stringify(m.blocks).includes('not executed yet'));

    await report(actionId, { payloadSha256: hash, result: { summary: 'exported 1,204 rows <!channel>' } });
    const executed = await eventually(async () => {
      const { body } = await decision(actionId) as unknown as { body: Decision & { execution: { status: string; agentId: string; resultSummary: string } | null } };
      return body.execution ?? undefined;
    }, `the execution of ${actionId}`);
    expect(executed).toMatchObject({ status: 'succeeded', agentId: 'billing-agent', resultSummary: 'exported 1,204 rows <!channel>' });
    const shown = await reviewIn(CHANNEL.dataOwners, actionId, (m) => JSON.stringify(m.blocks).includes('*Executed* by billing-agent'));
    // The agent's summary is plain text only.
    expect((shown.blocks ?? []).filter((b) => JSON.stringify(b).includes('exported 1,204 rows')).every((b) => !JSON.stringify(b).includes('"mrkdwn"'))).toBe(true);

    await report(actionId, { payloadSha256: hash, status: 'failed', error: { code: 'Retry', message: 'once more' } });
    const alert = await eventually(() => alertsIn(CHANNEL.dataOwners).find((text) => text.includes(actionId)), 'the already_executed alert');
    expect(alert).toContain('Execution violation [already_executed]: agent billing-agent reported executing');

    await report(`${run}-never-asked`, { payloadSha256: hash });
    const unasked = await eventually(() => alertsIn(CHANNEL.security).find((text) => text.includes(`${run}-never-asked`)), 'the no_decision alert');
    expect(unasked).toContain('[no_decision]');
    expect((await decision(`${run}-never-asked`)).status).toBe(404);
  });
});

describe('a request nobody may approve', () => {
  it('says so in the review message: the owner and the human it acts for are all the group has', async () => {
    const actionId = `${run}-unreachable`;
    // data-owners is alice (owns billing-agent) and bob (who it acts for, here).
    await send(actionId, { ...DB_EXPORT, agent: { id: 'billing-agent', onBehalfOf: 'bob@example.com' } });
    const message = await reviewIn(CHANNEL.dataOwners, actionId);
    const text = JSON.stringify(message.blocks);
    expect(text).toContain(':warning: Quorum cannot be reached: 1 more approval needed from \\"data-owners\\", and nobody may still vote (alice and bob own the agent or are who it acts for). It will expire unless someone who may approve is added to the group.');
  });
});

describe('approvals through the votes API', () => {
  it('applies the same rules: no caller is Forbidden, an outsider and the human the agent acts for are refused, a second vote is refused, quorum approves', async () => {
    const actionId = `${run}-api-iam`;
    await send(actionId, IAM_UPDATE);
    await reviewIn(CHANNEL.security, actionId, hasButtons);
    expect((await vote(actionId, undefined, { vote: 'approve' })).status).toBe(403);
    expect(await vote(actionId, 'alice', { vote: 'approve' })).toMatchObject({ status: 403, body: { rule: 'not_in_approver_group' } });
    expect((await vote(actionId, 'carol', { vote: 'approve', comment: 'looks right' })).status).toBe(200);
    expect(await vote(actionId, 'carol', { vote: 'approve' })).toMatchObject({ status: 403, body: { rule: 'already_voted' } });
    expect((await vote(actionId, 'erin', { vote: 'approve' })).status).toBe(403);
    expect((await vote(actionId, 'dan', { vote: 'approve' })).status).toBe(200);
    const decided = await outcome(actionId, 'approved');
    expect(decided.reviewers.map((r) => r.id).sort()).toEqual(['carol', 'dan']);
    // The Slack message follows the API's votes.
    await reviewIn(CHANNEL.security, actionId, (m) => m.edited !== undefined && !hasButtons(m));
  });

  it('a deny needs a comment, and rejects the request', async () => {
    const actionId = `${run}-api-export`;
    await send(actionId, DB_EXPORT);
    await reviewIn(CHANNEL.dataOwners, actionId, hasButtons);
    expect((await vote(actionId, 'bob', { vote: 'deny' })).status).toBe(400);
    expect((await vote(actionId, 'bob', { vote: 'deny', comment: 'no exports this week' })).status).toBe(200);
    const decided = await outcome(actionId, 'rejected');
    expect(decided.reviewers).toMatchObject([{ id: 'bob', vote: 'deny', comment: 'no exports this week' }]);
    expect(await vote(actionId, 'alice', { vote: 'approve' })).toMatchObject({ status: 409 });
  });
});

describe('text reviewers type (issue 11: loses nothing)', () => {
  it('must be valid Unicode: a comment or a quarantine reason with a lone surrogate is refused naming the field, and the review stays open', async () => {
    const actionId = `${run}-api-surrogate`;
    await send(actionId, DB_EXPORT);
    await reviewIn(CHANNEL.dataOwners, actionId, hasButtons);
    // Stored as sent, such a comment could not be written to the audit log (no canonical JSON): the vote and the outcome would be lost to it.
    for (const body of [{ vote: 'deny', comment: 'no \uDFFF' }, { vote: 'approve', comment: '\uD800 fine' }]) {
      expect(await vote(actionId, 'bob', body)).toEqual({ status: 400, body: { error: 'BadRequest', message: 'comment: must be valid Unicode: it has a lone surrogate (half of a UTF-16 pair)' } });
    }
    const quarantine = await fetch(`${stack.url}/agents/support-agent/quarantine`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-countersign-reviewer': 'carol' }, body: JSON.stringify({ reason: 'looping \uD800' }) });
    expect({ status: quarantine.status, body: await quarantine.json() }).toEqual({ status: 400, body: { error: 'BadRequest', message: 'reason: must be valid Unicode: it has a lone surrogate (half of a UTF-16 pair)' } });
    expect(await (await fetch(`${stack.url}/agents/support-agent`)).json()).toMatchObject({ quarantine: null });
    expect((await decision(actionId)).body).toMatchObject({ outcome: 'pending', reviewers: [] });
    // The same reviewer can still decide, with a comment that is text.
    expect((await vote(actionId, 'bob', { vote: 'deny', comment: 'no \u{1F6AB} exports' })).status).toBe(200);
    expect((await outcome(actionId, 'rejected')).reviewers).toMatchObject([{ id: 'bob', vote: 'deny', comment: 'no \u{1F6AB} exports' }]);
  });
});

describe('when nobody votes', () => {
  it('reminds in the thread, escalates to security-leads, then expires; a late vote is refused', async () => {
    const message = await reviewIn(CHANNEL.security, escalatedId);
    const reminder = await eventually(() => stack.slack.workspace.threadReplies(CHANNEL.security, message.ts)[0], 'a reminder in the review thread');
    expect(reminder.text).toMatch(/<@U0CAROL>|<@U0DAN>|<@U0ERIN>/);
    // The deadline is a Slack date token (each reader's time zone), and the scaled one: at 600x the
    // policy's minutes are seconds, so it falls well within a minute of the reminder, not minutes after.
    const deadline = Number(/Deadline: <!date\^(\d+)\^/.exec(reminder.text ?? '')?.[1]);
    expect(deadline - Number(reminder.ts)).toBeLessThan(60);
    // At 600x the escalation's window is seconds: on a loaded machine the request may have expired (and the
    // message lost its buttons) before this looks, so the message is found in any state; its final state is checked below.
    const escalated = await reviewIn(CHANNEL.securityLeads, escalatedId);
    const decided = await outcome(escalatedId, 'expired', 30_000);
    expect(decided.reviewers).toEqual([]);
    expect(log.lines.some((line) => line.includes(escalatedId) && /reminded/.test(line))).toBe(true);
    expect(log.lines.some((line) => line.includes(escalatedId) && /escalated/.test(line))).toBe(true);
    expect(await vote(escalatedId, 'frank', { vote: 'approve' })).toMatchObject({ status: 409 });
    // Both messages now show the outcome, without buttons: there is nothing left to tap.
    await reviewIn(CHANNEL.securityLeads, escalatedId, (m) => m.ts === escalated.ts && m.edited !== undefined && !hasButtons(m));
    await reviewIn(CHANNEL.security, escalatedId, (m) => m.ts === message.ts && m.edited !== undefined && !hasButtons(m));
  });
});

describe('one review in Slack and Teams (the Teams emulator: real token, Bot Connector and JWT code)', () => {
  it('a Teams vote and a Slack vote make a quorum of 2, and both messages show the outcome', async () => {
    const actionId = `${run}-teams`;
    await send(actionId, IAM_UPDATE);
    const thread = await threadOf(actionId);
    const slackMessage = await eventually(() => stack.slack.workspace.messages('C0SECURITY').find((m) => JSON.stringify(m.blocks ?? []).includes(actionId)), 'the Slack review');
    const card = (thread.root.attachments[0] as { content: { version: string; actions: Array<{ data?: { reviewId: string } }> } }).content;
    expect(card.version).toBe('1.5');
    const reviewId = card.actions[0]?.data?.reviewId ?? '';
    expect(reviewId).toMatch(/^rv-/);

    // erin is the human the agent acts for: refused, on her card only, and recorded.
    const refused = await tapTeams(ERIN_AAD, thread.conversationId, 'approve', { reviewId });
    expect(refused.status).toBe(200);
    expect(JSON.stringify(refused.card)).toMatch(/on behalf of/i);

    const counted = await tapTeams(CAROL_AAD, thread.conversationId, 'approve', { reviewId });
    expect(JSON.stringify(counted.card)).toContain('Your approval counted (1 of 2)');
    // The card everyone sees shows the progress (the bot updated the message).
    await eventually(() => (JSON.stringify(stack.teams.allThreads().find((t) => t.conversationId === thread.conversationId)?.root).includes('1 of 2 approvals: carol') ? true : undefined), 'the Teams card to show 1 of 2');

    const slackTap = await fetch(`${stack.url}/slack/act`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: 'U0DAN', channel: 'C0SECURITY', ts: slackMessage.ts, actionId: 'approve' }) });
    expect(slackTap.status).toBe(200);
    const decided = await outcome(actionId, 'approved');
    expect(decided.reviewers.map((r) => r.id).sort()).toEqual(['carol', 'dan']);

    const finalCard = await eventually(() => {
      const root = stack.teams.allThreads().find((t) => t.conversationId === thread.conversationId)?.root;
      const content = (root?.attachments[0] as { content: { actions?: unknown } } | undefined)?.content;
      return content !== undefined && content.actions === undefined ? content : undefined;
    }, 'the Teams card to show the outcome');
    expect(JSON.stringify(finalCard)).toContain('Approved');
    await eventually(() => stack.slack.workspace.messages('C0SECURITY').find((m) => m.ts === slackMessage.ts && m.edited !== undefined && !JSON.stringify(m.blocks ?? []).includes('"action_id":"approve"')), 'the Slack message to show the outcome');
  });

  it('the messaging endpoint refuses a request without the Bot Framework\'s JWT, or signed by another key (401), and counts nothing', async () => {
    const activity = { type: 'invoke', name: 'adaptiveCard/action', channelId: 'msteams', serviceUrl: `${stack.url}/teams/connector/`, from: { id: '29:x', aadObjectId: CAROL_AAD }, channelData: { tenant: { id: '7e7e7e7e-0000-4000-8000-000000000001' } }, value: { action: { type: 'Action.Execute', verb: 'approve', data: { reviewId: 'rv-x' } } } };
    const unsigned = await fetch(`${stack.url}/teams/api/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(activity) });
    expect(unsigned.status).toBe(401);
    const rogue = await BotFrameworkIssuer.create();
    const forged = await fetch(`${stack.url}/teams/api/messages`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${await rogue.sign({ audience: DEFAULT_TEAMS_APP_ID, serviceUrl: activity.serviceUrl })}` }, body: JSON.stringify(activity) });
    expect(forged.status).toBe(401);
  });
});
