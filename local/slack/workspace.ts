import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { DirectoryData } from '../../shared/domain/directory.js';
import { RateLimiter, SLACK_POST_MESSAGE_LIMIT, type RateLimit } from './rate-limit.js';

/**
 * The Slack workspace the local stack emulates: the channels and people of the approver directory,
 * the messages the app posts (with threads and in-place updates), ephemeral messages, open modals
 * and trigger ids. It answers the Web API methods the product uses, plus conversations.list,
 * conversations.history and conversations.replies, with Slack's response shapes and error codes.
 * Emulation only (CONVENTIONS.md rule 6): no product logic lives here.
 */

/** A Web API error: `{ ok: false, error: code, ...extra }` (HTTP 200, or 429 for `ratelimited`). */
export class SlackApiError extends Error {
  constructor(
    readonly code: string,
    readonly extra: Record<string, unknown> = {},
    readonly retryAfterSeconds?: number,
  ) {
    super(code);
    this.name = 'SlackApiError';
  }
}

export type Args = Record<string, unknown>;
export type ApiResult = Record<string, unknown>;

export interface SlackUser {
  id: string;
  name: string;
  realName: string;
  email: string;
}

export interface SlackChannel {
  id: string;
  name: string;
  created: number;
}

/** A message as the Web API returns it. */
export interface SlackMessage {
  type: 'message';
  ts: string;
  user: string;
  text: string;
  team: string;
  bot_id?: string;
  app_id?: string;
  blocks?: unknown[];
  thread_ts?: string;
  parent_user_id?: string;
  reply_count?: number;
  reply_users?: string[];
  reply_users_count?: number;
  latest_reply?: string;
  edited?: { user: string; ts: string };
  bot_profile?: Record<string, unknown>;
}

export interface EphemeralMessage {
  /** `app` for chat.postEphemeral and response_url answers; `slack` for what Slack itself reports. */
  source: 'app' | 'slack';
  channel: string;
  user: string;
  ts: string;
  text: string;
  blocks?: unknown[];
  thread_ts?: string;
}

export interface OpenView {
  view: Record<string, unknown>;
  user: string;
  /** Errors the app answered to the last submission (`response_action: "errors"`), by block_id. */
  errors?: Record<string, string>;
}

interface Trigger {
  user: string;
  createdAt: number;
  exchanged: boolean;
}

export interface SlackWorkspaceOptions {
  directory: DirectoryData;
  /** The bot token the app must present (SLACK_BOT_TOKEN). */
  botToken: string;
  /** chat.postMessage per channel; false turns the limit off (benchmarks). @default 1/s, bursts of 4 */
  rateLimit?: RateLimit | false;
  /** How long a trigger_id can be exchanged for a modal. @default 3000 (Slack: "expires in 3 seconds") */
  triggerTtlMs?: number;
  now?: () => number;
  /**
   * Where the channels' messages and threads are kept across restarts (as Slack keeps them), so a
   * review posted before a restart can still be answered after it. Ephemeral messages and modals
   * are not kept: Slack does not keep them either. @default in memory only
   */
  stateFile?: string;
}

/** What `stateFile` holds. */
interface SavedWorkspace {
  version: 1;
  lastTsMicros: number;
  history: Record<string, SlackMessage[]>;
  replies: Record<string, SlackMessage[]>;
}

/** The saved workspace cannot be used: the message says which file and what to do. */
export class SlackWorkspaceFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SlackWorkspaceFileError';
  }
}

/** Saves are coalesced: a burst of posts writes the file once. */
const SAVE_DELAY_MS = 50;

export const BOT_USER_ID = 'U0COUNTERSIGNBOT';
export const BOT_ID = 'B0COUNTERSIGN';
export const TEAM_DOMAIN = 'countersign-local';
const MAX_TEXT = 40_000;
const MAX_BLOCKS = 50;

function randomId(prefix: string, length = 9): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
  const bytes = randomBytes(length);
  return prefix + Array.from(bytes, (byte) => alphabet[byte % alphabet.length]).join('');
}

function titleCase(id: string): string {
  return id.charAt(0).toUpperCase() + id.slice(1);
}

function stringArg(args: Args, name: string): string | undefined {
  const value = args[name];
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  throw new SlackApiError('invalid_arguments', { response_metadata: { messages: [`[ERROR] ${name} must be a string`] } });
}

