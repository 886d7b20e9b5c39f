import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { lookalikeWarning, lookalikeWords, stringsOf } from '../../shared/domain/lookalikes.js';

const codes = (text: string) => lookalikeWords(text).map((found) => found.letters.map((l) => l.codePoint));

describe('lookalike words', () => {
  it('flags a word that mixes scripts, naming the letters that are not Latin', () => {
    expect(lookalikeWords('db.export on custоmers')).toEqual([{ word: 'custоmers', why: 'mixes Latin and Cyrillic letters', letters: [{ char: 'о', codePoint: 'U+043E', script: 'Cyrillic' }] }]);
    // Mostly Cyrillic: still the Cyrillic letters are named, not the one Latin `l`.
    expect(codes('раураl')).toEqual([['U+0440', 'U+0430', 'U+0443', 'U+0440', 'U+0430']]);
    expect(lookalikeWords('Αdmin')[0]?.why).toBe('mixes Greek and Latin letters');
  });

  it('flags compatibility forms of ASCII letters and digits: fullwidth, mathematical, ligatures, Roman numerals, the Kelvin sign', () => {
    for (const word of ['ｃｕｓｔ', '１０００', '𝐚𝐝𝐦𝐢𝐧', 'ﬁle', 'adm\u2170n', '\u217Dustomers', '\u212Aelvin']) {
      expect(lookalikeWords(word)[0]?.why, word).toBe('has compatibility forms of ASCII letters or digits (fullwidth, styled, ligatures, Roman numerals)');
    }
  });

  it('flags digits of two numbering systems, and a word wholly of Latin-looking letters beside Latin text', () => {
    expect(lookalikeWords('limit 1\u09E600')[0]).toMatchObject({ why: 'mixes digits of more than one numbering system', letters: [{ codePoint: 'U+09E6' }] });
    expect(lookalikeWords('db.сору')[0]).toMatchObject({ word: 'сору', why: 'is all Cyrillic letters that look Latin, beside Latin text' });
    expect(lookalikeWords('s3://bucket/рау')[0]?.word).toBe('рау');
    // Without Latin beside it, a Cyrillic word is just Cyrillic.
    expect(lookalikeWords('сору')).toEqual([]);
  });

  it('is not split by a hair space or a zero-width character', () => {
    expect(lookalikeWords('cust\u200Aо\u200Amers')[0]?.word).toBe('custоmers');
    expect(lookalikeWords('cust\u200Bоmers')[0]?.word).toBe('custоmers');
  });

  it('does not flag ordinary text: one script in any language, accents, Latin with Chinese, Japanese or Korean, ordinals, units', () => {
    expect(lookalikeWords('Привет мир café naïve Ελλάδα 東京 m² ½ customers 2026-12-07 Tシャツ 调用API接口 GitHub에서 PR을 1ª nº 500µs user@example.com https://example.com/a?b=c')).toEqual([]);
    fc.assert(fc.property(fc.stringMatching(/^[a-zA-Z0-9 ._@:/?=&-]{0,80}$/), (ascii) => lookalikeWords(ascii).length === 0));
  });

  it('reads the strings of parameters one by one, so a JSON escape cannot join two words', () => {
    expect(stringsOf({ body: 'Здравствуйте,\nСпасибо', list: ['a', { k: 'v' }], n: 1 })).toEqual(['body', 'Здравствуйте,\nСпасибо', 'list', 'a', 'k', 'v', 'n']);
    expect(lookalikeWarning([['Parameters', stringsOf({ body: 'Здравствуйте,\nСпасибо', greeting: 'Καλημέρα\tφίλε' })]])).toBeUndefined();
  });

  it('says where each word is, at most five, and how many more; never longer than fits in a message', () => {
    expect(lookalikeWarning([['Resource', 'customers'], ['Parameters', ['table', 'orders']]])).toBeUndefined();
    const many = lookalikeWarning([['Parameters', Array.from({ length: 7 }, (_, i) => `tаble${i}`).join(' ')]]);
    expect(many).toMatch(/^Lookalike letters: check these words, they may not be what they seem\. Parameters: "tаble0" mixes Latin and Cyrillic letters \(U\+0430 Cyrillic\);/);
    expect(many).toMatch(/; and 2 more\.$/);
    // Words whose marks each show as a 9-character label: the warning stops adding words before its budget.
    const heavy = Array.from({ length: 6 }, (_, i) => `a${'\u{E0100}'.repeat(60)}о${i}`).join(' ');
    const warning = lookalikeWarning([['Parameters', heavy]]) ?? '';
    expect(warning).toMatch(/; and \d+ more\.$/);
    expect(warning.replace(/[\u{E0100}-\u{E01EF}]/gu, '[U+E0100]').length).toBeLessThanOrEqual(2_100);
  });
});
