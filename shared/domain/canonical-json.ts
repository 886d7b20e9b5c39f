import { createHash } from 'node:crypto';
import canonicalize from 'canonicalize';

/** Thrown when a value has no canonical JSON form (NaN, Infinity, lone surrogates, cycles). */
export class CanonicalJsonError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CanonicalJsonError';
  }
}

/**
 * RFC 8785 (JCS) canonical JSON: keys sorted by UTF-16 code units, no insignificant whitespace,
 * numbers in ECMAScript shortest form. The one serialization that every hash in Countersign uses.
 */
export function canonicalJson(value: unknown): string {
  let text: string | undefined;
  try {
    text = canonicalize(value);
  } catch (error) {
    throw new CanonicalJsonError(`value has no canonical JSON form: ${(error as Error).message}`);
  }
  if (text === undefined) throw new CanonicalJsonError('value has no canonical JSON form: it is undefined');
  return text;
}

/**
 * `make()` (which canonicalises a value read from outside), or why the value has no canonical form:
 * valid JSON a writer never makes, such as a lone surrogate escaped as `\ud800`. Other errors are thrown.
 */
export function canonicalOrReason<T>(make: () => T): { value: T } | { reason: string } {
  try {
    return { value: make() };
  } catch (error) {
    if (error instanceof CanonicalJsonError) return { reason: error.message };
    throw error;
  }
}

export function sha256Hex(text: string | Uint8Array): string {
  return createHash('sha256').update(text).digest('hex');
}

/** UTF-8 size in bytes of a string, the unit every size limit of the contract is written in. */
export function utf8Bytes(text: string): number {
  return Buffer.byteLength(text, 'utf8');
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const LONE_SURROGATES = new RegExp(LONE_SURROGATE.source, 'g');

/** Index of the first lone surrogate in `text` (text that is not valid Unicode), or -1. */
export function loneSurrogateAt(text: string): number {
  return LONE_SURROGATE.exec(text)?.index ?? -1;
}

/**
 * What is wrong with text a person typed (a vote's comment, a quarantine reason) that is not valid
 * Unicode. Such text has no canonical JSON, so its audit record could never be written: it is refused
 * at the edge, where the one who typed it can be told.
 */
export const NOT_UNICODE_TEXT = 'must be valid Unicode: it has a lone surrogate (half of a UTF-16 pair)';

/** `text` with each lone surrogate written as the escape `\uXXXX`, so that it can be stored and shown. */
export function wellFormedText(text: string): string {
  return text.replace(LONE_SURROGATES, (unit) => `\\u${unit.charCodeAt(0).toString(16).toUpperCase()}`);
}

type Frame =
  | { kind: 'array'; items: readonly unknown[]; next: number }
  | { kind: 'object'; keys: string[]; object: Record<string, unknown>; next: number };

/**
 * The JSON text of a value parsed from JSON (an untrusted request), at any depth: canonical as
 * `canonicalJson` (sorted keys, ECMAScript numbers, no whitespace), except that a lone surrogate is
 * kept as a `\uXXXX` escape where RFC 8785 refuses it. Iterative, so no nesting can overflow the stack;
 * `JSON.parse` of the result gives the value back.
 */
export function rawJsonText(value: unknown): string {
  const parts: string[] = [];
  const stack: Frame[] = [];
  const emit = (item: unknown): void => {
    if (Array.isArray(item)) {
      parts.push('[');
      stack.push({ kind: 'array', items: item, next: 0 });
    } else if (typeof item === 'object' && item !== null) {
      parts.push('{');
      stack.push({ kind: 'object', keys: Object.keys(item).sort(), object: item as Record<string, unknown>, next: 0 });
    } else if (typeof item === 'number' && !Number.isFinite(item)) {
      throw new CanonicalJsonError(`value has no JSON form: ${String(item)}`);
    } else if (typeof item === 'string' || typeof item === 'number' || typeof item === 'boolean' || item === null) {
      // JSON.stringify writes lone surrogates as escapes (well-formed JSON.stringify, ES2019).
      parts.push(JSON.stringify(item));
    } else {
      throw new CanonicalJsonError(`value has no JSON form: it holds a ${typeof item}`);
    }
  };
  emit(value);
  for (let frame = stack.at(-1); frame !== undefined; frame = stack.at(-1)) {
    if (frame.kind === 'array') {
      if (frame.next === frame.items.length) {
        stack.pop();
        parts.push(']');
        continue;
      }
      if (frame.next > 0) parts.push(',');
      emit(frame.items[frame.next++]);
    } else {
      if (frame.next === frame.keys.length) {
        stack.pop();
        parts.push('}');
        continue;
      }
      const key = frame.keys[frame.next++] as string;
      parts.push(`${frame.next > 1 ? ',' : ''}${JSON.stringify(key)}:`);
      emit(frame.object[key]);
    }
  }
  return parts.join('');
}

/**
 * The longest prefix of `text` of at most `maxBytes` UTF-8 bytes that ends on a whole character, so
 * that a prefix of valid text is valid text.
 */
export function utf8Prefix(text: string, maxBytes: number): string {
  if (utf8Bytes(text) <= maxBytes) return text;
  const bytes = Buffer.from(text, 'utf8');
  let end = maxBytes;
  // Step back over continuation bytes (10xxxxxx) to the start of the character that does not fit.
  while (end > 0 && ((bytes[end] ?? 0) & 0xc0) === 0x80) end -= 1;
  return bytes.subarray(0, end).toString('utf8');
}

/** Levels of objects and arrays in a value (a scalar is 0), measured without recursion. */
export function jsonDepth(value: unknown): number {
  let deepest = 0;
  const stack: [unknown, number][] = [[value, 1]];
  for (let item = stack.pop(); item !== undefined; item = stack.pop()) {
    const [node, depth] = item;
    if (typeof node !== 'object' || node === null) continue;
    deepest = Math.max(deepest, depth);
    for (const child of Object.values(node)) stack.push([child, depth + 1]);
  }
  return deepest;
}
