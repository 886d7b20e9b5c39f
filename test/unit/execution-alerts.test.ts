import { describe, expect, it } from 'vitest';
import { MemoryReviewChannel } from '../../shared/adapters/memory/memory-review-adapters.js';
import { Directory } from '../../shared/domain/directory.js';
import { channelAlerts, violationText } from '../../shared/execution/review-adapters.js';
import type { ViolationAlert } from '../../shared/execution/record-execution.js';
import type { ReviewBoard } from '../../shared/ports/review.js';
import directoryJson from '../../config/directory.json' with { type: 'json' };

/** Where an execution violation is told: the approver group's channels, Slack and Teams, or the security group's. */

const alert: ViolationAlert = { rule: 'no_decision', reason: 'no request with actionId "x" was received', actionId: 'x', reportedBy: 'billing-agent', request: undefined };

function teamsBoard() {
  const posted: Array<{ channelId: string; text: string }> = [];
  const unused = async (): Promise<never> => { throw new Error('not used by alerts'); };
  const board: ReviewBoard = { postReview: unused, updateReview: unused, postThreadNote: unused, postAlert: async (channelId, text) => { posted.push({ channelId, text }); } };
  return { board, posted };
}

describe('execution violation alerts', () => {
  it('go to every channel of the security group when no approver group owns the request: Slack and Teams', async () => {
    const directory = Directory.parse(directoryJson);
    const channel = new MemoryReviewChannel();
    const teams = teamsBoard();
    await channelAlerts(channel, directory, teams.board).alert(alert);
    const { slack, teams: teamsChannel } = directory.channelsOf('security');
    expect(channel.callsOf('postAlert')).toEqual([{ method: 'postAlert', channelId: slack?.id, text: violationText(alert) }]);
    expect(teams.posted).toEqual(teamsChannel === undefined ? [] : [{ channelId: teamsChannel.id, text: violationText(alert) }]);
    expect(violationText(alert)).toBe('Execution violation [no_decision]: agent billing-agent reported executing x. no request with actionId "x" was received');
  });

  it('reach a group that has only a Teams channel, and fail loudly when there is nowhere to post', async () => {
    const data = structuredClone(directoryJson) as Record<string, unknown> & { groups: Record<string, Record<string, unknown>> };
    const security = data.groups.security!;
    delete security.channel;
    security.teamsChannel ??= { id: '19:security@thread.tacv2', name: 'Approvals security', team: 'Security' };
    const teamsOnly = Directory.parse(data);
    const channel = new MemoryReviewChannel();
    const teams = teamsBoard();
    await channelAlerts(channel, teamsOnly, teams.board).alert(alert);
    expect(channel.callsOf('postAlert')).toEqual([]);
    expect(teams.posted).toHaveLength(1);
    await expect(channelAlerts(channel, teamsOnly).alert(alert)).rejects.toThrow('group "security" has no channel this function can post to');
    const noSecurity = Directory.parse({ ...directoryJson, securityGroup: undefined });
    await expect(channelAlerts(channel, noSecurity).alert(alert)).rejects.toThrow('no approver group and no securityGroup');
  });
});
