import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../local/local-stack.js';
import { eventually } from './support.js';
import { audit, burstInterrupted, decidedCounts, processesOf, startChildStack, type ChildStack } from './child-stack.js';

/**
 * Issue 11: Ctrl-C (SIGINT to the whole process group, as a terminal sends it) during a burst. It
 * once reached DynamoDB Local's JVM too, and tsx's signal relay killed a busy stack mid-stop. Now
 * the stack stops in order and says nothing alarming; and while it runs, a second `npm start` on
 * its folder is refused.
 */

// Made when the tests run, not when they are listed.
let dataDir = '';
beforeAll(() => {
  dataDir = mkdtempSync(join(tmpdir(), 'countersign-stop-'));
});
const prefix = `stop-${Date.now().toString(36)}`;
let stack: ChildStack | undefined;

afterAll(async () => {
  stack?.signal('SIGKILL');
  await stack?.exited;
  await eventually(() => (processesOf(dataDir) === '' ? true : undefined), 'the stack\'s processes to end', 30_000).catch(() => undefined);
  if (dataDir !== '') rmSync(dataDir, { recursive: true, force: true });
}, 60_000);

describe('Ctrl-C to npm start during a burst', () => {
  it('a second npm start on the same data folder, even with --fresh, is refused in one line naming the folder and the running port', async () => {
    stack = await startChildStack(dataDir, { fresh: true });
    const port = new URL(stack.url).port;
    // --fresh too: the refusal comes before anything is deleted (the next test needs the first stack's data whole).
    const second = spawnSync('npm', ['start', '--silent', '--', '--fresh', '--data-dir', dataDir], { cwd: REPO_ROOT, encoding: 'utf8', env: { ...process.env, CI: 'true', PORT: '0' }, timeout: 60_000 });
    expect(second.status).toBe(1);
    const errors = second.stdout.split('\n').filter((line) => line.startsWith('error:'));
    const { pid } = JSON.parse(readFileSync(join(dataDir, 'stack.lock'), 'utf8')) as { pid: number };
    expect(errors).toEqual([`error: the data folder ${dataDir} is in use by the local stack on port ${port} (pid ${pid}); stop that one first, or give this one its own folder with --data-dir DIR`]);
  }, 200_000);

  it('stops in order: no error or warning line, every accepted request decided and in the log, the log verifies, nothing left running', async () => {
    const running = stack;
    if (running === undefined) throw new Error('the stack did not start');
    // The burst goes on after Ctrl-C until the stack refuses it (503, then the port closes).
    const sent = await burstInterrupted(running, 'SIGINT', { prefix, total: 400, after: 40, stopAtSignal: false });
    expect(sent.signalled, 'the burst ended before Ctrl-C').toBe(true);
    // npm ends itself with the signal it was sent once its script has exited, as after any Ctrl-C.
    expect(await running.exited).toBe('SIGINT');
    const output = running.output();
    const alarming = output.split('\n').filter((line) => /^(error|warning):|ECONNREFUSED|could not drain/.test(line));
    expect(alarming, output).toEqual([]);
    // The stack's own stop ran to its end: the digest is signed, and "stopped" is its last line.
    expect(output).toMatch(/SIGINT: stopping\.\.\.[\s\S]*digest\s+audit\s+signed [\s\S]*\nstopped\n$/);

    const counts = decidedCounts(dataDir, prefix);
    for (const actionId of sent.accepted) expect(counts.get(actionId), `decided records of ${actionId}`).toBe(1);
    expect([...counts.values()].filter((n) => n !== 1)).toEqual([]);

    const verify = audit(dataDir, ['verify']);
    expect(verify.status, verify.stdout + verify.stderr).toBe(0);
    expect(verify.stdout).toMatch(/verified: .* no problems/);
    // Everything is signed after a clean stop: nothing written after the newest digest.
    expect(verify.stdout).not.toContain('written after the newest digest');
    expect(processesOf(dataDir)).toBe('');
  }, 300_000);

  it('a second Ctrl-C stop (in the same hour, most runs) again leaves every object signed: the hour\'s next digest', async () => {
    stack = await startChildStack(dataDir, { fresh: false });
    const sent = await burstInterrupted(stack, 'SIGINT', { prefix: `${prefix}-2`, total: 200, after: 20, stopAtSignal: false });
    expect(sent.signalled, 'the burst ended before Ctrl-C').toBe(true);
    expect(await stack.exited).toBe('SIGINT');
    const counts = decidedCounts(dataDir, `${prefix}-2`);
    for (const actionId of sent.accepted) expect(counts.get(actionId), `decided records of ${actionId}`).toBe(1);
    const verify = audit(dataDir, ['verify']);
    expect(verify.status, verify.stdout + verify.stderr).toBe(0);
    expect(verify.stdout).toMatch(/verified: .* no problems/);
    expect(verify.stdout).not.toContain('written after the newest digest');
    stack = undefined;
    expect(processesOf(dataDir)).toBe('');
  }, 300_000);
});

