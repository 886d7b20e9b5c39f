/**
 * The identifiers the review message and the deny modal carry, shared by the renderer (which sets
 * them) and the interaction parser (which reads them back), so the two cannot drift apart.
 * Slack echoes `action_id`, `block_id`, `callback_id` and `private_metadata` verbatim in the
 * `block_actions` and `view_submission` payloads.
 */
export const APPROVE_ACTION_ID = 'approve';
export const DENY_ACTION_ID = 'deny';
/** "Block this agent": opens the quarantine modal (issue 16). */
export const BLOCK_AGENT_ACTION_ID = 'block_agent';
export type ReviewActionId = typeof APPROVE_ACTION_ID | typeof DENY_ACTION_ID | typeof BLOCK_AGENT_ACTION_ID;

/** The quarantine modal: its callback id and the input that holds the required reason. */
export const QUARANTINE_MODAL_CALLBACK_ID = 'countersign_quarantine';
export const QUARANTINE_REASON_BLOCK_ID = 'countersign_quarantine_reason';
export const QUARANTINE_REASON_ACTION_ID = 'reason';
/** A quarantine's reason is kept to 1000 characters (MAX_QUARANTINE_REASON_CHARS). */
export const QUARANTINE_REASON_MAX_CHARS = 1000;

/** The actions block that holds Approve and Deny. */
export const REVIEW_ACTIONS_BLOCK_ID = 'countersign_review_actions';

/** The deny modal: its callback id and the input that holds the required reason. */
export const DENY_MODAL_CALLBACK_ID = 'countersign_deny';
export const DENY_REASON_BLOCK_ID = 'countersign_deny_reason';
export const DENY_REASON_ACTION_ID = 'reason';
/** Slack's `plain_text_input` accepts at most 3000 characters; the modal asks for at most this. */
export const DENY_REASON_MAX_CHARS = 3000;

/**
 * What a review id may look like: printable ASCII without spaces, 1-255 characters. It travels as a
 * button `value` (max 2000) and as modal `private_metadata` (max 3000), and is only ever a lookup
 * key: never a task token (DESIGN.md decision 5). The renderer refuses any other id, so a click can
 * always be parsed back.
 */
export const REVIEW_ID_PATTERN = /^[\x21-\x7E]{1,255}$/;
