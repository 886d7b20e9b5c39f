import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import vm from 'node:vm';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditRecordsView } from '../../local/audit-api.js';
import { memoryLogger } from '../../local/log.js';
import { startLocalStack, type LocalHandlers, type LocalStack } from '../../local/local-stack.js';
import { eventually, MINIMAL_APPROVAL } from './support.js';

/**
 * The audit page of the local stack end to end: real requests through the real EventBridge client
 * (an allowed query, a denied delete, a prod export that bob approves through the votes API, and a
 * request of another agent), the real audit-writer writing the log, then `/audit/records` read
 * back with its filters, counts and latencies, and `/audit` served as a page whose script can only
 * show text.
 */

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

const run = `ap${Date.now().toString(36)}`;
const ALLOWED = `${run}-allowed`;
const DENIED = `${run}-denied`;
const EXPORT = `${run}-export`;
const OPS = `${run}-ops`;
/** A request the contract refuses (no agent, no resource): recorded `invalid`, without an agent id. */
const MALFORMED = `${run}-malformed`;
const HOSTILE = '<img src=x onerror="alert(1)"> export it all';
const ELEMENT_IDS = ['filter-agent', 'filter-outcome', 'filter-event-type', 'filter-range', 'filter-from', 'filter-to', 'records', 'chart-outcomes', 'chart-latency', 'totals'];

let dataDir: string;
let stack: LocalStack;
let events: EventBridgeClient;
let startedAt: string;
const log = memoryLogger();

async function send(actionId: string, agent: string, request: { action: string; resource: { type: string; id: string }; environment: string }): Promise<void> {
  const response = await events.send(new PutEventsCommand({ Entries: [{
    EventBusName: 'countersign',
    Source: `agent.${agent}`,
    DetailType: 'Action Requested',
    Detail: JSON.stringify({
      specVersion: '1',
      actionId,
      agent: { id: agent, onBehalfOf: 'alice@example.com' },
      ...request,
      parameters: { table: 'customers', note: HOSTILE },
      justification: HOSTILE,
    }),
  }] }));
  expect(response.FailedEntryCount).toBe(0);
}

async function outcomeOf(actionId: string): Promise<string | undefined> {
  const response = await fetch(`${stack.url}/actions/${encodeURIComponent(actionId)}`);
  if (response.status !== 200) return undefined;
  return (await response.json() as { outcome?: string }).outcome;
}

const outcome = (actionId: string, wanted: string) => eventually(async () => ((await outcomeOf(actionId)) === wanted ? wanted : undefined), `${actionId} to be ${wanted}`, 20_000);

async function records(query: Record<string, string> = {}): Promise<{ status: number; body: AuditRecordsView & { message?: string } }> {
  const response = await fetch(`${stack.url}/audit/records?${new URLSearchParams(query).toString()}`);
  return { status: response.status, body: await response.json() as AuditRecordsView & { message?: string } };
}

