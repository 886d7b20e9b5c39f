import type { ReviewerVote } from '../domain/decision.js';
import type { RequestState, ReviewRecord } from '../ports/review-store.js';
import type { ReviewDeps } from './review-deps.js';
import { reviewViewOf } from './review-view.js';

function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

/**
 * Re-renders every message of a review (the approver channel's, and the escalation channel's) from the
 * state given. A message that cannot be updated is a warning, not an error: the state is recorded, and
 * the next update or a tap on the stale message shows it.
 */
export async function refreshReviewMessages(
  current: { request: RequestState; review: ReviewRecord; votes: ReviewerVote[] },
  deps: Pick<ReviewDeps, 'channel' | 'directory' | 'now'>,
): Promise<{ updated: number; warnings: string[] }> {
  const { request, review, votes } = current;
  const view = reviewViewOf(request, review, votes, deps.directory, deps.now());
  const warnings: string[] = [];
  let updated = 0;
  for (const message of [review.messages.initial, review.messages.escalation]) {
    if (message === undefined) continue;
    try {
      await deps.channel.updateReview(message, view);
      updated++;
    } catch (error) {
      warnings.push(`updating the review message ${message.channel}/${message.ts} failed: ${describe(error)}`);
    }
  }
  return { updated, warnings };
}
