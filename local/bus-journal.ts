import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { BusEvent } from './event-bus.js';

/**
 * The local bus's write-ahead journal: EventBridge keeps an event it has acknowledged and retries
 * its delivery for up to 24 hours, so an accepted event must survive the local stack's crash.
 *
 * Only events that a rule delivers are journaled (one that no rule matches has nothing to deliver).
 * One JSON object per line:
 * - `{"event":{envelope without detail},"detail":"<Detail exactly as sent, as a JSON string>"}`,
 *   appended and fsynced before PutEvents answers (a batch's accepted entries in one write);
 * - `{"done":"<event id>","rule":"<rule name>"}` once a delivery is over (delivered or
 *   dead-lettered), not fsynced: a marker lost in a crash only makes one more delivery, which the
 *   evaluator's idempotency (a conditional write on the actionId) absorbs, as with EventBridge's
 *   at-least-once delivery.
 * At start, `open()` returns the events with deliveries not done and rewrites the file with only them.
 */

export interface JournaledEvent {
  event: BusEvent;
  /** The Detail as the agent sent it: every delivery parses its own copy from it. */
  detailText: string;
  /** Rules whose delivery of this event is over. */
  done: Set<string>;
}

interface EventLine {
  event: Omit<BusEvent, 'detail'>;
  detail: string;
}

interface DoneLine {
  done: string;
  rule: string;
}

function eventLine(event: BusEvent, detailText: string): string {
  const { detail: _detail, ...envelope } = event;
  return `${JSON.stringify({ event: envelope, detail: detailText } satisfies EventLine)}\n`;
}

/** The journal's lines; a torn last line (a write the crash cut short, never acknowledged) is skipped. */
function readJournal(file: string): { events: JournaledEvent[]; unreadable: number } {
  if (!existsSync(file)) return { events: [], unreadable: 0 };
  const byId = new Map<string, JournaledEvent>();
  let unreadable = 0;
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (line === '') continue;
    let parsed: Partial<EventLine & DoneLine>;
    try {
      parsed = JSON.parse(line) as Partial<EventLine & DoneLine>;
    } catch {
      unreadable += 1;
      continue;
    }
    if (typeof parsed.done === 'string' && typeof parsed.rule === 'string') {
      byId.get(parsed.done)?.done.add(parsed.rule);
    } else if (parsed.event !== undefined && typeof parsed.detail === 'string') {
      const detail = JSON.parse(parsed.detail) as Record<string, unknown>;
      byId.set(parsed.event.id, { event: { ...parsed.event, detail }, detailText: parsed.detail, done: new Set() });
    } else {
      unreadable += 1;
    }
  }
  return { events: [...byId.values()], unreadable };
}

export class BusJournal {
  private handle: FileHandle | undefined;
  /** Done markers being written; `close()` waits for them. */
  private readonly writes = new Set<Promise<unknown>>();

  constructor(readonly file: string) {}

  /**
   * Reads what the last run left, keeps the events `stillPending` says are not fully delivered
   * (rewriting the file with only those, atomically), and opens the journal for appending.
   */
  async open(stillPending: (journaled: JournaledEvent) => boolean): Promise<{ pending: JournaledEvent[]; unreadable: number }> {
    mkdirSync(dirname(this.file), { recursive: true });
    const { events, unreadable } = readJournal(this.file);
    const pending = events.filter(stillPending);
    const compacted = `${this.file}.compacting`;
    const fd = openSync(compacted, 'w');
    try {
      const text = pending.map((journaled) => eventLine(journaled.event, journaled.detailText)).join('');
      if (text !== '') writeSync(fd, text);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(compacted, this.file);
    const dir = openSync(dirname(this.file), 'r');
    try {
      fsyncSync(dir);
    } finally {
      closeSync(dir);
    }
    this.handle = await open(this.file, 'a');
    return { pending, unreadable };
  }

  /** Appends the accepted events in one write and waits until they are on disk. */
  async append(events: readonly { event: BusEvent; detailText: string }[]): Promise<void> {
    const handle = this.opened();
    await handle.write(events.map(({ event, detailText }) => eventLine(event, detailText)).join(''));
    await handle.sync();
  }

  /** Records that a rule's delivery of an event is over; not waited for (see the class comment). */
  markDone(eventId: string, rule: string): Promise<void> {
    const handle = this.handle;
    if (handle === undefined) return Promise.resolve();
    const write = handle.write(`${JSON.stringify({ done: eventId, rule } satisfies DoneLine)}\n`).then(() => undefined);
    this.writes.add(write);
    void write.then(() => this.writes.delete(write), () => this.writes.delete(write));
    return write;
  }

  /** Closes the journal; `empty` (every delivery over) leaves it empty for the next start. */
  async close(options: { empty?: boolean } = {}): Promise<void> {
    await Promise.allSettled([...this.writes]);
    const handle = this.handle;
    this.handle = undefined;
    if (handle === undefined) return;
    try {
      if (options.empty === true) {
        await handle.truncate(0);
        await handle.sync();
      }
    } finally {
      await handle.close();
    }
  }

  private opened(): FileHandle {
    if (this.handle === undefined) throw new Error(`the bus journal ${this.file} is not open (call recover() after the rules are added)`);
    return this.handle;
  }
}
