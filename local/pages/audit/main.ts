/**
 * The audit page (`GET /audit`): the records of the local audit log, newest first, filtered by agent,
 * request outcome, event type and time range; the decisions per hour by outcome; how long reviewed
 * requests waited for their outcome. Polls `/audit/records` (local/audit-api.ts) and draws the charts as
 * SVG elements. The filters live in the page's URL, so a link reproduces the view.
 *
 * Every piece of text is put in the page as text (`textContent`, `title`), never as HTML: what an agent
 * wrote (justification, parameters, resource ids) can only ever be shown, not run. Its invisible,
 * control and bidi characters are shown as `[U+202E]`, as Slack messages and Teams cards show them, so a
 * resource id cannot hide, reorder or redraw what a reader sees.
 */
import type { AuditLatency, AuditPageRecord, AuditRecordsView } from '../../audit-view.js';
import { AUDIT_EVENT_TYPES } from '../../../shared/audit/format.js';
import { el, visible } from '../shared/client.js';
import { AUDIT_PAGE_REFRESH_MS } from './refresh.js';

const SVG_NS = 'http://www.w3.org/2000/svg';
const KNOWN_OUTCOMES = ['allowed', 'approved', 'denied', 'rejected', 'expired', 'invalid', 'pending'];
const REVIEWED = ['approved', 'rejected', 'expired'];
// A Map, not an object: a link's `range=constructor` must not look like a range.
const RANGES = new Map<string, number>([['1h', 3_600_000], ['24h', 86_400_000], ['7d', 604_800_000]]);
const BUCKETS = [
  { label: '< 1 min', below: 60 },
  { label: '1–5 min', below: 300 },
  { label: '5–30 min', below: 1800 },
  { label: '≥ 30 min', below: Infinity },
];
const W = 640;
const H = 240;
const M = { left: 44, right: 10, top: 12, bottom: 44 };
const EXECUTION_CHIPS = ['succeeded', 'failed', 'violation'];

function $<T extends HTMLElement = HTMLElement>(id: string): T {
  const node = document.getElementById(id);
  if (node === null) throw new Error(`the audit page has no #${id}`);
  return node as T;
}

/** An element whose text, if any, is shown with its invisible characters labelled. */
function shown<K extends keyof HTMLElementTagNameMap>(tag: K, className = '', text?: string): HTMLElementTagNameMap[K] {
  return el(tag, className, text === undefined ? undefined : visible(text));
}

function svg(tag: string, attributes: Record<string, string | number> = {}, text?: string | number): SVGElement {
  const node = document.createElementNS(SVG_NS, tag) as SVGElement;
  for (const name of Object.keys(attributes)) node.setAttribute(name, String(attributes[name]));
  if (text !== undefined) node.textContent = visible(String(text));
  return node;
}

/** A field the API gave with something in it: null and '' both mean nothing to show. */
const given = (value: string | null | undefined): value is string => value !== null && value !== undefined && value !== '';

const outcomeClass = (outcome: string) => `o-${KNOWN_OUTCOMES.includes(outcome) ? outcome : 'other'}`;

interface View { agent: string; outcome: string; eventType: string; range: string; from: string; to: string; limit: string }

// The view: the page's own query string (what a link reproduces).
const params = new URLSearchParams(window.location.search);
const view: View = {
  agent: params.get('agent') ?? '',
  outcome: params.get('outcome') ?? '',
  eventType: params.get('eventType') ?? '',
  range: params.get('range') ?? '',
  from: params.get('from') ?? '',
  to: params.get('to') ?? '',
  limit: params.get('limit') ?? '',
};
if (view.limit === '') view.limit = '200';
if (!RANGES.has(view.range)) view.range = view.from !== '' || view.to !== '' ? 'custom' : '';
if (view.range !== 'custom') {
  view.from = '';
  view.to = '';
}

let lastJson = '';
let data: AuditRecordsView | null = null;
const expanded = new Set<string>();
const optionKeys: Record<string, string> = {};

