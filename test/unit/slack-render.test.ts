import type { KnownBlock } from '@slack/web-api';
import { describe, expect, it } from 'vitest';
import { ActionRequestedSchema, LIMITS, payloadSha256, type ActionRequest } from '../../shared/domain/contract.js';
import { Directory } from '../../shared/domain/directory.js';
import type { ReviewView } from '../../shared/ports/review.js';
import {
  APPROVE_ACTION_ID,
  DENY_ACTION_ID,
  DENY_MODAL_CALLBACK_ID,
  DENY_REASON_ACTION_ID,
  DENY_REASON_BLOCK_ID,
  REVIEW_ACTIONS_BLOCK_ID,
} from '../../shared/slack/block-ids.js';
import { alertMessage, denyModal, escapeMrkdwn, quarantineModal, noticeText, quorumProgress, ReviewRenderError, reviewMessage, SLACK_LIMITS, threadNote } from '../../shared/slack/render.js';
import directoryJson from '../../config/directory.json' with { type: 'json' };
import sample from '../events/db-export-prod.json' with { type: 'json' };

const directory = Directory.parse(directoryJson);
const slackUserIdOf = (id: string) => directory.member(id)?.slackUserId;
const request = ActionRequestedSchema.parse(sample.detail);

function openView(overrides: Partial<ReviewView> = {}, req: ActionRequest = request): ReviewView {
  return {
    reviewId: 'rev_01JD3V6Y8M6Q',
    actionId: req.actionId,
    request: req,
    payloadSha256: payloadSha256(req),
    policyIds: ['db-export-prod-needs-data-owners'],
    approval: { approvers: 'security', quorum: 2, timeout: 'PT30M', timeoutSeconds: 1800 },
    approvals: [{ id: 'carol', vote: 'approve', at: '2026-11-22T03:05:00.000Z' }],
    expiresAt: '2026-11-22T03:30:00.000Z',
    status: { state: 'open' },
    ...overrides,
  };
}

/** A composition text object, or a rich text block's literal `text` element. */
interface TextObject { type: 'plain_text' | 'mrkdwn' | 'text'; text: string }

/** Every text object (and rich text element) anywhere in a Block Kit structure. */
function textObjects(node: unknown, found: TextObject[] = []): TextObject[] {
  if (Array.isArray(node)) {
    for (const item of node) textObjects(item, found);
  } else if (typeof node === 'object' && node !== null) {
    const record = node as Record<string, unknown>;
    if ((record.type === 'plain_text' || record.type === 'mrkdwn' || record.type === 'text') && typeof record.text === 'string') found.push(record as unknown as TextObject);
    for (const value of Object.values(record)) textObjects(value, found);
  }
  return found;
}

// The only markup this renderer may put in mrkdwn: directory mentions and dates it computed itself.
const ALLOWED_MARKUP = [/<@U0[A-Z]+>/g, /<!date\^\d+\^\{date_short_pretty\} at \{time\}\|\d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC>/g];

function expectNoLiveMarkup(mrkdwnText: string): void {
  let rest = mrkdwnText;
  for (const pattern of ALLOWED_MARKUP) rest = rest.replace(pattern, '');
  expect(rest, `mrkdwn carries markup: ${mrkdwnText}`).not.toMatch(/[<>]/);
}

