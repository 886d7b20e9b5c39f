import type { Logger } from './log.js';

/** Ctrl-C reaches `npm start`'s process twice at once (the terminal's process group, and npm relaying it). */
export const SECOND_SIGNAL_AFTER_MS = 2000;

export interface ShutdownDeps {
  stop(): Promise<void>;
  /** The steps of the stop not finished yet: what a forced exit skips. */
  unfinishedStopSteps(): string[];
  log: Logger;
  exit(code: number): void;
  onStopFailed(error: unknown): void;
  now?: () => number;
}

/**
 * The signal handler of `npm start`: the first signal stops the stack in order; a copy of it within
 * two seconds is the same Ctrl-C and is ignored; a later one exits at once, saying what it skipped.
 */
export function createShutdown(deps: ShutdownDeps): (signal: NodeJS.Signals) => void {
  const now = deps.now ?? Date.now;
  let stoppingSince: number | undefined;
  return (signal) => {
    if (stoppingSince !== undefined) {
      if (now() - stoppingSince < SECOND_SIGNAL_AFTER_MS) return;
      const skipped = deps.unfinishedStopSteps();
      deps.log.warn(`${signal} again: exiting now, without: ${skipped.join('; ')} (DynamoDB Local stops as this process exits; the bus journal keeps undelivered events for the next start)`);
      deps.exit(1);
      return;
    }
    stoppingSince = now();
    deps.log.info(`${signal}: stopping...`);
    deps.stop().then(
      () => {
        deps.log.info('stopped');
        deps.exit(0);
      },
      (error: unknown) => deps.onStopFailed(error),
    );
  };
}
