import { readFileSync } from 'node:fs';
import vm from 'node:vm';
import { WebClient, WebClientEvent, type WebAPIPlatformError } from '@slack/web-api';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { slackWebClient } from '../../shared/adapters/slack/slack-review-channel.js';
import { Directory, type DirectoryData } from '../../shared/domain/directory.js';
import { parseInteraction } from '../../shared/slack/interactions.js';
import { verifySlackSignature } from '../../shared/slack/verify-signature.js';
import { jsonResponse, startHttpServer, type HttpRequest, type HttpResponse, type LocalHttpServer } from '../../local/aws-json-server.js';
import { functionUrlEvent } from '../../local/lambda-runtime.js';
import { SlackEmulator } from '../../local/slack/emulator.js';
import { slackPageHtml } from '../../local/slack/page.js';
import { SlackWorkspace } from '../../local/slack/workspace.js';

/**
 * The Slack workspace emulator driven by the real `@slack/web-api` client (and the product's own
 * client settings), and the interactions it sends, checked with the product's signature
 * verification and interaction parser.
 */

const TOKEN = 'xoxb-test-token';
const SECRET = 'test-signing-secret';
const directory: DirectoryData = Directory.parse(JSON.parse(readFileSync(new URL('../../config/directory.json', import.meta.url), 'utf8'))).data;

let server: LocalHttpServer;
let emulator: SlackEmulator;
/** What the stub interactions Function URL received, and what it answers next. */
let received: HttpRequest[];
let answer: (request: HttpRequest) => HttpResponse;
let client: WebClient;

function platformError(error: unknown): string | undefined {
  return (error as WebAPIPlatformError).data?.error;
}

async function slackError(call: Promise<unknown>): Promise<string | undefined> {
  try {
    await call;
  } catch (error) {
    return platformError(error);
  }
  throw new Error('the call succeeded');
}

function quietClient(token: string | undefined): WebClient {
  return new WebClient(token, { slackApiUrl: `${server.url}/api/`, logger: { debug() {}, info() {}, warn() {}, error() {}, setLevel() {}, getLevel: () => 'error' as never, setName() {} } });
}

const REVIEW_BLOCKS = [
  { type: 'header', text: { type: 'plain_text', text: 'Approval needed: db.export in prod' } },
  { type: 'section', text: { type: 'plain_text', text: '<!channel> please look at <https://evil.example|this>' } },
  { type: 'actions', block_id: 'countersign_review_actions', elements: [
    { type: 'button', action_id: 'approve', text: { type: 'plain_text', text: 'Approve' }, style: 'primary', value: 'rev-123' },
    { type: 'button', action_id: 'deny', text: { type: 'plain_text', text: 'Deny' }, style: 'danger', value: 'rev-123' },
  ] },
];

beforeAll(async () => {
  server = await startHttpServer({
    port: 0,
    handler: async (request) => (await emulator.handle(request)) ?? jsonResponse(404, { message: 'no route' }),
  });
});

afterAll(async () => {
  await server.close();
});

beforeEach(() => {
  received = [];
  answer = () => ({ statusCode: 200, body: '' });
  emulator = new SlackEmulator({
    directory,
    botToken: TOKEN,
    signingSecret: SECRET,
    baseUrl: () => server.url,
    interactions: async (request) => {
      received.push(request);
      return answer(request);
    },
  });
  client = quietClient(TOKEN);
});