function expectWithinSlackLimits(blocks: KnownBlock[]): void {
  expect(blocks.length).toBeLessThanOrEqual(SLACK_LIMITS.blocksPerMessage);
  for (const object of textObjects(blocks)) {
    expect(object.text.length).toBeGreaterThan(0);
    expect(object.text.length).toBeLessThanOrEqual(3000);
  }
  for (const block of blocks) {
    if ('block_id' in block && block.block_id !== undefined) expect(block.block_id.length).toBeLessThanOrEqual(SLACK_LIMITS.blockId);
    switch (block.type) {
      case 'header':
        expect(block.text.text.length).toBeLessThanOrEqual(SLACK_LIMITS.headerText);
        break;
      case 'section':
        expect(block.text !== undefined || block.fields !== undefined).toBe(true);
        if (block.text) expect(block.text.text.length).toBeLessThanOrEqual(SLACK_LIMITS.sectionText);
        expect((block.fields ?? []).length).toBeLessThanOrEqual(SLACK_LIMITS.sectionFields);
        for (const field of block.fields ?? []) expect(field.text.length).toBeLessThanOrEqual(SLACK_LIMITS.fieldText);
        break;
      case 'context':
        expect(block.elements.length).toBeLessThanOrEqual(SLACK_LIMITS.contextElements);
        break;
      case 'actions':
        for (const element of block.elements) {
          if (element.type !== 'button') continue;
          expect(element.text.text.length).toBeLessThanOrEqual(SLACK_LIMITS.buttonText);
          expect((element.value ?? '').length).toBeLessThanOrEqual(SLACK_LIMITS.buttonValue);
          expect((element.action_id ?? '').length).toBeLessThanOrEqual(SLACK_LIMITS.actionId);
        }
        break;
      default:
        break;
    }
  }
}

const HOSTILE = '<!channel> <!here> <@U0CAROL> <#C0SECURITY> <https://evil.example|click here> *bold* _it_ ~gone~ `code` :rotating_light: & &amp; \u202Eevil\u200B\u061C\u{E0041}';

function hostileRequest(): ActionRequest {
  // Not everything here would pass the contract's patterns: the renderer must be safe regardless.
  return {
    ...request,
    actionId: `act-${HOSTILE}`,
    agent: { id: `agent ${HOSTILE}`, runId: `run ${HOSTILE}`, model: `model ${HOSTILE}`, onBehalfOf: `obo ${HOSTILE}` },
    action: `db.export ${HOSTILE}`,
    resource: { type: `Database${HOSTILE}`, id: `id ${HOSTILE}`, attributes: { [`k${HOSTILE}`]: HOSTILE } },
    environment: `prod ${HOSTILE}`,
    parameters: { [HOSTILE]: HOSTILE, nested: [HOSTILE] },
    justification: `because ${HOSTILE}`,
  };
}