/** Form bodies carry JSON arguments as strings; JSON bodies carry them as values. */
function jsonArg(args: Args, name: string, malformed: string): unknown {
  const value = args[name];
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value !== 'string') return value;
  try {
    return JSON.parse(value);
  } catch {
    throw new SlackApiError(malformed, { response_metadata: { messages: [`[ERROR] ${name} is not valid JSON`] } });
  }
}

function blocksArg(args: Args): unknown[] | undefined {
  const blocks = jsonArg(args, 'blocks', 'invalid_blocks_format');
  if (blocks === undefined) return undefined;
  if (!Array.isArray(blocks)) throw new SlackApiError('invalid_blocks_format', { response_metadata: { messages: ['[ERROR] blocks must be an array'] } });
  const problems: string[] = [];
  if (blocks.length > MAX_BLOCKS) problems.push(`[ERROR] no more than ${MAX_BLOCKS} items allowed [json-pointer:/blocks]`);
  blocks.forEach((block, index) => {
    if (typeof block !== 'object' || block === null || typeof (block as { type?: unknown }).type !== 'string') {
      problems.push(`[ERROR] missing required field: type [json-pointer:/blocks/${index}]`);
    }
  });
  if (problems.length > 0) throw new SlackApiError('invalid_blocks', { errors: problems, response_metadata: { messages: problems } });
  return blocks;
}

function intArg(args: Args, name: string, fallback: number, max: number): number {
  const value = args[name];
  if (value === undefined || value === null || value === '') return fallback;
  const number = Number(value);
  if (!Number.isInteger(number) || number < 0) throw new SlackApiError('invalid_limit');
  return Math.min(number === 0 ? fallback : number, max);
}

export class SlackWorkspace {
  readonly teamId: string;
  readonly appId: string;
  readonly users: readonly SlackUser[];
  readonly channels: readonly SlackChannel[];
  private readonly usersById = new Map<string, SlackUser>();
  private readonly channelsById = new Map<string, SlackChannel>();
  /** Top-level messages per channel, oldest first. */
  private readonly history = new Map<string, SlackMessage[]>();
  /** Replies per `${channel}/${thread_ts}`, oldest first. */
  private readonly replies = new Map<string, SlackMessage[]>();
  private readonly ephemerals: EphemeralMessage[] = [];
  private readonly views = new Map<string, OpenView>();
  private readonly triggers = new Map<string, Trigger>();
  private readonly limiter: RateLimiter | undefined;
  private readonly listeners = new Set<() => void>();
  private lastTsMicros = 0;
  private readonly now: () => number;
  private saveTimer: NodeJS.Timeout | undefined;

  constructor(private readonly options: SlackWorkspaceOptions) {
    this.now = options.now ?? Date.now;
    const { directory } = options;
    this.teamId = directory.slack.teamId;
    this.appId = directory.slack.appId;
    this.users = directory.members.map((member) => ({ id: member.slackUserId, name: member.id, realName: titleCase(member.id), email: member.email }));
    for (const user of this.users) this.usersById.set(user.id, user);
    const created = Math.floor(this.now() / 1000);
    this.channels = Object.values(directory.groups).flatMap(({ channel }) => (channel === undefined ? [] : [{ id: channel.id, name: channel.name, created }]));
    for (const channel of this.channels) {
      this.channelsById.set(channel.id, channel);
      this.history.set(channel.id, []);
    }
    this.limiter = options.rateLimit === false ? undefined : new RateLimiter(options.rateLimit ?? SLACK_POST_MESSAGE_LIMIT, this.now);
    this.restore();
  }

  /** Writes the messages now (the stack calls it when it stops). */
  flush(): void {
    if (this.saveTimer !== undefined) clearTimeout(this.saveTimer);
    this.saveTimer = undefined;
    const file = this.options.stateFile;
    if (file === undefined) return;
    const saved: SavedWorkspace = {
      version: 1,
      lastTsMicros: this.lastTsMicros,
      history: Object.fromEntries(this.history),
      replies: Object.fromEntries(this.replies),
    };
    mkdirSync(dirname(file), { recursive: true });
    // Write then rename: a crash mid-write leaves the previous file, never half of one.
    writeFileSync(`${file}.tmp`, JSON.stringify(saved), 'utf8');
    renameSync(`${file}.tmp`, file);
  }

