import { pendingReviewers, reviewExpiresAt } from '../domain/review.js';
import type { ReviewSnapshot } from '../ports/review-store.js';
import type { MessageRef, ReviewChannel } from '../ports/review.js';
import type { RequestReviewEvent, ReviewPhase } from '../workflow/contract.js';
import { newReviewId, ReviewServiceError, type ReviewDeps } from './review-deps.js';

/** What opening a review phase needs: no task callbacks, which only the vote paths may use. */
export type OpenReviewDeps = Omit<ReviewDeps, 'callbacks'>;
import { ReviewClosedError } from '../workflow/contract.js';
import { reviewStateOf, reviewViewOf } from './review-view.js';

export interface OpenReviewOutcome {
  reviewId: string;
  actionId: string;
  phase: ReviewPhase;
  /**
   * `posted`: this call posted (message or thread note); `already_posted`: a retry found it done;
   * `stale`: a late retry of an earlier phase, ignored; `slack_unavailable`: Slack failed and the phase
   * went on without it (the request waits, pending). (A request decided meanwhile throws ReviewClosedError.)
   */
  status: 'posted' | 'already_posted' | 'stale' | 'slack_unavailable';
  /** The message this phase is about (the review, or for escalation the one in the escalation channel). */
  message?: MessageRef;
  /** A reference to the stored token that may be logged; the token itself never is. */
  taskTokenSha256: string;
}

function viewOf(snapshot: ReviewSnapshot, deps: Pick<OpenReviewDeps, 'directory'>) {
  return reviewViewOf(snapshot.request, snapshot.review, snapshot.votes, deps.directory);
}

function channelName(deps: OpenReviewDeps, group: string): string {
  return `#${deps.directory.channelOf(group).name}`;
}

/**
 * How long the workflow's own retries (with backoff) keep trying to post a new review before the
 * phase goes on without Slack. After that the request simply waits, pending and visible through the
 * decision API, votes by API still count, and the next phase tries Slack again: an outage never
 * turns into a decision.
 */
export const SLACK_RETRY_WINDOW_MS = 2 * 60 * 1000;

