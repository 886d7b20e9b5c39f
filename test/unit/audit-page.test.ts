import vm from 'node:vm';
import { describe, expect, it } from 'vitest';
import type { AuditPageRecord, AuditRecordsView } from '../../local/audit-api.js';
import { auditPageHtml } from '../../local/audit-page.js';

/**
 * The audit page's script, run against a minimal DOM (no browser here): it builds the table and the
 * charts from elements and text nodes only, so what an agent wrote is shown as text; it sends the
 * filters of the page's URL to /audit/records, and writes a changed filter back to the URL.
 */

class FakeNode {
  children: FakeNode[] = [];
  attributes: Record<string, string> = {};
  listeners: Record<string, ((event: unknown) => void)[]> = {};
  className = '';
  own = '';
  value = '';
  title = '';
  colSpan = 1;
  constructor(readonly tag: string, readonly namespace: string | null = null) {}
  get options(): FakeNode[] { return this.children; }
  get textContent(): string { return this.own + this.children.map((child) => child.textContent).join(''); }
  set textContent(text: string) { this.own = text; this.children = []; }
  appendChild(child: FakeNode): FakeNode { this.children.push(child); return child; }
  replaceChildren(...children: FakeNode[]): void { this.children = children; }
  setAttribute(name: string, value: string): void { this.attributes[name] = value; }
  getAttribute(name: string): string | null { return this.attributes[name] ?? null; }
  addEventListener(type: string, listener: (event: unknown) => void): void { (this.listeners[type] ??= []).push(listener); }
  querySelector(tag: string): FakeNode | undefined { return this.descendants().find((node) => node.tag === tag); }
  descendants(): FakeNode[] { return this.children.flatMap((child) => [child, ...child.descendants()]); }
}

const HOSTILE = '<img src=x onerror="alert(1)"> export everything';
const IDS = ['filter-agent', 'filter-outcome', 'filter-event-type', 'filter-range', 'filter-from', 'filter-to', 'filter-limit', 'filter-reset', 'status', 'totals', 'chart-outcomes', 'legend-outcomes', 'chart-latency', 'legend-latency', 'latency-summary', 'records'];

function record(fields: Partial<AuditPageRecord> & Pick<AuditPageRecord, 'eventId' | 'eventType' | 'occurredAt'>): AuditPageRecord {
  return {
    actionId: 'export-1', agentId: 'billing-agent', onBehalfOf: 'alice@example.com', action: 'db.export', resourceType: 'Database', resourceId: HOSTILE,
    environment: 'prod', outcome: null, requestOutcome: 'approved', reason: null, reviewerId: null, vote: null, comment: null, policyIds: [],
    requestPolicyIds: ['db-export-prod-needs-data-owners'], payloadSha256: 'ab'.repeat(32), hash: 'cd'.repeat(32),
    objectKey: 'audit/dt=2026-11-20/hour=10/shard=shardId-0/000001.ndjson.gz', claimedSource: 'agent.billing-agent', justification: null, parameters: null,
    validUntil: null, execution: null, violationRule: null, ...fields,
  };
}

