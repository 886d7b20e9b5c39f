/**
 * Worker threads for `verify`: the per-object checks (gunzip, hashes, record lines) run on other cores
 * while the main thread reads objects and puts the results together in order. Each object's check is
 * checkObject (verify-object.ts) either way, so a report does not depend on the number of workers.
 */
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { DigestObjectEntry } from './digest.js';
import type { ObjectCheck, ObjectCheckOptions } from './verify-object.js';

/** At most this many workers by default (each holds a few objects' bytes at a time). */
export const MAX_DEFAULT_VERIFY_WORKERS = 8;
/**
 * Below this many objects verify checks on the main thread by default: starting a worker costs more
 * than it saves on a small log.
 */
export const MIN_OBJECTS_FOR_WORKERS = 64;

export class VerifyWorkerError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'VerifyWorkerError';
  }
}

export interface ObjectTask {
  id: number;
  key: string;
  body: Uint8Array;
  entry: DigestObjectEntry | undefined;
  digestKey: string | undefined;
}

export type WorkerReply = { id: number; check: ObjectCheck } | { id: number; error: string };

/** The workers to use: the option as given, else one fewer than the cores (capped), none for a small log. */
export function verifyWorkerCount(option: number | undefined, objects: number, cores = availableParallelism()): number {
  if (option !== undefined) {
    if (!Number.isInteger(option) || option < 0) throw new VerifyWorkerError(`the number of verify workers must be a whole number of at least 0, not ${option}`);
    return option;
  }
  return objects < MIN_OBJECTS_FOR_WORKERS ? 0 : Math.min(Math.max(cores - 1, 0), MAX_DEFAULT_VERIFY_WORKERS);
}

/**
 * How a worker loads the checker. From TypeScript sources (the CLI runs under tsx, the tests under
 * vitest) the worker registers tsx's loader itself first: a worker does not inherit vitest's
 * transform, and tsx's own flags in the parent are left out so it is not loaded twice.
 */
function workerSource(): { code: string; eval: boolean } {
  const entry = new URL(`./verify-object-worker${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url);
  if (!entry.pathname.endsWith('.ts')) return { code: entry.pathname, eval: false };
  // The ESM build of tsx's API (its package exports it beside the CommonJS one `require` resolves).
  const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx/esm/api')).href.replace(/\.cjs$/, '.mjs');
  return { code: `import(${JSON.stringify(tsx)}).then((api) => { api.register(); return import(${JSON.stringify(entry.href)}); });`, eval: true };
}

export class ObjectCheckPool {
  private readonly workers: Worker[];
  private readonly pending = new Map<number, { resolve: (check: ObjectCheck) => void; reject: (error: Error) => void }>();
  private next = 0;
  private failed: Error | undefined;

  constructor(count: number, options: ObjectCheckOptions) {
    const source = workerSource();
    this.workers = Array.from({ length: count }, () => {
      const worker = new Worker(source.code, { eval: source.eval, execArgv: [], workerData: options });
      worker.on('message', (reply: WorkerReply) => {
        const waiting = this.pending.get(reply.id);
        if (waiting === undefined) return;
        this.pending.delete(reply.id);
        if ('error' in reply) waiting.reject(new VerifyWorkerError(`a verify worker failed: ${reply.error}`));
        else waiting.resolve(reply.check);
      });
      worker.on('error', (error) => this.fail(new VerifyWorkerError(`a verify worker stopped: ${error.message}`)));
      worker.on('exit', (code) => {
        if (this.pending.size > 0) this.fail(new VerifyWorkerError(`a verify worker exited (code ${code}) with objects still to check`));
      });
      return worker;
    });
  }

  private fail(error: Error): void {
    this.failed ??= error;
    for (const waiting of this.pending.values()) waiting.reject(error);
    this.pending.clear();
  }

  /** Checks one object on the next worker (round robin: objects cost about the same). */
  check(task: Omit<ObjectTask, 'id'>): Promise<ObjectCheck> {
    if (this.failed !== undefined) return Promise.reject(this.failed);
    const id = this.next++;
    const worker = this.workers[id % this.workers.length]!;
    return new Promise<ObjectCheck>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      // The bytes are copied, not transferred: the reader may hand out a buffer it still holds.
      worker.postMessage({ id, ...task } satisfies ObjectTask);
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((worker) => worker.terminate()));
  }
}
