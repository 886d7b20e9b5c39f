import { randomBytes } from 'node:crypto';
import { signSlackRequest } from '../../shared/slack/verify-signature.js';
import type { HttpRequest, HttpResponse } from '../aws-json-server.js';
import { TEAM_DOMAIN, type SlackMessage, type SlackWorkspace } from './workspace.js';

/**
 * What Slack sends to the app's interactivity request URL when someone taps a button or submits a
 * modal in the workspace page: a `block_actions`, `view_submission` or `view_closed` payload,
 * form-encoded as `payload=<JSON>`, signed with the signing secret (v0, `X-Slack-Request-Timestamp`
 * and `X-Slack-Signature`), posted to the interactions Function URL. As Slack does, it mints a
 * trigger_id per interaction, gives the app 3 seconds to answer, shows an error when the answer is
 * not HTTP 200, keeps a modal open with the errors a `response_action: "errors"` answer names, and
 * checks a modal's required inputs before sending it.
 */

/** The interactivity request URL: the slack-interactions handler behind its (emulated) Function URL. */
export type InteractionsEndpoint = (request: HttpRequest) => Promise<HttpResponse>;

export interface SlackInteractionsOptions {
  workspace: SlackWorkspace;
  signingSecret: string;
  endpoint: InteractionsEndpoint;
  /** The stack's base URL, for `response_url`s. */
  baseUrl: () => string;
  /** Slack's acknowledgement deadline. @default 3000 */
  ackDeadlineMs?: number;
  now?: () => number;
}

export interface InteractionResult {
  /** The HTTP status the app answered with (0 when it could not be reached). */
  status: number;
  tookMs: number;
  /** What the person sees when Slack reports a problem; undefined when the app answered in time with 200. */
  problem?: string;
}

export interface ViewSubmissionResult extends InteractionResult {
  /** Whether Slack closed the modal. */
  closed: boolean;
  /** Errors shown on the modal's inputs, by block_id. */
  errors?: Record<string, string>;
}

export class InteractionError extends Error {
  constructor(
    message: string,
    readonly statusCode: 400 | 404 | 409 = 400,
  ) {
    super(message);
    this.name = 'InteractionError';
  }
}

interface ResponseUrl {
  channel: string;
  user: string;
  messageTs: string;
  expiresAt: number;
  uses: number;
}

interface ButtonElement {
  type: 'button';
  action_id: string;
  text?: unknown;
  value?: string;
  style?: string;
}

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The button a person tapped, found in the message as it is now (a button an update removed is gone). */
function findButton(message: SlackMessage, actionId: string, blockId: string | undefined): { blockId: string; button: ButtonElement } | undefined {
  for (const block of message.blocks ?? []) {
    if (!isObject(block)) continue;
    const id = typeof block.block_id === 'string' ? block.block_id : undefined;
    if (blockId !== undefined && id !== blockId) continue;
    const elements = block.type === 'actions' && Array.isArray(block.elements) ? block.elements : block.type === 'section' && isObject(block.accessory) ? [block.accessory] : [];
    for (const element of elements) {
      if (isObject(element) && element.type === 'button' && element.action_id === actionId) {
        return { blockId: id ?? '', button: element as unknown as ButtonElement };
      }
    }
  }
  return undefined;
}

function inputBlocks(view: Json): Json[] {
  return (Array.isArray(view.blocks) ? view.blocks : []).filter((block): block is Json => isObject(block) && block.type === 'input' && isObject(block.element));
}

export class SlackInteractions {
  private readonly responseUrls = new Map<string, ResponseUrl>();
  private readonly now: () => number;

  constructor(private readonly options: SlackInteractionsOptions) {
    this.now = options.now ?? Date.now;
  }

  private get workspace(): SlackWorkspace {
    return this.options.workspace;
  }

  private userObject(userId: string): Json {
    const user = this.workspace.user(userId);
    if (user === undefined) throw new InteractionError(`${userId} is not a member of this workspace`, 404);
    return { id: user.id, username: user.name, name: user.name, team_id: this.workspace.teamId };
  }

  private common(userId: string): Json {
    return {
      team: { id: this.workspace.teamId, domain: TEAM_DOMAIN },
      user: this.userObject(userId),
      api_app_id: this.workspace.appId,
      // The legacy verification token Slack still includes; signatures replace it.
      token: 'local-verification-token',
      is_enterprise_install: false,
      enterprise: null,
    };
  }

