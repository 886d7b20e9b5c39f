/** The audit log's storage (write-once objects) and the per-shard chain heads. */

export interface PutAuditObjectOptions {
  /** SHA-256 (hex) of the uncompressed content; stored as object metadata for operators. */
  sha256OfUncompressed: string;
  /** Object-lock retention: nobody can delete or overwrite the object before this time. */
  retainUntil: Date;
  /** @default from the key: `.ndjson.gz` → application/x-ndjson, `.json` → application/json, else application/octet-stream */
  contentType?: string;
  /**
   * @default none: a `.gz` object is stored as gzip bytes, not as content a browser or `fetch` would
   * silently decompress (Athena reads the `.gz` suffix).
   */
  contentEncoding?: string;
}

/**
 * One stored version of a key (S3 versioning). Under Object Lock an overwrite or a delete does not
 * destroy the locked version: it adds a new current version or a delete marker on top of it.
 */
export interface ObjectVersion {
  key: string;
  versionId: string;
  isDeleteMarker: boolean;
  lastModified: Date;
  /** The version's stored bytes (not for a delete marker), when the store lists it: S3 does. */
  size?: number;
}

/** Write-once object storage with the audit log's key layout (S3 with Object Lock, or a directory). */
export interface AuditSink {
  /** Writes the object only if the key is new: `already-written` when it exists (a redelivery), never an overwrite. */
  putObject(key: string, body: Uint8Array, options: PutAuditObjectOptions): Promise<'written' | 'already-written'>;
  /** The object's bytes as stored, or undefined when there is no such key. */
  getObject(key: string): Promise<Uint8Array | undefined>;
  /** All keys under a prefix, in key order. */
  list(prefix: string): Promise<string[]>;
  /** Every version and delete marker under a prefix, oldest first within a key (versioned stores). */
  listVersions?(prefix: string): Promise<ObjectVersion[]>;
  /** One version's bytes, or undefined when there is no such version (or it is a delete marker). */
  getObjectVersion?(key: string, versionId: string): Promise<Uint8Array | undefined>;
}

/** Where a shard's chain stands: the last record written and its hash. */
export interface ChainHead {
  lastSequence: string;
  lastHash: string;
}

/** The per-shard chain heads: the writer's commit point. */
export interface ChainStore {
  get(shardId: string): Promise<ChainHead | undefined>;
  /**
   * Moves the head from `expected` (undefined: the shard has no head yet) to `next`, only if the head
   * is still `expected`; throws `ChainHeadConflictError` otherwise.
   */
  advance(shardId: string, expected: ChainHead | undefined, next: ChainHead): Promise<void>;
}

export class ChainHeadConflictError extends Error {
  constructor(readonly shardId: string, expected: ChainHead | undefined) {
    super(`the audit chain head of shard ${shardId} moved (expected ${expected === undefined ? 'no head' : `sequence ${expected.lastSequence}`}): another writer ran on this shard; the batch is retried from the new head`);
    this.name = 'ChainHeadConflictError';
  }
}

export function defaultContentType(key: string): string {
  if (key.endsWith('.ndjson.gz') || key.endsWith('.ndjson')) return 'application/x-ndjson';
  if (key.endsWith('.json')) return 'application/json';
  return 'application/octet-stream';
}