/** The final record of each request: `decided` for policy decisions, `outcome` after review. */
function hasFinalRecords(view: AuditRecordsView): boolean {
  const has = (actionId: string, eventType: string) => view.records.some((r) => r.actionId === actionId && r.eventType === eventType);
  return has(ALLOWED, 'decided') && has(DENIED, 'decided') && has(OPS, 'decided') && has(EXPORT, 'outcome') && has(MALFORMED, 'decided');
}

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'countersign-audit-page-'));
  stack = await startLocalStack({ port: 0, dataDir, log });
  events = new EventBridgeClient({ endpoint: stack.url, region: 'us-east-1', credentials: { accessKeyId: 'x', secretAccessKey: 'x' } });
  startedAt = new Date().toISOString();

  await send(ALLOWED, 'billing-agent', { action: 'db.query', resource: { type: 'Database', id: 'customers' }, environment: 'prod' });
  await send(DENIED, 'billing-agent', { action: 'storage.bucket.delete', resource: { type: 'Bucket', id: 'invoices' }, environment: 'prod' });
  await send(EXPORT, 'billing-agent', { action: 'db.export', resource: { type: 'Database', id: 'customers' }, environment: 'prod' });
  await send(OPS, 'ops-agent', { action: 'db.query', resource: { type: 'Database', id: 'customers' }, environment: 'dev' });
  const malformed = await events.send(new PutEventsCommand({ Entries: [{
    EventBusName: 'countersign', Source: 'agent.rogue-agent', DetailType: 'Action Requested', Detail: JSON.stringify({ specVersion: '1', actionId: MALFORMED, action: 'db.query' }),
  }] }));
  expect(malformed.FailedEntryCount).toBe(0);
  await outcome(ALLOWED, 'allowed');
  await outcome(MALFORMED, 'invalid');
  await outcome(DENIED, 'denied');
  await outcome(OPS, 'allowed');
  await outcome(EXPORT, 'pending');
  // Votes are taken once the review is open (request-review runs in the workflow).
  await eventually(async () => {
    const response = await fetch(`${stack.url}/actions/${EXPORT}/votes`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-countersign-reviewer': 'bob' },
      body: JSON.stringify({ vote: 'approve', comment: 'export scope checked' }),
    });
    return response.status === 200 ? true : undefined;
  }, 'bob vote accepted');
  await outcome(EXPORT, 'approved');
  await eventually(async () => {
    const { status, body } = await records({ limit: '1000' });
    return status === 200 && hasFinalRecords(body) ? true : undefined;
  }, 'the audit log to hold the final record of every request', 30_000);
});

