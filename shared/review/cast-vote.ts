import type { ReviewerVote } from '../domain/decision.js';
import { judgeVote, type Closing, type RefusalRule, type ReviewerRef, type VoteJudgement } from '../domain/review.js';
import type { ReviewSnapshot } from '../ports/review-store.js';
import type { Quarantine } from '../domain/flood-control.js';
import { ReviewServiceError, type ReviewDeps } from './review-deps.js';
import { reviewStateOf, reviewViewOf } from './review-view.js';
import { resumeWorkflow, type CallbackResult } from './resume-workflow.js';
import { updateReviewMessages } from './review-messages.js';
import { countReviewerRejection, type AutoQuarantineStep } from './auto-quarantine.js';

/** Longest comment kept with a vote (Slack's modal input allows 3000). */
export const MAX_COMMENT_CHARS = 3000;

export interface CastVoteInput {
  /** The opaque id the buttons carry; the votes API looks it up from the actionId. */
  reviewId: string;
  reviewer: ReviewerRef;
  vote: 'approve' | 'deny';
  /** Required for a deny (the reason). */
  comment?: string;
  /**
   * Slack's trigger id, given for a Deny button press without a reason yet: the rules are checked
   * first (a reviewer who may not vote is told so at once), then the deny modal is opened, and the
   * deny is recorded when the modal is submitted.
   */
  triggerId?: string;
}

export type CastVoteResult =
  /** No review with this id: nothing recorded (there is no request to record it on). */
  | { status: 'not_found'; reviewId: string; message: string }
  | {
      status: 'refused';
      reviewId: string;
      actionId: string;
      rule: RefusalRule;
      message: string;
      reviewerId: string;
      /** The review message's channel, where an ephemeral notice can reach the reviewer. */
      channelId: string | null;
    }
  | { status: 'modal_opened'; reviewId: string; actionId: string }
  | {
      status: 'recorded';
      reviewId: string;
      actionId: string;
      vote: ReviewerVote;
      /** Distinct approvals after this vote, and the quorum. */
      approvals: number;
      quorum: number;
      /** Set when this vote decided the request. */
      closed: Closing | null;
      /** What the workflow answered to the decision; null when the request is still open. */
      callback: CallbackResult | 'failed' | null;
      /** Things that went wrong after the vote was on record (a Slack update, the callback). */
      warnings: string[];
      /** Set when this vote rejected the request: what automatic quarantine made of it. */
      autoQuarantine?: AutoQuarantineStep | 'failed';
    };

const MAX_ATTEMPTS = 12;

function pause(attempt: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.random() * 10 * 2 ** Math.min(attempt, 6)));
}

function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

async function updateMessages(snapshot: ReviewSnapshot, deps: ReviewDeps, warnings: string[]): Promise<void> {
  const view = reviewViewOf(snapshot.request, snapshot.review, snapshot.votes, deps.directory, deps.now());
  // The vote is on record; a message that fails to update catches up with the next vote or the outcome.
  await updateReviewMessages(snapshot.review, view, deps, (failure) => warnings.push(failure));
}

/**
 * An approval of a quarantined agent's request is refused, whatever the reviewer may otherwise do: a
 * quarantine closes the agent's open reviews, and this covers a review it has not closed yet (a close
 * interrupted, or racing the vote). A deny still counts: it rejects, as the quarantine would.
 */
async function refuseApprovalOfQuarantined(judgement: VoteJudgement, vote: CastVoteInput['vote'], agentId: string | undefined, deps: ReviewDeps, read?: QuarantineRead): Promise<VoteJudgement> {
  if (!judgement.accepted || vote !== 'approve' || deps.guard === undefined || agentId === undefined) return judgement;
  const quarantine = read !== undefined && read.agentId === agentId ? await read.quarantine : await deps.guard.quarantineOf(agentId);
  if (quarantine === null) return judgement;
  return {
    accepted: false,
    rule: 'agent_quarantined',
    reviewerId: judgement.member.id,
    member: judgement.member,
    message: `${agentId} is quarantined (by ${quarantine.by}: ${quarantine.reason}); its requests cannot be approved until the quarantine is lifted`,
  };
}

/** An agent's quarantine, read beside the request an approval is judged on. */
interface QuarantineRead {
  agentId: string;
  quarantine: Promise<Quarantine | null>;
}

/**
 * What a vote is judged on: the review item first (the button names only the review), then at once its
 * request, its votes, the review again, and for an approval the agent's quarantine (the review item names
 * the agent; reviews opened before it did have it read after, by `refuseApprovalOfQuarantined`).
 */
async function readForVote(input: CastVoteInput, deps: ReviewDeps): Promise<{ snapshot: ReviewSnapshot; quarantine?: QuarantineRead } | undefined> {
  const found = await deps.store.findReview(input.reviewId);
  if (found === undefined) return undefined;
  const { agentId } = found;
  const quarantine = input.vote === 'approve' && deps.guard !== undefined && agentId !== undefined ? deps.guard.quarantineOf(agentId) : undefined;
  // Awaited only for an accepted approval: a failed read must not count as unhandled meanwhile.
  quarantine?.catch(() => undefined);
  const snapshot = await deps.store.getReview(input.reviewId, found.actionId);
  if (snapshot === undefined) return undefined;
  return { snapshot, ...(quarantine === undefined || agentId === undefined ? {} : { quarantine: { agentId, quarantine } }) };
}

/**
 * One vote, from Slack or the votes API, under the reviewer rules (`judgeVote`). A refusal is
 * recorded and returned so the caller can tell the reviewer. An accepted vote is a conditional
 * write (one per reviewer, only while pending, only from the tally it was judged on; on a lost race
 * it is judged again). A deciding vote closes the request in the same write, then resumes the
 * workflow: quorum → SendTaskSuccess, a deny → SendTaskFailure `Rejected`. Then the message shows
 * the progress or the outcome.
 */