  /** `userId` taps the button `actionId` on a message: Slack sends block_actions to the app. */
  async clickButton(input: { userId: string; channel: string; ts: string; actionId: string; blockId?: string }): Promise<InteractionResult> {
    const channel = this.workspace.channel(input.channel);
    if (channel === undefined) throw new InteractionError(`no channel ${input.channel}`, 404);
    const message = this.workspace.message(channel.id, input.ts);
    if (message === undefined) throw new InteractionError(`no message ${input.ts} in #${channel.name}`, 404);
    const found = findButton(message, input.actionId, input.blockId);
    if (found === undefined) throw new InteractionError(`the message has no "${input.actionId}" button (any more)`, 409);
    const responseId = randomBytes(12).toString('hex');
    this.responseUrls.set(responseId, { channel: channel.id, user: input.userId, messageTs: message.ts, expiresAt: this.now() + 30 * 60_000, uses: 0 });
    const payload = {
      type: 'block_actions',
      ...this.common(input.userId),
      trigger_id: this.workspace.mintTrigger(input.userId),
      container: { type: 'message', message_ts: message.ts, channel_id: channel.id, is_ephemeral: false },
      channel: { id: channel.id, name: channel.name },
      message,
      state: { values: {} },
      response_url: `${this.options.baseUrl()}/slack/response-url/${responseId}`,
      actions: [{
        type: 'button',
        block_id: found.blockId,
        action_id: found.button.action_id,
        text: found.button.text,
        ...(found.button.value === undefined ? {} : { value: found.button.value }),
        ...(found.button.style === undefined ? {} : { style: found.button.style }),
        action_ts: (this.now() / 1000).toFixed(6),
      }],
    };
    const result = await this.deliver(payload);
    if (result.problem !== undefined) this.workspace.addSystemNotice(channel.id, input.userId, result.problem);
    return result;
  }

  /** `userId` submits the modal `viewId` with `values` (block_id -> action_id -> text). */
  async submitView(input: { userId: string; viewId: string; values: Record<string, Record<string, string>> }): Promise<ViewSubmissionResult> {
    const open = this.workspace.view(input.viewId);
    if (open === undefined || open.user !== input.userId) throw new InteractionError(`no modal ${input.viewId} is open for ${input.userId}`, 404);
    const view = open.view;
    const state: Record<string, Record<string, Json>> = {};
    const missing: Record<string, string> = {};
    for (const block of inputBlocks(view)) {
      const blockId = String(block.block_id);
      const element = block.element as Json;
      const actionId = typeof element.action_id === 'string' ? element.action_id : 'input';
      const raw = input.values[blockId]?.[actionId] ?? '';
      // The Slack client checks these before sending anything.
      if (block.optional !== true && raw.trim() === '') missing[blockId] = 'Please complete this required field.';
      else if (typeof element.min_length === 'number' && raw.length > 0 && raw.length < element.min_length) missing[blockId] = `Must be at least ${element.min_length} characters.`;
      else if (typeof element.max_length === 'number' && raw.length > element.max_length) missing[blockId] = `Must be at most ${element.max_length} characters.`;
      state[blockId] = { [actionId]: { type: typeof element.type === 'string' ? element.type : 'plain_text_input', value: raw === '' ? null : raw } };
    }
    if (Object.keys(missing).length > 0) {
      this.workspace.setViewErrors(input.viewId, missing);
      return { status: 0, tookMs: 0, closed: false, errors: missing };
    }
    const payload = {
      type: 'view_submission',
      ...this.common(input.userId),
      trigger_id: this.workspace.mintTrigger(input.userId),
      view: { ...view, state: { values: state } },
      response_urls: [],
    };
    const result = await this.deliver(payload);
    if (result.problem !== undefined) {
      const errors = { '': result.problem };
      this.workspace.setViewErrors(input.viewId, errors);
      return { ...result, closed: false, errors };
    }
    let answer: Json = {};
    try {
      const parsed: unknown = result.body === '' ? {} : JSON.parse(result.body);
      if (isObject(parsed)) answer = parsed;
    } catch {
      answer = {};
    }
    const { status, tookMs } = result;
    switch (answer.response_action) {
      case 'errors': {
        const errors = isObject(answer.errors) ? Object.fromEntries(Object.entries(answer.errors).map(([key, value]) => [key, String(value)])) : {};
        this.workspace.setViewErrors(input.viewId, errors);
        return { status, tookMs, closed: false, errors };
      }
      case 'update':
      case 'push':
        if (isObject(answer.view)) {
          this.workspace.replaceView(input.viewId, answer.view);
          return { status, tookMs, closed: false };
        }
        break;
      default:
        break;
    }
    this.workspace.closeView(input.viewId);
    return { status, tookMs, closed: true };
  }