const EXECUTION = { status: 'succeeded', startedAt: '2026-11-20T10:10:00.000Z', finishedAt: '2026-11-20T10:10:01.500Z', resultSummary: HOSTILE, resultSha256: 'ef'.repeat(32), error: null, executedPayloadSha256: 'ab'.repeat(32) };
const VIEW: AuditRecordsView = {
  records: [
    record({
      eventId: 'export-1/execution_violation/f1', eventType: 'execution_violation', occurredAt: '2026-11-20T10:12:00.000Z', outcome: 'approved', violationRule: 'already_executed',
      reason: 'the request was already executed', validUntil: '2026-11-20T10:24:00.000Z', execution: { ...EXECUTION, startedAt: '2026-11-20T10:11:00.000Z', finishedAt: '2026-11-20T10:11:01.000Z' },
    }),
    record({ eventId: 'export-1/executed', eventType: 'executed', occurredAt: '2026-11-20T10:10:02.000Z', outcome: 'approved', validUntil: '2026-11-20T10:24:00.000Z', execution: EXECUTION }),
    record({ eventId: 'export-1/outcome', eventType: 'outcome', occurredAt: '2026-11-20T10:09:00.000Z', outcome: 'approved', reason: 'approved by bob' }),
    record({ eventId: 'export-1/vote/bob', eventType: 'vote', occurredAt: '2026-11-20T10:08:00.000Z', reviewerId: 'bob', vote: 'approve', comment: HOSTILE }),
    record({ eventId: 'export-1/requested', eventType: 'requested', occurredAt: '2026-11-20T10:02:00.000Z', justification: HOSTILE, parameters: { note: HOSTILE } }),
    record({
      eventId: 'invalid/e-9/decided', eventType: 'decided', occurredAt: '2026-11-20T10:01:00.000Z', actionId: null, agentId: null, onBehalfOf: null, action: null,
      resourceType: null, resourceId: null, environment: null, outcome: 'invalid', requestOutcome: 'invalid', reason: 'agent: required', payloadSha256: null,
      requestPolicyIds: [], claimedSource: `agent.${HOSTILE}`,
    }),
  ],
  total: 6,
  agents: ['billing-agent', 'ops-agent'],
  outcomes: ['pending', 'allowed', 'denied', 'approved', 'rejected', 'expired', 'invalid'],
  perHour: [{ hour: '2026-11-20T10:00:00Z', counts: { allowed: 2, approved: 1 } }, { hour: '2026-11-20T12:00:00Z', counts: { denied: 1 } }],
  latencies: [{ actionId: 'export-1', agentId: 'billing-agent', outcome: 'approved', requestedAt: '2026-11-20T10:02:00.000Z', decidedAt: '2026-11-20T10:09:00.000Z', seconds: 420 }],
  log: { records: 40, objects: 6 },
  generatedAt: '2026-11-20T12:00:00.000Z',
};

async function renderPage(search: string) {
  const ids = new Map(IDS.map((id) => [id, new FakeNode(id.startsWith('filter-') ? 'select' : 'div')]));
  ids.get('records')!.appendChild(new FakeNode('tbody'));
  const fetched: string[] = [];
  const urls: string[] = [];
  const context = vm.createContext({
    document: {
      getElementById: (id: string) => ids.get(id),
      createElement: (tag: string) => new FakeNode(tag),
      createElementNS: (namespace: string, tag: string) => new FakeNode(tag, namespace),
      createTextNode: (text: string) => Object.assign(new FakeNode('#text'), { own: text }),
    },
    window: { location: { search }, history: { replaceState: (_state: unknown, _title: string, url: string) => urls.push(url) } },
    fetch: async (path: string) => {
      fetched.push(path);
      return { ok: true, status: 200, text: async () => JSON.stringify(VIEW) };
    },
    setInterval: () => 0,
    URLSearchParams,
  });
  const html = await auditPageHtml({ nonce: 'n' });
  vm.runInContext(/<script nonce="n">([\s\S]*)<\/script>/.exec(html)?.[1] ?? '', context);
  const body = ids.get('records')!.querySelector('tbody')!;
  for (let i = 0; i < 20 && body.children.length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 5));
  return { ids, body, fetched, urls, html };
}