function pageQuery(): URLSearchParams {
  const q = new URLSearchParams();
  if (view.agent !== '') q.set('agent', view.agent);
  if (view.outcome !== '') q.set('outcome', view.outcome);
  if (view.eventType !== '') q.set('eventType', view.eventType);
  if (RANGES.has(view.range)) q.set('range', view.range);
  if (view.range === 'custom' && view.from !== '') q.set('from', view.from);
  if (view.range === 'custom' && view.to !== '') q.set('to', view.to);
  if (view.limit !== '200') q.set('limit', view.limit);
  return q;
}

function apiQuery(): URLSearchParams {
  const q = new URLSearchParams();
  if (view.agent !== '') q.set('agent', view.agent);
  if (view.outcome !== '') q.set('outcome', view.outcome);
  if (view.eventType !== '') q.set('eventType', view.eventType);
  const range = RANGES.get(view.range);
  if (range !== undefined) q.set('from', new Date(Date.now() - range).toISOString());
  if (view.range === 'custom' && view.from !== '') q.set('from', view.from);
  if (view.range === 'custom' && view.to !== '') q.set('to', view.to);
  q.set('limit', view.limit);
  return q;
}

const pad = (n: number) => String(n).padStart(2, '0');

/** ISO time to the value of a datetime-local input (local time, minutes). */
function toLocalInput(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/** The value of a datetime-local input (local time) to ISO UTC. */
function fromLocalInput(value: string): string {
  if (value === '') return '';
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? '' : d.toISOString();
}

function fillSelect(select: HTMLSelectElement, key: string, values: readonly string[], label: string, current: string): void {
  const list = [...values];
  if (current !== '' && !list.includes(current)) list.push(current);
  const signature = list.join('|');
  if (optionKeys[key] !== signature) {
    optionKeys[key] = signature;
    const first = el('option', '', label);
    first.value = '';
    select.replaceChildren(first);
    for (const value of list) {
      const option = shown('option', '', value);
      option.value = value;
      select.appendChild(option);
    }
  }
  select.value = current;
}

function showFilters(): void {
  fillSelect($<HTMLSelectElement>('filter-agent'), 'agent', data?.agents ?? [], 'all agents', view.agent);
  fillSelect($<HTMLSelectElement>('filter-outcome'), 'outcome', data?.outcomes ?? KNOWN_OUTCOMES, 'any outcome', view.outcome);
  fillSelect($<HTMLSelectElement>('filter-event-type'), 'eventType', AUDIT_EVENT_TYPES, 'any event', view.eventType);
  const limit = $<HTMLSelectElement>('filter-limit');
  if (!Array.from(limit.options).some((option) => option.value === view.limit)) {
    const option = shown('option', '', view.limit);
    option.value = view.limit;
    limit.appendChild(option);
  }
  limit.value = view.limit;
  $<HTMLSelectElement>('filter-range').value = view.range;
  $<HTMLInputElement>('filter-from').value = view.from !== '' ? toLocalInput(view.from) : '';
  $<HTMLInputElement>('filter-to').value = view.to !== '' ? toLocalInput(view.to) : '';
}

function changed(): void {
  const query = pageQuery().toString();
  window.history.replaceState(null, '', `/audit${query !== '' ? `?${query}` : ''}`);
  lastJson = '';
  showFilters();
  void refresh();
}

function on(id: string, handler: (value: string) => void): void {
  $(id).addEventListener('change', (event) => {
    handler((event.target as HTMLInputElement | HTMLSelectElement).value);
    changed();
  });
}
on('filter-agent', (value) => { view.agent = value; });
on('filter-outcome', (value) => { view.outcome = value; });
on('filter-event-type', (value) => { view.eventType = value; });
on('filter-limit', (value) => { view.limit = value; });
on('filter-range', (value) => {
  view.range = value;
  if (value !== 'custom') {
    view.from = '';
    view.to = '';
  }
});
on('filter-from', (value) => {
  view.range = 'custom';
  view.from = fromLocalInput(value);
});
on('filter-to', (value) => {
  view.range = 'custom';
  view.to = fromLocalInput(value);
});
$('filter-reset').addEventListener('click', () => {
  Object.assign(view, { agent: '', outcome: '', eventType: '', range: '', from: '', to: '', limit: '200' });
  changed();
});

function duration(seconds: number): string {
  if (seconds < 60) return `${Math.round(seconds)} s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ${Math.round(seconds % 60)} s`;
  return `${Math.floor(seconds / 3600)} h ${Math.round((seconds % 3600) / 60)} min`;
}
const localTime = (iso: string) => new Date(iso).toLocaleString();
const short = (value: string | null, length: number) => (value !== null && value.length > length ? `${value.slice(0, length)}…` : value ?? '');

function legend(id: string, outcomes: readonly string[]): void {
  const box = $(id);
  box.replaceChildren();
  for (const outcome of outcomes) {
    const item = el('span');
    item.appendChild(el('span', `swatch ${outcomeClass(outcome)}`));
    item.appendChild(document.createTextNode(visible(outcome)));
    box.appendChild(item);
  }
}

interface Column { label: string; title: string; counts: Record<string, number> }

/** Stacked bars: one per column, a segment per outcome; axes, grid, labels; an empty note. */
function stackedBars(chart: Element, columns: readonly Column[], outcomes: readonly string[], axis: { x: string; y: string; empty: string }): void {
  chart.replaceChildren();
  const plotW = W - M.left - M.right;
  const plotH = H - M.top - M.bottom;
  const max = Math.max(0, ...columns.map((c) => outcomes.reduce((sum, o) => sum + (c.counts[o] ?? 0), 0)));
  // Whole-number ticks 1, 2 or 5 times a power of ten apart, the top one at or above the highest bar.
  const rough = Math.max(1, max) / 4;
  const power = Math.pow(10, Math.floor(Math.log10(rough)));
  const step = Math.max(1, [1, 2, 5, 10].map((f) => f * power).find((s) => s >= rough) ?? power * 10);
  const top = Math.max(step, Math.ceil(Math.max(1, max) / step) * step);
  const ticks = Array.from({ length: Math.round(top / step) + 1 }, (_, i) => i * step);
  for (const tick of ticks) {
    const y = M.top + plotH - (tick / top) * plotH;
    chart.appendChild(svg('line', { class: 'grid', x1: M.left, x2: W - M.right, y1: y, y2: y }));
    chart.appendChild(svg('text', { x: M.left - 6, y: y + 4, 'text-anchor': 'end' }, tick));
  }
  chart.appendChild(svg('line', { class: 'axis', x1: M.left, x2: W - M.right, y1: M.top + plotH, y2: M.top + plotH }));
  chart.appendChild(svg('line', { class: 'axis', x1: M.left, x2: M.left, y1: M.top, y2: M.top + plotH }));
  chart.appendChild(svg('text', { class: 'axis-title', x: 12, y: M.top + plotH / 2, 'text-anchor': 'middle', transform: `rotate(-90 12 ${M.top + plotH / 2})` }, axis.y));
  chart.appendChild(svg('text', { class: 'axis-title', x: M.left + plotW / 2, y: H - 4, 'text-anchor': 'middle' }, axis.x));
  if (max === 0) {
    chart.appendChild(svg('text', { class: 'empty', x: M.left + plotW / 2, y: M.top + plotH / 2, 'text-anchor': 'middle' }, axis.empty));
    return;
  }
  const band = plotW / columns.length;
  const barW = Math.max(2, Math.min(48, band * 0.7));
  const every = Math.ceil(columns.length / 12);
  columns.forEach((column, i) => {
    const x = M.left + i * band + (band - barW) / 2;
    let y = M.top + plotH;
    for (const outcome of outcomes) {
      const n = column.counts[outcome] ?? 0;
      if (n === 0) continue;
      const h = (n / top) * plotH;
      y -= h;
      const bar = svg('rect', { class: outcomeClass(outcome), x, y, width: barW, height: h });
      bar.setAttribute('data-outcome', outcome);
      bar.appendChild(svg('title', {}, `${column.title}: ${n} ${outcome}`));
      chart.appendChild(bar);
    }
    if (i % every === 0) chart.appendChild(svg('text', { x: M.left + i * band + band / 2, y: M.top + plotH + 14, 'text-anchor': 'middle' }, column.label));
  });
}

function hourColumns(perHour: AuditRecordsView['perHour']): Column[] {
  const firstHour = perHour[0];
  const lastHour = perHour[perHour.length - 1];
  if (firstHour === undefined || lastHour === undefined) return [];
  const byHour = new Map(perHour.map((h) => [Date.parse(h.hour), h.counts]));
  const first = Date.parse(firstHour.hour);
  const last = Date.parse(lastHour.hour);
  // Hours without decisions are shown as gaps while that stays readable (three days).
  const hours = (last - first) / 3_600_000 <= 72
    ? Array.from({ length: (last - first) / 3_600_000 + 1 }, (_, i) => first + i * 3_600_000)
    : perHour.map((h) => Date.parse(h.hour));
  let day = '';
  return hours.map((ms) => {
    const d = new Date(ms);
    const today = d.toLocaleDateString();
    const label = `${today !== day ? `${d.getMonth() + 1}/${d.getDate()} ` : ''}${pad(d.getHours())}h`;
    day = today;
    return { label, title: d.toLocaleString(), counts: byHour.get(ms) ?? {} };
  });
}

function renderCharts(answer: AuditRecordsView): void {
  const seen = new Set<string>();
  for (const h of answer.perHour) for (const o of Object.keys(h.counts)) seen.add(o);
  const outcomes = KNOWN_OUTCOMES.filter((o) => seen.has(o)).concat([...seen].filter((o) => !KNOWN_OUTCOMES.includes(o)).sort());
  stackedBars($('chart-outcomes'), hourColumns(answer.perHour), outcomes, { x: 'hour of the final outcome (local time)', y: 'decisions', empty: 'No decisions in this view yet.' });
  legend('legend-outcomes', outcomes);

  const columns: Column[] = BUCKETS.map((b) => ({ label: b.label, title: b.label, counts: {} }));
  for (const latency of answer.latencies) {
    const column = columns[BUCKETS.findIndex((b) => latency.seconds < b.below)];
    if (column !== undefined) column.counts[latency.outcome] = (column.counts[latency.outcome] ?? 0) + 1;
  }
  stackedBars($('chart-latency'), columns, REVIEWED, { x: 'time from the request to its outcome', y: 'requests', empty: 'No reviewed request has an outcome in this view yet.' });
  legend('legend-latency', REVIEWED);
  $('latency-summary').textContent = latencySummary(answer.latencies);
}

function latencySummary(latencies: readonly AuditLatency[]): string {
  const seconds = latencies.map((l) => l.seconds).sort((a, b) => a - b);
  const median = seconds[Math.floor((seconds.length - 1) / 2)];
  const longest = seconds[seconds.length - 1];
  if (median === undefined || longest === undefined) return 'Time from the request to its outcome, for requests that went to review (approved, rejected, expired).';
  return `${seconds.length} reviewed request${seconds.length === 1 ? '' : 's'}: median ${duration(median)}, longest ${duration(longest)} (from the request to its outcome).`;
}

function cell(row: HTMLTableRowElement, text: string, className = '', title = ''): HTMLTableCellElement {
  const td = shown('td', className, text);
  if (title !== '') td.title = visible(title);
  row.appendChild(td);
  return td;
}

function chip(td: HTMLTableCellElement, outcome: string | null | undefined): void {
  if (outcome === null || outcome === undefined || outcome === '') return;
  td.appendChild(shown('span', `chip ${EXECUTION_CHIPS.includes(outcome) ? `o-${outcome}` : outcomeClass(outcome)}`, outcome));
}

/** The reason column: a violation's rule and reason, an execution's times and result, a vote, or the record's reason. */
function summaryOf(record: AuditPageRecord): string {
  if (given(record.violationRule)) return `${record.violationRule}: ${record.reason ?? ''}`;
  const e = record.execution;
  if (e !== null) {
    const ran = given(e.startedAt) && given(e.finishedAt) ? ` in ${(Date.parse(e.finishedAt) - Date.parse(e.startedAt)) / 1000} s` : '';
    const said = e.error !== null ? `${e.error.code}: ${e.error.message}` : e.resultSummary ?? '';
    return `${e.status ?? ''}, started ${given(e.startedAt) ? localTime(e.startedAt) : '?'}${ran}${said !== '' ? ` (${said})` : ''}`;
  }
  if (given(record.reason)) return record.reason;
  return given(record.vote) ? `${record.vote}${given(record.comment) ? `: ${record.comment}` : ''}` : '';
}

function detailsRow(record: AuditPageRecord): HTMLTableRowElement {
  const row = el('tr', 'details');
  const td = el('td');
  td.colSpan = 11;
  const list = el('dl');
  const item = (name: string, value: unknown) => {
    if (value === null || value === undefined || value === '' || (Array.isArray(value) && value.length === 0)) return;
    list.appendChild(el('dt', '', name));
    list.appendChild(shown('dd', typeof value === 'string' ? '' : 'mono', typeof value === 'string' ? value : JSON.stringify(value, null, 2)));
  };
  item('event id', record.eventId);
  item('action id', record.actionId);
  item('request outcome', record.requestOutcome);
  item('on behalf of', record.onBehalfOf);
  item('justification', record.justification);
  item('parameters', record.parameters);
  item('vote', record.vote);
  item('comment', record.comment);
  item('reason', record.reason);
  item('violation rule', record.violationRule);
  item('valid until', record.validUntil);
  const execution = record.execution;
  if (execution !== null) {
    item('execution status', execution.status);
    item('started at', execution.startedAt);
    item('finished at', execution.finishedAt);
    item('result summary', execution.resultSummary);
    item('result SHA-256', execution.resultSha256);
    item('error', execution.error !== null ? `${execution.error.code}: ${execution.error.message}` : null);
    item('executed payload SHA-256', execution.executedPayloadSha256);
  }
  const policies = record.policyIds.length > 0 ? record.policyIds : record.requestPolicyIds;
  item('policies', policies.length > 0 ? policies.join(', ') : 'none');
  item('payload SHA-256', given(record.payloadSha256) ? record.payloadSha256 : 'none (a request the contract refused has no payload hash)');
  item('claimed source', given(record.agentId) ? null : record.claimedSource);
  item('record hash', record.hash);
  item('object key', record.objectKey);
  td.appendChild(list);
  row.appendChild(td);
  return row;
}

function renderRecords(answer: AuditRecordsView): void {
  const body = $('records').querySelector('tbody');
  if (body === null) throw new Error('the audit page has no records table body');
  body.replaceChildren();
  if (answer.records.length === 0) {
    const row = el('tr');
    const td = el('td', 'empty-row', answer.log.records === 0 ? 'The audit log has no records yet: send a request, and its records appear here within seconds.' : 'No record matches these filters.');
    td.colSpan = 11;
    row.appendChild(td);
    body.appendChild(row);
    return;
  }
  for (const record of answer.records) {
    const row = el('tr', given(record.violationRule) ? 'record violation' : 'record');
    row.setAttribute('data-action-id', record.actionId ?? '');
    row.setAttribute('data-event-type', record.eventType);
    row.setAttribute('data-event-id', record.eventId);
    cell(row, localTime(record.occurredAt), 'time', record.occurredAt);
    cell(row, record.eventType, 'event');
    // A malformed request has no agent id: the source its sender claimed is the only hint.
    if (given(record.agentId) || !given(record.claimedSource)) cell(row, record.agentId ?? '', 'agent');
    else cell(row, record.claimedSource ?? '', 'agent claimed', `no valid agent id; the event source the sender claimed: ${record.claimedSource ?? ''}`);
    cell(row, record.action ?? '');
    cell(row, given(record.resourceType) || given(record.resourceId) ? `${given(record.resourceType) ? record.resourceType : '?'}/${given(record.resourceId) ? record.resourceId : '?'}` : '');
    cell(row, record.environment ?? '');
    // An execution shows what ran (succeeded or failed); a violation shows as one, whatever the request's outcome.
    const shownOutcome = given(record.violationRule) ? 'violation' : record.execution !== null ? record.execution.status : record.outcome;
    chip(cell(row, '', '', given(record.requestOutcome) ? `request outcome: ${record.requestOutcome}` : ''), shownOutcome);
    cell(row, record.reviewerId ?? '');
    cell(row, summaryOf(record), 'reason');
    cell(row, short(record.actionId, 18), 'mono', record.actionId ?? '');
    cell(row, short(record.payloadSha256, 12), 'mono', record.payloadSha256 ?? '');
    row.addEventListener('click', () => {
      if (expanded.has(record.eventId)) expanded.delete(record.eventId);
      else expanded.add(record.eventId);
      renderRecords(answer);
    });
    body.appendChild(row);
    if (expanded.has(record.eventId)) body.appendChild(detailsRow(record));
  }
}

function renderTotals(answer: AuditRecordsView): void {
  const decisions: Record<string, number> = {};
  for (const h of answer.perHour) for (const [o, n] of Object.entries(h.counts)) decisions[o] = (decisions[o] ?? 0) + n;
  const parts = Object.keys(decisions).sort().map((o) => `${decisions[o]} ${o}`);
  let text = `${answer.total} record${answer.total === 1 ? '' : 's'} match`;
  if (answer.records.length < answer.total) text += ` (newest ${answer.records.length} shown)`;
  text += `, of ${answer.log.records} in the log (${answer.log.objects} object${answer.log.objects === 1 ? '' : 's'})`;
  text += parts.length > 0 ? ` · decisions: ${parts.join(', ')}` : ' · no decisions in this view';
  $('totals').textContent = visible(text);
}

function render(answer: AuditRecordsView): void {
  showFilters();
  renderTotals(answer);
  renderCharts(answer);
  renderRecords(answer);
}

// A change of filters while an older answer is on its way: only the newest request's answer is drawn.
let latestRequest = 0;
async function refresh(): Promise<void> {
  const status = $('status');
  const request = ++latestRequest;
  try {
    const response = await fetch(`/audit/records?${apiQuery().toString()}`);
    const json = await response.text();
    if (request !== latestRequest) return;
    if (!response.ok) {
      let message = `HTTP ${response.status}`;
      try {
        const said = (JSON.parse(json) as { message?: unknown }).message;
        if (typeof said === 'string' && said !== '') message = said;
      } catch (error) {
        message = `${message} ${String(error)}`;
      }
      status.className = 'error';
      status.textContent = visible(message);
      return;
    }
    const next = JSON.parse(json) as AuditRecordsView;
    status.className = '';
    status.textContent = `Updated ${new Date(next.generatedAt).toLocaleTimeString()}; refreshes every ${AUDIT_PAGE_REFRESH_MS / 1000} s. Click a row for its details.`;
    const comparable = JSON.stringify({ ...next, generatedAt: '' });
    if (comparable === lastJson) return;
    lastJson = comparable;
    data = next;
    render(next);
  } catch (error) {
    if (request !== latestRequest) return;
    status.className = 'error';
    status.textContent = visible(`The local stack is not answering (${String(error)})`);
  }
}

showFilters();
void refresh();
// One poll at a time: a slow query is not queued behind by more of them.
let polling = false;
setInterval(() => {
  if (polling) return;
  polling = true;
  void refresh().finally(() => { polling = false; });
}, AUDIT_PAGE_REFRESH_MS);
