import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from './support.js';
import { audit, burstInterrupted, decidedCounts, processesOf, startChildStack, type ChildStack } from './child-stack.js';

/**
 * Issue 11: the local bus once held accepted events in memory, and a crash lost hundreds of them.
 * Here `npm start` is killed with SIGKILL (the whole process group) in the middle of a burst sent
 * with the real EventBridge SDK, started again on the same folder without --fresh, then stopped
 * with Ctrl-C: every request the bus accepted is decided exactly once and the log verifies.
 */

// Made when the tests run, not when they are listed.
let dataDir = '';
beforeAll(() => {
  dataDir = mkdtempSync(join(tmpdir(), 'countersign-crash-'));
});
const prefix = `crash-${Date.now().toString(36)}`;
const stacks: ChildStack[] = [];

afterAll(async () => {
  for (const stack of stacks) stack.signal('SIGKILL');
  await Promise.all(stacks.map((stack) => stack.exited));
  // The watchdog stops DynamoDB Local of a killed stack; wait for it before deleting its files.
  await eventually(() => (processesOf(dataDir) === '' ? true : undefined), 'the stacks\' processes to end', 30_000).catch(() => undefined);
  if (dataDir !== '') rmSync(dataDir, { recursive: true, force: true });
}, 60_000);

describe('npm start killed with SIGKILL during a burst, then started again', () => {
  it('decides every accepted request exactly once, and after a clean stop the log verifies', async () => {
    const first = await startChildStack(dataDir, { fresh: true });
    stacks.push(first);
    const sent = await burstInterrupted(first, 'SIGKILL', { prefix, total: 300, after: 60, stopAtSignal: true });
    expect(sent.signalled, 'the burst ended before the kill').toBe(true);
    expect(await first.exited).toBe('SIGKILL');
    expect(sent.accepted.length).toBeGreaterThanOrEqual(60);

    // Its DynamoDB Local does not outlive it (its watchdog stops it).
    await eventually(() => (processesOf(dataDir) === '' ? true : undefined), 'DynamoDB Local of the killed stack to stop', 30_000);

    const second = await startChildStack(dataDir);
    stacks.push(second);
    for (const actionId of sent.accepted) {
      const decision = await eventually(async () => {
        const response = await fetch(`${second.url}/actions/${actionId}`);
        if (response.status !== 200) return undefined;
        const body = await response.json() as { outcome: string };
        return body.outcome === 'pending' ? undefined : body;
      }, `the decision of ${actionId}, accepted before the crash`, 90_000);
      expect(decision.outcome, actionId).toBe('allowed');
    }

    second.signal('SIGINT');
    // npm ends itself with the signal it was sent once its script has exited, as after any Ctrl-C.
    expect(await second.exited).toBe('SIGINT');
    expect(second.output()).toMatch(/\nstopped\n$/);

    const counts = decidedCounts(dataDir, prefix);
    for (const actionId of sent.accepted) expect(counts.get(actionId), `decided records of ${actionId}`).toBe(1);
    // Requests whose answer the crash cut off may be decided too, but never twice.
    expect([...counts.values()].filter((n) => n !== 1)).toEqual([]);

    const verify = audit(dataDir, ['verify']);
    expect(verify.status, verify.stdout + verify.stderr).toBe(0);
    expect(processesOf(dataDir)).toBe('');
  }, 420_000);
});