describe('review message', () => {
  it("shows the sample request's <!channel> and fake link only as plain text, never in mrkdwn", () => {
    expect(request.justification).toContain('<!channel>');
    const { text, blocks } = reviewMessage(openView(), { slackUserIdOf });
    const objects = textObjects(blocks);
    for (const object of objects.filter((o) => o.type === 'mrkdwn')) {
      expectNoLiveMarkup(object.text);
      expect(object.text).not.toContain('Quarterly churn');
    }
    expectNoLiveMarkup(text);
    // The justification is there, literally, in a plain_text object.
    expect(objects).toContainEqual({ type: 'plain_text', text: request.justification, emoji: false });
  });

  it('renders every agent-written field only as plain_text or literal rich text, whatever it contains', () => {
    const hostile = hostileRequest();
    for (const view of [
      openView({}, hostile),
      openView({ escalatedTo: 'security-leads' }, hostile),
      openView({ status: { state: 'closed', outcome: 'rejected', reason: `denied: ${HOSTILE}`, reviewers: [{ id: 'dan', vote: 'deny', at: '2026-11-22T03:10:00Z', comment: HOSTILE }], decidedAt: '2026-11-22T03:10:00Z' } }, hostile),
    ]) {
      const { text, blocks } = reviewMessage(view, { slackUserIdOf });
      const objects = textObjects(blocks);
      for (const object of objects.filter((o) => o.type === 'mrkdwn')) {
        expectNoLiveMarkup(object.text);
        expect(object.text).not.toMatch(/evil|bold|gone|rotating_light: &|agent |obo |run |model /);
        expect(object).toMatchObject({ verbatim: true });
      }
      expectNoLiveMarkup(text);
      expect(text).toMatch(/^[A-Za-z0-9 .,:?()…_-]+$/);
      for (const object of objects.filter((o) => o.type === 'plain_text')) expect(object).toMatchObject({ emoji: false });
      // Invisible and bidi characters are made visible instead of being passed on.
      expect(JSON.stringify(blocks)).not.toMatch(/[\u202E\u200B\u061C]|\u{E0041}/u);
      expect(objects.some((o) => o.text.includes('[U+202E]evil[U+200B][U+061C][U+E0041]'))).toBe(true);
      expectWithinSlackLimits(blocks);
    }
  });

  it('shows the whole context a reviewer needs', () => {
    const view = openView();
    const { blocks } = reviewMessage(view, { slackUserIdOf });
    const texts = textObjects(blocks).map((o) => o.text);
    const all = texts.join('\n');
    expect(blocks[0]).toEqual({ type: 'header', text: { type: 'plain_text', text: 'Approval needed: db.export in prod', emoji: false } });
    for (const expected of ['billing-agent', 'alice@example.com', 'db.export', 'Database customers', 'prod', 'run-81 / frontier-large', 'db-export-prod-needs-data-owners']) {
      expect(texts).toContain(expected);
    }
    expect(texts).toContain(`${view.payloadSha256.slice(0, 12)}…`);
    expect(all).not.toContain(view.payloadSha256);
    expect(texts).toContain('security: 1 of 2 approvals: carol');
    expect(texts).toContain(JSON.stringify(request.parameters, null, 2));
    // The parameters are a monospaced block: Slack's preformatted rich text, whose text is literal.
    expect(blocks).toContainEqual({ type: 'rich_text', elements: [{ type: 'rich_text_preformatted', elements: [{ type: 'text', text: JSON.stringify(request.parameters, null, 2) }] }] });
    const expiresEpoch = Date.parse(view.expiresAt) / 1000;
    expect(texts).toContain(`<!date^${expiresEpoch}^{date_short_pretty} at {time}|2026-11-22 03:30 UTC>`);
  });

  it('labels rows with bold mrkdwn and values with plain_text', () => {
    const { blocks } = reviewMessage(openView());
    const rows = blocks.filter((b): b is Extract<KnownBlock, { type: 'section' }> => b.type === 'section' && b.fields !== undefined);
    expect(rows).toHaveLength(2);
    const fields = rows[0]?.fields ?? [];
    expect(fields.slice(0, 4)).toEqual([
      { type: 'mrkdwn', text: '*Agent*', verbatim: true },
      { type: 'plain_text', text: 'billing-agent', emoji: false },
      { type: 'mrkdwn', text: '*On behalf of*', verbatim: true },
      { type: 'plain_text', text: 'alice@example.com', emoji: false },
    ]);
  });

  it('gives Approve, Deny and "Block this agent" buttons that carry the review id and nothing else, while open', () => {
    const view = openView();
    const { blocks } = reviewMessage(view);
    const actions = blocks.filter((b) => b.type === 'actions');
    expect(actions).toEqual([
      {
        type: 'actions',
        block_id: REVIEW_ACTIONS_BLOCK_ID,
        elements: [
          { type: 'button', action_id: APPROVE_ACTION_ID, text: { type: 'plain_text', text: 'Approve', emoji: false }, style: 'primary', value: view.reviewId },
          { type: 'button', action_id: DENY_ACTION_ID, text: { type: 'plain_text', text: 'Deny', emoji: false }, style: 'danger', value: view.reviewId },
          { type: 'button', action_id: 'block_agent', text: { type: 'plain_text', text: 'Block this agent', emoji: false }, value: view.reviewId },
        ],
      },
    ]);
  });

  it('refuses a review id a button could not carry back', () => {
    for (const reviewId of ['', 'has space', 'x'.repeat(256), 'ünïcode']) {
      expect(() => reviewMessage(openView({ reviewId }))).toThrow(ReviewRenderError);
      expect(() => denyModal(openView({ reviewId }))).toThrow(ReviewRenderError);
      expect(() => quarantineModal(openView({ reviewId }))).toThrow(ReviewRenderError);
    }
  });

  it('keeps within Slack limits with parameters, justification and attributes at their contract maximum', () => {
    const big = 'x'.repeat(1000);
    const parameters: Record<string, string> = {};
    for (let i = 0; i < 60; i += 1) parameters[`p${i}`] = big;
    const huge: ActionRequest = {
      ...request,
      agent: { id: 'billing-agent', runId: 'r'.repeat(LIMITS.freeTextMaxChars), model: 'm'.repeat(LIMITS.freeTextMaxChars), onBehalfOf: 'o'.repeat(LIMITS.freeTextMaxChars) },
      resource: { type: 'Database', id: 'i'.repeat(LIMITS.resourceIdMaxChars), attributes: Object.fromEntries(Array.from({ length: 15 }, (_, i) => [`a${i}`, 'v'.repeat(250)])) },
      parameters,
      justification: 'j'.repeat(LIMITS.justificationMaxChars),
    };
    const view = openView({ approvals: Array.from({ length: 40 }, (_, i) => ({ id: `reviewer-${i}`, vote: 'approve' as const, at: '2026-11-22T03:05:00Z' })), policyIds: Array.from({ length: 30 }, (_, i) => `policy-${i}`) }, huge);
    const { blocks } = reviewMessage(view);
    expectWithinSlackLimits(blocks);
    const texts = textObjects(blocks).map((o) => o.text);
    // Too long to show whole: every parameter is listed by its key, each value cut and marked.
    const fullParameters = JSON.stringify(parameters, null, 2);
    const parametersText = texts.find((t) => t.startsWith(`Too long to show whole (${Buffer.byteLength(fullParameters)} bytes as JSON)`));
    for (let i = 0; i < 60; i += 1) expect(parametersText).toMatch(new RegExp(`\\np${i}: "x+ … \\[cut: 1002 characters\\]`));
    expect(texts.find((t) => t.startsWith('jjj'))).toMatch(new RegExp(`… truncated \\(${LIMITS.justificationMaxChars} bytes\\)$`));

    const closed = reviewMessage({ ...view, status: { state: 'closed', outcome: 'approved', reason: 'r'.repeat(5000), reviewers: view.approvals.map((v) => ({ ...v, comment: 'c'.repeat(500) })), decidedAt: '2026-11-22T03:20:00Z' } });
    expectWithinSlackLimits(closed.blocks);
  });

  it('shows the parameter that matters when a long one comes first: every key is listed, long values cut and marked', () => {
    const { blocks } = reviewMessage(openView({}, { ...request, parameters: { content: 'x'.repeat(3000), path: '/srv/.ssh/authorized_keys' } }));
    const shown = textObjects(blocks).find((o) => o.text.startsWith('Too long to show whole'));
    expect(shown?.text).toContain('\npath: "/srv/.ssh/authorized_keys"');
    expectWithinSlackLimits(blocks);
  });

  it('does not split a surrogate pair when it truncates', () => {
    const emoji = '😀'.repeat(2000);
    const { blocks } = reviewMessage(openView({}, { ...request, justification: emoji }));
    const shown = textObjects(blocks).find((o) => o.text.startsWith('😀'));
    expect(shown?.text).toMatch(/^(😀)+\n… truncated \(8000 bytes\)$/u);
  });

  it('warns, as inert text, while open when the quorum cannot be reached; not once closed', () => {
    const warning = 'Quorum cannot be reached: 1 more approval needed from "platform", and nobody may still vote (<!channel> owns the agent).';
    const open = reviewMessage(openView({ quorumWarning: warning }));
    expect(textObjects(open.blocks).map((o) => o.text)).toContain(':warning: Quorum cannot be reached: 1 more approval needed from "platform", and nobody may still vote (&lt;!channel&gt; owns the agent).');
    expect(JSON.stringify(reviewMessage(openView()).blocks)).not.toContain('Quorum cannot be reached');
    const closed = reviewMessage(openView({ quorumWarning: warning, status: { state: 'closed', outcome: 'expired', reason: 'expired', reviewers: [], decidedAt: '2026-11-22T04:00:00Z' } }));
    expect(JSON.stringify(closed.blocks)).not.toContain('Quorum cannot be reached');
  });

  it('names the escalation when the review was escalated', () => {
    const { text, blocks } = reviewMessage(openView({ escalatedTo: 'security-leads' }));
    expect(blocks[0]).toMatchObject({ type: 'header', text: { text: 'Escalated: db.export in prod needs approval' } });
    expect(textObjects(blocks)).toContainEqual({ type: 'mrkdwn', text: ':rotating_light: *Escalated to security-leads*: the first deadline passed without a decision.', verbatim: true });
    expect(textObjects(blocks).map((o) => o.text)).toContain('security, escalated to security-leads: 1 of 2 approvals: carol');
    expect(text).toBe('Escalated, approval needed: billing-agent: db.export on Database in prod (1 of 2 approvals: carol)');
  });

  it('shows an approved review with who decided and when, and no buttons', () => {
    const decidedAt = '2026-11-22T03:12:00.000Z';
    const view = openView({
      approvals: [{ id: 'carol', vote: 'approve', at: '2026-11-22T03:05:00Z' }, { id: 'dan', vote: 'approve', at: decidedAt }],
      status: { state: 'closed', outcome: 'approved', reason: 'quorum reached: 2 of 2 approvals', reviewers: [{ id: 'carol', vote: 'approve', at: '2026-11-22T03:05:00Z' }, { id: 'dan', vote: 'approve', at: decidedAt }], decidedAt },
    });
    const { text, blocks } = reviewMessage(view, { slackUserIdOf });
    expect(blocks.some((b) => b.type === 'actions')).toBe(false);
    expect(blocks[0]).toMatchObject({ type: 'header', text: { text: 'Approved: db.export in prod' } });
    const epoch = Date.parse(decidedAt) / 1000;
    expect(textObjects(blocks)).toContainEqual({ type: 'mrkdwn', text: `:white_check_mark: *Approved* by <@U0CAROL>, <@U0DAN> · <!date^${epoch}^{date_short_pretty} at {time}|2026-11-22 03:12 UTC>`, verbatim: true });
    expect(textObjects(blocks).map((o) => o.text)).toContain('Reason: quorum reached: 2 of 2 approvals');
    expect(text).toBe('Approved: billing-agent: db.export on Database in prod');
  });

  describe('after an approval: its window and the execution', () => {
    const decidedAt = '2026-11-22T03:12:00.000Z';
    const validUntil = '2026-11-22T03:27:00.000Z';
    const approved = (execution: NonNullable<ReviewView['execution']>) => openView({
      status: { state: 'closed', outcome: 'approved', reason: 'quorum reached', reviewers: [{ id: 'dan', vote: 'approve', at: decidedAt }], decidedAt },
      execution,
    });
    const dateToken = (iso: string) => `<!date^${Date.parse(iso) / 1000}^{date_short_pretty} at {time}|${iso.slice(0, 16).replace('T', ' ')} UTC>`;

    it('says until when it may run while it has not', () => {
      const { blocks } = reviewMessage(approved({ validUntil, summary: null, expiredUnused: false }), { slackUserIdOf });
      expect(textObjects(blocks)).toContainEqual({ type: 'mrkdwn', text: `:stopwatch: Valid until ${dateToken(validUntil)}, once; not executed yet`, verbatim: true });
    });

    it('says "approved, not executed (expired unused)" once the window passed', () => {
      const { blocks } = reviewMessage(approved({ validUntil, summary: null, expiredUnused: true }), { slackUserIdOf });
      expect(textObjects(blocks)).toContainEqual({ type: 'mrkdwn', text: `:hourglass: *Approved, not executed* (expired unused at ${dateToken(validUntil)})`, verbatim: true });
    });

    it('shows who executed it, when, and how it went, with the agent\'s words as plain text only', () => {
      const startedAt = '2026-11-22T03:14:00.000Z';
      const { blocks } = reviewMessage(approved({
        validUntil,
        expiredUnused: false,
        summary: { status: 'failed', agentId: 'billing-agent', startedAt, finishedAt: '2026-11-22T03:14:30.000Z', reportedAt: '2026-11-22T03:14:31.000Z', resultSummary: null, resultSha256: null, error: { code: 'AccessDenied', message: 'no <!channel> access to *customers*' } },
      }), { slackUserIdOf });
      expect(textObjects(blocks)).toContainEqual({ type: 'mrkdwn', text: `:x: *Executed* by billing-agent at ${dateToken(startedAt)}, failed`, verbatim: true });
      const details = textObjects(blocks).find((o) => o.text.startsWith('Error AccessDenied'));
      expect(details).toEqual({ type: 'plain_text', text: 'Error AccessDenied: no <!channel> access to *customers*\nFinished 2026-11-22 03:14 UTC', emoji: false });
    });
  });

  it('shows a rejected review with the denier and the comment, and no buttons', () => {
    const view = openView({ status: { state: 'closed', outcome: 'rejected', reason: 'denied by dan', reviewers: [{ id: 'carol', vote: 'approve', at: '2026-11-22T03:05:00Z' }, { id: 'dan', vote: 'deny', at: '2026-11-22T03:09:00Z', comment: 'not during the freeze <!channel>' }], decidedAt: '2026-11-22T03:09:00Z' } });
    const { blocks } = reviewMessage(view, { slackUserIdOf });
    expect(blocks.some((b) => b.type === 'actions')).toBe(false);
    const objects = textObjects(blocks);
    expect(objects.find((o) => o.type === 'mrkdwn' && o.text.includes('*Rejected*'))?.text).toMatch(/^:no_entry: \*Rejected\* by <@U0DAN> · <!date\^/);
    expect(objects).toContainEqual({ type: 'plain_text', text: 'Votes\ncarol approved at 2026-11-22 03:05 UTC\ndan denied at 2026-11-22 03:09 UTC: not during the freeze <!channel>', emoji: false });
  });

  it('shows an expired review with the approvals it had, and no buttons', () => {
    const view = openView({ status: { state: 'closed', outcome: 'expired', reason: 'no decision before the deadline', reviewers: [{ id: 'carol', vote: 'approve', at: '2026-11-22T03:05:00Z' }], decidedAt: '2026-11-22T04:00:00Z' } });
    const { blocks } = reviewMessage(view, { slackUserIdOf });
    expect(blocks.some((b) => b.type === 'actions')).toBe(false);
    expect(textObjects(blocks).find((o) => o.text.startsWith(':hourglass:'))?.text).toMatch(/^:hourglass: \*Expired\* <!date\^\d+\^\{date_short_pretty\} at \{time\}\|2026-11-22 04:00 UTC> with 1 of 2 approvals: carol$/);
  });

  it('names reviewers unknown to the directory by id, escaped, not as mentions', () => {
    const view = openView({ status: { state: 'closed', outcome: 'approved', reason: 'ok', reviewers: [{ id: 'ci-<bot>', vote: 'approve', at: '2026-11-22T03:05:00Z' }], decidedAt: '2026-11-22T03:05:00Z' } });
    const headline = textObjects(reviewMessage(view, { slackUserIdOf }).blocks).find((o) => o.text.includes('*Approved*'));
    expect(headline?.text).toContain('by ci-&lt;bot&gt; ·');
  });

  it('falls back to plain text for an expiry that is not a date', () => {
    const { blocks } = reviewMessage(openView({ expiresAt: 'soon <!channel>' }));
    const objects = textObjects(blocks);
    expect(objects).toContainEqual({ type: 'mrkdwn', text: 'soon &lt;!channel&gt;', verbatim: true });
  });
});

