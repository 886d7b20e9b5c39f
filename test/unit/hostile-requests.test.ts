import { createHash } from 'node:crypto';
import canonicalize from 'canonicalize';
import { describe, expect, it } from 'vitest';
import { MemoryDecisionStore, MemoryEventPublisher, MemoryWorkflowStarter } from '../../shared/adapters/memory/memory-adapters.js';
import { LIMITS } from '../../shared/domain/contract.js';
import { evaluateActionRequested, type IncomingEvent, type IntakeDeps } from '../../shared/domain/intake.js';
import { CedarPolicyEngine } from '../../shared/policy/cedar-policy-engine.js';
import { actionRequested } from '../support/requests.js';

/**
 * The four input classes of issue 11, as the bus delivers them (parsed from the JSON text an agent
 * sent, so "__proto__" is an own key): each is recorded `invalid`, once, with a reason, and nothing
 * stored outgrows what DynamoDB takes. The same classes are generated at random in
 * test/integration/hostile-requests.property.test.ts.
 */

const policy = new CedarPolicyEngine();
function deps() {
  return { policy, store: new MemoryDecisionStore(), publisher: new MemoryEventPublisher(), workflow: new MemoryWorkflowStarter(), now: () => new Date('2026-11-22T03:00:00Z') } satisfies IntakeDeps;
}

