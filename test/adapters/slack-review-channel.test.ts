import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { SlackApiError, SlackClientConfigError, SlackReviewChannel, slackWebClient } from '../../shared/adapters/slack/slack-review-channel.js';
import { ActionRequestedSchema, payloadSha256 } from '../../shared/domain/contract.js';
import { Directory } from '../../shared/domain/directory.js';
import type { ReviewView } from '../../shared/ports/review.js';
import { denyModal, reviewMessage } from '../../shared/slack/render.js';
import directoryJson from '../../config/directory.json' with { type: 'json' };
import sample from '../events/db-export-prod.json' with { type: 'json' };

const TOKEN = 'xoxb-test-0000-secret-token';
const directory = Directory.parse(directoryJson);
const request = ActionRequestedSchema.parse(sample.detail);
const view: ReviewView = {
  reviewId: 'rev_01JD3V6Y8M6Q',
  actionId: request.actionId,
  request,
  payloadSha256: payloadSha256(request),
  policyIds: ['db-export-prod-needs-data-owners'],
  approval: { approvers: 'security', quorum: 2, timeout: 'PT30M', timeoutSeconds: 1800 },
  approvals: [{ id: 'carol', vote: 'approve', at: '2026-11-22T03:05:00.000Z' }],
  expiresAt: '2026-11-22T03:30:00.000Z',
  status: { state: 'open' },
};

interface Call {
  method: string;
  contentType: string | undefined;
  authorization: string | undefined;
  rawBody: string;
  params: Record<string, string>;
}

interface Reply {
  status?: number;
  headers?: Record<string, string>;
  body: unknown;
}

/**
 * A tiny stand-in for Slack's Web API: POST /api/<method>, form or JSON bodies, answers
 * `{ok: true, ...}` unless a reply was scripted for the method.
 */
class FakeSlack {
  readonly calls: Call[] = [];
  private readonly scripted = new Map<string, Reply[]>();
  private server: Server | undefined;
  url = '';

  script(method: string, ...replies: Reply[]): void {
    this.scripted.set(method, [...(this.scripted.get(method) ?? []), ...replies]);
  }

