import type { ReviewerVote } from '../domain/decision.js';
import type { RequestState, ReviewRecord } from '../ports/review-store.js';
import type { ReviewDeps } from './review-deps.js';
import { updateReviewMessages } from './review-messages.js';
import { reviewViewOf } from './review-view.js';

/**
 * Re-renders every message of a review (the approver channels' and the escalation channels', in Slack
 * and Teams) from the state given. A message that cannot be updated is a warning, not an error: the
 * state is recorded, and the next update or a tap on the stale message shows it.
 */
export async function refreshReviewMessages(
  current: { request: RequestState; review: ReviewRecord; votes: ReviewerVote[] },
  deps: Pick<ReviewDeps, 'channel' | 'teams' | 'directory' | 'now'>,
): Promise<{ updated: number; warnings: string[] }> {
  const { request, review, votes } = current;
  const view = reviewViewOf(request, review, votes, deps.directory, deps.now());
  const warnings: string[] = [];
  const updated = await updateReviewMessages(review, view, deps, (failure) => warnings.push(failure));
  return { updated, warnings };
}
