import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { LocalStackError, resolvePort, resolveTimeScale } from './local-stack.js';

export const START_USAGE = 'usage: npm start [-- --fresh] [-- --port N] [-- --time-scale N] [-- --data-dir DIR] (PORT=N and COUNTERSIGN_TIME_SCALE=N work too)';

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
