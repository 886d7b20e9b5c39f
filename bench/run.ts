// `npm run bench`: prints the figures the issues ask for. Timings live here, never in tests.
import { benchIntake } from './intake-bench.js';
import { benchLocalStack } from './local-stack-bench.js';
import { benchPolicies, formatPolicyBench } from './policy-bench.js';

const narrowed = await benchPolicies({ narrowByAction: true });
console.log(formatPolicyBench(narrowed, 'Policy decisions, narrowed by action (production setting)'));
console.log();
const all = await benchPolicies({ narrowByAction: false, decisions: 5_000 });
console.log(formatPolicyBench(all, 'Policy decisions, every policy evaluated (Cedar alone)'));
const worst = narrowed.find((row) => row.policies === 1000);
if (worst !== undefined) console.log(`target p99 <= 100 us at 1,000 policies: ${worst.p99us <= 100 ? 'met' : 'NOT met'} (${worst.p99us} us)`);

console.log('\nevaluate-action CPU per auto-decided action (in-memory adapters: parse, identity, Cedar, hash, record, publish)');
const intake = await benchIntake();
console.log(`  actions ${intake.actions}   CPU ${intake.cpuMsPerAction.toFixed(3)} ms/action   wall ${intake.wallMsPerAction.toFixed(3)} ms/action   target <= 2 ms CPU: ${intake.cpuMsPerAction <= 2 ? 'met' : 'NOT met'}`);

console.log('\nlocal stack end to end (SDK PutEvents -> evaluate-action -> DynamoDB Local -> Action Decided)');
const local = await benchLocalStack();
console.log(`  actions ${local.actions}   ${local.seconds.toFixed(1)} s   ${local.actionsPerSec.toFixed(0)} actions/s`);
