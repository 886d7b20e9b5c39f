import { randomBytes, randomUUID } from 'node:crypto';
import type { DirectoryData } from '../../shared/domain/directory.js';
import { jsonResponse, type HttpRequest, type HttpResponse } from '../aws-json-server.js';
import { silentLogger, type Logger } from '../log.js';
import { htmlPageResponse } from '../page-response.js';
import { pageHtml } from '../pages/bundle.js';
import { BotFrameworkIssuer } from './bot-framework-issuer.js';

/**
 * The Microsoft Teams emulator on the local stack's port, the three parts of the Bot Framework the
 * product talks to, and a Teams client in the browser:
 *   POST /teams/login/{tenant}/oauth2/v2.0/token          Entra ID's client-credentials token endpoint
 *   GET  /teams/botframework/openidconfiguration           the OpenID metadata (COUNTERSIGN_TEAMS_OPENID_METADATA_URL)
 *   GET  /teams/botframework/keys                          its JWKS: a key generated at start
 *   POST /teams/connector/v3/conversations                 a new thread in a channel (Bot Connector)
 *   POST /teams/connector/v3/conversations/{id}/activities a reply in a thread
 *   PUT  /teams/connector/v3/conversations/{id}/activities/{activityId}   an update
 *   GET  /teams                                            the page (cards rendered by Microsoft's adaptivecards)
 *   GET  /teams/state?user={aadObjectId}                   what the page shows to one member
 *   POST /teams/act                                        a member taps an Action.Execute -> a signed invoke to the bot
 * The bot's messaging endpoint (the teams-interactions Function URL) is the local stack's
 * `POST /teams/api/messages`; this emulator calls it as the Bot Framework Service does, with a JWT
 * signed by its key, which the handler verifies with its real code.
 */

export const DEFAULT_TEAMS_APP_ID = '0c0de5a1-0000-4000-8000-0000000000b0';
export const DEFAULT_TEAMS_TENANT_ID = '7e7e7e7e-0000-4000-8000-000000000001';
export const DEFAULT_TEAMS_CLIENT_SECRET = 'local-teams-client-secret';

export type BotEndpoint = (request: HttpRequest) => Promise<HttpResponse>;

export interface TeamsEmulatorOptions {
  directory: DirectoryData;
  appId: string;
  tenantId: string;
  clientSecret: string;
  /** The bot's messaging endpoint. */
  bot: BotEndpoint;
  baseUrl: () => string;
  issuer: BotFrameworkIssuer;
  log?: Logger;
}

interface Activity {
  id: string;
  timestamp: string;
  from: { id: string; name: string };
  attachments: unknown[];
  text?: string;
}

interface Thread {
  conversationId: string;
  channelId: string;
  root: Activity;
  replies: Activity[];
}

