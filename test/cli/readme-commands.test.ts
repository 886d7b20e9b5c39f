import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../local/local-stack.js';
import { fencedBlocks, readmeText } from './readme.js';

/**
 * Every command the README tells a reader to type is run somewhere: by a test or by CI. This is
 * the ledger. A new command in the README fails here until an entry names what runs it; an entry
 * whose evidence disappears from that file fails too. Commands that need an AWS account say so,
 * and name what runs in their place here.
 */

/**
 * How a file runs a command:
 * - `runs`: it runs the command as the README writes it, pointed at the test's own stack, port or
 *   folder where the README's would clash (`--endpoint`, `--dir`, `PORT=0`);
 * - `parses`: it gives the command's arguments to the very function `npm start` parses them with,
 *   without starting a stack with them;
 * - `stands-in`: the command needs AWS; the file runs what can run here in its place.
 */
interface Evidence {
  file: string;
  contains: string;
  how: 'runs' | 'parses' | 'stands-in';
}

interface Entry {
  command: RegExp;
  runBy: Evidence[];
  /** Set when the command itself can only run against AWS. */
  needsAws?: string;
  /** Set when no test starts the command itself, only parses it: why. */
  parseOnly?: string;
}

const WALKTHROUGH = 'test/cli/readme-walkthrough.test.ts';
const E2E = 'test/e2e/tutorial.test.ts';
const DEMO = 'test/local/demo.test.ts';
const START_ARGS = 'test/unit/start-arguments.test.ts';
const CI = '.ci/run';
const START_SPAWN = "spawn('npm', ['start', '--', '--fresh', '--data-dir', dataDir, '--time-scale', '2']";

