import type { ActionDecidedDetail, ReviewerVote } from '../domain/decision.js';
import { decidedDetailOf } from '../domain/intake.js';
import { votingGroups } from '../domain/review.js';
import type { AgentGuard, EventPublisher } from '../ports/index.js';
import type { RequestState, ReviewRecord } from '../ports/review-store.js';
import type { RecordOutcomeEvent } from '../workflow/contract.js';
import { ReviewServiceError, type ReviewDeps } from './review-deps.js';
import { refreshReviewMessages } from './refresh-messages.js';
import type { RejectedCause } from './resume-workflow.js';

/** record-outcome publishes `Action Decided` and resumes no workflow. */
export type RecordOutcomeDeps = Pick<ReviewDeps, 'store' | 'channel' | 'teams' | 'directory' | 'now'> & {
  // Publishes the outcome only; bursts are evaluate-action's.
  publisher: Pick<EventPublisher, 'publishDecided'>;
  /** Gives the request's open-review slot back to its agent (flood control). @default - none */
  guard?: Pick<AgentGuard, 'release'>;
};

export interface RecordOutcomeResult {
  /** The decision on record, as `Action Decided` carries it. */
  decision: ActionDecidedDetail;
  /** Whether this call closed the request (false when a vote had closed it already). */
  closedNow: boolean;
  /** Whether this call published `Action Decided` (false on a retry after it went out). */
  published: boolean;
  messagesUpdated: number;
  warnings: string[];
}

type Closing = { outcome: 'approved' | 'rejected' | 'expired'; reason: string; reviewers: ReviewerVote[]; decidedAt: string };

const MAX_CAUSE_IN_REASON = 300;

function parseRejectedCause(cause: string | undefined): Partial<RejectedCause> {
  if (cause === undefined) return {};
  try {
    const parsed = JSON.parse(cause) as Partial<RejectedCause>;
    return typeof parsed === 'object' && parsed !== null ? parsed : {};
  } catch (error) {
    if (error instanceof SyntaxError) return {};
    throw error;
  }
}

/** A Lambda error's Cause is JSON with `errorMessage`; other causes are text. Shortened for the record. */
function describeFailure(error: RecordOutcomeEvent['error']): string {
  const name = error?.Error ?? 'an unknown error';
  let detail = error?.Cause ?? '';
  try {
    const parsed = JSON.parse(detail) as { errorMessage?: unknown };
    if (typeof parsed.errorMessage === 'string') detail = parsed.errorMessage;
  } catch (failure) {
    if (!(failure instanceof SyntaxError)) throw failure;
  }
  detail = detail.length > MAX_CAUSE_IN_REASON ? `${detail.slice(0, MAX_CAUSE_IN_REASON)}…` : detail;
  return detail === '' ? name : `${name}: ${detail}`;
}

/** How the workflow's end closes a request that is still pending. Never leaves it pending. */
function closingFor(event: RecordOutcomeEvent, request: RequestState, review: ReviewRecord | undefined, votes: ReviewerVote[], now: string): Closing {
  const approvals = votes.filter((v) => v.vote === 'approve');
  const approval = event.request.approval;
  switch (event.outcome) {
    case 'approved': {
      if (event.result === undefined) throw new ReviewServiceError(`record-outcome for ${event.request.actionId}: outcome approved without the ApprovedResult`);
      return { outcome: 'approved', reason: event.result.reason, reviewers: event.result.reviewers, decidedAt: event.result.decidedAt };
    }
    case 'rejected': {
      const cause = parseRejectedCause(event.error?.Cause);
      return {
        outcome: 'rejected',
        reason: cause.reason ?? `rejected (${describeFailure(event.error)})`,
        reviewers: cause.reviewers ?? votes,
        decidedAt: cause.decidedAt ?? now,
      };
    }
    case 'expired': {
      const groups = votingGroups({ approval, escalatedTo: review?.escalatedTo ?? null }).map((g) => `"${g}"`).join(' and ');
      return {
        outcome: 'expired',
        reason: `no decision before the deadline (${review?.expiresAt ?? now}): ${approvals.length} of ${approval.quorum} approval${approval.quorum === 1 ? '' : 's'} from ${groups}; the request fails closed`,
        reviewers: votes,
        decidedAt: now,
      };
    }
    case 'failed':
      return {
        outcome: 'rejected',
        reason: `the approval workflow failed (${describeFailure(event.error)}), so the request fails closed; the agent may send a new request`,
        reviewers: votes,
        decidedAt: now,
      };
  }
  throw new ReviewServiceError(`record-outcome for ${request.record.key}: "${event.outcome}" closes no request`);
}