describe('quorum progress', () => {
  it('reads as a reviewer would say it', () => {
    expect(quorumProgress([], 1)).toBe('0 of 1 approval');
    expect(quorumProgress([{ id: 'carol', vote: 'approve', at: '' }], 2)).toBe('1 of 2 approvals: carol');
  });
});

describe('deny modal', () => {
  it('asks for a required reason and carries the review id in private_metadata', () => {
    const view = openView({}, hostileRequest());
    const modal = denyModal(view);
    expect(modal).toMatchObject({ type: 'modal', callback_id: DENY_MODAL_CALLBACK_ID, private_metadata: view.reviewId, submit: { text: 'Deny' } });
    expect(modal.title.text.length).toBeLessThanOrEqual(SLACK_LIMITS.modalTitle);
    expect(modal.submit!.text.length).toBeLessThanOrEqual(SLACK_LIMITS.modalButton);
    const input = modal.blocks.find((b) => b.type === 'input');
    expect(input).toMatchObject({ block_id: DENY_REASON_BLOCK_ID, optional: false, element: { type: 'plain_text_input', action_id: DENY_REASON_ACTION_ID, multiline: true, max_length: 3000 } });
    for (const object of textObjects(modal.blocks).filter((o) => o.type === 'mrkdwn')) expectNoLiveMarkup(object.text);
    expectWithinSlackLimits(modal.blocks as KnownBlock[]);
  });
});

