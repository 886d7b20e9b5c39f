import type { ApiResponse } from '../api/decision-api.js';
import { InteractionParseError, parseInteraction } from '../slack/interactions.js';
import { verifySlackSignature } from '../slack/verify-signature.js';
import { QUARANTINE_REASON_BLOCK_ID } from '../slack/block-ids.js';
import type { AgentGuard } from '../ports/agent-guard.js';
import { castVote, type CastVoteResult } from './cast-vote.js';
import { authority, quarantineAgent } from './quarantine-agent.js';
import { ReviewServiceError, type ReviewDeps } from './review-deps.js';
import { reviewViewOf } from './review-view.js';

/**
 * A Slack interaction after its signature was checked and its payload parsed (the shape of
 * `parseInteraction` in shared/slack/interactions.ts, restated so the review service does not
 * depend on the parser).
 */
export type SlackInteraction =
  | { type: 'block_actions'; teamId: string; appId: string; userId: string; triggerId: string; actionId: 'approve' | 'deny' | 'block_agent'; reviewId: string; channelId?: string; messageTs?: string }
  | { type: 'view_submission'; teamId: string; appId: string; userId: string; reviewId: string; reason: string }
  | { type: 'quarantine_submission'; teamId: string; appId: string; userId: string; reviewId: string; reason: string }
  | { type: 'other'; kind?: string };

export interface InteractionAnswer {
  response: ApiResponse;
  /** What happened, for the handler's log line. Never holds a token. */
  log: Record<string, unknown>;
}

const JSON_HEADERS = { 'content-type': 'application/json', 'cache-control': 'no-store' };

/** Slack only needs a 200 within 3 seconds; the body is empty for block_actions. */
export function ack(): ApiResponse {
  return { statusCode: 200, headers: {}, body: '' };
}

export function jsonResponse(statusCode: number, body: unknown): ApiResponse {
  return { statusCode, headers: JSON_HEADERS, body: JSON.stringify(body) };
}

export function errorResponse(statusCode: number, error: string, message: string): ApiResponse {
  return jsonResponse(statusCode, { error, message });
}

/** `view_submission` answers: close the modal, or show an error under one of its inputs. */
export function clearModal(): ApiResponse {
  return jsonResponse(200, { response_action: 'clear' });
}

export function modalErrors(blockId: string, message: string): ApiResponse {
  return jsonResponse(200, { response_action: 'errors', errors: { [blockId]: message } });
}

function autoQuarantineLog(step: Extract<CastVoteResult, { status: 'recorded' }>['autoQuarantine']): Record<string, unknown> {
  if (step === undefined || step === 'failed') return step === undefined ? {} : { autoQuarantine: 'failed' };
  if (step.status !== 'quarantined') return { autoQuarantine: step.status };
  const outcome = step.outcome;
  return { autoQuarantine: outcome.status, ...(outcome.status === 'quarantined' ? { quarantinedBy: outcome.quarantine.by, quarantineClosed: outcome.closedActionIds, quarantineLeftOpen: outcome.leftOpenActionIds, quarantineWarnings: outcome.warnings } : {}) };
}

/** What a vote's outcome looks like in a handler's log line (Slack's and Teams'). Never holds a token. */
export function castVoteSummary(result: CastVoteResult): Record<string, unknown> {
  switch (result.status) {
    case 'recorded':
      return { status: result.status, actionId: result.actionId, reviewer: result.vote.id, vote: result.vote.vote, approvals: result.approvals, quorum: result.quorum, closed: result.closed?.outcome ?? null, callback: result.callback, warnings: result.warnings, ...autoQuarantineLog(result.autoQuarantine) };
    case 'refused':
      return { status: result.status, actionId: result.actionId, reviewer: result.reviewerId, rule: result.rule };
    case 'modal_opened':
      return { status: result.status, actionId: result.actionId };
    case 'not_found':
      return { status: result.status, reviewId: result.reviewId };
  }
}

/**
 * Answers one verified, parsed interaction: checks it comes from the directory's Slack team and
 * app, then Approve → a vote; Deny → the rules, then the deny modal; the modal's submission → the
 * deny with its reason. A refusal is shown to the reviewer as an ephemeral message (and recorded).
 */
