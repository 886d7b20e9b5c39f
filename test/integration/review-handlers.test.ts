import { createServer, type IncomingMessage, type Server } from 'node:http';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Context } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoDecisionStore } from '../../shared/adapters/aws/dynamo-decision-store.js';
import { signSlackRequest } from '../../shared/slack/verify-signature.js';
import type { RecordOutcomeEvent } from '../../shared/workflow/contract.js';
import { ensureDecisionTable, freePort, LOCAL_CREDENTIALS, startDynamoDbLocal, type DynamoDbLocal } from '../../local/dynamodb-local.js';
import { DATA_OWNERS_QUORUM_1, reviewEvent, SECURITY_QUORUM_2, seedPendingRequest } from '../support/reviews.js';

/**
 * The four review handlers as Lambda runs them: module-scope wiring from the environment, DynamoDB
 * Local for the table, and one fake HTTP endpoint standing in for the Slack Web API and for Step
 * Functions / EventBridge (AWS JSON protocol), recording what each handler sent.
 */
const TABLE = 'countersign-review-handlers-it';
const SECRET = 'handler-test-signing-secret';
const BOT_TOKEN = 'xoxb-handler-test';
const CI_ROLE = 'arn:aws:iam::123456789012:role/ci-erin';

interface Recorded { kind: 'slack' | 'aws'; name: string; body: Record<string, unknown>; raw: string; authorization: string | undefined }
const recorded: Recorded[] = [];
let server: Server;
let ddb: DynamoDbLocal;
let decisions: DynamoDecisionStore;
let handlers: {
  requestReview: (event: unknown, context: Context) => Promise<Record<string, unknown>>;
  recordOutcome: (event: RecordOutcomeEvent, context: Context) => Promise<Record<string, unknown>>;
  slackInteractions: (event: unknown, context: Context) => Promise<{ statusCode?: number; body?: string }>;
  reviewApi: (event: unknown, context: Context) => Promise<{ statusCode?: number; body?: string }>;
};
const context = { functionName: 'test', awsRequestId: 'req-1', invokedFunctionArn: 'arn:aws:lambda:us-east-1:123456789012:function:test', functionVersion: '$LATEST', memoryLimitInMB: '256' } as unknown as Context;

async function readBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

