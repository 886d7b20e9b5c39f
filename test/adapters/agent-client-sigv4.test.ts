import { createHash, createHmac } from 'node:crypto';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CountersignAccessDeniedError, createAgentClient, localAgentClient, regionOfFunctionUrl, type ActionSpec, type AgentClient } from '../../client/index.js';
import { payloadSha256, type ActionRequest } from '../../shared/domain/contract.js';

/**
 * How the agent client reads decisions in AWS: the decision API is a Function URL with `AWS_IAM`
 * auth, so every GET is SigV4-signed for service `lambda`; the local stack takes unsigned reads.
 * EventBridge is aws-sdk-client-mock; the decision API is an injected fetch that records requests.
 */

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

const events = mockClient(EventBridgeClient);
const FUNCTION_URL = 'https://abcdefghij1234567890.lambda-url.eu-west-1.on.aws/';
const SPEC: ActionSpec = {
  action: 'db.query',
  resource: { type: 'Database', id: 'customers' },
  environment: 'prod',
  parameters: { sql: 'SELECT 1' },
  justification: 'health check',
};

interface Recorded {
  url: string;
  headers: Record<string, string>;
}

let recorded: Recorded[];
const clients: AgentClient[] = [];

/** A decision API that answers `allowed` for whatever was sent, recording each request's headers. */
const decisionApi: typeof fetch = async (input, init) => {
  const headers = Object.fromEntries(new Headers(init?.headers).entries());
  recorded.push({ url: String(input), headers });
  const sent = events.commandCalls(PutEventsCommand).at(-1)?.args[0].input.Entries?.[0]?.Detail;
  const request = JSON.parse(sent ?? '{}') as ActionRequest;
  return new Response(JSON.stringify({
    actionId: request.actionId, requestEventId: 'ev-1', outcome: 'allowed', reason: 'permitted by policy db-query',
    payloadSha256: payloadSha256(request), policyIds: ['db-query'], reviewers: [], decidedAt: '2026-11-22T03:00:00.000Z',
  }), { status: 200, headers: { 'content-type': 'application/json' } });
};

beforeEach(() => {
  events.reset();
  events.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [{ EventId: 'ev-1' }] });
  recorded = [];
});

afterEach(() => {
  for (const client of clients.splice(0)) client.destroy();
});

