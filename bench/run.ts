// `npm run bench`: prints the figures the issues ask for. Timings live here, never in tests.
// `npm run bench -- --quick` runs every part on small sizes (a smoke run: its figures mean little).
import { spawnSync } from 'node:child_process';
import { benchApprovals, formatApprovalBench } from './approval-bench.js';
import { printAuditBench } from './audit-bench.js';
import { startBenchStack } from './bench-stack.js';
import { benchBundles, formatBundleBench } from './bundle-bench.js';
import { benchIntake } from './intake-bench.js';
import { benchLocalStack } from './local-stack-bench.js';
import { printPolicyBench } from './policy-bench.js';

// The local stack points the handlers' variables (directory file, endpoints) at its own data folder, which
// is gone when the cost run starts: that run gets the environment as it was before.
const startEnvironment = { ...process.env };
const quick = process.argv.includes('--quick');
const unknown = process.argv.slice(2).filter((argument) => argument !== '--quick');
if (unknown.length > 0) {
  console.error(`unknown argument "${unknown[0]}"; usage: npm run bench [-- --quick]`);
  process.exit(2);
}
if (quick) console.log('quick run: small sizes, to check that every part runs; the figures are not comparable to a full run\n');

await printPolicyBench(quick ? { sizes: [10, 100], decisions: 500 } : {});

// Quick: one import per bundle, without the --enable-source-maps comparison (the synth with bundling is
// most of this part's time either way).
console.log();
console.log(formatBundleBench(await benchBundles(quick ? 1 : 15, undefined, !quick)));

console.log('\nevaluate-action CPU per auto-decided action (in-memory adapters: parse, identity, Cedar, hash, record, publish)');
const intake = await benchIntake(quick ? 200 : undefined);
console.log(`  actions ${intake.actions}   CPU ${intake.cpuMsPerAction.toFixed(3)} ms/action   wall ${intake.wallMsPerAction.toFixed(3)} ms/action   target <= 2 ms CPU: ${intake.cpuMsPerAction <= 2 ? 'met' : 'NOT met'}`);
// The same path with the shipped shadow set evaluated beside the enforced one (issue 16): its cost as a ratio.
const shadowed = await benchIntake(quick ? 200 : undefined, { shadow: true });
console.log(`  with the shadow set: CPU ${shadowed.cpuMsPerAction.toFixed(3)} ms/action (${(shadowed.cpuMsPerAction / intake.cpuMsPerAction).toFixed(2)}x without)   target <= 2 ms CPU: ${shadowed.cpuMsPerAction <= 2 ? 'met' : 'NOT met'}`);

// One local stack for every part that needs one: the handler modules bind to the first of a process.
const { stack, release } = await startBenchStack();
try {
  console.log('\nlocal stack end to end (SDK PutEvents -> evaluate-action -> DynamoDB Local -> Action Decided)');
  const local = await benchLocalStack(quick ? 50 : undefined, stack);
  console.log(`  actions ${local.actions}   ${local.seconds.toFixed(1)} s   ${local.actionsPerSec.toFixed(0)} actions/s`);

  console.log();
  // One request at a time measures the path; four at once shows queueing on this 2-core machine, where
  // DynamoDB Local's JVM shares the cores with everything else.
  const approvals = quick ? 8 : 200;
  console.log(formatApprovalBench(await benchApprovals(approvals, 1, stack, { floor: true })));
  console.log(formatApprovalBench(await benchApprovals(approvals, 4, stack)));
} finally {
  await release();
}

console.log();
await printAuditBench(quick ? ['--records', '5000'] : []);

// Its own process and stack: the metering hop in front of DynamoDB Local stays out of the latency figures above.
console.log();
const cost = spawnSync(process.execPath, ['--import', 'tsx', 'bench/cost-bench.ts', ...(quick ? ['--quick'] : [])], { stdio: 'inherit', cwd: new URL('..', import.meta.url), env: startEnvironment });
if (cost.status !== 0) {
  console.error(`the cost bench failed (exit ${String(cost.status)})`);
  process.exit(1);
}
