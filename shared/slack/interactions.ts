import * as z from 'zod';
import { loneSurrogateAt, NOT_UNICODE_TEXT } from '../domain/canonical-json.js';
import {
  APPROVE_ACTION_ID,
  BLOCK_AGENT_ACTION_ID,
  DENY_ACTION_ID,
  DENY_MODAL_CALLBACK_ID,
  DENY_REASON_ACTION_ID,
  DENY_REASON_BLOCK_ID,
  DENY_REASON_MAX_CHARS,
  QUARANTINE_MODAL_CALLBACK_ID,
  QUARANTINE_REASON_ACTION_ID,
  QUARANTINE_REASON_BLOCK_ID,
  QUARANTINE_REASON_MAX_CHARS,
  REVIEW_ID_PATTERN,
  type ReviewActionId,
} from './block-ids.js';

export {
  APPROVE_ACTION_ID,
  DENY_ACTION_ID,
  DENY_MODAL_CALLBACK_ID,
  DENY_REASON_ACTION_ID,
  DENY_REASON_BLOCK_ID,
  REVIEW_ACTIONS_BLOCK_ID,
  REVIEW_ID_PATTERN,
} from './block-ids.js';

/**
 * A request to the interactivity URL, after its signature was checked: Slack posts
 * `application/x-www-form-urlencoded` with one field, `payload`, holding the interaction as JSON.
 */
export type Interaction =
  | {
      type: 'block_actions';
      teamId: string;
      appId: string;
      userId: string;
      triggerId: string;
      actionId: ReviewActionId;
      reviewId: string;
      channelId?: string;
      messageTs?: string;
    }
  | { type: 'view_submission'; teamId: string; appId: string; userId: string; reviewId: string; reason: string }
  /** The quarantine modal's submission ("Block this agent"). */
  | { type: 'quarantine_submission'; teamId: string; appId: string; userId: string; reviewId: string; reason: string }
  /** Anything else Slack may send (`view_closed`, shortcuts, another button): acknowledge and ignore. */
  | { type: 'other'; kind: string };

export class InteractionParseError extends Error {
  /** Set when the problem is a modal input, so the handler can answer `response_action: "errors"` on that block. */
  readonly blockId: string | undefined;

  constructor(message: string, options: { blockId?: string } = {}) {
    super(message);
    this.name = 'InteractionParseError';
    this.blockId = options.blockId;
  }
}

const slackId = z.string().regex(/^[A-Z][A-Z0-9]{1,31}$/, 'must be a Slack id such as "U0ALICE"');
const reviewId = z.string().regex(REVIEW_ID_PATTERN, 'must be 1-255 printable ASCII characters without spaces');

// Slack adds fields over time: objects are not strict, only what is read is checked.
const team = z.object({ id: slackId }).nullable().optional();
const user = z.object({ id: slackId, team_id: slackId.optional() });

const BlockActionsSchema = z.object({
  type: z.literal('block_actions'),
  team,
  user,
  api_app_id: slackId,
  trigger_id: z.string().min(1),
  container: z.object({ channel_id: z.string().optional(), message_ts: z.string().optional() }).optional(),
  channel: z.object({ id: z.string() }).nullable().optional(),
  message: z.object({ ts: z.string() }).optional(),
  actions: z.array(z.object({ action_id: z.string(), value: z.string().optional() })).min(1, 'must hold the action that was taken'),
});

const ViewSubmissionSchema = z.object({
  type: z.literal('view_submission'),
  team,
  user,
  api_app_id: slackId,
  view: z.object({
    callback_id: z.string().optional(),
    private_metadata: z.string().optional(),
    state: z.object({
      values: z.record(z.string(), z.record(z.string(), z.object({ type: z.string(), value: z.string().nullable().optional() }))),
    }),
  }),
});

function describe(error: z.ZodError): string {
  return error.issues
    .slice(0, 3)
    .map((issue) => `${issue.path.length > 0 ? issue.path.join('.') : 'payload'}: ${issue.message}`)
    .join('; ');
}

function teamIdOf(payload: { team?: { id: string } | null; user: { team_id?: string } }): string {
  // `team` is null when the app is installed on a whole Enterprise Grid org; the user's team id stands in.
  const id = payload.team?.id ?? payload.user.team_id;
  if (id === undefined) throw new InteractionParseError('the interaction names no team (neither team.id nor user.team_id)');
  return id;
}

function parseReviewId(value: string | undefined, where: string): string {
  const parsed = reviewId.safeParse(value);
  if (!parsed.success) {
    throw new InteractionParseError(`${where} ${value === undefined ? 'is missing' : 'is not a review id'}: it ${parsed.error.issues[0]?.message ?? 'is invalid'}`);
  }
  return parsed.data;
}

