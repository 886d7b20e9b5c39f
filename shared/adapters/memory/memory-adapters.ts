import type { AgentLimitedDetail } from '../../domain/agent-limited.js';
import type { ActionDecidedDetail, DecisionView } from '../../domain/decision.js';
import type { ApprovalWorkflowInput, DecisionStore, EventPublisher, RecordResult, RequestRecord, WorkflowStarter } from '../../ports/index.js';
import { agentIdOfSource } from '../../domain/decision.js';
import { decidedDetailOf } from '../../domain/intake.js';

/**
 * In-process adapters with the same semantics as the AWS ones (new-only writes, duplicate and
 * conflict answers). For unit tests and the CPU benchmark, where I/O would hide what is measured.
 */
export class MemoryDecisionStore implements DecisionStore {
  readonly records = new Map<string, RequestRecord>();
  readonly conflicts: Array<{ key: string; fingerprint: string }> = [];

  async recordRequest(record: RequestRecord): Promise<RecordResult> {
    const existing = this.records.get(record.key);
    if (existing === undefined) {
      this.records.set(record.key, { ...record });
      return { status: 'created', record };
    }
    if (existing.fingerprint === record.fingerprint) return { status: 'duplicate', record: { ...existing } };
    if (!this.conflicts.some((c) => c.key === record.key && c.fingerprint === record.fingerprint)) {
      this.conflicts.push({ key: record.key, fingerprint: record.fingerprint });
    }
    return { status: 'conflict', record: { ...existing }, conflictFingerprint: record.fingerprint };
  }

  async getDecision(actionId: string): Promise<DecisionView | undefined> {
    return (await this.getDecisionWithAgent(actionId))?.decision;
  }

  async getDecisionWithAgent(actionId: string, readableBy?: (agentId: string) => boolean): Promise<{ decision: DecisionView; agentId: string } | undefined> {
    const record = this.records.get(actionId);
    if (record === undefined) return undefined;
    const agentId = agentIdOfSource(record.source);
    return readableBy !== undefined && !readableBy(agentId) ? undefined : { decision: { ...decidedDetailOf(record), execution: null }, agentId };
  }
}

export class MemoryEventPublisher implements EventPublisher {
  readonly published: ActionDecidedDetail[] = [];

  /** `Agent Requests Limited` announcements, in order. */
  readonly limited: AgentLimitedDetail[] = [];

  async publishDecided(detail: ActionDecidedDetail): Promise<void> {
    this.published.push(detail);
  }

  async publishLimited(detail: AgentLimitedDetail): Promise<void> {
    this.limited.push(detail);
  }
}

export class MemoryWorkflowStarter implements WorkflowStarter {
  readonly started = new Map<string, ApprovalWorkflowInput>();

  async startApproval(input: ApprovalWorkflowInput): Promise<{ executionId: string; alreadyStarted: boolean }> {
    const alreadyStarted = this.started.has(input.actionId);
    if (!alreadyStarted) this.started.set(input.actionId, input);
    return { executionId: input.actionId, alreadyStarted };
  }
}
