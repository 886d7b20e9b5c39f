import { describe, expect, it } from 'vitest';
import { checkIssuance, sessionDurationSeconds, sessionNameOf, sessionTagsOf, type CredentialsSubject } from '../../shared/domain/credentials.js';
import { isCallerOneOf } from '../../shared/domain/caller-arn.js';
import { Directory } from '../../shared/domain/directory.js';
import { ExecutionGrants } from '../../shared/domain/execution-grants.js';
import { readFileSync } from 'node:fs';

const grants = ExecutionGrants.parse(JSON.parse(readFileSync(new URL('../../config/execution-grants.json', import.meta.url), 'utf8')));
const grantFor = (action: string, type: string) => grants.grantFor(action, type);
const subject = (over: Partial<CredentialsSubject> = {}): CredentialsSubject => ({
  actionId: 'a-1', agentId: 'billing-agent', action: 'db.export', resourceType: 'Database', outcome: 'approved',
  decidedAt: '2026-11-22T03:00:00.000Z', validForSeconds: 900, ...over,
});
const at = (iso: string) => new Date(iso);

describe('checkIssuance', () => {
  it('issues for the agent, a granted action, an approval, inside its window', () => {
    expect(checkIssuance(subject(), true, grantFor, at('2026-11-22T03:10:00Z'))).toMatchObject({ ok: true, validUntil: '2026-11-22T03:15:00.000Z', grant: { role: 'countersign-exec-db-export' } });
    expect(checkIssuance(subject({ outcome: 'allowed' }), true, grantFor, at('2026-11-22T03:15:00Z'))).toMatchObject({ ok: true });
  });

  it.each<[CredentialsSubject, boolean, string, string]>([
    [subject(), false, '2026-11-22T03:01:00Z', 'caller_not_agent'],
    [subject({ action: 'db.query' }), true, '2026-11-22T03:01:00Z', 'no_grant'],
    ...(['denied', 'rejected', 'expired', 'invalid', 'pending'] as const).map((outcome): [CredentialsSubject, boolean, string, string] => [subject({ outcome }), true, '2026-11-22T03:01:00Z', 'not_permitted']),
    [subject({ validForSeconds: null }), true, '2026-11-22T03:01:00Z', 'not_permitted'],
    [subject(), true, '2026-11-22T03:15:00.001Z', 'approval_expired'],
  ])('refuses %# with its rule', (s, callerIsAgent, now, rule) => {
    expect(checkIssuance(s, callerIsAgent, grantFor, at(now))).toMatchObject({ ok: false, rule });
  });
});

describe('sessionDurationSeconds', () => {
  it('is the rest of the window, at most the role maximum, at least 900 seconds', () => {
    expect(sessionDurationSeconds('2026-11-22T04:00:00Z', at('2026-11-22T03:00:00Z'), 43_200)).toBe(3600);
    expect(sessionDurationSeconds('2026-11-23T03:00:00Z', at('2026-11-22T03:00:00Z'), 3600)).toBe(3600);
    expect(sessionDurationSeconds('2026-11-22T03:05:00Z', at('2026-11-22T03:00:00Z'), 3600)).toBe(900);
    expect(sessionDurationSeconds('2026-11-22T03:20:00.900Z', at('2026-11-22T03:00:00Z'), 3600)).toBe(1200);
  });

  it('never asks for more than an hour: the function chains roles, and STS refuses more for a chained session', () => {
    expect(sessionDurationSeconds('2026-11-23T03:00:00Z', at('2026-11-22T03:00:00Z'), 43_200)).toBe(3600);
    expect(sessionDurationSeconds('2026-11-22T05:00:00Z', at('2026-11-22T03:00:00Z'), 14_400)).toBe(3600);
  });
});

