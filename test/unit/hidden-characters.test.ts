import { describe, expect, it } from 'vitest';
import { labelHidden, TAB_AND_NEWLINE } from '../../shared/domain/code-point-label.js';
import { printable } from '../../local/log.js';

const label = (ch: string) => `[U+${ch.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}]`;

/** One of each kind that would hide, reorder or redraw text (controls, format, surrogates, private use, unassigned, separators, fillers). */
const HIDDEN = [
  '\u0000', '\u001B', '\u007F', '\u009B', '\u00AD', '\u061C', '\u180E', '\u200B', '\u200D', '\u200E', '\u202A', '\u202E', '\u2060', '\u2066',
  '\u2069', '\uFEFF', '\u2028', '\u2029', '\u115F', '\u1160', '\u2800', '\u3164', '\uFFA0', '\uE000', '\uD800', '\uDFFF', '\u0378',
  '\u{E0001}', '\u{E0041}', '\u{E007F}', '\u{E0100}', '\u{F0000}',
];

describe('hidden characters in text that others wrote', () => {
  it('are shown as [U+XXXX] by kind, a whole code point each; ordinary text, emoji and other scripts are left alone', () => {
    for (const ch of HIDDEN) expect(labelHidden(`a${ch}b`), JSON.stringify(ch)).toBe(`a${label(ch)}b`);
    expect(labelHidden('\u{E0049}\u{E0067}\u{E006E}')).toBe('[U+E0049][U+E0067][U+E006E]');
    const ordinary = 'plain ascii, é, 日本語, العربية, \u{1F600}, \u2764\uFE0F, tab\tand\nnewline';
    expect(labelHidden(ordinary, TAB_AND_NEWLINE)).toBe(ordinary);
  });

  it('keep tab and newline in Slack, Teams and the pages (TAB_AND_NEWLINE), and label them on a terminal line (a newline would forge a line)', () => {
    expect(labelHidden('a\tb\nc\u202E', TAB_AND_NEWLINE)).toBe('a\tb\nc[U+202E]');
    expect(printable('a\tb\nc\rd\u202E')).toBe('a[U+0009]b[U+000A]c[U+000D]d[U+202E]');
    for (const ch of HIDDEN) expect(printable(`a${ch}b`)).toBe(`a${label(ch)}b`);
  });
});
