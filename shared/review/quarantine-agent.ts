import type { Member } from '../domain/directory.js';
import { MAX_QUARANTINE_REASON_CHARS, quarantineReason, type Quarantine } from '../domain/flood-control.js';
import type { AgentGuard, AgentStatus, AutoQuarantine } from '../ports/agent-guard.js';
import { QUARANTINE_CLOSING_BUDGET_MS, type ReviewDeps } from './review-deps.js';
import { resumeWorkflow } from './resume-workflow.js';
import { refreshReviewMessages } from './refresh-messages.js';

/** What quarantine and lift need: the review service's parts and the agent guard. */
export type QuarantineDeps = ReviewDeps & { guard: AgentGuard };

export { MAX_QUARANTINE_REASON_CHARS };

/**
 * A reviewer (Slack, Teams or the review API), by directory member id. Countersign's own quarantine (the
 * automatic one) is written by the agent guard with the count that trips it (auto-quarantine.ts).
 */
export type QuarantineActor = { kind: 'member'; member: Member; via: 'slack' | 'teams' | 'api'; fromActionId?: string };

export type QuarantineOutcome =
  | { status: 'quarantined'; quarantine: Quarantine; closedActionIds: string[]; leftOpenActionIds: string[]; warnings: string[] }
  | { status: 'already_quarantined'; quarantine: Quarantine; closedActionIds: string[]; leftOpenActionIds: string[]; warnings: string[] }
  | { status: 'refused'; message: string };

export type LiftOutcome =
  | { status: 'lifted'; previous: Quarantine; warnings: string[] }
  | { status: 'not_quarantined' }
  | { status: 'refused'; message: string };

function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

/**
 * Who may quarantine an agent and lift it: members of the configured quarantine group (the directory's
 * `floodControl.quarantineGroup`, else its `securityGroup`), and, from the review of one of the agent's
 * requests, members of that request's escalation group. Anyone else is told which group it takes.
 */
export async function authority(actor: QuarantineActor, deps: QuarantineDeps): Promise<string | { refused: string }> {
  const group = deps.directory.quarantineGroup();
  if (group !== undefined && deps.directory.isInGroup(actor.member, group)) return group;
  if (actor.fromActionId !== undefined) {
    const found = await deps.store.getByAction(actor.fromActionId);
    const escalate = found?.request.record.approval?.escalate;
    if (escalate !== undefined && deps.directory.isInGroup(actor.member, escalate)) return escalate;
  }
  const groups = group === undefined ? 'no quarantine group is configured (set floodControl.quarantineGroup or securityGroup in the directory)' : `only members of "${group}"${actor.fromActionId === undefined ? '' : ' or of the policy\'s escalation group'} may`;
  return { refused: `${actor.member.id} may not quarantine agents or lift a quarantine: ${groups}` };
}

/**
 * Quarantines an agent: from now on intake denies every request of it ("agent quarantined by frank: …"),
 * its open reviews are closed as rejected (their workflows resumed with the rejection, which records the
 * outcome and updates the messages), and its owners are told. The quarantine is an audited event.
 */
export async function quarantineAgent(agentId: string, actor: QuarantineActor, reason: string, deps: QuarantineDeps): Promise<QuarantineOutcome> {
  const text = reason.trim().slice(0, MAX_QUARANTINE_REASON_CHARS);
  if (text === '') return { status: 'refused', message: 'a quarantine needs a reason that says why' };
  const group = await authority(actor, deps);
  if (typeof group !== 'string') return { status: 'refused', message: group.refused };
  const quarantine: Quarantine = { agentId, by: actor.member.id, reason: text, at: deps.now().toISOString(), origin: 'manual' };
  const written = await deps.guard.quarantine(quarantine, { group, via: actor.via, fromActionId: actor.fromActionId ?? null });
  if (written.status === 'already_quarantined') {
    // Quarantining again finishes what an earlier quarantine left open (its closing interrupted or out of
    // time, a review opened meanwhile): closing is idempotent, a closed review stays as it is.
    const warnings: string[] = [];
    const { closed, leftOpen } = await closeOpenReviews(agentId, written.quarantine, deps, warnings);
    return { ...written, closedActionIds: closed, leftOpenActionIds: leftOpen, warnings };
  }
  return finishQuarantine(quarantine, deps);
}