afterAll(async () => {
  events?.destroy();
  await stack?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('GET /audit/records', () => {
  it('answers the records of the log, newest first, with the agents and outcomes to filter on', async () => {
    const { status, body } = await records();
    expect(status).toBe(200);
    expect(body.total).toBe(body.records.length);
    const times = body.records.map((r) => r.occurredAt);
    expect(times).toEqual([...times].sort().reverse());
    expect(new Set(body.records.map((r) => r.actionId))).toEqual(new Set([ALLOWED, DENIED, EXPORT, OPS, MALFORMED]));
    expect(body.agents).toEqual(['billing-agent', 'ops-agent']);
    expect(body.outcomes).toEqual(expect.arrayContaining(['allowed', 'denied', 'approved', 'rejected', 'expired', 'pending', 'invalid']));
    const denied = body.records.find((r) => r.actionId === DENIED && r.eventType === 'decided');
    expect(denied).toMatchObject({ agentId: 'billing-agent', action: 'storage.bucket.delete', resourceType: 'Bucket', resourceId: 'invoices', environment: 'prod', outcome: 'denied' });
    expect(denied?.payloadSha256).toMatch(/^[0-9a-f]{64}$/);
    expect(body.records.find((r) => r.actionId === EXPORT && r.eventType === 'requested')).toMatchObject({ justification: HOSTILE, parameters: { table: 'customers', note: HOSTILE } });
  });

  it('gives each record its object key and record hash, and the policies of its request', async () => {
    const { body } = await records({ limit: '1000' });
    for (const record of body.records) {
      expect(record.objectKey).toMatch(/^audit\/dt=\d{4}-\d{2}-\d{2}\/hour=\d{2}\/shard=[^/]+\/[^/]+\.ndjson\.gz$/);
      expect(existsSync(join(stack.auditDir ?? '', record.objectKey ?? ''))).toBe(true);
      expect(record.hash).toMatch(/^[0-9a-f]{64}$/);
    }
    const vote = body.records.find((r) => r.actionId === EXPORT && r.eventType === 'vote');
    expect(vote?.policyIds).toEqual([]);
    expect(vote?.requestPolicyIds).toEqual(body.records.find((r) => r.actionId === EXPORT && r.eventType === 'decided')?.policyIds);
    expect(vote?.requestPolicyIds.length).toBeGreaterThan(0);
  });

  it('gives every record of a malformed request the source its sender claimed, as it has no agent', async () => {
    const { body } = await records({ limit: '1000' });
    const rows = body.records.filter((r) => r.actionId === MALFORMED);
    expect(rows.map((r) => r.eventType)).toEqual(expect.arrayContaining(['requested', 'decided']));
    for (const row of rows) expect(row).toMatchObject({ agentId: null, claimedSource: 'agent.rogue-agent' });
  });

  it('filters by agent', async () => {
    const { body } = await records({ agent: 'ops-agent' });
    expect(body.records.length).toBeGreaterThan(0);
    expect(new Set(body.records.map((r) => r.actionId))).toEqual(new Set([OPS]));
    expect(body.agents).toEqual(['billing-agent', 'ops-agent']);
  });

  it('filters by the outcome of the request: approved shows the export, its review and bob\'s vote', async () => {
    const { body } = await records({ outcome: 'approved' });
    expect(new Set(body.records.map((r) => r.actionId))).toEqual(new Set([EXPORT]));
    expect(body.records.map((r) => r.eventType)).toEqual(expect.arrayContaining(['requested', 'decided', 'review_requested', 'vote', 'outcome']));
    expect(body.records.find((r) => r.eventType === 'vote')).toMatchObject({ reviewerId: 'bob', vote: 'approve', comment: 'export scope checked' });
    expect(new Set((await records({ outcome: 'denied' })).body.records.map((r) => r.actionId))).toEqual(new Set([DENIED]));
    expect((await records({ outcome: 'expired' })).body.records).toEqual([]);
  });

  it('filters by event type, and the limit keeps the newest', async () => {
    const { body } = await records({ eventType: 'decided' });
    expect(new Set(body.records.map((r) => r.eventType))).toEqual(new Set(['decided']));
    const limited = await records({ limit: '2' });
    const all = await records();
    expect(limited.body.records.map((r) => r.eventId)).toEqual(all.body.records.slice(0, 2).map((r) => r.eventId));
    expect(limited.body.total).toBe(all.body.total);
  });

  it('excludes records outside the time range', async () => {
    expect((await records({ from: startedAt })).body.total).toBe((await records()).body.total);
    expect((await records({ to: startedAt })).body).toMatchObject({ total: 0, records: [], perHour: [], latencies: [] });
    const later = new Date(Date.now() + 3_600_000).toISOString();
    expect((await records({ from: later })).body).toMatchObject({ total: 0, records: [], perHour: [], latencies: [] });
  });

  it('counts each request once per hour, at its final outcome (the export as approved, not also as pending)', async () => {
    const { body } = await records();
    const totals: Record<string, number> = {};
    for (const hour of body.perHour) {
      expect(hour.hour).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:00:00Z$/);
      for (const [name, n] of Object.entries(hour.counts)) totals[name] = (totals[name] ?? 0) + n;
    }
    expect(totals).toEqual({ allowed: 2, denied: 1, approved: 1, invalid: 1 });
    const billing = (await records({ agent: 'billing-agent', outcome: 'allowed' })).body.perHour;
    expect(billing.flatMap((h) => Object.entries(h.counts))).toEqual([['allowed', 1]]);
  });

  it('gives the approval latency of the approved export, from its request to its outcome', async () => {
    const { body } = await records();
    expect(body.latencies).toHaveLength(1);
    const [latency] = body.latencies;
    expect(latency).toMatchObject({ actionId: EXPORT, agentId: 'billing-agent', outcome: 'approved' });
    expect(latency!.seconds).toBeGreaterThanOrEqual(0);
    expect(latency!.seconds).toBeCloseTo((Date.parse(latency!.decidedAt) - Date.parse(latency!.requestedAt)) / 1000, 3);
  });

  it.each([
    [{ from: 'yesterday' }, 'from'],
    [{ to: '2026-11-20 10:00' }, 'to'],
    [{ limit: '0' }, 'limit'],
    [{ limit: '1001' }, 'limit'],
    [{ outcome: 'maybe' }, 'outcome'],
    [{ agnet: 'billing-agent' }, 'agnet'],
  ])('answers 400 for %o, naming %s', async (query, parameter) => {
    const { status, body } = await records(query);
    expect(status).toBe(400);
    expect(body.message).toMatch(new RegExp(`^${parameter}: `));
  });
});

describe('GET /audit', () => {
  it('serves the page with a per-response CSP nonce, the element ids, and links to Slack', async () => {
    const response = await fetch(`${stack.url}/audit`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/html; charset=utf-8');
    const csp = response.headers.get('content-security-policy') ?? '';
    const nonce = /script-src 'nonce-([^']+)'/.exec(csp)?.[1];
    expect(nonce).toBeDefined();
    expect(csp).toContain("default-src 'none'");
    const html = await response.text();
    expect(html).toContain(`<script nonce="${nonce}">`);
    expect(html.match(/<script\b/g)).toHaveLength(1);
    for (const id of ELEMENT_IDS) expect(html).toContain(`id="${id}"`);
    expect(html).toContain('href="/slack"');
    expect(html).toContain('npm run audit -- verify');
    expect(html).not.toMatch(/(src|href)="https?:/);
    const again = (await fetch(`${stack.url}/audit`)).headers.get('content-security-policy');
    expect(again).not.toBe(csp);
  });

  it('puts text in the page only as text: no innerHTML or other HTML sinks in its script (nor in the Slack page)', async () => {
    for (const page of ['/audit', '/slack']) {
      const html = await (await fetch(`${stack.url}${page}`)).text();
      const script = /<script nonce="[^"]+">([\s\S]*)<\/script>/.exec(html)?.[1] ?? '';
      expect(script.length).toBeGreaterThan(1000);
      expect(script).not.toMatch(/innerHTML|outerHTML|insertAdjacentHTML|document\.write|srcdoc|eval\(|new Function/);
    }
    const html = await (await fetch(`${stack.url}/audit`)).text();
    const script = /<script nonce="[^"]+">([\s\S]*)<\/script>/.exec(html)?.[1] ?? '';
    expect(script).toContain('textContent');
    expect(script).toContain('createElementNS');
    // The script as served is valid JavaScript.
    expect(() => new vm.Script(script)).not.toThrow();
  });

  it('lists the audit routes in the 404 answer', async () => {
    const response = await fetch(`${stack.url}/nothing-here`);
    expect(await response.json()).toMatchObject({ message: expect.stringContaining('GET /audit/records') });
  });
});

describe('without the audit trail', () => {
  it('answers /audit and /audit/records with 404 and says why', async () => {
    const idle: LocalHandlers = {
      evaluateAction: async () => undefined,
      decisionApi: async () => ({ statusCode: 200 }),
      requestReview: async () => undefined,
      recordOutcome: async () => undefined,
      slackInteractions: async () => ({ statusCode: 200 }),
      reviewApi: async () => ({ statusCode: 200 }),
    };
    const dir = mkdtempSync(join(tmpdir(), 'countersign-no-audit-'));
    const quiet = await startLocalStack({ port: 0, dataDir: dir, log: memoryLogger(), audit: false, loadHandlers: async () => idle, loadApprovalDefinition: async () => MINIMAL_APPROVAL });
    try {
      expect(quiet.auditDir).toBeUndefined();
      for (const path of ['/audit', '/audit/records']) {
        const response = await fetch(`${quiet.url}${path}`);
        expect(response.status).toBe(404);
        expect(await response.json()).toMatchObject({ error: 'AuditTrailOff', message: expect.stringContaining('without the audit trail') });
      }
    } finally {
      await quiet.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