  private restore(): void {
    const file = this.options.stateFile;
    if (file === undefined || !existsSync(file)) return;
    let saved: SavedWorkspace;
    try {
      saved = JSON.parse(readFileSync(file, 'utf8')) as SavedWorkspace;
    } catch (error) {
      throw new SlackWorkspaceFileError(`the local Slack workspace file ${file} cannot be read (${(error as Error).message}); delete it to start with empty channels`);
    }
    if (saved.version !== 1) throw new SlackWorkspaceFileError(`the local Slack workspace file ${file} has version ${String(saved.version)}, not 1; delete it to start with empty channels`);
    this.lastTsMicros = saved.lastTsMicros;
    // Channels the directory no longer has are left out; their messages stay in the file until it is rewritten.
    for (const [channelId, messages] of Object.entries(saved.history)) {
      if (this.channelsById.has(channelId)) this.history.set(channelId, messages);
    }
    for (const [key, messages] of Object.entries(saved.replies)) {
      if (this.channelsById.has(key.split('/')[0] ?? '')) this.replies.set(key, messages);
    }
  }

  /** Told after every change (a message, an update, an ephemeral, a modal). */
  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  user(id: string): SlackUser | undefined {
    return this.usersById.get(id);
  }

  channel(id: string): SlackChannel | undefined {
    return this.channelsById.get(id);
  }

  /** Top-level messages of a channel, oldest first (copies). */
  messages(channelId: string): SlackMessage[] {
    return (this.history.get(channelId) ?? []).map((message) => structuredClone(message));
  }

  threadReplies(channelId: string, threadTs: string): SlackMessage[] {
    return (this.replies.get(`${channelId}/${threadTs}`) ?? []).map((message) => structuredClone(message));
  }

  message(channelId: string, ts: string): SlackMessage | undefined {
    const found = this.findMessage(channelId, ts);
    return found === undefined ? undefined : structuredClone(found);
  }

  ephemeralsFor(userId: string): EphemeralMessage[] {
    return this.ephemerals.filter((ephemeral) => ephemeral.user === userId).map((ephemeral) => structuredClone(ephemeral));
  }

  /** The modal open for a user, if any (Slack shows one stack per user; the emulator keeps the top). */
  openViewFor(userId: string): OpenView | undefined {
    for (const open of this.views.values()) if (open.user === userId) return structuredClone(open);
    return undefined;
  }

  view(viewId: string): OpenView | undefined {
    const open = this.views.get(viewId);
    return open === undefined ? undefined : structuredClone(open);
  }

  closeView(viewId: string): void {
    if (this.views.delete(viewId)) this.changed();
  }

  setViewErrors(viewId: string, errors: Record<string, string>): void {
    const open = this.views.get(viewId);
    if (open === undefined) return;
    open.errors = errors;
    this.changed();
  }

  replaceView(viewId: string, view: Record<string, unknown>): void {
    const open = this.views.get(viewId);
    if (open === undefined) return;
    open.view = this.normalizeView(view, viewId, open.user);
    delete open.errors;
    this.changed();
  }

  /** A trigger_id for an interaction by `userId`, exchangeable once for a modal within the TTL. */
  mintTrigger(userId: string): string {
    const seconds = Math.floor(this.now() / 1000);
    const id = `${seconds}.${Math.floor(Math.random() * 1e13)}.${randomBytes(16).toString('hex')}`;
    this.triggers.set(id, { user: userId, createdAt: this.now(), exchanged: false });
    return id;
  }

  /** An ephemeral message from the platform itself (what Slack shows when an app fails to answer). */
  addSystemNotice(channelId: string, userId: string, text: string): void {
    this.addEphemeral(channelId, userId, text, undefined, 'slack');
  }

  addEphemeral(channelId: string, userId: string, text: string, blocks: unknown[] | undefined, source: EphemeralMessage['source']): void {
    this.ephemerals.push({ source, channel: channelId, user: userId, ts: this.nextTs(), text, ...(blocks === undefined ? {} : { blocks }) });
    this.changed();
  }

  /** `replace_original` through a response_url: the message changes in place. */
  updateFromResponseUrl(channelId: string, ts: string, text: string, blocks: unknown[] | undefined): void {
    const message = this.findMessage(channelId, ts);
    if (message === undefined) return;
    message.text = text;
    if (blocks !== undefined) message.blocks = blocks;
    message.edited = { user: BOT_USER_ID, ts: this.nextTs() };
    this.changed();
  }

  /** `response_type: "in_channel"` through a response_url: a new message from the app. */
  postFromResponseUrl(channelId: string, text: string, blocks: unknown[] | undefined): void {
    const message: SlackMessage = { type: 'message', ts: this.nextTs(), user: BOT_USER_ID, bot_id: BOT_ID, app_id: this.appId, text, team: this.teamId, ...(blocks === undefined ? {} : { blocks }) };
    this.history.get(channelId)?.push(message);
    this.changed();
  }