const LEDGER: Entry[] = [
  { command: /^npm ci && npm start$/, runBy: [{ file: CI, contains: 'npm ci --no-audit', how: 'runs' }, { file: WALKTHROUGH, contains: START_SPAWN, how: 'runs' }] },
  { command: /^npm start$/, runBy: [{ file: WALKTHROUGH, contains: START_SPAWN, how: 'runs' }] },
  { command: /^npm start -- --time-scale (600|N)$/, runBy: [{ file: WALKTHROUGH, contains: START_SPAWN, how: 'runs' }, { file: START_ARGS, contains: "parseStartArguments(['--time-scale', '600'], {})", how: 'parses' }] },
  { command: /^npm start -- --data-dir DIR$/, runBy: [{ file: WALKTHROUGH, contains: START_SPAWN, how: 'runs' }, { file: START_ARGS, contains: "parseStartArguments(['--data-dir', 'tmp/x'], {})", how: 'parses' }] },
  { command: /^npm start -- --fresh$/, runBy: [{ file: WALKTHROUGH, contains: START_SPAWN, how: 'runs' }, { file: START_ARGS, contains: "parseStartArguments(['--fresh'], {})", how: 'parses' }] },
  { command: /^PORT=4011 npm start$/, runBy: [{ file: WALKTHROUGH, contains: "PORT: '0'", how: 'runs' }, { file: START_ARGS, contains: "parseStartArguments([], { PORT: '4011' })", how: 'parses' }] },
  {
    command: /^npm start -- --port 4011$/,
    parseOnly: 'a fixed port could be taken on the machine running the tests; PORT=0 runs the same resolvePort',
    runBy: [{ file: START_ARGS, contains: "parseStartArguments(['--port', '4011'], {})", how: 'parses' }],
  },
  { command: /^npm run demo$/, runBy: [{ file: DEMO, contains: "run('npm', ['run', '--silent', 'demo', '--', ...args]", how: 'runs' }] },
  { command: /^npm run demo -- --only export$/, runBy: [{ file: E2E, contains: "'demo', '--', '--endpoint', stack.url, '--only', 'export'", how: 'runs' }] },
  { command: /^npm run demo -- --only mcp$/, runBy: [{ file: DEMO, contains: "only: ['mcp']", how: 'runs' }] },
  {
    command: /^npm run mcp -- --config gateway\.json( --http 4020)?$/,
    runBy: [
      { file: 'test/mcp/support.ts', contains: "command: 'npm', args: ['run', '--silent', 'mcp', '--', '--config', configFile]", how: 'runs' },
      { file: 'test/mcp/support.ts', contains: "spawn('npm', ['run', '--silent', 'mcp', '--', '--config', configFile, '--http', '0']", how: 'runs' },
    ],
  },
  { command: /^npm run demo -- --help$/, runBy: [{ file: DEMO, contains: "demoCli(['--help'])", how: 'runs' }] },
  { command: /^npm run demo -- --endpoint http:\/\/127\.0\.0\.1:\d+$/, runBy: [{ file: E2E, contains: "'--endpoint', stack.url", how: 'runs' }] },
  { command: /^node try\.mjs$/, runBy: [{ file: WALKTHROUGH, contains: "readmeBlock('js', 'save as `try.mjs`')", how: 'runs' }] },
  // The flood-control test sends the same requests (method, path, reviewer header, body) to its own stack.
  { command: /^curl -X POST http:\/\/127\.0\.0\.1:4010\/agents\/billing-agent\/quarantine /, runBy: [{ file: 'test/local/flood-control.test.ts', contains: "agentApi('quarantine', 'carol'", how: 'runs' }] },
  { command: /^curl http:\/\/127\.0\.0\.1:4010\/agents\/billing-agent$/, runBy: [{ file: 'test/local/flood-control.test.ts', contains: '`${stack.url}/agents/billing-agent`', how: 'runs' }] },
  { command: /^curl -X POST http:\/\/127\.0\.0\.1:4010\/agents\/billing-agent\/lift /, runBy: [{ file: 'test/local/flood-control.test.ts', contains: "agentApi('lift', 'dan', { reason:", how: 'runs' }] },
  { command: /^npm run audit -- query --saved quarantines --param agent_id=ops-agent$/, runBy: [{ file: 'test/local/flood-control.test.ts', contains: "'audit', '--', 'query', '--saved', 'quarantines', '--param', 'agent_id=ops-agent'", how: 'runs' }] },
  { command: /^curl -X POST http:\/\/127\.0\.0\.1:4010\/actions\/<actionId>\/votes /, runBy: [{ file: WALKTHROUGH, contains: "readmeBlock('sh', 'curl -X POST')", how: 'runs' }] },
  { command: /^npm run audit -- verify$/, runBy: [{ file: WALKTHROUGH, contains: "audit(['verify'])", how: 'runs' }, { file: E2E, contains: "'audit', '--', 'verify'", how: 'runs' }] },
  { command: /^npm run audit -- queries$/, runBy: [{ file: WALKTHROUGH, contains: "'audit', '--', 'queries'", how: 'runs' }] },
  { command: /^npm run audit -- query --saved actions-by-agent$/, runBy: [{ file: WALKTHROUGH, contains: "audit(['query', '--saved', 'actions-by-agent'])", how: 'runs' }] },
  { command: /^npm run audit -- query --saved who-approved --param action_id=<actionId>$/, runBy: [{ file: WALKTHROUGH, contains: "audit(['query', '--saved', 'who-approved', '--param', `action_id=", how: 'runs' }] },
  { command: /^npm run audit -- query --saved refused-votes --csv$/, runBy: [{ file: WALKTHROUGH, contains: "audit(['query', '--saved', 'refused-votes', '--csv'])", how: 'runs' }] },
  { command: /^npm run audit -- query --saved shadow-diff$/, runBy: [{ file: DEMO, contains: "['run', '--silent', 'audit', '--', 'query', '--saved', 'shadow-diff', '--dir', stack.auditDir", how: 'runs' }] },
  { command: /^npm run audit -- query "SELECT .*" --json$/, runBy: [{ file: WALKTHROUGH, contains: "audit(['query', 'SELECT event_type, count(*) AS n FROM audit_events GROUP BY 1", how: 'runs' }] },
  {
    command: /^npm run audit -- verify --bucket <AuditBucketName> --key-id <DigestSigningKeyArn> --failure-bucket <AuditFailureBucketName>$/,
    needsAws: 'reads the S3 bucket, its failure bucket and the KMS public key of a deployment',
    runBy: [
      { file: 'test/adapters/s3-audit-sink.test.ts', contains: 'new S3AuditSink(', how: 'stands-in' },
      { file: 'test/unit/audit-digest-handler.test.ts', contains: "verifyAuditLog({ sink: openS3AuditLog(new S3Client({}), 'audit-bucket')", how: 'stands-in' },
      { file: 'test/local/audit-redrive.test.ts', contains: "auditCli(['verify', '--dir'", how: 'stands-in' },
    ],
  },
  {
    command: /^npm run smoke -- --stack Countersign-prod --region eu-west-1 --agent billing-agent$/,
    needsAws: 'reads a deployed stack (DescribeStacks, the bus policy, the audit bucket, KMS) and sends a request as an agent',
    runBy: [
      { file: 'test/local/smoke.test.ts', contains: "run('npm', ['run', '--silent', 'smoke', '--', ...args]", how: 'stands-in' },
      { file: 'test/unit/smoke.test.ts', contains: 'describeStackOutputs(', how: 'stands-in' },
    ],
  },
  {
    command: /^npm run smoke -- --endpoint http:\/\/127\.0\.0\.1:4010 --audit-dir \.countersign\/audit-bucket --key-dir \.countersign\/keys$/,
    runBy: [{ file: 'test/local/smoke.test.ts', contains: "['--endpoint', stack.url, '--audit-dir', stack.auditDir!, '--key-dir', join(dataDir, 'keys')", how: 'runs' }],
  },
  { command: /^npm run policies:check$/, runBy: [{ file: CI, contains: 'npm run policies:check', how: 'runs' }, { file: 'test/cli/readme-policy.test.ts', contains: "spawnSync('npm', ['run', '--silent', 'policies:check', '--', '--dir', dir]", how: 'runs' }] },
  {
    command: /^(npm run policies:replay|npm run policies:replay -- --dir policies --from 24h|cp policies\/shadow\/customer-queries\.cedar policies\/)$/,
    runBy: [{ file: DEMO, contains: "['run', '--silent', 'policies:replay', '--', '--dir', dir, '--from', '24h', '--log', stack.auditDir", how: 'runs' }],
  },
  {
    command: /^npm run policies:replay -- --dir policies --from 7d (--athena --workgroup <AthenaWorkGroup> --database <GlueDatabase>|--bucket <AuditBucketName>)$/,
    needsAws: 'reads a deployment\'s audit log; the Athena and S3 readers run on mocked clients, the replay itself on the local log',
    runBy: [
      { file: 'test/adapters/replay-log-readers.test.ts', contains: 'new AthenaRecordSource(', how: 'stands-in' },
      { file: 'test/adapters/replay-log-readers.test.ts', contains: 'new AuditObjectRecordSource(new S3AuditSink(', how: 'stands-in' },
    ],
  },
  { command: /^npx tsx agent\.ts$/, runBy: [{ file: WALKTHROUGH, contains: "run('npx', ['tsx', file])", how: 'runs' }] },
  { command: /^(rm policies\/staging-exports\.cedar|git checkout -- policies\/cases\.json)$/, runBy: [{ file: 'test/cli/readme-policy.test.ts', contains: "readmeBlock('sh', 'git checkout -- policies/cases.json')", how: 'runs' }] },
  { command: /^npm test$/, runBy: [{ file: CI, contains: 'npm test', how: 'runs' }] },
  { command: /^npm run lint$/, runBy: [{ file: CI, contains: 'npm run lint', how: 'runs' }] },
  { command: /^npm run synth$/, runBy: [{ file: CI, contains: 'npm run synth --', how: 'runs' }] },
  { command: /^npm run bench( -- --quick)?$/, runBy: [{ file: 'test/cli/bench-quick.test.ts', contains: "['run', '--silent', 'bench', '--', '--quick']", how: 'runs' }] },
  { command: /^npm start -- --help$/, runBy: [{ file: WALKTHROUGH, contains: "run('npm', ['start', '--silent', '--', '--help'])", how: 'runs' }] },
  { command: /^npm run audit -- --help$/, runBy: [{ file: 'test/unit/audit-verify-cli.test.ts', contains: "spawnSync('npm', ['run', '--silent', 'audit', '--', '--help']", how: 'runs' }] },
  { command: /^npx tsx bench\/audit-bench\.ts --records \d+$/, runBy: [{ file: 'test/cli/bench-quick.test.ts', contains: "['tsx', 'bench/audit-bench.ts', '--records', '3000']", how: 'runs' }] },
  { command: /^npx tsx bench\/approval-bench\.ts --requests \d+ --concurrency \d+$/, runBy: [{ file: 'test/cli/bench-quick.test.ts', contains: "['tsx', 'bench/approval-bench.ts', '--requests', '3', '--concurrency', '1']", how: 'runs' }] },
  { command: /^npm run test:bench$/, runBy: [{ file: CI, contains: 'npm run test:bench', how: 'runs' }] },
  { command: /^apt-get install chromium$/, runBy: [{ file: CI, contains: 'apt-get install -y -qq chromium', how: 'runs' }] },
  {
    command: /^npx cdk (bootstrap|deploy -c stage=prod -c directory=path\/to\/your-directory\.json)$/,
    needsAws: 'deploys to an AWS account; CI synthesizes the same app with the same context instead',
    runBy: [{ file: CI, contains: 'npm run synth -- --quiet -c stage=prod -c directory=config/directory.json', how: 'stands-in' }],
  },
  {
    command: /^aws (secretsmanager put-secret-value|sqs start-message-move-task)\b/,
    needsAws: 'the AWS CLI against a deployment; the secrets\' JSON shapes are what the tested credentials adapter reads',
    runBy: [
      { file: 'test/adapters/slack-credentials.test.ts', contains: "SecretString: JSON.stringify({ botToken: 'xoxb-aws' })", how: 'stands-in' },
      { file: 'test/adapters/teams-adapters.test.ts', contains: "SecretString: JSON.stringify({ appId: APP_ID, tenantId: TENANT, clientSecret: 'from-aws' })", how: 'stands-in' },
    ],
  },
  {
    command: /^aws kms get-public-key --key-id <DigestSigningKeyArn>$/,
    needsAws: 'the KMS key of a deployment; verify --key-id makes the same GetPublicKey call, and the fingerprint it prints is tested locally',
    runBy: [{ file: 'test/unit/audit-verify-cli.test.ts', contains: 'trust anchor: local key', how: 'stands-in' }],
  },
];

