import { describe, expect, it } from 'vitest';
import { MemoryReviewChannel } from '../../shared/adapters/memory/memory-review-adapters.js';
import { AgentLimitedDetailError, agentLimitedText, parseAgentLimited, type AgentLimitedDetail } from '../../shared/domain/agent-limited.js';
import { Directory } from '../../shared/domain/directory.js';
import { announceAgentLimited } from '../../shared/execution/review-adapters.js';
import type { ReviewBoard } from '../../shared/ports/review.js';
import directoryJson from '../../config/directory.json' with { type: 'json' };

/** The one line of a flood-control burst, as record-execution posts it from an `Agent Requests Limited` event. */

const burst: AgentLimitedDetail = {
  agentId: 'billing-agent',
  group: 'security',
  limit: 'open-reviews',
  reason: 'flood control: "billing-agent" has 2 reviews open, the limit is 2 open at once; it resets when one of them is decided',
  resetsAt: null,
  at: '2026-12-07T05:00:00.000Z',
};

function teamsBoard() {
  const posted: Array<{ channelId: string; text: string }> = [];
  const unused = async (): Promise<never> => { throw new Error('not used by announcements'); };
  const board: ReviewBoard = { postReview: unused, updateReview: unused, postThreadNote: unused, postAlert: async (channelId, text) => { posted.push({ channelId, text }); } };
  return { board, posted };
}

describe('Agent Requests Limited', () => {
  it('posts one line to every channel of the approver group: Slack and Teams', async () => {
    const directory = Directory.parse(directoryJson);
    const channel = new MemoryReviewChannel();
    const teams = teamsBoard();
    expect(await announceAgentLimited(parseAgentLimited(burst), { channel, directory, teams: teams.board })).toEqual({ group: 'security' });
    const { slack, teams: teamsChannel } = directory.channelsOf('security');
    const text = 'Flood control: billing-agent is being limited (too many open reviews); its further requests for security are denied and not posted here until the limit resets. flood control: "billing-agent" has 2 reviews open, the limit is 2 open at once; it resets when one of them is decided';
    expect(agentLimitedText(burst)).toBe(text);
    expect(channel.callsOf('postAlert')).toEqual([{ method: 'postAlert', channelId: slack?.id, text }]);
    expect(teams.posted).toEqual([{ channelId: teamsChannel?.id, text }]);
  });

  it('goes to the security group when the approver group is not in the directory (any more), and fails loudly without one', async () => {
    const directory = Directory.parse(directoryJson);
    const channel = new MemoryReviewChannel();
    const gone = { ...burst, group: 'disbanded' };
    expect(await announceAgentLimited(gone, { channel, directory })).toEqual({ group: 'security' });
    expect(channel.callsOf('postAlert')).toEqual([{ method: 'postAlert', channelId: directory.channelsOf('security').slack?.id, text: agentLimitedText(gone) }]);
    const noSecurity = Directory.parse({ ...directoryJson, securityGroup: undefined });
    await expect(announceAgentLimited(gone, { channel, directory: noSecurity })).rejects.toThrow('group "disbanded" has no channel this function can post to and the directory has no securityGroup');
  });

  it('refuses a detail that does not parse, naming each wrong field', () => {
    const bad = { ...burst, limit: 'quarantine', resetsAt: 'soon', extra: 1 };
    expect(() => parseAgentLimited(bad)).toThrow(AgentLimitedDetailError);
    expect(() => parseAgentLimited(bad)).toThrow('(limit: Invalid option: expected one of "open-reviews"|"approval-rate"; resetsAt: Invalid ISO datetime; (detail): Unrecognized key: "extra")');
    expect(() => parseAgentLimited(undefined)).toThrow('"Agent Requests Limited" detail is not valid ((detail):');
  });
});
