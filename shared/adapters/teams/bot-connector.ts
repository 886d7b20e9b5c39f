/**
 * The Bot Framework's outbound side with plain `fetch`: an Entra ID token by the client-credentials
 * flow of a single-tenant bot, and the Bot Connector REST calls the review functions make.
 *
 * - Token: `POST https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token`, form
 *   `grant_type=client_credentials`, `client_id`, `client_secret`, `scope=https://api.botframework.com/.default`
 *   (botframework-connector's AuthenticationConstants: ToChannelFromBotLoginUrlPrefix,
 *   ToChannelFromBotTokenEndpointPath, ToChannelFromBotOAuthScope). Single tenant: the bot's own tenant,
 *   not `botframework.com`, which only multi-tenant registrations (no longer offered) use.
 * - A new thread in a channel: `POST {serviceUrl}/v3/conversations` with `isGroup`, `channelData.channel.id`
 *   and the `activity`; the answer's `id` is the thread's conversation id and `activityId` the card's.
 * - A reply in the thread: `POST {serviceUrl}/v3/conversations/{threadId}/activities`.
 * - An update: `PUT {serviceUrl}/v3/conversations/{threadId}/activities/{activityId}`.
 */

export interface TeamsCredentials {
  /** The bot's Microsoft App ID (the Entra ID app registration's client id). */
  appId: string;
  /** The tenant the single-tenant bot is registered in, and the only one it serves. */
  tenantId: string;
  clientSecret: string;
}

export interface BotConnectorOptions {
  credentials: TeamsCredentials;
  /** Bot Connector base URL, e.g. https://smba.trafficmanager.net/teams/ (the local emulator's locally). */
  serviceUrl: string;
  /** Entra ID authority, e.g. https://login.microsoftonline.com (the local emulator's locally). */
  loginUrl: string;
  /** @default globalThis.fetch */
  fetch?: typeof fetch;
  /** Milliseconds clock. @default Date.now */
  now?: () => number;
  /** Per request. @default 5000 */
  timeoutMs?: number;
}

export const BOT_FRAMEWORK_SCOPE = 'https://api.botframework.com/.default';
export const DEFAULT_LOGIN_URL = 'https://login.microsoftonline.com';
/** Renew a token this long before it expires. */
const TOKEN_RENEW_MS = 5 * 60 * 1000;
const MAX_ATTEMPTS = 3;

/** A Bot Connector or Entra ID call that failed, with the HTTP status (0: no answer). */
export class BotConnectorError extends Error {
  constructor(readonly operation: string, readonly status: number, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'BotConnectorError';
  }
}

export interface ConversationResource {
  /** The thread's conversation id: `<channel id>;messageid=<activity id>`. */
  id: string;
  activityId: string;
}

function joinUrl(base: string, path: string): string {
  return `${base.replace(/\/+$/, '')}/${path.replace(/^\/+/, '')}`;
}

/** Client-credentials tokens and the Bot Connector REST calls, retried on 429 / 5xx (Retry-After honoured, bounded). */
export class BotConnectorClient {
  private token: { value: string; expiresAt: number } | undefined;
  private readonly fetch: typeof fetch;
  private readonly now: () => number;
  private readonly timeoutMs: number;

  constructor(private readonly options: BotConnectorOptions) {
    this.fetch = options.fetch ?? globalThis.fetch;
    this.now = options.now ?? Date.now;
    this.timeoutMs = options.timeoutMs ?? 5_000;
  }

  get appId(): string {
    return this.options.credentials.appId;
  }

  /** A token for the Bot Connector, cached until shortly before it expires. */
  async accessToken(): Promise<string> {
    if (this.token !== undefined && this.token.expiresAt - TOKEN_RENEW_MS > this.now()) return this.token.value;
    const { appId, tenantId, clientSecret } = this.options.credentials;
    const url = joinUrl(this.options.loginUrl, `${encodeURIComponent(tenantId)}/oauth2/v2.0/token`);
    const body = new URLSearchParams({ grant_type: 'client_credentials', client_id: appId, client_secret: clientSecret, scope: BOT_FRAMEWORK_SCOPE });
    const response = await this.send('token', url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: body.toString() });
    const json = (await response.json()) as { access_token?: unknown; expires_in?: unknown };
    if (typeof json.access_token !== 'string' || typeof json.expires_in !== 'number') {
      throw new BotConnectorError('token', response.status, 'Entra ID answered the client-credentials request without access_token and expires_in');
    }
    this.token = { value: json.access_token, expiresAt: this.now() + json.expires_in * 1000 };
    return this.token.value;
  }

  /** Starts a thread in a Teams channel with `activity` as its first message. */
  async createChannelThread(channelId: string, activity: Record<string, unknown>): Promise<ConversationResource> {
    const answer = await this.call('create conversation', 'POST', 'v3/conversations', {
      isGroup: true,
      channelData: { channel: { id: channelId }, tenant: { id: this.options.credentials.tenantId } },
      tenantId: this.options.credentials.tenantId,
      activity,
    });
    if (typeof answer.id !== 'string' || typeof answer.activityId !== 'string') {
      throw new BotConnectorError('create conversation', 200, 'the Bot Connector answered without the thread id and activity id');
    }
    return { id: answer.id, activityId: answer.activityId };
  }

  /** Posts an activity to a conversation (a reply, when the conversation is a channel thread). */
  async sendToConversation(conversationId: string, activity: Record<string, unknown>): Promise<{ id: string }> {
    const answer = await this.call('send to conversation', 'POST', `v3/conversations/${encodeURIComponent(conversationId)}/activities`, activity);
    return { id: typeof answer.id === 'string' ? answer.id : '' };
  }

  /** Replaces an activity the bot sent. */
  async updateActivity(conversationId: string, activityId: string, activity: Record<string, unknown>): Promise<void> {
    await this.call('update activity', 'PUT', `v3/conversations/${encodeURIComponent(conversationId)}/activities/${encodeURIComponent(activityId)}`, { ...activity, id: activityId });
  }

  private async call(operation: string, method: string, path: string, body: unknown): Promise<Record<string, unknown>> {
    const token = await this.accessToken();
    const response = await this.send(operation, joinUrl(this.options.serviceUrl, path), {
      method,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json; charset=utf-8' },
      body: JSON.stringify(body),
    });
    if (response.status === 401 || response.status === 403) this.token = undefined;
    const text = await response.text();
    return text === '' ? {} : (JSON.parse(text) as Record<string, unknown>);
  }

  private async send(operation: string, url: string, init: RequestInit): Promise<Response> {
    for (let attempt = 1; ; attempt++) {
      let response: Response;
      try {
        response = await this.fetch(url, { ...init, signal: AbortSignal.timeout(this.timeoutMs) });
      } catch (error) {
        if (attempt >= MAX_ATTEMPTS) throw new BotConnectorError(operation, 0, `${operation}: no answer from ${new URL(url).host}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
        await pause(250 * attempt);
        continue;
      }
      if (response.ok) return response;
      const retryable = response.status === 429 || response.status >= 500;
      if (!retryable || attempt >= MAX_ATTEMPTS) {
        const detail = (await response.text()).slice(0, 300);
        throw new BotConnectorError(operation, response.status, `${operation} answered HTTP ${response.status}: ${detail}`);
      }
      const retryAfter = Number(response.headers.get('retry-after'));
      await pause(Number.isFinite(retryAfter) && retryAfter > 0 ? Math.min(retryAfter, 10) * 1000 : 250 * attempt);
    }
  }
}

function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
