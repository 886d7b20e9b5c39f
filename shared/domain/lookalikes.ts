/**
 * Words that look like other words: a reviewer reads `custоmers` (with a Cyrillic `о`) as `customers`.
 * The review messages name such words in what the agent wrote (the resource id, on-whose-behalf, the
 * parameters), with the letters that do not belong, by code point and script. A word is flagged when its
 * letters come from more than one script (Latin and Cyrillic, Greek, ...), or when it holds compatibility
 * forms (fullwidth `ｃｕｓｔ`, mathematical `𝐜𝐮𝐬𝐭`) that NFKC would turn into other letters. Words of one
 * script, in any language, are not flagged. Pure and table-free: JavaScript's Unicode property escapes.
 */

/** The scripts whose letters are commonly mistaken for one another; any other letter counts as its own kind. */
const SCRIPTS: ReadonlyArray<readonly [string, RegExp]> = [
  ['Latin', /\p{Script=Latin}/u],
  ['Cyrillic', /\p{Script=Cyrillic}/u],
  ['Greek', /\p{Script=Greek}/u],
  ['Armenian', /\p{Script=Armenian}/u],
  ['Cherokee', /\p{Script=Cherokee}/u],
  ['Coptic', /\p{Script=Coptic}/u],
];

/** Letters and digits, with the marks that combine with them: a "word" for the check. */
const WORD = /[\p{L}\p{M}\p{N}]+/gu;
const LETTER = /\p{L}/u;
const LETTER_OR_DIGIT = /[\p{L}\p{Nd}]/u;

function scriptOf(ch: string): string {
  for (const [name, pattern] of SCRIPTS) if (pattern.test(ch)) return name;
  return 'other';
}

export interface Lookalike {
  /** The word as written (cut to 64 characters). */
  word: string;
  /** Why: the scripts it mixes, or that it holds compatibility forms. */
  why: string;
  /** The letters that stand out: every letter outside the word's main script, or each compatibility form. */
  letters: Array<{ char: string; codePoint: string; script: string }>;
}

function codePoint(ch: string): string {
  return `U+${(ch.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0')}`;
}

/** The lookalike words of `text`, in order, each once. */
export function lookalikeWords(text: string): Lookalike[] {
  const found: Lookalike[] = [];
  const seen = new Set<string>();
  for (const [word] of text.matchAll(WORD)) {
    if (seen.has(word)) continue;
    const letters = [...word].filter((ch) => LETTER.test(ch));
    const counts = new Map<string, number>();
    for (const ch of letters) counts.set(scriptOf(ch), (counts.get(scriptOf(ch)) ?? 0) + 1);
    // Letters and decimal digits (a fullwidth `１０００` is a lookalike amount); not fractions or superscripts.
    const compatibility = [...word].filter((ch) => LETTER_OR_DIGIT.test(ch) && ch.normalize('NFKC') !== ch);
    if (counts.size < 2 && compatibility.length === 0) continue;
    seen.add(word);
    const shown = word.length > 64 ? `${[...word].slice(0, 63).join('')}…` : word;
    if (counts.size >= 2) {
      const main = [...counts].sort((a, b) => b[1] - a[1])[0]![0];
      const odd = letters.filter((ch) => scriptOf(ch) !== main);
      found.push({ word: shown, why: `mixes ${[...counts.keys()].join(' and ')} letters`, letters: odd.slice(0, 8).map((ch) => ({ char: ch, codePoint: codePoint(ch), script: scriptOf(ch) })) });
    } else {
      found.push({ word: shown, why: 'has compatibility forms (fullwidth or styled characters)', letters: compatibility.slice(0, 8).map((ch) => ({ char: ch, codePoint: codePoint(ch), script: scriptOf(ch) })) });
    }
  }
  return found;
}

/**
 * One line for a reviewer, or undefined when nothing looks like something else: where each lookalike word
 * is, and its odd letters by code point (the letters themselves look right: that is the problem).
 */
export function lookalikeWarning(fields: ReadonlyArray<readonly [string, string]>, max = 5): string | undefined {
  const lines: string[] = [];
  let more = 0;
  for (const [where, text] of fields) {
    for (const found of lookalikeWords(text)) {
      if (lines.length >= max) {
        more++;
        continue;
      }
      const odd = found.letters.map((l) => (l.script === 'other' ? l.codePoint : `${l.codePoint} ${l.script}`)).join(', ');
      lines.push(`${where}: "${found.word}" ${found.why} (${odd})`);
    }
  }
  if (lines.length === 0) return undefined;
  return `Lookalike letters: check these words, they may not be what they seem. ${lines.join('; ')}${more > 0 ? `; and ${more} more` : ''}.`;
}
