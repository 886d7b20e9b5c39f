import type { ActionsBlock, InputBlock } from '@slack/web-api';
import { describe, expect, it } from 'vitest';
import { ActionRequestedSchema, payloadSha256 } from '../../shared/domain/contract.js';
import type { ReviewView } from '../../shared/ports/review.js';
import { InteractionParseError, parseInteraction } from '../../shared/slack/interactions.js';
import { denyModal, quarantineModal, reviewMessage } from '../../shared/slack/render.js';
import sample from '../events/db-export-prod.json' with { type: 'json' };

const request = ActionRequestedSchema.parse(sample.detail);
const view: ReviewView = {
  reviewId: 'rev_01JD3V6Y8M6Q',
  actionId: request.actionId,
  request,
  payloadSha256: payloadSha256(request),
  policyIds: ['db-export-prod-needs-data-owners'],
  approval: { approvers: 'data-owners', quorum: 1, timeout: 'PT30M', timeoutSeconds: 1800 },
  approvals: [],
  expiresAt: '2026-11-22T03:30:00.000Z',
  status: { state: 'open' },
};

const form = (payload: unknown) => new URLSearchParams({ payload: JSON.stringify(payload) }).toString();

/** A block_actions payload shaped as Slack sends it for a button in a channel message. */
function blockActions(action: { action_id: string; value?: string; block_id?: string }, overrides: Record<string, unknown> = {}) {
  return {
    type: 'block_actions',
    user: { id: 'U0CAROL', username: 'carol', name: 'carol', team_id: 'T0LOCAL' },
    api_app_id: 'A0COUNTERSIGN',
    token: 'legacy-verification-token',
    container: { type: 'message', message_ts: '1795316400.000100', channel_id: 'C0SECURITY', is_ephemeral: false },
    trigger_id: '1795316401.1.abcdef0123456789',
    team: { id: 'T0LOCAL', domain: 'countersign-local' },
    enterprise: null,
    is_enterprise_install: false,
    channel: { id: 'C0SECURITY', name: 'approvals-security' },
    message: { type: 'message', ts: '1795316400.000100', text: 'Approval needed', blocks: [] },
    state: { values: {} },
    response_url: 'https://hooks.slack.com/actions/T0LOCAL/1/abc',
    actions: [{ type: 'button', block_id: 'countersign_review_actions', text: { type: 'plain_text', text: 'Approve' }, action_ts: '1795316401.000200', ...action }],
    ...overrides,
  };
}

/** A view_submission payload for the deny modal, with the given state values. */
function viewSubmission(values: Record<string, Record<string, { type: string; value?: string | null }>>, viewOverrides: Record<string, unknown> = {}, overrides: Record<string, unknown> = {}) {
  return {
    type: 'view_submission',
    team: { id: 'T0LOCAL', domain: 'countersign-local' },
    user: { id: 'U0DAN', username: 'dan', name: 'dan', team_id: 'T0LOCAL' },
    api_app_id: 'A0COUNTERSIGN',
    token: 'legacy-verification-token',
    trigger_id: '1795316402.1.fedcba',
    view: {
      id: 'V0DENY',
      team_id: 'T0LOCAL',
      type: 'modal',
      callback_id: 'countersign_deny',
      private_metadata: view.reviewId,
      state: { values },
      hash: '1795316402.abc',
      app_id: 'A0COUNTERSIGN',
      ...viewOverrides,
    },
    response_urls: [],
    is_enterprise_install: false,
    enterprise: null,
    ...overrides,
  };
}

