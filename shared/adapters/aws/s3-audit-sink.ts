import {
  GetObjectCommand,
  ListObjectsV2Command,
  ListObjectVersionsCommand,
  NoSuchKey,
  PutObjectCommand,
  S3ServiceException,
  type S3Client,
} from '@aws-sdk/client-s3';
import { defaultContentEncoding, defaultContentType, type AuditSink, type ObjectVersion, type PutAuditObjectOptions } from '../../ports/audit.js';

/**
 * `AuditSink` on the Object Lock bucket: every put is conditional (`If-None-Match: *`) and locked in
 * COMPLIANCE mode until `retainUntil`. Object Lock requires a checksum: SHA-256 of the stored bytes.
 */
export class S3AuditSink implements AuditSink {
  constructor(
    private readonly client: S3Client,
    private readonly bucket: string,
  ) {}

  async putObject(key: string, body: Uint8Array, options: PutAuditObjectOptions): Promise<'written' | 'already-written'> {
    const contentEncoding = options.contentEncoding ?? defaultContentEncoding(key);
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
    const keys: string[] = [];
    let token: string | undefined;
    do {
      const page = await this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, ContinuationToken: token }));
      for (const object of page.Contents ?? []) if (object.Key !== undefined) keys.push(object.Key);
      token = page.IsTruncated === true ? page.NextContinuationToken : undefined;
    } while (token !== undefined);
    return keys.sort();
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
      const add = (entries: ReadonlyArray<{ Key?: string; VersionId?: string; LastModified?: Date; IsLatest?: boolean }> | undefined, isDeleteMarker: boolean) => {
        for (const entry of entries ?? []) {
          if (entry.Key === undefined) continue;
          versions.push({ key: entry.Key, versionId: entry.VersionId ?? 'null', isDeleteMarker, lastModified: entry.LastModified ?? new Date(0), isLatest: entry.IsLatest === true, order: versions.length });
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
