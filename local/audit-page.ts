/**
 * The audit page (`GET /audit`), beside the Slack page: the records of the local audit log, newest
 * first, filtered by agent, request outcome, event type and time range (executions show what ran and
 * how it ended; violations are marked, with their rule); the decisions per hour by
 * outcome; how long reviewed requests waited for their outcome. Plain HTML and one inline script
 * that polls `/audit/records` (local/audit-api.ts) and draws the charts as SVG elements.
 *
 * Every piece of text is put in the page as text (`textContent`, `title`), never as HTML: what an
 * agent wrote (justification, parameters, resource ids) can only ever be shown, not run. A
 * Content-Security-Policy with a per-response nonce backs this up: no other script can run on the
 * page. The filters live in the page's URL, so a link reproduces the view.
 */
import { AUDIT_EVENT_TYPES } from '../shared/audit/format.js';

export const AUDIT_PAGE_REFRESH_MS = 2000;

export function auditPageHtml(options: { nonce: string }): string {
  const { nonce } = options;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Countersign audit log</title>
<style nonce="${nonce}">
  :root { --bar: #3f0e40; --accent: #1264a3; --border: #ddd; --muted: #616061; }
  * { box-sizing: border-box; }
  body { margin: 0; font: 14px/1.46 -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; color: #1d1c1d; }
  header { background: var(--bar); color: #cfc3cf; padding: 10px 20px; }
  header nav { display: flex; gap: 4px; align-items: center; }
  header nav a { color: #cfc3cf; text-decoration: none; padding: 3px 10px; border-radius: 6px; font-weight: 700; }
  header nav a.active { background: #1164a3; color: #fff; }
  header h1 { font-size: 18px; color: #fff; margin: 8px 0 2px; }
  #totals { color: #fff; }
  .note { font-size: 12px; margin-top: 2px; }
  .note code { background: rgba(255,255,255,.12); color: #fff; border-radius: 3px; padding: 0 4px; }
  main { padding: 12px 20px 40px; }
  #filters { display: flex; flex-wrap: wrap; gap: 10px 16px; align-items: flex-end; padding: 10px 0; border-bottom: 1px solid var(--border); }
  #filters label { display: flex; flex-direction: column; font-size: 11px; text-transform: uppercase; letter-spacing: .04em; color: var(--muted); }
  #filters select, #filters input { font: inherit; padding: 3px 4px; margin-top: 2px; min-width: 120px; }
  #filters button { font: inherit; padding: 4px 12px; border: 1px solid #bbb; background: #fff; border-radius: 4px; cursor: pointer; }
  #status { font-size: 12px; color: var(--muted); margin: 6px 0; min-height: 18px; }
  #status.error { color: #e01e5a; font-weight: 700; }
  .charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(420px, 1fr)); gap: 16px; margin: 8px 0 16px; }
  .chart { border: 1px solid var(--border); border-radius: 6px; padding: 8px 12px; }
  .chart h2 { font-size: 14px; margin: 0 0 2px; }
  .chart .hint { font-size: 12px; color: var(--muted); margin-bottom: 4px; }
  .chart svg { width: 100%; height: auto; display: block; }
  .legend { font-size: 12px; display: flex; flex-wrap: wrap; gap: 4px 12px; margin-top: 4px; }
  .legend span.swatch { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 4px; vertical-align: -1px; }
  svg text { font-size: 11px; fill: #555; }
  svg text.axis-title { font-size: 11px; fill: #1d1c1d; font-weight: 700; }
  svg text.empty { font-size: 13px; fill: var(--muted); }
  svg line.grid { stroke: #eee; }
  svg line.axis { stroke: #999; }
  .o-allowed { fill: #2eb67d; background: #2eb67d; }
  .o-approved { fill: #007a5a; background: #007a5a; }
  .o-denied { fill: #e01e5a; background: #e01e5a; }
  .o-rejected { fill: #a3123f; background: #a3123f; }
  .o-expired { fill: #ecb22e; background: #ecb22e; }
  .o-invalid { fill: #8d8d8d; background: #8d8d8d; }
  .o-pending { fill: #1264a3; background: #1264a3; }
  .o-other { fill: #5a5a5a; background: #5a5a5a; }
  .o-succeeded { fill: #2eb67d; background: #2eb67d; }
  .o-failed { fill: #e8912d; background: #e8912d; }
  .o-violation { fill: #e01e5a; background: #e01e5a; }
  tr.violation td { background: #fdf0f3; }
  table { border-collapse: collapse; width: 100%; font-size: 13px; }
  th { text-align: left; font-size: 11px; text-transform: uppercase; letter-spacing: .04em; color: var(--muted); border-bottom: 2px solid var(--border); padding: 4px 6px; position: sticky; top: 0; background: #fff; }
  td { border-bottom: 1px solid #f0f0f0; padding: 4px 6px; vertical-align: top; overflow-wrap: break-word; }
  td.reason { min-width: 240px; }
  tbody tr.record { cursor: pointer; }
  tbody tr.record:hover { background: #f8f8f8; }
  td.time, td.mono, td.agent { white-space: nowrap; }
  td.agent.claimed { color: var(--muted); font-style: italic; max-width: 240px; overflow: hidden; text-overflow: ellipsis; }
  .mono { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 12px; }
  .chip { display: inline-block; white-space: nowrap; color: #fff; border-radius: 3px; padding: 0 5px; font-size: 12px; font-weight: 700; }
  .event { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 12px; white-space: nowrap; }
  tr.details td { background: #fafafa; }
  tr.details dl { display: grid; grid-template-columns: max-content 1fr; gap: 2px 12px; margin: 4px 0; }
  tr.details dt { color: var(--muted); }
  tr.details dd { margin: 0; white-space: pre-wrap; overflow-wrap: anywhere; }
  .empty-row { color: var(--muted); padding: 16px 6px; }
</style>
</head>
<body>
<header>
  <nav><a href="/slack">Slack</a><a href="/audit" class="active" aria-current="page">Audit</a></nav>
  <h1>Audit log</h1>
  <div id="totals">Reading the audit log\u2026</div>
  <div class="note">Hash-chained, write-once, digests signed on the hour and at stop. Prove it whole with <code>npm run audit -- verify</code>; ask questions with <code>npm run audit -- query --saved actions-by-agent</code>.</div>
</header>
<main>
  <div id="filters">
    <label for="filter-agent">Agent<select id="filter-agent"><option value="">all agents</option></select></label>
    <label for="filter-outcome">Request outcome<select id="filter-outcome"><option value="">any outcome</option></select></label>
    <label for="filter-event-type">Event type<select id="filter-event-type"><option value="">any event</option></select></label>
    <label for="filter-range">Time<select id="filter-range">
      <option value="">all time</option><option value="1h">last hour</option><option value="24h">last 24 hours</option><option value="7d">last 7 days</option><option value="custom">from / to</option>
    </select></label>
    <label for="filter-from">From<input type="datetime-local" id="filter-from"></label>
    <label for="filter-to">To<input type="datetime-local" id="filter-to"></label>
    <label for="filter-limit">Rows<select id="filter-limit"><option value="50">50</option><option value="200">200</option><option value="1000">1000</option></select></label>
    <button type="button" id="filter-reset">Reset</button>
  </div>
  <div id="status" role="status"></div>
  <div class="charts">
    <section class="chart">
      <h2>Decisions per hour, by outcome</h2>
      <div class="hint">Each request once, in the hour of its final outcome (allowed or denied by policy; approved, rejected or expired after review). Follows the agent, outcome and time filters.</div>
      <svg id="chart-outcomes" viewBox="0 0 640 240" role="img" aria-label="Decisions per hour, by outcome"></svg>
      <div class="legend" id="legend-outcomes"></div>
    </section>
    <section class="chart">
      <h2>Approval latency</h2>
      <div class="hint" id="latency-summary">Time from the request to its outcome, for requests that went to review.</div>
      <svg id="chart-latency" viewBox="0 0 640 240" role="img" aria-label="Approval latency"></svg>
      <div class="legend" id="legend-latency"></div>
    </section>
  </div>
  <table id="records">
    <thead><tr><th>Time</th><th>Event</th><th>Agent</th><th>Action</th><th>Resource</th><th>Env</th><th>Outcome</th><th>Reviewer</th><th>Reason</th><th>Action id</th><th>Payload</th></tr></thead>
    <tbody></tbody>
  </table>
</main>
<script nonce="${nonce}">
'use strict';
(() => {
  const $ = (id) => document.getElementById(id);
  const SVG_NS = 'http://www.w3.org/2000/svg';
  const REFRESH_MS = ${AUDIT_PAGE_REFRESH_MS};
  const EVENT_TYPES = ${JSON.stringify(AUDIT_EVENT_TYPES)};
  const KNOWN_OUTCOMES = ['allowed', 'approved', 'denied', 'rejected', 'expired', 'invalid', 'pending'];
  const REVIEWED = ['approved', 'rejected', 'expired'];
  const RANGES = { '1h': 3600000, '24h': 86400000, '7d': 604800000 };
  const BUCKETS = [
    { label: '< 1 min', below: 60 },
    { label: '1\u20135 min', below: 300 },
    { label: '5\u201330 min', below: 1800 },
    { label: '\u2265 30 min', below: Infinity },
  ];
  const W = 640;
  const H = 240;
  const M = { left: 44, right: 10, top: 12, bottom: 44 };

  const el = (tag, className, text) => {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  };
  const svg = (tag, attributes, text) => {
    const node = document.createElementNS(SVG_NS, tag);
    for (const name of Object.keys(attributes || {})) node.setAttribute(name, String(attributes[name]));
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  };
  const outcomeClass = (outcome) => 'o-' + (KNOWN_OUTCOMES.includes(outcome) ? outcome : 'other');

  // The view: the page's own query string (what a link reproduces).
  const params = new URLSearchParams(window.location.search);
  const view = {
    agent: params.get('agent') || '',
    outcome: params.get('outcome') || '',
    eventType: params.get('eventType') || '',
    range: params.get('range') || '',
    from: params.get('from') || '',
    to: params.get('to') || '',
    limit: params.get('limit') || '200',
  };
  if (!RANGES[view.range]) view.range = view.from || view.to ? 'custom' : '';
  if (view.range !== 'custom') { view.from = ''; view.to = ''; }

  let lastJson = '';
  let data = null;
  const expanded = new Set();
  const optionKeys = {};

  function pageQuery() {
    const q = new URLSearchParams();
    if (view.agent) q.set('agent', view.agent);
    if (view.outcome) q.set('outcome', view.outcome);
    if (view.eventType) q.set('eventType', view.eventType);
    if (RANGES[view.range]) q.set('range', view.range);
    if (view.range === 'custom' && view.from) q.set('from', view.from);
    if (view.range === 'custom' && view.to) q.set('to', view.to);
    if (view.limit !== '200') q.set('limit', view.limit);
    return q;
  }

  function apiQuery() {
    const q = new URLSearchParams();
    if (view.agent) q.set('agent', view.agent);
    if (view.outcome) q.set('outcome', view.outcome);
    if (view.eventType) q.set('eventType', view.eventType);
    if (RANGES[view.range]) q.set('from', new Date(Date.now() - RANGES[view.range]).toISOString());
    if (view.range === 'custom' && view.from) q.set('from', view.from);
    if (view.range === 'custom' && view.to) q.set('to', view.to);
    q.set('limit', view.limit);
    return q;
  }

  const pad = (n) => String(n).padStart(2, '0');
  /** ISO time to the value of a datetime-local input (local time, minutes). */
  function toLocalInput(iso) {
    const d = new Date(iso);
    if (Number.isNaN(d.getTime())) return '';
    return d.getFullYear() + '-' + pad(d.getMonth() + 1) + '-' + pad(d.getDate()) + 'T' + pad(d.getHours()) + ':' + pad(d.getMinutes());
  }
  /** The value of a datetime-local input (local time) to ISO UTC. */
  function fromLocalInput(value) {
    if (!value) return '';
    const d = new Date(value);
    return Number.isNaN(d.getTime()) ? '' : d.toISOString();
  }

  function fillSelect(select, key, values, label, current) {
    const list = values.slice();
    if (current && !list.includes(current)) list.push(current);
    const signature = list.join('|');
    if (optionKeys[key] !== signature) {
      optionKeys[key] = signature;
      const first = el('option', '', label);
      first.value = '';
      select.replaceChildren(first);
      for (const value of list) {
        const option = el('option', '', value);
        option.value = value;
        select.appendChild(option);
      }
    }
    select.value = current;
  }

  function showFilters() {
    fillSelect($('filter-agent'), 'agent', data ? data.agents : [], 'all agents', view.agent);
    fillSelect($('filter-outcome'), 'outcome', data ? data.outcomes : KNOWN_OUTCOMES, 'any outcome', view.outcome);
    fillSelect($('filter-event-type'), 'eventType', EVENT_TYPES, 'any event', view.eventType);
    const limit = $('filter-limit');
    if (!Array.from(limit.options).some((option) => option.value === view.limit)) {
      const option = el('option', '', view.limit);
      option.value = view.limit;
      limit.appendChild(option);
    }
    limit.value = view.limit;
    $('filter-range').value = view.range;
    $('filter-from').value = view.from ? toLocalInput(view.from) : '';
    $('filter-to').value = view.to ? toLocalInput(view.to) : '';
  }

  function changed() {
    const query = pageQuery().toString();
    window.history.replaceState(null, '', '/audit' + (query ? '?' + query : ''));
    lastJson = '';
    showFilters();
    refresh();
  }

  const on = (id, handler) => $(id).addEventListener('change', (event) => { handler(event.target.value); changed(); });
  on('filter-agent', (value) => { view.agent = value; });
  on('filter-outcome', (value) => { view.outcome = value; });
  on('filter-event-type', (value) => { view.eventType = value; });
  on('filter-limit', (value) => { view.limit = value; });
  on('filter-range', (value) => {
    view.range = value;
    if (value !== 'custom') { view.from = ''; view.to = ''; }
  });
  on('filter-from', (value) => { view.range = 'custom'; view.from = fromLocalInput(value); });
  on('filter-to', (value) => { view.range = 'custom'; view.to = fromLocalInput(value); });
  $('filter-reset').addEventListener('click', () => {
    Object.assign(view, { agent: '', outcome: '', eventType: '', range: '', from: '', to: '', limit: '200' });
    changed();
  });

  function duration(seconds) {
    if (seconds < 60) return Math.round(seconds) + ' s';
    if (seconds < 3600) return Math.floor(seconds / 60) + ' min ' + Math.round(seconds % 60) + ' s';
    return Math.floor(seconds / 3600) + ' h ' + Math.round((seconds % 3600) / 60) + ' min';
  }
  const localTime = (iso) => new Date(iso).toLocaleString();
  const short = (value, length) => (value && value.length > length ? value.slice(0, length) + '\u2026' : value || '');

  function legend(id, outcomes) {
    const box = $(id);
    box.replaceChildren();
    for (const outcome of outcomes) {
      const item = el('span');
      item.appendChild(el('span', 'swatch ' + outcomeClass(outcome)));
      item.appendChild(document.createTextNode(outcome));
      box.appendChild(item);
    }
  }

  /** Stacked bars: one per column, a segment per outcome; axes, grid, labels; an empty note. */
  function stackedBars(chart, columns, outcomes, axis) {
    chart.replaceChildren();
    const plotW = W - M.left - M.right;
    const plotH = H - M.top - M.bottom;
    const max = Math.max(0, ...columns.map((c) => outcomes.reduce((sum, o) => sum + (c.counts[o] || 0), 0)));
    // Whole-number ticks 1, 2 or 5 times a power of ten apart, the top one at or above the highest bar.
    const rough = Math.max(1, max) / 4;
    const power = Math.pow(10, Math.floor(Math.log10(rough)));
    const step = Math.max(1, [1, 2, 5, 10].map((f) => f * power).find((s) => s >= rough) || power * 10);
    const top = Math.max(step, Math.ceil(Math.max(1, max) / step) * step);
    const ticks = Array.from({ length: Math.round(top / step) + 1 }, (_, i) => i * step);
    for (const tick of ticks) {
      const y = M.top + plotH - (tick / top) * plotH;
      chart.appendChild(svg('line', { class: 'grid', x1: M.left, x2: W - M.right, y1: y, y2: y }));
      chart.appendChild(svg('text', { x: M.left - 6, y: y + 4, 'text-anchor': 'end' }, tick));
    }
    chart.appendChild(svg('line', { class: 'axis', x1: M.left, x2: W - M.right, y1: M.top + plotH, y2: M.top + plotH }));
    chart.appendChild(svg('line', { class: 'axis', x1: M.left, x2: M.left, y1: M.top, y2: M.top + plotH }));
    chart.appendChild(svg('text', { class: 'axis-title', x: 12, y: M.top + plotH / 2, 'text-anchor': 'middle', transform: 'rotate(-90 12 ' + (M.top + plotH / 2) + ')' }, axis.y));
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
        const n = column.counts[outcome] || 0;
        if (n === 0) continue;
        const h = (n / top) * plotH;
        y -= h;
        const bar = svg('rect', { class: outcomeClass(outcome), x: x, y: y, width: barW, height: h });
        bar.setAttribute('data-outcome', outcome);
        bar.appendChild(svg('title', {}, column.title + ': ' + n + ' ' + outcome));
        chart.appendChild(bar);
      }
      if (i % every === 0) chart.appendChild(svg('text', { x: M.left + i * band + band / 2, y: M.top + plotH + 14, 'text-anchor': 'middle' }, column.label));
    });
  }

  function hourColumns(perHour) {
    if (perHour.length === 0) return [];
    const byHour = new Map(perHour.map((h) => [Date.parse(h.hour), h.counts]));
    const first = Date.parse(perHour[0].hour);
    const last = Date.parse(perHour[perHour.length - 1].hour);
    // Hours without decisions are shown as gaps while that stays readable (three days).
    const hours = (last - first) / 3600000 <= 72
      ? Array.from({ length: (last - first) / 3600000 + 1 }, (_, i) => first + i * 3600000)
      : perHour.map((h) => Date.parse(h.hour));
    let day = '';
    return hours.map((ms) => {
      const d = new Date(ms);
      const today = d.toLocaleDateString();
      const label = (today !== day ? (d.getMonth() + 1) + '/' + d.getDate() + ' ' : '') + pad(d.getHours()) + 'h';
      day = today;
      return { label: label, title: d.toLocaleString(), counts: byHour.get(ms) || {} };
    });
  }

  function renderCharts() {
    const seen = new Set();
    for (const h of data.perHour) for (const o of Object.keys(h.counts)) seen.add(o);
    const outcomes = KNOWN_OUTCOMES.filter((o) => seen.has(o)).concat([...seen].filter((o) => !KNOWN_OUTCOMES.includes(o)).sort());
    stackedBars($('chart-outcomes'), hourColumns(data.perHour), outcomes, { x: 'hour of the final outcome (local time)', y: 'decisions', empty: 'No decisions in this view yet.' });
    legend('legend-outcomes', outcomes);

    const columns = BUCKETS.map((b) => ({ label: b.label, title: b.label, counts: {} }));
    for (const latency of data.latencies) {
      const index = BUCKETS.findIndex((b) => latency.seconds < b.below);
      const counts = columns[index].counts;
      counts[latency.outcome] = (counts[latency.outcome] || 0) + 1;
    }
    stackedBars($('chart-latency'), columns, REVIEWED, { x: 'time from the request to its outcome', y: 'requests', empty: 'No reviewed request has an outcome in this view yet.' });
    legend('legend-latency', REVIEWED);
    const seconds = data.latencies.map((l) => l.seconds).sort((a, b) => a - b);
    $('latency-summary').textContent = seconds.length === 0
      ? 'Time from the request to its outcome, for requests that went to review (approved, rejected, expired).'
      : seconds.length + ' reviewed request' + (seconds.length === 1 ? '' : 's') + ': median ' + duration(seconds[Math.floor((seconds.length - 1) / 2)]) + ', longest ' + duration(seconds[seconds.length - 1]) + ' (from the request to its outcome).';
  }

  function cell(row, text, className, title) {
    const td = el('td', className || '', text);
    if (title) td.title = title;
    row.appendChild(td);
    return td;
  }

  const EXECUTION_CHIPS = ['succeeded', 'failed', 'violation'];
  function chip(td, outcome) {
    if (!outcome) return;
    td.appendChild(el('span', 'chip ' + (EXECUTION_CHIPS.includes(outcome) ? 'o-' + outcome : outcomeClass(outcome)), outcome));
  }

  /** The reason column: a violation's rule and reason, an execution's times and result, a vote, or the record's reason. */
  function summaryOf(record) {
    if (record.violationRule) return record.violationRule + ': ' + (record.reason || '');
    if (record.execution) {
      const e = record.execution;
      const ran = e.startedAt && e.finishedAt ? ' in ' + ((Date.parse(e.finishedAt) - Date.parse(e.startedAt)) / 1000) + ' s' : '';
      const said = e.error ? e.error.code + ': ' + e.error.message : e.resultSummary || '';
      return (e.status || '') + ', started ' + (e.startedAt ? localTime(e.startedAt) : '?') + ran + (said ? ' (' + said + ')' : '');
    }
    return record.reason || (record.vote ? record.vote + (record.comment ? ': ' + record.comment : '') : '');
  }

  function detailsRow(record) {
    const row = el('tr', 'details');
    const td = el('td');
    td.colSpan = 11;
    const list = el('dl');
    const item = (name, value) => {
      if (value === null || value === undefined || value === '' || (Array.isArray(value) && value.length === 0)) return;
      list.appendChild(el('dt', '', name));
      list.appendChild(el('dd', typeof value === 'string' ? '' : 'mono', typeof value === 'string' ? value : JSON.stringify(value, null, 2)));
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
    if (record.execution) {
      item('execution status', record.execution.status);
      item('started at', record.execution.startedAt);
      item('finished at', record.execution.finishedAt);
      item('result summary', record.execution.resultSummary);
      item('result SHA-256', record.execution.resultSha256);
      item('error', record.execution.error ? record.execution.error.code + ': ' + record.execution.error.message : null);
      item('executed payload SHA-256', record.execution.executedPayloadSha256);
    }
    const policies = record.policyIds.length > 0 ? record.policyIds : record.requestPolicyIds;
    item('policies', policies.length > 0 ? policies.join(', ') : 'none');
    item('payload SHA-256', record.payloadSha256 || 'none (a request the contract refused has no payload hash)');
    item('claimed source', record.agentId ? null : record.claimedSource);
    item('record hash', record.hash);
    item('object key', record.objectKey);
    td.appendChild(list);
    row.appendChild(td);
    return row;
  }

  function renderRecords() {
    const body = $('records').querySelector('tbody');
    body.replaceChildren();
    if (data.records.length === 0) {
      const row = el('tr');
      const td = el('td', 'empty-row', data.log.records === 0 ? 'The audit log has no records yet: send a request, and its records appear here within seconds.' : 'No record matches these filters.');
      td.colSpan = 11;
      row.appendChild(td);
      body.appendChild(row);
      return;
    }
    for (const record of data.records) {
      const row = el('tr', record.violationRule ? 'record violation' : 'record');
      row.setAttribute('data-action-id', record.actionId || '');
      row.setAttribute('data-event-type', record.eventType);
      row.setAttribute('data-event-id', record.eventId);
      cell(row, localTime(record.occurredAt), 'time', record.occurredAt);
      cell(row, record.eventType, 'event');
      // A malformed request has no agent id: the source its sender claimed is the only hint.
      if (record.agentId || !record.claimedSource) cell(row, record.agentId || '', 'agent');
      else cell(row, record.claimedSource, 'agent claimed', 'no valid agent id; the event source the sender claimed: ' + record.claimedSource);
      cell(row, record.action || '');
      cell(row, record.resourceType || record.resourceId ? (record.resourceType || '?') + '/' + (record.resourceId || '?') : '');
      cell(row, record.environment || '');
      // An execution shows what ran (succeeded or failed); a violation shows as one, whatever the request's outcome.
      const shownOutcome = record.violationRule ? 'violation' : record.execution ? record.execution.status : record.outcome;
      chip(cell(row, '', '', record.requestOutcome ? 'request outcome: ' + record.requestOutcome : ''), shownOutcome);
      cell(row, record.reviewerId || '');
      cell(row, summaryOf(record), 'reason');
      cell(row, short(record.actionId, 18), 'mono', record.actionId || '');
      cell(row, short(record.payloadSha256, 12), 'mono', record.payloadSha256 || '');
      row.addEventListener('click', () => {
        if (expanded.has(record.eventId)) expanded.delete(record.eventId);
        else expanded.add(record.eventId);
        renderRecords();
      });
      body.appendChild(row);
      if (expanded.has(record.eventId)) body.appendChild(detailsRow(record));
    }
  }

  function renderTotals() {
    const decisions = {};
    for (const h of data.perHour) for (const o of Object.keys(h.counts)) decisions[o] = (decisions[o] || 0) + h.counts[o];
    const parts = Object.keys(decisions).sort().map((o) => decisions[o] + ' ' + o);
    let text = data.total + ' record' + (data.total === 1 ? '' : 's') + ' match';
    if (data.records.length < data.total) text += ' (newest ' + data.records.length + ' shown)';
    text += ', of ' + data.log.records + ' in the log (' + data.log.objects + ' object' + (data.log.objects === 1 ? '' : 's') + ')';
    text += parts.length > 0 ? ' \u00b7 decisions: ' + parts.join(', ') : ' \u00b7 no decisions in this view';
    $('totals').textContent = text;
  }

  function render() {
    showFilters();
    renderTotals();
    renderCharts();
    renderRecords();
  }

  // A change of filters while an older answer is on its way: only the newest request's answer is drawn.
  let latestRequest = 0;
  async function refresh() {
    const status = $('status');
    const request = ++latestRequest;
    try {
      const response = await fetch('/audit/records?' + apiQuery().toString());
      const json = await response.text();
      if (request !== latestRequest) return;
      if (!response.ok) {
        let message = 'HTTP ' + response.status;
        try { message = JSON.parse(json).message || message; } catch (error) { message = message + ' ' + String(error); }
        status.className = 'error';
        status.textContent = message;
        return;
      }
      const next = JSON.parse(json);
      status.className = '';
      status.textContent = 'Updated ' + new Date(next.generatedAt).toLocaleTimeString() + '; refreshes every ' + REFRESH_MS / 1000 + ' s. Click a row for its details.';
      const comparable = JSON.stringify(Object.assign({}, next, { generatedAt: '' }));
      if (comparable === lastJson) return;
      lastJson = comparable;
      data = next;
      render();
    } catch (error) {
      if (request !== latestRequest) return;
      status.className = 'error';
      status.textContent = 'The local stack is not answering (' + String(error) + ')';
    }
  }

  showFilters();
  refresh();
  // One poll at a time: a slow query is not queued behind by more of them.
  let polling = false;
  setInterval(() => {
    if (polling) return;
    polling = true;
    refresh().finally(() => { polling = false; });
  }, REFRESH_MS);
})();
</script>
</body>
</html>
`;
}
