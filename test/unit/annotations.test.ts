import { describe, expect, it } from 'vitest';
import {
  compareStrictness,
  describeDuration,
  InvalidDurationError,
  parseIsoDuration,
  parsePolicyAnnotations,
} from '../../shared/policy/annotations.js';

describe('parseIsoDuration', () => {
  it.each([
    ['PT1M', 60],
    ['PT30M', 1_800],
    ['PT1H', 3_600],
    ['PT1H30M', 5_400],
    ['PT90S', 90],
    ['P1D', 86_400],
    ['P1DT12H', 129_600],
    ['P1W', 604_800],
    ['P7D', 604_800],
  ])('reads %s as %i seconds', (text, seconds) => {
    expect(parseIsoDuration(text)).toBe(seconds);
  });

  it.each([
    ['30m', 'expected the form'],
    ['', 'expected the form'],
    ['P', 'expected the form'],
    ['PT', 'expected the form'],
    ['P1DT', 'expected the form'],
    ['pt30m', 'expected the form'],
    ['PT-5M', 'expected the form'],
    ['P1M', 'years and months have no fixed length'],
    ['P1Y', 'years and months have no fixed length'],
    ['PT1.5H', 'fractions are not supported'],
    ['PT0,5H', 'fractions are not supported'],
  ])('refuses %j, saying %s', (text, message) => {
    expect(() => parseIsoDuration(text)).toThrow(InvalidDurationError);
    expect(() => parseIsoDuration(text)).toThrow(message);
  });

  it('tells minutes from months by the T', () => {
    expect(parseIsoDuration('PT5M')).toBe(300);
    expect(() => parseIsoDuration('P5M')).toThrow('months');
  });
});

describe('describeDuration', () => {
  it('says durations as a reviewer reads them', () => {
    expect(describeDuration(1_800)).toBe('30 minutes');
    expect(describeDuration(3_600)).toBe('1 hour');
    expect(describeDuration(129_600)).toBe('1 day 12 hours');
  });
});

