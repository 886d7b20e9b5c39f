import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { pathToFileURL } from 'node:url';
import { DECIDED_SOURCE } from '../shared/domain/contract.js';
import type { LocalStack } from '../local/local-stack.js';
import { borrowBenchStack, startBenchStack } from './bench-stack.js';

export interface ApprovalBenchRow {
  requests: number;
  /** Requests in flight at once. */
  concurrency: number;
  postedP50ms: number;
  postedP99ms: number;
  decidedP50ms: number;
  decidedP99ms: number;
}

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
            parameters: { ddl: 'alter table customers add column tier text' }, justification: 'benchmark',
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
        decidedMs.push((await isDecided) - tappedAt);
      }
    }));
  } finally {
    watchPosts();
    watchDecisions();
    client.destroy();
    await release();
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
  };
}

export function formatApprovalBench(row: ApprovalBenchRow): string {
  const ms = (n: number) => `${n.toFixed(0)} ms`;
  return [
    `approvals on the local stack (${row.requests} requests, ${row.concurrency} in flight, db.schema.update in prod, approved by grace in Slack)`,
    `  event in -> review posted in Slack   p50 ${ms(row.postedP50ms)}   p99 ${ms(row.postedP99ms)}   target p99 <= 250 ms: ${row.postedP99ms <= 250 ? 'met' : 'NOT met'}`,
    `  button tap -> Action Decided          p50 ${ms(row.decidedP50ms)}   p99 ${ms(row.decidedP99ms)}   target p99 <= 150 ms: ${row.decidedP99ms <= 150 ? 'met' : 'NOT met'}`,
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