  /** Answers one Web API method for a caller that presented `token` (undefined when it presented none). */
  call(method: string, args: Args, token: string | undefined): ApiResult {
    if (!Object.hasOwn(this.methods, method)) throw new SlackApiError('unknown_method', { req_method: method });
    if (token === undefined) throw new SlackApiError('not_authed');
    if (token !== this.options.botToken) throw new SlackApiError('invalid_auth');
    const implementation = this.methods[method] as (args: Args) => ApiResult;
    return { ok: true, ...implementation(args) };
  }

  private readonly methods: Record<string, (args: Args) => ApiResult> = {
    'auth.test': () => ({
      url: `https://${TEAM_DOMAIN}.slack.com/`,
      team: 'Countersign (local)',
      user: 'countersign',
      team_id: this.teamId,
      user_id: BOT_USER_ID,
      bot_id: BOT_ID,
      is_enterprise_install: false,
    }),
    'chat.postMessage': (args) => this.postMessage(args),
    'chat.update': (args) => this.update(args),
    'chat.postEphemeral': (args) => this.postEphemeral(args),
    'views.open': (args) => this.openView(args),
    'conversations.list': (args) => this.listConversations(args),
    'conversations.history': (args) => this.conversationHistory(args),
    'conversations.replies': (args) => this.conversationReplies(args),
    'users.info': (args) => {
      const user = this.usersById.get(stringArg(args, 'user') ?? '');
      if (user === undefined) throw new SlackApiError('user_not_found');
      return { user: this.userObject(user) };
    },
  };

  private changed(): void {
    if (this.options.stateFile !== undefined && this.saveTimer === undefined) {
      this.saveTimer = setTimeout(() => this.flush(), SAVE_DELAY_MS);
      this.saveTimer.unref();
    }
    for (const listener of this.listeners) listener();
  }

  /** Slack message timestamps: `seconds.micros`, unique and increasing. */
  private nextTs(): string {
    const micros = Math.max(this.lastTsMicros + 1, this.now() * 1000);
    this.lastTsMicros = micros;
    return `${Math.floor(micros / 1e6)}.${String(micros % 1e6).padStart(6, '0')}`;
  }

