/**
 * npm run policies:replay -- [--dir <candidate policies>] [--from T] [--to T] [--json | --csv]
 *                            [--log PATH | --bucket NAME | --athena --workgroup NAME --database NAME]
 *
 * Decides every request of the audit log in the range again with the candidate policy set and prints
 * what would change: a table of outcome transitions with counts, then each changed request. Exit 0 when
 * nothing would change, 1 when something would, 2 for a usage error (or a candidate set or log that
 * cannot be read), 3 when the log holds requests that cannot be replayed faithfully (a payload hash that
 * does not match its request, a request with no decision).
 */
import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { AthenaClient } from '@aws-sdk/client-athena';
import { S3Client } from '@aws-sdk/client-s3';
import { AthenaRecordSource } from '../shared/adapters/aws/athena-logged-records.js';
import { S3AuditSink } from '../shared/adapters/aws/s3-audit-sink.js';
import { LocalAuditSink } from '../shared/adapters/local/local-audit-sink.js';
import { AuditObjectRecordSource } from '../shared/audit/logged-records.js';
import { DEFAULT_LOCAL_AUDIT_DIR } from '../shared/audit/verify-sources.js';
import { CedarPolicyEngine } from '../shared/policy/cedar-policy-engine.js';
import { defaultPolicyDir, PolicyLoadError } from '../shared/policy/load-policies.js';
import { formatReplayCsv, formatReplayJson, formatReplayText, replayExitCode, replayRequests, type LoggedRecordSource, type ReplayRange } from '../shared/policy/replay.js';

const USAGE = `usage: npm run policies:replay -- [--dir <candidate policies>] [--from T] [--to T] [--json | --csv]
                              [--log PATH | --bucket NAME | --athena --workgroup NAME --database NAME]
  --dir PATH        the candidate policy set (schema and *.cedar files; default: policies/)
  --from T, --to T  the range of request times: ISO 8601 (2026-12-06T00:00:00Z, or a date), or a
                    duration back from now (24h, 7d, 90m); default: the whole log
  --json, --csv     the report for tools (default: a table for people)
  --log PATH        the local audit log (default: ${DEFAULT_LOCAL_AUDIT_DIR})
  --bucket NAME     read the S3 audit bucket directly (the stack's AuditBucketName)
  --athena          read through Athena: --workgroup (AthenaWorkGroup) and --database (GlueDatabase)
exit: 0 nothing would change, 1 something would, 2 usage error, 3 requests that cannot be replayed`;

class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

const DURATION = /^(\d+)(m|h|d)$/;
const UNIT_MS = { m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** An ISO 8601 time (or date), or a duration back from `now`, as ISO 8601 UTC. */
function timeArgument(flag: string, text: string, now: Date): string {
  const duration = DURATION.exec(text);
  if (duration !== null) return new Date(now.getTime() - Number(duration[1]) * UNIT_MS[duration[2] as keyof typeof UNIT_MS]).toISOString();
  if (!/^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/.test(text) || !Number.isFinite(Date.parse(text))) {
    throw new UsageError(`${flag}: "${text}" is neither an ISO 8601 time (2026-12-06T10:00:00Z, 2026-12-06) nor a duration back from now (24h, 7d, 90m)`);
  }
  // A time without a zone is UTC, as everywhere in the audit log.
  const zoned = /T|\s/.test(text) && !/(Z|[+-]\d{2}:?\d{2})$/.test(text) ? `${text.replace(' ', 'T')}Z` : text;
  return new Date(zoned).toISOString();
}

function sourceOf(values: Record<string, string | boolean | undefined>): LoggedRecordSource {
  const log = values.log as string | undefined;
  const bucket = values.bucket as string | undefined;
  const athena = values.athena === true;
  if ([log !== undefined, bucket !== undefined, athena].filter(Boolean).length > 1) throw new UsageError('give one of --log, --bucket or --athena');
  if (!athena && (values.workgroup !== undefined || values.database !== undefined)) throw new UsageError('--workgroup and --database go with --athena');
  if (athena) {
    const workGroup = values.workgroup as string | undefined;
    const database = values.database as string | undefined;
    if (workGroup === undefined || database === undefined) throw new UsageError('--athena needs --workgroup NAME and --database NAME (the stack outputs AthenaWorkGroup and GlueDatabase)');
    return new AthenaRecordSource(new AthenaClient({}), { workGroup, database });
  }
  if (bucket !== undefined) return new AuditObjectRecordSource(new S3AuditSink(new S3Client({}), bucket), `s3://${bucket}`);
  const dir = resolve(log ?? DEFAULT_LOCAL_AUDIT_DIR);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new UsageError(`no audit log at ${dir}; start the local stack (npm start), or pass --log, --bucket or --athena`);
  return new AuditObjectRecordSource(new LocalAuditSink(dir), dir);
}

async function main(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        dir: { type: 'string' }, from: { type: 'string' }, to: { type: 'string' }, json: { type: 'boolean' }, csv: { type: 'boolean' },
        log: { type: 'string' }, bucket: { type: 'string' }, athena: { type: 'boolean' }, workgroup: { type: 'string' }, database: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      allowPositionals: false,
    }));
  } catch (error) {
    console.error(`${(error as Error).message}\n${USAGE}`);
    return 2;
  }
  if (values.help === true) {
    console.log(USAGE);
    return 0;
  }

  let source: LoggedRecordSource;
  const range: ReplayRange = {};
  try {
    if (values.json === true && values.csv === true) throw new UsageError('give --json or --csv, not both');
    const now = new Date();
    if (values.from !== undefined) range.from = timeArgument('--from', values.from, now);
    if (values.to !== undefined) range.to = timeArgument('--to', values.to, now);
    if (range.from !== undefined && range.to !== undefined && range.from >= range.to) throw new UsageError(`--from (${range.from}) must be before --to (${range.to})`);
    source = sourceOf(values);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(`${error.message}\n${USAGE}`);
    return 2;
  }

  let candidate: CedarPolicyEngine;
  try {
    candidate = new CedarPolicyEngine({ policyDir: resolve(values.dir ?? defaultPolicyDir()) });
  } catch (error) {
    if (!(error instanceof PolicyLoadError)) throw error;
    console.error(error.message);
    return 2;
  }

  let report;
  try {
    report = await replayRequests(source, candidate, range);
  } catch (error) {
    // The log (or Athena) could not be read: say what, and that nothing was replayed.
    console.error(`cannot read the audit log from ${source.description}: ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`);
    return 2;
  }
  process.stdout.write(values.json === true ? formatReplayJson(report) : values.csv === true ? formatReplayCsv(report) : formatReplayText(report));
  return replayExitCode(report);
}

process.exitCode = await main(process.argv.slice(2));