/**
 * The workflow's last step, on every path: closes the request if it is still pending (expired, or
 * rejected when the workflow failed), records the `outcome` event item, publishes `Action Decided`
 * with the reviewers, and shows the outcome on the Slack message(s). Safe to retry: the close is
 * conditional, the event item is written once, the publication is marked. A vote that closed the
 * request first stays the outcome on record. A Slack failure throws so the workflow retries, except
 * on the `failed` path, the last resort, which must end.
 */
export async function recordOutcome(event: RecordOutcomeEvent, deps: RecordOutcomeDeps): Promise<RecordOutcomeResult> {
  const now = deps.now().toISOString();
  const actionId = event.request.actionId;
  // The vote that closed the request names its review (a hint the store checks against the request).
  const reviewHint = event.outcome === 'approved' ? event.result?.reviewId : event.outcome === 'rejected' ? parseRejectedCause(event.error?.Cause).reviewId : undefined;
  let current = await deps.store.getByAction(actionId, typeof reviewHint === 'string' ? reviewHint : undefined);
  if (current === undefined) throw new ReviewServiceError(`record-outcome: no request with actionId "${actionId}" is recorded`);
  if (event.outcome === 'window_closed') return closeApprovalWindow(current, deps);

  let closedNow = false;
  if (current.request.record.outcome === 'pending') {
    closedNow = await deps.store.closeRequest(actionId, closingFor(event, current.request, current.review, current.votes, now));
    current = await deps.store.getByAction(actionId);
    if (current === undefined) throw new ReviewServiceError(`record-outcome: request "${actionId}" disappeared`);
  }
  const { request, review, votes } = current;
  const { record } = request;
  const guard = deps.guard;
  // Two independent writes (the agent's items, the request's outcome event), side by side; a retried step
  // repeats both safely: the release is idempotent and the event item is written once.
  await Promise.all([
    // The review is over: the agent may open another one.
    guard !== undefined && record.outcome !== 'pending' && record.request !== null && record.payloadSha256 !== null
      ? guard.release(record.request.agent.id, actionId, record.payloadSha256)
      : undefined,
    deps.store.recordOutcome({
      request: record,
      reviewId: review?.reviewId ?? null,
      workflowOutcome: event.outcome,
      outcome: record.outcome,
      reason: record.reason,
      reviewers: request.reviewers,
      decidedAt: record.decidedAt ?? now,
      at: now,
      ...(request.eventSeq === undefined ? {} : { eventSeq: request.eventSeq }),
    }),
  ]);

  const decision: ActionDecidedDetail = { ...decidedDetailOf(record), reviewers: request.reviewers };
  let published = false;
  if (request.outcomePublishedAt === null) {
    await deps.publisher.publishDecided(decision);
    await deps.store.markOutcomePublished(actionId, now);
    published = true;
  }

  // The outcome is recorded and published: a stale Slack or Teams message must not fail the workflow (its
  // retries would end in a failed execution for a request that was decided). A later tap on the stale
  // buttons is refused as closed and updates the message then.
  const { updated: messagesUpdated, warnings } = review === undefined ? { updated: 0, warnings: [] } : await refreshReviewMessages({ request, review, votes }, deps);
  return { decision, closedNow, published, messagesUpdated, warnings };
}

/**
 * The approval's validity window has passed: writes nothing (the log shows an approval without an
 * `executed` record, which the `approved-not-executed` query lists) and refreshes the review message(s),
 * which then say "approved, not executed (expired unused)" unless an execution was reported.
 */
async function closeApprovalWindow(
  current: NonNullable<Awaited<ReturnType<RecordOutcomeDeps['store']['getByAction']>>>,
  deps: RecordOutcomeDeps,
): Promise<RecordOutcomeResult> {
  const { request, review, votes } = current;
  const decision: ActionDecidedDetail = { ...decidedDetailOf(request.record), reviewers: request.reviewers };
  const { updated, warnings } = review === undefined ? { updated: 0, warnings: [] } : await refreshReviewMessages({ request, review, votes }, deps);
  return { decision, closedNow: false, published: false, messagesUpdated: updated, warnings };
}