async function startFakeEndpoint(port: number): Promise<Server> {
  let ts = 0;
  const fake = createServer(async (request, response) => {
    const raw = await readBody(request);
    const target = request.headers['x-amz-target'];
    if (typeof target === 'string') {
      recorded.push({ kind: 'aws', name: target, body: JSON.parse(raw) as Record<string, unknown>, raw, authorization: undefined });
      response.setHeader('content-type', 'application/x-amz-json-1.1');
      response.end(target === 'AWSEvents.PutEvents' ? JSON.stringify({ FailedEntryCount: 0, Entries: [{ EventId: 'e-1' }] }) : '{}');
      return;
    }
    const method = (request.url ?? '').replace(/^\/api\//, '');
    const body = Object.fromEntries(new URLSearchParams(raw)) as Record<string, unknown>;
    recorded.push({ kind: 'slack', name: method, body, raw, authorization: request.headers.authorization });
    response.setHeader('content-type', 'application/json');
    const answer = method === 'chat.postMessage'
      ? { ok: true, channel: body.channel, ts: `1700000000.${String(++ts).padStart(6, '0')}` }
      : { ok: true };
    response.end(JSON.stringify(answer));
  });
  await new Promise<void>((resolve) => fake.listen(port, '127.0.0.1', resolve));
  return fake;
}

beforeAll(async () => {
  ddb = await startDynamoDbLocal();
  await ensureDecisionTable(ddb.client, TABLE);
  decisions = new DynamoDecisionStore(ddb.client, TABLE);
  const port = await freePort();
  server = await startFakeEndpoint(port);

  // A directory in which erin also reviews from CI, by an IAM role.
  const directory = JSON.parse(readFileSync(new URL('../../config/directory.json', import.meta.url), 'utf8')) as { members: Array<{ id: string }> };
  const directoryFile = join(mkdtempSync(join(tmpdir(), 'countersign-')), 'directory.json');
  writeFileSync(directoryFile, JSON.stringify({ ...directory, members: directory.members.map((m) => (m.id === 'erin' ? { ...m, iamPrincipalArns: [CI_ROLE] } : m)) }));

  Object.assign(process.env, {
    COUNTERSIGN_TABLE_NAME: TABLE,
    COUNTERSIGN_EVENT_BUS_NAME: 'countersign',
    COUNTERSIGN_DIRECTORY_FILE: directoryFile,
    COUNTERSIGN_SLACK_API_URL: `http://127.0.0.1:${port}/api/`,
    SLACK_BOT_TOKEN: BOT_TOKEN,
    SLACK_SIGNING_SECRET: SECRET,
    AWS_ENDPOINT_URL_DYNAMODB: ddb.endpoint,
    AWS_ENDPOINT_URL_SFN: `http://127.0.0.1:${port}`,
    AWS_ENDPOINT_URL_EVENTBRIDGE: `http://127.0.0.1:${port}`,
    AWS_ACCESS_KEY_ID: LOCAL_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: LOCAL_CREDENTIALS.secretAccessKey,
  });
  handlers = {
    requestReview: (await import('../../functions/request-review/handler.js')).handler as never,
    recordOutcome: (await import('../../functions/record-outcome/handler.js')).handler as never,
    slackInteractions: (await import('../../functions/slack-interactions/handler.js')).handler as never,
    reviewApi: (await import('../../functions/review-api/handler.js')).handler as never,
  };
});

afterAll(async () => {
  await new Promise((resolve) => server?.close(resolve));
  await ddb?.stop();
});

function slackEvent(payload: unknown, options: { secret?: string; base64?: boolean } = {}) {
  const rawBody = new URLSearchParams({ payload: JSON.stringify(payload) }).toString();
  const headers = signSlackRequest({ rawBody, signingSecret: options.secret ?? SECRET, timestampSeconds: Date.now() / 1000 });
  return {
    version: '2.0', rawPath: '/', rawQueryString: '', routeKey: '$default', isBase64Encoded: options.base64 ?? true,
    headers: { ...headers, 'content-type': 'application/x-www-form-urlencoded' },
    body: options.base64 === false ? rawBody : Buffer.from(rawBody).toString('base64'),
    requestContext: { http: { method: 'POST', path: '/' } },
  };
}

const approveClick = (reviewId: string, user: string) => ({
  type: 'block_actions', team: { id: 'T0LOCAL' }, user: { id: user }, api_app_id: 'A0COUNTERSIGN', trigger_id: 't-1',
  container: { channel_id: 'C0SECURITY', message_ts: '1700000000.000001' }, actions: [{ action_id: 'approve', value: reviewId }],
});

function apiEvent(actionId: string, body: unknown, userArn: string | undefined) {
  return {
    version: '2.0', rawPath: `/actions/${actionId}/votes`, rawQueryString: '', routeKey: '$default', isBase64Encoded: false,
    headers: { 'content-type': 'application/json' }, body: JSON.stringify(body),
    requestContext: { http: { method: 'POST', path: `/actions/${actionId}/votes` }, ...(userArn === undefined ? {} : { authorizer: { iam: { userArn } } }) },
  };
}

const sent = (kind: Recorded['kind'], name: string) => recorded.filter((r) => r.kind === kind && r.name === name);

describe('review handlers, wired as in Lambda', () => {
  it('request-review posts the review to Slack with the bot token and never the task token', async () => {
    const { input } = await seedPendingRequest(decisions, SECURITY_QUORUM_2, { agent: { id: 'ops-agent' } });
    const event = reviewEvent(input, 'initial');
    const result = await handlers.requestReview(event, context);
    expect(result).toMatchObject({ status: 'posted', phase: 'initial', actionId: input.actionId, reviewId: expect.stringMatching(/^rv-/) });
    const [post] = sent('slack', 'chat.postMessage');
    expect(post).toMatchObject({ body: { channel: 'C0SECURITY' }, authorization: `Bearer ${BOT_TOKEN}` });
    expect(post?.raw).toContain(String(result.reviewId));
    expect(post?.raw).not.toContain(event.taskToken);
    expect(JSON.stringify(result)).not.toContain(event.taskToken);
  });

  it('slack-interactions records votes from signed clicks, resumes the workflow at quorum, and refuses unsigned ones', async () => {
    recorded.length = 0;
    const { input } = await seedPendingRequest(decisions, SECURITY_QUORUM_2, { agent: { id: 'ops-agent' } });
    const event = reviewEvent(input, 'initial');
    const { reviewId } = await handlers.requestReview(event, context) as { reviewId: string };

    const forged = await handlers.slackInteractions(slackEvent(approveClick(reviewId, 'U0ERIN'), { secret: 'wrong' }), context);
    expect(forged.statusCode).toBe(401);
    expect(JSON.parse(forged.body ?? '')).toMatchObject({ error: 'BadSignature' });

    const first = await handlers.slackInteractions(slackEvent(approveClick(reviewId, 'U0ERIN')), context);
    expect(first).toMatchObject({ statusCode: 200, body: '' });
    expect(sent('slack', 'chat.update')).toHaveLength(1);
    const second = await handlers.slackInteractions(slackEvent(approveClick(reviewId, 'U0DAN'), { base64: false }), context);
    expect(second).toMatchObject({ statusCode: 200, body: '' });
    const [success] = sent('aws', 'AWSStepFunctions.SendTaskSuccess');
    expect(success?.body.taskToken).toBe(event.taskToken);
    expect(JSON.parse(String(success?.body.output))).toMatchObject({ outcome: 'approved', reviewers: [{ id: 'erin' }, { id: 'dan' }] });

    const late = await handlers.slackInteractions(slackEvent(approveClick(reviewId, 'U0CAROL')), context);
    expect(late).toMatchObject({ statusCode: 200, body: '' });
    // Each accepted tap is confirmed to its reviewer alone; carol's late tap gets the refusal, to her alone.
    expect(sent('slack', 'chat.postEphemeral').map((call) => call.body.user)).toEqual(['U0ERIN', 'U0DAN', 'U0CAROL']);
    expect(sent('slack', 'chat.postEphemeral')[2]?.body).toMatchObject({ channel: 'C0SECURITY', user: 'U0CAROL' });
    expect(await decisions.getDecision(input.actionId)).toMatchObject({ outcome: 'approved', reviewers: [{ id: 'erin' }, { id: 'dan' }] });
  });

  it('review-api takes a vote from an IAM role session mapped to a reviewer, and refuses an unmapped caller', async () => {
    recorded.length = 0;
    const { input } = await seedPendingRequest(decisions, DATA_OWNERS_QUORUM_1, { agent: { id: 'ops-agent' } });
    await handlers.requestReview(reviewEvent(input, 'initial'), context);
    // erin is not in data-owners: the rules refuse her like in Slack.
    const erin = await handlers.reviewApi(apiEvent(input.actionId, { vote: 'approve' }, 'arn:aws:sts::123456789012:assumed-role/ci-erin/build-1'), context);
    expect(erin.statusCode).toBe(403);
    expect(JSON.parse(erin.body ?? '')).toMatchObject({ rule: 'not_in_approver_group' });
    const stranger = await handlers.reviewApi(apiEvent(input.actionId, { vote: 'approve' }, 'arn:aws:iam::123456789012:user/mallory'), context);
    expect(JSON.parse(stranger.body ?? '')).toMatchObject({ rule: 'unknown_reviewer' });
    const anonymous = await handlers.reviewApi(apiEvent(input.actionId, { vote: 'approve' }, undefined), context);
    expect(anonymous.statusCode).toBe(403);
    const missing = await handlers.reviewApi(apiEvent('act-none', { vote: 'approve' }, CI_ROLE), context);
    expect(missing.statusCode).toBe(404);
  });

  it('review-api answers a vote that comes before the workflow opened the review with 503 and Retry-After (not 409, which means closed), then takes it', async () => {
    const { input } = await seedPendingRequest(decisions, DATA_OWNERS_QUORUM_1, { agent: { id: 'ops-agent' } });
    const early = await handlers.reviewApi(apiEvent(input.actionId, { vote: 'approve' }, CI_ROLE), context) as { statusCode: number; headers: Record<string, string>; body: string };
    expect(early.statusCode).toBe(503);
    expect(early.headers['retry-after']).toBe('2');
    expect(JSON.parse(early.body)).toMatchObject({ error: 'ReviewNotOpen', message: expect.stringContaining('try again') });
    await handlers.requestReview(reviewEvent(input, 'initial'), context);
    // Once open, the same vote reaches the review rules (erin is not a data owner: refused by rule, 403).
    const later = await handlers.reviewApi(apiEvent(input.actionId, { vote: 'approve' }, CI_ROLE), context);
    expect(later.statusCode).toBe(403);
    expect(JSON.parse(later.body ?? '')).toMatchObject({ rule: 'not_in_approver_group' });
  });

  it('record-outcome closes an expired request, publishes Action Decided and updates the message', async () => {
    recorded.length = 0;
    const { input } = await seedPendingRequest(decisions, DATA_OWNERS_QUORUM_1, { agent: { id: 'ops-agent' } });
    await handlers.requestReview(reviewEvent(input, 'initial'), context);
    const result = await handlers.recordOutcome({ request: input, outcome: 'expired' }, context);
    expect(result).toMatchObject({ actionId: input.actionId, outcome: 'expired' });
    const [put] = sent('aws', 'AWSEvents.PutEvents');
    const entry = (put?.body.Entries as Array<{ DetailType: string; Detail: string; Source: string }>)[0];
    expect(entry).toMatchObject({ DetailType: 'Action Decided', Source: 'countersign' });
    expect(JSON.parse(entry?.Detail ?? '')).toMatchObject({ actionId: input.actionId, outcome: 'expired', reviewers: [], payloadSha256: input.payloadSha256 });
    expect(sent('slack', 'chat.update')).toHaveLength(1);
    await handlers.recordOutcome({ request: input, outcome: 'expired' }, context);
    expect(sent('aws', 'AWSEvents.PutEvents')).toHaveLength(1);
  });
});
