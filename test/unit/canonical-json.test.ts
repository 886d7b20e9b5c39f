import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalJson, CanonicalJsonError, jsonDepth, loneSurrogateAt, rawJsonText, sha256Hex, utf8Bytes, utf8Prefix, wellFormedText } from '../../shared/domain/canonical-json.js';
import { payloadOf, payloadSha256, validateActionRequested, type ActionRequest } from '../../shared/domain/contract.js';
import sample from '../events/db-export-prod.json' with { type: 'json' };

// Expected texts and digests were computed independently (Python json.dumps with sorted keys and
// compact separators, hashlib.sha256), not by the code under test.
describe('canonical JSON (RFC 8785)', () => {
  it.each([
    [{ b: 2, a: 1 }, '{"a":1,"b":2}'],
    [{ z: [3, { y: true, x: null }], a: 'é' }, '{"a":"é","z":[3,{"x":null,"y":true}]}'],
    [{ n: [1e21, 1e-7, 100.0, -0, 0.1, 123456789012345680000] }, '{"n":[1e+21,1e-7,100,0,0.1,123456789012345680000]}'],
    [{ s: 'line\nquote" tab\t\u0001 ✓' }, '{"s":"line\\nquote\\" tab\\t\\u0001 ✓"}'],
    [{ '\u20ac': 1, '\r': 2, '1': 3, a: 4 }, '{"\\r":2,"1":3,"a":4,"€":1}'],
  ])('serializes %j as %s', (value, expected) => {
    expect(canonicalJson(value)).toBe(expected);
  });

  it('refuses values JSON cannot carry, with a clear error', () => {
    expect(() => canonicalJson({ a: Number.NaN })).toThrow(CanonicalJsonError);
    expect(() => canonicalJson({ a: Infinity })).toThrow(/no canonical JSON form/);
    expect(() => canonicalJson(undefined)).toThrow(/undefined/);
  });

  it('hashes with SHA-256 in lower-case hex', () => {
    expect(sha256Hex('')).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  });
});

describe('payloadSha256', () => {
  const request = (validateActionRequested(sample.detail) as { ok: true; request: ActionRequest }).request;

  it('covers agent, onBehalfOf, action, resource, environment and parameters, canonically', () => {
    expect(canonicalJson(payloadOf(request))).toBe(
      '{"action":"db.export","agent":"billing-agent","environment":"prod","onBehalfOf":"alice@example.com","parameters":{"columns":["id","email"],"filters":{"active":true,"country":"DE"},"format":"csv","limit":1000,"table":"customers"},"resource":{"id":"customers","type":"Database"}}',
    );
    expect(payloadSha256(request)).toBe('50329cc4ab8bd2dc2184d62d1c6448c87ae977c0adad834060499982074c1e3d');
  });

  it('uses null for a request on nobody\'s behalf and keeps non-ASCII text exact', () => {
    const iam: ActionRequest = {
      specVersion: '1',
      actionId: 'iam-1',
      agent: { id: 'ops-agent' },
      action: 'iam.policy.update',
      resource: { type: 'IamPolicy', id: 'arn:aws:iam::123456789012:policy/ReadOnly' },
      environment: 'prod',
      parameters: { statement: { Effect: 'Allow', Action: ['s3:GetObject'] }, note: 'héllo ✓ "quoted"\n' },
      justification: 'tighten read-only policy',
    };
    expect(payloadSha256(iam)).toBe('f84dcf9066fa5f83789c52d360fbebe56c5986f9cfc683c9b45a05fa2d6025e9');
  });

  it('does not depend on key order, justification or context', () => {
    const reordered = JSON.parse(JSON.stringify({ ...request, parameters: { limit: 1000, table: 'customers', filters: { active: true, country: 'DE' }, columns: ['id', 'email'], format: 'csv' } }));
    expect(payloadSha256({ ...reordered, justification: 'other words', context: {} })).toBe(payloadSha256(request));
    expect(payloadSha256({ ...request, parameters: { ...request.parameters, limit: 1001 } })).not.toBe(payloadSha256(request));
  });
});

describe('rawJsonText (the raw detail of an untrusted request)', () => {
  it('is canonical JSON for every JSON value canonical JSON accepts', () => {
    fc.assert(fc.property(fc.jsonValue(), (value) => {
      expect(rawJsonText(value)).toBe(canonicalJson(value));
    }), { numRuns: 300 });
  });

  it('gives any parsed JSON value back, lone surrogates and odd keys included', () => {
    const text = fc.string({ unit: 'binary' });
    const value = fc.letrec((tie) => ({
      node: fc.oneof({ depthSize: 'small' }, fc.constant(null), fc.boolean(), fc.double({ noNaN: true, noDefaultInfinity: true }), text,
        fc.array(tie('node')), fc.dictionary(fc.oneof(text, fc.constantFrom('__proto__', 'constructor', 'toString')), tie('node'))),
    })).node;
    fc.assert(fc.property(value, (sent) => {
      // The value as a receiver has it: parsed from JSON, where "__proto__" is an own key.
      const parsed = JSON.parse(JSON.stringify(sent)) as unknown;
      expect(JSON.parse(rawJsonText(parsed))).toEqual(parsed);
    }), { numRuns: 300 });
  });

  it('writes a 100,000-level value without overflowing the stack, and escapes lone surrogates', () => {
    const depth = 100_000;
    const text = `{"a":${'['.repeat(depth)}"\\ud800"${']'.repeat(depth)}}`;
    expect(rawJsonText(JSON.parse(text))).toBe(text);
    expect(() => canonicalJson(JSON.parse(text))).toThrow(CanonicalJsonError);
  });

  it('refuses values JSON cannot carry', () => {
    expect(() => rawJsonText({ a: Number.NaN })).toThrow(CanonicalJsonError);
    expect(() => rawJsonText({ a: () => 1 })).toThrow(/function/);
  });
});

describe('jsonDepth', () => {
  it('counts levels of objects and arrays, without recursion', () => {
    expect([jsonDepth('x'), jsonDepth(null), jsonDepth({}), jsonDepth({ a: [[]], b: 1 }), jsonDepth([{ a: { b: [1] } }])]).toEqual([0, 0, 1, 3, 4]);
    expect(jsonDepth(JSON.parse(`${'['.repeat(100_000)}${']'.repeat(100_000)}`))).toBe(100_000);
  });
});

describe('text helpers', () => {
  it('finds lone surrogates and only them', () => {
    expect(loneSurrogateAt('agent.billing-agent\uD800')).toBe(19);
    expect(loneSurrogateAt('x\uDC00')).toBe(1);
    expect(loneSurrogateAt('pair \uD83D\uDE00 ok')).toBe(-1);
    expect(wellFormedText('a\uD800b\uD83D\uDE00')).toBe('a\\uD800b\uD83D\uDE00');
  });

  it('cuts a prefix on a whole character, within the byte limit', () => {
    fc.assert(fc.property(fc.string({ unit: 'grapheme', maxLength: 200 }), fc.nat({ max: 400 }), (text, max) => {
      const prefix = utf8Prefix(text, max);
      expect(text.startsWith(prefix)).toBe(true);
      expect(utf8Bytes(prefix)).toBeLessThanOrEqual(max);
      expect(loneSurrogateAt(prefix)).toBe(-1);
      // The longest such prefix: one more character would not fit.
      const next = [...text.slice(prefix.length)][0];
      if (next !== undefined) expect(utf8Bytes(prefix + next)).toBeGreaterThan(max);
    }), { numRuns: 300 });
  });
});
