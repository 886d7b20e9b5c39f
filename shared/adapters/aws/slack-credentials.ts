import { getSecret } from '@aws-lambda-powertools/parameters/secrets';
import { z } from 'zod';
import { ConfigError, ENV, type SlackConfig } from '../../config.js';

export interface SlackCredentials {
  botToken: string;
  /** Empty when the function does not verify requests (only slack-interactions does). */
  signingSecret: string;
}

const SlackSecretSchema = z.object({
  botToken: z.string().min(1, 'must be the bot token (xoxb-...)'),
  signingSecret: z.string().min(1, "must be the app's signing secret"),
});

/**
 * The Slack bot token and signing secret: `SLACK_BOT_TOKEN` / `SLACK_SIGNING_SECRET` when set (the
 * local stack), else the Secrets Manager secret, read with Powertools parameters. Call it once per
 * cold start; the values never go to logs.
 */
export async function loadSlackCredentials(config: SlackConfig): Promise<SlackCredentials> {
  if (config.botToken !== undefined && config.signingSecret !== undefined) {
    return { botToken: config.botToken, signingSecret: config.signingSecret };
  }
  if (config.secretArn === undefined) {
    if (config.botToken !== undefined) return { botToken: config.botToken, signingSecret: '' };
    throw new ConfigError(`neither ${ENV.slackSecretArn} nor ${ENV.slackBotToken} is set, so the Slack bot token is unknown`);
  }
  const secret: unknown = await getSecret(config.secretArn, { transform: 'json' });
  const parsed = SlackSecretSchema.safeParse(secret);
  if (!parsed.success) {
    // Name the fields, never the values.
    throw new ConfigError(`the Slack secret ${config.secretArn} must be JSON {"botToken": "...", "signingSecret": "..."}: ${parsed.error.issues.map((i) => `${i.path.join('.') || 'secret'}: ${i.message}`).join('; ')}`);
  }
  return { botToken: config.botToken ?? parsed.data.botToken, signingSecret: config.signingSecret ?? parsed.data.signingSecret };
}
