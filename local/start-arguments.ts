import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { LocalStackError, resolvePort, resolveTimeScale } from './local-stack.js';

export const START_USAGE = 'usage: npm start [-- --fresh] [-- --port N] [-- --time-scale N] [-- --data-dir DIR] (PORT=N and COUNTERSIGN_TIME_SCALE=N work too)';

/** `npm start -- --help`: the usage line, then each option and what it does. */
export const START_HELP = `${START_USAGE}

Runs the whole of Countersign on this machine until Ctrl-C (a second Ctrl-C stops at once, saying what it skipped).

options:
  --fresh           delete the data folder's contents first (requests, decisions, reviews, the audit log, its keys)
  --port N          serve the bus, Slack, the decision API and the audit page on port N (default 4010; 0 picks a free port; or PORT=N)
  --time-scale N    run workflow time N times faster: reminders and deadlines of reviews come N times sooner (default 1; or COUNTERSIGN_TIME_SCALE=N)
  --data-dir DIR    keep the data in DIR instead of .countersign/ (one stack per folder: a second one on the same folder is refused)
  --help, -h        this help`;

export interface StartArguments {
  help: boolean;
  fresh: boolean;
  /** From --port, else PORT, else the default; 0 picks any free port. */
  port: number;
  /** From --time-scale, else COUNTERSIGN_TIME_SCALE, else 1. */
  timeScale: number;
  /** An absolute path, when --data-dir was given. */
  dataDir?: string;
}

/** `npm start`'s arguments and environment, checked: every mistake is one line that says what to type. */
export function parseStartArguments(argv: readonly string[], env: Record<string, string | undefined> = process.env): StartArguments {
  let values: { fresh?: boolean; help?: boolean; port?: string; 'time-scale'?: string; 'data-dir'?: string };
  try {
    ({ values } = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        fresh: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
        port: { type: 'string' },
        'time-scale': { type: 'string' },
        'data-dir': { type: 'string' },
      },
    }));
  } catch (error) {
    throw new LocalStackError(`${(error as Error).message}; ${START_USAGE}`);
  }
  const dataDir = values['data-dir'];
  if (dataDir !== undefined && dataDir.trim() === '') throw new LocalStackError(`--data-dir needs a folder; ${START_USAGE}`);
  return {
    help: values.help === true,
    fresh: values.fresh === true,
    port: resolvePort(values.port ?? env.PORT),
    timeScale: resolveTimeScale(values['time-scale'] ?? env.COUNTERSIGN_TIME_SCALE),
    ...(dataDir === undefined ? {} : { dataDir: resolve(dataDir) }),
  };
}
