/**
 * `npm start`: runs the local stack until Ctrl-C.
 *   npm start -- --fresh           start with an empty data folder
 *   npm start -- --port 4020       serve on another port (or PORT=4020 npm start)
 *   npm start -- --time-scale 60   workflow time runs 60 times faster (or COUNTERSIGN_TIME_SCALE=60)
 */
import { readFileSync } from 'node:fs';
import { relative, resolve } from 'node:path';
import { DEFAULT_LOCAL_AUDIT_DIR } from '../shared/audit/verify-sources.js';
import { PortInUseError } from './aws-json-server.js';
import { DynamoDbLocalError } from './dynamodb-local.js';
import { createLogger } from './log.js';
import { REVIEWER_HEADER } from './local-directory.js';
import { JavaMissingError, LOCAL_BUS_NAME, LocalStackError, resolvePort, resolveTimeScale, startLocalStack, type LocalStack } from './local-stack.js';
import { DEFAULT_SLACK_BOT_TOKEN, DEFAULT_SLACK_SIGNING_SECRET } from './slack/emulator.js';

const USAGE = 'usage: npm start [-- --fresh] [-- --port N] [-- --time-scale N]';

interface Arguments {
  fresh: boolean;
  port?: number;
  timeScale?: number;
}

function parseArguments(argv: readonly string[]): Arguments {
  const parsed: Arguments = { fresh: false };
  for (let index = 0; index < argv.length; index += 1) {
    const argument = argv[index] ?? '';
    if (argument === '--fresh') parsed.fresh = true;
    else if (argument === '--port') {
      parsed.port = resolvePort(argv[index + 1]);
      index += 1;
    } else if (argument.startsWith('--port=')) parsed.port = resolvePort(argument.slice('--port='.length));
    else if (argument === '--time-scale') {
      const value = argv[index + 1];
      if (value === undefined || value.startsWith('--')) throw new LocalStackError(`--time-scale needs a number; ${USAGE}`);
      parsed.timeScale = resolveTimeScale(value);
      index += 1;
    } else if (argument.startsWith('--time-scale=')) parsed.timeScale = resolveTimeScale(argument.slice('--time-scale='.length));
    else if (argument === '--help' || argument === '-h') {
      process.stdout.write(`${USAGE}\n`);
      process.exit(0);
    } else throw new LocalStackError(`unknown argument "${argument}"; ${USAGE}`);
  }
  if (argv.includes('--port') && parsed.port === undefined) throw new LocalStackError(`--port needs a number; ${USAGE}`);
  return parsed;
}

const log = createLogger();

function fail(error: unknown): never {
  // Problems a user can fix get one line; anything else keeps its stack for a bug report.
  if (error instanceof PortInUseError || error instanceof JavaMissingError || error instanceof LocalStackError) {
    log.error(error.message);
  } else if (error instanceof DynamoDbLocalError) {
    log.error(`DynamoDB Local did not start: ${error.message}`);
  } else {
    log.error(`the local stack failed: ${error instanceof Error ? error.stack ?? error.message : String(error)}`);
  }
  process.exit(1);
}

function auditLines(auditDir: string): string[] {
  const shown = relative(process.cwd(), auditDir);
  const where = shown.startsWith('..') || shown === '' ? auditDir : shown;
  const dirFlag = resolve(auditDir) === resolve(DEFAULT_LOCAL_AUDIT_DIR) ? '' : ` --dir ${auditDir}`;
  return [
    `  audit log      ${where}   hash-chained, write-once; digests signed on the hour and at stop`,
    `                 npm run audit -- verify${dirFlag}`,
    `                 npm run audit -- query --saved actions-by-agent${dirFlag}`,
  ];
}