  reset(): void {
    this.calls.length = 0;
    this.scripted.clear();
  }

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      void this.handle(req).then((reply) => {
        res.writeHead(reply.status ?? 200, { 'content-type': 'application/json; charset=utf-8', ...reply.headers });
        res.end(JSON.stringify(reply.body));
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server!.address() as AddressInfo).port}/api/`;
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve, reject) => this.server?.close((error) => (error ? reject(error) : resolve())));
  }

  private async handle(req: IncomingMessage): Promise<Reply> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const rawBody = Buffer.concat(chunks).toString('utf8');
    const contentType = req.headers['content-type'];
    const params: Record<string, string> = contentType?.startsWith('application/json')
      ? Object.fromEntries(Object.entries(JSON.parse(rawBody) as Record<string, unknown>).map(([k, v]) => [k, typeof v === 'string' ? v : JSON.stringify(v)]))
      : Object.fromEntries(new URLSearchParams(rawBody));
    const method = (req.url ?? '').replace(/^\/api\//, '');
    this.calls.push({ method, contentType, authorization: req.headers.authorization, rawBody, params });
    const next = this.scripted.get(method)?.shift();
    if (next !== undefined) return next;
    switch (method) {
      case 'chat.postMessage':
        return { body: { ok: true, channel: params.channel, ts: '1795316400.000100', message: { type: 'message', text: params.text } } };
      case 'chat.update':
        return { body: { ok: true, channel: params.channel, ts: params.ts, text: params.text } };
      case 'chat.postEphemeral':
        return { body: { ok: true, message_ts: '1795316401.000200' } };
      case 'views.open':
        return { body: { ok: true, view: { id: 'V0DENY' } } };
      default:
        return { body: { ok: false, error: 'unknown_method' } };
    }
  }
}

const slack = new FakeSlack();
let channel: SlackReviewChannel;

beforeAll(async () => {
  await slack.start();
  channel = new SlackReviewChannel(slackWebClient({ token: TOKEN, slackApiUrl: slack.url }), directory);
});
afterAll(() => slack.stop());
afterEach(() => {
  slack.reset();
  vi.restoreAllMocks();
});

function onlyCall(): Call {
  expect(slack.calls).toHaveLength(1);
  return slack.calls[0]!;
}

describe('SlackReviewChannel', () => {
  it('posts the review with chat.postMessage, unfurling off, and returns where it lives', async () => {
    const ref = await channel.postReview('C0SECURITY', view);
    expect(ref).toEqual({ channel: 'C0SECURITY', ts: '1795316400.000100' });
    const call = onlyCall();
    expect(call.method).toBe('chat.postMessage');
    expect(call.authorization).toBe(`Bearer ${TOKEN}`);
    expect(call.contentType).toBe('application/x-www-form-urlencoded');
    expect(Object.keys(call.params).sort()).toEqual(['blocks', 'channel', 'text', 'unfurl_links', 'unfurl_media']);
    const expected = reviewMessage(view, { slackUserIdOf: (id) => directory.member(id)?.slackUserId });
    expect(call.params).toMatchObject({ channel: 'C0SECURITY', text: expected.text, unfurl_links: 'false', unfurl_media: 'false' });
    expect(JSON.parse(call.params.blocks!)).toEqual(expected.blocks);
    // The token travels in the Authorization header only.
    expect(call.rawBody).not.toContain(TOKEN);
  });

  it('waits out a 429 for Retry-After seconds and posts the review', async () => {
    slack.script('chat.postMessage', { status: 429, headers: { 'retry-after': '1' }, body: { ok: false, error: 'ratelimited' } });
    const started = Date.now();
    const ref = await channel.postReview('C0SECURITY', view);
    expect(ref).toEqual({ channel: 'C0SECURITY', ts: '1795316400.000100' });
    expect(slack.calls.map((c) => c.method)).toEqual(['chat.postMessage', 'chat.postMessage']);
    expect(slack.calls[1]!.params).toEqual(slack.calls[0]!.params);
    // Slack asked for one second; sending sooner would be refused again.
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
  });

  it('retries a server error and does not log the token', async () => {
    const logged: unknown[][] = [];
    for (const level of ['debug', 'info', 'warn', 'error', 'log'] as const) vi.spyOn(console, level).mockImplementation((...args: unknown[]) => void logged.push(args));
    slack.script('chat.update', { status: 503, body: { ok: false, error: 'service_unavailable' } });
    await channel.updateReview({ channel: 'C0SECURITY', ts: '1795316400.000100' }, view);
    expect(slack.calls.map((c) => c.method)).toEqual(['chat.update', 'chat.update']);
    expect(JSON.stringify(logged)).not.toContain(TOKEN);
  });

  it("surfaces ok:false as a SlackApiError carrying Slack's error code, without retrying", async () => {
    slack.script('chat.postMessage', { body: { ok: false, error: 'channel_not_found' } });
    const error = await channel.postReview('C0NOWHERE', view).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(SlackApiError);
    expect(error).toMatchObject({ name: 'SlackApiError', method: 'chat.postMessage', code: 'channel_not_found', message: 'Slack chat.postMessage failed: channel_not_found' });
    expect(slack.calls).toHaveLength(1);
  });

  it("includes Slack's explanation of invalid blocks in the error", async () => {
    slack.script('chat.update', { body: { ok: false, error: 'invalid_blocks', response_metadata: { messages: ['[ERROR] must be less than 3001 characters [json-pointer:/blocks/4/text/text]'] } } });
    await expect(channel.updateReview({ channel: 'C0SECURITY', ts: '1.2' }, view)).rejects.toThrow(/invalid_blocks \(\[ERROR\] must be less than 3001 characters/);
  });

  it('updates a closed review with chat.update: outcome, mentions from the directory, no buttons', async () => {
    const closed: ReviewView = {
      ...view,
      approvals: [{ id: 'carol', vote: 'approve', at: '2026-11-22T03:05:00Z' }, { id: 'dan', vote: 'approve', at: '2026-11-22T03:12:00Z' }],
      status: { state: 'closed', outcome: 'approved', reason: 'quorum reached', reviewers: [{ id: 'carol', vote: 'approve', at: '2026-11-22T03:05:00Z' }, { id: 'dan', vote: 'approve', at: '2026-11-22T03:12:00Z' }], decidedAt: '2026-11-22T03:12:00Z' },
    };
    await channel.updateReview({ channel: 'C0SECURITY', ts: '1795316400.000100' }, closed);
    const call = onlyCall();
    expect(call.method).toBe('chat.update');
    expect(Object.keys(call.params).sort()).toEqual(['blocks', 'channel', 'text', 'ts']);
    expect(call.params).toMatchObject({ channel: 'C0SECURITY', ts: '1795316400.000100', text: 'Approved: billing-agent: db.export on Database in prod' });
    const blocks = JSON.parse(call.params.blocks!) as Array<{ type: string }>;
    expect(blocks.some((b) => b.type === 'actions')).toBe(false);
    expect(call.params.blocks).toContain('by <@U0CAROL>, <@U0DAN>');
  });

  it("posts a thread note with chat.postMessage in the message's thread", async () => {
    await channel.postThreadNote({ channel: 'C0SECURITY', ts: '1795316400.000100' }, 'Reminder: this request expires in 15 minutes.', ['U0DAN', 'U0ERIN']);
    const call = onlyCall();
    expect(call.method).toBe('chat.postMessage');
    expect(call.params).toEqual({
      channel: 'C0SECURITY',
      thread_ts: '1795316400.000100',
      text: '<@U0DAN> <@U0ERIN> Reminder: this request expires in 15 minutes.',
      unfurl_links: 'false',
      unfurl_media: 'false',
    });
  });

  it('notifies one user with chat.postEphemeral, escaped', async () => {
    await channel.notify('C0SECURITY', 'U0CAROL', 'You already voted on this request <!here>.');
    const call = onlyCall();
    expect(call.method).toBe('chat.postEphemeral');
    expect(call.params).toEqual({ channel: 'C0SECURITY', user: 'U0CAROL', text: 'You already voted on this request &lt;!here&gt;.' });
  });

  it('opens the deny modal with views.open', async () => {
    await channel.openDenyModal('1795316401.1.abcdef', view);
    const call = onlyCall();
    expect(call.method).toBe('views.open');
    expect(Object.keys(call.params).sort()).toEqual(['trigger_id', 'view']);
    expect(call.params.trigger_id).toBe('1795316401.1.abcdef');
    expect(JSON.parse(call.params.view!)).toEqual(denyModal(view));
  });

  it('reports an expired trigger with its code', async () => {
    slack.script('views.open', { body: { ok: false, error: 'expired_trigger_id' } });
    await expect(channel.openDenyModal('old', view)).rejects.toMatchObject({ code: 'expired_trigger_id', method: 'views.open' });
  });
});

describe('slackWebClient', () => {
  it('refuses an empty token with a message that says where it comes from', () => {
    expect(() => slackWebClient({ token: ' ' })).toThrow(SlackClientConfigError);
    expect(() => slackWebClient({ token: '' })).toThrow(/SLACK_BOT_TOKEN/);
  });

  it("talks to Slack's API by default and to slackApiUrl when given", () => {
    expect(slackWebClient({ token: TOKEN }).slackApiUrl).toBe('https://slack.com/api/');
    expect(slackWebClient({ token: TOKEN, slackApiUrl: 'http://localhost:4010/slack/api' }).slackApiUrl).toBe('http://localhost:4010/slack/api/');
  });
});