describe('the audit page script', () => {
  it('shows each record as a row of text, with its action id and event type as attributes', async () => {
    const { body } = await renderPage('');
    const rows = body.children.filter((row) => row.attributes['data-event-id'] !== undefined);
    expect(rows.map((row) => [row.attributes['data-action-id'], row.attributes['data-event-type']])).toEqual([
      ['export-1', 'execution_violation'], ['export-1', 'executed'], ['export-1', 'outcome'], ['export-1', 'vote'], ['export-1', 'requested'], ['', 'decided'],
    ]);
    expect(rows[3]?.textContent).toContain(`approve: ${HOSTILE}`);
    expect(rows[2]?.textContent).toContain(`Database/${HOSTILE}`);
    expect(body.descendants().some((node) => ['script', 'img', 'a', 'iframe'].includes(node.tag))).toBe(false);
  });

  it('keeps an agent id on one line, and shows a malformed request\'s claimed source where its agent would be', async () => {
    const { body, html } = await renderPage('');
    const rows = body.children.filter((row) => row.attributes['data-event-id'] !== undefined);
    const agentCells = rows.map((row) => row.children[2]);
    expect(agentCells.map((td) => [td?.className, td?.textContent])).toEqual([
      ['agent', 'billing-agent'], ['agent', 'billing-agent'],
      ['agent', 'billing-agent'], ['agent', 'billing-agent'], ['agent', 'billing-agent'], ['agent claimed', `agent.${HOSTILE}`],
    ]);
    expect(html).toMatch(/td\.agent \{ white-space: nowrap; \}|td\.agent[^{]*\{[^}]*white-space: nowrap/);
  });

  it('opens a row to show the policies, the payload hash, the record hash and the object key', async () => {
    const { body } = await renderPage('');
    const vote = body.children.find((row) => row.attributes['data-event-type'] === 'vote')!;
    for (const listener of vote.listeners.click ?? []) listener({});
    const details = body.children.find((row) => row.className === 'details')?.textContent ?? '';
    expect(details).toContain('policiesdb-export-prod-needs-data-owners');
    expect(details).toContain(`payload SHA-256${'ab'.repeat(32)}`);
    expect(details).toContain(`record hash${'cd'.repeat(32)}`);
    expect(details).toContain('object keyaudit/dt=2026-11-20/hour=10/shard=shardId-0/000001.ndjson.gz');
    expect(details).not.toContain('claimed source');
  });

  it('shows an execution with how it ended, and a violation marked with its rule; their details as text', async () => {
    const { body } = await renderPage('');
    const rows = body.children.filter((row) => row.attributes['data-event-id'] !== undefined);
    const [violation, executed] = rows;
    expect(violation?.className).toBe('record violation');
    expect(violation?.children[6]?.textContent).toBe('violation');
    expect(violation?.children[6]?.descendants()[0]?.className).toBe('chip o-violation');
    expect(violation?.children[8]?.textContent).toBe('already_executed: the request was already executed');
    expect(executed?.className).toBe('record');
    expect(executed?.children[6]?.descendants()[0]?.className).toBe('chip o-succeeded');
    expect(executed?.children[8]?.textContent).toMatch(new RegExp(`^succeeded, started .+ in 1\\.5 s \\(${HOSTILE.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\)$`));
    for (const listener of executed?.listeners.click ?? []) listener({});
    const details = body.children.find((row) => row.className === 'details')?.textContent ?? '';
    expect(details).toContain('valid until2026-11-20T10:24:00.000Z');
    expect(details).toContain('execution statussucceeded');
    expect(details).toContain('started at2026-11-20T10:10:00.000Z');
    expect(details).toContain(`result summary${HOSTILE}`);
    expect(details).toContain(`result SHA-256${'ef'.repeat(32)}`);
    expect(body.descendants().some((node) => node.tag === 'img')).toBe(false);
  });

  it('opens a row to show the justification and parameters as text', async () => {
    const { body } = await renderPage('');
    const requested = body.children.find((row) => row.attributes['data-event-type'] === 'requested')!;
    for (const listener of requested.listeners.click ?? []) listener({});
    const details = body.children.find((row) => row.className === 'details');
    expect(details?.textContent).toContain(`justification${HOSTILE}`);
    expect(details?.textContent).toContain(JSON.stringify({ note: HOSTILE }, null, 2));
    expect(body.descendants().some((node) => node.tag === 'img')).toBe(false);
  });

  it('draws stacked bars per hour and per latency bucket, with legends and axis titles', async () => {
    const { ids } = await renderPage('');
    const outcomes = ids.get('chart-outcomes')!;
    const bars = outcomes.children.filter((node) => node.tag === 'rect');
    expect(bars.every((bar) => bar.namespace === 'http://www.w3.org/2000/svg')).toBe(true);
    expect(bars.map((bar) => bar.attributes['data-outcome'])).toEqual(['allowed', 'approved', 'denied']);
    expect(outcomes.children.map((node) => node.textContent)).toEqual(expect.arrayContaining(['decisions', 'hour of the final outcome (local time)']));
    expect(ids.get('legend-outcomes')!.textContent).toBe('allowedapproveddenied');
    const latency = ids.get('chart-latency')!;
    expect(latency.children.filter((node) => node.tag === 'rect').map((bar) => bar.attributes.class)).toEqual(['o-approved']);
    expect(latency.children.map((node) => node.textContent)).toEqual(expect.arrayContaining(['< 1 min', '1\u20135 min', '5\u201330 min', '\u2265 30 min']));
    expect(ids.get('latency-summary')!.textContent).toContain('median 7 min 0 s');
    expect(ids.get('totals')!.textContent).toContain('6 records match, of 40 in the log (6 objects)');
    expect(ids.get('totals')!.textContent).toContain('decisions: 2 allowed, 1 approved, 1 denied');
  });

  it('asks for the filters in the page URL, fills the agent filter from the data, and writes a change back to the URL', async () => {
    const { ids, fetched, urls } = await renderPage('?agent=ops-agent&outcome=approved&range=1h');
    const asked = new URLSearchParams(fetched[0]?.split('?')[1]);
    expect(asked.get('agent')).toBe('ops-agent');
    expect(asked.get('outcome')).toBe('approved');
    expect(Date.parse(asked.get('from') ?? '')).toBeGreaterThan(Date.now() - 3_700_000);
    const agent = ids.get('filter-agent')!;
    expect(agent.options.map((option) => option.value)).toEqual(['', 'billing-agent', 'ops-agent']);
    expect(agent.value).toBe('ops-agent');
    for (const listener of agent.listeners.change ?? []) listener({ target: { value: 'billing-agent' } });
    expect(urls.at(-1)).toBe('/audit?agent=billing-agent&outcome=approved&range=1h');
  });

  it('shows the invisible, control and bidi characters of what others wrote as [U+XXXX], in the table, the details and the filters', async () => {
    const spoof = 'report\u202Efdp.exe\u200B\u061C';
    const original = VIEW.records[4]!;
    VIEW.records[4] = { ...original, resourceId: spoof, justification: `line one\u2028${spoof}`, agentId: `billing\u2066agent` };
    VIEW.agents.push(`billing\u2066agent`);
    try {
      const { body, ids } = await renderPage('');
      const requested = body.children.find((row) => row.attributes['data-event-type'] === 'requested')!;
      expect(requested.children[4]?.textContent).toBe('Database/report[U+202E]fdp.exe[U+200B][U+061C]');
      expect(requested.children[2]?.textContent).toBe('billing[U+2066]agent');
      for (const listener of requested.listeners.click ?? []) listener({});
      const details = body.children.find((row) => row.className === 'details')?.textContent ?? '';
      expect(details).toContain('justificationline one[U+2028]report[U+202E]fdp.exe[U+200B][U+061C]');
      expect(ids.get('filter-agent')!.options.map((option) => option.textContent)).toContain('billing[U+2066]agent');
      // The filter still sends the agent id itself.
      expect(ids.get('filter-agent')!.options.map((option) => option.value)).toContain('billing\u2066agent');
      const everything = [body, ids.get('filter-agent')!].flatMap((node) => [node, ...node.descendants()]).map((node) => node.own + node.title).join('');
      expect(everything).not.toMatch(/[\u202E\u200B\u2066\u2028\u061C]/);
    } finally {
      VIEW.records[4] = original;
      VIEW.agents.pop();
    }
  });

  it('ignores a range in the link that is not one of its own (a prototype key such as "constructor")', async () => {
    for (const range of ['constructor', 'toString', '__proto__']) {
      const { fetched, ids, body } = await renderPage(`?range=${range}`);
      const asked = new URLSearchParams(fetched[0]?.split('?')[1]);
      expect(asked.has('from')).toBe(false);
      expect(ids.get('status')!.className).toBe('');
      expect(body.children.filter((row) => row.attributes['data-event-id'] !== undefined)).toHaveLength(6);
    }
  });

  it('treats an empty field as no field, as null: the claimed source shows, the payload hash says none', async () => {
    const original = VIEW.records[5]!;
    VIEW.records[5] = { ...original, agentId: '', claimedSource: 'agent.empty-id', payloadSha256: '', resourceType: '', resourceId: '' };
    try {
      const { body } = await renderPage('');
      const row = body.children.find((r) => r.attributes['data-event-id'] === original.eventId)!;
      expect([row.children[2]?.className, row.children[2]?.textContent, row.children[4]?.textContent]).toEqual(['agent claimed', 'agent.empty-id', '']);
      for (const listener of row.listeners.click ?? []) listener({});
      const details = body.children.find((r) => r.className === 'details')?.textContent ?? '';
      expect(details).toContain('payload SHA-256none (a request the contract refused has no payload hash)');
      expect(details).toContain('claimed sourceagent.empty-id');
    } finally {
      VIEW.records[5] = original;
    }
  });
});
