import { describe, expect, it } from 'vitest';
import { LIMITS, validateActionExecuted, validateActionRequested } from '../../shared/domain/contract.js';
import sample from '../events/db-export-prod.json' with { type: 'json' };

const good = sample.detail;
const reasonFor = (detail: unknown) => {
  const result = validateActionRequested(detail);
  if (result.ok) throw new Error('expected the detail to be refused');
  return result.reason;
};

describe('Action Requested contract v1', () => {
  it('accepts the sample request as sent', () => {
    const result = validateActionRequested(good);
    expect(result.ok).toBe(true);
  });

  it.each([
    ['actionId', { actionId: '' }, /^actionId: must be 1-128 characters/],
    ['actionId', { actionId: 'has space' }, /^actionId: must be 1-128 characters/],
    ['actionId', { actionId: 'a'.repeat(129) }, /^actionId: must be 1-128 characters/],
    ['specVersion', { specVersion: '2' }, /^specVersion: must be "1"/],
    ['action', { action: 'export' }, /^action: must be a dotted lower-case verb/],
    ['action', { action: 'DB.Export' }, /^action: must be a dotted lower-case verb/],
    ['environment', { environment: 'Prod!' }, /^environment: must be 1-32 characters/],
    ['resource', { resource: { type: 'database', id: 'x' } }, /^resource\.type: must be a Cedar entity type name/],
    ['resource', { resource: { type: 'Database' } }, /^resource\.id: is required/],
    ['resource', { resource: { type: 'User', id: 'u-1', attributes: { admin: 'yes', 'bad name': 1 } } }, /^resource\.attributes\.bad name: attribute names must be identifiers/],
    ['parameters', { parameters: ['not', 'an', 'object'] }, /^parameters: must be a JSON object/],
    ['parameters', { parameters: 'x' }, /^parameters: must be a JSON object/],
    ['justification', { justification: 'x'.repeat(4001) }, /^justification: must be at most 4000 characters/],
    ['justification', { justification: 42 }, /^justification: /],
    ['agent', { agent: { id: 'billing-agent', role: 'admin' } }, /^agent: unknown field "role"/],
    ['agent', { agent: { id: 'Billing Agent' } }, /^agent\.id: must be 1-64 characters/],
    ['extra field', { approvedBy: 'me' }, /^detail: unknown field "approvedBy" \(extra fields are refused\)/],
  ])('refuses a bad %s with a reason naming the field and the rule', (_field, change, reason) => {
    expect(reasonFor({ ...good, ...change })).toMatch(reason);
  });

  it('names every missing field', () => {
    const { justification: _j, parameters: _p, ...rest } = good;
    expect(reasonFor(rest)).toBe('parameters: is required; justification: is required');
  });

  it('refuses parameters larger than 64 KiB of canonical JSON, saying how large they were', () => {
    const parameters = { blob: 'x'.repeat(LIMITS.parametersMaxBytes) };
    expect(reasonFor({ ...good, parameters })).toMatch(/^parameters: is 65547 bytes as canonical JSON; the limit is 65536 bytes/);
    const justUnder = { blob: 'x'.repeat(LIMITS.parametersMaxBytes - '{"blob":""}'.length) };
    expect(validateActionRequested({ ...good, parameters: justUnder }).ok).toBe(true);
  });

  it('refuses a detail over 256 KiB before looking at the fields', () => {
    const context = { notes: Array.from({ length: 20 }, () => 'y'.repeat(14_000)) };
    expect(reasonFor({ ...good, context })).toMatch(/^detail: is \d+ bytes as canonical JSON; the limit is 262144 bytes/);
  });

  it('refuses a detail that is not an object, and keeps a usable actionId for the record', () => {
    expect(reasonFor('just text')).toBe('detail: must be a JSON object');
    expect(reasonFor(null)).toBe('detail: must be a JSON object');
    const result = validateActionRequested({ ...good, specVersion: '9' });
    expect(result).toMatchObject({ ok: false, actionId: good.actionId });
  });

  it('keeps the text an agent wrote exactly as written (rendering escapes it, not the contract)', () => {
    const result = validateActionRequested(good);
    expect(result.ok && result.request.justification).toBe(good.justification);
  });
});

describe('Action Executed contract v1', () => {
  const good = {
    specVersion: '1',
    actionId: 'billing-agent-42',
    payloadSha256: 'a'.repeat(64),
    status: 'succeeded',
    startedAt: '2026-12-07T03:00:10.000Z',
    finishedAt: '2026-12-07T03:00:40Z',
    result: { summary: 'exported 1,204 rows', sha256: 'b'.repeat(64) },
  };
  const reasonFor = (detail: unknown) => {
    const result = validateActionExecuted(detail);
    return result.ok ? undefined : result.reason;
  };

  it('accepts a succeeded and a failed report', () => {
    expect(validateActionExecuted(good)).toMatchObject({ ok: true, report: good });
    const failed = { ...good, status: 'failed', result: undefined, error: { code: 'AccessDenied', message: 'not allowed' } };
    expect(validateActionExecuted(JSON.parse(JSON.stringify(failed)))).toMatchObject({ ok: true });
  });

  it.each([
    ['a failed report without its error', { ...good, status: 'failed' }, 'error: is required when status is "failed"'],
    ['a succeeded report with an error', { ...good, error: { code: 'X', message: 'y' } }, 'error: must be absent when status is "succeeded"'],
    ['a finish before the start', { ...good, finishedAt: '2026-12-07T03:00:00.000Z' }, 'finishedAt: must not be before startedAt'],
    ['a time that is not UTC ISO 8601', { ...good, startedAt: '2026-12-07 03:00' }, 'startedAt: must be an ISO 8601 UTC time'],
    ['an impossible date', { ...good, startedAt: '2026-02-31T03:00:00.000Z' }, 'startedAt: must be a real date and time'],
    ['a hash that is not SHA-256 hex', { ...good, payloadSha256: 'ABC' }, 'payloadSha256: must be a SHA-256 as 64 lower-case hex digits'],
    ['a result summary over 1,000 characters', { ...good, result: { summary: 'x'.repeat(1001) } }, 'result.summary: must be at most 1000 characters'],
    ['an empty result', { ...good, result: {} }, 'result: must have "summary", "sha256" or both'],
    ['an error code with spaces', { ...good, status: 'failed', result: undefined, error: { code: 'access denied', message: 'm' } }, 'error.code: must be letters, digits'],
    ['an unknown field', { ...good, executedBy: 'me' }, 'detail: unknown field "executedBy" (extra fields are refused)'],
    ['a missing status', { ...good, status: undefined }, 'status: is required'],
  ])('refuses %s, saying what was wrong', (_name, detail, reason) => {
    expect(reasonFor(JSON.parse(JSON.stringify(detail)))).toContain(reason);
  });

  it('applies the request rules before the schema: refused keys, depth, size', () => {
    expect(reasonFor(JSON.parse(`{"__proto__": 1, "actionId": "a"}`))).toContain('the key "__proto__" is refused');
    expect(reasonFor({ ...good, result: { summary: 'x', sha256: 'b'.repeat(64), pad: 'y'.repeat(20_000) } })).toMatch(/^detail: is \d+ bytes as canonical JSON; the limit is 16384 bytes$/);
    expect(validateActionExecuted({ ...good, status: 'odd' })).toMatchObject({ ok: false, actionId: 'billing-agent-42' });
  });
});
