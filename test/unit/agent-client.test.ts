import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  ActionNotPermittedError,
  ApprovalAlreadyUsedError,
  ApprovalExpiredError,
  backoffDelay,
  CountersignAccessDeniedError,
  CountersignUnreachableError,
  createAgentClient,
  DecisionTimeoutError,
  decisionUrl,
  ExecutionReportError,
  InvalidActionRequestError,
  InvalidExecutionReportError,
  localAgentClient,
  PayloadChangedError,
  PayloadMismatchError,
  PutEventsFailedError,
  UnexpectedResponseError,
  type ActionSpec,
  type AgentClient,
} from '../../client/index.js';
import { canonicalJson, sha256Hex } from '../../shared/domain/canonical-json.js';
import { DETAIL_TYPE_EXECUTED, payloadSha256, validateActionExecuted, validateActionRequested, type ActionExecuted, type ActionRequest } from '../../shared/domain/contract.js';

/**
 * The agent client against an in-process stand-in for Countersign: one HTTP server that speaks the
 * AWS JSON PutEvents protocol on `POST /` (the real AWS SDK sends to it) and answers
 * `GET /actions/{actionId}` from a script per test. No module is mocked.
 */

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

interface Sent {
  source: string;
  detailType: string;
  eventBusName: string;
  detail: ActionRequest;
}

type Answer = { status: number; body: unknown; contentType?: string };
/** What GET /actions/{id} answers on its n-th read (0-based), given what was sent under that id. */
type Script = (read: number, sent: Sent | undefined) => Answer;

let server: Server;
let url: string;
let sent: Sent[] = [];
let reads = new Map<string, number>();
let script: Script;
let putEventsAnswer: ((entry: Sent) => unknown) | undefined;

function decision(actionId: string, outcome: string, hash: string | null, extra: Record<string, unknown> = {}) {
  return {
    actionId,
    requestEventId: 'ev-1',
    outcome,
    reason: outcome === 'pending' ? 'needs 1 approval from data-owners within 30 minutes (policy db-export-prod-needs-data-owners)' : `${outcome} by the test`,
    payloadSha256: hash,
    policyIds: ['db-export-prod-needs-data-owners'],
    reviewers: outcome === 'approved' ? [{ id: 'bob', vote: 'approve', at: '2026-11-22T03:00:00.000Z' }] : [],
    decidedAt: outcome === 'pending' ? null : '2026-11-22T03:00:00.000Z',
    // Still valid when the test runs: guard refuses to start after validUntil.
    validUntil: outcome === 'approved' || outcome === 'allowed' ? new Date(Date.now() + 15 * 60_000).toISOString() : null,
    ...extra,
  };
}

const notFound = (actionId: string): Answer => ({ status: 404, body: { error: 'ActionNotFound', message: `no request with actionId "${actionId}" has been received` } });
const hashOf = (entry: Sent | undefined) => (entry === undefined ? null : payloadSha256(entry.detail));

/** Answers 404 `first404` times, then pending `pendings` times, then `outcome` for the payload that was sent. */
function scripted(outcome: string, first404 = 0, pendings = 0, hash: (entry: Sent | undefined) => string | null = hashOf): Script {
  return (read, entry) => {
    const actionId = entry?.detail.actionId ?? 'unknown';
    if (read < first404) return notFound(actionId);
    if (read < first404 + pendings) return { status: 200, body: decision(actionId, 'pending', hash(entry)) };
    return { status: 200, body: decision(actionId, outcome, hash(entry)) };
  };
}

