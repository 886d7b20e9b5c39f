import type { ReviewView } from '../ports/review.js';
import { MAX_QUARANTINE_REASON_CHARS } from '../domain/flood-control.js';
import { REVIEW_ID_PATTERN } from '../slack/block-ids.js';
import { headerText, OUTCOME_WORDS, quorumProgress } from '../slack/render.js';
import { labelHidden, TAB_AND_NEWLINE } from '../domain/code-point-label.js';
import { cutText } from '../domain/cut-text.js';
import { jsonForReview } from '../review/json-for-review.js';

/**
 * Adaptive Card rendering of a review for Microsoft Teams (pure), schema 1.5 with Universal Actions.
 *
 * Untrusted text (DESIGN.md decision 9): Teams reads Markdown (bold, lists, links) and `{{DATE()}}`
 * functions in a `TextBlock`'s text and in `FactSet` facts, but not in a `TextRun` ("Markdown is not
 * supported", Adaptive Cards schema, TextRun.text). So everything the agent wrote goes into the
 * `TextRun`s of `RichTextBlock`s, shown literally; `TextBlock`s carry only text this module builds from
 * constants, directory names and trusted timestamps. Invisible and bidi control characters are shown
 * as `[U+202E]`, as in Slack.
 */

/** Schema version: 1.5 is what Teams renders (desktop, web, mobile) for bot-sent cards. */
export const CARD_VERSION = '1.5';
export const ADAPTIVE_CARD_CONTENT_TYPE = 'application/vnd.microsoft.card.adaptive';

/** The Action.Execute verbs the card carries, which the invoke's `value.action.verb` echoes. */
export const APPROVE_VERB = 'approve';
export const DENY_VERB = 'deny';
/** "Block this agent" (issue 16): quarantines the agent of the review's request, with a required reason. */
export const BLOCK_AGENT_VERB = 'block_agent';
/** The Input.Text that holds the quarantine reason; its value arrives in `value.action.data.quarantineReason`. */
export const QUARANTINE_REASON_INPUT_ID = 'quarantineReason';
export const QUARANTINE_REASON_REQUIRED = 'A reason is required to quarantine an agent: it is recorded, shown in every denial, and sent to its owners.';
/** The Input.Text that holds the deny reason; its value arrives in `value.action.data.reason`. */
export const DENY_REASON_INPUT_ID = 'reason';
export const DENY_REASON_MAX_CHARS = 3000;
export const DENY_REASON_REQUIRED = 'A reason is required to deny: it is recorded with your vote and sent to the agent.';

/** Longest untrusted text per run, so a card stays well inside Teams' ~28 KB message size. */
const MAX_RUN = 3000;

export type CardElement = Record<string, unknown>;
export interface AdaptiveCard {
  type: 'AdaptiveCard';
  $schema: string;
  version: string;
  body: CardElement[];
  actions?: CardElement[];
  msteams?: Record<string, unknown>;
}

export class CardRenderError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CardRenderError';
  }
}

/**
 * Adaptive Cards renderers apply `{{DATE(…)}}` and `{{TIME(…)}}` to TextRuns as well as TextBlocks (the
 * `adaptivecards` package's TextRun calls its formatText), so agent text could show a made-up date in the
 * reader's time zone. A WORD JOINER after each brace that another follows (`{{{` too) keeps the glyphs
 * and breaks the function; agent text's own U+2060 is shown as [U+2060] before, so every one left is this.
 */