export async function answerInteraction(interaction: SlackInteraction, deps: ReviewDeps & { guard?: AgentGuard }): Promise<InteractionAnswer> {
  if (interaction.type === 'other') return { response: ack(), log: { status: 'ignored', kind: interaction.kind ?? 'unknown' } };

  const slack = deps.directory.data.slack;
  if (interaction.teamId !== slack.teamId || interaction.appId !== slack.appId) {
    return {
      response: errorResponse(401, 'UnknownSlackApp', `this endpoint serves Slack team ${slack.teamId}, app ${slack.appId}; the request came from team ${interaction.teamId}, app ${interaction.appId}`),
      log: { status: 'refused_team', teamId: interaction.teamId, appId: interaction.appId },
    };
  }

  if (interaction.type === 'quarantine_submission' || (interaction.type === 'block_actions' && interaction.actionId === 'block_agent')) {
    return answerBlockAgent(interaction, deps);
  }
  const reviewer = { kind: 'slack', slackUserId: interaction.userId } as const;
  const result = interaction.type === 'block_actions'
    ? await castVote(
        interaction.actionId === 'approve'
          ? { reviewId: interaction.reviewId, reviewer, vote: 'approve' }
          : { reviewId: interaction.reviewId, reviewer, vote: 'deny', triggerId: interaction.triggerId },
        deps,
      )
    : await castVote({ reviewId: interaction.reviewId, reviewer, vote: 'deny', comment: interaction.reason }, deps);

  const log: Record<string, unknown> = { ...castVoteSummary(result), interaction: interaction.type, slackUserId: interaction.userId };
  if (result.status === 'not_found') {
    return { response: errorResponse(404, 'ReviewNotFound', `no review with id "${interaction.reviewId}" exists`), log };
  }
  if (result.status === 'refused') {
    const channelId = (interaction.type === 'block_actions' ? interaction.channelId : undefined) ?? result.channelId;
    if (channelId === null) {
      log.notice = 'no channel to notify the reviewer in';
    } else {
      try {
        await deps.channel.notify(channelId, interaction.userId, result.message);
      } catch (error) {
        // The refusal is recorded; Slack's answer must still be a 200 or Slack shows a generic error.
        log.notice = `telling the reviewer failed: ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`;
      }
    }
  }
  // An approval that counted is confirmed to the reviewer alone, as Slack apps do: the message's
  // quorum line changes for everyone, but only this tells the reviewer it was their tap that counted.
  if (result.status === 'recorded' && result.vote.vote === 'approve' && interaction.type === 'block_actions' && interaction.channelId !== undefined) {
    try {
      await deps.channel.notify(interaction.channelId, interaction.userId, approvalCountedText(result.approvals, result.quorum, result.closed !== null));
    } catch (error) {
      // The vote is recorded; Slack's answer must still be a 200.
      log.notice = `confirming the vote failed: ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`;
    }
  }
  return { response: interaction.type === 'view_submission' ? clearModal() : ack(), log };
}

/**
 * "Block this agent": the button checks who may (a member of the quarantine group, or of the request's
 * escalation group), then opens the modal that asks why; the submission quarantines the agent of the
 * review's request (read from the store, never from the payload). A refusal is shown to the member.
 */