function header(request: HttpRequest, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function jsonBody(request: HttpRequest): Record<string, unknown> | undefined {
  try {
    const parsed: unknown = JSON.parse(request.body.toString('utf8'));
    return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function text(value: unknown): string {
  return typeof value === 'string' ? value : '';
}

export class TeamsEmulator {
  private readonly tokens = new Set<string>();
  private readonly threads: Thread[] = [];
  /** The card an invoke answered, shown to that member only, until the bot updates the message. */
  private readonly personal = new Map<string, unknown>();
  private seq = 0;

  constructor(private readonly options: TeamsEmulatorOptions) {}

  get serviceUrl(): string {
    return `${this.options.baseUrl()}/teams/connector/`;
  }

  get openIdMetadataUrl(): string {
    return `${this.options.baseUrl()}/teams/botframework/openidconfiguration`;
  }

  get loginUrl(): string {
    return `${this.options.baseUrl()}/teams/login`;
  }

  /** The channels the directory names, by team. */
  channels(): Array<{ id: string; name: string; team: string; group: string; members: string[] }> {
    return Object.entries(this.options.directory.groups).flatMap(([group, entry]) => (entry.teamsChannel === undefined ? [] : [{ ...entry.teamsChannel, group, members: entry.members }]));
  }

  /** Every thread, oldest first (tests and the page). */
  allThreads(): Thread[] {
    return this.threads;
  }

  async handle(request: HttpRequest): Promise<HttpResponse | undefined> {
    const { method } = request;
    const path = request.path;
    if (path === '/teams' || path === '/teams/') {
      if (method !== 'GET' && method !== 'HEAD') return jsonResponse(405, { message: 'GET /teams' });
      const page = await pageHtml('teams');
      return htmlPageResponse((nonce) => page(nonce));
    }
    if (path === '/teams/state') return jsonResponse(200, this.state(new URLSearchParams(request.query).get('user') ?? ''), { 'cache-control': 'no-store' });
    if (path === '/teams/botframework/openidconfiguration') return jsonResponse(200, this.options.issuer.metadata(`${this.options.baseUrl()}/teams/botframework/keys`));
    if (path === '/teams/botframework/keys') return jsonResponse(200, this.options.issuer.jwks());
    const login = /^\/teams\/login\/([^/]+)\/oauth2\/v2\.0\/token$/.exec(path);
    if (login !== null && method === 'POST') return this.token(decodeURIComponent(login[1] ?? ''), request);
    if (path.startsWith('/teams/connector/')) return this.connector(method, path.slice('/teams/connector/'.length), request);
    if (path === '/teams/act') {
      if (method !== 'POST') return jsonResponse(405, { message: 'POST /teams/act' });
      if (!(header(request, 'content-type') ?? '').toLowerCase().startsWith('application/json')) return jsonResponse(415, { message: 'send application/json' });
      const body = jsonBody(request);
      if (body === undefined) return jsonResponse(400, { message: 'the body must be a JSON object' });
      return jsonResponse(200, await this.act({ user: text(body.user), conversationId: text(body.conversationId), verb: text(body.verb), data: (body.data ?? {}) as Record<string, unknown> }));
    }
    return undefined;
  }

  /** Entra ID's client-credentials grant for the one bot this tenant knows. */
  private token(tenant: string, request: HttpRequest): HttpResponse {
    const form = new URLSearchParams(request.body.toString('utf8'));
    const error = (code: string, description: string) => jsonResponse(400, { error: code, error_description: description });
    if (tenant !== this.options.tenantId) return error('invalid_tenant', `tenant ${tenant} is not this directory (${this.options.tenantId}); a single-tenant bot asks its own tenant`);
    if (form.get('grant_type') !== 'client_credentials') return error('unsupported_grant_type', 'only client_credentials');
    if (form.get('client_id') !== this.options.appId || form.get('client_secret') !== this.options.clientSecret) return jsonResponse(401, { error: 'invalid_client', error_description: 'AADSTS7000215: Invalid client secret provided.' });
    if (form.get('scope') !== 'https://api.botframework.com/.default') return error('invalid_scope', 'the scope must be https://api.botframework.com/.default');
    const accessToken = randomBytes(24).toString('base64url');
    this.tokens.add(accessToken);
    return jsonResponse(200, { token_type: 'Bearer', expires_in: 3599, ext_expires_in: 3599, access_token: accessToken });
  }

  private nextId(): string {
    return `${Date.now()}${String(++this.seq).padStart(4, '0')}`;
  }

  private activityOf(body: Record<string, unknown>): Activity | HttpResponse {
    if (body.type !== 'message') return jsonResponse(400, { error: { code: 'BadArgument', message: 'activity.type must be "message"' } });
    const attachments = Array.isArray(body.attachments) ? body.attachments : [];
    if (attachments.length === 0 && typeof body.text !== 'string') return jsonResponse(400, { error: { code: 'BadArgument', message: 'an activity needs text or attachments' } });
    if (JSON.stringify(body).length > 28_000) return jsonResponse(413, { error: { code: 'MessageSizeTooBig', message: 'Message size too big' } });
    return { id: this.nextId(), timestamp: new Date().toISOString(), from: { id: `28:${this.options.appId}`, name: 'Countersign' }, attachments, ...(typeof body.text === 'string' ? { text: body.text } : {}) };
  }

  private connector(method: string, rest: string, request: HttpRequest): HttpResponse {
    const auth = header(request, 'authorization') ?? '';
    if (!auth.startsWith('Bearer ') || !this.tokens.has(auth.slice(7))) return jsonResponse(401, { message: 'Authorization has been denied for this request.' });
    const body = jsonBody(request);
    if (body === undefined) return jsonResponse(400, { error: { code: 'BadSyntax', message: 'the body must be a JSON object' } });
    if (rest === 'v3/conversations' && method === 'POST') {
      const channelId = text((body.channelData as { channel?: { id?: unknown } } | undefined)?.channel?.id);
      if (body.isGroup !== true || !this.channels().some((c) => c.id === channelId)) return jsonResponse(400, { error: { code: 'BadSyntax', message: `no channel ${channelId} in a team the bot is installed in` } });
      const activity = this.activityOf((body.activity ?? {}) as Record<string, unknown>);
      if (!('id' in activity)) return activity;
      const conversationId = `${channelId};messageid=${activity.id}`;
      this.threads.push({ conversationId, channelId, root: activity, replies: [] });
      this.options.log?.step('teams', this.channelLabel(channelId), 'card posted (new thread)', 'dim');
      return jsonResponse(201, { id: conversationId, activityId: activity.id });
    }
    const match = /^v3\/conversations\/([^/]+)\/activities(?:\/([^/]+))?$/.exec(rest);
    if (match === null) return jsonResponse(404, { error: { code: 'NotFound', message: `no Bot Connector route ${method} /${rest}` } });
    const conversationId = decodeURIComponent(match[1] ?? '');
    const thread = this.threads.find((t) => t.conversationId === conversationId);
    if (thread === undefined) return jsonResponse(404, { error: { code: 'ConversationNotFound', message: `no conversation ${conversationId}` } });
    if (method === 'POST' && match[2] === undefined) {
      const activity = this.activityOf(body);
      if (!('id' in activity)) return activity;
      thread.replies.push(activity);
      this.options.log?.step('teams', this.channelLabel(thread.channelId), 'reply in the thread', 'dim');
      return jsonResponse(201, { id: activity.id });
    }
    if (method === 'PUT' && match[2] !== undefined) {
      const activityId = decodeURIComponent(match[2]);
      if (thread.root.id !== activityId) return jsonResponse(404, { error: { code: 'ActivityNotFound', message: `no activity ${activityId}` } });
      const activity = this.activityOf(body);
      if (!('id' in activity)) return activity;
      thread.root = { ...activity, id: activityId, timestamp: thread.root.timestamp };
      for (const key of [...this.personal.keys()]) if (key.startsWith(`${conversationId}|`)) this.personal.delete(key);
      return jsonResponse(200, { id: activityId });
    }
    return jsonResponse(405, { error: { code: 'MethodNotAllowed', message: `${method} /${rest}` } });
  }

  private channelLabel(channelId: string): string {
    const channel = this.channels().find((c) => c.id === channelId);
    return channel === undefined ? channelId : `${channel.team} > ${channel.name}`;
  }

  /** A member taps an Action.Execute: the invoke Teams sends the bot, signed as the Bot Framework signs it. */
  async act(input: { user: string; conversationId: string; verb: string; data: Record<string, unknown> }): Promise<{ status: number; card?: unknown; error?: string }> {
    const thread = this.threads.find((t) => t.conversationId === input.conversationId);
    if (thread === undefined) return { status: 0, error: `no conversation ${input.conversationId}` };
    const member = this.options.directory.members.find((m) => m.teamsAadObjectId === input.user);
    const serviceUrl = this.serviceUrl;
    const activity = {
      type: 'invoke',
      name: 'adaptiveCard/action',
      id: `f:${randomUUID()}`,
      timestamp: new Date().toISOString(),
      channelId: 'msteams',
      serviceUrl,
      from: { id: `29:${input.user}`, aadObjectId: input.user, name: member?.id ?? 'guest' },
      recipient: { id: `28:${this.options.appId}`, name: 'Countersign' },
      conversation: { id: thread.conversationId, conversationType: 'channel', isGroup: true, tenantId: this.options.tenantId },
      channelData: { tenant: { id: this.options.tenantId }, channel: { id: thread.channelId } },
      replyToId: thread.root.id,
      value: { action: { type: 'Action.Execute', verb: input.verb, data: input.data }, trigger: 'manual' },
    };
    const token = await this.options.issuer.sign({ audience: this.options.appId, serviceUrl });
    const started = Date.now();
    const response = await this.options.bot({
      method: 'POST',
      path: '/teams/api/messages',
      query: '',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: Buffer.from(JSON.stringify(activity)),
      remoteAddress: '127.0.0.1',
    });
    const tookMs = Date.now() - started;
    const raw = typeof response.body === 'string' ? response.body : (response.body?.toString('utf8') ?? '');
    let answer: { statusCode?: number; type?: string; value?: unknown; message?: string } = {};
    try {
      answer = JSON.parse(raw) as typeof answer;
    } catch {
      // not JSON: reported below
    }
    (this.options.log ?? silentLogger).step('teams', this.channelLabel(thread.channelId), `${member?.id ?? input.user} tapped "${input.verb}": HTTP ${response.statusCode} in ${tookMs} ms`, response.statusCode === 200 ? 'dim' : 'warn');
    if (response.statusCode === 200 && answer.type === 'application/vnd.microsoft.card.adaptive') {
      this.personal.set(`${thread.conversationId}|${input.user}`, answer.value);
      return { status: 200, card: answer.value };
    }
    const value = answer.value as { message?: string } | undefined;
    return { status: response.statusCode, error: value?.message ?? answer.message ?? `HTTP ${response.statusCode}` };
  }

  /** Everything the page shows to one member: the card each thread shows them (their own refreshed one, else the bot's). */
  state(user: string): Record<string, unknown> {
    const members = this.options.directory.members.flatMap((m) => (m.teamsAadObjectId === undefined ? [] : [{ id: m.teamsAadObjectId, name: m.id, email: m.email }]));
    return {
      tenant: this.options.tenantId,
      users: members.map((m) => ({ ...m, groups: Object.entries(this.options.directory.groups).filter(([, g]) => g.members.includes(m.name)).map(([name]) => name) })),
      channels: this.channels().map((channel) => ({
        ...channel,
        threads: this.threads.filter((t) => t.channelId === channel.id).map((t) => ({
          conversationId: t.conversationId,
          root: { ...t.root, personal: this.personal.has(`${t.conversationId}|${user}`), attachments: this.personal.has(`${t.conversationId}|${user}`) ? [{ contentType: 'application/vnd.microsoft.card.adaptive', content: this.personal.get(`${t.conversationId}|${user}`) }] : t.root.attachments },
          replies: t.replies,
        })),
      })),
    };
  }
}
