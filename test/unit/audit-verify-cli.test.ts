import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { FixtureLogWriter } from '../../bench/audit-log-fixture.js';
import { Ed25519Signer } from '../../shared/adapters/local/ed25519-signer.js';
import { LocalAuditSink } from '../../shared/adapters/local/local-audit-sink.js';
import { publishPublicKey, writeDigestsUpTo, type AuditDigest } from '../../shared/audit/digest.js';
import { publicKeyFingerprint } from '../../shared/ports/signer.js';
import { main } from '../../scripts/audit.js';
import { REPO_ROOT } from '../../local/local-stack.js';

let dir: string;
let objectKey: string;
let signer: Ed25519Signer;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'audit-cli-'));
  const sink = new LocalAuditSink(join(dir, 'log'));
  // The trust anchor: the data folder's keys/, beside the log's folder (as the local stack lays them out).
  signer = await Ed25519Signer.fromKeyDir(join(dir, 'keys'));
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
  it('exits 2 (could not run), never 1 (findings), when the tool itself fails, saying so with the trace', async () => {
    const list = vi.spyOn(LocalAuditSink.prototype, 'listVersions').mockRejectedValueOnce(new TypeError('boom inside the tool'));
    try {
      const result = await cli('verify', '--dir', join(dir, 'log'));
      expect(result.code).toBe(2);
      expect(result.err).toContain('audit: could not run: an error in the audit tool, not a finding about the log (report it with this trace):\nTypeError: boom inside the tool');
      expect(list).toHaveBeenCalled();
    } finally {
      list.mockRestore();
    }
  });

  it('exits 0 on a whole log, checked against the key in the data folder, and prints the anchor', async () => {
    const result = await cli('verify', '--dir', join(dir, 'log'));
    expect(result).toMatchObject({ code: 0, err: '' });
    expect(result.out).toContain('audit log verified: 2 digests, 1 objects, 2 records, no problems');
    const fingerprint = publicKeyFingerprint(await signer.publicKeyPem());
    expect(result.out).toContain(`trust anchor: local key ${join(dir, 'keys', 'digest-ed25519.pem')} (Ed25519, public key SHA-256 ${fingerprint})`);
    expect(result.out).toContain('published key digests/public-key.pem: matches the trust anchor');
  });

  it('takes the key published in the log only with --trust-key-in-log, and warns', async () => {
    const result = await cli('verify', '--dir', join(dir, 'log'), '--trust-key-in-log');
    expect(result.code).toBe(0);
    expect(result.err).toMatch(/^audit: warning: trusting digests\/public-key\.pem from the log itself: this proves the log intact only against someone who could not replace that key/);
    expect(result.out).toContain('trust anchor: the key published in the log');
  });

  it('--trust-key-in-log takes the key\'s first version, not one put on top of it', async () => {
    const copy = join(dir, 'key-overwritten');
    await cpDir(join(dir, 'log'), copy);
    await new LocalAuditSink(copy).putObjectVersion('digests/public-key.pem', Buffer.from(await Ed25519Signer.generate().publicKeyPem()));
    const result = await cli('verify', '--dir', copy, '--trust-key-in-log');
    expect(result.code).toBe(1);
    expect(result.out).toContain('[digest-versions] digest digests/public-key.pem has 2 versions');
    expect(result.out).toContain('published key digests/public-key.pem: DIFFERS from the trust anchor');
    // The digests themselves verify against the original key: no signature finding.
    expect(result.out).not.toContain('[digest-key]');
    expect(result.out).not.toContain('[digest-signature]');
  });

  it('exits 1 when the published key was replaced and every digest re-signed with it', async () => {
    const copy = join(dir, 'resigned');
    await cpDir(join(dir, 'log'), copy);
    const forger = Ed25519Signer.generate();
    const { signDigest, serializeDigest } = await import('../../shared/audit/digest.js');
    await writeFile(join(copy, 'digests', 'public-key.pem'), await forger.publicKeyPem());
    let previous: { key: string; sha256: string; signature: string } | null = null;
    for (const key of ['digests/dt=2026-11-20/hour=10/digest.json', 'digests/dt=2026-11-20/hour=11/digest.json']) {
      const path = join(copy, ...key.split('/'));
      const { signature: _s, signing: _k, previous: _p, ...unsigned } = JSON.parse(await readFile(path, 'utf8')) as AuditDigest;
      const bytes = serializeDigest(await signDigest({ ...unsigned, previous }, forger));
      await writeFile(path, bytes);
      previous = { key, sha256: createHash('sha256').update(bytes).digest('hex'), signature: (JSON.parse(bytes.toString('utf8')) as AuditDigest).signature };
    }
    expect((await cli('verify', '--dir', copy, '--trust-key-in-log')).code).toBe(0);
    const result = await cli('verify', '--dir', copy);
    expect(result.code).toBe(1);
    expect(result.out).toContain('[published-key] digests/public-key.pem is not the trust anchor\'s key');
    expect(result.out).toContain('[digest-key] none of the 2 digests is signed by the trust anchor');
  });

  it('exits 2 with one line for a missing log, a missing anchor, a bad range and bad arguments', async () => {
    expect(await cli('verify', '--dir', join(dir, 'nope'))).toMatchObject({ code: 2, err: expect.stringMatching(/^audit: no audit log at .*nope \(ENOENT\); start the local stack, or pass --dir or --bucket\n$/) });
    expect(await cli('verify', '--dir', join(dir, 'log'), '--keys', join(dir, 'no-keys'))).toMatchObject({ code: 2, err: expect.stringMatching(/^audit: no trust anchor: cannot read the local digest key .*no-keys\/digest-ed25519\.pem \(ENOENT\)/) });
    expect(await cli('verify', '--dir', join(dir, 'log'), '--keys', join(dir, 'keys'), '--trust-key-in-log')).toMatchObject({ code: 2, err: expect.stringMatching(/^audit: give one trust anchor, not --keys and --trust-key-in-log/) });
    const other = await cli('verify', '--dir', join(dir, 'log'), '--public-key', join(dir, 'other.pem'));
    expect(other.code).toBe(1);
    expect(other.out).toContain('[digest-key] none of the 2 digests is signed by the trust anchor');
    expect(await cli('verify', '--dir', join(dir, 'log'), '--from', 'yesterday')).toMatchObject({ code: 2, err: 'audit: --from "yesterday" is not a date (use ISO 8601, e.g. 2026-11-22 or 2026-11-22T03:00Z)\n' });
    expect((await cli('verify', '--frm', 'x')).code).toBe(2);
    expect(await cli('verify', '--dir', join(dir, 'log'), '--workers', 'two')).toMatchObject({ code: 2, err: expect.stringMatching(/^audit: --workers takes a whole number of threads \(0 for none\), not "two"\n/) });
  });

  it('--workers N checks the objects in worker threads, with the same report', async () => {
    const alone = await cli('verify', '--dir', join(dir, 'log'), '--workers', '0');
    const pooled = await cli('verify', '--dir', join(dir, 'log'), '--workers', '2');
    // (stderr may carry progress lines: a worker's start makes the run long enough for them.)
    expect(pooled.code).toBe(0);
    expect(pooled.out).toContain('audit log verified: 2 digests, 1 objects, 2 records, no problems');
    expect(pooled.out).toBe(alone.out);
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

describe('npm run audit -- --help', () => {
  it('prints what each command and option does, and exits 0 (it once answered "unknown command")', async () => {
    for (const argv of [['--help'], ['-h'], ['help'], ['verify', '--help']]) {
      const { code, out, err } = await cli(...argv);
      expect(code, argv.join(' ')).toBe(0);
      expect(err).toBe('');
      for (const command of ['verify ', 'query ', 'queries ']) expect(out).toContain(`\n  ${command}`);
      for (const option of ['--dir PATH', '--bucket NAME', '--key-id KMS_KEY', '--failure-bucket NAME', '--reconcile', '--saved NAME', '--json, --csv']) expect(out).toContain(`\n  ${option}`);
    }
  });

  it('is what npm run audit -- --help prints, as the README writes it', () => {
    const result = spawnSync('npm', ['run', '--silent', 'audit', '--', '--help'], { cwd: REPO_ROOT, encoding: 'utf8', timeout: 60_000 });
    expect(result.status, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^npm run audit: check and query the audit log\.\n/);
    expect(result.stdout).toContain('\n  --help, -h            this help');
  });
});