export async function castVote(input: CastVoteInput, deps: ReviewDeps): Promise<CastVoteResult> {
  const comment = input.comment?.trim().slice(0, MAX_COMMENT_CHARS);
  for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
    const read = await readForVote(input, deps);
    if (read === undefined) {
      return { status: 'not_found', reviewId: input.reviewId, message: `no review with id "${input.reviewId}" exists` };
    }
    const { snapshot } = read;
    const { request, review } = snapshot;
    if (snapshot.votes.length !== request.voteCount) {
      // A torn read: the request and its vote items were read beside each other while another vote's
      // transaction landed (one seen, the other not). Judging on it could miss a quorum: read again.
      await pause(attempt);
      continue;
    }
    const at = deps.now().toISOString();
    const judged = judgeVote(
      reviewStateOf(request, review, snapshot.votes),
      { reviewer: input.reviewer, vote: input.vote, at, ...(comment === undefined || comment === '' ? {} : { comment }) },
      deps.directory,
    );
    const judgement = await refuseApprovalOfQuarantined(judged, input.vote, request.record.request?.agent.id, deps, read.quarantine);
    const base = { reviewId: review.reviewId, actionId: review.actionId };

    if (!judgement.accepted) {
      if (judgement.rule === 'reason_required' && input.triggerId !== undefined) {
        await deps.channel.openDenyModal(input.triggerId, reviewViewOf(request, review, snapshot.votes, deps.directory, deps.now()));
        return { ...base, status: 'modal_opened' };
      }
      await deps.store.recordRefusal({
        request: request.record,
        reviewId: review.reviewId,
        reviewerId: judgement.reviewerId,
        slackUserId: judgement.member?.slackUserId ?? (input.reviewer.kind === 'slack' ? input.reviewer.slackUserId : null),
        ...(input.reviewer.kind === 'teams' ? { teamsAadObjectId: input.reviewer.aadObjectId } : {}),
        vote: input.vote,
        ...(comment === undefined || comment === '' ? {} : { comment }),
        rule: judgement.rule,
        message: judgement.message,
        at,
      });
      if (judgement.rule === 'request_closed') {
        // A click on a message that still shows buttons: the outcome update may have failed. Show it now.
        await updateMessages(snapshot, deps, []);
      }
      return {
        ...base,
        status: 'refused',
        rule: judgement.rule,
        message: judgement.message,
        reviewerId: judgement.reviewerId,
        channelId: review.messages.initial?.channel ?? review.messages.escalation?.channel ?? null,
      };
    }

    const written = await deps.store.recordVote({
      snapshot,
      vote: judgement.vote,
      slackUserId: judgement.member.slackUserId,
      ...(input.reviewer.kind === 'teams' ? { teamsAadObjectId: input.reviewer.aadObjectId } : {}),
      closing: judgement.closes,
    });
    if (written.status !== 'recorded') {
      // Another vote, a close or this reviewer's other click landed first: read again, and the
      // rules answer from the new state (already voted, closed, or a tally to build on).
      if (written.status === 'retry' && written.staleSequence !== true) await pause(attempt);
      continue;
    }

    const warnings: string[] = [];
    let callback: CallbackResult | 'failed' | null = null;
    // Read after the write: if the workflow moved to a new phase meanwhile, this holds its token,
    // and if the phase stored its token after this read, it sees the closed request itself.
    const reading = deps.store.getReview(input.reviewId, review.actionId);
    // Awaited below, after the callback: a failed read must not count as unhandled meanwhile.
    reading.catch(() => undefined);
    if (judgement.closes !== null) {
      const closes = judgement.closes;
      const resume = async (taskToken: string): Promise<CallbackResult | 'failed'> => {
        try {
          return await resumeWorkflow(deps.callbacks, taskToken, closes, review.reviewId);
        } catch (error) {
          // The decision is on record; record-outcome publishes it when the workflow's wait ends.
          warnings.push(`resuming the workflow failed: ${describe(error)}`);
          return 'failed';
        }
      };
      // The token the vote was judged with, at once, beside the read: almost always the one the workflow
      // waits on. Only when the read shows that a new phase stored another (the first then answered not
      // waiting) does the new one get the outcome too; a token is delivered to only while its phase waits.
      callback = await resume(review.taskToken);
      const current = ((await reading) ?? snapshot).review.taskToken;
      if (callback !== 'delivered' && current !== review.taskToken) callback = await resume(current);
    }
    const after = (await reading) ?? snapshot;
    await updateMessages(after, deps, warnings);
    let autoQuarantine: AutoQuarantineStep | 'failed' | undefined;
    if (judgement.closes?.outcome === 'rejected') {
      try {
        autoQuarantine = await countReviewerRejection(request.record, judgement.closes.decidedAt, deps);
      } catch (error) {
        // The rejection is on record and the workflow resumed; a count that failed is logged, not the vote undone.
        autoQuarantine = 'failed';
        warnings.push(`counting the rejection toward automatic quarantine failed: ${describe(error)}`);
      }
    }
    return {
      ...base,
      ...(autoQuarantine === undefined ? {} : { autoQuarantine }),
      status: 'recorded',
      vote: judgement.vote,
      approvals: judgement.approvals.length,
      quorum: request.record.approval?.quorum ?? judgement.approvals.length,
      closed: judgement.closes,
      callback,
      warnings,
    };
  }
  throw new ReviewServiceError(`the vote on review ${input.reviewId} lost the race ${MAX_ATTEMPTS} times in a row; try again`);
}
