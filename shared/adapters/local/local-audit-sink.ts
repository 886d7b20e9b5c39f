/**
 * `AuditSink` on a directory with the bucket's key layout (the local stack's audit bucket).
 *
 * Write-once: an object is written to a temporary file under `<root>/.tmp/` and published with
 * `link()`, which refuses an existing name, so a key is never overwritten and a crash never leaves a
 * half-written object under its key. There is no delete. Each object's retention date sits beside it
 * in `<key>.retention.json` (`{"retainUntil": "<ISO>", "sha256OfUncompressed": "<hex>"}`), written
 * first, the same way, and never rewritten; `list` does not return the sidecars.
 *
 * Versions, as S3 keeps them under Object Lock: the first write under a key is its first version and
 * stays. What S3 would accept on top of it (a PutObject without `If-None-Match`, a DeleteObject) is
 * emulated by `putObjectVersion` and `deleteObject`: each adds a version under `<key>.versions/`
 * (`NNNNNN` with the bytes, or `NNNNNN.delete-marker`), the newest of which is what `getObject`
 * returns, as a plain GET in S3 does. `verify` reads them all through `listVersions`.
 *
 * Reads are synchronous system calls: on a local disk each takes microseconds, and the thread pool's
 * round trips of `fs/promises` (open, stat, read, close, each a hop) cost 3-5x their CPU, which is most
 * of what reading a log costs (`verify` reads every object; `npm run bench` measures it). Whether a key
 * has later versions is asked with a stat that returns nothing for a missing path instead of a failed
 * `readdir`, whose error (and stack) was built for nearly every key.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { link, mkdir, readdir, readFile, stat, unlink, writeFile } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import type { AuditSink, ObjectVersion, PutAuditObjectOptions } from '../../ports/audit.js';

export const RETENTION_SUFFIX = '.retention.json';
export const VERSIONS_SUFFIX = '.versions';
const DELETE_MARKER_SUFFIX = '.delete-marker';
const TMP_DIR = '.tmp';
/** The first write's version id; later versions count up from it. */
const FIRST_VERSION = '000001';

export class LocalAuditSinkError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LocalAuditSinkError';
  }
}

function isCode(error: unknown, code: string): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: unknown }).code === code;
}

export class LocalAuditSink implements AuditSink {
  constructor(readonly root: string) {}

  private pathOf(key: string): string {
    const parts = key.split('/');
    if (key === '' || key.startsWith('/') || parts.some((p) => p === '' || p === '.' || p === '..' || p.endsWith(VERSIONS_SUFFIX)) || parts[0] === TMP_DIR || key.endsWith(RETENTION_SUFFIX)) {
      throw new LocalAuditSinkError(`"${key}" is not a usable object key (relative, no empty, "." or ".." segments, not ${TMP_DIR}/, not ending in ${RETENTION_SUFFIX} or containing a ${VERSIONS_SUFFIX} segment)`);
    }
    return join(this.root, ...parts);
  }

  /** Publishes bytes under `path` only if nothing is there: false when something already is. */
  private async publishOnce(path: string, bytes: Uint8Array | string): Promise<boolean> {
    const tmpDir = join(this.root, TMP_DIR);
    await mkdir(tmpDir, { recursive: true });
    await mkdir(dirname(path), { recursive: true });
    const tmp = join(tmpDir, `${randomBytes(8).toString('hex')}.part`);
    await writeFile(tmp, bytes, { flag: 'wx' });
    try {
      await link(tmp, path);
      return true;
    } catch (error) {
      if (isCode(error, 'EEXIST')) return false;
      throw error;
    } finally {
      await unlink(tmp);
    }
  }

  async putObject(key: string, body: Uint8Array, options: PutAuditObjectOptions): Promise<'written' | 'already-written'> {
    const path = this.pathOf(key);
    // Retention first: an object is never visible without its retention date. A sidecar left by a
    // crashed earlier attempt stays as it was (a retention date is never rewritten).
    await this.publishOnce(`${path}${RETENTION_SUFFIX}`, `${JSON.stringify({ retainUntil: options.retainUntil.toISOString(), sha256OfUncompressed: options.sha256OfUncompressed })}\n`);
    return (await this.publishOnce(path, body)) ? 'written' : 'already-written';
  }