/** An event whose detail is `detail` (a valid request by default) with `patch` spliced in as JSON text. */
function sent(patch: Record<string, string>, options: { source?: string } = {}): IncomingEvent {
  const event = actionRequested({}, options);
  const fields = Object.entries({ ...(event.detail as Record<string, unknown>) }).map(([key, value]) => [key, JSON.stringify(value)]);
  const text = `{${[...fields.filter(([key]) => !(key as string in patch)), ...Object.entries(patch)].map(([key, value]) => `${JSON.stringify(key)}:${value}`).join(',')}}`;
  return { ...event, detail: JSON.parse(text) as unknown };
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
const actionIdOf = (event: IncomingEvent) => (event.detail as { actionId: string }).actionId;

async function decide(event: IncomingEvent) {
  const d = deps();
  const result = await evaluateActionRequested(event, d);
  return { result, d, record: d.store.records.get(actionIdOf(event)) };
}

describe('oversize requests within the bus\'s 1 MiB (issue 11, class 1)', () => {
  it.each([
    ['parameters {"pad": "x" x 640,000}', { parameters: JSON.stringify({ pad: 'x'.repeat(640_000) }) }],
    ['a 1,000,000-character justification', { justification: JSON.stringify('j'.repeat(1_000_000)) }],
    ['a 450 KB context', { context: JSON.stringify({ pad: 'c'.repeat(450_000) }) }],
  ])('records %s as invalid, keeping its SHA-256, its size and a 16 KiB prefix, never the whole', async (_name, patch) => {
    const event = sent(patch);
    const { result, d, record } = await decide(event);
    const whole = canonicalize(event.detail) as string;
    expect(result).toMatchObject({ status: 'created', dispatched: true });
    expect(record).toMatchObject({ outcome: 'invalid', rawDetailSha256: sha256(whole), rawDetailBytes: Buffer.byteLength(whole), rawDetailTruncated: true, payloadSha256: null });
    expect(record?.reason).toMatch(/^detail: is \d+ bytes as canonical JSON; the limit is 262144 bytes$/);
    expect(whole.startsWith(record?.rawDetail as string)).toBe(true);
    expect(Buffer.byteLength(record?.rawDetail as string)).toBeLessThanOrEqual(LIMITS.rawDetailPrefixBytes);
    expect(Buffer.byteLength(record?.rawDetail as string)).toBeGreaterThan(LIMITS.rawDetailPrefixBytes - 4);
    expect(d.publisher.published).toEqual([expect.objectContaining({ actionId: actionIdOf(event), outcome: 'invalid' })]);
  });

  it('keeps an invalid detail within the store\'s size whole, with its hash and size', async () => {
    const event = sent({ parameters: JSON.stringify({ pad: 'x'.repeat(70_000) }) });
    const { record } = await decide(event);
    const whole = canonicalize(event.detail) as string;
    expect(record).toMatchObject({ outcome: 'invalid', rawDetail: whole, rawDetailSha256: sha256(whole), rawDetailBytes: Buffer.byteLength(whole), rawDetailTruncated: false });
    expect(record?.reason).toMatch(/^parameters: is 70\d\d\d bytes as canonical JSON; the limit is 65536 bytes$/);
  });
});

describe('nesting (issue 11, class 2)', () => {
  const nested = (levels: number) => `${'['.repeat(levels)}${']'.repeat(levels)}`;

  it('records parameters nested 10,000 levels deep as invalid, naming the field and the limit, with the detail kept whole', async () => {
    const event = sent({ parameters: `{"deep":${nested(10_000)}}` });
    const { result, record } = await decide(event);
    expect(result.status).toBe('created');
    expect(record).toMatchObject({ outcome: 'invalid', reason: 'parameters: nests 10002 levels of objects and arrays; the limit is 32, counting the detail as level 1' });
    expect(record?.rawDetail).toContain(`"parameters":{"deep":${nested(10_000)}}`);
  });

  it('takes 32 levels, the detail included, and refuses 33', async () => {
    // detail (1) > parameters (2) > deep (3) > 29 more arrays = 32 levels.
    expect((await decide(sent({ parameters: `{"deep":${nested(30)}}` }))).record?.outcome).toBe('allowed');
    expect((await decide(sent({ parameters: `{"deep":${nested(31)}}` }))).record).toMatchObject({ outcome: 'invalid', reason: expect.stringContaining('nests 33 levels') });
  });
});

describe('"__proto__" keys (issue 11, class 3)', () => {
  it('refuses parameters {"__proto__": {"admin": true}} instead of hashing them without it', async () => {
    const { record } = await decide(sent({ parameters: '{"__proto__":{"admin":true},"table":"customers"}' }));
    expect(record).toMatchObject({ outcome: 'invalid', payloadSha256: null, reason: expect.stringMatching(/^parameters\.__proto__: the key "__proto__" is refused/) });
    expect(JSON.parse(record?.rawDetail as string).parameters).toEqual(JSON.parse('{"__proto__":{"admin":true},"table":"customers"}'));
  });

  it('refuses resource.attributes {"__proto__": {"admin": false}} on a password reset (it came back pending)', async () => {
    const event = sent({ action: '"user.password.reset"', resource: '{"type":"User","id":"u-456","attributes":{"__proto__":{"admin":false}}}' });
    const { record } = await decide(event);
    expect(record).toMatchObject({ outcome: 'invalid', reason: expect.stringMatching(/^resource\.attributes\.__proto__: /) });
  });

  it('keeps "constructor" and other Object.prototype names as ordinary data, in the hash', async () => {
    const parameters = '{"constructor":{"admin":true},"toString":"x","hasOwnProperty":1}';
    const event = sent({ parameters });
    const { record } = await decide(event);
    const payload = { agent: 'billing-agent', onBehalfOf: 'alice@example.com', action: 'db.query', resource: { type: 'Database', id: 'customers' }, environment: 'prod', parameters: JSON.parse(parameters) as unknown };
    expect(record).toMatchObject({ outcome: 'allowed', payloadSha256: sha256(canonicalize(payload) as string) });
    expect(record?.request?.parameters).toEqual(JSON.parse(parameters));
  });
});

describe('lone surrogates (issue 11, class 4)', () => {
  it('records a lone surrogate in Source as invalid, once, under its actionId, the source shown escaped', async () => {
    const event = sent({}, { source: 'agent.billing-agent\uD800' });
    const { result, d, record } = await decide(event);
    expect(result).toMatchObject({ status: 'created', dispatched: true });
    expect(record).toMatchObject({
      outcome: 'invalid',
      source: 'agent.billing-agent\\uD800',
      reason: 'source: "agent.billing-agent\\uD800" has a lone surrogate at character 19, which is not valid Unicode; agents send with source "agent.<id>"',
    });
    expect(d.publisher.published).toHaveLength(1);
    // Delivered again: nothing new is recorded, and the decision on record is handed on again, the same.
    expect(await evaluateActionRequested(event, d)).toMatchObject({ status: 'duplicate', dispatched: true, record: { outcome: 'invalid' } });
    expect(d.publisher.published).toHaveLength(2);
    expect(d.publisher.published[1]).toEqual(d.publisher.published[0]);
  });

  it.each([
    ['the justification', { justification: '"why\\ud800"' }, 'justification: text with a lone surrogate at character 3 is not valid Unicode'],
    ['a key of parameters', { parameters: '{"k\\udc00":1}' }, 'parameters.k\\uDC00: a key with a lone surrogate at character 1 is not valid Unicode'],
  ])('records a lone surrogate in %s as invalid, keeping the detail as escaped JSON text', async (_name, patch, reason) => {
    const event = sent(patch);
    const { record } = await decide(event);
    expect(record).toMatchObject({ outcome: 'invalid', reason });
    expect(JSON.parse(record?.rawDetail as string)).toEqual(event.detail);
    expect(record?.rawDetail).toMatch(/\\ud[8c]00/);
  });
});

describe('odd envelopes', () => {
  it('records an event without a detail as invalid under its event id (Lambda may be invoked with anything)', async () => {
    const d = deps();
    const event: IncomingEvent = { id: 'evt-no-detail', source: 'agent.billing-agent', detailType: 'Action Requested', detail: undefined };
    expect(await evaluateActionRequested(event, d)).toMatchObject({ status: 'created', record: { key: 'invalid/evt-no-detail', outcome: 'invalid', reason: 'detail: must be a JSON object' } });
  });

  it('records a detail-type with a lone surrogate as invalid, the detail-type shown escaped', async () => {
    const d = deps();
    const event: IncomingEvent = { ...actionRequested(), id: 'evt-dt', detailType: 'Action Requested\uDFFF' };
    expect(await evaluateActionRequested(event, d)).toMatchObject({ status: 'created', record: { key: 'invalid/evt-dt', outcome: 'invalid', reason: 'detail-type: "Action Requested\\uDFFF" is not "Action Requested"' } });
  });
});

describe('reasons', () => {
  it('quote what was sent shortened: a 100,000-character unknown field name gives a short reason', async () => {
    const { record } = await decide(sent({ ['k'.repeat(100_000)]: '1' }));
    expect(record?.outcome).toBe('invalid');
    expect(record?.reason).toBe(`detail: unknown field "${'k'.repeat(64)}..." (extra fields are refused)`);
  });
});
