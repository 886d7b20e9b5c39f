import { relative, resolve } from 'node:path';
import { DEFAULT_LOCAL_AUDIT_DIR } from '../shared/audit/verify-sources.js';
import { AGENT_HEADER, REVIEWER_HEADER } from './local-directory.js';
import { DEFAULT_PORT, LOCAL_BUS_NAME, type LocalStack } from './local-stack.js';
import { DEFAULT_SLACK_BOT_TOKEN, DEFAULT_SLACK_SIGNING_SECRET } from './slack/emulator.js';

export interface BannerFacts extends Pick<LocalStack, 'url' | 'port' | 'slackApiUrl' | 'dataDir' | 'auditDir' | 'timeScale'> {
  /** Whether the Slack emulator uses its built-in bot token and signing secret (not SLACK_BOT_TOKEN / SLACK_SIGNING_SECRET). */
  defaultSlackSecrets: boolean;
  /** Paths are shown relative to it when inside it. */
  cwd: string;
}

/** A path as the user would type it from `cwd`: relative when inside it. */
function shownPath(path: string, cwd: string): string {
  const shown = relative(cwd, path);
  return shown === '' ? '.' : shown.startsWith('..') ? path : shown;
}

/** What `npm start` prints once the stack is up. Short on purpose: where everything is and how to stop; the README has the rest. */
export function bannerLines(facts: BannerFacts): string[] {
  const { url, cwd } = facts;
  const slackSecrets = facts.defaultSlackSecrets
    ? `bot token "${DEFAULT_SLACK_BOT_TOKEN}", signing secret "${DEFAULT_SLACK_SIGNING_SECRET}"`
    : 'bot token and signing secret from SLACK_BOT_TOKEN / SLACK_SIGNING_SECRET';
  const audit = facts.auditDir === undefined
    ? []
    : [
      `  audit          ${url}/audit   records, decisions per hour, approval latency`,
      `                 log in ${shownPath(facts.auditDir, cwd)} (hash-chained, write-once; digests signed hourly and at stop)`,
      `                 npm run audit -- verify${resolve(cwd, facts.auditDir) === resolve(cwd, DEFAULT_LOCAL_AUDIT_DIR) ? '' : ` --dir ${shownPath(facts.auditDir, cwd)}`}`,
    ];
  return [
    '',
    'Countersign local stack is up',
    `  bus endpoint   ${url}   EventBridge PutEvents to bus "${LOCAL_BUS_NAME}", Source "agent.<id>", DetailType "Action Requested"`,
    `  Slack          ${url}/slack   review messages; act as any member of the directory`,
    `                 Web API ${facts.slackApiUrl} (${slackSecrets})`,
    `  Teams          ${url}/teams   the same reviews as Adaptive Cards; act as any member with an Entra ID object id`,
    `                 bot endpoint ${url}/teams/api/messages (Bot Framework JWTs signed by a key made at start)`,
    `  decision API   GET ${url}/actions/{actionId}`,
    `                 votes: POST ${url}/actions/{actionId}/votes with header ${REVIEWER_HEADER}: <member id>`,
    `                 credentials: POST ${url}/actions/{actionId}/credentials with header ${AGENT_HEADER}: <agent id> (local-only STS credentials)`,
    ...audit,
    `  workflow       ${facts.timeScale === 1 ? 'real time' : `${facts.timeScale}x faster`} (--time-scale N)   data in ${shownPath(facts.dataDir, cwd)} (--fresh starts clean)`,
    `  try it         npm run demo${facts.port === DEFAULT_PORT ? '' : ` -- --endpoint ${url}`}   in another terminal: a demo agent asks for six actions`,
    '  Ctrl-C to stop',
    '',
  ];
}

/** The first line `npm start` prints. */
export const STARTING_LINE = 'starting the Countersign local stack (about 6 s; 15 to 20 s the first time after a code change)...';

/** One line on where the start's time went, so that a slow start can be told from a stuck one. */
export function startupLine(timings: Readonly<Record<string, number>>, modulesMs: number, totalMs: number): string {
  const seconds = (ms: number | undefined) => `${((ms ?? 0) / 1000).toFixed(1)} s`;
  const concurrent = ['DynamoDB Local', 'workflow definition', 'handler modules'].filter((name) => timings[name] !== undefined).map((name) => `${name} ${seconds(timings[name])}`);
  const after = ['decision table', 'audit trail'].filter((name) => timings[name] !== undefined).map((name) => `${name} ${seconds(timings[name])}`);
  return `started in ${seconds(totalMs)}: node and the stack's modules ${seconds(modulesMs)}; at the same time ${concurrent.join(', ')}; then ${after.join(', ')}`;
}
