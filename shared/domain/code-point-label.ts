/**
 * A character shown as its code point, `[U+202E]`: how Slack messages, Teams cards and the local stack's
 * terminal lines show the invisible, control and bidi characters of text that others wrote, so that
 * text cannot hide, reorder or redraw itself. Each place picks its own set of such characters.
 */
export function codePointLabel(ch: string): string {
  return `[U+${(ch.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0')}]`;
}
