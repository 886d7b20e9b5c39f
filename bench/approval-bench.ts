import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { pathToFileURL } from 'node:url';
import { DECIDED_SOURCE } from '../shared/domain/contract.js';
import type { LocalStack } from '../local/local-stack.js';
import { benchInvocations, borrowBenchStack, startBenchStack } from './bench-stack.js';

export interface ApprovalBenchRow {
  requests: number;
  /** Requests in flight at once. */
  concurrency: number;
  postedP50ms: number;
  postedP99ms: number;
  decidedP50ms: number;
  decidedP99ms: number;
  /** Per step of the path, p50 and p99 in ms (1 in flight on the bench stack only: the steps of one request are told apart by time). */
  timeline: Array<{ step: string; p50ms: number; p99ms: number }>;
}

/** The steps of one approval, each the time from the mark before it. */
const STEPS = [
  ['event', 'PutEvents sent -> evaluate-action starts (SDK call, bus, rule)'],
  ['evaluateStarted', 'evaluate-action: parse, policy, write, StartExecution'],
  ['executionStarted', 'StartExecution -> request-review starts (workflow runner)'],
  ['reviewStarted', 'request-review: store review, post to Slack'],
  ['posted', '= event in -> review posted'],
  ['tap', 'tap -> slack-interactions starts (emulator signs, Function URL)'],
  ['interactionStarted', 'slack-interactions: verify, vote, SendTaskSuccess -> record-outcome starts'],
  ['outcomeStarted', 'record-outcome: outcome item, Action Decided'],
  ['decided', '= tap -> Action Decided'],
] as const;

type Mark = (typeof STEPS)[number][0];

const DBA_CHANNEL = 'C0DBA';
const GRACE = 'U0GRACE';

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] ?? Number.NaN;
}

/**
 * On the local stack (real handlers, DynamoDB Local, the synthesized workflow, the Slack emulator
 * without its rate limit): event in → review message posted, and button tap → `Action Decided`.
 */
export async function benchApprovals(requests = 200, concurrency = 4, shared?: LocalStack): Promise<ApprovalBenchRow> {
  const { stack, release } = await borrowBenchStack(shared);
  const waiters = new Map<string, (value: number) => void>();
  const posted = new Map<string, { channel: string; ts: string; at: number }>();
  const watchPosts = stack.slack.workspace.onChange(() => {
    for (const message of stack.slack.workspace.messages(DBA_CHANNEL)) {
      const text = JSON.stringify(message.blocks ?? []);
      for (const [key, resolve] of waiters) {
        if (key.startsWith('posted:') && text.includes(key.slice('posted:'.length)) && message.thread_ts === undefined) {
          waiters.delete(key);
          posted.set(key.slice('posted:'.length), { channel: DBA_CHANNEL, ts: message.ts, at: performance.now() });
          resolve(performance.now());
        }
      }
    }
  });
  const watchDecisions = stack.bus.subscribe((activity) => {
    if (activity.kind !== 'accepted' || activity.event.source !== DECIDED_SOURCE) return;
    const key = `decided:${String((activity.event.detail as { actionId?: unknown }).actionId)}`;
    waiters.get(key)?.(performance.now());
    waiters.delete(key);
  });
  const when = (key: string) => new Promise<number>((resolve) => waiters.set(key, resolve));
  const client = new EventBridgeClient({ endpoint: stack.url, region: 'us-east-1', credentials: { accessKeyId: 'x', secretAccessKey: 'x' } });
  const postedMs: number[] = [];
  const decidedMs: number[] = [];
  const marksOf: Array<Partial<Record<Mark, number>>> = [];
  let executionStartedAt = 0;
  const watchExecutions = stack.stepFunctions.onExecutionStarted(() => { executionStartedAt = performance.now(); });
  const firstStart = (functionName: string, after: number) => benchInvocations.find((call) => call.functionName === functionName && call.startedAt >= after)?.startedAt;
  const run = Date.now().toString(36);
  try {
    let next = 0;
    await Promise.all(Array.from({ length: concurrency }, async () => {
      while (next < requests) {
        const actionId = `bench-${run}-${next++}`;
        const isPosted = when(`posted:${actionId}`);
        const sentAt = performance.now();
        const response = await client.send(new PutEventsCommand({ Entries: [{
          EventBusName: 'countersign', Source: 'agent.billing-agent', DetailType: 'Action Requested',
          Detail: JSON.stringify({
            specVersion: '1', actionId, agent: { id: 'billing-agent', onBehalfOf: 'someone@example.com' },
            action: 'db.schema.update', resource: { type: 'Database', id: 'customers' }, environment: 'prod',
            // A payload of its own: requests in flight together with one payload are duplicates (issue 16) and denied.
            parameters: { ddl: `alter table customers add column tier_${next} text` }, justification: 'benchmark',
          }),
        }] }));
        if ((response.FailedEntryCount ?? 0) > 0) throw new Error(`PutEvents refused: ${JSON.stringify(response.Entries)}`);
        postedMs.push((await isPosted) - sentAt);
        const message = posted.get(actionId);
        if (message === undefined) throw new Error(`no review message for ${actionId}`);
        const isDecided = when(`decided:${actionId}`);
        const tappedAt = performance.now();
        const tap = await fetch(`${stack.url}/slack/act`, {
          method: 'POST', headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ user: GRACE, channel: message.channel, ts: message.ts, actionId: 'approve' }),
        });
        if (tap.status !== 200) throw new Error(`tap answered ${tap.status}: ${await tap.text()}`);
        const decidedAt = await isDecided;
        decidedMs.push(decidedAt - tappedAt);
        if (concurrency === 1) {
          marksOf.push({ event: sentAt, executionStarted: executionStartedAt >= sentAt ? executionStartedAt : undefined, posted: message.at, tap: tappedAt, decided: decidedAt });
        }
      }
    }));
  } finally {
    watchPosts();
    watchDecisions();
    watchExecutions();
    client.destroy();
    await release();
  }
  // Invocations are logged as they end (record-outcome after Action Decided): their starts are read now.
  await new Promise((resolve) => setTimeout(resolve, 200));
  for (const marks of marksOf) {
    const { event = 0, tap = 0 } = marks;
    Object.assign(marks, {
      evaluateStarted: firstStart('countersign-evaluate-action', event),
      reviewStarted: firstStart('countersign-request-review', event),
      interactionStarted: firstStart('countersign-slack-interactions', tap),
      outcomeStarted: firstStart('countersign-record-outcome', tap),
    });
  }
  postedMs.sort((a, b) => a - b);
  decidedMs.sort((a, b) => a - b);
  return {
    requests,
    concurrency,
    postedP50ms: quantile(postedMs, 0.5),
    postedP99ms: quantile(postedMs, 0.99),
    decidedP50ms: quantile(decidedMs, 0.5),
    decidedP99ms: quantile(decidedMs, 0.99),
    timeline: timelineOf(marksOf),
  };
}

