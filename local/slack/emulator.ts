import type { DirectoryData } from '../../shared/domain/directory.js';
import { jsonResponse, type HttpRequest, type HttpResponse } from '../aws-json-server.js';
import { silentLogger, type Logger } from '../log.js';
import { InteractionError, SlackInteractions, type InteractionsEndpoint } from './interactions.js';
import { slackPageHtml } from './page.js';
import { htmlPageResponse } from '../page-response.js';
import type { RateLimit } from './rate-limit.js';
import { handleSlackWebApi } from './web-api.js';
import { SlackWorkspace } from './workspace.js';

/**
 * The Slack workspace emulator on the local stack's port:
 *   POST /api/<method>              the Web API (`slackApiUrl: '<url>/api/'`)
 *   GET  /slack                     the workspace page
 *   GET  /slack/state?user=U…       what the page shows to one member
 *   POST /slack/act                 a member taps a button        -> signed block_actions to the app
 *   POST /slack/views/submit        a member submits a modal      -> signed view_submission to the app
 *   POST /slack/views/close         a member cancels a modal
 *   POST /slack/response-url/<id>   the response_url of a block_actions payload
 * The page's own endpoints take JSON only, so another site open in the same browser cannot post
 * to them with a plain form.
 */

export const DEFAULT_SLACK_BOT_TOKEN = 'xoxb-local-countersign';
export const DEFAULT_SLACK_SIGNING_SECRET = 'local-signing-secret';

export interface SlackEmulatorOptions {
  directory: DirectoryData;
  botToken: string;
  signingSecret: string;
  /** The app's interactivity request URL (the slack-interactions Function URL). */
  interactions: InteractionsEndpoint;
  baseUrl: () => string;
  rateLimit?: RateLimit | false;
  /** Shown on the page. @default 1 */
  timeScale?: number;
  /** One line per tap and modal submission. */
  log?: Logger;
  /** Keeps the channels' messages across restarts. @default in memory only */
  stateFile?: string;
}

function header(request: HttpRequest, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function readJson(request: HttpRequest): Record<string, unknown> | HttpResponse {
  if (!(header(request, 'content-type') ?? '').toLowerCase().startsWith('application/json')) {
    return jsonResponse(415, { message: 'send application/json' });
  }
  try {
    const parsed: unknown = JSON.parse(request.body.toString('utf8'));
    if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) return parsed as Record<string, unknown>;
  } catch {
    // answered below
  }
  return jsonResponse(400, { message: 'the body must be a JSON object' });
}

function text(value: unknown): string {
  return typeof value === 'string' ? value : '';
}

export class SlackEmulator {
  readonly workspace: SlackWorkspace;
  readonly interactions: SlackInteractions;
  private readonly groupsOf = new Map<string, string[]>();
  /** The agents each member owns, by Slack user id (the page shows who cannot approve what). */
  private readonly agentsOf = new Map<string, string[]>();
  /** The group each channel asks, and its members' Slack user ids. */
  private readonly groupOfChannel = new Map<string, { group: string; members: string[] }>();

  constructor(private readonly options: SlackEmulatorOptions) {
    this.workspace = new SlackWorkspace({
      directory: options.directory,
      botToken: options.botToken,
      ...(options.rateLimit === undefined ? {} : { rateLimit: options.rateLimit }),
      ...(options.stateFile === undefined ? {} : { stateFile: options.stateFile }),
    });
    this.interactions = new SlackInteractions({
      workspace: this.workspace,
      signingSecret: options.signingSecret,
      endpoint: options.interactions,
      baseUrl: options.baseUrl,
    });
    const slackIdOf = (memberId: string) => options.directory.members.find((member) => member.id === memberId)?.slackUserId;
    for (const [group, { members, channel }] of Object.entries(options.directory.groups)) {
      const slackIds: string[] = [];
      for (const memberId of members) {
        const slackId = slackIdOf(memberId);
        if (slackId === undefined) continue;
        slackIds.push(slackId);
        this.groupsOf.set(slackId, [...(this.groupsOf.get(slackId) ?? []), group]);
      }
      if (channel !== undefined) this.groupOfChannel.set(channel.id, { group, members: slackIds });
    }
    for (const [agent, { owners }] of Object.entries(options.directory.agents)) {
      for (const owner of owners) {
        const slackId = slackIdOf(owner);
        if (slackId !== undefined) this.agentsOf.set(slackId, [...(this.agentsOf.get(slackId) ?? []), agent]);
      }
    }
  }

