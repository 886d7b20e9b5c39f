import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { Context, LambdaFunctionURLEvent } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { SlackApiError } from '../../shared/adapters/slack/slack-review-channel.js';
import { SLACK_SECRET_MIN_REFRESH_SECONDS, SlackCredentialsCache, type SlackCredentials } from '../../shared/adapters/aws/slack-credentials.js';
import type { SlackConfig } from '../../shared/config.js';
import { signSlackRequest } from '../../shared/slack/verify-signature.js';

/**
 * Rotating a Slack secret takes effect without waiting for the functions to recycle: the values are read
 * with a max age, and Slack refusing them (a signature that does not match, `invalid_auth`) forces one
 * refetch, at most every SLACK_SECRET_MIN_REFRESH_SECONDS.
 */

const config: SlackConfig = { botTokenSecretArn: 'arn:bot', signingSecretArn: 'arn:signing', needsSigningSecret: true, botToken: undefined, signingSecret: undefined, apiUrl: undefined };

function fakeSecrets(initial: SlackCredentials) {
  let current = initial;
  const reads: Array<{ forceFetch: boolean }> = [];
  return {
    rotate: (next: Partial<SlackCredentials>) => { current = { ...current, ...next }; },
    reads,
    load: async (_config: SlackConfig, options: { forceFetch?: boolean }) => { reads.push({ forceFetch: options.forceFetch ?? false }); return current; },
  };
}

describe('SlackCredentialsCache', () => {
  it('builds the deps once per set of values, and again only when a read returns new ones', async () => {
    const secrets = fakeSecrets({ botToken: 'xoxb-1', signingSecret: 's1' });
    const builds: string[] = [];
    const cache = new SlackCredentialsCache(config, ({ botToken }) => { builds.push(botToken); return { botToken }; }, { load: secrets.load });
    expect((await cache.get()).value).toEqual({ botToken: 'xoxb-1' });
    await cache.get();
    secrets.rotate({ botToken: 'xoxb-2' });
    expect((await cache.get()).value).toEqual({ botToken: 'xoxb-2' });
    expect(builds).toEqual(['xoxb-1', 'xoxb-2']);
    expect(secrets.reads).toEqual([{ forceFetch: false }, { forceFetch: false }, { forceFetch: false }]);
  });

  it('refresh bypasses the cache, answers the new deps only when the values changed, and runs at most once per interval', async () => {
    let now = 1_000_000;
    const secrets = fakeSecrets({ botToken: 'xoxb-1', signingSecret: 's1' });
    const cache = new SlackCredentialsCache(config, (credentials) => credentials.signingSecret, { load: secrets.load, now: () => now });
    await cache.get();
    expect(await cache.refresh()).toBeUndefined(); // same values: nothing to try again with
    expect(secrets.reads.at(-1)).toEqual({ forceFetch: true });
    secrets.rotate({ signingSecret: 's2' });
    now += 1_000;
    expect(await cache.refresh()).toBeUndefined(); // within the interval: no read at all
    expect(secrets.reads).toHaveLength(2);
    now += SLACK_SECRET_MIN_REFRESH_SECONDS * 1000;
    expect((await cache.refresh())?.value).toBe('s2');
    expect(secrets.reads.at(-1)).toEqual({ forceFetch: true });
  });

  it('run forces one refetch when Slack refuses the bot token, and passes the error on; other errors read nothing', async () => {
    const secrets = fakeSecrets({ botToken: 'xoxb-old', signingSecret: '' });
    const cache = new SlackCredentialsCache(config, ({ botToken }) => botToken, { load: secrets.load });
    const refused = new SlackApiError('chat.postMessage', 'invalid_auth', 'Slack chat.postMessage failed: invalid_auth');
    await expect(cache.run(async () => { throw refused; })).rejects.toBe(refused);
    expect(secrets.reads).toEqual([{ forceFetch: false }, { forceFetch: true }]);
    secrets.rotate({ botToken: 'xoxb-new' });
    expect(await cache.run(async (token) => token)).toBe('xoxb-new');
    const other = new SlackApiError('chat.postMessage', 'channel_not_found', 'Slack chat.postMessage failed: channel_not_found');
    await expect(cache.run(async () => { throw other; })).rejects.toBe(other);
    expect(secrets.reads.filter((read) => read.forceFetch)).toHaveLength(1);
  });
});

describe('slack-interactions after the signing secret is rotated (Secrets Manager mocked)', () => {
  const secrets = mockClient(SecretsManagerClient);
  let signing = 'signing-before';
  let handler: (event: LambdaFunctionURLEvent, context: Context) => Promise<{ statusCode?: number; body?: string }>;
  const context = { functionName: 'test', awsRequestId: 'req-1' } as unknown as Context;

  beforeAll(async () => {
    secrets.on(GetSecretValueCommand, { SecretId: 'arn:rotation-bot' }).resolves({ SecretString: JSON.stringify({ botToken: 'xoxb-rotation' }) });
    secrets.on(GetSecretValueCommand, { SecretId: 'arn:rotation-signing' }).callsFake(async () => ({ SecretString: JSON.stringify({ signingSecret: signing }) }));
    vi.stubEnv('COUNTERSIGN_TABLE_NAME', 'decisions');
    vi.stubEnv('COUNTERSIGN_SLACK_BOT_TOKEN_SECRET_ARN', 'arn:rotation-bot');
    vi.stubEnv('COUNTERSIGN_SLACK_SIGNING_SECRET_ARN', 'arn:rotation-signing');
    vi.stubEnv('SLACK_BOT_TOKEN', '');
    vi.stubEnv('SLACK_SIGNING_SECRET', '');
    vi.stubEnv('AWS_REGION', 'eu-west-1');
    handler = (await import('../../functions/slack-interactions/handler.js')).handler as never;
  });

  /** A request whose signature is good for `secret` and whose payload is not an interaction: 400 once the signature passes. */
  function tap(secret: string): LambdaFunctionURLEvent {
    const rawBody = 'payload=not-json';
    const headers = signSlackRequest({ rawBody, signingSecret: secret, timestampSeconds: Date.now() / 1000 });
    return { requestContext: { http: { method: 'POST' } }, headers, body: rawBody, isBase64Encoded: false } as unknown as LambdaFunctionURLEvent;
  }
  const signingReads = () => secrets.commandCalls(GetSecretValueCommand).filter((call) => call.args[0].input.SecretId === 'arn:rotation-signing').length;

  it('checks a tap signed with the new secret again after one forced read, instead of refusing taps until the function recycles', async () => {
    expect((await handler(tap('signing-before'), context)).statusCode).toBe(400);
    signing = 'signing-after';
    const readsBefore = signingReads();
    const answer = await handler(tap('signing-after'), context);
    expect(answer.statusCode).toBe(400);
    expect(answer.body).not.toContain('BadSignature');
    expect(signingReads()).toBe(readsBefore + 1);
  });

  it('refuses a forged tap (401) without another Secrets Manager read inside the refresh interval', async () => {
    const readsBefore = signingReads();
    const answer = await handler(tap('forged'), context);
    expect(answer.statusCode).toBe(401);
    expect(answer.body).toContain('BadSignature');
    expect(signingReads()).toBe(readsBefore);
  });
});
