import { performance } from 'node:perf_hooks';
import { generatePolicySet } from './policy-bench.js';
import { CedarPolicyEngine } from '../shared/policy/cedar-policy-engine.js';
// @ts-expect-error the engine as on main before this branch
import { CedarPolicyEngine as OldEngine } from '/tmp/i15e/old/shared/policy/cedar-policy-engine.ts';
const size = Number(process.argv[2] ?? 1000);
const { source, verbs } = generatePolicySet(size);
const engines: Record<string, { decide(r: any): unknown }> = { before: new OldEngine({ source }), after: new CedarPolicyEngine({ source }) };
const reqs = verbs.flatMap((v, i) => ['prod', 'dev'].map((environment) => ({ specVersion: '1', actionId: 'x', agent: { id: `agent-${i % 20}`, onBehalfOf: 'a@b.c' }, action: v.name, resource: { type: v.resourceType, id: 'res-1', attributes: { tier: i % 4, sensitive: i % 2 === 0 } }, environment, parameters: { reason: 1 }, justification: 'j', context: { riskHints: [] } }))) as any[];
for (const e of Object.values(engines)) for (let i = 0; i < 3000; i++) e.decide(reqs[i % reqs.length]);
const samples: Record<string, number[]> = { before: [], after: [] };
for (let i = 0; i < 20000; i++) for (const [n, e] of Object.entries(engines)) { const r = reqs[i % reqs.length]; const t0 = performance.now(); e.decide(r); samples[n]!.push((performance.now() - t0) * 1000); }
for (const [n, s] of Object.entries(samples)) { s.sort((a, b) => a - b); console.log(size, n, 'p50', s[Math.floor(s.length / 2)]!.toFixed(1), 'p99', s[Math.floor(s.length * 0.99)]!.toFixed(1)); }