describe('parsePolicyAnnotations', () => {
  it('reads a full approval policy', () => {
    const result = parsePolicyAnnotations(
      { id: 'iam-prod', approval: null, approvers: 'security', quorum: '2', timeout: 'PT1H', escalate: 'security-leads' },
      'permit',
    );
    expect(result).toEqual({
      id: 'iam-prod',
      approval: { approvers: 'security', quorum: 2, timeout: 'PT1H', timeoutSeconds: 3_600, escalate: 'security-leads' },
      problems: [],
    });
  });

  it('defaults quorum to 1 and timeout to PT1H, and leaves escalate out', () => {
    const result = parsePolicyAnnotations({ id: 'p', approval: null, approvers: 'dba' }, 'permit');
    expect(result.problems).toEqual([]);
    expect(result.approval).toEqual({ approvers: 'dba', quorum: 1, timeout: 'PT1H', timeoutSeconds: 3_600 });
    expect(result.approval).not.toHaveProperty('escalate');
  });

  it('accepts @approval("") and @approval("true") as the bare flag', () => {
    expect(parsePolicyAnnotations({ id: 'p', approval: '', approvers: 'dba' }, 'permit').problems).toEqual([]);
    expect(parsePolicyAnnotations({ id: 'p', approval: 'true', approvers: 'dba' }, 'permit').problems).toEqual([]);
  });

  it('gives a policy without @approval no approval requirement', () => {
    expect(parsePolicyAnnotations({ id: 'db-query' }, 'permit')).toEqual({ id: 'db-query', approval: undefined, problems: [] });
  });

  it('requires @id', () => {
    const result = parsePolicyAnnotations({}, 'permit');
    expect(result.id).toBeUndefined();
    expect(result.problems).toEqual([expect.stringContaining('no @id')]);
    expect(parsePolicyAnnotations(undefined, 'forbid').problems).toEqual([expect.stringContaining('no @id')]);
  });

  it.each(['', 'has space', '-leading-dash', 'x'.repeat(129)])('refuses the @id %j', (id) => {
    const result = parsePolicyAnnotations({ id }, 'permit');
    expect(result.id).toBeUndefined();
    expect(result.problems).toEqual([expect.stringContaining('@id(')]);
  });

  it('refuses an @id in Countersign\'s own namespace (flood control and quarantine denials record countersign:<limit>)', () => {
    const result = parsePolicyAnnotations({ id: 'countersign:open-reviews' }, 'permit');
    expect(result.id).toBeUndefined();
    expect(result.problems).toEqual(['@id("countersign:open-reviews"): ids starting with "countersign:" are Countersign\'s own (flood control and quarantine denials record them)']);
    expect(parsePolicyAnnotations({ id: 'team:countersign' }, 'permit').id).toBe('team:countersign');
  });

  it('refuses @approval without @approvers', () => {
    const result = parsePolicyAnnotations({ id: 'p', approval: null, quorum: '2' }, 'permit');
    expect(result.approval).toBeUndefined();
    expect(result.problems).toEqual(['@approval needs @approvers("group") naming who may approve']);
  });

  it.each([
    ['0', '@quorum("0") must be a whole number from 1 to 10'],
    ['11', '@quorum("11") must be a whole number from 1 to 10'],
    ['-1', '@quorum("-1")'],
    ['1.5', '@quorum("1.5")'],
    ['two', '@quorum("two")'],
    ['', '@quorum("")'],
    ['01', '@quorum("01")'],
  ])('refuses @quorum(%j)', (quorum, message) => {
    const result = parsePolicyAnnotations({ id: 'p', approval: null, approvers: 'dba', quorum }, 'permit');
    expect(result.approval).toBeUndefined();
    expect(result.problems).toEqual([expect.stringContaining(message)]);
  });

  it('accepts the quorum bounds 1 and 10', () => {
    expect(parsePolicyAnnotations({ id: 'p', approval: null, approvers: 'dba', quorum: '1' }, 'permit').approval?.quorum).toBe(1);
    expect(parsePolicyAnnotations({ id: 'p', approval: null, approvers: 'dba', quorum: '10' }, 'permit').approval?.quorum).toBe(10);
  });

  it.each([
    ['PT59S', 'between 1 minute (PT1M) and 7 days (P7D)'],
    ['P8D', 'between 1 minute (PT1M) and 7 days (P7D)'],
    ['P2W', 'between 1 minute (PT1M) and 7 days (P7D)'],
    ['30 minutes', 'not a usable ISO 8601 duration'],
    ['P1M', 'years and months'],
  ])('refuses @timeout(%j)', (timeout, message) => {
    const result = parsePolicyAnnotations({ id: 'p', approval: null, approvers: 'dba', timeout }, 'permit');
    expect(result.approval).toBeUndefined();
    expect(result.problems).toEqual([expect.stringContaining(message)]);
  });

  it('accepts the timeout bounds PT1M and P7D', () => {
    expect(parsePolicyAnnotations({ id: 'p', approval: null, approvers: 'dba', timeout: 'PT1M' }, 'permit').approval?.timeoutSeconds).toBe(60);
    expect(parsePolicyAnnotations({ id: 'p', approval: null, approvers: 'dba', timeout: 'P7D' }, 'permit').approval?.timeoutSeconds).toBe(604_800);
  });

  it.each(['Data-Owners', 'data owners', 'data_owners', '', 'sécurité'])('refuses the group name %j in @approvers and @escalate', (group) => {
    expect(parsePolicyAnnotations({ id: 'p', approval: null, approvers: group }, 'permit').problems).toEqual([expect.stringContaining(`@approvers("${group}")`)]);
    expect(parsePolicyAnnotations({ id: 'p', approval: null, approvers: 'ok', escalate: group }, 'permit').problems).toEqual([expect.stringContaining(`@escalate("${group}")`)]);
  });

  it('refuses approval annotations without @approval, which would silently do nothing', () => {
    const result = parsePolicyAnnotations({ id: 'p', approvers: 'dba', quorum: '2' }, 'permit');
    expect(result.problems).toEqual(['@approvers, @quorum without @approval has no effect; add @approval or remove them']);
  });

  it('refuses @approval on a forbid', () => {
    const result = parsePolicyAnnotations({ id: 'p', approval: null, approvers: 'dba' }, 'forbid');
    expect(result.problems).toEqual([expect.stringContaining('only meaningful on a permit')]);
  });

  it('refuses a value on @approval', () => {
    expect(parsePolicyAnnotations({ id: 'p', approval: 'false', approvers: 'dba' }, 'permit').problems).toEqual([expect.stringContaining('@approval takes no value')]);
  });

  it('reports every problem of a policy at once', () => {
    const result = parsePolicyAnnotations({ approval: null, quorum: '0', timeout: 'P1Y', escalate: 'X' }, 'permit');
    expect(result.problems).toHaveLength(5);
  });
});

describe('compareStrictness', () => {
  const requirement = (quorum: number, timeoutSeconds: number) => ({ approvers: 'g', quorum, timeout: '', timeoutSeconds });
  it('puts the higher quorum first, then the shorter timeout', () => {
    const sorted = [requirement(1, 60), requirement(2, 3_600), requirement(2, 600), requirement(1, 30)].sort(compareStrictness);
    expect(sorted.map((r) => [r.quorum, r.timeoutSeconds])).toEqual([[2, 600], [2, 3_600], [1, 30], [1, 60]]);
  });
});
