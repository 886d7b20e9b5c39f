import { autoQuarantineBy, autoQuarantineReason } from '../domain/flood-control.js';
import type { RequestRecord } from '../ports/index.js';
import type { ReviewDeps } from './review-deps.js';
import { finishQuarantine, systemQuarantine, type QuarantineOutcome } from './quarantine-agent.js';

/** What counting one rejection did: nothing (rule off, counted before), counted, or quarantined the agent. */
export type AutoQuarantineStep =
  | { status: 'off' }
  | { status: 'counted' }
  | { status: 'quarantined'; outcome: QuarantineOutcome };

/**
 * A reviewer rejected a request (a deny vote closed it): counts it toward the directory's
 * `floodControl.autoQuarantine` rule, and when the agent has K such rejections within the window,
 * quarantines it as Countersign, exactly as a manual quarantine does (recorded and audited, its open
 * reviews closed as rejected, its owners told). Only reviewers' rejections count: policy and
 * flood-control denials are the rules working, not reviewers saying the agent asks for wrong things.
 */
export async function countReviewerRejection(record: RequestRecord, rejectedAt: string, deps: ReviewDeps): Promise<AutoQuarantineStep> {
  const rule = deps.directory.autoQuarantine();
  if (rule === undefined || deps.guard === undefined || record.request === null) return { status: 'off' };
  const agentId = record.request.agent.id;
  // The count that trips the rule writes the quarantine with it (one transaction); what follows (closing
  // the agent's open reviews, telling its owners) comes after, and a failure there leaves it quarantined.
  const tripped = await deps.guard.countRejection(agentId, { actionId: record.request.actionId, atMs: Date.parse(rejectedAt) }, rule, (rejections) => systemQuarantine(agentId, autoQuarantineBy(rule), autoQuarantineReason(rule, rejections), deps));
  if (tripped === null) return { status: 'counted' };
  const outcome = await finishQuarantine(tripped.quarantine, { ...deps, guard: deps.guard });
  return { status: 'quarantined', outcome };
}
