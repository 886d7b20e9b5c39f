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

export function sha256Hex(text: string | Uint8Array): string {
  return createHash('sha256').update(text).digest('hex');
}

/** UTF-8 size in bytes of a string, the unit every size limit of the contract is written in. */
export function utf8Bytes(text: string): number {
  return Buffer.byteLength(text, 'utf8');
}
