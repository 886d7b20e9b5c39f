import { describe, expect, it } from 'vitest';
import { memoryLogger } from '../../local/log.js';
import { createShutdown } from '../../local/shutdown.js';

function harness(stop: () => Promise<void>) {
  const log = memoryLogger();
  const exits: number[] = [];
  let clock = 0;
  const steps = ['refuse new requests and finish deliveries', 'drain the stream into the audit log and sign the digest', 'stop DynamoDB Local'];
  const shutdown = createShutdown({
    stop,
    unfinishedStopSteps: () => steps.slice(1),
    log,
    exit: (code) => exits.push(code),
    onStopFailed: (error) => log.error(String(error)),
    now: () => clock,
  });
  return { shutdown, log, exits, advance: (ms: number) => { clock += ms; } };
}

describe("npm start's Ctrl-C", () => {
  it('stops in order, then says "stopped" and exits 0', async () => {
    const { shutdown, log, exits } = harness(async () => undefined);
    shutdown('SIGINT');
    await new Promise((resolve) => setImmediate(resolve));
    expect(log.lines).toEqual(['SIGINT: stopping...', 'stopped']);
    expect(exits).toEqual([0]);
  });

  it('ignores the copy of the same Ctrl-C that npm relays at once', () => {
    const { shutdown, log, exits, advance } = harness(() => new Promise(() => undefined));
    shutdown('SIGINT');
    advance(50);
    shutdown('SIGINT');
    expect(exits).toEqual([]);
    expect(log.lines).toEqual(['SIGINT: stopping...']);
  });

  it('a second Ctrl-C later exits at once, naming the steps it skipped', () => {
    const { shutdown, log, exits, advance } = harness(() => new Promise(() => undefined));
    shutdown('SIGINT');
    advance(2500);
    shutdown('SIGINT');
    expect(exits).toEqual([1]);
    expect(log.lines.at(-1)).toMatch(/^warning: SIGINT again: exiting now, without: drain the stream into the audit log and sign the digest; stop DynamoDB Local \(/);
  });
});