  /** The current version: the newest one, or undefined when that is a delete marker (as a plain S3 GET). */
  async getObject(key: string): Promise<Uint8Array | undefined> {
    const path = this.pathOf(key);
    const later = await this.laterVersions(path);
    const newest = later.at(-1);
    if (newest !== undefined) return newest.endsWith(DELETE_MARKER_SUFFIX) ? undefined : readIfExists(join(`${path}${VERSIONS_SUFFIX}`, newest));
    return readIfExists(path);
  }

  async getObjectVersion(key: string, versionId: string): Promise<Uint8Array | undefined> {
    const path = this.pathOf(key);
    if (versionId === FIRST_VERSION) return readIfExists(path);
    if (!/^\d{6}$/.test(versionId)) return undefined;
    return readIfExists(join(`${path}${VERSIONS_SUFFIX}`, versionId));
  }

  /**
   * What S3 does with a PutObject without `If-None-Match` on a versioned, locked bucket: a new current
   * version on top of the locked one (which stays). The product never calls it; tamper tests do.
   */
  async putObjectVersion(key: string, body: Uint8Array): Promise<string> {
    const path = this.pathOf(key);
    if (await this.publishOnce(path, body)) return FIRST_VERSION;
    return this.addVersion(path, body, '');
  }

  /** A DeleteObject without a version id on a versioned bucket: a delete marker becomes the current version. */
  async deleteObject(key: string): Promise<string> {
    const path = this.pathOf(key);
    if ((await readIfExists(path)) === undefined) throw new LocalAuditSinkError(`no object ${key} to delete`);
    return this.addVersion(path, new Uint8Array(), DELETE_MARKER_SUFFIX);
  }

  private async addVersion(path: string, body: Uint8Array, suffix: string): Promise<string> {
    const dir = `${path}${VERSIONS_SUFFIX}`;
    await mkdir(dir, { recursive: true });
    for (;;) {
      const next = String((await this.laterVersions(path)).length + 2).padStart(6, '0');
      try {
        await writeFile(join(dir, `${next}${suffix}`), body, { flag: 'wx' });
        return next;
      } catch (error) {
        if (!isCode(error, 'EEXIST')) throw error;
      }
    }
  }

  /** The file names of the versions after the first, oldest first. */
  private async laterVersions(path: string): Promise<string[]> {
    if (statSync(`${path}${VERSIONS_SUFFIX}`, { throwIfNoEntry: false }) === undefined) return [];
    try {
      return (await readdir(`${path}${VERSIONS_SUFFIX}`, { withFileTypes: true }))
        .filter((entry) => entry.isFile() && /^\d{6}(\.delete-marker)?$/.test(entry.name)).map((entry) => entry.name).sort();
    } catch (error) {
      if (isCode(error, 'ENOENT')) return [];
      throw error;
    }
  }

  async listVersions(prefix: string): Promise<ObjectVersion[]> {
    const versions: ObjectVersion[] = [];
    for (const key of await this.keysUnder(prefix)) {
      const path = this.pathOf(key);
      const first = statSync(path, { throwIfNoEntry: false });
      if (first !== undefined) versions.push({ key, versionId: FIRST_VERSION, isDeleteMarker: false, lastModified: first.mtime, size: first.size });
      for (const name of await this.laterVersions(path)) {
        const { mtime, size } = await stat(join(`${path}${VERSIONS_SUFFIX}`, name));
        const isDeleteMarker = name.endsWith(DELETE_MARKER_SUFFIX);
        versions.push({ key, versionId: name.slice(0, 6), isDeleteMarker, lastModified: mtime, ...(isDeleteMarker ? {} : { size }) });
      }
    }
    return versions;
  }

