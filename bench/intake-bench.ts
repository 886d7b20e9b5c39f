import { randomUUID } from 'node:crypto';
import { MemoryDecisionStore, MemoryEventPublisher, MemoryWorkflowStarter } from '../shared/adapters/memory/memory-adapters.js';
import { evaluateActionRequested, type IncomingEvent } from '../shared/domain/intake.js';
import { CedarPolicyEngine } from '../shared/policy/cedar-policy-engine.js';
import { defaultPolicyDir } from '../shared/policy/load-policies.js';
import { shadowPolicyEngine } from '../shared/policy/shadow-policies.js';

export interface IntakeBenchRow {
  actions: number;
  cpuMsPerAction: number;
  wallMsPerAction: number;
}

function autoDecided(i: number): IncomingEvent {
  return {
    id: randomUUID(),
    source: 'agent.billing-agent',
    detailType: 'Action Requested',
    detail: {
      specVersion: '1',
      actionId: `bench-${i}-${randomUUID()}`,
      agent: { id: 'billing-agent', runId: 'bench', onBehalfOf: 'alice@example.com' },
      action: 'db.query',
      resource: { type: 'Database', id: 'customers' },
      environment: 'prod',
      parameters: { sql: `select * from customers where id = ${i}`, limit: 100, columns: ['id', 'email', 'country'] },
      justification: 'Answering a support ticket about a customer account.',
      context: { riskHints: [] },
    },
  };
}

/**
 * CPU per auto-decided action through the whole intake path (parse, identity, Cedar, hash, record, publish) with in-memory adapters.
 * `shadow`: with the shipped shadow set (policies/shadow/) evaluated beside the enforced one, as evaluate-action does.
 */
export async function benchIntake(actions = 5_000, options: { shadow?: boolean } = {}): Promise<IntakeBenchRow> {
  const shadowPolicy = options.shadow === true ? shadowPolicyEngine(defaultPolicyDir()) : undefined;
  if (options.shadow === true && shadowPolicy === undefined) throw new Error('benchIntake: policies/shadow/ holds no shadow set to measure');
  const deps = {
    policy: new CedarPolicyEngine(), ...(shadowPolicy === undefined ? {} : { shadowPolicy }),
    store: new MemoryDecisionStore(), publisher: new MemoryEventPublisher(), workflow: new MemoryWorkflowStarter(), now: () => new Date(),
  };
  for (let i = 0; i < 500; i++) await evaluateActionRequested(autoDecided(i), deps); // warm-up
  const events = Array.from({ length: actions }, (_, i) => autoDecided(i));
  const cpuStart = process.cpuUsage();
  const wallStart = performance.now();
  for (const event of events) await evaluateActionRequested(event, deps);
  const wall = performance.now() - wallStart;
  const cpu = process.cpuUsage(cpuStart);
  return { actions, cpuMsPerAction: (cpu.user + cpu.system) / 1000 / actions, wallMsPerAction: wall / actions };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.table([{ set: 'enforced', ...(await benchIntake()) }, { set: 'enforced + shadow', ...(await benchIntake(undefined, { shadow: true })) }]);
}