describe('sessionNameOf (RoleSessionName and SourceIdentity: 2-64 of [\\w+=,.@-])', () => {
  const STS_NAME = /^[\w+=,.@-]{2,64}$/;
  it('is cs-<actionId> when that fits', () => {
    expect(sessionNameOf('billing-export-2026-11-22-0001')).toBe('cs-billing-export-2026-11-22-0001');
  });

  it.each(['a:b:c', 'x'.repeat(62), 'y'.repeat(128), 'run:42:step.7', 'a'])('stays a valid, distinct STS name for %j', (actionId) => {
    const name = sessionNameOf(actionId);
    expect(name).toMatch(STS_NAME);
    expect(name.startsWith('cs-')).toBe(true);
  });

  it('keeps actionIds apart that differ only where they were cut or cleaned', () => {
    expect(sessionNameOf('a:b')).not.toBe(sessionNameOf('a.b'));
    expect(sessionNameOf(`${'z'.repeat(100)}1`)).not.toBe(sessionNameOf(`${'z'.repeat(100)}2`));
  });
});

describe('sessionTagsOf', () => {
  it('tags the actionId and the payload hash, within STS tag limits', () => {
    const tags = sessionTagsOf('run:42:step.7', 'a'.repeat(64));
    expect(tags).toEqual([{ Key: 'countersign:actionId', Value: 'run:42:step.7' }, { Key: 'countersign:payloadSha256', Value: 'a'.repeat(64) }]);
    for (const tag of tags) {
      expect(tag.Key).toMatch(/^[\p{L}\p{Z}\p{N}_.:/=+\-@]{1,128}$/u);
      expect(tag.Value).toMatch(/^[\p{L}\p{Z}\p{N}_.:/=+\-@]{0,256}$/u);
    }
  });
});

describe('isCallerOneOf: the SigV4 caller against the agent\'s IAM identities', () => {
  const role = 'arn:aws:iam::123456789012:role/agents/billing-agent';
  it.each([
    ['arn:aws:sts::123456789012:assumed-role/billing-agent/i-0abc', true],
    ['arn:aws:iam::123456789012:role/agents/billing-agent', true],
    ['arn:aws:sts::210987654321:assumed-role/billing-agent/i-0abc', false],
    ['arn:aws:sts::123456789012:assumed-role/billing-agent-2/i-0abc', false],
    ['arn:aws-cn:sts::123456789012:assumed-role/billing-agent/i-0abc', false],
    ['arn:aws:iam::123456789012:user/billing-agent', false],
    ['arn:aws:sts::123456789012:federated-user/billing-agent', false],
  ])('%s → %s', (caller, expected) => {
    expect(isCallerOneOf(caller, [role])).toBe(expected);
  });

  it('matches nobody when the agent has no IAM identity', () => {
    expect(isCallerOneOf('arn:aws:sts::123456789012:assumed-role/billing-agent/s', [])).toBe(false);
  });
});

describe('the directory\'s agent identities', () => {
  const base = JSON.parse(readFileSync(new URL('../../config/directory.json', import.meta.url), 'utf8')) as { agents: Record<string, Record<string, unknown>> };
  const withAgent = (arns: unknown) => ({ ...base, agents: { ...base.agents, 'billing-agent': { owners: ['alice'], iamPrincipalArns: arns } } });

  it('binds a caller to the agent its role belongs to, and to no other agent', () => {
    const directory = Directory.parse(withAgent(['arn:aws:iam::123456789012:role/billing-agent']));
    expect(directory.isAgentCaller('billing-agent', 'arn:aws:sts::123456789012:assumed-role/billing-agent/run-1')).toBe(true);
    expect(directory.isAgentCaller('ops-agent', 'arn:aws:sts::123456789012:assumed-role/billing-agent/run-1')).toBe(false);
    expect(directory.isAgentCaller('constructor', 'arn:aws:sts::123456789012:assumed-role/billing-agent/run-1')).toBe(false);
  });

  it.each([['*'], ['arn:aws:iam::123456789012:role/*'], ['arn:aws:iam::*:role/billing-agent'], ['billing-agent']])('refuses %j as an agent identity', (arn) => {
    expect(() => Directory.parse(withAgent([arn]))).toThrow(/agents\.billing-agent\.iamPrincipalArns\.0: must be an IAM role or user ARN/);
  });
});