  /** The retention date kept for an object, or undefined when there is no such object. */
  async retentionOf(key: string): Promise<Date | undefined> {
    try {
      const { retainUntil } = JSON.parse(await readFile(`${this.pathOf(key)}${RETENTION_SUFFIX}`, 'utf8')) as { retainUntil: string };
      return new Date(retainUntil);
    } catch (error) {
      if (isCode(error, 'ENOENT')) return undefined;
      throw error;
    }
  }

  /** Keys whose current version is not a delete marker, as S3's ListObjectsV2. */
  async list(prefix: string): Promise<string[]> {
    return (await this.current(prefix)).map((entry) => entry.key);
  }

  /** Each current object's key and size (the file its newest version is), as S3's ListObjectsV2 gives `Size`. */
  async listSized(prefix: string): Promise<Array<{ key: string; size: number }>> {
    const entries: Array<{ key: string; size: number }> = [];
    for (const { key, file } of await this.current(prefix)) {
      const found = await stat(file).catch(() => undefined);
      if (found !== undefined) entries.push({ key, size: found.size });
    }
    return entries;
  }

  /** The keys whose newest version is not a delete marker, with the file that holds that version. */
  private async current(prefix: string): Promise<Array<{ key: string; file: string }>> {
    const entries: Array<{ key: string; file: string }> = [];
    for (const key of await this.keysUnder(prefix)) {
      const path = this.pathOf(key);
      const newest = (await this.laterVersions(path)).at(-1);
      if (newest === undefined) entries.push({ key, file: path });
      else if (!newest.endsWith(DELETE_MARKER_SUFFIX)) entries.push({ key, file: join(`${path}${VERSIONS_SUFFIX}`, newest) });
    }
    return entries;
  }

  private async keysUnder(prefix: string): Promise<string[]> {
    return (await this.walk(prefix)).keys;
  }

  /**
   * What lies under the prefix that is neither an object nor its retention or versions: symlinks,
   * devices, pipes, and folders named like a version store with no object beside them. S3 holds no such
   * thing, the log's readers may still follow them (a query's glob does): `verify` names each.
   */
  async strays(prefix: string): Promise<string[]> {
    return (await this.walk(prefix)).strays;
  }

  private async walk(prefix: string): Promise<{ keys: string[]; strays: string[] }> {
    const keys: string[] = [];
    const strays: string[] = [];
    const visit = async (dir: string): Promise<void> => {
      let entries;
      try {
        entries = await readdir(dir, { withFileTypes: true });
      } catch (error) {
        if (isCode(error, 'ENOENT')) return;
        throw error;
      }
      const files = new Set(entries.filter((e) => e.isFile()).map((e) => e.name));
      for (const entry of entries) {
        const path = join(dir, entry.name);
        const key = relative(this.root, path).split(sep).join('/');
        const underPrefix = key.startsWith(prefix);
        if (entry.isDirectory()) {
          if (key === TMP_DIR) continue;
          if (entry.name.endsWith(VERSIONS_SUFFIX)) {
            // A key's version store; one with no key beside it is not the log's.
            if (!files.has(entry.name.slice(0, -VERSIONS_SUFFIX.length)) && underPrefix) strays.push(`${key}/`);
            continue;
          }
          // Descend only into folders that can hold keys under the prefix.
          if (prefix.startsWith(`${key}/`) || `${key}/`.startsWith(prefix)) await visit(path);
        } else if (entry.isFile()) {
          if (underPrefix && !key.endsWith(RETENTION_SUFFIX)) keys.push(key);
        } else if (underPrefix) {
          strays.push(key);
        }
      }
    };
    await visit(this.root);
    return { keys: keys.sort(), strays: strays.sort() };
  }
}

async function readIfExists(path: string): Promise<Uint8Array | undefined> {
  try {
    return new Uint8Array(readFileSync(path));
  } catch (error) {
    if (isCode(error, 'ENOENT')) return undefined;
    throw error;
  }
}
