import { existsSync } from 'node:fs';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { loadSlackCredentials } from '../../shared/adapters/aws/slack-credentials.js';
import { ConfigError, defaultDirectoryFile, recordOutcomeConfig, slackInteractionsConfig } from '../../shared/config.js';

const secrets = mockClient(SecretsManagerClient);
const ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:countersign/slack-AbCdEf';
const base = { COUNTERSIGN_TABLE_NAME: 'decisions' };

describe('review function config', () => {
  it('needs the Slack secret ARN unless the env overrides stand in for it, naming what is missing', () => {
    expect(() => slackInteractionsConfig(base)).toThrow(ConfigError);
    expect(() => slackInteractionsConfig({ ...base, SLACK_BOT_TOKEN: 'xoxb-1' })).toThrow(/COUNTERSIGN_SLACK_SECRET_ARN is not set, and neither SLACK_SIGNING_SECRET overrides it/);
    expect(slackInteractionsConfig({ ...base, SLACK_BOT_TOKEN: 'xoxb-1', SLACK_SIGNING_SECRET: 's' }).slack).toMatchObject({ botToken: 'xoxb-1', signingSecret: 's', secretArn: undefined });
    expect(() => recordOutcomeConfig({ ...base, COUNTERSIGN_SLACK_SECRET_ARN: ARN })).toThrow(/COUNTERSIGN_EVENT_BUS_NAME/);
  });

  it('defaults the directory to the bundled config/directory.json', () => {
    const config = slackInteractionsConfig({ ...base, COUNTERSIGN_SLACK_SECRET_ARN: ARN });
    expect(config.directoryFile).toBe(defaultDirectoryFile());
    expect(config.directoryFile.endsWith('/config/directory.json')).toBe(true);
    expect(existsSync(config.directoryFile)).toBe(true);
    expect(slackInteractionsConfig({ ...base, COUNTERSIGN_SLACK_SECRET_ARN: ARN, COUNTERSIGN_DIRECTORY_FILE: '/opt/dir.json' }).directoryFile).toBe('/opt/dir.json');
  });
});

describe('loadSlackCredentials', () => {
  beforeEach(() => secrets.reset());

  it('reads the bot token and signing secret from the Secrets Manager secret (JSON)', async () => {
    secrets.on(GetSecretValueCommand, { SecretId: ARN }).resolves({ SecretString: JSON.stringify({ botToken: 'xoxb-aws', signingSecret: 'sig-aws' }) });
    await expect(loadSlackCredentials({ secretArn: ARN, botToken: undefined, signingSecret: undefined, apiUrl: undefined })).resolves.toEqual({ botToken: 'xoxb-aws', signingSecret: 'sig-aws' });
    expect(secrets).toHaveReceivedCommandTimes(GetSecretValueCommand, 1);
  });

  it('lets SLACK_BOT_TOKEN / SLACK_SIGNING_SECRET override, without calling Secrets Manager when both are set', async () => {
    await expect(loadSlackCredentials({ secretArn: ARN, botToken: 'xoxb-env', signingSecret: 'sig-env', apiUrl: undefined })).resolves.toEqual({ botToken: 'xoxb-env', signingSecret: 'sig-env' });
    expect(secrets).toHaveReceivedCommandTimes(GetSecretValueCommand, 0);
  });

  it('refuses a secret without the fields, naming them and not the values', async () => {
    secrets.on(GetSecretValueCommand).resolves({ SecretString: JSON.stringify({ token: 'xoxb-secret-value' }) });
    const failure = await loadSlackCredentials({ secretArn: `${ARN}-2`, botToken: undefined, signingSecret: undefined, apiUrl: undefined }).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(ConfigError);
    expect((failure as Error).message).toMatch(/botToken: .*signingSecret/);
    expect((failure as Error).message).not.toContain('xoxb-secret-value');
  });
});