describe('parseInteraction: block_actions', () => {
  it('parses a click on the rendered Approve, Deny and Block buttons back to the review id', () => {
    const actions = reviewMessage(view).blocks.find((b): b is ActionsBlock => b.type === 'actions');
    for (const button of actions?.elements ?? []) {
      if (button.type !== 'button') throw new Error('expected buttons only');
      const parsed = parseInteraction(form(blockActions({ action_id: button.action_id!, value: button.value!, block_id: actions!.block_id! })));
      expect(parsed).toEqual({
        type: 'block_actions',
        teamId: 'T0LOCAL',
        appId: 'A0COUNTERSIGN',
        userId: 'U0CAROL',
        triggerId: '1795316401.1.abcdef0123456789',
        actionId: button.action_id,
        reviewId: view.reviewId,
        channelId: 'C0SECURITY',
        messageTs: '1795316400.000100',
      });
    }
    expect(actions?.elements).toHaveLength(3);
  });

  it('takes channel and ts from channel/message when there is no container', () => {
    const payload = blockActions({ action_id: 'approve', value: 'rev-1' }, { container: undefined });
    expect(parseInteraction(form(payload))).toMatchObject({ channelId: 'C0SECURITY', messageTs: '1795316400.000100' });
    const bare = blockActions({ action_id: 'approve', value: 'rev-1' }, { container: undefined, channel: undefined, message: undefined });
    const parsed = parseInteraction(form(bare));
    expect(parsed).not.toHaveProperty('channelId');
    expect(parsed).not.toHaveProperty('messageTs');
  });

  it("uses the user's team when Slack sends team: null (org-wide install)", () => {
    expect(parseInteraction(form(blockActions({ action_id: 'deny', value: 'rev-1' }, { team: null })))).toMatchObject({ teamId: 'T0LOCAL' });
    const noTeam = blockActions({ action_id: 'deny', value: 'rev-1' }, { team: null, user: { id: 'U0CAROL' } });
    expect(() => parseInteraction(form(noTeam))).toThrow(/names no team/);
  });

  it('reports another button as other, not as a vote', () => {
    expect(parseInteraction(form(blockActions({ action_id: 'details', value: 'rev-1' })))).toEqual({ type: 'other', kind: 'block_actions:details' });
  });

  it('refuses a vote button without a usable review id', () => {
    expect(() => parseInteraction(form(blockActions({ action_id: 'approve' })))).toThrow(/approve button's value is missing/);
    expect(() => parseInteraction(form(blockActions({ action_id: 'approve', value: 'two words' })))).toThrow(InteractionParseError);
    expect(() => parseInteraction(form(blockActions({ action_id: 'deny', value: 'x'.repeat(256) })))).toThrow(/not a review id/);
  });

  it('refuses a block_actions payload missing what Slack always sends', () => {
    expect(() => parseInteraction(form(blockActions({ action_id: 'approve', value: 'r' }, { trigger_id: undefined })))).toThrow(/trigger_id/);
    expect(() => parseInteraction(form(blockActions({ action_id: 'approve', value: 'r' }, { api_app_id: 'not an id' })))).toThrow(/api_app_id/);
    expect(() => parseInteraction(form(blockActions({ action_id: 'approve', value: 'r' }, { actions: [] })))).toThrow(/actions/);
    expect(() => parseInteraction(form(blockActions({ action_id: 'approve', value: 'r' }, { user: undefined })))).toThrow(/user/);
  });
});

describe('parseInteraction: view_submission', () => {
  function stateFromModal(reason: string | null) {
    const input = denyModal(view).blocks.find((b): b is InputBlock => b.type === 'input');
    if (input?.block_id === undefined || input.element.type !== 'plain_text_input' || input.element.action_id === undefined) throw new Error('the deny modal has no reason input');
    return { [input.block_id]: { [input.element.action_id]: { type: 'plain_text_input', value: reason } } };
  }

  it("parses the rendered deny modal's submission to the review id and the reason", () => {
    const modal = denyModal(view);
    const parsed = parseInteraction(form(viewSubmission(stateFromModal('  not during the freeze \n'), { callback_id: modal.callback_id, private_metadata: modal.private_metadata })));
    expect(parsed).toEqual({ type: 'view_submission', teamId: 'T0LOCAL', appId: 'A0COUNTERSIGN', userId: 'U0DAN', reviewId: view.reviewId, reason: 'not during the freeze' });
  });

  it("parses the rendered quarantine modal's submission to the review id and the reason, and refuses a blank one on its input", () => {
    const modal = quarantineModal(view);
    const input = modal.blocks.find((b): b is InputBlock => b.type === 'input');
    if (input?.block_id === undefined || input.element.type !== 'plain_text_input' || input.element.action_id === undefined) throw new Error('the quarantine modal has no reason input');
    const submit = (reason: string) => form(viewSubmission({ [input.block_id!]: { [input.element.action_id!]: { type: 'plain_text_input', value: reason } } }, { callback_id: modal.callback_id, private_metadata: modal.private_metadata }));
    expect(parseInteraction(submit(' looping on exports '))).toEqual({ type: 'quarantine_submission', teamId: 'T0LOCAL', appId: 'A0COUNTERSIGN', userId: 'U0DAN', reviewId: view.reviewId, reason: 'looping on exports' });
    expect(() => parseInteraction(submit('  '))).toThrow(expect.objectContaining({ name: 'InteractionParseError', blockId: input.block_id, message: 'a quarantine needs a reason: the reason is empty' }));
  });

  it('refuses a blank reason, naming the input block so the modal can show the error', () => {
    for (const reason of ['   ', null]) {
      const error = (() => {
        try {
          parseInteraction(form(viewSubmission(stateFromModal(reason))));
        } catch (caught) {
          return caught;
        }
        return undefined;
      })();
      expect(error).toBeInstanceOf(InteractionParseError);
      expect(error).toMatchObject({ name: 'InteractionParseError', blockId: 'countersign_deny_reason', message: expect.stringMatching(/reason is empty/) });
    }
  });

  it('refuses a reason that is not valid Unicode (a lone surrogate) on its input, in the deny and the quarantine modal', () => {
    expect(() => parseInteraction(form(viewSubmission(stateFromModal('not now \uD800'))))).toThrow(expect.objectContaining({ name: 'InteractionParseError', blockId: 'countersign_deny_reason', message: 'the reason must be valid Unicode: it has a lone surrogate (half of a UTF-16 pair)' }));
    const modal = quarantineModal(view);
    const input = modal.blocks.find((b): b is InputBlock => b.type === 'input');
    if (input?.block_id === undefined || input.element.type !== 'plain_text_input' || input.element.action_id === undefined) throw new Error('the quarantine modal has no reason input');
    const state = { [input.block_id]: { [input.element.action_id]: { type: 'plain_text_input', value: '\uDC00 looping' } } };
    expect(() => parseInteraction(form(viewSubmission(state, { callback_id: modal.callback_id, private_metadata: modal.private_metadata })))).toThrow(expect.objectContaining({ blockId: input.block_id, message: expect.stringContaining('lone surrogate') }));
  });

  it('refuses a submission without the reason input or the review id', () => {
    expect(() => parseInteraction(form(viewSubmission({})))).toThrow(/no countersign_deny_reason\.reason input/);
    expect(() => parseInteraction(form(viewSubmission(stateFromModal('no'), { private_metadata: '' })))).toThrow(/private_metadata/);
    expect(() => parseInteraction(form(viewSubmission(stateFromModal('no'), { private_metadata: undefined })))).toThrow(/private_metadata is missing/);
  });

  it('reports a submission of another modal as other', () => {
    expect(parseInteraction(form(viewSubmission({}, { callback_id: 'something_else' })))).toEqual({ type: 'other', kind: 'view_submission:something_else' });
  });
});

describe('parseInteraction: the envelope', () => {
  it('reports interactions it does not handle as other', () => {
    expect(parseInteraction(form({ type: 'view_closed', view: {} }))).toEqual({ type: 'other', kind: 'view_closed' });
    expect(parseInteraction(form({ type: 'shortcut' }))).toEqual({ type: 'other', kind: 'shortcut' });
  });

  it('says what is wrong with a body that is not an interaction', () => {
    expect(() => parseInteraction('')).toThrow(/no "payload" field/);
    expect(() => parseInteraction('{"type":"block_actions"}')).toThrow(/no "payload" field/);
    expect(() => parseInteraction('payload=%7Bnot-json')).toThrow(/not JSON/);
    expect(() => parseInteraction(`payload=${encodeURIComponent('[1]')}`)).toThrow(/must be a JSON object/);
    expect(() => parseInteraction(form({ actions: [] }))).toThrow(/no "type"/);
  });
});