const FUNCTION_OPENING = /\{(?=\{)/g;
const INERT_OPENING = '{\u2060';

/** Text that others wrote as a card shows it: hidden characters labelled, then DATE/TIME functions broken. */
function shownInTeams(text: string): string {
  return labelHidden(text, TAB_AND_NEWLINE).replace(FUNCTION_OPENING, INERT_OPENING);
}

function literal(text: string, max = MAX_RUN, alreadyShown = false): string {
  // Shown once only: labelling again would show the word joiners just inserted as [U+2060].
  const shown = alreadyShown ? text : shownInTeams(text);
  if (shown === '') return '—';
  if (shown.length <= max) return shown;
  const tail = `\n… truncated (${Buffer.byteLength(text, 'utf8')} bytes)`;
  return cutText(shown, max - tail.length) + tail;
}

/** Text shown literally (a TextRun: no Markdown; DATE/TIME functions broken by `literal`). */
export function runs(text: string, style: Record<string, unknown> = {}, max = MAX_RUN, alreadyShown = false): CardElement {
  return { type: 'RichTextBlock', inlines: [{ type: 'TextRun', text: literal(text, max, alreadyShown), ...style }] };
}

/**
 * Parameters or attributes in a run, fitted by `jsonForReview` as the card will show them (word joiners
 * included), so that no transformation after the fitting can push a value out of view.
 */
function jsonRuns(value: unknown): CardElement {
  return runs(jsonForReview(value, MAX_RUN, shownInTeams), { fontType: 'Monospace' }, MAX_RUN, true);
}

/** A label built here from constants (a TextBlock: Teams would read Markdown in it). */
function label(text: string, style: Record<string, unknown> = {}): CardElement {
  return { type: 'TextBlock', text, wrap: true, weight: 'Bolder', ...style };
}

/** A trusted time as Teams' DATE/TIME functions, shown in each reader's zone (RFC 3339, no fraction). */
function when(iso: string): string {
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) return 'an unknown time';
  const rfc3339 = new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
  return `{{DATE(${rfc3339}, SHORT)}} {{TIME(${rfc3339})}}`;
}

function row(name: string, value: CardElement): CardElement {
  return {
    type: 'ColumnSet',
    spacing: 'Small',
    columns: [
      { type: 'Column', width: '140px', items: [{ type: 'TextBlock', text: name, wrap: true, weight: 'Bolder', isSubtle: true }] },
      { type: 'Column', width: 'stretch', items: [value] },
    ],
  };
}

const OUTCOME_COLOR = { approved: 'Good', rejected: 'Attention', expired: 'Warning' } as const;

function shortSha(payloadSha256: string): string {
  return /^[0-9a-f]{64}$/.test(payloadSha256) ? `${payloadSha256.slice(0, 12)}…` : payloadSha256;
}

function outcomeElements(view: ReviewView): CardElement[] {
  if (view.status.state !== 'closed') return [];
  const { outcome, reason, reviewers, decidedAt } = view.status;
  const deciders = reviewers.filter((vote) => vote.vote === (outcome === 'rejected' ? 'deny' : 'approve')).map((vote) => vote.id);
  const elements: CardElement[] = [
    { type: 'TextBlock', text: `${OUTCOME_WORDS[outcome]} ${when(decidedAt)}`, wrap: true, weight: 'Bolder', color: OUTCOME_COLOR[outcome], separator: true },
    runs(outcome === 'expired' ? `With ${quorumProgress(view.approvals, view.approval.quorum)}` : `By ${deciders.join(', ') || '—'}`),
    runs(`Reason: ${reason}`),
  ];
  if (reviewers.length > 0) {
    // Reviewers' comments are typed by people: literal as well.
    const lines = reviewers.map((vote) => `${vote.id} ${vote.vote === 'approve' ? 'approved' : 'denied'} at ${vote.at}${vote.comment !== undefined ? `: ${vote.comment}` : ''}`);
    elements.push(label('Votes'), runs(lines.join('\n')));
  }
  return elements;
}

/** After an approval: until when it may run, then what the agent reported (agent text: literal), or that it expired unused. */
function executionElements(view: ReviewView): CardElement[] {
  const execution = view.execution;
  if (execution === undefined) return [];
  const { summary, validUntil } = execution;
  if (summary !== null) {
    const details = [
      `By ${summary.agentId}, ${summary.status}; finished ${summary.finishedAt}`,
      ...(summary.error !== null ? [`Error ${summary.error.code}: ${summary.error.message}`] : []),
      ...(summary.resultSummary !== null ? [`Result: ${summary.resultSummary}`] : []),
      ...(summary.resultSha256 !== null ? [`Result SHA-256 ${shortSha(summary.resultSha256)}`] : []),
    ];
    return [
      { type: 'TextBlock', text: `Executed ${when(summary.startedAt)}`, wrap: true, weight: 'Bolder', color: summary.status === 'succeeded' ? 'Good' : 'Attention' },
      runs(details.join('\n')),
    ];
  }
  if (validUntil === null) return [];
  if (execution.expiredUnused) return [{ type: 'TextBlock', text: `Approved, not executed (expired unused at ${when(validUntil)})`, wrap: true, color: 'Warning' }];
  return [{ type: 'TextBlock', text: `Valid until ${when(validUntil)}, once; not executed yet`, wrap: true, isSubtle: true }];
}

/** Approve (no inputs); Deny, which shows the required reason and its own Deny button; and Block this agent, likewise. */
function reviewActions(reviewId: string): CardElement[] {
  // An opaque lookup key only: the task token never leaves the backend (DESIGN.md decision 5).
  const data = { reviewId };
  return [
    { type: 'Action.Execute', title: 'Approve', verb: APPROVE_VERB, data, style: 'positive', associatedInputs: 'none' },
    {
      type: 'Action.ShowCard',
      title: 'Deny',
      card: {
        type: 'AdaptiveCard',
        body: [{
          type: 'Input.Text',
          id: DENY_REASON_INPUT_ID,
          label: 'Reason',
          placeholder: 'Why is this request denied?',
          isMultiline: true,
          isRequired: true,
          maxLength: DENY_REASON_MAX_CHARS,
          errorMessage: DENY_REASON_REQUIRED,
        }],
        actions: [{ type: 'Action.Execute', title: 'Deny', verb: DENY_VERB, data, style: 'destructive', associatedInputs: 'auto' }],
      },
    },
    {
      // Shown to everyone, as in Slack; who may quarantine is checked when it is submitted.
      type: 'Action.ShowCard',
      title: 'Block this agent',
      card: {
        type: 'AdaptiveCard',
        body: [{
          type: 'Input.Text',
          id: QUARANTINE_REASON_INPUT_ID,
          label: 'Why quarantine this agent? Every request of it will be denied and its open reviews closed.',
          placeholder: 'Why is this agent blocked?',
          isMultiline: true,
          isRequired: true,
          maxLength: MAX_QUARANTINE_REASON_CHARS,
          errorMessage: QUARANTINE_REASON_REQUIRED,
        }],
        actions: [{ type: 'Action.Execute', title: 'Quarantine agent', verb: BLOCK_AGENT_VERB, data, style: 'destructive', associatedInputs: 'auto' }],
      },
    },
  ];
}

/** A line to the one reviewer who tapped (a refusal, a confirmation), shown first on their card. */
export interface CardNotice {
  text: string;
  tone: 'attention' | 'good';
}

/**
 * The review card: the whole context a reviewer needs, with Approve and Deny while open, and the
 * outcome, who decided and when once closed. A `notice` (refusal or confirmation) is put first: the
 * invoke response shows it to the reviewer who tapped, and only to them.
 */
export function reviewCard(view: ReviewView, notice?: CardNotice): AdaptiveCard {
  if (!REVIEW_ID_PATTERN.test(view.reviewId)) throw new CardRenderError('the review id cannot be carried by an Action.Execute: it must be 1-255 printable ASCII characters without spaces');
  const { request } = view;
  const { agent, resource } = request;
  const closed = view.status.state === 'closed' ? view.status : undefined;
  const approvers = `${view.approval.approvers}${view.escalatedTo !== undefined ? `, escalated to ${view.escalatedTo}` : ''}`;
  const body: CardElement[] = [];
  if (notice !== undefined) {
    body.push({ type: 'Container', style: notice.tone === 'good' ? 'good' : 'attention', items: [runs(notice.text, { weight: 'Bolder' })] });
  }
  body.push(
    runs(headerText(view), { size: 'Large', weight: 'Bolder' }, 150),
    row('Agent', runs(agent.id)),
    row('On behalf of', runs(agent.onBehalfOf ?? '—')),
    row('Action', runs(request.action)),
    row('Resource', runs(`${resource.type} ${resource.id}`)),
    row('Environment', runs(request.environment)),
    row('Run / model', runs(`${agent.runId ?? '—'} / ${agent.model ?? '—'}`)),
    row('Payload SHA-256', runs(shortSha(view.payloadSha256))),
    row('Policy', runs(view.policyIds.join(', ') || '—')),
    row('Approvers', runs(`${approvers}: ${quorumProgress(view.approvals, view.approval.quorum)}`)),
    closed === undefined
      ? row('Expires', { type: 'TextBlock', text: when(view.expiresAt), wrap: true })
      : row('Decided', { type: 'TextBlock', text: when(closed.decidedAt), wrap: true }),
  );
  if (view.escalatedTo !== undefined) body.push(runs(`Escalated to ${view.escalatedTo}: the first deadline passed without a decision.`, { color: 'Warning', weight: 'Bolder' }));
  if (closed === undefined && view.quorumWarning !== undefined) body.push(runs(view.quorumWarning, { color: 'Warning' }));
  if (view.lookalikeWarning !== undefined) body.push(runs(view.lookalikeWarning, { color: 'Warning', weight: 'Bolder' }));
  body.push(
    label('Justification', { separator: true }),
    runs(request.justification),
    label('Parameters (what an approval is for)'),
    jsonRuns(request.parameters),
  );
  if (resource.attributes !== undefined && Object.keys(resource.attributes).length > 0) {
    body.push(label('Resource attributes'), jsonRuns(resource.attributes));
  }
  body.push(...outcomeElements(view), ...executionElements(view));
  body.push(runs(`Action ${view.actionId} · review ${view.reviewId}`, { isSubtle: true, size: 'Small' }, 600));
  return {
    type: 'AdaptiveCard',
    $schema: 'http://adaptivecards.io/schemas/adaptive-card.json',
    version: CARD_VERSION,
    body,
    ...(closed === undefined ? { actions: reviewActions(view.reviewId) } : {}),
    msteams: { width: 'Full' },
  };
}

/** Teams' plain-text summary of a card (notifications, the activity feed): identifiers only. */
export function cardSummary(view: ReviewView): string {
  const { agent, action, resource, environment } = view.request;
  const token = (text: string) => text.replace(/[^A-Za-z0-9._-]/g, '?').slice(0, 64);
  const what = `${token(agent.id)}: ${token(action)} on ${token(resource.type)} in ${token(environment)}`;
  return view.status.state === 'closed' ? `${OUTCOME_WORDS[view.status.outcome]}: ${what}` : `Approval needed: ${what}`;
}

/**
 * A reply in the card's thread (reminders, escalation) as a card, mentioning reviewers by their
 * Entra ID object id (`msteams.entities`, each `<at>name</at>` in a TextBlock matching one entity).
 * Names come from the directory; the text is literal.
 */
export function threadNoteCard(text: string, mentions: Array<{ aadObjectId: string; name: string }>, deadline?: string): AdaptiveCard {
  const unique = [...new Map(mentions.map((m) => [m.aadObjectId, m])).values()];
  const bad = unique.find((m) => !/^[0-9a-f-]{36}$/.test(m.aadObjectId) || !/^[a-z0-9._-]{1,64}$/.test(m.name));
  if (bad !== undefined) throw new CardRenderError('mentions come from the directory: an Entra ID object id and a member id');
  const body: CardElement[] = [];
  if (unique.length > 0) body.push({ type: 'TextBlock', wrap: true, text: unique.map((m) => `<at>${m.name}</at>`).join(' ') });
  body.push(runs(text));
  if (deadline !== undefined) body.push({ type: 'TextBlock', wrap: true, text: `Deadline: ${when(deadline)}` });
  return {
    type: 'AdaptiveCard',
    $schema: 'http://adaptivecards.io/schemas/adaptive-card.json',
    version: CARD_VERSION,
    body,
    msteams: { entities: unique.map((m) => ({ type: 'mention', text: `<at>${m.name}</at>`, mentioned: { id: m.aadObjectId, name: m.name } })) },
  };
}
