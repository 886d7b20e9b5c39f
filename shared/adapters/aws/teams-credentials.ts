import { getSecret } from '@aws-lambda-powertools/parameters/secrets';
import * as z from 'zod';
import { ConfigError, type TeamsConfig } from '../../config.js';
import type { Directory } from '../../domain/directory.js';
import type { MessageRef, ReviewBoard, ReviewView } from '../../ports/review.js';
import { BotConnectorClient, type TeamsCredentials } from '../teams/bot-connector.js';
import { TeamsReviewChannel } from '../teams/teams-review-channel.js';
import { SLACK_SECRET_MAX_AGE_SECONDS } from './slack-credentials.js';

const GUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
const TeamsSecretSchema = z.object({
  appId: z.string().regex(GUID, "must be the bot's Microsoft App ID (a GUID)"),
  tenantId: z.string().regex(GUID, 'must be the Entra ID tenant id (a GUID) the single-tenant bot is registered in'),
  clientSecret: z.string().min(1, "must be the app registration's client secret"),
});

/** Read with the same max age as the Slack secrets: a rotated client secret is picked up within it. */
export const TEAMS_SECRET_MAX_AGE_SECONDS = SLACK_SECRET_MAX_AGE_SECONDS;

/**
 * The Teams bot's credentials: the local overrides when set, else the Secrets Manager secret, read
 * with Powertools parameters and cached for TEAMS_SECRET_MAX_AGE_SECONDS. The values never go to logs.
 */
export async function loadTeamsCredentials(config: TeamsConfig): Promise<TeamsCredentials> {
  if (config.credentials !== undefined) return config.credentials;
  if (config.secretArn === undefined) throw new ConfigError('the Teams secret ARN is not set, so the bot credentials are unknown');
  const secret: unknown = await getSecret(config.secretArn, { transform: 'json', maxAge: TEAMS_SECRET_MAX_AGE_SECONDS });
  const parsed = TeamsSecretSchema.safeParse(secret);
  if (!parsed.success) {
    // Name the fields, never the values.
    throw new ConfigError(`the Teams secret ${config.secretArn} must be JSON {"appId", "tenantId", "clientSecret"}: ${parsed.error.issues.map((i) => `${i.path.join('.') || 'secret'}: ${i.message}`).join('; ')}`);
  }
  return parsed.data;
}

/** One Bot Connector client per set of credentials, rebuilt when the secret changes (its token cache goes with it). */
export class TeamsClientCache {
  private built: { credentials: TeamsCredentials; client: BotConnectorClient } | undefined;

  constructor(private readonly config: TeamsConfig, private readonly load: (config: TeamsConfig) => Promise<TeamsCredentials> = loadTeamsCredentials) {}

  async get(): Promise<BotConnectorClient> {
    const credentials = await this.load(this.config);
    const same = this.built !== undefined && this.built.credentials.appId === credentials.appId && this.built.credentials.tenantId === credentials.tenantId && this.built.credentials.clientSecret === credentials.clientSecret;
    if (!same || this.built === undefined) {
      this.built = { credentials, client: new BotConnectorClient({ credentials, serviceUrl: this.config.serviceUrl, loginUrl: this.config.loginUrl }) };
    }
    return this.built.client;
  }
}

/** The Teams review board of a handler: the credentials are read (through the cache) on each call. */
export function teamsReviewBoard(cache: TeamsClientCache, directory: Directory): ReviewBoard {
  const board = async () => new TeamsReviewChannel(await cache.get(), directory);
  return {
    postReview: async (channelId: string, view: ReviewView) => (await board()).postReview(channelId, view),
    updateReview: async (message: MessageRef, view: ReviewView) => (await board()).updateReview(message, view),
    postThreadNote: async (message: MessageRef, text: string, mentions: string[], deadline?: string) => (await board()).postThreadNote(message, text, mentions, deadline),
    postAlert: async (channelId: string, text: string) => (await board()).postAlert(channelId, text),
  };
}

/** `{ teams }` for a handler's deps when Teams is configured, `{}` otherwise (reviews go to Slack only). */
export function teamsDepsOf(config: TeamsConfig | undefined, directory: Directory): { teams?: ReviewBoard } {
  return config === undefined ? {} : { teams: teamsReviewBoard(new TeamsClientCache(config), directory) };
}