  /** Answers a request on one of the emulator's routes; undefined when the path is not one. */
  async handle(request: HttpRequest): Promise<HttpResponse | undefined> {
    const { path, method } = request;
    const api = /^\/api\/([A-Za-z0-9._]+)$/.exec(path);
    if (api !== null) return handleSlackWebApi(request, this.workspace, api[1] ?? '');
    if (path === '/slack' || path === '/slack/') {
      if (method !== 'GET' && method !== 'HEAD') return jsonResponse(405, { message: 'GET /slack' });
      return this.page();
    }
    if (path === '/slack/state') {
      const user = new URLSearchParams(request.query).get('user') ?? this.workspace.users[0]?.id ?? '';
      return jsonResponse(200, this.state(user), { 'cache-control': 'no-store' });
    }
    const responseUrl = /^\/slack\/response-url\/([0-9a-f]+)$/.exec(path);
    if (responseUrl !== null && method === 'POST') {
      let body: unknown;
      try {
        body = JSON.parse(request.body.toString('utf8'));
      } catch {
        return jsonResponse(400, { ok: false, error: 'invalid_payload' });
      }
      const answer = this.interactions.respond(responseUrl[1] ?? '', body);
      return jsonResponse(answer.statusCode, answer.body);
    }
    const pageActions: Record<string, (body: Record<string, unknown>) => Promise<unknown>> = {
      '/slack/act': (body) => this.interactions.clickButton({
        userId: text(body.user), channel: text(body.channel), ts: text(body.ts), actionId: text(body.actionId),
        ...(typeof body.blockId === 'string' && body.blockId !== '' ? { blockId: body.blockId } : {}),
      }),
      '/slack/views/submit': (body) => this.interactions.submitView({
        userId: text(body.user), viewId: text(body.viewId),
        values: (typeof body.values === 'object' && body.values !== null ? body.values : {}) as Record<string, Record<string, string>>,
      }),
      '/slack/views/close': (body) => this.interactions.closeView({ userId: text(body.user), viewId: text(body.viewId) }),
    };
    const action = Object.hasOwn(pageActions, path) ? pageActions[path] : undefined;
    if (action !== undefined) {
      if (method !== 'POST') return jsonResponse(405, { message: `POST ${path}` });
      const body = readJson(request);
      if ('statusCode' in body && typeof body.statusCode === 'number') return body as HttpResponse;
      try {
        const result = await action(body as Record<string, unknown>);
        this.report(path, body as Record<string, unknown>, result as { status?: number; tookMs?: number; problem?: string; closed?: boolean; errors?: Record<string, string> });
        return jsonResponse(200, result);
      } catch (error) {
        if (error instanceof InteractionError) return jsonResponse(error.statusCode, { message: error.message });
        throw error;
      }
    }
    return undefined;
  }

  private report(path: string, body: Record<string, unknown>, result: { status?: number; tookMs?: number; problem?: string; closed?: boolean; errors?: Record<string, string> }): void {
    const log = this.options.log ?? silentLogger;
    const who = this.workspace.user(text(body.user))?.name ?? text(body.user);
    const answered = result.status === 0 ? 'not sent' : `HTTP ${String(result.status)} in ${String(result.tookMs)} ms`;
    const tone = result.problem !== undefined ? 'warn' : 'dim';
    if (path === '/slack/act') {
      const channel = this.workspace.channel(text(body.channel));
      log.step('slack', `#${channel?.name ?? text(body.channel)}`, `${who} tapped "${text(body.actionId)}": ${answered}${result.problem === undefined ? '' : ` - ${result.problem}`}`, tone);
    } else if (path === '/slack/views/submit') {
      const outcome = result.closed === true ? 'modal closed' : `modal kept open${result.errors === undefined ? '' : `: ${Object.values(result.errors).join('; ')}`}`;
      log.step('slack', 'modal', `${who} submitted: ${answered}, ${outcome}`, tone);
    }
  }

  /** Everything the page shows to one member. */
  state(userId: string): Record<string, unknown> {
    const { workspace } = this;
    const open = workspace.openViewFor(userId);
    return {
      team: { id: workspace.teamId, name: 'Countersign (local Slack)' },
      timeScale: this.options.timeScale ?? 1,
      users: workspace.users.map((user) => ({ id: user.id, name: user.name, realName: user.realName, groups: this.groupsOf.get(user.id) ?? [], owns: this.agentsOf.get(user.id) ?? [] })),
      channels: workspace.channels.map((channel) => ({
        id: channel.id,
        name: channel.name,
        group: this.groupOfChannel.get(channel.id)?.group ?? null,
        purpose: `Countersign approvals for ${this.groupOfChannel.get(channel.id)?.group ?? channel.name}`,
        members: this.groupOfChannel.get(channel.id)?.members ?? [],
        messages: workspace.messages(channel.id).map((message) => ({ ...message, replies: message.reply_count ? workspace.threadReplies(channel.id, message.ts) : [] })),
      })),
      ephemerals: workspace.ephemeralsFor(userId),
      modal: open === undefined ? null : { view: open.view, errors: open.errors ?? null },
    };
  }

  private page(): HttpResponse {
    return htmlPageResponse((nonce) => slackPageHtml({ nonce, teamName: 'Countersign (local Slack)' }));
  }

}
