import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { EventBridgeClient, PutEventsCommand, type PutEventsRequestEntry } from '@aws-sdk/client-eventbridge';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../local/dynamodb-local.js';
import { memoryLogger } from '../../local/log.js';
import { REPO_ROOT, startLocalStack, type LocalHandlers, type LocalStack } from '../../local/local-stack.js';
import { MINIMAL_APPROVAL } from './support.js';

const idleHandlers: LocalHandlers = {
  evaluateAction: async () => undefined,
  decisionApi: async () => ({ statusCode: 200 }),
  requestReview: async () => undefined,
  recordOutcome: async () => undefined,
  slackInteractions: async () => ({ statusCode: 200 }),
  reviewApi: async () => ({ statusCode: 200 }),
};

/**
 * The local stack end to end: the real handlers, DynamoDB Local, and the real AWS SDK sending
 * `Action Requested` to the local endpoint, as an agent would. One row per line of the policy table
 * in issue 2, each read back through `GET /actions/{id}`.
 */

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

const run = `t${Date.now().toString(36)}`;
const credentials = { accessKeyId: 'x', secretAccessKey: 'x' };

interface Row {
  name: string;
  action: string;
  resource: { type: string; id: string; attributes?: Record<string, boolean | string | number> };
  environment: string;
  outcome: 'allowed' | 'denied' | 'pending' | 'invalid';
}

const ROWS: Row[] = [
  { name: 'db.query on a Database in prod', action: 'db.query', resource: { type: 'Database', id: 'customers' }, environment: 'prod', outcome: 'allowed' },
  { name: 'db.query on a Database in dev', action: 'db.query', resource: { type: 'Database', id: 'customers' }, environment: 'dev', outcome: 'allowed' },
  { name: 'db.export on a Database in prod', action: 'db.export', resource: { type: 'Database', id: 'customers' }, environment: 'prod', outcome: 'pending' },
  { name: 'db.export on a Database in staging', action: 'db.export', resource: { type: 'Database', id: 'customers' }, environment: 'staging', outcome: 'allowed' },
  { name: 'db.schema.update on a Database in prod', action: 'db.schema.update', resource: { type: 'Database', id: 'customers' }, environment: 'prod', outcome: 'pending' },
  { name: 'iam.policy.update on an IamPolicy in prod', action: 'iam.policy.update', resource: { type: 'IamPolicy', id: 'billing-readers' }, environment: 'prod', outcome: 'pending' },
  { name: 'iam.policy.update on an IamPolicy in staging', action: 'iam.policy.update', resource: { type: 'IamPolicy', id: 'billing-readers' }, environment: 'staging', outcome: 'pending' },
  { name: 'user.password.reset of an admin', action: 'user.password.reset', resource: { type: 'User', id: 'u-123', attributes: { admin: true } }, environment: 'prod', outcome: 'pending' },
  { name: 'user.password.reset of a non-admin', action: 'user.password.reset', resource: { type: 'User', id: 'u-456', attributes: { admin: false } }, environment: 'prod', outcome: 'allowed' },
  { name: 'compute.instance.create in prod', action: 'compute.instance.create', resource: { type: 'Instance', id: 'i-1' }, environment: 'prod', outcome: 'pending' },
  { name: 'compute.instance.create in dev', action: 'compute.instance.create', resource: { type: 'Instance', id: 'i-1' }, environment: 'dev', outcome: 'allowed' },
  { name: 'any action on an audit/ resource', action: 'db.query', resource: { type: 'Database', id: 'audit/records' }, environment: 'dev', outcome: 'denied' },
  { name: 'storage.bucket.delete in prod', action: 'storage.bucket.delete', resource: { type: 'Bucket', id: 'invoices' }, environment: 'prod', outcome: 'denied' },
  { name: 'anything not covered (bucket delete in staging)', action: 'storage.bucket.delete', resource: { type: 'Bucket', id: 'invoices' }, environment: 'staging', outcome: 'denied' },
];

const actionIdOf = (index: number) => `${run}-row-${index}`;
const INVALID_ACTION_ID = `${run}-impostor`;

