// `npm run bench`: prints the figures the issues ask for. Timings live here, never in tests.
import { benchApprovals, formatApprovalBench } from './approval-bench.js';
import { printAuditBench } from './audit-bench.js';
import { benchIntake } from './intake-bench.js';
import { benchLocalStack } from './local-stack-bench.js';
import { printPolicyBench } from './policy-bench.js';

await printPolicyBench();

console.log('\nevaluate-action CPU per auto-decided action (in-memory adapters: parse, identity, Cedar, hash, record, publish)');
const intake = await benchIntake();
console.log(`  actions ${intake.actions}   CPU ${intake.cpuMsPerAction.toFixed(3)} ms/action   wall ${intake.wallMsPerAction.toFixed(3)} ms/action   target <= 2 ms CPU: ${intake.cpuMsPerAction <= 2 ? 'met' : 'NOT met'}`);

console.log('\nlocal stack end to end (SDK PutEvents -> evaluate-action -> DynamoDB Local -> Action Decided)');
const local = await benchLocalStack();
console.log(`  actions ${local.actions}   ${local.seconds.toFixed(1)} s   ${local.actionsPerSec.toFixed(0)} actions/s`);

console.log();
// One request at a time measures the path; four at once shows queueing on this 2-core machine, where
// DynamoDB Local's JVM shares the cores with everything else.
console.log(formatApprovalBench(await benchApprovals(200, 1)));
console.log(formatApprovalBench(await benchApprovals(200, 4)));

console.log();
await printAuditBench();
