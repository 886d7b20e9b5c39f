import { agentLimitedText, type AgentLimitedDetail } from '../domain/agent-limited.js';
import type { Directory } from '../domain/directory.js';
import type { ReviewBoard, ReviewChannel } from '../ports/review.js';
import type { ReviewStore } from '../ports/review-store.js';
import { refreshReviewMessages } from '../review/refresh-messages.js';
import type { ExecutionAlerts, ExecutionMessages, ViolationAlert } from './record-execution.js';

/** The alert's text: the rule first, then who, what and why. Posted as escaped plain text. */
export function violationText(alert: ViolationAlert): string {
  const request = alert.request?.request;
  const what = request === undefined || request === null ? '' : ` (${request.action} on ${request.resource.type} ${request.resource.id} in ${request.environment})`;
  const who = alert.reportedBy === null ? 'a sender that is not an agent' : `agent ${alert.reportedBy}`;
  const held = alert.heldUntil === undefined
    ? ''
    : ` Too many ${alert.rule} violations from ${alert.reportedBy === null ? 'this sender' : `agent ${alert.reportedBy}`} in a short time: their ${alert.rule} alerts are held until ${alert.heldUntil}; every one is still recorded (the audit log, the ExecutionViolations metric).`;
  return `Execution violation [${alert.rule}]: ${who} reported executing ${alert.actionId ?? 'an unnamed action'}${what}. ${alert.reason}${held}`;
}

/**
 * Posts a line to every channel of an approver group (Slack, and Teams when it is wired). Throws when the
 * group has no channel this function can post to, or when every post failed, so the caller knows nobody was told.
 */
export async function postToGroup(channel: ReviewChannel, directory: Directory, teams: ReviewBoard | undefined, group: string, text: string, what: string): Promise<void> {
  const channels = directory.channelsOf(group);
  const posts = [
    ...(channels.slack === undefined ? [] : [channel.postAlert(channels.slack.id, text)]),
    ...(channels.teams === undefined || teams === undefined ? [] : [teams.postAlert(channels.teams.id, text)]),
  ];
  if (posts.length === 0) throw new Error(`group "${group}" has no channel this function can post to: the ${what} has nowhere to go`);
  const failed = (await Promise.allSettled(posts)).filter((result): result is PromiseRejectedResult => result.status === 'rejected');
  if (failed.length === posts.length) throw failed[0]?.reason;
}

/**
 * Posts violations to the request's approver group's channels (Slack, and Teams when it is wired); without
 * one (no request, an auto-allowed one, an invalid report) to the directory's `securityGroup`. Throws when
 * there is no group or it has no channel this function can post to, so the caller logs that nobody was told.
 */
export function channelAlerts(channel: ReviewChannel, directory: Directory, teams?: ReviewBoard): ExecutionAlerts {
  return {
    async alert(alert) {
      const security = directory.data.securityGroup;
      const group = alert.request?.approval?.approvers ?? security;
      if (group === undefined) throw new Error(`no approver group and no securityGroup in the directory: the ${alert.rule} alert has nowhere to go`);
      await postToGroup(channel, directory, teams, group, violationText(alert), `${alert.rule} alert`);
      // The line that holds a reporter's alerts goes to the security group too: the held ones may be about
      // other groups' requests, whose approvers hear nothing more this window.
      if (alert.heldUntil !== undefined && security !== undefined && security !== group) {
        await postToGroup(channel, directory, teams, security, violationText(alert), `${alert.rule} hold notice`);
      }
    },
  };
}

/**
 * Posts the one line of a flood-control burst to every channel of the approver group the denied requests
 * were for; when that group has no channel this function can post to, to the directory's `securityGroup`.
 */
export async function announceAgentLimited(detail: AgentLimitedDetail, deps: { channel: ReviewChannel; directory: Directory; teams?: ReviewBoard }): Promise<{ group: string }> {
  const { channel, directory, teams } = deps;
  // A group the directory no longer has (it changed since the request was decided) falls back too.
  const entry = directory.data.groups[detail.group];
  const reachable = entry !== undefined && (entry.channel !== undefined || (entry.teamsChannel !== undefined && teams !== undefined));
  const group = reachable ? detail.group : directory.data.securityGroup;
  if (group === undefined) throw new Error(`group "${detail.group}" has no channel this function can post to and the directory has no securityGroup: the flood-control line for ${detail.agentId} has nowhere to go`);
  await postToGroup(channel, directory, teams, group, agentLimitedText(detail), 'flood-control line');
  return { group };
}

/** Refreshes a reviewed request's message(s), in Slack and (when wired) Teams, so they show the execution. */
export function reviewMessages(deps: { store: Pick<ReviewStore, 'getByAction'>; channel: ReviewChannel; teams?: ReviewBoard; directory: Directory; now: () => Date }): ExecutionMessages {
  return {
    async refresh(actionId) {
      const current = await deps.store.getByAction(actionId);
      if (current === undefined || current.review === undefined) return 0;
      const { updated, warnings } = await refreshReviewMessages({ request: current.request, review: current.review, votes: current.votes }, deps);
      if (warnings.length > 0) throw new Error(warnings.join('; '));
      return updated;
    },
  };
}
