import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DataFolderInUseError, LOCK_FILE, lockDataFolder, processRuns } from '../../local/data-lock.js';

let dir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'countersign-lock-'));
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** The pid of a process that has ended. */
function deadPid(): number {
  const pid = spawnSync('true').pid;
  expect(processRuns(pid)).toBe(false);
  return pid;
}

describe('the data folder lock', () => {
  it('refuses a second stack on the folder, naming the folder and the running stack\'s port', () => {
    const lock = lockDataFolder(dir, 4010);
    expect(() => lockDataFolder(dir, 4011)).toThrow(DataFolderInUseError);
    expect(() => lockDataFolder(dir, 4011)).toThrow(`the data folder ${dir} is in use by the local stack on port 4010 (pid ${process.pid})`);
    lock.release();
    expect(existsSync(join(dir, LOCK_FILE))).toBe(false);
    lockDataFolder(dir, 4011).release();
  });

  it('takes over the lock of a stack that was killed (its pid is gone), and reports its DynamoDB Local', () => {
    writeFileSync(join(dir, LOCK_FILE), JSON.stringify({ pid: deadPid(), port: 4010, dynamoDbPid: 123, startedAt: '2026-12-06T00:00:00.000Z' }));
    const lock = lockDataFolder(dir, 4012);
    expect(lock.previous).toMatchObject({ port: 4010, dynamoDbPid: 123 });
    expect(JSON.parse(readFileSync(join(dir, LOCK_FILE), 'utf8'))).toMatchObject({ pid: process.pid, port: 4012 });
    lock.setDynamoDbPid(456);
    expect(JSON.parse(readFileSync(join(dir, LOCK_FILE), 'utf8'))).toMatchObject({ pid: process.pid, port: 4012, dynamoDbPid: 456 });
    lock.release();
  });

  it('takes over a lock file cut short by a crash', () => {
    writeFileSync(join(dir, LOCK_FILE), '{"pid":');
    const lock = lockDataFolder(dir, 4013);
    expect(lock.previous).toBeUndefined();
    lock.release();
  });

  it('release leaves a lock that is not its own', () => {
    const lock = lockDataFolder(dir, 4010);
    writeFileSync(join(dir, LOCK_FILE), JSON.stringify({ pid: process.pid + 1, port: 4999, startedAt: '' }));
    lock.release();
    expect(existsSync(join(dir, LOCK_FILE))).toBe(true);
  });
});
