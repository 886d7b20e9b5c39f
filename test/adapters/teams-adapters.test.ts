import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { loadTeamsCredentials } from '../../shared/adapters/aws/teams-credentials.js';
import { BotConnectorClient } from '../../shared/adapters/teams/bot-connector.js';
import { ConfigError, requestReviewConfig, teamsInteractionsConfig } from '../../shared/config.js';

const secrets = mockClient(SecretsManagerClient);
const TEAMS_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:countersign/teams-AbCdEf';
const base = { COUNTERSIGN_TABLE_NAME: 'decisions', SLACK_BOT_TOKEN: 'xoxb-1' };
const APP_ID = '11111111-2222-4333-8444-555555555555';
const TENANT = '99999999-8888-4777-8666-555555555555';

describe('Teams config', () => {
  it('is off unless its secret ARN (or all three local overrides) is set; teams-interactions requires it', () => {
    expect(requestReviewConfig(base).teams).toBeUndefined();
    expect(requestReviewConfig({ ...base, COUNTERSIGN_TEAMS_SECRET_ARN: TEAMS_ARN }).teams).toMatchObject({ secretArn: TEAMS_ARN, serviceUrl: 'https://smba.trafficmanager.net/teams/', loginUrl: 'https://login.microsoftonline.com' });
    expect(() => requestReviewConfig({ ...base, TEAMS_APP_ID: APP_ID })).toThrow(/set all of TEAMS_APP_ID, TEAMS_TENANT_ID and TEAMS_CLIENT_SECRET/);
    expect(() => teamsInteractionsConfig(base)).toThrow(ConfigError);
  });
});

describe('loadTeamsCredentials', () => {
  beforeEach(() => secrets.reset());

  it('reads {"appId", "tenantId", "clientSecret"} from the secret, and names a wrong field without its value', async () => {
    secrets.on(GetSecretValueCommand, { SecretId: TEAMS_ARN }).resolves({ SecretString: JSON.stringify({ appId: APP_ID, tenantId: TENANT, clientSecret: 'from-aws' }) });
    const config = requestReviewConfig({ ...base, COUNTERSIGN_TEAMS_SECRET_ARN: TEAMS_ARN }).teams!;
    await expect(loadTeamsCredentials(config)).resolves.toEqual({ appId: APP_ID, tenantId: TENANT, clientSecret: 'from-aws' });

    secrets.reset();
    secrets.on(GetSecretValueCommand).resolves({ SecretString: JSON.stringify({ appId: 'not-a-guid', tenantId: TENANT, clientSecret: 'hush-hush' }) });
    const other = requestReviewConfig({ ...base, COUNTERSIGN_TEAMS_SECRET_ARN: `${TEAMS_ARN}-2` }).teams!;
    const error = await loadTeamsCredentials(other).catch((e: unknown) => e as Error);
    expect(error).toBeInstanceOf(ConfigError);
    expect(String(error)).toMatch(/appId/);
    expect(String(error)).not.toContain('hush-hush');
  });
});

describe('BotConnectorClient', () => {
  function fakeFetch(answers: Array<(url: string, init: RequestInit) => Response>) {
    const calls: Array<{ url: string; init: RequestInit }> = [];
    const fetchFn = (async (input: string | URL | Request, init?: RequestInit) => {
      const url = String(input);
      calls.push({ url, init: init ?? {} });
      const answer = answers.shift();
      if (answer === undefined) throw new Error(`unexpected call ${url}`);
      return answer(url, init ?? {});
    }) as typeof fetch;
    return { fetchFn, calls };
  }

  it('asks Entra ID for a client-credentials token for the bot\'s own tenant, once, then starts a channel thread, replies and updates', async () => {
    const { fetchFn, calls } = fakeFetch([
      () => Response.json({ token_type: 'Bearer', expires_in: 3599, access_token: 'tok-1' }),
      () => Response.json({ id: '19:c@thread.tacv2;messageid=1700', activityId: '1700' }, { status: 201 }),
      () => Response.json({ id: '1701' }, { status: 201 }),
      () => Response.json({ id: '1700' }),
    ]);
    const client = new BotConnectorClient({ credentials: { appId: APP_ID, tenantId: TENANT, clientSecret: 's3cret' }, serviceUrl: 'https://smba.example/teams/', loginUrl: 'https://login.example', fetch: fetchFn });
    const thread = await client.createChannelThread('19:c@thread.tacv2', { type: 'message', text: 'hi' });
    expect(thread).toEqual({ id: '19:c@thread.tacv2;messageid=1700', activityId: '1700' });
    await client.sendToConversation(thread.id, { type: 'message', text: 'reply' });
    await client.updateActivity(thread.id, thread.activityId, { type: 'message', text: 'updated' });

    expect(calls[0]?.url).toBe(`https://login.example/${TENANT}/oauth2/v2.0/token`);
    expect(Object.fromEntries(new URLSearchParams(String(calls[0]?.init.body)))).toEqual({ grant_type: 'client_credentials', client_id: APP_ID, client_secret: 's3cret', scope: 'https://api.botframework.com/.default' });
    expect(calls[1]?.url).toBe('https://smba.example/teams/v3/conversations');
    expect(JSON.parse(String(calls[1]?.init.body))).toMatchObject({ isGroup: true, channelData: { channel: { id: '19:c@thread.tacv2' } }, activity: { type: 'message' } });
    expect(calls[2]?.url).toBe(`https://smba.example/teams/v3/conversations/${encodeURIComponent('19:c@thread.tacv2;messageid=1700')}/activities`);
    expect(calls[3]).toMatchObject({ url: `https://smba.example/teams/v3/conversations/${encodeURIComponent('19:c@thread.tacv2;messageid=1700')}/activities/1700`, init: { method: 'PUT' } });
    for (const call of calls.slice(1)) expect((call.init.headers as Record<string, string>).authorization).toBe('Bearer tok-1');
  });

  it('waits out a 429 (Retry-After) and retries; a 4xx is an error with the status', async () => {
    const { fetchFn } = fakeFetch([
      () => Response.json({ token_type: 'Bearer', expires_in: 3599, access_token: 'tok-1' }),
      () => new Response('slow down', { status: 429, headers: { 'retry-after': '0.01' } }),
      () => Response.json({ id: '1' }),
      () => new Response('{"error":{"code":"BadArgument"}}', { status: 400 }),
    ]);
    const client = new BotConnectorClient({ credentials: { appId: APP_ID, tenantId: TENANT, clientSecret: 's' }, serviceUrl: 'https://smba.example/teams', loginUrl: 'https://login.example', fetch: fetchFn });
    await expect(client.sendToConversation('c', { type: 'message' })).resolves.toEqual({ id: '1' });
    await expect(client.sendToConversation('c', { type: 'message' })).rejects.toMatchObject({ name: 'BotConnectorError', status: 400 });
  });
});
