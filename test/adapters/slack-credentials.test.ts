import { existsSync } from 'node:fs';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { loadSlackCredentials, SLACK_SECRET_MAX_AGE_SECONDS } from '../../shared/adapters/aws/slack-credentials.js';
import { ConfigError, defaultDirectoryFile, recordOutcomeConfig, requestReviewConfig, slackInteractionsConfig, type SlackConfig } from '../../shared/config.js';

const secrets = mockClient(SecretsManagerClient);
const BOT_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:countersign/slack-bot-token-AbCdEf';
const SIGNING_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:countersign/slack-signing-secret-GhIjKl';
const base = { COUNTERSIGN_TABLE_NAME: 'decisions' };
const both = { ...base, COUNTERSIGN_SLACK_BOT_TOKEN_SECRET_ARN: BOT_ARN, COUNTERSIGN_SLACK_SIGNING_SECRET_ARN: SIGNING_ARN };
const config = (overrides: Partial<SlackConfig>): SlackConfig => ({
  botTokenSecretArn: undefined, signingSecretArn: undefined, needsSigningSecret: false, botToken: undefined, signingSecret: undefined, apiUrl: undefined, ...overrides,
});

describe('review function config', () => {
  it('needs each secret ARN unless the env overrides stand in for it, naming what is missing', () => {
    expect(() => slackInteractionsConfig(base)).toThrow(ConfigError);
    expect(() => slackInteractionsConfig(base)).toThrow(/COUNTERSIGN_SLACK_BOT_TOKEN_SECRET_ARN is not set, and SLACK_BOT_TOKEN does not override it/);
    expect(() => slackInteractionsConfig({ ...base, SLACK_BOT_TOKEN: 'xoxb-1' })).toThrow(/COUNTERSIGN_SLACK_SIGNING_SECRET_ARN is not set, and SLACK_SIGNING_SECRET does not override it/);
    expect(slackInteractionsConfig({ ...base, SLACK_BOT_TOKEN: 'xoxb-1', SLACK_SIGNING_SECRET: 's' }).slack).toMatchObject({ botToken: 'xoxb-1', signingSecret: 's', needsSigningSecret: true });
    expect(() => recordOutcomeConfig({ ...base, COUNTERSIGN_SLACK_BOT_TOKEN_SECRET_ARN: BOT_ARN })).toThrow(/COUNTERSIGN_EVENT_BUS_NAME/);
  });

  it('gives the signing secret only to the function that verifies requests, even when its ARN is set', () => {
    expect(requestReviewConfig(both).slack).toMatchObject({ botTokenSecretArn: BOT_ARN, signingSecretArn: undefined, needsSigningSecret: false });
    expect(requestReviewConfig({ ...both, SLACK_SIGNING_SECRET: 's' }).slack.signingSecret).toBeUndefined();
    expect(slackInteractionsConfig(both).slack).toMatchObject({ botTokenSecretArn: BOT_ARN, signingSecretArn: SIGNING_ARN, needsSigningSecret: true });
  });

  it('defaults the directory to the bundled config/directory.json', () => {
    const loaded = slackInteractionsConfig(both);
    expect(loaded.directoryFile).toBe(defaultDirectoryFile());
    expect(loaded.directoryFile.endsWith('/config/directory.json')).toBe(true);
    expect(existsSync(loaded.directoryFile)).toBe(true);
    expect(slackInteractionsConfig({ ...both, COUNTERSIGN_DIRECTORY_FILE: '/opt/dir.json' }).directoryFile).toBe('/opt/dir.json');
  });
});

describe('loadSlackCredentials', () => {
  beforeEach(() => secrets.reset());

  it('reads the bot token and the signing secret from their own secrets (JSON)', async () => {
    secrets.on(GetSecretValueCommand, { SecretId: BOT_ARN }).resolves({ SecretString: JSON.stringify({ botToken: 'xoxb-aws' }) });
    secrets.on(GetSecretValueCommand, { SecretId: SIGNING_ARN }).resolves({ SecretString: JSON.stringify({ signingSecret: 'sig-aws' }) });
    await expect(loadSlackCredentials(config({ botTokenSecretArn: BOT_ARN, signingSecretArn: SIGNING_ARN, needsSigningSecret: true }))).resolves.toEqual({ botToken: 'xoxb-aws', signingSecret: 'sig-aws' });
    expect(secrets).toHaveReceivedCommandTimes(GetSecretValueCommand, 2);
  });

  it('reads only the bot token for a function that does not verify requests', async () => {
    secrets.on(GetSecretValueCommand, { SecretId: `${BOT_ARN}-2` }).resolves({ SecretString: JSON.stringify({ botToken: 'xoxb-aws' }) });
    await expect(loadSlackCredentials(config({ botTokenSecretArn: `${BOT_ARN}-2` }))).resolves.toEqual({ botToken: 'xoxb-aws', signingSecret: '' });
    expect(secrets).toHaveReceivedCommandTimes(GetSecretValueCommand, 1);
    expect(secrets).toHaveReceivedCommandWith(GetSecretValueCommand, { SecretId: `${BOT_ARN}-2` });
  });

  it('lets SLACK_BOT_TOKEN / SLACK_SIGNING_SECRET override, without calling Secrets Manager when both are set', async () => {
    await expect(loadSlackCredentials(config({ botTokenSecretArn: BOT_ARN, signingSecretArn: SIGNING_ARN, needsSigningSecret: true, botToken: 'xoxb-env', signingSecret: 'sig-env' }))).resolves.toEqual({ botToken: 'xoxb-env', signingSecret: 'sig-env' });
    expect(secrets).toHaveReceivedCommandTimes(GetSecretValueCommand, 0);
  });

  it('reuses a read for SLACK_SECRET_MAX_AGE_SECONDS, reads again after it, and at once with forceFetch (a rotation)', async () => {
    const arn = `${BOT_ARN}-cache`;
    let token = 'xoxb-before';
    secrets.on(GetSecretValueCommand, { SecretId: arn }).callsFake(async () => ({ SecretString: JSON.stringify({ botToken: token }) }));
    vi.useFakeTimers({ toFake: ['Date'] });
    try {
      vi.setSystemTime(new Date('2026-12-01T00:00:00Z'));
      const read = (options = {}) => loadSlackCredentials(config({ botTokenSecretArn: arn }), options).then((c) => c.botToken);
      expect(await read()).toBe('xoxb-before');
      token = 'xoxb-after';
      vi.setSystemTime(new Date(Date.now() + (SLACK_SECRET_MAX_AGE_SECONDS - 1) * 1000));
      expect(await read()).toBe('xoxb-before');
      expect(await read({ forceFetch: true })).toBe('xoxb-after');
      token = 'xoxb-third';
      vi.setSystemTime(new Date(Date.now() + (SLACK_SECRET_MAX_AGE_SECONDS + 1) * 1000));
      expect(await read()).toBe('xoxb-third');
      expect(secrets).toHaveReceivedCommandTimes(GetSecretValueCommand, 3);
    } finally {
      vi.useRealTimers();
    }
  });

  it('refuses a secret without its field, naming the field and not the value', async () => {
    secrets.on(GetSecretValueCommand).resolves({ SecretString: JSON.stringify({ token: 'xoxb-secret-value' }) });
    const failure = await loadSlackCredentials(config({ botTokenSecretArn: `${BOT_ARN}-3` })).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(ConfigError);
    expect((failure as Error).message).toMatch(/must be JSON \{"botToken": "xoxb-\.\.\."\}: botToken: /);
    expect((failure as Error).message).not.toContain('xoxb-secret-value');
  });
});
