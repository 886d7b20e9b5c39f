import { describe, expect, it } from 'vitest';
import { canonicalJson, CanonicalJsonError, sha256Hex } from '../../shared/domain/canonical-json.js';
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
