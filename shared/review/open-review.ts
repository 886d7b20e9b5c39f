import { pendingReviewers, reviewExpiresAt } from '../domain/review.js';
import type { ReviewSnapshot } from '../ports/review-store.js';
import type { Member } from '../domain/directory.js';
import type { MessageSlot } from '../ports/review-store.js';
import type { MessageRef, ReviewBoard, ReviewChannel } from '../ports/review.js';
import { isTeamsSlot } from './review-messages.js';
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
  return deps.directory.channelLabel(group);
}

/**
 * How long the workflow's own retries (with backoff) keep trying to post a new review before the
 * phase goes on without Slack. After that the request simply waits, pending and visible through the
 * decision API, votes by API still count, and the next phase tries Slack again: an outage never
 * turns into a decision.
 */
export const SLACK_RETRY_WINDOW_MS = 2 * 60 * 1000;

/** A Slack (or Teams) call failed; carries which one, so the phase can decide to go on without it. */
export class ReviewChannelUnavailableError extends Error {
  constructor(readonly method: string, cause: unknown, service = 'Slack') {
    super(`${service} ${method} failed: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.name = 'ReviewChannelUnavailableError';
  }
}

async function unavailableOnFailure<T>(service: string, method: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    throw new ReviewChannelUnavailableError(method, error, service);
  }
}

/** Teams fails the way Slack does: the phase goes on without it, or the workflow retries a new review. */
function guardedTeams(teams: ReviewBoard): ReviewBoard {
  const call = <T>(method: string, run: () => Promise<T>) => unavailableOnFailure('Teams', method, run);
  return {
    postReview: (channelId, view) => call('POST /v3/conversations', () => teams.postReview(channelId, view)),
    updateReview: (message, view) => call('PUT activity', () => teams.updateReview(message, view)),
    postThreadNote: (message, text, mentions, deadline) => call('POST activity (reply)', () => teams.postThreadNote(message, text, mentions, deadline)),
    postAlert: (channelId, text) => call('POST /v3/conversations', () => teams.postAlert(channelId, text)),
  };
}

function guarded(channel: ReviewChannel): ReviewChannel {
  const call = <T>(method: string, run: () => Promise<T>) => unavailableOnFailure('Slack', method, run);
  return {
    postReview: (channelId, view) => call('chat.postMessage', () => channel.postReview(channelId, view)),
    updateReview: (message, view) => call('chat.update', () => channel.updateReview(message, view)),
    postThreadNote: (message, text, mentions, deadline) => call('chat.postMessage', () => channel.postThreadNote(message, text, mentions, deadline)),
    postAlert: (channelId, text) => call('chat.postMessage', () => channel.postAlert(channelId, text)),
    notify: (channelId, user, text) => call('chat.postEphemeral', () => channel.notify(channelId, user, text)),
    openDenyModal: (triggerId, view) => call('views.open', () => channel.openDenyModal(triggerId, view)),
    openQuarantineModal: (triggerId, view) => call('views.open', () => channel.openQuarantineModal(triggerId, view)),
  };
}

/** The messages a review phase keeps in each channel: Slack's slot and Teams' slot. */
const SLOTS = { initial: { slack: 'initial', teams: 'teamsInitial' }, escalation: { slack: 'escalation', teams: 'teamsEscalation' } } as const;

interface PostedMessages {
  /** The phase's messages, Slack's first. */
  messages: Array<{ slot: MessageSlot; message: MessageRef; board: ReviewBoard }>;
  /** Whether this call posted one of them. */
  posted: boolean;
}

/**
 * Posts the review to each channel of `group` (Slack, Teams when wired), once per request and slot:
 * a slot already holding a message is kept, so a retry after one channel failed posts only the other.
 */
async function ensureMessages(snapshot: ReviewSnapshot, deps: OpenReviewDeps, group: string, phase: keyof typeof SLOTS): Promise<PostedMessages> {
  const channels = deps.directory.channelsOf(group);
  const result: PostedMessages = { messages: [], posted: false };
  const targets = [
    { slot: SLOTS[phase].slack, channel: channels.slack, board: deps.channel as ReviewBoard },
    { slot: SLOTS[phase].teams, channel: channels.teams, board: deps.teams },
  ];
  // Each channel is tried even when another fails (a Slack outage does not keep the Teams card from
  // being posted); the first failure is thrown after, so the workflow retries the missing one.
  let failure: unknown;
  for (const { slot, channel, board } of targets) {
    if (channel === undefined || board === undefined) continue;
    let message = snapshot.review.messages[slot];
    if (message === undefined) {
      try {
        message = await deps.store.saveMessage(snapshot.review.reviewId, slot, await board.postReview(channel.id, viewOf(snapshot, deps)));
      } catch (error) {
        if (!(error instanceof ReviewChannelUnavailableError)) throw error;
        failure ??= error;
        continue;
      }
      snapshot.review.messages[slot] = message;
      result.posted = true;
    }
    result.messages.push({ slot, message, board });
  }
  if (failure !== undefined) throw failure;
  if (result.messages.length === 0) {
    throw new ReviewServiceError(`approver group "${group}" has no channel this function can post to (its Teams channel needs Teams configured); add a Slack channel or configure Teams`);
  }
  return result;
}

/** Where a phase's event item says its messages are: Slack's as before, Teams' beside it. */
function messageDetails(messages: PostedMessages['messages']): Record<string, unknown> {
  const slack = messages.find((m) => !isTeamsSlot(m.slot))?.message;
  const teams = messages.find((m) => isTeamsSlot(m.slot))?.message;
  return {
    channel: slack?.channel ?? null,
    messageTs: slack?.ts ?? null,
    ...(teams === undefined ? {} : { teamsConversationId: teams.channel, teamsActivityId: teams.ts }),
  };
}

/** The user ids a note mentions on a board: Slack user ids in Slack, Entra ID object ids in Teams. */
function mentionsFor(slot: MessageSlot, members: Member[]): string[] {
  return isTeamsSlot(slot) ? members.flatMap((m) => m.teamsAadObjectId ?? []) : members.map((m) => m.slackUserId);
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
    const guardedDeps = { ...deps, channel: guarded(deps.channel), ...(deps.teams === undefined ? {} : { teams: guardedTeams(deps.teams) }) };
    return await openReviewPhase(event, guardedDeps, (snapshot, base) => { opened = { snapshot, base }; });
  } catch (error) {
    if (!(error instanceof ReviewChannelUnavailableError) || opened === undefined) throw error;
    const { snapshot, base } = opened;
    // A new review is retried by the workflow for a while (Slack may be back in seconds); a reminder
    // or an escalation note, or a review past that window, goes on without Slack.
    const sinceOpened = deps.now().getTime() - Date.parse(snapshot.review.openedAt);
    const unposted = (['initial', 'teamsInitial'] as const).some((slot) => snapshot.review.messages[slot] === undefined);
    if (event.phase === 'initial' && unposted && sinceOpened < SLACK_RETRY_WINDOW_MS) throw error;
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
    agentId: input.agentId,
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
      const { messages, posted } = await ensureMessages(snapshot, deps, approval.approvers, 'initial');
      await deps.store.recordReviewEvent(snapshot, 'review_requested', now, {
        ...messageDetails(messages),
        approvers: approval.approvers,
        quorum: approval.quorum,
      });
      return { ...base, status: posted ? 'posted' : 'already_posted', message: messages[0]!.message };
    }
    case 'reminder': {
      const { messages, posted: reposted } = await ensureMessages(snapshot, deps, approval.approvers, 'initial');
      const waitingOn = pendingReviewers(reviewStateOf(request, review, snapshot.votes), deps.directory);
      let posted = reposted;
      if (review.notes.reminder === undefined) {
        const approvals = snapshot.votes.filter((v) => v.vote === 'approve').length;
        const missing = Math.max(1, approval.quorum - approvals);
        const text = `Reminder: this request still needs ${missing} more approval${missing === 1 ? '' : 's'} from ${channelName(deps, approval.approvers)}.`;
        for (const { slot, message, board } of messages) await board.postThreadNote(message, text, mentionsFor(slot, waitingOn), review.expiresAt);
        await deps.store.markNoted(review.reviewId, 'reminder', now);
        posted = true;
      }
      await deps.store.recordReviewEvent(snapshot, 'reminded', now, {
        ...messageDetails(messages),
        waitingOn: waitingOn.map((m) => m.id),
      });
      return { ...base, status: posted ? 'posted' : 'already_posted', message: messages[0]!.message };
    }
    case 'escalation': {
      const group = review.escalatedTo ?? approval.approvers;
      const view = viewOf(snapshot, deps);
      const originals = (['initial', 'teamsInitial'] as const).flatMap((slot) => {
        const message = review.messages[slot];
        const board = isTeamsSlot(slot) ? deps.teams : deps.channel;
        return message === undefined || board === undefined ? [] : [{ slot, message, board }];
      });
      const { messages, posted: escalationPosted } = await ensureMessages(snapshot, deps, group, 'escalation');
      let posted = escalationPosted;
      if (originals.length > 0 && review.notes.escalation === undefined) {
        const text = `No decision by the deadline: escalated to ${channelName(deps, group)}. Members of either group can now vote.`;
        for (const { message, board } of originals) await board.postThreadNote(message, text, [], review.expiresAt);
        await deps.store.markNoted(review.reviewId, 'escalation', now);
        // The original messages show the new deadline and who else may vote now.
        for (const { message, board } of originals) await board.updateReview(message, view);
        posted = true;
      }
      const original = originals.find((o) => !isTeamsSlot(o.slot))?.message;
      await deps.store.recordReviewEvent(snapshot, 'escalated', now, {
        ...messageDetails(messages),
        escalatedTo: group,
        originalChannel: original?.channel ?? null,
        originalMessageTs: original?.ts ?? null,
      });
      return { ...base, status: posted ? 'posted' : 'already_posted', message: messages[0]!.message };
    }
  }
}
