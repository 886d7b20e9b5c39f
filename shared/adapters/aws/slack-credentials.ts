import { getSecret } from '@aws-lambda-powertools/parameters/secrets';
import * as z from 'zod';
import { ConfigError, ENV, type SlackConfig } from '../../config.js';

export interface SlackCredentials {
  botToken: string;
  /** Empty when the function does not verify requests (only slack-interactions does). */
  signingSecret: string;
}

const BotTokenSecretSchema = z.object({ botToken: z.string().min(1, 'must be the bot token (xoxb-...)') });
const SigningSecretSchema = z.object({ signingSecret: z.string().min(1, "must be the app's signing secret") });

/**
 * How long a warm function reuses the Slack secrets before reading them again (Powertools parameters'
 * `maxAge`): after a rotation, a function that was not told (see `SlackCredentialsCache.refresh`) uses
 * the old values for at most this long.
 */
export const SLACK_SECRET_MAX_AGE_SECONDS = 300;
/** Forced refetches (after Slack refused a value) at most this often, so forged requests cannot drive Secrets Manager calls. */
export const SLACK_SECRET_MIN_REFRESH_SECONDS = 30;

export interface ReadOptions {
  /** Read Secrets Manager now, not the cached value (after a signature mismatch or `invalid_auth`). */
  forceFetch?: boolean;
}

async function readSecret<T>(arn: string, schema: z.ZodType<T>, shape: string, options: ReadOptions): Promise<T> {
  const secret: unknown = await getSecret(arn, { transform: 'json', maxAge: SLACK_SECRET_MAX_AGE_SECONDS, forceFetch: options.forceFetch ?? false });
  const parsed = schema.safeParse(secret);
  if (!parsed.success) {
    // Name the fields, never the values.
    throw new ConfigError(`the Slack secret ${arn} must be JSON ${shape}: ${parsed.error.issues.map((i) => `${i.path.join('.') || 'secret'}: ${i.message}`).join('; ')}`);
  }
  return parsed.data;
}

/**
 * The Slack bot token, and for the function that verifies requests the signing secret:
 * `SLACK_BOT_TOKEN` / `SLACK_SIGNING_SECRET` when set (the local stack), else their Secrets Manager
 * secrets, read with Powertools parameters and cached for SLACK_SECRET_MAX_AGE_SECONDS. The values
 * never go to logs.
 */
export async function loadSlackCredentials(config: SlackConfig, options: ReadOptions = {}): Promise<SlackCredentials> {
  const botToken = config.botToken
    ?? (config.botTokenSecretArn === undefined
      ? missing(`neither ${ENV.slackBotTokenSecretArn} nor ${ENV.slackBotToken} is set, so the Slack bot token is unknown`)
      : (await readSecret(config.botTokenSecretArn, BotTokenSecretSchema, '{"botToken": "xoxb-..."}', options)).botToken);
  if (!config.needsSigningSecret) return { botToken, signingSecret: '' };
  const signingSecret = config.signingSecret
    ?? (config.signingSecretArn === undefined
      ? missing(`neither ${ENV.slackSigningSecretArn} nor ${ENV.slackSigningSecret} is set, so Slack's requests cannot be verified`)
      : (await readSecret(config.signingSecretArn, SigningSecretSchema, '{"signingSecret": "..."}', options)).signingSecret);
  return { botToken, signingSecret };
}

/** Slack's answers that mean the bot token is no longer good (rotated, revoked): worth one refetch. */
const SLACK_AUTH_ERRORS = new Set(['invalid_auth', 'not_authed', 'token_revoked', 'token_expired', 'account_inactive']);

/** Whether an error is a Slack Web API call refused for its token (SlackApiError's `code`). */
export function isSlackAuthError(error: unknown): boolean {
  return error instanceof Error && error.name === 'SlackApiError' && SLACK_AUTH_ERRORS.has(String((error as { code?: unknown }).code));
}

export interface SlackCredentialsCacheOptions {
  /** @default loadSlackCredentials */
  load?: (config: SlackConfig, options: ReadOptions) => Promise<SlackCredentials>;
  /** Milliseconds clock for the forced-refetch interval. @default Date.now */
  now?: () => number;
}

/**
 * What a handler builds from the Slack credentials (its deps), kept at module scope: read through
 * Powertools' cache on every invocation (so a rotated secret is picked up within the max age), rebuilt only
 * when the values change, and refetched at once, bypassing the cache, when Slack refuses them
 * (`refresh`). A failed read is tried again on the next call.
 */
export class SlackCredentialsCache<T> {
  private built: { credentials: SlackCredentials; value: T } | undefined;
  private lastForcedAt = Number.NEGATIVE_INFINITY;
  private readonly load: NonNullable<SlackCredentialsCacheOptions['load']>;
  private readonly now: () => number;

  constructor(
    private readonly config: SlackConfig,
    private readonly build: (credentials: SlackCredentials) => T,
    options: SlackCredentialsCacheOptions = {},
  ) {
    this.load = options.load ?? loadSlackCredentials;
    this.now = options.now ?? Date.now;
  }

  async get(): Promise<{ credentials: SlackCredentials; value: T }> {
    return this.use(await this.load(this.config, {}));
  }

  /**
   * After Slack refused the current values (a signature mismatch, `invalid_auth`): reads the secrets again,
   * bypassing the cache, at most once per SLACK_SECRET_MIN_REFRESH_SECONDS. Answers the rebuilt deps when
   * the values changed (try once more with them), undefined when they did not or a refetch ran just now.
   */
  async refresh(): Promise<{ credentials: SlackCredentials; value: T } | undefined> {
    const now = this.now();
    if (now - this.lastForcedAt < SLACK_SECRET_MIN_REFRESH_SECONDS * 1000) return undefined;
    this.lastForcedAt = now;
    const before = this.built?.credentials;
    const after = this.use(await this.load(this.config, { forceFetch: true }));
    return before !== undefined && sameCredentials(before, after.credentials) ? undefined : after;
  }

  /**
   * Runs `work` with the deps; when it fails because Slack refused the bot token (`invalid_auth`, …), forces
   * one refetch before passing the error on, so the caller's retry (the workflow's, Slack's user, a CI
   * pipeline) runs with the new token. No retry here: `work` may have recorded something before Slack refused.
   */
  async run<R>(work: (value: T, credentials: SlackCredentials) => Promise<R>): Promise<R> {
    const { value, credentials } = await this.get();
    try {
      return await work(value, credentials);
    } catch (error) {
      if (isSlackAuthError(error)) await this.refresh();
      throw error;
    }
  }

  private use(credentials: SlackCredentials): { credentials: SlackCredentials; value: T } {
    if (this.built === undefined || !sameCredentials(this.built.credentials, credentials)) {
      this.built = { credentials, value: this.build(credentials) };
    }
    return this.built;
  }
}

function sameCredentials(a: SlackCredentials, b: SlackCredentials): boolean {
  return a.botToken === b.botToken && a.signingSecret === b.signingSecret;
}

function missing(message: string): never {
  throw new ConfigError(message);
}