/**
 * Countersign's own quarantine of an agent (the automatic one), as the agent guard writes it with the
 * count that tripped the rule, and the detail of its audit event.
 */
export function systemQuarantine(agentId: string, by: string, reason: string, deps: Pick<QuarantineDeps, 'now'>): AutoQuarantine {
  return {
    quarantine: { agentId, by, reason: reason.trim().slice(0, MAX_QUARANTINE_REASON_CHARS), at: deps.now().toISOString(), origin: 'auto' },
    detail: { group: null, via: 'auto', fromActionId: null },
  };
}

/**
 * What follows a quarantine on record: its agent's open reviews are closed as rejected, and its owners
 * are told. Run once the quarantine is written. Every step is idempotent: a failure of a workflow, a
 * message or the owners' line is a warning; one that throws (the table unreachable) leaves the agent
 * quarantined, and the next quarantine of it (already_quarantined) closes what was left open.
 */
export async function finishQuarantine(quarantine: Quarantine, deps: QuarantineDeps): Promise<Extract<QuarantineOutcome, { status: 'quarantined' }>> {
  const { agentId, by, reason } = quarantine;
  const warnings: string[] = [];
  const { closed, leftOpen } = await closeOpenReviews(agentId, quarantine, deps, warnings);
  const left = leftOpen.length === 0 ? '' : ` ${leftOpen.length} more stay${leftOpen.length === 1 ? 's' : ''} open for now (approvals of ${leftOpen.length === 1 ? 'it are' : 'them are'} refused; quarantining again closes ${leftOpen.length === 1 ? 'it' : 'them'}).`;
  await tellOwners(agentId, `Countersign: agent ${agentId} was quarantined by ${by}: ${reason}. Its requests are denied until the quarantine is lifted; ${closed.length} open review${closed.length === 1 ? ' was' : 's were'} closed as rejected.${left}`, deps, warnings);
  return { status: 'quarantined', quarantine, closedActionIds: closed, leftOpenActionIds: leftOpen, warnings };
}

/** Reviews of one agent closed side by side: each is its own requests to DynamoDB, Step Functions and Slack. */
const CLOSING_CONCURRENCY = 4;

/**
 * Closes the agent's open reviews as rejected, a few at a time, and gives back their slots. It starts no
 * new one once `quarantineClosingBudgetMs` has passed (someone is waiting for the answer): those are
 * `leftOpen`, in the order the agent's state lists them.
 */
async function closeOpenReviews(agentId: string, quarantine: Quarantine, deps: QuarantineDeps, warnings: string[]): Promise<{ closed: string[]; leftOpen: string[] }> {
  const clock = deps.monotonicMs ?? (() => performance.now());
  const startedAt = clock();
  const budgetMs = deps.quarantineClosingBudgetMs ?? QUARANTINE_CLOSING_BUDGET_MS;
  const status: AgentStatus = await deps.guard.status(agentId);
  const pending = [...status.pendingActionIds];
  const closedNow: boolean[] = [];
  let next = 0;
  let failing = false;
  const worker = async () => {
    while (!failing && next < pending.length && clock() - startedAt < budgetMs) {
      const index = next++;
      try {
        closedNow[index] = await closeOneReview(agentId, pending[index]!, quarantine, deps, warnings);
      } catch (error) {
        failing = true;
        throw error;
      }
    }
  };
  // Settled, not raced: a failure (the table unreachable) is thrown once the closes under way have ended.
  const settled = await Promise.allSettled(Array.from({ length: Math.min(CLOSING_CONCURRENCY, pending.length) }, worker));
  const failed = settled.find((result) => result.status === 'rejected');
  if (failed !== undefined) throw failed.reason;
  const closed = pending.filter((_, index) => closedNow[index] === true);
  const leftOpen = pending.slice(next);
  if (leftOpen.length > 0) warnings.push(`${leftOpen.length} open review(s) of ${agentId} were left open after ${budgetMs} ms (approvals of them are refused; quarantining again closes them): ${leftOpen.join(', ')}`);
  return { closed, leftOpen };
}

