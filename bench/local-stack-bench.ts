import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { DECIDED_SOURCE } from '../shared/domain/contract.js';
import type { LocalStack } from '../local/local-stack.js';
import { benchRequestDetail } from './bench-request.js';
import { borrowBenchStack } from './bench-stack.js';

export interface LocalStackBenchRow {
  actions: number;
  seconds: number;
  actionsPerSec: number;
}

/** End-to-end throughput of auto-decided actions: SDK PutEvents in, "Action Decided" out, through DynamoDB Local. */
export async function benchLocalStack(actions = 1_000, shared?: LocalStack): Promise<LocalStackBenchRow> {
  const { stack, release } = await borrowBenchStack(shared);
  try {
    const client = new EventBridgeClient({ endpoint: stack.url, region: 'us-east-1', credentials: { accessKeyId: 'x', secretAccessKey: 'x' } });
    let decided = 0;
    let allDecided: () => void = () => undefined;
    const done = new Promise<void>((resolve) => { allDecided = resolve; });
    const unsubscribe = stack.bus.subscribe((activity) => {
      if (activity.kind === 'accepted' && activity.event.source === DECIDED_SOURCE && ++decided === actions) allDecided();
    });
    const run = Date.now().toString(36);
    const entry = (i: number) => ({
      EventBusName: 'countersign',
      Source: 'agent.billing-agent',
      DetailType: 'Action Requested',
      Detail: JSON.stringify(benchRequestDetail(`bench-${run}-${i}`, i)),
    });
    const batches = Array.from({ length: Math.ceil(actions / 10) }, (_, b) => Array.from({ length: Math.min(10, actions - b * 10) }, (_, i) => entry(b * 10 + i)));
    const started = performance.now();
    let next = 0;
    await Promise.all(Array.from({ length: 4 }, async () => {
      while (next < batches.length) {
        const batch = batches[next++] ?? [];
        const response = await client.send(new PutEventsCommand({ Entries: batch }));
        if ((response.FailedEntryCount ?? 0) > 0) throw new Error(`PutEvents refused entries: ${JSON.stringify(response.Entries)}`);
      }
    }));
    await done;
    const seconds = (performance.now() - started) / 1000;
    client.destroy();
    unsubscribe();
    return { actions, seconds, actionsPerSec: actions / seconds };
  } finally {
    await release();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.table([await benchLocalStack()]);
}