/** Each step's time from the mark before it; the two totals from their starts (event, tap). */
function timelineOf(marks: Array<Partial<Record<Mark, number>>>): ApprovalBenchRow['timeline'] {
  if (marks.length === 0) return [];
  return STEPS.map(([mark, step], index) => {
    const from: Mark = mark === 'posted' ? 'event' : mark === 'decided' ? 'tap' : (STEPS[index - 1]?.[0] ?? mark);
    const isTotal = mark === 'posted' || mark === 'decided';
    // A step ends where the next one starts; the last of each half ends at the total's mark.
    const to: Mark = isTotal ? mark : (STEPS[index + 1]?.[0] ?? mark);
    const spans = marks.map((m) => (isTotal ? (m[to] ?? Number.NaN) - (m[from] ?? Number.NaN) : (m[to] ?? Number.NaN) - (m[mark] ?? Number.NaN)))
      .filter((n) => Number.isFinite(n)).sort((a, b) => a - b);
    return { step, p50ms: quantile(spans, 0.5), p99ms: quantile(spans, 0.99) };
  });
}

export function formatApprovalBench(row: ApprovalBenchRow): string {
  const ms = (n: number) => `${n.toFixed(0)} ms`;
  return [
    `approvals on the local stack (${row.requests} requests, ${row.concurrency} in flight, db.schema.update in prod, approved by grace in Slack)`,
    `  event in -> review posted in Slack   p50 ${ms(row.postedP50ms)}   p99 ${ms(row.postedP99ms)}   target p99 <= 250 ms: ${row.postedP99ms <= 250 ? 'met' : 'NOT met'}`,
    `  button tap -> Action Decided          p50 ${ms(row.decidedP50ms)}   p99 ${ms(row.decidedP99ms)}   target p99 <= 150 ms: ${row.decidedP99ms <= 150 ? 'met' : 'NOT met'}`,
    ...(row.timeline.length === 0 ? [] : ['  where the time goes (each step p50 / p99):', ...row.timeline.map((t) => `    ${t.step.padEnd(78)} ${ms(t.p50ms).padStart(7)} / ${ms(t.p99ms)}`)]),
  ].join('\n');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { stack, release } = await startBenchStack();
  try {
    console.log(formatApprovalBench(await benchApprovals(200, 1, stack)));
    console.log(formatApprovalBench(await benchApprovals(200, 4, stack)));
  } finally {
    await release();
  }
}
