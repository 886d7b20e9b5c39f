import { describe, expect, it } from 'vitest';
import { printable } from '../../local/log.js';

describe('the terminal lines of the local stack', () => {
  it('show every bidi mark, embedding, override and isolate, and the zero-width characters, as [U+XXXX]', () => {
    const hidden = ['\u061C', '\u200B', '\u200E', '\u200F', '\u202A', '\u202E', '\u2060', '\u2066', '\u2069', '\uFEFF'];
    for (const ch of hidden) {
      const label = `[U+${ch.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}]`;
      expect(printable(`a${ch}b`)).toBe(`a${label}b`);
    }
    expect(printable('plain ascii, é and 日本')).toBe('plain ascii, é and 日本');
  });
});