describe('alerts', () => {
  it('carry agent text only as plain_text, with an escaped notification: no formatting, link or mention', () => {
    const text = 'Execution violation [no_decision]: agent a reported executing x (db.query on Database *prod* <!channel> https://evil.example in prod).';
    expect(alertMessage(text)).toEqual({
      text: escapeMrkdwn(text),
      blocks: [{ type: 'section', text: { type: 'plain_text', text, emoji: false } }],
    });
  });
});

describe('thread notes and notices', () => {
  it('mentions the given reviewers and escapes the text', () => {
    expect(threadNote('Reminder: 15 minutes left <!channel>', ['U0CAROL', 'U0DAN', 'U0CAROL'])).toEqual({ text: '<@U0CAROL> <@U0DAN> Reminder: 15 minutes left &lt;!channel&gt;' });
    expect(threadNote('No one to mention', [])).toEqual({ text: 'No one to mention' });
  });

  it('shows a deadline as Slack\'s date token, which each reader sees in their own time zone, with a UTC fallback', () => {
    expect(threadNote('Reminder: 1 more approval needed.', ['U0DAN'], '2026-11-22T04:30:01.000Z')).toEqual({
      text: `<@U0DAN> Reminder: 1 more approval needed. Deadline: <!date^1795321801^{date_short_pretty} at {time}|2026-11-22 04:30 UTC>.`,
    });
  });

  it('refuses a mention that is not a Slack user id', () => {
    expect(() => threadNote('hi', ['<!channel>'])).toThrow(ReviewRenderError);
  });

  it('escapes ephemeral notices', () => {
    expect(noticeText('You cannot approve a request made on your behalf <@U0ALICE> & co')).toBe('You cannot approve a request made on your behalf &lt;@U0ALICE&gt; &amp; co');
  });

  it('escapes &, < and > and nothing else', () => {
    expect(escapeMrkdwn('a & b <c> *d*')).toBe('a &amp; b &lt;c&gt; *d*');
  });
});
