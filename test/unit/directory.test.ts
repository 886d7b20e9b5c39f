import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Directory } from '../../shared/domain/directory.js';

const directory = Directory.parse(JSON.parse(readFileSync(new URL('../../config/directory.json', import.meta.url), 'utf8')));
const bob = directory.member('bob')!;

describe('Directory.isOnBehalfOf', () => {
  it.each([
    'bob', 'BOB', ' bob ', 'bob@example.com', 'Bob <bob@example.com>', 'mailto:bob@example.com',
    'bob@example.com\u200b', '\uff42\uff4f\uff42', '<@U0BOB>', '<@U0BOB|bob>', 'U0BOB', 'for bob, please',
  ])('recognizes %j as bob (no self-approval through spelling)', (onBehalfOf) => {
    expect(directory.isOnBehalfOf(bob, onBehalfOf)).toBe(true);
  });

  it.each(['alice@example.com', 'bobby', 'robert', 'bob2@example.com', null])('does not take %j for bob', (onBehalfOf) => {
    expect(directory.isOnBehalfOf(bob, onBehalfOf)).toBe(false);
  });
});

describe('the directory\'s IAM identities', () => {
  const base = JSON.parse(readFileSync(new URL('../../config/directory.json', import.meta.url), 'utf8')) as { members: Array<Record<string, unknown>>; agents: Record<string, Record<string, unknown>> };
  const withMembers = (arns: Record<string, string[]>, agents: Record<string, string[]> = {}) => ({
    ...base,
    members: base.members.map((m) => (arns[m.id as string] === undefined ? m : { ...m, iamPrincipalArns: arns[m.id as string] })),
    agents: Object.fromEntries(Object.entries(base.agents).map(([id, a]) => [id, agents[id] === undefined ? a : { ...a, iamPrincipalArns: agents[id] }])),
  });

  it('refuses a session ARN for a member: its session name is whatever the assumer chose', () => {
    expect(() => Directory.parse(withMembers({ dan: ['arn:aws:sts::123456789012:assumed-role/shared-ci/dan'] }))).toThrow(/members\.\d+\.iamPrincipalArns\.0: must be an IAM role or user ARN/);
  });

  it('takes an IAM Identity Center session for a member (Identity Center names it after the user), one per member', () => {
    const sso = (user: string) => `arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_Reviewers_0123456789abcdef/${user}`;
    const parsed = Directory.parse(withMembers({ bob: [sso('bob@example.com')], carol: [sso('carol@example.com')] }));
    expect(parsed.member('bob')?.iamPrincipalArns).toEqual([sso('bob@example.com')]);
    expect(() => Directory.parse(withMembers({ bob: [sso('bob@example.com')], carol: [sso('bob@example.com')] }))).toThrow(/is also the identity of member "bob"/);
  });

  it('refuses one identity for two members, or for a member and an agent (roles compare by account and name, not path)', () => {
    expect(() => Directory.parse(withMembers({ bob: ['arn:aws:iam::123456789012:role/ci/reviewers'], carol: ['arn:aws:iam::123456789012:role/reviewers'] })))
      .toThrow(/"arn:aws:iam::123456789012:role\/reviewers" is also the identity of member "bob"/);
    expect(() => Directory.parse(withMembers({ bob: ['arn:aws:iam::123456789012:role/billing-agent'] }, { 'billing-agent': ['arn:aws:iam::123456789012:role/agents/billing-agent'] })))
      .toThrow(/is also the identity of member "bob": an IAM identity may belong to one member or agent only/);
    expect(() => Directory.parse(withMembers({ bob: ['arn:aws:iam::123456789012:role/bob-ci'], carol: ['arn:aws:iam::123456789012:user/carol'] }, { 'billing-agent': ['arn:aws:iam::123456789012:role/billing-agent'] }))).not.toThrow();
  });
});

