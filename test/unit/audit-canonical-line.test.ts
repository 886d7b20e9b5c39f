import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalJson, loneSurrogateAt } from '../../shared/domain/canonical-json.js';
import { CANONICAL_KEYS, CAPTURED_KEYS, canonicalTokens, token, tokenValue } from '../../shared/audit/canonical-line.js';

// Records as the writer makes them: any subset of the table's columns, each a string (any Unicode,
// controls and quotes included), null, a safe integer or a list of strings.
const value = fc.oneof(fc.string({ unit: 'grapheme' }), fc.string({ unit: fc.integer({ min: 0, max: 0x7f }).map((c) => String.fromCharCode(c)) }), fc.constant(null), fc.maxSafeInteger().filter((n) => Math.abs(n) < 1e15), fc.array(fc.string({ unit: 'grapheme' }), { maxLength: 3 }));
const record = fc.dictionary(fc.constantFrom(...CANONICAL_KEYS), value, { minKeys: 1 });

/** Ways to write the same record in bytes that are not canonical. */
const perturbations: Array<(text: string, at: number) => string> = [
  (text, at) => `${text.slice(0, at)} ${text.slice(at)}`,
  (text, at) => `${text.slice(0, at)}\\u00${text.charCodeAt(at).toString(16).padStart(2, '0')}${text.slice(at + 1)}`,
  (text, at) => `${text.slice(0, at)}\\${text.slice(at)}`,
  (text, at) => text.slice(0, at) + text.slice(at + 1),
  (text, at) => `${text.slice(0, at)}${text.slice(at, at + 1).toUpperCase()}${text.slice(at + 1)}`,
  (text) => text.replace(/^\{("[a-z_]+":[^,]*),("[a-z_]+":[^,]*)/, '{$2,$1'),
  (text) => text.replace(/^\{("[a-z_]+":[^,}]*)/, '{$1,$1'),
  (text) => text.replace(/:(-?\d+)/, ':$1.0'),
];

describe('canonical audit lines (the fast path of verify)', () => {
  it('admits the canonical JSON of every record of the table\'s columns, and reads its fields back', () => {
    fc.assert(fc.property(record, (r) => {
      const tokens = canonicalTokens(canonicalJson(r));
      expect(tokens).toBeDefined();
      for (const key of CAPTURED_KEYS) expect(tokenValue(token(tokens!, key))).toEqual(r[key]);
    }), { numRuns: 500 });
  });

  it('admits no text that is not the canonical JSON of what it parses to (else verify would hash bytes that are not the record)', () => {
    fc.assert(fc.property(record, fc.nat(), fc.nat({ max: perturbations.length - 1 }), (r, position, which) => {
      const canonical = canonicalJson(r);
      const text = perturbations[which]!(canonical, position % canonical.length);
      // verify's lines are decoded from UTF-8, which never yields a lone surrogate (a cut pair is U+FFFD).
      if (loneSurrogateAt(text) >= 0 || canonicalTokens(text) === undefined) return;
      // Admitted: then it is valid JSON and exactly its canonical form.
      expect(canonicalJson(JSON.parse(text) as unknown)).toBe(text);
    }), { numRuns: 3000 });
  });

  it('sends a key the table does not have, a lone surrogate, a float and a big integer to the general path', () => {
    for (const text of ['{"not_a_column":null}', '{"action":"\\ud800"}', '{"request_seq":1.5}', '{"request_seq":12345678901234567}', '{"action":"a"}\n', '{"action":null,"action":null}']) {
      expect(canonicalTokens(text), text).toBeUndefined();
    }
  });
});
