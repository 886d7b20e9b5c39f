/**
 * Golden audit record format: a fixed set of event items (as the stores write them, plus one the
 * writer does not know, carrying a task token) → the exact NDJSON lines, hashes, object key and
 * content hash. A change here changes every verifier's view of the log: regenerate only on purpose
 * (`UPDATE_GOLDEN=1 npx vitest run test/golden`) and say why in the commit.
 */
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { chainRecords } from '../../shared/audit/chain.js';
import { GENESIS_HASH } from '../../shared/audit/format.js';
import { buildAuditObject } from '../../shared/audit/object.js';
import { toAuditRecordBody } from '../../shared/audit/record.js';
import { canonicalJson } from '../../shared/domain/canonical-json.js';

const here = (name: string) => new URL(name, import.meta.url);
const fixture = JSON.parse(readFileSync(here('audit-event-items.json'), 'utf8')) as {
  shardId: string;
  previousHash: string;
  records: Array<{ sequenceNumber: string; approximateCreationDateTime: number; image: Record<string, unknown> }>;
};

function build() {
  const bodies = fixture.records.map((r) => toAuditRecordBody(r.image, {
    shardId: fixture.shardId, sequenceNumber: r.sequenceNumber, streamCreatedAt: new Date(r.approximateCreationDateTime * 1000).toISOString(),
  }));
  return buildAuditObject(chainRecords(bodies, fixture.previousHash), new Date(fixture.records[0]!.approximateCreationDateTime * 1000));
}

if (process.env.UPDATE_GOLDEN === '1') {
  const object = build();
  writeFileSync(here('audit-records.ndjson'), object.content);
  writeFileSync(here('audit-object.json'), `${JSON.stringify({ key: object.key, sha256: object.sha256, recordCount: object.recordCount, firstSequence: object.firstSequence, lastSequence: object.lastSequence }, null, 2)}\n`);
}

describe('golden audit record format', () => {
  const expectedLines = readFileSync(here('audit-records.ndjson'), 'utf8');
  const expectedObject = JSON.parse(readFileSync(here('audit-object.json'), 'utf8')) as Record<string, unknown>;

  it('maps the fixed event items to exactly the expected NDJSON lines, key and content hash', () => {
    const object = build();
    expect(object.content).toBe(expectedLines);
    expect({ key: object.key, sha256: object.sha256, recordCount: object.recordCount, firstSequence: object.firstSequence, lastSequence: object.lastSequence }).toEqual(expectedObject);
  });

  it('has lines whose hashes a verifier recomputes from the format alone', () => {
    let prev = GENESIS_HASH;
    const lines = expectedLines.split('\n').filter((l) => l !== '');
    expect(lines).toHaveLength(fixture.records.length);
    for (const line of lines) {
      const record = JSON.parse(line) as Record<string, unknown>;
      expect(line).toBe(canonicalJson(record));
      const { hash, ...unhashed } = record;
      expect(record.prev_hash).toBe(prev);
      expect(hash).toBe(createHash('sha256').update(canonicalJson(unhashed)).digest('hex'));
      prev = hash as string;
    }
    expect(createHash('sha256').update(expectedLines).digest('hex')).toBe(expectedObject.sha256);
  });

  it('covers every event type, keeps the unknown one, and holds no task token', () => {
    const types = expectedLines.split('\n').filter((l) => l !== '').map((l) => (JSON.parse(l) as { event_type: string }).event_type);
    expect(new Set(types)).toEqual(new Set(['requested', 'decided', 'conflict', 'review_requested', 'reminded', 'escalated', 'vote_refused', 'vote', 'outcome', 'executed', 'execution_violation', 'unmappable']));
    expect(expectedLines).not.toContain('SECRET-TOKEN-MUST-NOT-APPEAR');
    expect(expectedLines).not.toMatch(/"taskToken"/);
  });
});
