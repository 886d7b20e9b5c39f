import { getSecret } from '@aws-lambda-powertools/parameters/secrets';
import { z } from 'zod';
import { ConfigError, ENV, type SlackConfig } from '../../config.js';

export interface SlackCredentials {
  botToken: string;
  /** Empty when the function does not verify requests (only slack-interactions does). */
  signingSecret: string;
}

const BotTokenSecretSchema = z.object({ botToken: z.string().min(1, 'must be the bot token (xoxb-...)') });
const SigningSecretSchema = z.object({ signingSecret: z.string().min(1, "must be the app's signing secret") });

async function readSecret<T>(arn: string, schema: z.ZodType<T>, shape: string): Promise<T> {
  const secret: unknown = await getSecret(arn, { transform: 'json' });
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
 * secrets, read with Powertools parameters. Call it once per cold start; the values never go to logs.
 */
export async function loadSlackCredentials(config: SlackConfig): Promise<SlackCredentials> {
  const botToken = config.botToken
    ?? (config.botTokenSecretArn === undefined
      ? missing(`neither ${ENV.slackBotTokenSecretArn} nor ${ENV.slackBotToken} is set, so the Slack bot token is unknown`)
      : (await readSecret(config.botTokenSecretArn, BotTokenSecretSchema, '{"botToken": "xoxb-..."}')).botToken);
  if (!config.needsSigningSecret) return { botToken, signingSecret: '' };
  const signingSecret = config.signingSecret
    ?? (config.signingSecretArn === undefined
      ? missing(`neither ${ENV.slackSigningSecretArn} nor ${ENV.slackSigningSecret} is set, so Slack's requests cannot be verified`)
      : (await readSecret(config.signingSecretArn, SigningSecretSchema, '{"signingSecret": "..."}')).signingSecret);
  return { botToken, signingSecret };
}

function missing(message: string): never {
  throw new ConfigError(message);
}