async function body(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
  const path = new URL(request.url ?? '/', 'http://x').pathname;
  if (request.method === 'POST' && path === '/') {
    const input = JSON.parse(await body(request)) as { Entries: { Source: string; DetailType: string; EventBusName: string; Detail: string }[] };
    const results = input.Entries.map((entry) => {
      const record: Sent = { source: entry.Source, detailType: entry.DetailType, eventBusName: entry.EventBusName, detail: JSON.parse(entry.Detail) as ActionRequest };
      sent.push(record);
      return putEventsAnswer?.(record) ?? { EventId: `ev-${sent.length}` };
    });
    const failed = results.filter((r) => typeof r === 'object' && r !== null && 'ErrorCode' in r).length;
    response.writeHead(200, { 'content-type': 'application/x-amz-json-1.1' });
    response.end(JSON.stringify({ FailedEntryCount: failed, Entries: results }));
    return;
  }
  const match = /^\/actions\/([^/]+)$/.exec(path);
  if (request.method === 'GET' && match !== null) {
    const actionId = decodeURIComponent(match[1] ?? '');
    const read = reads.get(actionId) ?? 0;
    reads.set(actionId, read + 1);
    const answer = script(read, sent.find((s) => s.detail.actionId === actionId));
    response.writeHead(answer.status, { 'content-type': answer.contentType ?? 'application/json' });
    response.end(typeof answer.body === 'string' ? answer.body : JSON.stringify(answer.body));
    return;
  }
  response.writeHead(404, { 'content-type': 'text/html' });
  response.end('<html><body><h1>Not Found</h1></body></html>');
}

function listen(handler: (request: IncomingMessage, response: ServerResponse) => void): Promise<{ server: Server; url: string }> {
  const created = createServer(handler);
  return new Promise((resolve) => {
    created.listen(0, '127.0.0.1', () => resolve({ server: created, url: `http://127.0.0.1:${(created.address() as AddressInfo).port}` }));
  });
}