function parseBlockActions(payload: unknown): Interaction {
  const parsed = BlockActionsSchema.safeParse(payload);
  if (!parsed.success) throw new InteractionParseError(`block_actions payload is not what Slack sends: ${describe(parsed.error)}`);
  const p = parsed.data;
  const action = p.actions[0];
  if (action === undefined) throw new InteractionParseError('block_actions payload holds no action');
  if (action.action_id !== APPROVE_ACTION_ID && action.action_id !== DENY_ACTION_ID && action.action_id !== BLOCK_AGENT_ACTION_ID) {
    return { type: 'other', kind: `block_actions:${action.action_id}` };
  }
  const channelId = p.container?.channel_id ?? p.channel?.id;
  const messageTs = p.container?.message_ts ?? p.message?.ts;
  return {
    type: 'block_actions',
    teamId: teamIdOf(p),
    appId: p.api_app_id,
    userId: p.user.id,
    triggerId: p.trigger_id,
    actionId: action.action_id,
    reviewId: parseReviewId(action.value, `the ${action.action_id} button's value`),
    ...(channelId !== undefined ? { channelId } : {}),
    ...(messageTs !== undefined ? { messageTs } : {}),
  };
}

function parseViewSubmission(payload: unknown): Interaction {
  const parsed = ViewSubmissionSchema.safeParse(payload);
  if (!parsed.success) throw new InteractionParseError(`view_submission payload is not what Slack sends: ${describe(parsed.error)}`);
  const p = parsed.data;
  if (p.view.callback_id === QUARANTINE_MODAL_CALLBACK_ID) {
    const input = p.view.state.values[QUARANTINE_REASON_BLOCK_ID]?.[QUARANTINE_REASON_ACTION_ID];
    if (input === undefined) throw new InteractionParseError(`the quarantine modal's state has no ${QUARANTINE_REASON_BLOCK_ID}.${QUARANTINE_REASON_ACTION_ID} input`);
    const reason = (input.value ?? '').trim();
    if (reason === '') throw new InteractionParseError('a quarantine needs a reason: the reason is empty', { blockId: QUARANTINE_REASON_BLOCK_ID });
    if (reason.length > QUARANTINE_REASON_MAX_CHARS) {
      throw new InteractionParseError(`the reason is ${reason.length} characters; the limit is ${QUARANTINE_REASON_MAX_CHARS}`, { blockId: QUARANTINE_REASON_BLOCK_ID });
    }
    if (loneSurrogateAt(reason) >= 0) throw new InteractionParseError(`the reason ${NOT_UNICODE_TEXT}`, { blockId: QUARANTINE_REASON_BLOCK_ID });
    return { type: 'quarantine_submission', teamId: teamIdOf(p), appId: p.api_app_id, userId: p.user.id, reviewId: parseReviewId(p.view.private_metadata, "the quarantine modal's private_metadata"), reason };
  }
  if (p.view.callback_id !== DENY_MODAL_CALLBACK_ID) return { type: 'other', kind: `view_submission:${p.view.callback_id ?? ''}` };
  const input = p.view.state.values[DENY_REASON_BLOCK_ID]?.[DENY_REASON_ACTION_ID];
  if (input === undefined) {
    throw new InteractionParseError(`the deny modal's state has no ${DENY_REASON_BLOCK_ID}.${DENY_REASON_ACTION_ID} input`);
  }
  const reason = (input.value ?? '').trim();
  if (reason === '') throw new InteractionParseError('a deny needs a reason: the reason is empty', { blockId: DENY_REASON_BLOCK_ID });
  if (reason.length > DENY_REASON_MAX_CHARS) {
    throw new InteractionParseError(`the reason is ${reason.length} characters; the limit is ${DENY_REASON_MAX_CHARS}`, { blockId: DENY_REASON_BLOCK_ID });
  }
  if (loneSurrogateAt(reason) >= 0) throw new InteractionParseError(`the reason ${NOT_UNICODE_TEXT}`, { blockId: DENY_REASON_BLOCK_ID });
  return {
    type: 'view_submission',
    teamId: teamIdOf(p),
    appId: p.api_app_id,
    userId: p.user.id,
    reviewId: parseReviewId(p.view.private_metadata, "the deny modal's private_metadata"),
    reason,
  };
}

/** Parses the raw (already signature-checked) body of an interactivity request. */
export function parseInteraction(rawBody: string): Interaction {
  const payloadText = new URLSearchParams(rawBody).get('payload');
  if (payloadText === null || payloadText === '') {
    throw new InteractionParseError('the body has no "payload" field: Slack sends application/x-www-form-urlencoded with payload=<JSON>');
  }
  let payload: unknown;
  try {
    payload = JSON.parse(payloadText);
  } catch (error) {
    throw new InteractionParseError(`the "payload" field is not JSON (${error instanceof Error ? error.message : String(error)})`);
  }
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) {
    throw new InteractionParseError('the "payload" field must be a JSON object');
  }
  const type = (payload as { type?: unknown }).type;
  if (typeof type !== 'string' || type === '') throw new InteractionParseError('the payload has no "type"');
  switch (type) {
    case 'block_actions':
      return parseBlockActions(payload);
    case 'view_submission':
      return parseViewSubmission(payload);
    default:
      return { type: 'other', kind: type };
  }
}