function banner(stack: LocalStack): void {
  const dataDir = relative(process.cwd(), stack.dataDir) || '.';
  const tokenNote = process.env.SLACK_BOT_TOKEN === DEFAULT_SLACK_BOT_TOKEN ? `"${DEFAULT_SLACK_BOT_TOKEN}"` : 'from SLACK_BOT_TOKEN';
  const secretNote = process.env.SLACK_SIGNING_SECRET === DEFAULT_SLACK_SIGNING_SECRET ? `"${DEFAULT_SLACK_SIGNING_SECRET}"` : 'from SLACK_SIGNING_SECRET';
  const lines = [
    '',
    'Countersign local stack is up',
    `  bus endpoint   ${stack.url}   EventBridge PutEvents, bus "${LOCAL_BUS_NAME}"`,
    `                 new EventBridgeClient({ endpoint: '${stack.url}', region: 'us-east-1', credentials: { accessKeyId: 'x', secretAccessKey: 'x' } })`,
    `                 with Entries: [{ EventBusName: '${LOCAL_BUS_NAME}', Source: 'agent.<id>', DetailType: 'Action Requested', Detail: JSON.stringify(...) }]`,
    `  decision API   ${stack.url}/actions/{actionId}`,
    `  Slack          ${stack.url}/slack   the approval channels; act as any member of the directory`,
    `                 Web API at ${stack.slackApiUrl} (bot token ${tokenNote}, signing secret ${secretNote})`,
    `  votes API      POST ${stack.url}/actions/{actionId}/votes  with header ${REVIEWER_HEADER}: <member id>`,
    `                 curl -X POST ${stack.url}/actions/<id>/votes -H '${REVIEWER_HEADER}: bob' -H 'content-type: application/json' -d '{"vote":"approve","comment":"ok"}'`,
    `                 (AWS_IAM in AWS: locally the header stands for arn:aws:iam::000000000000:user/<member id>, which the local directory maps to the member)`,
    `  workflow       ${stack.timeScale === 1 ? 'real time' : `time runs ${stack.timeScale}x faster (policy timeouts divided by ${stack.timeScale}, whole seconds, at least 1 s)`}   (--time-scale N)`,
    `  data folder    ${dataDir.startsWith('..') ? stack.dataDir : dataDir}   (npm start -- --fresh starts clean)`,
    ...(stack.auditDir === undefined ? [] : auditLines(stack.auditDir)),
    '  Ctrl-C to stop',
    '',
  ];
  for (const line of lines) log.info(line);
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
 * `npm start` runs npm -> sh -> tsx -> this process. A SIGTERM sent to npm alone kills sh, but not
 * tsx nor this process, which would leave the stack (and its Java child) running with nobody to
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

async function main(): Promise<void> {
  const args = parseArguments(process.argv.slice(2));
  log.info('starting the Countersign local stack (DynamoDB Local takes a few seconds)...');
  const stack = await startLocalStack({
    fresh: args.fresh,
    log,
    ...(args.port === undefined ? {} : { port: args.port }),
    ...(args.timeScale === undefined ? {} : { timeScale: args.timeScale }),
  });
  banner(stack);

  let stoppingSince: number | undefined;
  const shutdown = (signal: NodeJS.Signals) => {
    if (stoppingSince !== undefined) {
      // Ctrl-C reaches this process twice (from the terminal's process group and relayed by tsx/npm);
      // only a later, deliberate second signal skips the clean stop.
      if (Date.now() - stoppingSince < 2000) return;
      log.warn(`${signal} again: exiting without waiting for the stop`);
      process.exit(1);
    }
    stoppingSince = Date.now();
    log.info(`${signal}: stopping...`);
    stack.stop().then(
      () => {
        log.info('stopped');
        process.exit(0);
      },
      (error: unknown) => fail(error),
    );
  };
  process.on('SIGINT', shutdown);
  process.on('SIGTERM', shutdown);
  process.on('SIGHUP', shutdown);
  watchLauncher(() => {
    log.info('the process that started the local stack has exited');
    shutdown('SIGTERM');
  });
}

main().catch(fail);