describe('agent client in AWS', () => {
  it('signs decision reads with SigV4 for lambda, in the region the Function URL names', async () => {
    const client = createAgentClient({
      agentId: 'billing-agent',
      decisionApiUrl: FUNCTION_URL,
      credentials: { accessKeyId: 'AKID', secretAccessKey: 'SECRET', sessionToken: 'TOKEN' },
      fetch: decisionApi,
    });
    clients.push(client);
    const decision = await client.requestAction({ ...SPEC, actionId: 'q-1' });

    expect(decision.outcome).toBe('allowed');
    expect(events).toHaveReceivedCommandWith(PutEventsCommand, {
      Entries: [expect.objectContaining({ EventBusName: 'countersign', Source: 'agent.billing-agent', DetailType: 'Action Requested' })],
    });
    const [read] = recorded;
    expect(read?.url).toBe(`${FUNCTION_URL}actions/q-1`);
    expect(read?.headers.authorization).toMatch(/^AWS4-HMAC-SHA256 Credential=AKID\/\d{8}\/eu-west-1\/lambda\/aws4_request, SignedHeaders=[a-z0-9;-]*host[a-z0-9;-]*, Signature=[0-9a-f]{64}$/);
    expect(read?.headers['x-amz-date']).toMatch(/^\d{8}T\d{6}Z$/);
    expect(read?.headers['x-amz-security-token']).toBe('TOKEN');
  });

  it('explains a 403 on a signed read with both actions Lambda checks for an AWS_IAM Function URL', async () => {
    const client = createAgentClient({
      agentId: 'billing-agent',
      decisionApiUrl: FUNCTION_URL,
      credentials: { accessKeyId: 'AKID', secretAccessKey: 'SECRET' },
      fetch: async () => new Response(JSON.stringify({ Message: 'Forbidden' }), { status: 403, headers: { 'content-type': 'application/json' } }),
    });
    clients.push(client);
    const error = await client.requestAction({ ...SPEC, actionId: 'q-403' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CountersignAccessDeniedError);
    expect((error as Error).message).toMatch(/: the signing credentials need lambda:InvokeFunctionUrl and lambda:InvokeFunction \(with the condition lambda:InvokedViaFunctionUrl = true\) on the decision API function$/);
  });

  it('signs with the region given, with static credentials', async () => {
    const client = createAgentClient({
      agentId: 'billing-agent',
      decisionApiUrl: 'https://decisions.example.com',
      region: 'us-east-1',
      credentials: { accessKeyId: 'AKID', secretAccessKey: 'SECRET' },
      fetch: decisionApi,
    });
    clients.push(client);
    await client.requestAction(SPEC);
    expect(recorded[0]?.headers.authorization).toMatch(/^AWS4-HMAC-SHA256 Credential=AKID\/\d{8}\/us-east-1\/lambda\/aws4_request, /);
    expect(recorded[0]?.headers['x-amz-security-token']).toBeUndefined();
  });

  it('signs what Lambda will check: the signature recomputed from the AWS SigV4 rules matches, for an id with ":" and a URL with a port', async () => {
    const client = createAgentClient({
      agentId: 'billing-agent',
      decisionApiUrl: 'https://decisions.example.com:8443/prod/',
      region: 'eu-west-1',
      credentials: { accessKeyId: 'AKID', secretAccessKey: 'SECRET' },
      fetch: decisionApi,
    });
    clients.push(client);
    await client.requestAction({ ...SPEC, actionId: 'run:42.query' });
    const read = recorded[0]!;
    const url = new URL(read.url);
    expect(url.pathname).toBe('/prod/actions/run%3A42.query'); // the decision API decodes it
    const authorization = /^AWS4-HMAC-SHA256 Credential=AKID\/(\d{8})\/eu-west-1\/lambda\/aws4_request, SignedHeaders=([^,]+), Signature=([0-9a-f]{64})$/.exec(read.headers.authorization ?? '');
    expect(authorization).not.toBeNull();
    const [, day, signedHeaderList, signature] = authorization!;
    // What the server sees: the headers fetch sends, with Host as the URL's host (port included).
    const received: Record<string, string> = { ...read.headers, host: url.host };
    const signedHeaders = signedHeaderList!.split(';');
    expect(signedHeaders).toEqual(expect.arrayContaining(['host', 'x-amz-date']));
    // Canonical request (non-S3): every path segment URI-encoded again, as received; sorted, trimmed headers.
    const encode = (segment: string) => encodeURIComponent(segment).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
    const canonicalRequest = [
      'GET',
      url.pathname.split('/').map(encode).join('/'),
      '',
      ...signedHeaders.map((name) => `${name}:${(received[name] ?? '').trim()}`),
      '',
      signedHeaderList,
      createHash('sha256').update('').digest('hex'),
    ].join('\n');
    const date = read.headers['x-amz-date']!;
    const scope = `${day}/eu-west-1/lambda/aws4_request`;
    const stringToSign = ['AWS4-HMAC-SHA256', date, scope, createHash('sha256').update(canonicalRequest).digest('hex')].join('\n');
    const hmac = (key: string | Buffer, data: string) => createHmac('sha256', key).update(data).digest();
    const signingKey = hmac(hmac(hmac(hmac('AWS4SECRET', day!), 'eu-west-1'), 'lambda'), 'aws4_request');
    expect(signature).toBe(createHmac('sha256', signingKey).update(stringToSign).digest('hex'));
  });

  it('does not sign when told not to', async () => {
    const client = createAgentClient({
      agentId: 'billing-agent', decisionApiUrl: FUNCTION_URL, sign: false, credentials: { accessKeyId: 'AKID', secretAccessKey: 'SECRET' }, fetch: decisionApi,
    });
    clients.push(client);
    await client.requestAction(SPEC);
    expect(recorded[0]?.headers.authorization).toBeUndefined();
  });

  it('reads the region of a Function URL host, and of nothing else', () => {
    expect(regionOfFunctionUrl(new URL(FUNCTION_URL))).toBe('eu-west-1');
    expect(regionOfFunctionUrl(new URL('https://decisions.example.com/'))).toBeUndefined();
  });
});

describe('agent client locally', () => {
  it.each(['http://127.0.0.1:4010', 'http://localhost:4010/'])('does not sign reads to %s by default', async (base) => {
    const client = createAgentClient({
      agentId: 'billing-agent', busEndpoint: base, decisionApiUrl: base, region: 'us-east-1',
      credentials: { accessKeyId: 'AKID', secretAccessKey: 'SECRET' }, fetch: decisionApi,
    });
    clients.push(client);
    await client.requestAction(SPEC);
    expect(recorded[0]?.headers.authorization).toBeUndefined();
    expect(recorded[0]?.url).toMatch(/^http:\/\/(127\.0\.0\.1|localhost):4010\/actions\/billing-agent-/);
  });

  it('localAgentClient never signs', async () => {
    const client = localAgentClient('billing-agent', 'http://127.0.0.1:4010', { fetch: decisionApi });
    clients.push(client);
    await client.requestAction(SPEC);
    expect(recorded[0]?.headers.authorization).toBeUndefined();
  });
});
