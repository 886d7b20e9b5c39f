import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Directory } from '../../shared/domain/directory.js';
import { judgeAdmission, takeToken, type AgentState } from '../../shared/domain/flood-control.js';
import directoryJson from '../../config/directory.json' with { type: 'json' };

const NOW = new Date('2026-12-07T05:00:00.000Z');
const free: AgentState = { quarantine: null, pendingWithSamePayload: null, openReviews: 0, bucket: undefined };
const limits = { maxOpenReviews: 5, maxApprovalRequestsPerHour: 20 };

describe('takeToken', () => {
  it('never hands out more than perHour tokens in an hour, however the takes are spaced', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 50 }), fc.array(fc.integer({ min: 0, max: 3_600_000 }), { minLength: 1, maxLength: 200 }), (perHour, offsets) => {
      let bucket: Parameters<typeof takeToken>[0];
      let taken = 0;
      for (const at of [...offsets].sort((a, b) => a - b)) {
        const take = takeToken(bucket, perHour, NOW.getTime() + at);
        if (take.ok) { bucket = take.next; taken++; } else expect(take.nextTokenAtMs).toBeGreaterThan(NOW.getTime() + at);
      }
      // A full bucket, plus what refills within the hour.
      expect(taken).toBeLessThanOrEqual(perHour * 2);
    }));
  });

  it('says exactly when the next token is there', () => {
    const empty = { tokens: 0, refilledAtMs: NOW.getTime() };
    expect(takeToken(empty, 4, NOW.getTime())).toEqual({ ok: false, nextTokenAtMs: NOW.getTime() + 900_000 });
    expect(takeToken(empty, 4, NOW.getTime() + 900_000).ok).toBe(true);
    expect(takeToken(empty, 4, NOW.getTime() + 899_999).ok).toBe(false);
  });
});

describe('judgeAdmission', () => {
  it('checks quarantine, then duplicates, then open reviews, then the hourly bucket, each with its reason', () => {
    const quarantine = { agentId: 'billing-agent', by: 'frank', reason: 'looping', at: '2026-12-07T04:00:00.000Z', origin: 'manual' as const };
    const everything: AgentState = { quarantine, pendingWithSamePayload: 'act-1', openReviews: 5, bucket: { tokens: 0, refilledAtMs: NOW.getTime() } };
    expect(judgeAdmission('billing-agent', 'act-2', everything, limits, NOW)).toMatchObject({ admitted: false, limit: 'quarantine', reason: expect.stringMatching(/^agent quarantined by frank: looping/) });
    expect(judgeAdmission('billing-agent', 'act-2', { ...everything, quarantine: null }, limits, NOW)).toMatchObject({ limit: 'duplicate', reason: expect.stringContaining('duplicate of pending request "act-1"') });
    expect(judgeAdmission('billing-agent', 'act-2', { ...everything, quarantine: null, pendingWithSamePayload: null }, limits, NOW)).toMatchObject({ limit: 'open-reviews', resetsAt: null });
    expect(judgeAdmission('billing-agent', 'act-2', { ...everything, quarantine: null, pendingWithSamePayload: null, openReviews: 4 }, limits, NOW)).toMatchObject({ limit: 'approval-rate', resetsAt: '2026-12-07T05:03:00.000Z' });
    expect(judgeAdmission('billing-agent', 'act-2', free, limits, NOW)).toEqual({ admitted: true, bucket: { tokens: 19, refilledAtMs: NOW.getTime() } });
  });

  it('does not take its own pending slot for a duplicate (a redelivery of the same request)', () => {
    expect(judgeAdmission('billing-agent', 'act-1', { ...free, pendingWithSamePayload: 'act-1' }, limits, NOW)).toMatchObject({ admitted: true });
  });
});

describe('flood control in the directory', () => {
  it('defaults to 5 open reviews and 20 per hour, an agent may have its own, and the quarantine group is the security group', () => {
    const directory = Directory.parse({ ...directoryJson, agents: { ...directoryJson.agents, 'ops-agent': { owners: ['carol'], limits: { maxOpenReviews: 2 } } } });
    expect(directory.limitsOf('billing-agent')).toEqual({ maxOpenReviews: 5, maxApprovalRequestsPerHour: 20 });
    expect(directory.limitsOf('ops-agent')).toEqual({ maxOpenReviews: 2, maxApprovalRequestsPerHour: 20 });
    expect(directory.quarantineGroup()).toBe('security');
  });

  it('refuses a limit that is not a positive whole number and a quarantine group it does not have, saying where', () => {
    expect(() => Directory.parse({ ...directoryJson, floodControl: { maxOpenReviews: 0 } })).toThrow(/floodControl\.maxOpenReviews/);
    expect(() => Directory.parse({ ...directoryJson, floodControl: { quarantineGroup: 'nobody' } })).toThrow(/floodControl\.quarantineGroup: "nobody" is not a group of the directory/);
    expect(() => Directory.parse({ ...directoryJson, floodControl: { maxReviews: 3 } })).toThrow(/floodControl/);
  });
});
