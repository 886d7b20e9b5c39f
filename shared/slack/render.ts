import { labelHidden, TAB_AND_NEWLINE } from '../domain/code-point-label.js';
import { cutText } from '../domain/cut-text.js';
import { jsonForReview } from '../review/json-for-review.js';
import type { ActionsBlock, Button, InputBlock, KnownBlock, ModalView, MrkdwnElement, PlainTextElement, RichTextBlock, SectionBlock } from '@slack/web-api';
import type { ReviewerVote } from '../domain/decision.js';
import type { ReviewView } from '../ports/review.js';
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
  REVIEW_ACTIONS_BLOCK_ID,
  REVIEW_ID_PATTERN,
} from './block-ids.js';

/**
 * Block Kit rendering of a review (pure).
 *
 * Untrusted text (DESIGN.md decision 9): everything the agent wrote (justification, parameters,
 * resource id and attributes, run id, model, on-behalf-of, and, for good measure, the pattern-checked
 * agent id, action and environment) goes into `plain_text` objects, which Slack shows literally:
 * `<!channel>`, `<@U123>`, `<https://evil|click>`, `*bold*` and `:emoji:` stay inert text. Invisible
 * and bidirectional control characters are shown as `[U+202E]` so text cannot hide or reorder itself.
 * `mrkdwn` is used only for text this module builds (labels, Slack mentions of directory members,
 * `<!date^…>` built from trusted timestamps); any value placed in it goes through `escapeMrkdwn`
 * first, and every mrkdwn object is `verbatim` so Slack does not auto-link or auto-mention in it.
 */

/** Slack's documented limits that this renderer has to respect. */
export const SLACK_LIMITS = {
  blocksPerMessage: 50,
  headerText: 150,
  sectionText: 3000,
  sectionFields: 10,
  fieldText: 2000,
  contextElements: 10,
  contextElementText: 3000,
  buttonText: 75,
  buttonValue: 2000,
  actionId: 255,
  blockId: 255,
  modalTitle: 24,
  modalButton: 24,
  privateMetadata: 3000,
  callbackId: 255,
  inputLabel: 2000,
  placeholder: 150,
  /** Slack truncates `text` at 40,000 characters; a notification fallback needs far less. */
  fallbackText: 3000,
} as const;

export class ReviewRenderError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ReviewRenderError';
  }
}

export interface RenderOptions {
  /**
   * Maps a reviewer id to that reviewer's Slack user id, from the approver directory. Mentions
   * (`<@U…>`) are generated only from what it returns; without it, reviewers are named by id.
   */
  slackUserIdOf?: (reviewerId: string) => string | undefined;
}