  /** A channel by id, or by name with or without `#`. */
  private resolveChannel(args: Args): SlackChannel {
    const given = stringArg(args, 'channel');
    if (given === undefined) throw new SlackApiError('channel_not_found');
    const byId = this.channelsById.get(given);
    if (byId !== undefined) return byId;
    const name = given.replace(/^#/, '');
    const byName = this.channels.find((channel) => channel.name === name);
    if (byName === undefined) throw new SlackApiError('channel_not_found');
    return byName;
  }

  private findMessage(channelId: string, ts: string): SlackMessage | undefined {
    const top = this.history.get(channelId)?.find((message) => message.ts === ts);
    if (top !== undefined) return top;
    for (const [key, thread] of this.replies) {
      if (!key.startsWith(`${channelId}/`)) continue;
      const reply = thread.find((message) => message.ts === ts);
      if (reply !== undefined) return reply;
    }
    return undefined;
  }

  private content(args: Args): { text: string; blocks?: unknown[] } {
    const blocks = blocksArg(args);
    const text = stringArg(args, 'text') ?? '';
    if (text === '' && blocks === undefined) throw new SlackApiError('no_text');
    if (text.length > MAX_TEXT) throw new SlackApiError('msg_too_long');
    return blocks === undefined ? { text } : { text, blocks };
  }

  private botProfile(): Record<string, unknown> {
    return { id: BOT_ID, app_id: this.appId, name: 'Countersign', deleted: false, team_id: this.teamId, updated: Math.floor(this.now() / 1000) };
  }

  private postMessage(args: Args): ApiResult {
    const channel = this.resolveChannel(args);
    const content = this.content(args);
    const threadTs = stringArg(args, 'thread_ts');
    let parent: SlackMessage | undefined;
    if (threadTs !== undefined) {
      parent = this.history.get(channel.id)?.find((message) => message.ts === threadTs);
      if (parent === undefined) throw new SlackApiError('thread_not_found');
    }
    const retryAfter = this.limiter?.take(`chat.postMessage/${channel.id}`) ?? null;
    if (retryAfter !== null) throw new SlackApiError('ratelimited', {}, retryAfter);
    const ts = this.nextTs();
    const message: SlackMessage = {
      type: 'message',
      ts,
      user: BOT_USER_ID,
      bot_id: BOT_ID,
      app_id: this.appId,
      text: content.text,
      team: this.teamId,
      bot_profile: this.botProfile(),
      ...(content.blocks === undefined ? {} : { blocks: content.blocks }),
    };
    if (parent !== undefined) {
      message.thread_ts = parent.ts;
      message.parent_user_id = parent.user;
      const key = `${channel.id}/${parent.ts}`;
      const thread = this.replies.get(key) ?? [];
      thread.push(message);
      this.replies.set(key, thread);
      parent.thread_ts = parent.ts;
      parent.reply_count = thread.length;
      parent.reply_users = [...new Set(thread.map((reply) => reply.user))];
      parent.reply_users_count = parent.reply_users.length;
      parent.latest_reply = ts;
    } else {
      this.history.get(channel.id)?.push(message);
    }
    this.changed();
    return { channel: channel.id, ts, message: structuredClone(message) };
  }

  private update(args: Args): ApiResult {
    const channel = this.resolveChannel(args);
    const ts = stringArg(args, 'ts');
    if (ts === undefined) throw new SlackApiError('message_not_found');
    const message = this.findMessage(channel.id, ts);
    if (message === undefined) throw new SlackApiError('message_not_found');
    if (message.user !== BOT_USER_ID) throw new SlackApiError('cant_update_message');
    const blocks = blocksArg(args);
    const text = stringArg(args, 'text');
    if (text === undefined && blocks === undefined) throw new SlackApiError('no_text');
    if (text !== undefined && text.length > MAX_TEXT) throw new SlackApiError('msg_too_long');
    if (text !== undefined) message.text = text;
    if (blocks !== undefined) message.blocks = blocks;
    message.edited = { user: BOT_USER_ID, ts: this.nextTs() };
    this.changed();
    return { channel: channel.id, ts, text: message.text, message: structuredClone(message) };
  }

  private postEphemeral(args: Args): ApiResult {
    const channel = this.resolveChannel(args);
    const userId = stringArg(args, 'user');
    if (userId === undefined || !this.usersById.has(userId)) throw new SlackApiError('user_not_found');
    const content = this.content(args);
    const threadTs = stringArg(args, 'thread_ts');
    const ts = this.nextTs();
    this.ephemerals.push({ source: 'app', channel: channel.id, user: userId, ts, ...content, ...(threadTs === undefined ? {} : { thread_ts: threadTs }) });
    this.changed();
    return { message_ts: ts };
  }

  private openView(args: Args): ApiResult {
    const triggerId = stringArg(args, 'trigger_id') ?? stringArg(args, 'interactivity_pointer');
    if (triggerId === undefined) throw new SlackApiError('invalid_arguments', { response_metadata: { messages: ['[ERROR] missing required field: trigger_id'] } });
    const view = jsonArg(args, 'view', 'invalid_arguments');
    if (typeof view !== 'object' || view === null || Array.isArray(view)) {
      throw new SlackApiError('invalid_arguments', { response_metadata: { messages: ['[ERROR] missing required field: view'] } });
    }
    const shaped = view as Record<string, unknown>;
    if (shaped.type !== 'modal' || !Array.isArray(shaped.blocks) || typeof shaped.title !== 'object') {
      throw new SlackApiError('invalid_arguments', { response_metadata: { messages: ['[ERROR] a modal view needs type "modal", a title and blocks'] } });
    }
    if (!/^\d+\.\d+\.[0-9a-f]+$/.test(triggerId)) throw new SlackApiError('invalid_trigger_id');
    const trigger = this.triggers.get(triggerId);
    if (trigger === undefined) throw new SlackApiError('invalid_trigger_id');
    if (trigger.exchanged) throw new SlackApiError('exchanged_trigger_id');
    if (this.now() - trigger.createdAt > (this.options.triggerTtlMs ?? 3000)) throw new SlackApiError('expired_trigger_id');
    trigger.exchanged = true;
    // One modal per user here: a new one replaces what that user had open.
    for (const [id, open] of this.views) if (open.user === trigger.user) this.views.delete(id);
    const viewId = randomId('V0');
    const stored = this.normalizeView(shaped, viewId, trigger.user);
    this.views.set(viewId, { view: stored, user: trigger.user });
    this.changed();
    return { view: structuredClone(stored) };
  }

  /** The view as Slack echoes it back: ids, hash, state, and a block_id on every block. */
  private normalizeView(view: Record<string, unknown>, viewId: string, _user: string): Record<string, unknown> {
    const blocks = (Array.isArray(view.blocks) ? view.blocks : []).map((block: unknown) => {
      const shaped = { ...(block as Record<string, unknown>) };
      if (typeof shaped.block_id !== 'string') shaped.block_id = randomBytes(3).toString('base64url');
      return shaped;
    });
    return {
      id: viewId,
      team_id: this.teamId,
      type: 'modal',
      private_metadata: '',
      callback_id: '',
      external_id: '',
      clear_on_close: false,
      notify_on_close: false,
      close: null,
      submit: null,
      ...view,
      blocks,
      state: { values: {} },
      hash: `${Math.floor(this.now() / 1000)}.${randomBytes(4).toString('hex')}`,
      previous_view_id: null,
      root_view_id: viewId,
      app_id: this.appId,
      app_installed_team_id: this.teamId,
      bot_id: BOT_ID,
    };
  }

  private channelObject(channel: SlackChannel): Record<string, unknown> {
    return {
      id: channel.id,
      name: channel.name,
      is_channel: true,
      is_group: false,
      is_im: false,
      is_private: false,
      is_archived: false,
      is_general: false,
      is_member: true,
      is_shared: false,
      created: channel.created,
      creator: BOT_USER_ID,
      name_normalized: channel.name,
      num_members: this.users.length + 1,
      topic: { value: '', creator: '', last_set: 0 },
      purpose: { value: `Countersign approvals for ${channel.name.replace(/^approvals-/, '')}`, creator: '', last_set: 0 },
    };
  }

  private userObject(user: SlackUser): Record<string, unknown> {
    return {
      id: user.id,
      team_id: this.teamId,
      name: user.name,
      real_name: user.realName,
      deleted: false,
      is_bot: false,
      profile: { real_name: user.realName, display_name: user.name, email: user.email },
    };
  }

  private listConversations(args: Args): ApiResult {
    const limit = intArg(args, 'limit', 100, 1000);
    const cursor = stringArg(args, 'cursor');
    const start = cursor === undefined ? 0 : Number(Buffer.from(cursor, 'base64').toString('utf8').replace(/^offset:/, ''));
    if (!Number.isInteger(start) || start < 0) throw new SlackApiError('invalid_cursor');
    const page = this.channels.slice(start, start + limit);
    const next = start + limit < this.channels.length ? Buffer.from(`offset:${start + limit}`).toString('base64') : '';
    return { channels: page.map((channel) => this.channelObject(channel)), response_metadata: { next_cursor: next } };
  }

  /** Newest first; only top-level messages (a thread parent carries thread_ts, reply_count, latest_reply). */
  private conversationHistory(args: Args): ApiResult {
    const channel = this.resolveChannel(args);
    const limit = intArg(args, 'limit', 100, 999);
    const latest = stringArg(args, 'latest');
    const oldest = stringArg(args, 'oldest');
    const inclusive = args.inclusive === true || args.inclusive === 'true' || args.inclusive === '1';
    const inRange = (ts: string) => {
      const value = Number(ts);
      if (latest !== undefined && (inclusive ? value > Number(latest) : value >= Number(latest))) return false;
      if (oldest !== undefined && (inclusive ? value < Number(oldest) : value <= Number(oldest))) return false;
      return true;
    };
    const matching = [...(this.history.get(channel.id) ?? [])].reverse().filter((message) => inRange(message.ts));
    const page = matching.slice(0, limit);
    return {
      messages: page.map((message) => structuredClone(message)),
      has_more: matching.length > page.length,
      pin_count: 0,
      response_metadata: { next_cursor: '' },
    };
  }

  /** The parent then its replies, oldest first. */
  private conversationReplies(args: Args): ApiResult {
    const channel = this.resolveChannel(args);
    const ts = stringArg(args, 'ts');
    const parent = ts === undefined ? undefined : this.history.get(channel.id)?.find((message) => message.ts === ts);
    if (parent === undefined || ts === undefined) throw new SlackApiError('thread_not_found');
    const limit = intArg(args, 'limit', 1000, 1000);
    const all = [parent, ...(this.replies.get(`${channel.id}/${ts}`) ?? [])];
    return { messages: all.slice(0, limit).map((message) => structuredClone(message)), has_more: all.length > limit, response_metadata: { next_cursor: '' } };
  }
}
