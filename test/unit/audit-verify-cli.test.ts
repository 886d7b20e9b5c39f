import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { FixtureLogWriter } from '../../bench/audit-log-fixture.js';
import { Ed25519Signer } from '../../shared/adapters/local/ed25519-signer.js';
import { LocalAuditSink } from '../../shared/adapters/local/local-audit-sink.js';
import { publishPublicKey, writeDigestsUpTo } from '../../shared/audit/digest.js';
import { main } from '../../scripts/audit.js';

let dir: string;
let objectKey: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'audit-cli-'));
  const sink = new LocalAuditSink(join(dir, 'log'));
  const signer = Ed25519Signer.generate();
  const object = await new FixtureLogWriter(sink).write('shard-a', new Date('2026-11-20T10:00:00Z'), [
    { event_id: 'e1', event_type: 'vote', action_id: 'act-1', reviewer_id: 'bob', vote: 'approve', occurred_at: '2026-11-20T10:01:00.000Z' },
    { event_id: 'e2', agent_id: 'agent-a', action_id: 'act-1' },
  ]);
  objectKey = object.key;
  await publishPublicKey(sink, signer, new Date('2030-01-01T00:00:00Z'));
  await writeDigestsUpTo(new Date('2026-11-20T12:00:00Z'), { sink, signer });
  await writeFile(join(dir, 'other.pem'), await Ed25519Signer.generate().publicKeyPem());
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const o = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => ((out += String(chunk)), true));
  const e = vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => ((err += String(chunk)), true));
  try {
    return { code: await main(argv), out, err };
  } finally {
    o.mockRestore();
    e.mockRestore();
  }
}

describe('npm run audit -- verify', () => {
  it('exits 0 on a whole log, with the public key published beside it', async () => {
    const result = await cli('verify', '--dir', join(dir, 'log'));
    expect(result).toMatchObject({ code: 0, err: '' });
    expect(result.out).toContain('audit log verified: 2 digests, 1 objects, 2 records, no problems');
  });

  it('exits 2 with one line for a missing log, a wrong key, a bad range and bad arguments', async () => {
    expect(await cli('verify', '--dir', join(dir, 'nope'))).toMatchObject({ code: 2, err: expect.stringMatching(/^audit: no audit log at .*nope \(ENOENT\); start the local stack, or pass --dir or --bucket\n$/) });
    expect(await cli('verify', '--dir', join(dir, 'log'), '--public-key', join(dir, 'other.pem'))).toMatchObject({ code: 2, err: expect.stringMatching(/^audit: wrong public key: none of the 2 digests was signed by the given key/) });
    expect(await cli('verify', '--dir', join(dir, 'log'), '--from', 'yesterday')).toMatchObject({ code: 2, err: 'audit: --from "yesterday" is not a date (use ISO 8601, e.g. 2026-11-22 or 2026-11-22T03:00Z)\n' });
    expect((await cli('verify', '--frm', 'x')).code).toBe(2);
  });

  it('exits 1 with the precise report when the log was altered', async () => {
    const copy = join(dir, 'tampered');
    await cpDir(join(dir, 'log'), copy);
    const path = join(copy, ...objectKey.split('/'));
    await writeFile(path, (await readFile(path)).subarray(0, 20));
    const result = await cli('verify', '--dir', copy);
    expect(result.code).toBe(1);
    expect(result.out).toContain(`[object-unreadable] object ${objectKey} cannot be decompressed`);
  });
});

describe('npm run audit -- query', () => {
  it('runs SQL and saved queries with parameters, as a table, JSON or CSV', async () => {
    const table = await cli('query', 'SELECT event_id, dt FROM audit_events ORDER BY event_id', '--dir', join(dir, 'log'));
    expect(table).toMatchObject({ code: 0, out: 'event_id  dt\n--------  ----------\ne1        2026-11-20\ne2        2026-11-20\n(2 rows)\n' });
    const json = await cli('query', '--saved', 'who-approved', '--param', 'action_id=act-1', '--json', '--dir', join(dir, 'log'));
    expect(JSON.parse(json.out)).toEqual([expect.objectContaining({ reviewer_id: 'bob', vote: 'approve' })]);
    const csv = await cli('query', 'SELECT event_id FROM audit_events ORDER BY 1', '--csv', '--dir', join(dir, 'log'));
    expect(csv.out).toBe('event_id\ne1\ne2\n');
  });

  it('exits 2 with one line for bad SQL or an unknown saved query', async () => {
    expect(await cli('query', 'SELEC nonsense', '--dir', join(dir, 'log'))).toMatchObject({ code: 2, err: expect.stringMatching(/^audit: the query failed: Parser Error/) });
    expect(await cli('query', '--saved', 'nope', '--dir', join(dir, 'log'))).toMatchObject({ code: 2, err: expect.stringContaining('no saved query "nope"') });
  });
});

async function cpDir(from: string, to: string): Promise<void> {
  const { cp } = await import('node:fs/promises');
  await cp(from, to, { recursive: true });
}