/** Escapes the three characters Slack's mrkdwn treats as control characters. */
export function escapeMrkdwn(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function visible(text: string): string {
  return labelHidden(text, TAB_AND_NEWLINE);
}

function utf8Bytes(text: string): number {
  return Buffer.byteLength(text, 'utf8');
}

/**
 * Fits text into a Slack limit. `marker: 'bytes'` ends a cut text with a visible
 * "… truncated (N bytes)" line, N being the full size of the text in UTF-8 bytes.
 */
function fit(text: string, max: number, marker: 'bytes' | 'ellipsis'): string {
  if (text.length <= max) return text;
  const tail = marker === 'bytes' ? `\n… truncated (${utf8Bytes(text)} bytes)` : '…';
  return cutText(text, max - tail.length) + tail;
}

/** Untrusted (or simply literal) text, shown as is. */
function plain(text: string, max: number, marker: 'bytes' | 'ellipsis' = 'ellipsis'): PlainTextElement {
  const shown = visible(text);
  return { type: 'plain_text', text: fit(shown === '' ? '—' : shown, max, marker), emoji: false };
}

/** Text built here from trusted pieces; callers escape every value they interpolate. */
function mrkdwn(text: string): MrkdwnElement {
  return { type: 'mrkdwn', text, verbatim: true };
}

/** A bold label built from a constant. */
function label(text: string): MrkdwnElement {
  return mrkdwn(`*${escapeMrkdwn(text)}*`);
}

/**
 * Untrusted text as a monospaced block (a rich_text "preformatted" element, Slack's code block):
 * its text element is literal, like plain_text, so markup in it stays inert.
 */
function preformatted(text: string, max: number): RichTextBlock {
  const shown = visible(text);
  return { type: 'rich_text', elements: [{ type: 'rich_text_preformatted', elements: [{ type: 'text', text: fit(shown === '' ? '—' : shown, max, 'bytes') }] }] };
}

function section(text: PlainTextElement | MrkdwnElement): SectionBlock {
  return { type: 'section', text };
}

/** Two-column rows: a bold label on the left, its value on the right. */
function rows(pairs: Array<[string, PlainTextElement | MrkdwnElement]>): SectionBlock {
  if (pairs.length * 2 > SLACK_LIMITS.sectionFields) throw new ReviewRenderError(`a section holds at most ${SLACK_LIMITS.sectionFields / 2} rows`);
  return { type: 'section', fields: pairs.flatMap(([name, value]) => [label(name), value]) };
}

const SLACK_USER_ID = /^[UW][A-Z0-9]{2,20}$/;
const SHA256_HEX = /^[0-9a-f]{64}$/;

function utcText(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

/**
 * A time in each reader's time zone (`<!date^…>`), with a UTC fallback. The markup is assembled
 * from the parsed number only, never from the input string, so nothing else can ride along.
 */
function slackDate(iso: string): string {
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) return escapeMrkdwn(iso);
  return `<!date^${Math.floor(ms / 1000)}^{date_short_pretty} at {time}|${utcText(ms)}>`;
}

function plainDate(iso: string): string {
  const ms = Date.parse(iso);
  return Number.isNaN(ms) ? iso : utcText(ms);
}

function mention(reviewerId: string, options: RenderOptions): string {
  const slackUserId = options.slackUserIdOf?.(reviewerId);
  return slackUserId !== undefined && SLACK_USER_ID.test(slackUserId) ? `<@${slackUserId}>` : escapeMrkdwn(reviewerId);
}

function shortSha(payloadSha256: string): string {
  return SHA256_HEX.test(payloadSha256) ? payloadSha256.slice(0, 12) : payloadSha256;
}

/** `1 of 2 approvals: carol` */
export function quorumProgress(approvals: ReviewerVote[], quorum: number): string {
  const names = approvals.map((vote) => vote.id);
  return `${names.length} of ${quorum} approval${quorum === 1 ? '' : 's'}${names.length > 0 ? `: ${names.join(', ')}` : ''}`;
}

function checkReviewId(reviewId: string): void {
  if (!REVIEW_ID_PATTERN.test(reviewId)) {
    throw new ReviewRenderError(`review id ${JSON.stringify(reviewId.slice(0, 40))} cannot be carried by a button: it must be 1-255 printable ASCII characters without spaces`);
  }
}

export const OUTCOME_WORDS = { approved: 'Approved', rejected: 'Rejected', expired: 'Expired' } as const;
const OUTCOME_EMOJI = { approved: ':white_check_mark:', rejected: ':no_entry:', expired: ':hourglass:' } as const;

/** The review's headline: what is asked, or how it ended (Slack's header, the Teams card's title). */
export function headerText(view: ReviewView): string {
  const { action, environment } = view.request;
  if (view.status.state === 'closed') return `${OUTCOME_WORDS[view.status.outcome]}: ${action} in ${environment}`;
  return view.escalatedTo !== undefined ? `Escalated: ${action} in ${environment} needs approval` : `Approval needed: ${action} in ${environment}`;
}

/** An identifier the contract restricts to a pattern; anything else in it is replaced, not passed on. */
function token(text: string): string {
  return fit(text.replace(/[^A-Za-z0-9._-]/g, '?'), 64, 'ellipsis');
}

function fallbackText(view: ReviewView): string {
  // Notification text is mrkdwn and shows outside the blocks: only pattern-checked identifiers go in,
  // reduced to their allowed characters, so nothing the agent could shape freely reaches it.
  const { agent, action, resource, environment } = view.request;
  const what = `${token(agent.id)}: ${token(action)} on ${token(resource.type)} in ${token(environment)}`;
  const text = view.status.state === 'closed'
    ? `${OUTCOME_WORDS[view.status.outcome]}: ${what}`
    : `${view.escalatedTo !== undefined ? 'Escalated, approval' : 'Approval'} needed: ${what} (${quorumProgress(view.approvals, view.approval.quorum)})`;
  return escapeMrkdwn(fit(text, SLACK_LIMITS.fallbackText, 'ellipsis'));
}

function outcomeBlocks(view: ReviewView, options: RenderOptions): KnownBlock[] {
  if (view.status.state !== 'closed') return [];
  const { outcome, reason, reviewers, decidedAt } = view.status;
  const deciders = reviewers.filter((vote) => vote.vote === (outcome === 'rejected' ? 'deny' : 'approve'));
  const by = outcome !== 'expired' && deciders.length > 0 ? ` by ${deciders.map((vote) => mention(vote.id, options)).join(', ')}` : '';
  const headline = outcome === 'expired'
    ? `${OUTCOME_EMOJI.expired} *Expired* ${slackDate(decidedAt)} with ${escapeMrkdwn(quorumProgress(view.approvals, view.approval.quorum))}`
    : `${OUTCOME_EMOJI[outcome]} *${OUTCOME_WORDS[outcome]}*${by} · ${slackDate(decidedAt)}`;
  const blocks: KnownBlock[] = [section(mrkdwn(headline)), section(plain(`Reason: ${reason}`, SLACK_LIMITS.sectionText, 'bytes'))];
  if (reviewers.length > 0) {
    // Reviewers' comments are typed by people in Slack or through the API: plain text as well.
    const lines = reviewers.map((vote) => `${vote.id} ${vote.vote === 'approve' ? 'approved' : 'denied'} at ${plainDate(vote.at)}${vote.comment !== undefined ? `: ${vote.comment}` : ''}`);
    blocks.push(section(plain(`Votes\n${lines.join('\n')}`, SLACK_LIMITS.sectionText, 'bytes')));
  }
  return blocks;
}

/**
 * After an approval: until when it may run, then what the agent reported (its summary and error are
 * agent text: plain text only), or that the window passed unused.
 */
function executionBlocks(view: ReviewView): KnownBlock[] {
  const execution = view.execution;
  if (execution === undefined) return [];
  const { summary, validUntil } = execution;
  if (summary !== null) {
    const emoji = summary.status === 'succeeded' ? ':white_check_mark:' : ':x:';
    const blocks: KnownBlock[] = [section(mrkdwn(`${emoji} *Executed* by ${escapeMrkdwn(token(summary.agentId))} at ${slackDate(summary.startedAt)}, ${summary.status}`))];
    const details = [
      summary.error !== null ? `Error ${summary.error.code}: ${summary.error.message}` : undefined,
      summary.resultSummary !== null ? `Result: ${summary.resultSummary}` : undefined,
      `Finished ${plainDate(summary.finishedAt)}${summary.resultSha256 !== null ? ` · result SHA-256 ${shortSha(summary.resultSha256)}…` : ''}`,
    ].filter((line): line is string => line !== undefined);
    blocks.push(section(plain(details.join('\n'), SLACK_LIMITS.sectionText, 'bytes')));
    return blocks;
  }
  if (validUntil === null) return [];
  if (execution.expiredUnused) return [section(mrkdwn(`:hourglass: *Approved, not executed* (expired unused at ${slackDate(validUntil)})`))];
  return [section(mrkdwn(`:stopwatch: Valid until ${slackDate(validUntil)}, once; not executed yet`))];
}

function buttons(reviewId: string): ActionsBlock {
  const button = (actionId: string, text: string, style?: 'primary' | 'danger'): Button => ({
    type: 'button',
    action_id: actionId,
    text: { type: 'plain_text', text, emoji: false },
    ...(style === undefined ? {} : { style }),
    // An opaque lookup key only: the task token never leaves the backend (DESIGN.md decision 5).
    value: reviewId,
  });
  return { type: 'actions', block_id: REVIEW_ACTIONS_BLOCK_ID, elements: [button(APPROVE_ACTION_ID, 'Approve', 'primary'), button(DENY_ACTION_ID, 'Deny', 'danger'), button(BLOCK_AGENT_ACTION_ID, 'Block this agent')] };
}

/**
 * The review message: the whole context a reviewer needs, with Approve and Deny while the review is
 * open, and the outcome, who decided and when once it is closed.
 */
export function reviewMessage(view: ReviewView, options: RenderOptions = {}): { text: string; blocks: KnownBlock[] } {
  checkReviewId(view.reviewId);
  const { request } = view;
  const { agent, resource } = request;
  const field = (text: string) => plain(text, SLACK_LIMITS.fieldText);
  const closed = view.status.state === 'closed' ? view.status : undefined;
  const approvers = `${view.approval.approvers}${view.escalatedTo !== undefined ? `, escalated to ${view.escalatedTo}` : ''}`;

  const blocks: KnownBlock[] = [
    { type: 'header', text: plain(headerText(view), SLACK_LIMITS.headerText) },
    rows([
      ['Agent', field(agent.id)],
      ['On behalf of', field(agent.onBehalfOf ?? '—')],
      ['Action', field(request.action)],
      ['Resource', field(`${resource.type} ${resource.id}`)],
      ['Environment', field(request.environment)],
    ]),
    rows([
      ['Run / model', field(`${agent.runId ?? '—'} / ${agent.model ?? '—'}`)],
      ['Payload SHA-256', field(`${shortSha(view.payloadSha256)}…`)],
      ['Policy', field(view.policyIds.join(', ') || '—')],
      ['Approvers', field(`${approvers}: ${quorumProgress(view.approvals, view.approval.quorum)}`)],
      closed === undefined ? ['Expires', mrkdwn(slackDate(view.expiresAt))] : ['Decided', mrkdwn(slackDate(closed.decidedAt))],
    ]),
  ];
  if (view.escalatedTo !== undefined) {
    blocks.push(section(mrkdwn(`:rotating_light: *Escalated to ${escapeMrkdwn(view.escalatedTo)}*: the first deadline passed without a decision.`)));
  }
  if (closed === undefined && view.quorumWarning !== undefined) {
    blocks.push(section(mrkdwn(`:warning: ${escapeMrkdwn(view.quorumWarning)}`)));
  }
  // The words are the agent's: plain text, after the facts they qualify and before anyone approves.
  if (view.lookalikeWarning !== undefined) blocks.push(section(plain(`⚠ ${view.lookalikeWarning}`, SLACK_LIMITS.sectionText)));
  blocks.push(
    section(label('Justification')),
    section(plain(request.justification, SLACK_LIMITS.sectionText, 'bytes')),
    section(label('Parameters (what an approval is for)')),
    preformatted(jsonForReview(request.parameters, SLACK_LIMITS.sectionText, visible), SLACK_LIMITS.sectionText),
  );
  if (resource.attributes !== undefined && Object.keys(resource.attributes).length > 0) {
    blocks.push(section(label('Resource attributes')), preformatted(jsonForReview(resource.attributes, SLACK_LIMITS.sectionText, visible), SLACK_LIMITS.sectionText));
  }
  blocks.push(...outcomeBlocks(view, options), ...executionBlocks(view));
  if (closed === undefined) blocks.push(buttons(view.reviewId));
  blocks.push({ type: 'context', elements: [plain(`Action ${view.actionId} · review ${view.reviewId}`, SLACK_LIMITS.contextElementText)] });

  if (blocks.length > SLACK_LIMITS.blocksPerMessage) throw new ReviewRenderError(`the message has ${blocks.length} blocks; Slack allows ${SLACK_LIMITS.blocksPerMessage}`);
  return { text: fallbackText(view), blocks };
}

/** A modal's required, multiline reason input. */
function reasonInput(blockId: string, actionId: string, maxChars: number, hint: string, placeholder: string): InputBlock {
  return {
    type: 'input',
    block_id: blockId,
    optional: false,
    label: { type: 'plain_text', text: 'Reason', emoji: false },
    hint: { type: 'plain_text', text: hint, emoji: false },
    element: {
      type: 'plain_text_input',
      action_id: actionId,
      multiline: true,
      max_length: maxChars,
      placeholder: { type: 'plain_text', text: placeholder, emoji: false },
    },
  };
}

/**
 * The modal "Block this agent" opens: it requires a reason; its submission carries the review id in
 * `private_metadata` (the agent is read from the request, never from the payload).
 */
export function quarantineModal(view: ReviewView): ModalView {
  checkReviewId(view.reviewId);
  const agentId = view.request.agent.id;
  return {
    type: 'modal',
    callback_id: QUARANTINE_MODAL_CALLBACK_ID,
    private_metadata: view.reviewId,
    title: { type: 'plain_text', text: 'Block this agent', emoji: false },
    submit: { type: 'plain_text', text: 'Quarantine', emoji: false },
    close: { type: 'plain_text', text: 'Cancel', emoji: false },
    blocks: [
      section(plain(`Quarantine agent ${agentId}? Every request of it is denied until the quarantine is lifted, its open reviews are closed as rejected, and its owners are told.`, SLACK_LIMITS.sectionText)),
      reasonInput(QUARANTINE_REASON_BLOCK_ID, QUARANTINE_REASON_ACTION_ID, QUARANTINE_REASON_MAX_CHARS, 'Required. It is recorded in the audit log and given to the agent with every denial.', 'Why is this agent blocked?'),
    ],
  };
}

/** The modal Deny opens: it requires a reason; its submission carries the review id in `private_metadata`. */
export function denyModal(view: ReviewView): ModalView {
  checkReviewId(view.reviewId);
  const { request } = view;
  return {
    type: 'modal',
    callback_id: DENY_MODAL_CALLBACK_ID,
    private_metadata: view.reviewId,
    title: { type: 'plain_text', text: 'Deny request', emoji: false },
    submit: { type: 'plain_text', text: 'Deny', emoji: false },
    close: { type: 'plain_text', text: 'Cancel', emoji: false },
    blocks: [
      section(plain(`Deny ${request.action} on ${request.resource.type} ${request.resource.id} in ${request.environment}, requested by ${request.agent.id}?`, SLACK_LIMITS.sectionText)),
      { type: 'context', elements: [plain(`Action ${view.actionId} · payload SHA-256 ${shortSha(view.payloadSha256)}…`, SLACK_LIMITS.contextElementText)] },
      reasonInput(DENY_REASON_BLOCK_ID, DENY_REASON_ACTION_ID, DENY_REASON_MAX_CHARS, 'Required. It is recorded with your vote in the audit log and sent to the agent.', 'Why is this request denied?'),
    ],
  };
}

/**
 * A reply in the review's thread (reminders, escalation), mentioning the reviewers who can still
 * vote. The text is escaped: it may use *bold*, never markup; keep agent text out of it anyway.
 * A `deadline` (ISO) follows as "Deadline: <!date^…>", which Slack shows in each reader's time zone.
 */
export function threadNote(text: string, mentionSlackUserIds: string[], deadline?: string): { text: string } {
  const ids = [...new Set(mentionSlackUserIds)];
  const bad = ids.find((id) => !SLACK_USER_ID.test(id));
  if (bad !== undefined) throw new ReviewRenderError(`${JSON.stringify(bad.slice(0, 40))} is not a Slack user id; mentions come from the directory`);
  const mentions = ids.map((id) => `<@${id}>`).join(' ');
  const escaped = escapeMrkdwn(fit(visible(text), SLACK_LIMITS.sectionText, 'ellipsis'));
  const body = deadline === undefined ? escaped : `${escaped} Deadline: ${slackDate(deadline)}.`;
  return { text: mentions === '' ? body : `${mentions} ${body}` };
}

/**
 * A channel alert (an execution violation): its text quotes what agents sent, so the message is one
 * plain_text section (no formatting, no links, no mentions), with the escaped text as the notification.
 */
export function alertMessage(text: string): { text: string; blocks: KnownBlock[] } {
  return { text: noticeText(text), blocks: [section(plain(text, SLACK_LIMITS.sectionText, 'bytes'))] };
}

/** An ephemeral notice (a refusal, a confirmation): escaped, so it can never mention or link. */
export function noticeText(text: string): string {
  return escapeMrkdwn(fit(visible(text), SLACK_LIMITS.sectionText, 'ellipsis'));
}
