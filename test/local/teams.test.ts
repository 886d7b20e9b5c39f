import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { memoryLogger } from '../../local/log.js';
import { startLocalStack, type LocalStack } from '../../local/local-stack.js';
import { BotFrameworkIssuer } from '../../local/teams/bot-framework-issuer.js';
import { DEFAULT_TEAMS_APP_ID } from '../../local/teams/emulator.js';
import { eventually } from './support.js';

/**
 * One review in Slack and Teams at once, on the local stack: the real handlers (request-review posts
 * the card through the Bot Connector with a client-credentials token from the emulated Entra ID;
 * teams-interactions verifies the emulated Bot Framework's JWT with its real code), DynamoDB Local,
 * the synthesized workflow. A Teams vote and a Slack vote make a quorum of 2; both messages update.
 */

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

const run = `tm${Date.now().toString(36)}`;
const SECURITY_TEAMS = '19:approvals-security@thread.tacv2';
const CAROL_AAD = '00000000-0000-4000-8000-00000000ca01';
const ERIN_AAD = '00000000-0000-4000-8000-00000000e214';

let dataDir: string;
let stack: LocalStack;
let events: EventBridgeClient;
const log = memoryLogger();

async function send(actionId: string): Promise<void> {
  const response = await events.send(new PutEventsCommand({ Entries: [{
    EventBusName: 'countersign',
    Source: 'agent.billing-agent',
    DetailType: 'Action Requested',
    Detail: JSON.stringify({
      specVersion: '1',
      actionId,
      agent: { id: 'billing-agent', onBehalfOf: 'erin@example.com', runId: 'run-7', model: 'test-model' },
      action: 'iam.policy.update',
      resource: { type: 'IamPolicy', id: 'billing-readers' },
      environment: 'prod',
      parameters: { policy: 'billing-readers', note: '**bold** [click](https://evil.example)' },
      justification: 'Rotate the readers policy {{DATE(2017-02-14T06:00:00Z, SHORT)}}',
    }),
  }] }));
  expect(response.FailedEntryCount).toBe(0);
}

async function outcome(actionId: string, wanted: string): Promise<{ outcome: string; reviewers: Array<{ id: string; vote: string }> }> {
  return eventually(async () => {
    const body = await (await fetch(`${stack.url}/actions/${encodeURIComponent(actionId)}`)).json() as { outcome: string; reviewers: Array<{ id: string; vote: string }> };
    return body.outcome === wanted ? body : undefined;
  }, `${actionId} to be ${wanted}`, 20_000);
}

const threadOf = (actionId: string) => eventually(() => stack.teams.allThreads().find((t) => t.channelId === SECURITY_TEAMS && JSON.stringify(t.root).includes(actionId)), `a Teams card for ${actionId}`);

async function tapTeams(user: string, conversationId: string, verb: string, data: Record<string, unknown>) {
  const response = await fetch(`${stack.url}/teams/act`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user, conversationId, verb, data }) });
  expect(response.status).toBe(200);
  return await response.json() as { status: number; card?: unknown; error?: string };
}

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'countersign-teams-'));
  stack = await startLocalStack({ port: 0, dataDir, log, timeScale: 60 });
  events = new EventBridgeClient({ endpoint: stack.url, region: 'us-east-1', credentials: { accessKeyId: 'x', secretAccessKey: 'x' } });
});

afterAll(async () => {
  events?.destroy();
  await stack?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('one review in Slack and Teams', () => {
  it('a Teams vote and a Slack vote make a quorum of 2, and both messages show the outcome', async () => {
    const actionId = `${run}-iam`;
    await send(actionId);
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