/** The commands a reader types: every line of the ```sh blocks, and inline `npm …`-style spans. */
function readmeCommands(): string[] {
  const text = readmeText();
  const commands = new Set<string>();
  for (const block of fencedBlocks(text)) {
    if (block.lang !== 'sh') continue;
    for (const line of block.body.replace(/\\\n\s*/g, ' ').split('\n')) {
      const command = line.replace(/\s+#.*$/, '').replace(/\s+/g, ' ').trim();
      if (command !== '' && !command.startsWith('#')) commands.add(command);
    }
  }
  for (const match of text.matchAll(/`([^`\n]+)`/g)) {
    const span = (match[1] ?? '').trim();
    if (/^(PORT=\d+ )?(npm|npx|node|curl|aws|apt-get) /.test(span)) commands.add(span);
  }
  return [...commands];
}

describe('every command in the README is run by a test or by CI', () => {
  const commands = readmeCommands();

  it('finds the commands (the extraction itself works)', () => {
    expect(commands).toContain('npm ci && npm start');
    expect(commands).toContain('npm test');
    expect(commands.length).toBeGreaterThan(20);
  });

  it.each(commands)('%s', (command) => {
    const entries = LEDGER.filter((entry) => entry.command.test(command));
    expect(entries, `no ledger entry runs "${command}": add a test that runs it, and an entry here`).not.toHaveLength(0);
  });

  it.each(LEDGER.map((entry) => [entry.command.source, entry] as const))('the evidence for %s is where the ledger says', (_source, entry) => {
    expect(commands.some((command) => entry.command.test(command)), 'the README no longer has this command: remove the entry').toBe(true);
    for (const evidence of entry.runBy) {
      const text = readFileSync(join(REPO_ROOT, evidence.file), 'utf8');
      expect(text, `${evidence.file} should contain ${evidence.contains}`).toContain(evidence.contains);
    }
  });

  it.each(LEDGER.map((entry) => [entry.command.source, entry] as const))('%s is run, or says why it cannot be', (_source, entry) => {
    const runs = entry.runBy.some((evidence) => evidence.how === 'runs');
    if (entry.needsAws !== undefined) expect(entry.runBy.every((evidence) => evidence.how === 'stands-in')).toBe(true);
    else if (entry.parseOnly !== undefined) expect(runs).toBe(false);
    else expect(runs, 'a command that can run here must be run by a test or CI').toBe(true);
  });

  it('the README says which commands need an AWS account', () => {
    const awsOnly = commands.filter((command) => LEDGER.some((entry) => entry.needsAws !== undefined && entry.command.test(command)));
    expect(awsOnly.every((command) => /^(npx cdk|aws |npm run audit -- verify --bucket|npm run smoke -- --stack|npm run policies:replay -- .* (--athena|--bucket) )/.test(command))).toBe(true);
  });
});
