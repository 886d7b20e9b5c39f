import { describe, expect, it } from 'vitest';
import { ACTION_REQUESTED_PATTERN } from '../../shared/store-schema.js';
import { InvalidEventPatternError, matchesEventPattern, validateEventPattern } from '../../local/event-pattern.js';

const requested = (overrides: Record<string, unknown> = {}) => ({
  version: '0',
  id: 'e-1',
  'detail-type': 'Action Requested',
  source: 'agent.billing-agent',
  account: '000000000000',
  time: '2026-11-22T10:00:00Z',
  region: 'us-east-1',
  resources: [],
  detail: { actionId: 'a-1', environment: 'prod', tags: ['x', 'y'], resource: { type: 'Database', id: 'customers' } },
  ...overrides,
});

describe('the Action Requested rule pattern', () => {
  it('routes an agent request to evaluate-action', () => {
    expect(matchesEventPattern(ACTION_REQUESTED_PATTERN, requested())).toBe(true);
  });

  it('ignores the decisions Countersign publishes on the same bus', () => {
    expect(matchesEventPattern(ACTION_REQUESTED_PATTERN, requested({ 'detail-type': 'Action Decided', source: 'countersign' }))).toBe(false);
  });

  it('ignores a request whose source is not an agent', () => {
    expect(matchesEventPattern(ACTION_REQUESTED_PATTERN, requested({ source: 'billing-agent' }))).toBe(false);
    expect(matchesEventPattern(ACTION_REQUESTED_PATTERN, requested({ source: 'Agent.billing-agent' }))).toBe(false);
  });

  it('ignores another detail-type from an agent', () => {
    expect(matchesEventPattern(ACTION_REQUESTED_PATTERN, requested({ 'detail-type': 'Action requested' }))).toBe(false);
  });
});

describe('matchesEventPattern', () => {
  it('matches exact values by type: the string "1" is not the number 1', () => {
    expect(matchesEventPattern({ detail: { specVersion: ['1'] } }, requested({ detail: { specVersion: '1' } }))).toBe(true);
    expect(matchesEventPattern({ detail: { specVersion: [1] } }, requested({ detail: { specVersion: '1' } }))).toBe(false);
    expect(matchesEventPattern({ detail: { flag: [null] } }, requested({ detail: { flag: null } }))).toBe(true);
  });

  it('matches any listed value, and any element of an array value', () => {
    expect(matchesEventPattern({ detail: { environment: ['dev', 'prod'] } }, requested())).toBe(true);
    expect(matchesEventPattern({ detail: { tags: ['y'] } }, requested())).toBe(true);
    expect(matchesEventPattern({ detail: { tags: ['z'] } }, requested())).toBe(false);
  });

  it('supports prefix and suffix on strings only', () => {
    expect(matchesEventPattern({ detail: { actionId: [{ prefix: 'a-' }] } }, requested())).toBe(true);
    expect(matchesEventPattern({ detail: { actionId: [{ suffix: '-1' }] } }, requested())).toBe(true);
    expect(matchesEventPattern({ detail: { n: [{ prefix: '1' }] } }, requested({ detail: { n: 12 } }))).toBe(false);
  });

  it('supports exists, which only a missing field satisfies with false', () => {
    expect(matchesEventPattern({ detail: { actionId: [{ exists: true }] } }, requested())).toBe(true);
    expect(matchesEventPattern({ detail: { missing: [{ exists: true }] } }, requested())).toBe(false);
    expect(matchesEventPattern({ detail: { missing: [{ exists: false }] } }, requested())).toBe(true);
    expect(matchesEventPattern({ detail: { actionId: [{ exists: false }] } }, requested())).toBe(false);
  });

  it('supports anything-but, which a missing field does not satisfy', () => {
    expect(matchesEventPattern({ detail: { environment: [{ 'anything-but': 'dev' }] } }, requested())).toBe(true);
    expect(matchesEventPattern({ detail: { environment: [{ 'anything-but': ['dev', 'prod'] }] } }, requested())).toBe(false);
    expect(matchesEventPattern({ detail: { missing: [{ 'anything-but': 'x' }] } }, requested())).toBe(false);
  });

  it('descends into nested objects and does not match a leaf matcher against an object', () => {
    expect(matchesEventPattern({ detail: { resource: { type: ['Database'] } } }, requested())).toBe(true);
    expect(matchesEventPattern({ detail: { resource: { type: ['User'] } } }, requested())).toBe(false);
    expect(matchesEventPattern({ detail: { resource: ['Database'] } }, requested())).toBe(false);
    expect(matchesEventPattern({ detail: { actionId: { nested: ['x'] } } }, requested())).toBe(false);
  });

  it('needs every field of the pattern to match', () => {
    expect(matchesEventPattern({ source: [{ prefix: 'agent.' }], detail: { environment: ['dev'] } }, requested())).toBe(false);
  });
});

describe('validateEventPattern', () => {
  it('accepts the patterns the stack uses', () => {
    expect(() => validateEventPattern(ACTION_REQUESTED_PATTERN)).not.toThrow();
  });

  it.each([
    [{}, 'pattern: must not be empty'],
    [{ source: [] }, 'source: a list of matchers must not be empty'],
    [{ source: [{ wildcard: 'agent.*' }] }, 'source[0]: operator "wildcard" is not supported'],
    [{ source: [{ prefix: 1 }] }, 'source[0]: "prefix" takes a string'],
    [{ source: [{ prefix: 'a', suffix: 'b' }] }, 'source[0]: an operator object has exactly one key'],
    [{ detail: { n: [{ numeric: ['>', 1] }] } }, 'detail.n[0]: operator "numeric" is not supported'],
    ['source', 'pattern: must be an object'],
  ])('refuses %j, naming the field', (pattern, message) => {
    expect(() => validateEventPattern(pattern)).toThrow(InvalidEventPatternError);
    expect(() => validateEventPattern(pattern)).toThrow(message);
  });
});