  /** `userId` cancels the modal: it closes; the app hears of it only if it asked (`notify_on_close`). */
  async closeView(input: { userId: string; viewId: string }): Promise<InteractionResult> {
    const open = this.workspace.view(input.viewId);
    if (open === undefined || open.user !== input.userId) throw new InteractionError(`no modal ${input.viewId} is open for ${input.userId}`, 404);
    this.workspace.closeView(input.viewId);
    if (open.view.notify_on_close !== true) return { status: 200, tookMs: 0 };
    return this.deliver({ type: 'view_closed', ...this.common(input.userId), view: open.view, is_cleared: false });
  }

  /** A POST to a `response_url` Slack handed the app with a block_actions payload. */
  respond(responseId: string, body: unknown): { statusCode: number; body: Json } {
    const target = this.responseUrls.get(responseId);
    if (target === undefined || target.expiresAt < this.now()) return { statusCode: 404, body: { ok: false, error: 'expired_url' } };
    if (++target.uses > 5) return { statusCode: 404, body: { ok: false, error: 'used_url' } };
    if (!isObject(body)) return { statusCode: 400, body: { ok: false, error: 'invalid_payload' } };
    const text = typeof body.text === 'string' ? body.text : '';
    const blocks = Array.isArray(body.blocks) ? body.blocks : undefined;
    if (body.replace_original === true || body.replace_original === 'true') {
      this.workspace.updateFromResponseUrl(target.channel, target.messageTs, text, blocks);
    } else if (body.response_type === 'in_channel') {
      this.workspace.postFromResponseUrl(target.channel, text, blocks);
    } else {
      this.workspace.addEphemeral(target.channel, target.user, text, blocks, 'app');
    }
    return { statusCode: 200, body: { ok: true } };
  }

  /** Signs and posts one payload to the interactivity URL, as Slack does. */
  private async deliver(payload: Json): Promise<InteractionResult & { body: string }> {
    const rawBody = new URLSearchParams({ payload: JSON.stringify(payload) }).toString();
    const signature = signSlackRequest({ rawBody, signingSecret: this.options.signingSecret, timestampSeconds: Math.floor(this.now() / 1000) });
    const request: HttpRequest = {
      method: 'POST',
      path: '/slack/interactions',
      query: '',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        'user-agent': 'Slackbot 1.0 (+https://api.slack.com/robots)',
        accept: 'application/json,*/*',
        'accept-encoding': 'gzip,deflate',
        ...signature,
      },
      body: Buffer.from(rawBody, 'utf8'),
      remoteAddress: '127.0.0.1',
    };
    const started = Date.now();
    let response: HttpResponse;
    try {
      response = await this.options.endpoint(request);
    } catch (error) {
      return { status: 0, tookMs: Date.now() - started, body: '', problem: `Slack could not reach the app (${error instanceof Error ? error.message : String(error)}).` };
    }
    const tookMs = Date.now() - started;
    const body = response.body === undefined ? '' : response.body.toString();
    const deadline = this.options.ackDeadlineMs ?? 3000;
    if (tookMs > deadline) {
      return { status: response.statusCode, tookMs, body, problem: `The app took ${tookMs} ms to answer; Slack gives up after ${deadline} ms and shows "operation_timeout" to the person who acted.` };
    }
    if (response.statusCode !== 200) {
      return { status: response.statusCode, tookMs, body, problem: `The app answered HTTP ${response.statusCode}${body === '' ? '' : `: ${body.slice(0, 300)}`}. Slack shows a warning next to the action.` };
    }
    return { status: response.statusCode, tookMs, body };
  }
}