/** A port nothing listens on (opened, then closed). */
async function closedPort(): Promise<number> {
  const { server: probe } = await listen(() => undefined);
  const { port } = probe.address() as AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

const EXPORT: ActionSpec = {
  agent: { onBehalfOf: 'alice@example.com' },
  action: 'db.export',
  resource: { type: 'Database', id: 'customers' },
  environment: 'prod',
  parameters: { table: 'customers', format: 'csv' },
  justification: 'Quarterly churn analysis for finance',
};

const clients: AgentClient[] = [];
function client(options: Parameters<typeof localAgentClient>[2] = {}, base = url): AgentClient {
  const created = localAgentClient('billing-agent', base, { pollIntervalMs: { initial: 1, max: 5 }, waitTimeoutMs: 10_000, ...options });
  clients.push(created);
  return created;
}

beforeAll(async () => {
  ({ server, url } = await listen((request, response) => { void handle(request, response); }));
});

afterAll(async () => {
  for (const created of clients) created.destroy();
  await new Promise((resolve) => server.close(resolve));
});

beforeEach(() => {
  sent = [];
  reads = new Map();
  putEventsAnswer = undefined;
  script = scripted('allowed');
});

describe('requestAction: validation before sending', () => {
  const BAD: [string, ActionSpec][] = [
    ['an empty justification', { ...EXPORT, justification: '' }],
    ['a field the contract does not have', { ...EXPORT, priority: 'urgent' } as ActionSpec],
    ['an actionId with a space', { ...EXPORT, actionId: 'export 1' }],
    ['a lower-case resource type', { ...EXPORT, resource: { type: 'database', id: 'customers' } }],
    ['an upper-case agent id', { ...EXPORT, agent: { id: 'Billing' } }],
    ['an environment with a space', { ...EXPORT, environment: 'prod east' }],
    ['a verb without a dot', { ...EXPORT, action: 'export' }],
    ['parameters over 64 KiB', { ...EXPORT, parameters: { blob: 'x'.repeat(70_000) } }],
    ['several problems at once', { ...EXPORT, justification: '', action: 'EXPORT', resource: { type: 'Database', id: '' } }],
  ];

  it.each(BAD)('refuses %s with exactly the reason the server would record, and sends nothing', async (_name, spec) => {
    const actionId = spec.actionId ?? 'fixed-id';
    const { actionId: _id, agent, ...rest } = spec;
    const server = validateActionRequested({ specVersion: '1', actionId, agent: { ...agent, id: agent?.id ?? 'billing-agent' }, ...rest });
    expect(server.ok).toBe(false);
    const error = await client().requestAction({ ...spec, actionId }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidActionRequestError);
    expect((error as Error).name).toBe('InvalidActionRequestError');
    expect((error as Error).message).toBe(server.ok ? '' : server.reason);
    expect(sent).toEqual([]);
  });
});

describe('requestAction: identity before sending', () => {
  it("refuses to send another agent's request, with the server's own message, and sends nothing", async () => {
    const error = await client().requestAction({ ...EXPORT, actionId: 'impostor-1', agent: { id: 'ops-agent' } }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidActionRequestError);
    expect((error as Error).message).toBe('agent.id: "ops-agent" does not match the event source "agent.billing-agent"; an agent may only send requests as itself');
    expect(sent).toEqual([]);
  });
});

describe('requestAction: sending and waiting', () => {
  it('sends Action Requested as agent.<id>, then waits through 404 and pending to the approval', async () => {
    script = scripted('approved', 2, 3);
    const onPending = vi.fn();
    const result = await client({ onPending }).requestAction(EXPORT);

    expect(sent).toHaveLength(1);
    const [entry] = sent;
    expect(entry).toMatchObject({ source: 'agent.billing-agent', detailType: 'Action Requested', eventBusName: 'countersign' });
    expect(entry?.detail).toMatchObject({ specVersion: '1', agent: { id: 'billing-agent', onBehalfOf: 'alice@example.com' }, parameters: { table: 'customers', format: 'csv' } });
    expect(entry?.detail.actionId).toMatch(/^billing-agent-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(reads.get(entry?.detail.actionId ?? '')).toBe(6);

    expect(onPending).toHaveBeenCalledTimes(1);
    expect(onPending.mock.calls[0]?.[0]).toMatchObject({ outcome: 'pending', actionId: entry?.detail.actionId, reason: expect.stringContaining('needs 1 approval') });
    expect(result).toEqual({
      outcome: 'approved',
      actionId: entry?.detail.actionId,
      requestEventId: 'ev-1',
      reason: 'approved by the test',
      payloadSha256: payloadSha256(entry?.detail as ActionRequest),
      policyIds: ['db-export-prod-needs-data-owners'],
      reviewers: [{ id: 'bob', vote: 'approve', at: '2026-11-22T03:00:00.000Z' }],
      decidedAt: '2026-11-22T03:00:00.000Z',
      validUntil: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
      execution: null,
    });
  });

  it.each(['allowed', 'denied', 'rejected', 'expired', 'invalid'] as const)('returns the final outcome %s as it is', async (outcome) => {
    script = scripted(outcome);
    const result = await client().requestAction({ ...EXPORT, actionId: `id-${outcome}` });
    expect(result.outcome).toBe(outcome);
    expect(result.actionId).toBe(`id-${outcome}`);
    expect(result.reason).toBe(`${outcome} by the test`);
  });

  it('refuses an approval the server recorded for another payload', async () => {
    script = scripted('approved', 0, 0, () => 'f'.repeat(64));
    const error = await client().requestAction({ ...EXPORT, actionId: 'reused-id' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PayloadMismatchError);
    expect((error as Error).message).toMatch(/^the decision for reused-id is for payload ffffffff…, not for the request this agent sent \([0-9a-f]{8}…\): the actionId was already used/);
  });

  it('gives up after the wait timeout in one line that says it is still pending', async () => {
    script = scripted('approved', 0, Number.POSITIVE_INFINITY);
    const error = await client({ waitTimeoutMs: 50 }).requestAction({ ...EXPORT, actionId: 'slow-1' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DecisionTimeoutError);
    expect((error as Error).message).toBe('no decision for slow-1 after 0.1 s; it is still pending: needs 1 approval from data-owners within 30 minutes (policy db-export-prod-needs-data-owners)');
  });

  it('stops waiting when the signal aborts, with the signal\'s reason', async () => {
    script = scripted('approved', 0, Number.POSITIVE_INFINITY);
    const controller = new AbortController();
    const waiting = client({ signal: controller.signal, onPending: () => controller.abort(new Error('agent shutting down')) }).requestAction({ ...EXPORT, actionId: 'aborted-1' });
    await expect(waiting).rejects.toThrow('agent shutting down');
    expect(sent).toHaveLength(1);
  });

  it('throws PutEventsFailedError when the bus refuses the entry', async () => {
    putEventsAnswer = () => ({ ErrorCode: 'InternalFailure', ErrorMessage: 'try again' });
    const error = await client().requestAction({ ...EXPORT, actionId: 'refused-1' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PutEventsFailedError);
    expect((error as Error).message).toBe(`the bus ${url} refused refused-1 (InternalFailure: try again)`);
    expect(reads.size).toBe(0);
  });
});

describe('guard', () => {
  it('runs the function on allowed, with a deep-frozen copy of the approved parameters, and returns its result', async () => {
    script = scripted('allowed');
    const spec: ActionSpec = { ...EXPORT, parameters: { table: 'customers', columns: ['id', 'plan'] } };
    const fn = vi.fn((approval: { parameters: { columns?: unknown } }) => {
      expect(() => { (approval.parameters.columns as string[]).push('ssn'); }).toThrow(TypeError);
      return 'exported';
    });
    await expect(client().guard(spec, fn)).resolves.toBe('exported');
    expect(fn).toHaveBeenCalledTimes(1);
    expect(fn.mock.calls[0]?.[0]).toMatchObject({ outcome: 'allowed', parameters: { table: 'customers', columns: ['id', 'plan'] } });
    expect(spec.parameters.columns).toEqual(['id', 'plan']);
  });

  it.each(['denied', 'rejected', 'expired', 'invalid'] as const)('does not run the function on %s and throws ActionNotPermittedError with the decision', async (outcome) => {
    script = scripted(outcome);
    const fn = vi.fn();
    const error = await client().guard({ ...EXPORT, actionId: `g-${outcome}` }, fn).catch((e: unknown) => e);
    expect(fn).not.toHaveBeenCalled();
    expect(error).toBeInstanceOf(ActionNotPermittedError);
    expect((error as ActionNotPermittedError).decision).toMatchObject({ outcome, actionId: `g-${outcome}` });
    expect((error as Error).message).toBe(`g-${outcome} was ${outcome}: ${outcome} by the test`);
  });

  it('refuses to run when the request\'s parameters were changed while waiting for approval', async () => {
    script = scripted('approved', 0, 2);
    const spec = { ...EXPORT, parameters: { table: 'customers', format: 'csv' } };
    const fn = vi.fn();
    const onPending = () => { spec.parameters.table = 'customers_with_card_numbers'; };
    const error = await client().guard(spec, fn, { onPending }).catch((e: unknown) => e);
    expect(fn).not.toHaveBeenCalled();
    expect(error).toBeInstanceOf(PayloadChangedError);
    expect((error as Error).message).toMatch(/changed after it was sent \(approved payload [0-9a-f]{8}…, now [0-9a-f]{8}…\): refusing to run it/);
    // What was sent (and approved) is the request as it was when guard was called.
    expect(sent[0]?.detail.parameters).toEqual({ table: 'customers', format: 'csv' });
  });
});

/** The execution reports the fake bus received, validated with the server's own rules. */
function reports(): (Sent & { report: ActionExecuted })[] {
  return sent.filter((entry) => entry.detailType === DETAIL_TYPE_EXECUTED).map((entry) => {
    const validation = validateActionExecuted(entry.detail);
    if (!validation.ok) throw new Error(`the client sent an invalid report: ${validation.reason}`);
    return { ...entry, report: validation.report };
  });
}

describe('guard reports the execution', () => {
  it('reports succeeded, as the agent, with the approved payload hash, the times and the SHA-256 of the canonical result', async () => {
    script = scripted('approved');
    const before = Date.now();
    const result = { rows: 1204, file: 's3://exports/customers.csv' };
    await expect(client().guard({ ...EXPORT, actionId: 'run-ok' }, () => result, { summarize: (r) => `exported ${r.rows} rows` })).resolves.toBe(result);
    const [report, ...more] = reports();
    expect(more).toHaveLength(0);
    expect(report).toMatchObject({ source: 'agent.billing-agent', eventBusName: 'countersign' });
    expect(report?.report).toEqual({
      specVersion: '1',
      actionId: 'run-ok',
      payloadSha256: payloadSha256(sent[0]?.detail as ActionRequest),
      status: 'succeeded',
      startedAt: expect.any(String),
      finishedAt: expect.any(String),
      result: { summary: 'exported 1204 rows', sha256: sha256Hex(canonicalJson({ file: 's3://exports/customers.csv', rows: 1204 })) },
    });
    expect(Date.parse(report?.report.startedAt ?? '')).toBeGreaterThanOrEqual(before - 1);
    expect(Date.parse(report?.report.finishedAt ?? '')).toBeGreaterThanOrEqual(Date.parse(report?.report.startedAt ?? ''));
  });

  it('reports failed with the error\'s name (in the contract\'s charset) and message, then rethrows the same error', async () => {
    script = scripted('allowed');
    class QuotaExceeded extends Error {
      constructor() {
        super('export quota of 10 per day reached');
        this.name = 'Quota Exceeded!';
      }
    }
    const thrown = new QuotaExceeded();
    const error = await client().guard({ ...EXPORT, actionId: 'run-fails' }, () => { throw thrown; }).catch((e: unknown) => e);
    expect(error).toBe(thrown);
    expect(reports().map((r) => r.report)).toEqual([expect.objectContaining({
      actionId: 'run-fails',
      status: 'failed',
      error: { code: 'Quota_Exceeded_', message: 'export quota of 10 per day reached' },
    })]);
    expect(reports()[0]?.report.result).toBeUndefined();
  });

  it('reports a failure thrown as a non-Error, and a success that returns nothing without a result', async () => {
    script = scripted('allowed');
    await client().guard({ ...EXPORT, actionId: 'run-string' }, () => { throw 'disk full'; }).catch(() => undefined);
    await client().guard({ ...EXPORT, actionId: 'run-void' }, () => undefined);
    const [failed, succeeded] = reports().map((r) => r.report);
    expect(failed).toMatchObject({ actionId: 'run-string', status: 'failed', error: { code: 'string', message: 'disk full' } });
    expect(succeeded).toMatchObject({ actionId: 'run-void', status: 'succeeded' });
    expect(succeeded?.result).toBeUndefined();
  });

  it('refuses to start after validUntil with ApprovalExpiredError: the function does not run and nothing is reported', async () => {
    script = (_read, entry) => ({ status: 200, body: decision(entry?.detail.actionId ?? '', 'approved', hashOf(entry), { validUntil: new Date(Date.now() - 1000).toISOString() }) });
    const fn = vi.fn();
    const error = await client().guard({ ...EXPORT, actionId: 'run-late' }, fn).catch((e: unknown) => e);
    expect(fn).not.toHaveBeenCalled();
    expect(error).toBeInstanceOf(ApprovalExpiredError);
    expect((error as Error).message).toMatch(/^the run-late approval was valid until .*Z, and it is .*Z: refusing to run it; send the request again as a new action$/);
    expect(reports()).toHaveLength(0);
  });

  it('refuses to run an approval already used (an execution is on record)', async () => {
    const execution = { status: 'succeeded', agentId: 'billing-agent', startedAt: '2026-11-22T03:01:00.000Z', finishedAt: '2026-11-22T03:01:02.000Z', reportedAt: '2026-11-22T03:01:02.100Z', resultSummary: null, resultSha256: null, error: null };
    script = (_read, entry) => ({ status: 200, body: decision(entry?.detail.actionId ?? '', 'approved', hashOf(entry), { execution }) });
    const fn = vi.fn();
    const error = await client().guard({ ...EXPORT, actionId: 'run-twice' }, fn).catch((e: unknown) => e);
    expect(fn).not.toHaveBeenCalled();
    expect(error).toBeInstanceOf(ApprovalAlreadyUsedError);
    expect(reports()).toHaveLength(0);
  });

  it('throws ExecutionReportError carrying the result and the report when the bus refuses the report', async () => {
    script = scripted('allowed');
    putEventsAnswer = (entry) => (entry.detailType === DETAIL_TYPE_EXECUTED ? { ErrorCode: 'InternalFailure', ErrorMessage: 'try again' } : undefined);
    const error = await client().guard({ ...EXPORT, actionId: 'run-unreported' }, () => 42).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ExecutionReportError);
    expect((error as ExecutionReportError).outcome).toEqual({ status: 'succeeded', result: 42 });
    expect((error as ExecutionReportError).report).toMatchObject({ actionId: 'run-unreported', status: 'succeeded' });
    expect((error as Error).message).toBe(`run-unreported ran (succeeded) but its execution report was not sent: the bus ${url} refused the execution report of run-unreported (InternalFailure: try again); send error.report with reportExecution`);
  });
});

describe('reportExecution', () => {
  const REPORT = {
    actionId: 'acted-elsewhere',
    payloadSha256: 'a'.repeat(64),
    status: 'succeeded',
    startedAt: '2026-12-07T03:00:00.000Z',
    finishedAt: '2026-12-07T03:00:05.000Z',
    result: { summary: 'rotated the key' },
  } as const;

  it('sends Action Executed as agent.<id> with specVersion 1 and returns the event id', async () => {
    const { eventId } = await client().reportExecution(REPORT);
    expect(eventId).toBe('ev-1');
    expect(sent).toEqual([{ source: 'agent.billing-agent', detailType: 'Action Executed', eventBusName: 'countersign', detail: { specVersion: '1', ...REPORT } }]);
  });

  it.each([
    ['a failure without an error', { ...REPORT, status: 'failed' as const }, 'error: is required when status is "failed" (code and message of what went wrong)'],
    ['a finish before the start', { ...REPORT, finishedAt: '2026-12-07T02:59:59.000Z' }, 'finishedAt: must not be before startedAt'],
    ['a summary over 1,000 characters', { ...REPORT, result: { summary: 'x'.repeat(1001) } }, 'result.summary: must be at most 1000 characters'],
  ])('refuses %s with the server\'s reason and sends nothing', async (_what, report, reason) => {
    const error = await client().reportExecution(report).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidExecutionReportError);
    expect((error as InvalidExecutionReportError).reason).toBe(reason);
    expect((error as Error).message).toBe(`execution report for acted-elsewhere not sent: ${reason}`);
    expect(sent).toHaveLength(0);
  });
});

describe('decision responses', () => {
  it('gives the execution on record, and null from a server that does not send it', async () => {
    const execution = { status: 'failed', agentId: 'billing-agent', startedAt: '2026-11-22T03:01:00.000Z', finishedAt: '2026-11-22T03:01:02.000Z', reportedAt: '2026-11-22T03:01:02.100Z', resultSummary: null, resultSha256: null, error: { code: 'Timeout', message: 'took too long' } };
    script = (_read, entry) => ({ status: 200, body: decision(entry?.detail.actionId ?? '', 'approved', hashOf(entry), { execution }) });
    await expect(client().requestAction({ ...EXPORT, actionId: 'with-execution' })).resolves.toMatchObject({ execution });
    script = (_read, entry) => {
      const { validUntil: _v, ...older } = decision(entry?.detail.actionId ?? '', 'approved', hashOf(entry));
      return { status: 200, body: older };
    };
    await expect(client().requestAction({ ...EXPORT, actionId: 'older-server' })).resolves.toMatchObject({ execution: null, validUntil: null });
  });
});

describe('progress while pending', () => {
  it('calls onVote once per newly counted vote, with the votes so far, and onPending once', async () => {
    const dan = { id: 'dan', vote: 'approve', at: '2026-11-22T03:00:00.000Z' };
    const answers = [[], [dan], [dan]];
    script = (read, entry) => {
      const actionId = entry?.detail.actionId ?? 'unknown';
      const reviewers = answers[read];
      if (reviewers !== undefined) return { status: 200, body: decision(actionId, 'pending', hashOf(entry), { reviewers }) };
      return { status: 200, body: decision(actionId, 'approved', hashOf(entry)) };
    };
    const onPending = vi.fn();
    const onVote = vi.fn();
    const result = await client({ onVote }).requestAction(EXPORT, { onPending });
    expect(result.outcome).toBe('approved');
    expect(onPending).toHaveBeenCalledTimes(1);
    expect(onVote).toHaveBeenCalledTimes(1);
    expect(onVote.mock.calls[0]?.[0]).toMatchObject({ outcome: 'pending', reviewers: [dan] });
  });
});

describe('errors a person meets are one line', () => {
  it('says the bus is unreachable and to run npm start', async () => {
    const port = await closedPort();
    const error = await client({}, `http://127.0.0.1:${port}`).requestAction(EXPORT).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CountersignUnreachableError);
    expect((error as Error).message).toBe(`cannot reach the Countersign bus at http://127.0.0.1:${port} (connection refused): is \`npm start\` running?`);
    expect((error as Error).cause).toBeDefined();
  });

  it('says the decision API is unreachable and to run npm start', async () => {
    const port = await closedPort();
    const apiDown = createAgentClient({ agentId: 'billing-agent', busEndpoint: url, decisionApiUrl: `http://127.0.0.1:${port}/`, region: 'us-east-1', credentials: { accessKeyId: 'x', secretAccessKey: 'x' } });
    clients.push(apiDown);
    const error = await apiDown.requestAction(EXPORT).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CountersignUnreachableError);
    expect((error as Error).message).toBe(`cannot reach the Countersign decision API at http://127.0.0.1:${port} (connection refused): is \`npm start\` running?`);
  });

  it('gives up on a bus that accepts the connection and never answers, in one line', async () => {
    const { server: silent, url: silentUrl } = await listen(() => undefined);
    try {
      const hung = client({ requestTimeoutMs: 300 }, silentUrl);
      const error = await hung.requestAction(EXPORT).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(CountersignUnreachableError);
      expect((error as Error).message).toBe(`the bus at ${silentUrl} did not answer PutEvents within 0.3 s: is it the local stack, and is \`npm start\` healthy?`);
    } finally {
      silent.closeAllConnections();
      await new Promise((resolve) => silent.close(resolve));
    }
  });

  it('gives up on a decision API that never answers when the wait ends, and says so', async () => {
    const { server: silent, url: silentUrl } = await listen(() => undefined);
    try {
      const apiHung = createAgentClient({ agentId: 'billing-agent', busEndpoint: url, decisionApiUrl: silentUrl, region: 'us-east-1', credentials: { accessKeyId: 'x', secretAccessKey: 'x' }, requestTimeoutMs: 200, waitTimeoutMs: 700 });
      clients.push(apiHung);
      const error = await apiHung.requestAction({ ...EXPORT, actionId: 'hung-api-1' }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(DecisionTimeoutError);
      expect((error as Error).message).toBe(`no decision for hung-api-1 after 0.7 s; the decision API never answered (${silentUrl} did not answer within 0.2 s)`);
    } finally {
      silent.closeAllConnections();
      await new Promise((resolve) => silent.close(resolve));
    }
  });

  it('names the URL and what answered when the bus endpoint is not an EventBridge endpoint', async () => {
    const { server: html, url: htmlUrl } = await listen((_request, response) => {
      response.writeHead(404, { 'content-type': 'text/html' });
      response.end('<html><body>Not Found</body></html>');
    });
    try {
      const error = await client({}, htmlUrl).requestAction(EXPORT).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(UnexpectedResponseError);
      expect((error as Error).message).toMatch(new RegExp(`^PutEvents to ${htmlUrl} answered 404 \\(.+\\): that is not an EventBridge endpoint`));
      expect((error as Error).message).not.toContain('\n');
    } finally {
      await new Promise((resolve) => html.close(resolve));
    }
  });

  it('names the URL and what answered when the decision API route answers HTML', async () => {
    script = () => ({ status: 404, body: '<html><body>Not Found</body></html>', contentType: 'text/html' });
    const error = await client().requestAction({ ...EXPORT, actionId: 'html-1' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UnexpectedResponseError);
    expect((error as Error).message).toBe(`GET ${url}/actions/html-1 answered 404 text/html "<html><body>Not Found</body></html>": no decision API there; decisionApiUrl is the local stack's URL (http://127.0.0.1:4010) or the stack's DecisionApiUrl output`);
  });

  it('refuses a 200 that is not a decision', async () => {
    script = () => ({ status: 200, body: '<!doctype html><title>Welcome</title>', contentType: 'text/html' });
    const error = await client().requestAction({ ...EXPORT, actionId: 'html-2' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UnexpectedResponseError);
    expect((error as Error).message).toContain(`GET ${url}/actions/html-2 answered 200 text/html "<!doctype html><title>Welcome</title>", not a decision`);
  });

  it('explains a 403 from a Function URL', async () => {
    script = () => ({ status: 403, body: { Message: 'Forbidden' } });
    const error = await client().requestAction({ ...EXPORT, actionId: 'forbidden-1' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CountersignAccessDeniedError);
    // Lambda checks both actions for an AWS_IAM Function URL: naming only the first sends the reader to a second 403.
    expect((error as Error).message).toMatch(/answered 403 application\/json .*: the request was not signed: in AWS the decision API needs SigV4 \(sign: true\) and lambda:InvokeFunctionUrl and lambda:InvokeFunction \(with the condition lambda:InvokedViaFunctionUrl = true\)$/);
  });
});

describe('polling and URLs', () => {
  it('backs off from the initial delay, doubling, never above the cap, with jitter in the upper half', () => {
    const bounds = { initial: 200, max: 5000 };
    expect([0, 1, 2, 3, 4, 5, 10].map((attempt) => backoffDelay(attempt, bounds, () => 1))).toEqual([200, 400, 800, 1600, 3200, 5000, 5000]);
    expect([0, 1, 5].map((attempt) => backoffDelay(attempt, bounds, () => 0))).toEqual([100, 200, 2500]);
  });

  it('reads decisions at <base>/actions/<encoded id>, with or without a trailing slash', () => {
    expect(decisionUrl('http://127.0.0.1:4010', 'a:b').href).toBe('http://127.0.0.1:4010/actions/a%3Ab');
    expect(decisionUrl('http://127.0.0.1:4010/', 'a:b').href).toBe('http://127.0.0.1:4010/actions/a%3Ab');
    expect(decisionUrl('https://abc123.lambda-url.eu-west-1.on.aws/', 'x-1').href).toBe('https://abc123.lambda-url.eu-west-1.on.aws/actions/x-1');
    expect(decisionUrl('https://example.com/countersign', 'x-1').href).toBe('https://example.com/countersign/actions/x-1');
  });
});