function requestEntry(actionId: string, row: Pick<Row, 'action' | 'resource' | 'environment'>, agentId = 'billing-agent', source = 'agent.billing-agent'): PutEventsRequestEntry {
  return {
    EventBusName: 'countersign',
    Source: source,
    DetailType: 'Action Requested',
    Detail: JSON.stringify({
      specVersion: '1',
      actionId,
      agent: { id: agentId, onBehalfOf: 'alice@example.com' },
      action: row.action,
      resource: row.resource,
      environment: row.environment,
      parameters: { reason: 'local-stack test', row: actionId },
      justification: 'exercising the policy table end to end',
    }),
  };
}

interface DecisionResponse {
  status: number;
  body: { outcome?: string; reason?: string; actionId?: string; error?: string; payloadSha256?: string | null };
}

async function getDecision(stack: LocalStack, actionId: string): Promise<DecisionResponse> {
  const response = await fetch(`${stack.url}/actions/${encodeURIComponent(actionId)}`);
  return { status: response.status, body: await response.json() as DecisionResponse['body'] };
}

/** Polls until the request is recorded (the evaluation is asynchronous, as behind EventBridge); bounded. */
async function waitForDecision(stack: LocalStack, actionId: string, timeoutMs = 10_000): Promise<DecisionResponse> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const decision = await getDecision(stack, actionId);
    if (decision.status !== 404 || Date.now() > deadline) return decision;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function javaRunningFor(dataDir: string): boolean {
  return spawnSync('pgrep', ['-f', join(dataDir, 'dynamodb')]).status === 0;
}

let dataDir: string;
let dynamoDbPort: number;
let stack: LocalStack;
let client: EventBridgeClient;
const log = memoryLogger();

let directoryFile: string;

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'countersign-stack-'));
  // Every row of the policy table is billing-agent's, and more of them wait for review than the example
  // directory's flood-control limit (5 open at once) allows: this file tests the policy table, not the limit.
  const example = JSON.parse(readFileSync(join(REPO_ROOT, 'config', 'directory.json'), 'utf8')) as { agents: Record<string, Record<string, unknown>> };
  // Outside the data folder, which a fresh start empties.
  directoryFile = join(mkdtempSync(join(tmpdir(), 'countersign-stack-directory-')), 'directory.json');
  writeFileSync(directoryFile, JSON.stringify({ ...example, agents: { ...example.agents, 'billing-agent': { ...example.agents['billing-agent'], limits: { maxOpenReviews: 100 } } } }));
  // The handler modules build their SDK clients once per process, so a restart reuses both ports.
  dynamoDbPort = await freePort();
  stack = await startLocalStack({ port: 0, dataDir, dynamoDbPort, log, directoryFile });
  client = new EventBridgeClient({ endpoint: stack.url, region: 'us-east-1', credentials });
  const entries = ROWS.map((row, index) => requestEntry(actionIdOf(index), row));
  entries.push(requestEntry(INVALID_ACTION_ID, ROWS[0] as Row, 'someone-else', 'agent.billing-agent'));
  for (let start = 0; start < entries.length; start += 10) {
    const response = await client.send(new PutEventsCommand({ Entries: entries.slice(start, start + 10) }));
    expect(response.FailedEntryCount).toBe(0);
  }
});

afterAll(async () => {
  client?.destroy();
  await stack?.stop();
  rmSync(dataDir, { recursive: true, force: true });
  rmSync(dirname(directoryFile), { recursive: true, force: true });
});

