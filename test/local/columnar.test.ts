import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FixtureLogWriter } from '../../bench/audit-log-fixture.js';
import { generatedRecord } from '../../scripts/generate-audit-log.js';
import { localAuditDir } from '../../local/audit.js';
import { memoryLogger } from '../../local/log.js';
import { LOCAL_TABLE_NAME, REPO_ROOT, startLocalStack, type LocalStack } from '../../local/local-stack.js';
import { ensureDecisionTable, startDynamoDbLocal } from '../../local/dynamodb-local.js';
import { DynamoChainStore } from '../../shared/adapters/aws/dynamo-chain-store.js';
import { LocalAuditSink } from '../../shared/adapters/local/local-audit-sink.js';
import { columnarPartKeys } from '../../shared/audit/columnar.js';
import { HOUR_MS, hourStart } from '../../shared/audit/digest-store.js';
import { eventually } from './support.js';

/**
 * The local stack's columnar copy end to end: a closed hour already in the log when the stack starts
 * (written by the writer's chaining, with the chain heads it leaves, before this start) is digested with the stack's key, then copied to
 * Parquet by the stack's own compaction hook; `npm run audit -- verify` passes with the copy, and fails,
 * naming the file, once a byte of the copy is changed.
 */

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
const exec = promisify(execFile);

let dataDir: string;
let auditDir: string;
let stack: LocalStack | undefined;
const log = memoryLogger();
const closedHour = new Date(hourStart(Date.now()).getTime() - 3 * HOUR_MS);
const part = columnarPartKeys(closedHour.toISOString().slice(0, 10), 1);

async function verifyCli(): Promise<{ code: number; out: string }> {
  try {
    const { stdout, stderr } = await exec('npx', ['tsx', join(REPO_ROOT, 'scripts', 'audit.ts'), 'verify', '--dir', auditDir], { cwd: REPO_ROOT, timeout: 120_000 });
    return { code: 0, out: stdout + stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? 1, out: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'countersign-columnar-'));
  auditDir = localAuditDir(dataDir);
  mkdirSync(auditDir, { recursive: true });
  const writer = new FixtureLogWriter(new LocalAuditSink(auditDir));
  const written = {
    'shard-1': await writer.write('shard-1', closedHour, Array.from({ length: 30 }, (_, i) => generatedRecord(i, new Date(closedHour.getTime() + i * 1000), 2))),
    'shard-2': await writer.write('shard-2', closedHour, Array.from({ length: 10 }, (_, i) => generatedRecord(100 + i, new Date(closedHour.getTime() + i * 1000), 2))),
  };
  // The stack's digest signs only objects the audit writer's chain heads vouch for: the heads these batches
  // would have left, in the stack's own table (its DynamoDB Local folder), as the writer leaves them.
  const ddb = await startDynamoDbLocal({ dataDir: join(dataDir, 'dynamodb') });
  try {
    await ensureDecisionTable(ddb.client, LOCAL_TABLE_NAME);
    const chain = new DynamoChainStore(ddb.client, LOCAL_TABLE_NAME);
    for (const [shardId, object] of Object.entries(written)) {
      const last = JSON.parse(object.content.trimEnd().split('\n').at(-1)!) as { sequence_number: string; hash: string };
      await chain.advance(shardId, undefined, { lastSequence: last.sequence_number, lastHash: last.hash });
    }
  } finally {
    await ddb.stop();
  }
  stack = await startLocalStack({ port: 0, dataDir, log, timeScale: 600 });
}, 180_000);

afterAll(async () => {
  await stack?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('the local stack\'s columnar copy', () => {
  it('copies the closed hour to Parquet at start, and verify passes with the copy', async () => {
    await eventually(async () => (existsSync(join(auditDir, ...part.manifest.split('/'))) ? true : undefined), `the columnar part ${part.manifest}`, 60_000);
    const manifest = JSON.parse(readFileSync(join(auditDir, ...part.manifest.split('/')), 'utf8')) as { records: number; sources: unknown[] };
    expect(manifest).toMatchObject({ records: 40 });
    expect(manifest.sources).toHaveLength(2);
    const verified = await verifyCli();
    expect(verified.out).toContain('columnar copy: 1 Parquet file(s) holding 40 records');
    expect(verified.code, verified.out).toBe(0);
  }, 180_000);

  it('verify fails, naming the Parquet file, when a byte of the copy is changed', async () => {
    const file = join(auditDir, ...part.parquet.split('/'));
    const bytes = readFileSync(file);
    const at = Math.floor(bytes.length / 2);
    bytes[at] = bytes[at]! ^ 0xff;
    rmSync(file, { force: true });
    writeFileSync(file, bytes);
    const verified = await verifyCli();
    expect(verified.code).not.toBe(0);
    expect(verified.out).toContain(part.parquet);
    // Reported as findings (the manifest's hash, and the rows DuckDB cannot read), not a crash of verify.
    expect(verified.out).toContain('NOT verified');
    expect(verified.out).toContain(`[columnar-hash] ${part.parquet}`);
    expect(verified.out).not.toMatch(/node:internal/);
  }, 180_000);
});