/** Closes one open review as rejected (true when it was closed now), and gives back its slot. */
async function closeOneReview(agentId: string, actionId: string, quarantine: Quarantine, deps: QuarantineDeps, warnings: string[]): Promise<boolean> {
  const found = await deps.store.getByAction(actionId);
  if (found === undefined || found.request.record.payloadSha256 === null) return false;
  let closedNow = false;
  const closing = { outcome: 'rejected' as const, reason: `closed: ${quarantineReason(quarantine)}`, reviewers: found.votes, decidedAt: quarantine.at };
  if (found.request.record.outcome === 'pending' && await deps.store.closeRequest(actionId, closing)) {
    closedNow = true;
    if (found.review !== undefined) {
      try {
        // The workflow ends in record-outcome, which publishes the decision and updates the messages.
        await resumeWorkflow(deps.callbacks, found.review.taskToken, closing);
      } catch (error) {
        warnings.push(`resuming the workflow of ${actionId} failed (record-outcome closes it at its deadline): ${describe(error)}`);
      }
    }
    const after = await deps.store.getByAction(actionId);
    if (after?.review !== undefined) {
      const { warnings: failures } = await refreshReviewMessages({ request: after.request, review: after.review, votes: after.votes }, deps);
      warnings.push(...failures);
    }
  }
  await deps.guard.release(agentId, actionId, found.request.record.payloadSha256);
  return closedNow;
}

/**
 * Tells the agent's owners, by name, in the quarantine group's Slack channel (plain text: never a mention
 * or a link). Slack direct messages to each owner would need the emulator to grow DMs; not done yet.
 */
async function tellOwners(agentId: string, text: string, deps: QuarantineDeps, warnings: string[]): Promise<void> {
  const group = deps.directory.quarantineGroup();
  const channel = group === undefined ? undefined : deps.directory.channelsOf(group).slack;
  if (channel === undefined) {
    warnings.push(`no Slack channel to tell the owners of ${agentId} in (the quarantine group has none)`);
    return;
  }
  const owners = deps.directory.ownersOf(agentId).map((owner) => owner.id);
  try {
    await deps.channel.postAlert(channel.id, `${text} Owners: ${owners.length === 0 ? 'none in the directory' : owners.join(', ')}.`);
  } catch (error) {
    warnings.push(`telling the owners of ${agentId} failed: ${describe(error)}`);
  }
}

/** Lifts an agent's quarantine: the quarantine group's act (or the group that quarantined it); audited. */
export async function liftQuarantine(agentId: string, member: Member, reason: string, deps: QuarantineDeps): Promise<LiftOutcome> {
  const text = reason.trim().slice(0, MAX_QUARANTINE_REASON_CHARS);
  if (text === '') return { status: 'refused', message: 'lifting a quarantine needs a reason that says why' };
  // The agent's own people may stop it, not restart it: like a requester who may not approve their own request.
  if (deps.directory.ownersOf(agentId).some((owner) => owner.id === member.id)) {
    return { status: 'refused', message: `${member.id} owns ${agentId} and may not lift its quarantine: another member of the quarantine group has to` };
  }
  const allowed = await authority({ kind: 'member', member, via: 'api' }, deps);
  if (typeof allowed !== 'string') return { status: 'refused', message: allowed.refused.replace('may not quarantine agents or lift a quarantine', 'may not lift a quarantine') };
  const lifted = await deps.guard.lift(agentId, member.id, text, deps.now().toISOString());
  if (lifted.status !== 'lifted') return lifted;
  const warnings: string[] = [];
  await tellOwners(agentId, `Countersign: the quarantine of agent ${agentId} was lifted by ${member.id}: ${text}.`, deps, warnings);
  return { ...lifted, warnings };
}
