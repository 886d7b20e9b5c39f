import * as z from 'zod';
import { burstSummaryText } from './flood-control.js';

/**
 * `Agent Requests Limited`: evaluate-action's announcement that an agent started a flood-control burst
 * (issue 16). It travels on the Countersign bus with source `countersign`, which the bus policy lets only
 * the decision publishers send, so an agent cannot forge one; record-execution posts its one line.
 */
export const DETAIL_TYPE_LIMITED = 'Agent Requests Limited';

export const AgentLimitedDetailSchema = z.object({
  agentId: z.string().min(1).max(256),
  /** The approver group whose channel gets the line: the one the denied request would have gone to. */
  group: z.string().min(1).max(256),
  limit: z.enum(['open-reviews', 'approval-rate']),
  /** The first denial's reason, which says the limit and when it resets. */
  reason: z.string().min(1).max(2048),
  /** When the next request is allowed (approval-rate); null when it resets as reviews are decided. */
  resetsAt: z.iso.datetime().nullable(),
  /** When the burst started (the first denial). */
  at: z.iso.datetime(),
}).strict();

export type AgentLimitedDetail = z.infer<typeof AgentLimitedDetailSchema>;

export class AgentLimitedDetailError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AgentLimitedDetailError';
  }
}

/** Parses the detail of an `Agent Requests Limited` event; a detail that does not parse says which fields are wrong. */
export function parseAgentLimited(detail: unknown): AgentLimitedDetail {
  const parsed = AgentLimitedDetailSchema.safeParse(detail);
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map((issue) => `${issue.path.join('.') || '(detail)'}: ${issue.message}`).join('; ');
  throw new AgentLimitedDetailError(`"${DETAIL_TYPE_LIMITED}" detail is not valid (${problems}); only evaluate-action sends this event, so this is a wiring fault: the event is retried, then dead-lettered`);
}

/** The one line the approver channel gets (plain text; the channel escapes it). */
export function agentLimitedText(detail: AgentLimitedDetail): string {
  return burstSummaryText(detail.agentId, detail.limit, detail.reason, detail.group);
}
