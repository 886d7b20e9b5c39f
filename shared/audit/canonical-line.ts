/**
 * The fast path of `verify`: one line of an audit object read as the writer makes it, canonical JSON
 * (RFC 8785) of a flat record, without parsing it. One regular expression, built from AUDIT_COLUMNS
 * (so columns added there flow in), admits exactly the canonical texts of a record whose keys are
 * table columns: keys in UTF-16 order, each at most once, no whitespace, values null, integers of at
 * most 15 digits, strings escaped as JSON.stringify escapes them, or lists of such strings. For such a
 * line the record without `hash` is the line with `,"hash":"<hex>"` cut out, so its hash is the hash of
 * bytes already there. Every other line (an unknown key, a lone surrogate, a float, a non-canonical
 * form) is not admitted, and takes the general path: parse, canonicalise, hash. Lines are decoded
 * from UTF-8, so they hold no lone surrogate (the decoder writes U+FFFD for a broken sequence).
 */
import { AUDIT_COLUMNS } from './format.js';

/** A canonical JSON string: any character but `"`, `\` and controls; escapes exactly as JSON.stringify writes them. */
const PLAIN = String.raw`[^"\\\u0000-\u001f]*`;
const ESCAPE = String.raw`\\(?:["\\bfnrt]|u00(?:0[0-7bef]|1[0-9a-f]))`;
// Unrolled (plain run, then escape and plain run): no alternation per character.
const STRING = `"${PLAIN}(?:${ESCAPE}${PLAIN})*"`;
// `-0`, leading zeros, fractions and exponents are not canonical (or not exact): the general path.
const INTEGER = String.raw`(?:0|-?[1-9][0-9]{0,14})`;
const VALUE = `(${STRING}|null|${INTEGER}|\\[(?:${STRING}(?:,${STRING})*)?\\])`;

/** The columns in canonical key order (UTF-16 code units, as JS sorts strings). */
export const CANONICAL_KEYS: readonly string[] = AUDIT_COLUMNS.map((column) => column.name as string).sort();

/** The fields `verify` reads of a record; only these are captured (each capture costs an allocation a line). */
// `hash` is not captured: verify finds it by its place (verify-object.ts), and compares it in the text.
export const CAPTURED_KEYS = ['action_id', 'detail', 'event_id', 'event_type', 'outcome', 'prev_hash', 'request_seq', 'sequence_number', 'shard_id'] as const;
export type CapturedKey = (typeof CAPTURED_KEYS)[number];

/**
 * Each key optional, in order; after a pair either `,` and another pair, or the closing brace. Keys
 * are plain identifiers (`[a-z0-9_]`), so they need no escaping in the pattern.
 */
function linePattern(start: string, end: string, flags: string): RegExp {
  return new RegExp(`${start}\\{${CANONICAL_KEYS.map((key) => `(?:"${key}":${(CAPTURED_KEYS as readonly string[]).includes(key) ? VALUE : `(?:${VALUE.slice(1)}`}(?:,(?=")|(?=\\}${end})))?`).join('')}\\}${end}`, flags);
}
const LINE = linePattern('^', '$', '');
// The same line inside an object's whole text: sticky at the line's start, ending at its newline (or
// the text's end). No value admits a control character, so a match never runs past the line.
const LINE_IN_TEXT = linePattern('', '(?=\\n|$)', 'y');
const INDEX = new Map<string, number>(CANONICAL_KEYS.filter((key) => (CAPTURED_KEYS as readonly string[]).includes(key)).map((key, index) => [key, index + 1] as const));

/** The raw JSON tokens of the captured fields of a canonical line. */
export type CanonicalTokens = ReadonlyArray<string | undefined>;

/** The captured tokens of a canonical line, or undefined if the line is not the canonical JSON of a record. */
export function canonicalTokens(line: string): CanonicalTokens | undefined {
  const match = LINE.exec(line);
  return match === null ? undefined : match;
}

/**
 * The captured tokens of the canonical line that starts at `start` in `text` (an object's whole
 * content, one line a record), or undefined. The line ends at `start + tokens[0].length`.
 */
export function canonicalTokensAt(text: string, start: number): CanonicalTokens | undefined {
  LINE_IN_TEXT.lastIndex = start;
  const match = LINE_IN_TEXT.exec(text);
  return match === null ? undefined : match;
}

/** The token of `key` in a match of `canonicalTokens` (undefined: the key is absent from the line). */
export function token(tokens: CanonicalTokens, key: CapturedKey): string | undefined {
  return tokens[INDEX.get(key)!];
}

/** A token as a value: string, number, null or list (tokens are valid JSON; simple strings need no parse). */
export function tokenValue(text: string | undefined): unknown {
  if (text === undefined) return undefined;
  if (text.charCodeAt(0) === 34 /* " */ && !text.includes('\\')) return text.slice(1, -1);
  return JSON.parse(text) as unknown;
}

/** A string token's text; null for `null`, undefined for anything else (absent, a number, a list). */
export function tokenText(text: string | undefined): string | null | undefined {
  if (text === 'null') return null;
  if (text === undefined || text.charCodeAt(0) !== 34 /* " */) return undefined;
  return tokenValue(text) as string;
}