describe('the local stack', () => {
  it('answers GET /health with 200 once it is up', async () => {
    const response = await fetch(`${stack.url}/health`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: 'ok' });
  });

  it.each(ROWS.map((row, index) => [row.name, row.outcome, index] as const))('%s -> %s', async (_name, outcome, index) => {
    const decision = await waitForDecision(stack, actionIdOf(index));
    expect(decision.status).toBe(200);
    expect(decision.body).toMatchObject({ actionId: actionIdOf(index), outcome });
    expect(decision.body.payloadSha256).toMatch(/^[0-9a-f]{64}$/);
  });

  it('answers a request whose source disagrees with detail.agent.id as invalid, naming the field', async () => {
    const decision = await waitForDecision(stack, INVALID_ACTION_ID);
    expect(decision.status).toBe(200);
    expect(decision.body.outcome).toBe('invalid');
    expect(decision.body.reason).toContain('agent.id');
  });

  it('starts the approval workflow for a request that needs approval, named after its actionId', async () => {
    const pendingIndex = ROWS.findIndex((row) => row.action === 'db.export' && row.environment === 'prod');
    await waitForDecision(stack, actionIdOf(pendingIndex));
    const execution = stack.stepFunctions.list().find((e) => e.name === actionIdOf(pendingIndex));
    expect(execution?.stateMachineArn).toBe('arn:aws:states:us-east-1:000000000000:stateMachine:countersign-approval');
  });

  it('prints one line per step: requested, then the decision', async () => {
    await waitForDecision(stack, actionIdOf(0));
    await stack.bus.idle();
    const lines = log.lines.filter((line) => line.includes(actionIdOf(0)));
    expect(lines.some((line) => /requested\s+\S+\s+billing-agent: db\.query on Database\/customers in prod/.test(line))).toBe(true);
    expect(lines.some((line) => /decided\s+\S+\s+allowed/.test(line))).toBe(true);
  });

  it('prints agent text on one line, its control characters shown as [U+XXXX]: a newline cannot forge a line, an escape cannot drive the terminal', async () => {
    const actionId = `${run}-terminal`;
    // A resource id is free text: this one would print a second, forged line (an approval) and then clear the screen and retitle the window.
    const forged = 'customers\n12:00:00 outcome    payroll-export  approved - by bob\u001b[2J\u001b]0;countersign\u0007\u009b31m\r';
    const response = await client.send(new PutEventsCommand({ Entries: [requestEntry(actionId, { action: 'db.query', resource: { type: 'Database', id: forged }, environment: 'dev' })] }));
    expect(response.FailedEntryCount).toBe(0);
    expect((await waitForDecision(stack, actionId)).body.outcome).toBe('allowed');
    await stack.bus.idle();
    const lines = log.lines.filter((line) => line.includes(actionId) || line.includes('payroll-export'));
    expect(lines.find((line) => /requested/.test(line))).toContain('Database/customers[U+000A]12:00:00 outcome    payroll-export  approved - by bob[U+001B][2J[U+001B]]0;countersign[U+0007][U+009B]31m[U+000D] in dev');
    expect(lines.filter((line) => /[\u0000-\u001F\u007F-\u009F]/.test(line))).toEqual([]);
    expect(lines.filter((line) => line.startsWith('12:00:00 outcome'))).toEqual([]);
  });

  it('answers 404 with a JSON error for an actionId it never received', async () => {
    const decision = await getDecision(stack, `${run}-never-sent`);
    expect(decision.status).toBe(404);
    expect(decision.body.error).toBe('ActionNotFound');
  });

  it('answers 404 JSON for a path it does not serve', async () => {
    const response = await fetch(`${stack.url}/nothing-here`);
    expect(response.status).toBe(404);
    expect(await response.json()).toMatchObject({ message: expect.stringContaining('GET /actions/{actionId}') });
  });

  describe('hostile requests (issue 11): recorded invalid, never dead-lettered, the stack still up', () => {
    const hostile = (name: string, detail: (actionId: string) => string, source = 'agent.billing-agent') => ({ name, actionId: `${run}-hostile-${name.replace(/[^A-Za-z0-9]+/g, '-')}`, detail, source });
    const valid = (actionId: string, patch: Record<string, unknown> = {}) => ({
      specVersion: '1', actionId, agent: { id: 'billing-agent' }, action: 'db.query', resource: { type: 'Database', id: 'customers' },
      environment: 'prod', parameters: { sql: 'select 1' }, justification: 'issue 11', ...patch,
    });
    const DEPTH = 10_000;
    const CASES = [
      hostile('640000-byte parameters', (id) => JSON.stringify(valid(id, { parameters: { pad: 'x'.repeat(640_000) } }))),
      hostile('10000 levels', (id) => JSON.stringify(valid(id, { parameters: { deep: '<deep>' } })).replace('"<deep>"', `${'['.repeat(DEPTH)}${']'.repeat(DEPTH)}`)),
      hostile('proto attributes', (id) => JSON.stringify(valid(id, { action: 'user.password.reset', resource: { type: 'User', id: 'u-456', attributes: '<proto>' } })).replace('"<proto>"', '{"__proto__":{"admin":false}}')),
      hostile('lone surrogate source', (id) => JSON.stringify(valid(id)), 'agent.billing-agent\uD800'),
      hostile('resource type {"toString": 1}', (id) => JSON.stringify(valid(id, { resource: { type: { toString: 1 }, id: 'r'.repeat(100_000) } }))),
    ];

    it.each(CASES.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
      const response = await client.send(new PutEventsCommand({ Entries: [{ EventBusName: 'countersign', Source: c.source, DetailType: 'Action Requested', Detail: c.detail(c.actionId) }] }));
      expect(response.FailedEntryCount).toBe(0);
      const decision = await waitForDecision(stack, c.actionId);
      expect(decision).toMatchObject({ status: 200, body: { actionId: c.actionId, outcome: 'invalid', payloadSha256: null } });
      await stack.bus.idle();
      const recorded = stack.bus.recent().find((r) => r.event.id === response.Entries?.[0]?.EventId);
      expect(recorded?.deliveries).toEqual([expect.objectContaining({ status: 'delivered', attempts: 1 })]);
      expect((await fetch(`${stack.url}/health`)).status).toBe(200);
      // Its "requested" line is printed, shortened, and nothing failed on the way.
      const requestedLine = log.lines.find((line) => line.includes(c.actionId) && /requested/.test(line));
      expect(requestedLine?.length).toBeLessThan(600);
      expect(log.lines.filter((line) => /listener failed/.test(line))).toEqual([]);
    });
  });

  it('keeps decisions across a restart with the same data folder, and forgets them with fresh', async () => {
    const { port } = stack;
    const before = await waitForDecision(stack, actionIdOf(0));
    await stack.stop();
    expect(javaRunningFor(dataDir)).toBe(false);

    stack = await startLocalStack({ port, dataDir, dynamoDbPort, log, directoryFile });
    const after = await getDecision(stack, actionIdOf(0));
    expect(after).toEqual(before);
    await stack.stop();

    stack = await startLocalStack({ port, dataDir, dynamoDbPort, log, fresh: true, directoryFile });
    expect((await getDecision(stack, actionIdOf(0))).status).toBe(404);
  });
});

