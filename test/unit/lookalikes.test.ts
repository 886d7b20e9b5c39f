import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { lookalikeWarning, lookalikeWords } from '../../shared/domain/lookalikes.js';

describe('lookalike words', () => {
  it('flags a word that mixes scripts, naming the odd letters by code point and script', () => {
    expect(lookalikeWords('db.export on custоmers')).toEqual([{ word: 'custоmers', why: 'mixes Latin and Cyrillic letters', letters: [{ char: 'о', codePoint: 'U+043E', script: 'Cyrillic' }] }]);
    expect(lookalikeWords('pаypаl')[0]?.letters.map((l) => l.codePoint)).toEqual(['U+0430', 'U+0430']);
    expect(lookalikeWords('Αdmin')[0]?.why).toBe('mixes Greek and Latin letters');
  });

  it('flags compatibility forms: fullwidth letters and digits, mathematical letters, ligatures', () => {
    expect(lookalikeWords('ｃｕｓｔ')[0]?.why).toBe('has compatibility forms (fullwidth or styled characters)');
    expect(lookalikeWords('amount １０００')[0]?.word).toBe('１０００');
    expect(lookalikeWords('𝐚𝐝𝐦𝐢𝐧')).toHaveLength(1);
    expect(lookalikeWords('ﬁle')).toHaveLength(1);
  });

  it('does not flag words of one script in any language, accents, fractions or superscripts', () => {
    expect(lookalikeWords('Привет мир café naïve Ελλάδα 東京 m² ½ customers 2026-12-07')).toEqual([]);
    fc.assert(fc.property(fc.stringMatching(/^[a-zA-Z0-9 ._-]{0,80}$/), (ascii) => lookalikeWords(ascii).length === 0));
  });

  it('says where each word is, at most five, and how many more', () => {
    expect(lookalikeWarning([['Resource', 'customers'], ['Parameters', '{"table":"orders"}']])).toBeUndefined();
    const many = lookalikeWarning([['Parameters', Array.from({ length: 7 }, (_, i) => `tаble${i}`).join(' ')]]);
    expect(many).toMatch(/^Lookalike letters: check these words, they may not be what they seem\. Parameters: "tаble0" mixes Latin and Cyrillic letters \(U\+0430 Cyrillic\);/);
    expect(many).toMatch(/; and 2 more\.$/);
  });
});
