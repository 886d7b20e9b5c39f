/** A small signed audit log in a temporary folder, for the verify tests: hours, events and the fixture writer. */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FixtureLogWriter, type FixtureObject, type RecordFields } from '../../bench/audit-log-fixture.js';
import { LocalAuditSink } from '../../shared/adapters/local/local-audit-sink.js';
import { Ed25519Signer } from '../../shared/adapters/local/ed25519-signer.js';
import { writeDigestsUpTo } from '../../shared/audit/digest.js';

export const H10 = new Date('2026-11-20T10:00:00Z');
export const H11 = new Date('2026-11-20T11:00:00Z');
export const H12 = new Date('2026-11-20T12:00:00Z');
export const NOW = new Date('2026-11-20T13:05:00Z');

export const events = (prefix: string, n: number): RecordFields[] => Array.from({ length: n }, (_, i) => ({ event_id: `${prefix}/${i}`, agent_id: 'agent-a', action_id: prefix }));

export interface FixtureLog {
  dir: string;
  sink: LocalAuditSink;
  signer: Ed25519Signer;
  publicKeyPem: string;
  objects: FixtureObject[];
}

/** Writes each batch as one object (chained per shard), then the digests up to NOW, signed with a new key. */
export async function fixtureLog(folderPrefix: string, batches: ReadonlyArray<readonly [shardId: string, hour: Date, fields: RecordFields[]]>): Promise<FixtureLog> {
  const dir = await mkdtemp(join(tmpdir(), folderPrefix));
  const sink = new LocalAuditSink(dir);
  const signer = Ed25519Signer.generate();
  const writer = new FixtureLogWriter(sink);
  for (const [shardId, hour, fields] of batches) await writer.write(shardId, hour, fields);
  await writeDigestsUpTo(NOW, { sink, signer });
  return { dir, sink, signer, publicKeyPem: await signer.publicKeyPem(), objects: writer.objects };
}
