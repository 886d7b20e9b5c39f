/**
 * How Slack messages, Teams cards, the local pages and the local stack's terminal lines show the
 * characters of text that others wrote which would hide, reorder or redraw it: as their code point,
 * `[U+202E]`.
 */
export function codePointLabel(ch: string): string {
  return `[${codePointOf(ch)}]`;
}

/** A character's code point as Unicode writes it: `U+202E`. */
export function codePointOf(ch: string): string {
  return `U+${(ch.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0')}`;
}

/**
 * The characters shown as labels: controls (C0, C1), format characters (bidi marks, embeddings,
 * overrides and isolates; zero-width characters; the soft hyphen; the tag characters that "ASCII
 * smuggling" hides instructions in), lone surrogates, private-use and unassigned code points, line and
 * paragraph separators, the blank-looking fillers (Hangul U+115F, U+1160, U+3164, U+FFA0; the braille
 * blank U+2800) and the variation selectors supplement. By Unicode category, so a character of such a
 * kind cannot slip through a list.
 */
const HIDDEN = /[\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Cn}\p{Zl}\p{Zp}\u115F\u1160\u2800\u3164\uFFA0\u{E0100}-\u{E01EF}]/gu;

/** Tab and newline, which a message or a page shows as what they are. */
export const TAB_AND_NEWLINE: ReadonlySet<string> = new Set(['\t', '\n']);

/** `text` with each hidden character (`HIDDEN`) shown as `[U+XXXX]`, except those in `keep`. */
export function labelHidden(text: string, keep: ReadonlySet<string> = new Set()): string {
  return text.replace(HIDDEN, (ch) => (keep.has(ch) ? ch : codePointLabel(ch)));
}