/** A Slack call failed; carries which one, so the phase can decide to go on without Slack. */
export class ReviewChannelUnavailableError extends Error {
  constructor(readonly method: string, cause: unknown) {
    super(`Slack ${method} failed: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.name = 'ReviewChannelUnavailableError';
  }
}

function guarded(channel: ReviewChannel): ReviewChannel {
  const call = async <T>(method: string, run: () => Promise<T>): Promise<T> => {
    try {
      return await run();
    } catch (error) {
      throw new ReviewChannelUnavailableError(method, error);
    }
  };
  return {
    postReview: (channelId, view) => call('chat.postMessage', () => channel.postReview(channelId, view)),
    updateReview: (message, view) => call('chat.update', () => channel.updateReview(message, view)),
    postThreadNote: (message, text, mentions, deadline) => call('chat.postMessage', () => channel.postThreadNote(message, text, mentions, deadline)),
    postAlert: (channelId, text) => call('chat.postMessage', () => channel.postAlert(channelId, text)),
    notify: (channelId, user, text) => call('chat.postEphemeral', () => channel.notify(channelId, user, text)),
    openDenyModal: (triggerId, view) => call('views.open', () => channel.openDenyModal(triggerId, view)),
  };
}

/** Posts the review to the approver group's channel, once per request. */
async function ensureInitialMessage(snapshot: ReviewSnapshot, deps: OpenReviewDeps): Promise<{ message: MessageRef; posted: boolean }> {
  const existing = snapshot.review.messages.initial;
  if (existing !== undefined) return { message: existing, posted: false };
  const view = viewOf(snapshot, deps);
  const posted = await deps.channel.postReview(deps.directory.channelOf(view.approval.approvers).id, view);
  return { message: await deps.store.saveMessage(snapshot.review.reviewId, 'initial', posted), posted: true };
}

/**
 * The request-review task, for each workflow phase. Stores the phase's task token (server side),
 * then: `initial` posts the review to the approver group's channel; `reminder` posts a thread note
 * that mentions who can still vote; `escalation` posts the review to the `@escalate` group's channel,
 * notes it in the original thread and extends the deadline. Each phase records its event item.
 * Safe to retry: a message or note already posted for the phase is not posted again. A Slack failure
 * throws for a new review within SLACK_RETRY_WINDOW_MS, so the workflow retries; after that, and for
 * reminders and escalations, the phase goes on without Slack and records why. The request stays
 * pending either way: a Slack outage never decides it.
 */
export async function openReview(event: RequestReviewEvent, deps: OpenReviewDeps): Promise<OpenReviewOutcome> {
  const phaseEvent = { initial: 'review_requested', reminder: 'reminded', escalation: 'escalated' } as const;
  let opened: { snapshot: ReviewSnapshot; base: Omit<OpenReviewOutcome, 'status'> } | undefined;
  try {
    return await openReviewPhase(event, { ...deps, channel: guarded(deps.channel) }, (snapshot, base) => { opened = { snapshot, base }; });
  } catch (error) {
    if (!(error instanceof ReviewChannelUnavailableError) || opened === undefined) throw error;
    const { snapshot, base } = opened;
    // A new review is retried by the workflow for a while (Slack may be back in seconds); a reminder
    // or an escalation note, or a review past that window, goes on without Slack.
    const sinceOpened = deps.now().getTime() - Date.parse(snapshot.review.openedAt);
    if (event.phase === 'initial' && snapshot.review.messages.initial === undefined && sinceOpened < SLACK_RETRY_WINDOW_MS) throw error;
    await deps.store.recordReviewEvent(snapshot, phaseEvent[event.phase], deps.now().toISOString(), {
      channel: null,
      messageTs: null,
      slackUnavailable: error.message,
    });
    return { ...base, status: 'slack_unavailable' };
  }
}

async function openReviewPhase(
  event: RequestReviewEvent,
  deps: OpenReviewDeps,
  onOpened: (snapshot: ReviewSnapshot, base: Omit<OpenReviewOutcome, 'status'>) => void,
): Promise<OpenReviewOutcome> {
  const now = deps.now().toISOString();
  const { request: input, phase } = event;
  let escalation: { group: string; expiresAt: string } | undefined;
  if (phase === 'escalation') {
    if (input.approval.escalate === undefined) {
      throw new ReviewServiceError(`request ${input.actionId} reached the escalation phase, but its policy names no @escalate group; the workflow should not escalate it`);
    }
    escalation = { group: input.approval.escalate, expiresAt: reviewExpiresAt(input.timing, phase, now) };
  }
  const opened = await deps.store.openReview({
    actionId: input.actionId,
    candidateReviewId: (deps.newReviewId ?? newReviewId)(),
    phase,
    taskToken: event.taskToken,
    at: now,
    deadlineAt: reviewExpiresAt(input.timing, phase, now),
    ...(escalation === undefined ? {} : { escalation }),
  });
  const { snapshot } = opened;
  const { review, request } = snapshot;
  const base = { reviewId: review.reviewId, actionId: input.actionId, phase, taskTokenSha256: review.taskTokenSha256 };
  if (opened.status === 'stale') return { ...base, status: 'stale' };
  onOpened(snapshot, base);

  // Decided while the workflow was between phases (the vote's callback found no one waiting). This
  // function may not resume the workflow itself (SendTask* is only for the vote paths): it fails
  // with ReviewClosed, which the workflow routes to recording, where the outcome on record wins.
  const outcome = request.record.outcome;
  if (outcome !== 'pending') throw new ReviewClosedError(input.actionId, outcome);

  const approval = input.approval;
  switch (phase) {
    case 'initial': {
      const { message, posted } = await ensureInitialMessage(snapshot, deps);
      await deps.store.recordReviewEvent(snapshot, 'review_requested', now, {
        channel: message.channel,
        messageTs: message.ts,
        approvers: approval.approvers,
        quorum: approval.quorum,
      });
      return { ...base, status: posted ? 'posted' : 'already_posted', message };
    }
    case 'reminder': {
      const { message, posted: reposted } = await ensureInitialMessage(snapshot, deps);
      const waitingOn = pendingReviewers(reviewStateOf(request, review, snapshot.votes), deps.directory);
      let posted = reposted;
      if (review.notes.reminder === undefined) {
        const approvals = snapshot.votes.filter((v) => v.vote === 'approve').length;
        const missing = Math.max(1, approval.quorum - approvals);
        await deps.channel.postThreadNote(
          message,
          `Reminder: this request still needs ${missing} more approval${missing === 1 ? '' : 's'} from ${channelName(deps, approval.approvers)}.`,
          waitingOn.map((m) => m.slackUserId),
          review.expiresAt,
        );
        await deps.store.markNoted(review.reviewId, 'reminder', now);
        posted = true;
      }
      await deps.store.recordReviewEvent(snapshot, 'reminded', now, {
        channel: message.channel,
        messageTs: message.ts,
        waitingOn: waitingOn.map((m) => m.id),
      });
      return { ...base, status: posted ? 'posted' : 'already_posted', message };
    }
    case 'escalation': {
      const group = review.escalatedTo ?? approval.approvers;
      const view = viewOf(snapshot, deps);
      let posted = false;
      let message = review.messages.escalation;
      if (message === undefined) {
        message = await deps.store.saveMessage(review.reviewId, 'escalation', await deps.channel.postReview(deps.directory.channelOf(group).id, view));
        posted = true;
      }
      const original = review.messages.initial;
      if (original !== undefined && review.notes.escalation === undefined) {
        await deps.channel.postThreadNote(
          original,
          `No decision by the deadline: escalated to ${channelName(deps, group)}. Members of either group can now vote.`,
          [],
          review.expiresAt,
        );
        await deps.store.markNoted(review.reviewId, 'escalation', now);
        // The original message shows the new deadline and who else may vote now.
        await deps.channel.updateReview(original, view);
        posted = true;
      }
      await deps.store.recordReviewEvent(snapshot, 'escalated', now, {
        channel: message.channel,
        messageTs: message.ts,
        escalatedTo: group,
        originalChannel: original?.channel ?? null,
        originalMessageTs: original?.ts ?? null,
      });
      return { ...base, status: posted ? 'posted' : 'already_posted', message };
    }
  }
}
