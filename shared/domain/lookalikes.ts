import { codePointOf, labelHidden } from './code-point-label.js';

/**
 * Words that look like other words: a reviewer reads `custоmers` (with a Cyrillic `о`) as `customers`.
 * The review messages name such words in what the agent wrote (the resource id, on-whose-behalf, the
 * justification, the parameters and attributes, keys and values), with the letters that do not belong,
 * by code point and script. A word is flagged when:
 * - its letters come from more than one script (Latin with Cyrillic, Greek, Armenian, ...), except Latin
 *   with the Chinese, Japanese and Korean scripts, which are written together (as Unicode's "highly
 *   restrictive" profile, UTS #39, allows);
 * - its digits come from more than one numbering system (`1` beside a Bengali zero);
 * - it holds compatibility forms that NFKC turns into ASCII letters or digits (fullwidth `ｃｕｓｔ`,
 *   mathematical `𝐚𝐝𝐦𝐢𝐧`, Roman numeral `ⅰ`, ligature `ﬁ`, the Kelvin sign);
 * - it is written wholly in letters of another script that look Latin (`сору`, `ѕһеӏӏ`), in a field
 *   that also has Latin letters (`db.сору`).
 * Format characters and spaces other than the ASCII space are taken out before words are found, so a
 * hair space cannot split `cust о mers` into three harmless words. Pure and table-light: JavaScript's
 * Unicode property escapes, and one list of Latin-looking letters.
 */

const SCRIPTS: ReadonlyArray<readonly [string, RegExp]> = [
  ['Latin', /\p{Script=Latin}/u],
  ['Cyrillic', /\p{Script=Cyrillic}/u],
  ['Greek', /\p{Script=Greek}/u],
  ['Armenian', /\p{Script=Armenian}/u],
  ['Cherokee', /\p{Script=Cherokee}/u],
  ['Coptic', /\p{Script=Coptic}/u],
  ['Han', /\p{Script=Han}/u],
  ['Hiragana', /\p{Script=Hiragana}/u],
  ['Katakana', /\p{Script=Katakana}/u],
  ['Hangul', /\p{Script=Hangul}/u],
  ['Bopomofo', /\p{Script=Bopomofo}/u],
];
/** Scripts written together with Latin in ordinary text (`Tシャツ`, `调用API`, `GitHub에서`). */
const WITH_LATIN: ReadonlySet<string> = new Set(['Latin', 'Han', 'Hiragana', 'Katakana', 'Hangul', 'Bopomofo']);
/** Letters of other scripts that look like Latin ones (Cyrillic, Greek, Armenian). */
const LATIN_LOOKING = new Set([...'аеорсухіјѕһӏԁԛԝАВЕКМНОРСТХІЈЅԜοανρτυικΑΒΕΖΗΙΚΜΝΟΡΤΥΧօսցոռհ']);

/** Letters, marks and numbers: a "word". */
const WORD = /[\p{L}\p{M}\p{N}]+/gu;
const LETTER = /\p{L}/u;
const COMMON = /\p{Script=Common}/u;
const DIGIT = /\p{Nd}/u;
const ASCII_ALNUM = /^[A-Za-z0-9]+$/;
const COMPATIBLE = /[\p{L}\p{Nd}\p{Nl}]/u;
/** Format characters and every space but U+0020: taken out before words are found. */
const JOINERS = /[\p{Cf}\p{Zs}]/gu;
/** Ordinal indicators, written as letters in Spanish and Portuguese (`1ª`, `nº`). */
const ORDINALS: ReadonlySet<string> = new Set(['\u00AA', '\u00BA']);
const MAX_WORD = 64;

function scriptOf(ch: string): string {
  for (const [name, pattern] of SCRIPTS) if (pattern.test(ch)) return name;
  return 'other';
}

export interface Lookalike {
  /** The word as written (its first 64 characters). */
  word: string;
  /** Why it is flagged. */
  why: string;
  /** The characters that stand out. */
  letters: Array<{ char: string; codePoint: string; script: string }>;
}

function described(chars: string[]): Lookalike['letters'] {
  return chars.slice(0, 8).map((ch) => ({ char: ch, codePoint: codePointOf(ch), script: scriptOf(ch) }));
}