describe('while it is starting', () => {
  it('answers /health and the bus with 503 until the handlers are up', async () => {
    const port = await freePort();
    let release: (handlers: LocalHandlers) => void = () => undefined;
    const handlersReady = new Promise<LocalHandlers>((resolve) => { release = resolve; });
    const startingDir = mkdtempSync(join(tmpdir(), 'countersign-starting-'));
    const starting = startLocalStack({ port, dataDir: startingDir, log: memoryLogger(), loadHandlers: () => handlersReady, loadApprovalDefinition: async () => MINIMAL_APPROVAL });
    try {
      const url = `http://127.0.0.1:${port}`;
      // The port answers before DynamoDB Local is up; poll until it does (bounded).
      let health: Response | undefined;
      for (const deadline = Date.now() + 10_000; Date.now() < deadline;) {
        health = await fetch(`${url}/health`).catch(() => undefined);
        if (health !== undefined) break;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      expect(health?.status).toBe(503);
      const early = new EventBridgeClient({ endpoint: url, region: 'us-east-1', credentials, maxAttempts: 1 });
      await expect(early.send(new PutEventsCommand({ Entries: [requestEntry('early', ROWS[0] as Row)] }))).rejects.toMatchObject({
        name: 'ServiceUnavailableException',
        $metadata: { httpStatusCode: 503 },
      });
      early.destroy();

      const evaluated: string[] = [];
      release({
        ...idleHandlers,
        evaluateAction: async (event) => { evaluated.push(event.id); },
        decisionApi: async () => ({ statusCode: 200, body: '{}' }),
      });
      const ready = await starting;
      expect((await fetch(`${url}/health`)).status).toBe(200);
      await ready.stop();
      expect(javaRunningFor(startingDir)).toBe(false);
    } finally {
      release(idleHandlers);
      await starting.then((s) => s.stop(), () => undefined);
      rmSync(startingDir, { recursive: true, force: true });
    }
  });
});
