import { afterEach, describe, expect, it } from 'vitest';
import { createAgentClient, CredentialsRefusedError, localAgentClient, type AgentClient } from '../../client/index.js';

/**
 * getCredentials in AWS: a SigV4-signed POST (service lambda) to the credentials API's Function URL, as the
 * agent's own identity; the answer is typed for @aws-sdk clients; a refusal is a CredentialsRefusedError.
 */

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

const DECISIONS = 'https://decisions1234567890abcdef.lambda-url.eu-west-1.on.aws/';
const CREDENTIALS = 'https://credentials1234567890abcd.lambda-url.eu-west-1.on.aws/';
const clients: AgentClient[] = [];
afterEach(() => { for (const client of clients.splice(0)) client.destroy(); });

function clientAnswering(status: number, body: unknown, seen: Array<{ url: string; method: string; headers: Record<string, string> }>): AgentClient {
  const client = createAgentClient({
    agentId: 'billing-agent',
    decisionApiUrl: DECISIONS,
    credentialsApiUrl: CREDENTIALS,
    credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' },
    fetch: async (input, init) => {
      seen.push({ url: String(input), method: init?.method ?? 'GET', headers: Object.fromEntries(new Headers(init?.headers).entries()) });
      return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
    },
  });
  clients.push(client);
  return client;
}

describe('agent client getCredentials in AWS', () => {
  it('POSTs to the credentials API, signed for lambda in its region, and returns @aws-sdk credentials', async () => {
    const seen: Array<{ url: string; method: string; headers: Record<string, string> }> = [];
    const client = clientAnswering(200, {
      actionId: 'a:1', validUntil: '2026-11-22T03:15:00.000Z', region: 'eu-west-1', roleArn: 'arn:aws:iam::123456789012:role/exec',
      roleSessionName: 'cs-a.1-0123456789ab', durationSeconds: 900, sessionPolicy: { Version: '2012-10-17', Statement: [] },
      credentials: { accessKeyId: 'ASIA1', secretAccessKey: 's', sessionToken: 't', expiration: '2026-11-22T03:15:00.000Z' },
    }, seen);
    const issued = await client.getCredentials('a:1');
    expect(issued.credentials).toEqual({ accessKeyId: 'ASIA1', secretAccessKey: 's', sessionToken: 't', expiration: new Date('2026-11-22T03:15:00.000Z') });
    expect(issued.local).toBe(false);
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({ url: `${CREDENTIALS}actions/a%3A1/credentials`, method: 'POST' });
    expect(seen[0]!.headers.authorization).toMatch(/^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE\/\d{8}\/eu-west-1\/lambda\/aws4_request/);
    // The local stand-in for a signature is never sent to AWS.
    expect(seen[0]!.headers['x-countersign-agent']).toBeUndefined();
  });

  it('throws CredentialsRefusedError with the rule for a refusal', async () => {
    const client = clientAnswering(409, { error: 'CredentialsRefused', rule: 'already_issued', message: 'issued before' }, []);
    await expect(client.getCredentials('a-1')).rejects.toBeInstanceOf(CredentialsRefusedError);
    await expect(client.getCredentials('a-1')).rejects.toMatchObject({ rule: 'already_issued', status: 409, actionId: 'a-1' });
  });

  it('says what the role needs when the Function URL answers 403', async () => {
    const client = clientAnswering(403, { Message: 'Forbidden' }, []);
    await expect(client.getCredentials('a-1')).rejects.toThrow(/lambda:InvokeFunctionUrl and lambda:InvokeFunction .* on the credentials function/);
  });
});

describe('agent client reads of the decision API: who the reader is', () => {
  const decided = { actionId: 'a-1', requestEventId: 'e-1', outcome: 'allowed', reason: 'ok', payloadSha256: 'a'.repeat(64), policyIds: [], reviewers: [], decidedAt: '2026-11-22T03:00:00.000Z', validUntil: '2026-11-22T03:15:00.000Z', execution: null };

  it('in AWS, signs the read as the agent\'s identity and sends no local header', async () => {
    const seen: Array<{ url: string; method: string; headers: Record<string, string> }> = [];
    await clientAnswering(200, decided, seen).waitForDecision('a-1', { payloadSha256: 'a'.repeat(64) });
    expect(seen[0]).toMatchObject({ url: `${DECISIONS}actions/a-1`, method: 'GET' });
    expect(seen[0]!.headers.authorization).toMatch(/^AWS4-HMAC-SHA256 /);
    expect(seen[0]!.headers['x-countersign-agent']).toBeUndefined();
  });

  it('locally, names the agent in x-countersign-agent (the local stack reads only its requests for it)', async () => {
    const seen: Array<Record<string, string>> = [];
    const client = localAgentClient('billing-agent', 'http://127.0.0.1:4010', {
      fetch: async (_input, init) => {
        seen.push(Object.fromEntries(new Headers(init?.headers).entries()));
        return new Response(JSON.stringify(decided), { status: 200, headers: { 'content-type': 'application/json' } });
      },
    });
    clients.push(client);
    await client.waitForDecision('a-1', { payloadSha256: 'a'.repeat(64) });
    expect(seen[0]).toMatchObject({ 'x-countersign-agent': 'billing-agent' });
    expect(seen[0]!.authorization).toBeUndefined();
  });
});