function judge(word: string, fieldHasLatin: boolean): { why: string; odd: string[] } | undefined {
  const chars = [...word];
  // Letters of the Common script (µ, the ordinals) belong to every script: they mix nothing.
  const letters = chars.filter((ch) => LETTER.test(ch) && !COMMON.test(ch));
  const scripts = new Set(letters.map(scriptOf));
  const mixed = scripts.size >= 2 && ![...scripts].every((s) => WITH_LATIN.has(s));
  if (mixed) {
    // Beside Latin, the others are the odd ones (`раураl` names its five Cyrillic letters, not the `l`).
    const main = scripts.has('Latin') ? 'Latin' : [...scripts][0];
    return { why: `mixes ${[...scripts].join(' and ')} letters`, odd: letters.filter((ch) => scriptOf(ch) !== main) };
  }
  const digits = chars.filter((ch) => DIGIT.test(ch) && ch.normalize('NFKC') === ch);
  const foreignDigits = digits.filter((ch) => ch > '\u007F');
  if (foreignDigits.length > 0 && (foreignDigits.length < digits.length || scripts.has('Latin'))) {
    return { why: 'mixes digits of more than one numbering system', odd: foreignDigits };
  }
  // Letters, decimal digits and letter numbers (Roman numerals); not superscripts or fractions (`m²`, `½`).
  const compatibility = chars.filter((ch) => COMPATIBLE.test(ch) && !ORDINALS.has(ch) && ch.normalize('NFKC') !== ch && ASCII_ALNUM.test(ch.normalize('NFKC')));
  if (compatibility.length > 0) return { why: 'has compatibility forms of ASCII letters or digits (fullwidth, styled, ligatures, Roman numerals)', odd: compatibility };
  if (fieldHasLatin && letters.length >= 2 && !scripts.has('Latin') && letters.every((ch) => LATIN_LOOKING.has(ch))) {
    return { why: `is all ${[...scripts].join(' and ')} letters that look Latin, beside Latin text`, odd: letters };
  }
  return undefined;
}

/** The lookalike words of `text`, in order, each once. */
export function lookalikeWords(text: string): Lookalike[] {
  const joined = text.replace(JOINERS, (ch) => (ch === ' ' ? ' ' : ''));
  const fieldHasLatin = /\p{Script=Latin}/u.test(joined);
  const found: Lookalike[] = [];
  const seen = new Set<string>();
  for (const [word] of joined.matchAll(WORD)) {
    if (seen.has(word)) continue;
    seen.add(word);
    const verdict = judge(word, fieldHasLatin);
    if (verdict === undefined) continue;
    const chars = [...word];
    found.push({ word: chars.length > MAX_WORD ? `${chars.slice(0, MAX_WORD - 1).join('')}…` : word, why: verdict.why, letters: described(verdict.odd) });
  }
  return found;
}

/** Every string of a JSON value, keys and values, each on its own (not its JSON text, whose escapes would join words). */
export function stringsOf(value: unknown, out: string[] = []): string[] {
  if (typeof value === 'string') out.push(value);
  else if (Array.isArray(value)) for (const item of value) stringsOf(item, out);
  else if (typeof value === 'object' && value !== null) {
    for (const [key, item] of Object.entries(value)) {
      out.push(key);
      stringsOf(item, out);
    }
  }
  return out;
}

/** The warning's budget as shown (hidden characters labelled): within Slack's 3,000-character section with room to spare. */
const MAX_WARNING_CHARS = 2_000;

/**
 * One line for a reviewer, or undefined when nothing looks like something else: where each lookalike word
 * is, and its odd characters by code point (the characters themselves look right: that is the problem).
 * At most `max` words, and never more than fits, always ending with how many more there are.
 */
export function lookalikeWarning(fields: ReadonlyArray<readonly [string, string | readonly string[]]>, max = 5): string | undefined {
  const head = 'Lookalike letters: check these words, they may not be what they seem.';
  const lines: string[] = [];
  let more = 0;
  let length = head.length;
  for (const [where, texts] of fields) {
    for (const text of typeof texts === 'string' ? [texts] : texts) {
      for (const found of lookalikeWords(text)) {
        const odd = found.letters.map((l) => (l.script === 'other' || l.script === 'Latin' ? l.codePoint : `${l.codePoint} ${l.script}`)).join(', ');
        const line = `${where}: "${found.word}" ${found.why} (${odd})`;
        const shown = labelHidden(line).length + 2;
        if (lines.length >= max || length + shown > MAX_WARNING_CHARS) {
          more++;
          continue;
        }
        lines.push(line);
        length += shown;
      }
    }
  }
  if (lines.length === 0 && more === 0) return undefined;
  return `${head} ${[...lines, ...(more > 0 ? [`and ${more} more`] : [])].join('; ')}.`;
}
