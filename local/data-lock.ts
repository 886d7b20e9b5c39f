import { closeSync, existsSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';

/**
 * One local stack per data folder: two would share DynamoDB Local's files, resume the same
 * workflows and post every review twice. The lock is `<dataDir>/stack.lock`, holding the pid and
 * port of the stack that runs there and the pid of its DynamoDB Local. A lock whose process is
 * gone (a stack killed with SIGKILL) is stale and taken over.
 */

export const LOCK_FILE = 'stack.lock';

export class DataFolderInUseError extends Error {
  constructor(readonly dataDir: string, readonly holder: LockHolder) {
    super(`the data folder ${dataDir} is in use by the local stack on port ${holder.port} (pid ${holder.pid}); stop that one first, or give this one its own folder with --data-dir DIR`);
    this.name = 'DataFolderInUseError';
  }
}

export interface LockHolder {
  pid: number;
  port: number;
  /** The process that runs DynamoDB Local for that stack, once it started. */
  dynamoDbPid?: number;
  startedAt: string;
}

/** Whether a process runs; EPERM means it does, as someone else's. */
export function processRuns(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** A running Node process with this pid (not an unrelated process that reused the pid of a dead stack). */
function stackRuns(pid: number): boolean {
  if (!processRuns(pid)) return false;
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('node');
  } catch {
    return true; // no /proc (macOS): trust the pid
  }
}

function readHolder(file: string): LockHolder | undefined {
  try {
    const parsed = JSON.parse(readFileSync(file, 'utf8')) as Partial<LockHolder>;
    if (typeof parsed.pid !== 'number' || typeof parsed.port !== 'number') return undefined;
    return parsed as LockHolder;
  } catch {
    return undefined;
  }
}

export interface DataFolderLock {
  /** The stale lock this one replaced: its DynamoDB Local may still be stopping. */
  previous: LockHolder | undefined;
  /** Records the DynamoDB Local process, so that the next start can wait for it after a crash. */
  setDynamoDbPid(pid: number | undefined): void;
  release(): void;
}

/**
 * Takes the data folder's lock for this process, or throws `DataFolderInUseError` naming the folder
 * and the running stack's port. The folder must exist.
 */
export function lockDataFolder(dataDir: string, port: number): DataFolderLock {
  const file = join(dataDir, LOCK_FILE);
  let previous: LockHolder | undefined;
  const holder: LockHolder = { pid: process.pid, port, startedAt: new Date().toISOString() };
  for (let attempt = 0; ; attempt += 1) {
    let fd: number;
    try {
      fd = openSync(file, 'wx');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 2) throw error;
      const current = readHolder(file);
      if (current !== undefined && stackRuns(current.pid)) throw new DataFolderInUseError(dataDir, current);
      // Stale (its stack is gone) or half written by a stack killed while taking it.
      previous = current ?? previous;
      rmSync(file, { force: true });
      continue;
    }
    try {
      writeSync(fd, JSON.stringify(holder));
    } finally {
      closeSync(fd);
    }
    break;
  }
  let released = false;
  return {
    previous,
    setDynamoDbPid(pid) {
      if (released) return;
      writeFileSync(file, JSON.stringify({ ...holder, ...(pid === undefined ? {} : { dynamoDbPid: pid }) }));
    },
    release() {
      if (released) return;
      released = true;
      // Only our own lock: after a --fresh of another folder or a takeover, the file may be another's.
      if (existsSync(file) && readHolder(file)?.pid === process.pid) rmSync(file, { force: true });
    },
  };
}

/** Waits (bounded) for the DynamoDB Local of a crashed stack to let go of the folder's files. */
export async function waitForPreviousDynamoDb(previous: LockHolder | undefined, timeoutMs = 20_000): Promise<boolean> {
  const pid = previous?.dynamoDbPid;
  if (pid === undefined) return true;
  const deadline = Date.now() + timeoutMs;
  while (processRuns(pid)) {
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return true;
}
