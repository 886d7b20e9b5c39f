import {
  GetObjectCommand,
  ListObjectsV2Command,
  ListObjectVersionsCommand,
  NoSuchKey,
  PutObjectCommand,
  S3ServiceException,
  type S3Client,
} from '@aws-sdk/client-s3';
import { defaultContentType, type AuditSink, type ObjectVersion, type PutAuditObjectOptions } from '../../ports/audit.js';

/** How often a put is retried after 409 ConditionalRequestConflict (a concurrent write of the same key). */
const CONFLICT_ATTEMPTS = 4;
const CONFLICT_BASE_DELAY_MS = 100;

export interface S3AuditSinkOptions {
  /** Waits between attempts after a 409; injectable so tests need not wait. @default setTimeout */
  readonly sleep?: (ms: number) => Promise<void>;
}

/** A put still conflicted after every retry: another writer keeps writing the key; the batch is retried. */
export class AuditWriteConflictError extends Error {
  constructor(readonly key: string, attempts: number) {
    super(`S3 answered 409 ConditionalRequestConflict to ${attempts} conditional writes of ${key}: another write of the same key kept conflicting; the stream batch fails and Lambda retries it`);
    this.name = 'AuditWriteConflictError';
  }
}

/**
 * `AuditSink` on the Object Lock bucket: every put is conditional (`If-None-Match: *`) and locked in
 * COMPLIANCE mode until `retainUntil`. Object Lock requires a checksum: SHA-256 of the stored bytes.
 *
 * No `Content-Encoding: gzip` on `.gz` objects: with it, a browser or `fetch` download silently
 * decompresses the bytes and the file no longer matches its name or its digest entry. Athena picks the
 * compression from the `.gz` suffix, not the header.
 */
export class S3AuditSink implements AuditSink {
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(
    private readonly client: S3Client,
    private readonly bucket: string,
    options: S3AuditSinkOptions = {},
  ) {
    this.sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
  }

  /**
   * 409 ConditionalRequestConflict means another conditional write of the same key was in flight; S3's
   * PutObject reference says to retry. The retry answers 412 (the other write landed: already written,
   * keys being deterministic) or writes.
   */
  async putObject(key: string, body: Uint8Array, options: PutAuditObjectOptions): Promise<'written' | 'already-written'> {
    for (let attempt = 1; ; attempt++) {
      const result = await this.putOnce(key, body, options);
      if (result !== 'conflict') return result;
      if (attempt === CONFLICT_ATTEMPTS) throw new AuditWriteConflictError(key, attempt);
      await this.sleep(CONFLICT_BASE_DELAY_MS * 2 ** (attempt - 1));
    }
  }

  private async putOnce(key: string, body: Uint8Array, options: PutAuditObjectOptions): Promise<'written' | 'already-written' | 'conflict'> {
    // Only an encoding a caller asks for explicitly; never the `.gz` default (see the class comment).
    const contentEncoding = options.contentEncoding;
    try {
      await this.client.send(new PutObjectCommand({
        Bucket: this.bucket,
        Key: key,
        Body: body,
        IfNoneMatch: '*',
        ObjectLockMode: 'COMPLIANCE',
        ObjectLockRetainUntilDate: options.retainUntil,
        ChecksumAlgorithm: 'SHA256',
        ContentType: options.contentType ?? defaultContentType(key),
        ...(contentEncoding === undefined ? {} : { ContentEncoding: contentEncoding }),
        Metadata: { 'sha256-uncompressed': options.sha256OfUncompressed },
      }));
      return 'written';
    } catch (error) {
      // 412: the key exists. Keys are deterministic, so this is a redelivery of what is already stored.
      if (error instanceof S3ServiceException && (error.$metadata.httpStatusCode === 412 || error.name === 'PreconditionFailed')) return 'already-written';
      if (error instanceof S3ServiceException && (error.$metadata.httpStatusCode === 409 || error.name === 'ConditionalRequestConflict')) return 'conflict';
      throw error;
    }
  }

  async getObject(key: string): Promise<Uint8Array | undefined> {
    try {
      const { Body } = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
      if (Body === undefined) return new Uint8Array();
      return await Body.transformToByteArray();
    } catch (error) {
      if (error instanceof NoSuchKey) return undefined;
      throw error;
    }
  }

  async list(prefix: string): Promise<string[]> {
    return (await this.listSized(prefix)).map((entry) => entry.key);
  }

  /** ListObjectsV2, every page: each current object's key and `Size`, in key order. */
  async listSized(prefix: string): Promise<Array<{ key: string; size: number }>> {
    const entries: Array<{ key: string; size: number }> = [];
    let token: string | undefined;
    do {
      const page = await this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, ContinuationToken: token }));
      for (const object of page.Contents ?? []) if (object.Key !== undefined) entries.push({ key: object.Key, size: object.Size ?? 0 });
      token = page.IsTruncated === true ? page.NextContinuationToken : undefined;
    } while (token !== undefined);
    return entries.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  async getObjectVersion(key: string, versionId: string): Promise<Uint8Array | undefined> {
    try {
      const { Body } = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key, VersionId: versionId }));
      if (Body === undefined) return new Uint8Array();
      return await Body.transformToByteArray();
    } catch (error) {
      // A version that is a delete marker answers 405 MethodNotAllowed; an unknown version 404.
      if (error instanceof NoSuchKey || (error instanceof S3ServiceException && [404, 405].includes(error.$metadata.httpStatusCode ?? 0))) return undefined;
      throw error;
    }
  }

  /** ListObjectVersions, every page: versions and delete markers, oldest first within a key. */
  async listVersions(prefix: string): Promise<ObjectVersion[]> {
    const versions: Array<ObjectVersion & { isLatest: boolean; order: number }> = [];
    let keyMarker: string | undefined;
    let versionIdMarker: string | undefined;
    do {
      const page = await this.client.send(new ListObjectVersionsCommand({ Bucket: this.bucket, Prefix: prefix, KeyMarker: keyMarker, VersionIdMarker: versionIdMarker }));
      const add = (entries: ReadonlyArray<{ Key?: string; VersionId?: string; LastModified?: Date; IsLatest?: boolean; Size?: number }> | undefined, isDeleteMarker: boolean) => {
        for (const entry of entries ?? []) {
          if (entry.Key === undefined) continue;
          versions.push({
            key: entry.Key, versionId: entry.VersionId ?? 'null', isDeleteMarker, lastModified: entry.LastModified ?? new Date(0), isLatest: entry.IsLatest === true, order: versions.length,
            ...(entry.Size === undefined ? {} : { size: entry.Size }),
          });
        }
      };
      add(page.Versions, false);
      add(page.DeleteMarkers, true);
      const more = page.IsTruncated === true;
      keyMarker = more ? page.NextKeyMarker : undefined;
      versionIdMarker = more ? page.NextVersionIdMarker : undefined;
    } while (keyMarker !== undefined);
    // S3 lists a key's versions newest first; LastModified has second precision, so ties keep that
    // order reversed, and the latest version always sorts last.
    versions.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1
      : a.lastModified.getTime() - b.lastModified.getTime() || Number(a.isLatest) - Number(b.isLatest) || b.order - a.order));
    return versions.map(({ isLatest: _latest, order: _order, ...version }) => version);
  }
}
