/**
 * The per-shard hash chain (format.ts): `hash` = SHA-256 (hex) of the canonical JSON of the record
 * without `hash` (so `prev_hash` is covered); `prev_hash` = the previous record's `hash`, or
 * GENESIS_HASH for the shard's first record.
 */
import { canonicalJson, sha256Hex } from '../domain/canonical-json.js';
import type { AuditRecord } from './format.js';
import type { AuditRecordBody } from './record.js';

export function recordHash(record: Omit<AuditRecord, 'hash'>): string {
  return sha256Hex(canonicalJson(record));
}

/** Chains records (already in sequence order) onto the shard's previous hash. */
export function chainRecords(bodies: readonly AuditRecordBody[], previousHash: string): AuditRecord[] {
  let prev = previousHash;
  return bodies.map((body) => {
    const unhashed = { ...body, prev_hash: prev };
    const hash = recordHash(unhashed);
    prev = hash;
    return { ...unhashed, hash };
  });
}

/** Compares stream sequence numbers (decimal strings of any length) numerically. */
export function compareSequence(a: string, b: string): number {
  const x = BigInt(a);
  const y = BigInt(b);
  return x < y ? -1 : x > y ? 1 : 0;
}
