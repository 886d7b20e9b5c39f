import { MESSAGE_SLOTS, type MessageSlot, type ReviewRecord } from '../ports/review-store.js';
import type { ReviewBoard, ReviewView } from '../ports/review.js';
import type { ReviewDeps } from './review-deps.js';

/** The boards a review's messages live on: Slack always, Teams when wired. */
export type ReviewBoards = Pick<ReviewDeps, 'channel' | 'teams'>;

/** Whether a message slot is a Teams one (`teamsInitial`, `teamsEscalation`) rather than Slack's. */
export function isTeamsSlot(slot: MessageSlot): boolean {
  return slot.startsWith('teams');
}

/** The board a slot's message lives on; undefined for a Teams message when Teams is not wired. */
export function boardOf(slot: MessageSlot, boards: ReviewBoards): ReviewBoard | undefined {
  return isTeamsSlot(slot) ? boards.teams : boards.channel;
}

function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

/**
 * Shows `view` on every message the review has (Slack and Teams, review and escalation). A failure
 * is reported to `onFailure` and the others go on: the record is what counts, a message catches up
 * with the next update. Answers how many messages were updated.
 */
export async function updateReviewMessages(review: ReviewRecord, view: ReviewView, boards: ReviewBoards, onFailure: (failure: string) => void): Promise<number> {
  let updated = 0;
  for (const slot of MESSAGE_SLOTS) {
    const message = review.messages[slot];
    const board = boardOf(slot, boards);
    if (message === undefined || board === undefined) continue;
    try {
      await board.updateReview(message, view);
      updated++;
    } catch (error) {
      onFailure(`updating the ${isTeamsSlot(slot) ? 'Teams ' : ''}review message ${message.channel}/${message.ts} failed: ${describe(error)}`);
    }
  }
  return updated;
}