describe('Web API', () => {
  it('answers auth.test for the bot token, and refuses a wrong or missing token', async () => {
    expect(await client.auth.test()).toMatchObject({ ok: true, team_id: 'T0LOCAL', bot_id: expect.stringMatching(/^B/), user_id: expect.stringMatching(/^U/) });
    expect(await slackError(quietClient('xoxb-wrong').auth.test())).toBe('invalid_auth');
    expect(await slackError(quietClient(undefined).auth.test())).toBe('not_authed');
  });

  it('lists the directory\'s channels', async () => {
    const { channels } = await client.conversations.list();
    expect(channels?.map((c) => [c.id, c.name])).toEqual(expect.arrayContaining([['C0DATAOWNERS', 'approvals-data-owners'], ['C0SECURITY', 'approvals-security'], ['C0SECURITYLEADS', 'approvals-security-leads']]));
  });

  it('posts by channel id or name, with Slack\'s response shape, and history lists newest first', async () => {
    const first = await client.chat.postMessage({ channel: 'C0DATAOWNERS', text: 'first', blocks: REVIEW_BLOCKS });
    const second = await client.chat.postMessage({ channel: '#approvals-data-owners', text: 'second' });
    const third = await client.chat.postMessage({ channel: 'approvals-data-owners', text: 'third' });
    expect(first).toMatchObject({ ok: true, channel: 'C0DATAOWNERS', ts: expect.stringMatching(/^\d{10}\.\d{6}$/), message: { type: 'message', text: 'first', bot_id: expect.any(String), blocks: REVIEW_BLOCKS } });
    expect(second.channel).toBe('C0DATAOWNERS');
    const history = await client.conversations.history({ channel: 'C0DATAOWNERS' });
    expect(history.messages?.map((m) => m.ts)).toEqual([third.ts, second.ts, first.ts]);
    expect((await client.conversations.history({ channel: 'C0DATAOWNERS', limit: 1 })).has_more).toBe(true);
  });

  it('answers ok:false with Slack\'s codes', async () => {
    expect(await slackError(client.chat.postMessage({ channel: 'C0NOPE', text: 'x' }))).toBe('channel_not_found');
    expect(await slackError(client.chat.postMessage({ channel: 'C0SECURITY', text: '' }))).toBe('no_text');
    expect(await slackError(client.apiCall('chat.postMessage', { channel: 'C0SECURITY', blocks: '[not json' }))).toBe('invalid_blocks_format');
    expect(await slackError(client.apiCall('chat.postMessage', { channel: 'C0SECURITY', blocks: [{ text: 'no type' }] }))).toBe('invalid_blocks');
    expect(await slackError(client.chat.postMessage({ channel: 'C0SECURITY', text: 'x', thread_ts: '1.000001' }))).toBe('thread_not_found');
    expect(await slackError(client.chat.update({ channel: 'C0SECURITY', ts: '1.000001', text: 'x' }))).toBe('message_not_found');
    expect(await slackError(client.views.open({ trigger_id: 'nope', view: { type: 'modal', title: { type: 'plain_text', text: 'x' }, blocks: [] } }))).toBe('invalid_trigger_id');
    expect(await slackError(client.apiCall('views.open', { view: { type: 'modal', title: { type: 'plain_text', text: 'x' }, blocks: [] } }))).toBe('invalid_arguments');
  });

  it('keeps threads: the parent carries thread_ts and reply_count, history leaves replies out', async () => {
    const parent = await client.chat.postMessage({ channel: 'C0SECURITY', text: 'review' });
    await client.chat.postMessage({ channel: 'C0SECURITY', thread_ts: parent.ts as string, text: '<@U0CAROL> <@U0DAN> reminder' });
    const history = await client.conversations.history({ channel: 'C0SECURITY' });
    expect(history.messages).toHaveLength(1);
    expect(history.messages?.[0]).toMatchObject({ ts: parent.ts, thread_ts: parent.ts, reply_count: 1 });
    const replies = await client.conversations.replies({ channel: 'C0SECURITY', ts: parent.ts as string });
    expect(replies.messages?.map((m) => m.text)).toEqual(['review', '<@U0CAROL> <@U0DAN> reminder']);
  });

  it('updates a message in place, and posts ephemeral messages to one member', async () => {
    const posted = await client.chat.postMessage({ channel: 'C0DATAOWNERS', text: 'open', blocks: REVIEW_BLOCKS });
    const updated = await client.chat.update({ channel: 'C0DATAOWNERS', ts: posted.ts as string, text: 'Approved', blocks: [{ type: 'section', text: { type: 'mrkdwn', text: '*Approved* by <@U0BOB>' } }] });
    expect(updated).toMatchObject({ ok: true, channel: 'C0DATAOWNERS', ts: posted.ts, text: 'Approved' });
    const [message] = (await client.conversations.history({ channel: 'C0DATAOWNERS' })).messages ?? [];
    expect(message).toMatchObject({ ts: posted.ts, text: 'Approved', edited: expect.any(Object) });
    expect(JSON.stringify(message?.blocks)).not.toContain('approve');
    const ephemeral = await client.chat.postEphemeral({ channel: 'C0DATAOWNERS', user: 'U0ALICE', text: 'you cannot approve your own agent' });
    expect(ephemeral.message_ts).toMatch(/^\d{10}\.\d{6}$/);
    expect(emulator.workspace.ephemeralsFor('U0ALICE').map((e) => e.text)).toEqual(['you cannot approve your own agent']);
    expect(emulator.workspace.ephemeralsFor('U0BOB')).toEqual([]);
    expect(await slackError(client.chat.postEphemeral({ channel: 'C0DATAOWNERS', user: 'U0NOBODY', text: 'x' }))).toBe('user_not_found');
  });

  it('accepts JSON bodies with the token in the Authorization header, as Slack does', async () => {
    const call = (headers: Record<string, string>, body: unknown) => fetch(`${server.url}/api/chat.postMessage`, { method: 'POST', headers: { 'content-type': 'application/json; charset=utf-8', ...headers }, body: JSON.stringify(body) }).then((r) => r.json());
    expect(await call({ authorization: `Bearer ${TOKEN}` }, { channel: 'C0DBA', text: 'json', blocks: [{ type: 'divider' }] })).toMatchObject({ ok: true, channel: 'C0DBA' });
    expect(await call({}, { token: TOKEN, channel: 'C0DBA', text: 'json' })).toMatchObject({ ok: false, error: 'not_authed' });
  });

  it('limits chat.postMessage per channel with 429 and Retry-After, which the product\'s WebClient waits out', async () => {
    const product = slackWebClient({ token: TOKEN, slackApiUrl: `${server.url}/api/` });
    const limited: number[] = [];
    product.on(WebClientEvent.RATE_LIMITED, (seconds: number) => limited.push(seconds));
    const posted = await Promise.all(Array.from({ length: 6 }, (_, i) => product.chat.postMessage({ channel: 'C0PLATFORM', text: `burst ${i}` })));
    expect(posted.every((r) => r.ok)).toBe(true);
    expect(limited.length).toBeGreaterThan(0);
    expect(limited.every((seconds) => seconds >= 1)).toBe(true);
    expect((await client.conversations.history({ channel: 'C0PLATFORM' })).messages).toHaveLength(6);
    // Another channel has its own allowance.
    expect((await client.chat.postMessage({ channel: 'C0DBA', text: 'elsewhere' })).ok).toBe(true);
    // What the client saw: a burst beyond the allowance gets HTTP 429, Retry-After and `ratelimited`.
    const raw: Response[] = [];
    for (let i = 0; i < 6; i++) {
      raw.push(await fetch(`${server.url}/api/chat.postMessage`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/x-www-form-urlencoded' }, body: `channel=C0SECURITYLEADS&text=raw+${i}` }));
    }
    const refused = raw.find((response) => response.status === 429);
    expect(refused).toBeDefined();
    expect(Number(refused?.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(await refused?.json()).toEqual({ ok: false, error: 'ratelimited' });
  });
});

describe('trigger ids and modals', () => {
  const modal = { type: 'modal' as const, callback_id: 'countersign_deny', private_metadata: 'rev-123', title: { type: 'plain_text' as const, text: 'Deny request' }, submit: { type: 'plain_text' as const, text: 'Deny' }, blocks: [
    { type: 'input' as const, block_id: 'countersign_deny_reason', label: { type: 'plain_text' as const, text: 'Reason' }, element: { type: 'plain_text_input' as const, action_id: 'reason', multiline: true } },
  ] };

  it('opens a modal for the member a trigger belongs to, once', async () => {
    const trigger = emulator.workspace.mintTrigger('U0BOB');
    const opened = await client.views.open({ trigger_id: trigger, view: modal });
    expect(opened.view).toMatchObject({ id: expect.stringMatching(/^V/), type: 'modal', private_metadata: 'rev-123', state: { values: {} } });
    expect(emulator.workspace.openViewFor('U0BOB')?.view.id).toBe(opened.view?.id);
    expect(emulator.workspace.openViewFor('U0ALICE')).toBeUndefined();
    expect(await slackError(client.views.open({ trigger_id: trigger, view: modal }))).toBe('exchanged_trigger_id');
  });

  it('lets a trigger expire after 3 seconds', () => {
    let now = 1_800_000_000_000;
    const workspace = new SlackWorkspace({ directory, botToken: TOKEN, now: () => now });
    const trigger = workspace.mintTrigger('U0BOB');
    now += 3_001;
    expect(() => workspace.call('views.open', { trigger_id: trigger, view: JSON.stringify(modal) }, TOKEN)).toThrow('expired_trigger_id');
  });
});

describe('interactions sent to the app', () => {
  async function postReview(): Promise<string> {
    const posted = await client.chat.postMessage({ channel: 'C0DATAOWNERS', text: 'review', blocks: REVIEW_BLOCKS });
    return posted.ts as string;
  }

  function bodyOf(request: HttpRequest): string {
    return request.body.toString('utf8');
  }

  it('a tap sends block_actions, form-encoded and signed as Slack signs, with a fresh trigger_id', async () => {
    const ts = await postReview();
    const result = await emulator.interactions.clickButton({ userId: 'U0BOB', channel: 'C0DATAOWNERS', ts, actionId: 'approve' });
    expect(result.status).toBe(200);
    const [request] = received;
    expect(request?.headers['content-type']).toBe('application/x-www-form-urlencoded');
    const headers = request?.headers as Record<string, string>;
    expect(verifySlackSignature({ headers, rawBody: bodyOf(request as HttpRequest), signingSecret: SECRET, nowSeconds: Math.floor(Date.now() / 1000) })).toEqual({ ok: true });
    expect(parseInteraction(bodyOf(request as HttpRequest))).toMatchObject({ type: 'block_actions', teamId: 'T0LOCAL', appId: 'A0COUNTERSIGN', userId: 'U0BOB', actionId: 'approve', reviewId: 'rev-123', channelId: 'C0DATAOWNERS', messageTs: ts });
    const payload = JSON.parse(new URLSearchParams(bodyOf(request as HttpRequest)).get('payload') ?? '{}') as { trigger_id: string; message: { ts: string }; response_url: string };
    expect(payload.trigger_id).toMatch(/^\d+\.\d+\.[0-9a-f]+$/);
    expect(payload.message.ts).toBe(ts);
    // The trigger works for views.open, as the interactions handler uses it.
    expect((await client.views.open({ trigger_id: payload.trigger_id, view: { type: 'modal', title: { type: 'plain_text', text: 'x' }, blocks: [] } })).ok).toBe(true);
  });

  it('the signature fails for an altered body, another secret or a stale timestamp', async () => {
    const ts = await postReview();
    await emulator.interactions.clickButton({ userId: 'U0BOB', channel: 'C0DATAOWNERS', ts, actionId: 'approve' });
    const request = received[0] as HttpRequest;
    const headers = request.headers as Record<string, string>;
    const now = Math.floor(Date.now() / 1000);
    const tampered = bodyOf(request).replace('U0BOB', 'U0ALICE');
    expect(verifySlackSignature({ headers, rawBody: tampered, signingSecret: SECRET, nowSeconds: now })).toMatchObject({ ok: false, status: 401 });
    expect(verifySlackSignature({ headers, rawBody: bodyOf(request), signingSecret: 'other', nowSeconds: now })).toMatchObject({ ok: false, status: 401 });
    expect(verifySlackSignature({ headers, rawBody: bodyOf(request), signingSecret: SECRET, nowSeconds: now + 600 })).toMatchObject({ ok: false, status: 401 });
  });

  it('reaches the app as a Function URL does: the form body base64-encoded', async () => {
    const ts = await postReview();
    await emulator.interactions.clickButton({ userId: 'U0BOB', channel: 'C0DATAOWNERS', ts, actionId: 'deny' });
    const event = functionUrlEvent(received[0] as HttpRequest, { port: 4010, urlId: 'x' });
    expect(event.isBase64Encoded).toBe(true);
    expect(Buffer.from(event.body ?? '', 'base64').toString('utf8')).toBe(bodyOf(received[0] as HttpRequest));
    expect(event.requestContext.http.method).toBe('POST');
  });

  it('refuses a button the message no longer has', async () => {
    const ts = await postReview();
    await client.chat.update({ channel: 'C0DATAOWNERS', ts, text: 'Approved', blocks: [{ type: 'section', text: { type: 'plain_text', text: 'Approved' } }] });
    await expect(emulator.interactions.clickButton({ userId: 'U0BOB', channel: 'C0DATAOWNERS', ts, actionId: 'approve' })).rejects.toThrow('no "approve" button');
    expect(received).toHaveLength(0);
  });

  it('shows the member a Slack notice when the app answers with an error', async () => {
    answer = () => ({ statusCode: 401, body: '{"error":"InvalidSignature"}' });
    const ts = await postReview();
    const result = await emulator.interactions.clickButton({ userId: 'U0BOB', channel: 'C0DATAOWNERS', ts, actionId: 'approve' });
    expect(result.problem).toContain('HTTP 401');
    expect(emulator.workspace.ephemeralsFor('U0BOB')).toMatchObject([{ source: 'slack', text: expect.stringContaining('HTTP 401') }]);
  });

  it('a modal submission checks required inputs, sends a signed view_submission, and keeps the modal open on errors', async () => {
    const trigger = emulator.workspace.mintTrigger('U0DAN');
    const { view } = await client.views.open({ trigger_id: trigger, view: {
      type: 'modal', callback_id: 'countersign_deny', private_metadata: 'rev-9', title: { type: 'plain_text', text: 'Deny request' }, submit: { type: 'plain_text', text: 'Deny' },
      blocks: [{ type: 'input', block_id: 'countersign_deny_reason', label: { type: 'plain_text', text: 'Reason' }, element: { type: 'plain_text_input', action_id: 'reason', multiline: true } }],
    } });
    const viewId = view?.id as string;
    const empty = await emulator.interactions.submitView({ userId: 'U0DAN', viewId, values: { countersign_deny_reason: { reason: '   ' } } });
    expect(empty).toMatchObject({ closed: false, errors: { countersign_deny_reason: expect.any(String) } });
    expect(received).toHaveLength(0);

    answer = () => ({ statusCode: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ response_action: 'errors', errors: { countersign_deny_reason: 'too late' } }) });
    const refused = await emulator.interactions.submitView({ userId: 'U0DAN', viewId, values: { countersign_deny_reason: { reason: 'not this quarter' } } });
    expect(refused).toMatchObject({ closed: false, errors: { countersign_deny_reason: 'too late' } });
    expect(parseInteraction(bodyOf(received[0] as HttpRequest))).toEqual({ type: 'view_submission', teamId: 'T0LOCAL', appId: 'A0COUNTERSIGN', userId: 'U0DAN', reviewId: 'rev-9', reason: 'not this quarter' });
    expect(emulator.workspace.openViewFor('U0DAN')?.errors).toEqual({ countersign_deny_reason: 'too late' });

    answer = () => ({ statusCode: 200, body: '' });
    expect(await emulator.interactions.submitView({ userId: 'U0DAN', viewId, values: { countersign_deny_reason: { reason: 'not this quarter' } } })).toMatchObject({ closed: true });
    expect(emulator.workspace.openViewFor('U0DAN')).toBeUndefined();
  });
});

describe('the workspace page', () => {
  it('serves the page with a script-locking Content-Security-Policy, and its script compiles', async () => {
    const response = await fetch(`${server.url}/slack`);
    expect(response.status).toBe(200);
    const csp = response.headers.get('content-security-policy') ?? '';
    const nonce = /script-src 'nonce-([^']+)'/.exec(csp)?.[1];
    expect(nonce).toBeDefined();
    const html = await response.text();
    const script = new RegExp(`<script nonce="${nonce}">([\\s\\S]*)</script>`).exec(html)?.[1] ?? '';
    expect(() => new vm.Script(script)).not.toThrow();
  });

  it('puts text in the page only as text: the script uses no HTML sink', () => {
    const html = slackPageHtml({ nonce: 'n', teamName: 't' });
    expect(html).not.toMatch(/innerHTML|outerHTML|insertAdjacentHTML|document\.write|srcdoc|eval\(|new Function/);
  });

  it('answers the page\'s state with messages, threads, this member\'s ephemerals and modal', async () => {
    const posted = await client.chat.postMessage({ channel: 'C0DATAOWNERS', text: 'review', blocks: REVIEW_BLOCKS });
    await client.chat.postMessage({ channel: 'C0DATAOWNERS', thread_ts: posted.ts as string, text: 'reminder' });
    await client.chat.postEphemeral({ channel: 'C0DATAOWNERS', user: 'U0ALICE', text: 'for alice' });
    const state = await (await fetch(`${server.url}/slack/state?user=U0ALICE`)).json() as { users: { id: string; groups: string[] }[]; channels: { id: string; messages: { ts: string; replies: unknown[] }[] }[]; ephemerals: { text: string }[] };
    expect(state.users.find((u) => u.id === 'U0ALICE')?.groups).toEqual(['data-owners']);
    expect(state.channels.find((c) => c.id === 'C0DATAOWNERS')?.messages).toMatchObject([{ ts: posted.ts, replies: [{ text: 'reminder' }] }]);
    expect(state.ephemerals.map((e) => e.text)).toEqual(['for alice']);
    const bobs = await (await fetch(`${server.url}/slack/state?user=U0BOB`)).json() as { ephemerals: unknown[] };
    expect(bobs.ephemerals).toEqual([]);
  });

  it('takes actions as JSON only', async () => {
    const ts = (await client.chat.postMessage({ channel: 'C0DATAOWNERS', text: 'review', blocks: REVIEW_BLOCKS })).ts as string;
    const form = await fetch(`${server.url}/slack/act`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `user=U0BOB&channel=C0DATAOWNERS&ts=${ts}&actionId=approve` });
    expect(form.status).toBe(415);
    const json = await fetch(`${server.url}/slack/act`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: 'U0BOB', channel: 'C0DATAOWNERS', ts, actionId: 'approve' }) });
    expect(json.status).toBe(200);
    expect(await json.json()).toMatchObject({ status: 200 });
    expect(received).toHaveLength(1);
  });
});
