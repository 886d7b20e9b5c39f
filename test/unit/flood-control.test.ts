import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Directory } from '../../shared/domain/directory.js';
import { autoQuarantineBy, autoQuarantineReason, countRejection, judgeAdmission, takeToken, violationAlertWindow, type AgentState, type CountedRejection } from '../../shared/domain/flood-control.js';
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

describe('countRejection (automatic quarantine)', () => {
  const rule = { rejections: 3, windowMinutes: 60 };
  const at = (minute: number, actionId = `a-${minute}`): CountedRejection => ({ actionId, atMs: NOW.getTime() + minute * 60_000 });

  it('trips on the Kth rejection inside the window, names those K, and starts again from zero', () => {
    let recent: CountedRejection[] | undefined;
    const trips: Array<CountedRejection[] | null> = [];
    for (const minute of [0, 10, 59]) {
      const counted = countRejection(recent, at(minute), rule);
      trips.push(counted.tripped);
      recent = counted.recent;
    }
    expect(trips).toEqual([null, null, [at(0), at(10), at(59)]]);
    expect(recent).toEqual([]);
  });

  it('lets rejections older than the window fall out, so K spread wider than the window never trip', () => {
    const first = countRejection(undefined, at(0), rule);
    const second = countRejection(first.recent, at(30), rule);
    const third = countRejection(second.recent, at(60), rule);
    expect(third).toEqual({ recent: [at(30), at(60)], tripped: null });
  });

  it('counts the same request once, however often its rejection is counted', () => {
    const once = countRejection(undefined, at(0), rule);
    const again = countRejection(once.recent, at(5, 'a-0'), rule);
    expect(again).toEqual({ recent: [at(0)], tripped: null });
  });

  it('trips exactly when some K distinct rejections lie within the window (any order of arrival)', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 120 }), fc.uniqueArray(fc.integer({ min: 0, max: 600 }), { maxLength: 30 }), (k, windowMinutes, minutes) => {
      const r = { rejections: k, windowMinutes };
      let recent: CountedRejection[] | undefined;
      let tripped = false;
      for (const minute of [...minutes].sort((a, b) => a - b)) {
        const counted = countRejection(recent, at(minute), r);
        recent = counted.recent;
        if (counted.tripped !== null) {
          expect(counted.tripped).toHaveLength(k);
          const span = (counted.tripped.at(-1)?.atMs ?? 0) - (counted.tripped[0]?.atMs ?? 0);
          expect(span).toBeLessThan(windowMinutes * 60_000);
          tripped = true;
          break;
        }
        expect(recent.length).toBeLessThan(k);
      }
      // Without a trip, no K of them fitted inside the window.
      if (!tripped) {
        const sorted = [...minutes].sort((a, b) => a - b);
        for (let i = 0; i + k - 1 < sorted.length; i++) expect((sorted[i + k - 1] ?? 0) - (sorted[i] ?? 0)).toBeGreaterThanOrEqual(windowMinutes);
      }
    }));
  });

  it('records who and why in words a reviewer reads', () => {
    expect(autoQuarantineBy(rule)).toBe('countersign (auto: 3 rejections in 60 min)');
    expect(autoQuarantineReason(rule, [at(0), at(10), at(59)])).toBe('reviewers rejected 3 of its requests within 60 minutes (the limit is 3): a-0, a-10, a-59');
  });

  it('is off unless the directory sets it, and refuses a rule that is not two positive whole numbers, saying where', () => {
    expect(Directory.parse(directoryJson).autoQuarantine()).toBeUndefined();
    expect(Directory.parse({ ...directoryJson, floodControl: { autoQuarantine: { rejections: 3, windowMinutes: 60 } } }).autoQuarantine()).toEqual({ rejections: 3, windowMinutes: 60 });
    expect(() => Directory.parse({ ...directoryJson, floodControl: { autoQuarantine: { rejections: 0, windowMinutes: 60 } } })).toThrow(/floodControl\.autoQuarantine\.rejections/);
    expect(() => Directory.parse({ ...directoryJson, floodControl: { autoQuarantine: { rejections: 3 } } })).toThrow(/floodControl\.autoQuarantine\.windowMinutes/);
    expect(() => Directory.parse({ ...directoryJson, floodControl: { autoQuarantine: { rejections: 3, windowMinutes: 60, window: 5 } } })).toThrow(/floodControl\.autoQuarantine/);
  });
});

describe('violation alerts per agent', () => {
  it('defaults to 5 per 10 minutes, takes the directory\'s, and refuses a window over a day, saying where', () => {
    expect(Directory.parse(directoryJson).violationAlertLimit()).toEqual({ max: 5, windowMinutes: 10 });
    expect(Directory.parse({ ...directoryJson, floodControl: { violationAlerts: { max: 2, windowMinutes: 60 } } }).violationAlertLimit()).toEqual({ max: 2, windowMinutes: 60 });
    expect(() => Directory.parse({ ...directoryJson, floodControl: { violationAlerts: { max: 2, windowMinutes: 1441 } } })).toThrow(/floodControl\.violationAlerts\.windowMinutes/);
    expect(() => Directory.parse({ ...directoryJson, floodControl: { violationAlerts: { max: 0, windowMinutes: 10 } } })).toThrow(/floodControl\.violationAlerts\.max/);
  });

  it('counts in fixed windows aligned to the epoch: every moment falls in exactly one, which holds it', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 4_102_444_800_000 }), fc.integer({ min: 1, max: 1_440 }), (atMs, windowMinutes) => {
      const { startMs, endMs } = violationAlertWindow(atMs, { max: 5, windowMinutes });
      expect(startMs).toBeLessThanOrEqual(atMs);
      expect(endMs).toBeGreaterThan(atMs);
      expect(endMs - startMs).toBe(windowMinutes * 60_000);
      expect(startMs % (windowMinutes * 60_000)).toBe(0);
    }));
  });
});
