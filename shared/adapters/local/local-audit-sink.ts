/**
 * `AuditSink` on a directory with the bucket's key layout (the local stack's audit bucket).
 *
 * Write-once: an object is written to a temporary file under `<root>/.tmp/` and published with
 * `link()`, which refuses an existing name, so a key is never overwritten and a crash never leaves a
 * half-written object under its key. There is no delete. Each object's retention date sits beside it
 * in `<key>.retention.json` (`{"retainUntil": "<ISO>", "sha256OfUncompressed": "<hex>"}`), written
 * first, the same way, and never rewritten; `list` does not return the sidecars.
 */
import { randomBytes } from 'node:crypto';
import { link, mkdir, readdir, readFile, unlink, writeFile } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import type { AuditSink, PutAuditObjectOptions } from '../../ports/audit.js';

export const RETENTION_SUFFIX = '.retention.json';
const TMP_DIR = '.tmp';

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
    if (key === '' || key.startsWith('/') || parts.some((p) => p === '' || p === '.' || p === '..') || parts[0] === TMP_DIR || key.endsWith(RETENTION_SUFFIX)) {
      throw new LocalAuditSinkError(`"${key}" is not a usable object key (relative, no empty, "." or ".." segments, not ${TMP_DIR}/, not ending in ${RETENTION_SUFFIX})`);
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

  async getObject(key: string): Promise<Uint8Array | undefined> {
    try {
      return new Uint8Array(await readFile(this.pathOf(key)));
    } catch (error) {
      if (isCode(error, 'ENOENT')) return undefined;
      throw error;
    }
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

  async list(prefix: string): Promise<string[]> {
    const keys: string[] = [];
    const walk = async (dir: string): Promise<void> => {
      let entries;
      try {
        entries = await readdir(dir, { withFileTypes: true });
      } catch (error) {
        if (isCode(error, 'ENOENT')) return;
        throw error;
      }
      for (const entry of entries) {
        const path = join(dir, entry.name);
        const key = relative(this.root, path).split(sep).join('/');
        if (entry.isDirectory()) {
          if (key === TMP_DIR) continue;
          // Descend only into folders that can hold keys under the prefix.
          if (prefix.startsWith(`${key}/`) || `${key}/`.startsWith(prefix)) await walk(path);
        } else if (entry.isFile() && key.startsWith(prefix) && !key.endsWith(RETENTION_SUFFIX)) {
          keys.push(key);
        }
      }
    };
    await walk(this.root);
    return keys.sort();
  }
}