async function answerBlockAgent(
  interaction: Extract<SlackInteraction, { type: 'block_actions' | 'quarantine_submission' }>,
  deps: ReviewDeps & { guard?: AgentGuard },
): Promise<InteractionAnswer> {
  const submitted = interaction.type === 'quarantine_submission' ? interaction : null;
  const log: Record<string, unknown> = { interaction: interaction.type, action: 'block_agent', slackUserId: interaction.userId };
  const snapshot = await deps.store.getReview(interaction.reviewId);
  const request = snapshot?.request.record.request ?? null;
  if (snapshot === undefined || request === null) {
    return { response: errorResponse(404, 'ReviewNotFound', `no review with id "${interaction.reviewId}" exists`), log: { ...log, status: 'not_found' } };
  }
  const agentId = request.agent.id;
  const member = deps.directory.memberBySlackId(interaction.userId);
  const refuse = async (message: string): Promise<InteractionAnswer> => {
    if (submitted !== null) return { response: modalErrors(QUARANTINE_REASON_BLOCK_ID, message), log: { ...log, agentId, status: 'refused', message } };
    const channelId = (interaction.type === 'block_actions' ? interaction.channelId : undefined) ?? snapshot.review.messages.initial?.channel;
    if (channelId !== undefined) {
      try {
        await deps.channel.notify(channelId, interaction.userId, message);
      } catch (error) {
        log.notice = `telling the member failed: ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`;
      }
    }
    return { response: ack(), log: { ...log, agentId, status: 'refused', message } };
  };
  if (deps.guard === undefined) return refuse('quarantine is not available here: this function has no agent guard');
  if (member === undefined) return refuse(`Slack user ${interaction.userId} is not in the approver directory, so cannot quarantine agents`);
  const actor = { kind: 'member', member, via: 'slack', fromActionId: snapshot.review.actionId } as const;
  const allowed = await authority(actor, { ...deps, guard: deps.guard });
  if (typeof allowed !== 'string') return refuse(allowed.refused);
  if (submitted === null) {
    if (interaction.type !== 'block_actions') throw new ReviewServiceError('only the "Block this agent" button opens the quarantine modal');
    await deps.channel.openQuarantineModal(interaction.triggerId, reviewViewOf(snapshot.request, snapshot.review, snapshot.votes, deps.directory, deps.now()));
    return { response: ack(), log: { ...log, agentId, status: 'modal_opened' } };
  }
  const result = await quarantineAgent(agentId, actor, submitted.reason, { ...deps, guard: deps.guard });
  if (result.status === 'refused') return refuse(result.message);
  return {
    response: clearModal(),
    log: { ...log, agentId, by: member.id, status: result.status, closed: result.closedActionIds, leftOpen: result.leftOpenActionIds, warnings: result.warnings },
  };
}

/** The ephemeral confirmation of an approval: "Your approval counted (1 of 2): 1 more needed." */
export function approvalCountedText(approvals: number, quorum: number, decided: boolean): string {
  const counted = `Your approval counted (${approvals} of ${quorum})`;
  if (decided) return `${counted}: the request is decided.`;
  const missing = Math.max(1, quorum - approvals);
  return `${counted}: ${missing} more approval${missing === 1 ? '' : 's'} needed.`;
}

/** The parts of a Function URL request the interactions endpoint reads. */
export interface SlackHttpRequest {
  method: string;
  headers: Record<string, string | undefined>;
  body: string | undefined;
  isBase64Encoded: boolean;
  nowSeconds: number;
}

/**
 * The interactions endpoint: the raw body (base64-decoded when the Function URL delivers it so),
 * Slack's signature and timestamp, then the payload, then `answerInteraction`. Anything unsigned,
 * badly signed, stale or malformed gets 400/401 and records nothing.
 */
export async function answerSlackRequest(request: SlackHttpRequest, signingSecret: string, deps: ReviewDeps & { guard?: AgentGuard }): Promise<InteractionAnswer> {
  if (request.method !== 'POST') {
    return { response: errorResponse(405, 'MethodNotAllowed', `${request.method} is not allowed; Slack POSTs interactions`), log: { status: 'bad_method', method: request.method } };
  }
  const rawBody = request.isBase64Encoded ? Buffer.from(request.body ?? '', 'base64').toString('utf8') : (request.body ?? '');
  const signature = verifySlackSignature({ headers: request.headers, rawBody, signingSecret, nowSeconds: request.nowSeconds });
  if (!signature.ok) {
    return { response: errorResponse(signature.status, signature.status === 400 ? 'BadRequest' : 'BadSignature', signature.reason), log: { status: 'bad_signature', reason: signature.reason } };
  }
  let interaction: SlackInteraction;
  try {
    interaction = parseInteraction(rawBody);
  } catch (error) {
    if (!(error instanceof InteractionParseError)) throw error;
    // A modal input problem (an empty reason) is shown under that input, as Slack expects.
    const response = error.blockId !== undefined ? modalErrors(error.blockId, error.message) : errorResponse(400, 'BadRequest', error.message);
    return { response, log: { status: 'bad_payload', reason: error.message } };
  }
  return answerInteraction(interaction, deps);
}
