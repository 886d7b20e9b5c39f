/**
 * `npm start`: runs the local stack until Ctrl-C.
 *   npm start -- --fresh           start with an empty data folder
 *   npm start -- --port 4020       serve on another port (or PORT=4020 npm start)
 *   npm start -- --time-scale 60   workflow time runs 60 times faster (or COUNTERSIGN_TIME_SCALE=60)
 *   npm start -- --data-dir DIR    keep the data in DIR instead of .countersign/
 */
import { readFileSync } from 'node:fs';
import { PortInUseError } from './aws-json-server.js';
import { DynamoDbLocalError } from './dynamodb-local.js';
import { createLogger } from './log.js';
import { JavaMissingError, LocalStackError, startLocalStack, type LocalStack } from './local-stack.js';
import { parseStartArguments, START_HELP } from './start-arguments.js';
import { bannerLines, STARTING_LINE, startupLine } from './banner.js';
import { createShutdown } from './shutdown.js';
import { DEFAULT_SLACK_BOT_TOKEN, DEFAULT_SLACK_SIGNING_SECRET } from './slack/emulator.js';
import { SlackWorkspaceFileError } from './slack/workspace.js';

const log = createLogger();

function fail(error: unknown): never {
  // Problems a user can fix get one line; anything else keeps its stack for a bug report.
  if (error instanceof PortInUseError || error instanceof JavaMissingError || error instanceof LocalStackError || error instanceof SlackWorkspaceFileError) {
    log.error(error.message);
  } else if (error instanceof DynamoDbLocalError) {
    log.error(`DynamoDB Local did not start: ${error.message}`);
  } else {
    log.error(`the local stack failed: ${error instanceof Error ? error.stack ?? error.message : String(error)}`);
  }
  process.exit(1);
}

function banner(stack: LocalStack): void {
  const defaultSecrets = process.env.SLACK_BOT_TOKEN === DEFAULT_SLACK_BOT_TOKEN && process.env.SLACK_SIGNING_SECRET === DEFAULT_SLACK_SIGNING_SECRET;
  for (const line of bannerLines({ ...stack, defaultSlackSecrets: defaultSecrets, cwd: process.cwd() })) log.info(line);
}

/** The parent of a process, from /proc (Linux); undefined where /proc is not available. */
function parentPid(pid: number): number | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // "<pid> (<command>) <state> <ppid> ...": the command may contain spaces, so split after ")".
  const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  return Number.isInteger(ppid) ? ppid : undefined;
}

/**
 * `npm start` runs npm -> sh -> this process (node with tsx's loader in the same process: tsx's own
 * CLI would put a signal relay in between that kills a stack still stopping). A SIGTERM sent to npm
 * alone kills sh, but not this process, which would leave the stack (and its Java child) running with nobody to
 * stop it. So this process also stops when the chain that launched it breaks.
 */
function watchLauncher(onGone: () => void): void {
  const parent = process.ppid;
  const grandparent = parentPid(parent);
  if (grandparent === undefined) return;
  const timer = setInterval(() => {
    if (process.ppid !== parent || parentPid(parent) !== grandparent) {
      clearInterval(timer);
      onGone();
    }
  }, 1000);
  timer.unref();
}

/** When this module's imports were loaded (tsx compiles them on the first run): ms since the process started. */
const modulesLoadedAt = performance.now();

async function main(): Promise<void> {
  const args = parseStartArguments(process.argv.slice(2));
  if (args.help) {
    process.stdout.write(`${START_HELP}\n`);
    return;
  }
  log.info(STARTING_LINE);
  const stack = await startLocalStack({
    fresh: args.fresh,
    log,
    port: args.port,
    timeScale: args.timeScale,
    ...(args.dataDir === undefined ? {} : { dataDir: args.dataDir }),
  });
  banner(stack);
  log.info(startupLine(stack.startupTimings, modulesLoadedAt, performance.now()));

  const shutdown = createShutdown({
    stop: () => stack.stop(),
    unfinishedStopSteps: () => stack.unfinishedStopSteps(),
    log,
    exit: (code) => process.exit(code),
    onStopFailed: fail,
  });
  process.on('SIGINT', shutdown);
  process.on('SIGTERM', shutdown);
  process.on('SIGHUP', shutdown);
  watchLauncher(() => {
    log.info('the process that started the local stack has exited');
    shutdown('SIGTERM');
  });
}

main().catch(fail);
