import diagnostics from 'node:diagnostics_channel';
import { benchApprovals } from './approval-bench.js';
import { benchInvocations, startBenchStack } from './bench-stack.js';
const log: Array<[number, string]> = [];
const starts = new WeakMap<object, number>();
diagnostics.subscribe('http.client.request.start', (m: any) => { starts.set(m.request, performance.now()); });
diagnostics.subscribe('http.client.response.finish', (m: any) => {
  const s = starts.get(m.request) ?? 0;
  const target = m.request.getHeader('x-amz-target') ?? `${m.request.method} ${m.request.path}`;
  log.push([s, `${(performance.now() - s).toFixed(1)}ms ${String(target).slice(0, 60)}`]);
});
const { stack, release } = await startBenchStack();
try {
  await benchApprovals(5, 1, stack);
  log.length = 0; benchInvocations.length = 0;
  const t0 = performance.now();
  await benchApprovals(3, 1, stack);
  await new Promise((r) => setTimeout(r, 300));
  const all = [...log.map(([t, s]) => [t, 'http ' + s] as [number, string]), ...benchInvocations.flatMap((i) => [[i.startedAt, `START ${i.functionName}`], [i.endedAt, `END ${i.functionName}`]] as [number, string][])].sort((a, b) => a[0] - b[0]);
  for (const [t, s] of all) console.log((t - t0).toFixed(1).padStart(8), s);
} finally { await release(); }
