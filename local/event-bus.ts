import { randomUUID } from 'node:crypto';
import { appendFile, mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { rawJsonText } from '../shared/domain/canonical-json.js';
import { AwsServiceError, type AwsOperations } from './aws-json-server.js';
import { matchesEventPattern, validateEventPattern, type EventPattern } from './event-pattern.js';
import { silentLogger, type Logger } from './log.js';
import { BusJournal } from './bus-journal.js';

/**
 * An emulated EventBridge custom bus: `AWSEvents.PutEvents` with EventBridge's validation, rules
 * matched with event patterns, and asynchronous delivery to targets with a retry policy and a
 * dead-letter file, like the CDK rule's target retry policy and DLQ.
 *
 * What it checks, as EventBridge does (see the notes in `putEvents`):
 * - 1 to 10 entries, else the whole call fails with `ValidationException`;
 * - the request's total entry size, computed as AWS documents it, within the limit, else
 *   `ValidationException: Total size of the entries in the request is over the limit.`;
 * - per entry, with HTTP 200 and `FailedEntryCount`: `InvalidArgument` for a missing Source,
 *   DetailType or Detail, `MalformedDetail` when Detail is not a JSON object,
 *   `NotAuthorizedForSourceException` for the reserved `aws.` sources, and (a local strictness,
 *   see `busMismatch`) `ResourceNotFoundException` for a bus other than this one or the default.
 */

/** EventBridge's event envelope, as targets receive it. */
export interface BusEvent {
  version: '0';
  id: string;
  'detail-type': string;
  source: string;
  account: string;
  time: string;
  region: string;
  resources: string[];
  detail: Record<string, unknown>;
}

/** A rule target: resolves when delivered, throws when the delivery failed (and may be retried). */
export type EventTarget = (event: BusEvent) => Promise<unknown>;

export interface RetryPolicy {
  /** Deliveries tried in all, the first included. */
  maximumAttempts: number;
  /** Delay before the first retry; doubled for each further retry. */
  baseDelayMs: number;
  maxDelayMs?: number;
}

export interface BusRule {
  name: string;
  pattern: EventPattern;
  /** Names the target in logs and in dead-letter records (`TARGET_ARN`). */
  targetArn: string;
  target: EventTarget;
  retry?: RetryPolicy;
}

export type BusActivity =
  | { kind: 'accepted'; event: BusEvent }
  /** An event accepted before the last stop or crash whose delivery was not over: delivered again. */
  | { kind: 'recovered'; event: BusEvent; rules: string[] }
  | { kind: 'delivered'; event: BusEvent; rule: string; attempt: number }
  | { kind: 'delivery-failed'; event: BusEvent; rule: string; attempt: number; error: unknown; retryInMs: number | null }
  | { kind: 'dead-lettered'; event: BusEvent; rule: string; attempts: number; error: unknown; file: string };

export type DeliveryStatus = 'pending' | 'delivered' | 'dead-lettered' | 'abandoned';

export interface RecordedEvent {
  event: BusEvent;
  deliveries: { rule: string; status: DeliveryStatus; attempts: number }[];
}

export interface DeadLetterRecord {
  event: BusEvent;
  /** The message attributes EventBridge sets on a dead-lettered event. */
  attributes: {
    RULE_ARN: string;
    TARGET_ARN: string;
    ERROR_CODE: string;
    ERROR_MESSAGE: string;
    EXHAUSTED_RETRY_CONDITION: 'MaximumRetryAttempts';
    RETRY_ATTEMPTS: number;
  };
  deadLetteredAt: string;
}

export interface PutEventsResultEntry {
  EventId?: string;
  ErrorCode?: string;
  ErrorMessage?: string;
}

export interface PutEventsOutput {
  FailedEntryCount: number;
  Entries: PutEventsResultEntry[];
}

export const LOCAL_ACCOUNT_ID = '000000000000';
export const MAX_ENTRIES_PER_CALL = 10;
/**
 * EventBridge raised the PutEvents limit from 256 KB to 1 MB on 2026-01-29 (AWS Compute Blog,
 * "serverless services now support payloads up to 1 MB"); measured: a request whose entries total
 * exactly 1,048,576 bytes is accepted, one byte more is refused. The limit is on the request.
 */
export const DEFAULT_MAX_REQUEST_BYTES = 1024 * 1024;
export const DEFAULT_RETRY_POLICY: RetryPolicy = { maximumAttempts: 3, baseDelayMs: 250, maxDelayMs: 5000 };

export interface LocalEventBusOptions {
  name: string;
  region: string;
  accountId?: string;
  /** Dead-lettered events are appended here as JSON lines. */
  deadLetterFile: string;
  /**
   * Accepted events that a rule delivers are journaled here (fsynced before PutEvents answers) and delivered again at
   * the next `recover()` if their delivery was not over; see bus-journal.ts. Without it, accepted
   * events live in memory only.
   */
  journalFile?: string;
  retry?: RetryPolicy;
  /** How many recent events `recent()` keeps. @default 200 */
  historySize?: number;
  maxRequestBytes?: number;
  log?: Logger;
  now?: () => Date;
}

type Entry = Record<string, unknown>;

function utf8Length(value: unknown): number {
  return typeof value === 'string' ? Buffer.byteLength(value, 'utf8') : 0;
}

/**
 * The entry size as the EventBridge user guide defines it ("Calculating PutEvents event entry
 * size"): 14 bytes for Time when given, plus the UTF-8 bytes of Source, DetailType, Detail and
 * each of Resources.
 */
export function putEventsEntrySize(entry: Entry): number {
  let size = entry.Time !== undefined && entry.Time !== null ? 14 : 0;
  size += utf8Length(entry.Source) + utf8Length(entry.DetailType) + utf8Length(entry.Detail);
  if (Array.isArray(entry.Resources)) for (const resource of entry.Resources) size += utf8Length(resource);
  return size;
}

function truncate(text: string, max = 120): string {
  return text.length <= max ? text : `${text.slice(0, max)}...`;
}

/** AWS's wording for a constraint violation found while deserializing the request. */
function constraintError(value: unknown, at: string, constraint: string): AwsServiceError {
  const shown = typeof value === 'string' ? value : JSON.stringify(value) ?? 'null';
  return new AwsServiceError('ValidationException', `1 validation error detected: Value '${truncate(shown)}' at '${at}' failed to satisfy constraint: ${constraint}`);
}

function eventTime(time: unknown, now: Date): string {
  let date = now;
  if (typeof time === 'number') date = new Date(time * 1000);
  else if (typeof time === 'string') date = new Date(time);
  if (Number.isNaN(date.getTime())) throw new AwsServiceError('SerializationException', `Time ${String(time)} is not a timestamp`);
  // EventBridge's envelope time has whole seconds: 2026-11-22T10:00:00Z.
  return `${date.toISOString().slice(0, 19)}Z`;
}

function errorParts(error: unknown): { code: string; message: string } {
  if (error instanceof Error) return { code: error.name, message: error.message };
  return { code: 'Error', message: String(error) };
}

export class LocalEventBus {
  readonly name: string;
  readonly arn: string;
  readonly region: string;
  readonly accountId: string;
  private readonly rules: BusRule[] = [];
  private readonly history: RecordedEvent[] = [];
  private readonly listeners = new Set<(activity: BusActivity) => void>();
  private warnedDefaultBus = false;
  private readonly inFlight = new Set<Promise<void>>();
  /** Deliveries waiting for their (next) attempt. */
  private readonly timers = new Map<NodeJS.Timeout, RecordedEvent['deliveries'][number]>();
  private readonly idleWaiters: (() => void)[] = [];
  /** Each accepted event's Detail as sent: every delivery parses its own copy from it, as Lambda does. */
  private readonly detailTexts = new WeakMap<BusEvent, string>();
  private closed = false;
  /** Set by `refuseNewRequests()`: entries that would start a delivery are refused (the stack is stopping). */
  private refusing = false;
  private readonly journal: BusJournal | undefined;
  private recovering: Promise<unknown> | undefined;
  /** Deliveries not over, per event id: when none is left at a clean stop, the journal is emptied. */
  private readonly unfinished = new Map<string, number>();

  constructor(private readonly options: LocalEventBusOptions) {
    this.name = options.name;
    this.region = options.region;
    this.accountId = options.accountId ?? LOCAL_ACCOUNT_ID;
    this.arn = `arn:aws:events:${this.region}:${this.accountId}:event-bus/${this.name}`;
    this.journal = options.journalFile === undefined ? undefined : new BusJournal(options.journalFile);
  }

  /**
   * Opens the journal and delivers again, to the rules added so far, what the last run accepted
   * and did not finish delivering (EventBridge would have retried it). Call once, after `addRule`,
   * before the first PutEvents. Returns how many events are delivered again.
   */
  async recover(): Promise<number> {
    const journal = this.journal;
    if (journal === undefined) return 0;
    const unfinished = (done: Set<string>, event: BusEvent) => this.rules.filter((rule) => !done.has(rule.name) && matchesEventPattern(rule.pattern, event));
    const opening = journal.open(({ event, done }) => unfinished(done, event).length > 0);
    this.recovering = opening;
    const { pending, unreadable } = await opening;
    if (unreadable > 0) this.log.warn(`${unreadable} unreadable line(s) in the bus journal ${journal.file} were skipped (a write cut short by a crash is never acknowledged)`);
    for (const { event, detailText, done } of pending) {
      this.detailTexts.set(event, detailText);
      const rules = unfinished(done, event);
      this.emit({ kind: 'recovered', event, rules: rules.map((rule) => rule.name) });
      this.deliver(event, rules);
    }
    return pending.length;
  }

  /**
   * The stack is stopping: a PutEvents call with an entry that a rule would deliver (a new request)
   * is refused as a whole with 503, which the AWS SDK retries; entries no rule matches (the
   * functions' own "Action Decided" events, published by workflow steps that are settling) are
   * still accepted.
   */
  refuseNewRequests(): void {
    this.refusing = true;
  }

  private get log(): Logger {
    return this.options.log ?? silentLogger;
  }

  ruleArn(rule: BusRule): string {
    return `arn:aws:events:${this.region}:${this.accountId}:rule/${this.name}/${rule.name}`;
  }

  addRule(rule: BusRule): void {
    validateEventPattern(rule.pattern);
    if (this.rules.some((existing) => existing.name === rule.name)) throw new Error(`rule ${rule.name} already exists on bus ${this.name}`);
    this.rules.push(rule);
  }

  /** Told of every accepted event and every delivery outcome; returns an unsubscribe function. */
  subscribe(listener: (activity: BusActivity) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** The most recent events, oldest first, with their delivery state. */
  recent(): readonly RecordedEvent[] {
    return this.history;
  }

  get operations(): AwsOperations {
    return { 'AWSEvents.PutEvents': (input) => this.putEvents(input) };
  }

  private emit(activity: BusActivity): void {
    for (const listener of this.listeners) {
      try {
        listener(activity);
      } catch (error) {
        this.log.error(`an event-bus listener failed: ${(error as Error).message}`);
      }
    }
  }

  /**
   * The local endpoint has one bus, Countersign's. An entry without EventBusName (or for
   * `default`) is taken as meant for it, with a warning, so that a first try with a bare SDK call
   * works; on AWS such an event would land on the default bus and never reach Countersign.
   * Any other bus name is refused per entry (EventBridge itself would accept and drop it,
   * aws/aws-cli#9186): locally the mistake is made loud.
   */
  private busMismatch(busName: unknown): PutEventsResultEntry | undefined {
    if (busName === this.name || busName === this.arn) return undefined;
    if (busName === undefined || busName === null || busName === '' || busName === 'default') {
      if (!this.warnedDefaultBus) {
        this.warnedDefaultBus = true;
        this.log.warn(`an event was sent without EventBusName (the default bus); the local stack takes it, but on AWS set EventBusName to the Countersign bus (locally "${this.name}")`);
      }
      return undefined;
    }
    return {
      ErrorCode: 'ResourceNotFoundException',
      ErrorMessage: `Event bus ${String(busName)} does not exist. The local stack has one bus: set EventBusName to "${this.name}" (or ${this.arn}).`,
    };
  }

  private validateEntry(entry: Entry): PutEventsResultEntry | undefined {
    for (const field of ['Source', 'DetailType', 'Detail'] as const) {
      if (entry[field] === undefined || entry[field] === null || entry[field] === '') {
        return { ErrorCode: 'InvalidArgument', ErrorMessage: `Parameter ${field} is not valid. Reason: ${field} is a required argument.` };
      }
    }
    const mismatch = this.busMismatch(entry.EventBusName);
    if (mismatch) return mismatch;
    if ((entry.Source as string).startsWith('aws.')) {
      return { ErrorCode: 'NotAuthorizedForSourceException', ErrorMessage: 'Not authorized for the source.' };
    }
    let detail: unknown;
    try {
      detail = JSON.parse(entry.Detail as string);
    } catch {
      detail = undefined;
    }
    if (typeof detail !== 'object' || detail === null || Array.isArray(detail)) {
      return { ErrorCode: 'MalformedDetail', ErrorMessage: 'Detail is malformed.' };
    }
    return undefined;
  }

  /** Request-level checks: a failure here fails the whole call, as in EventBridge. */
  private validateRequest(input: Record<string, unknown>): Entry[] {
    const entries = input.Entries;
    if (entries === undefined || entries === null) {
      throw constraintError(null, 'entries', 'Member must not be null');
    }
    if (!Array.isArray(entries)) throw new AwsServiceError('SerializationException', 'Entries must be a list');
    if (entries.length < 1) throw constraintError('[]', 'entries', 'Member must have length greater than or equal to 1');
    if (entries.length > MAX_ENTRIES_PER_CALL) {
      throw constraintError(`[${entries.length} entries]`, 'entries', `Member must have length less than or equal to ${MAX_ENTRIES_PER_CALL}`);
    }
    entries.forEach((entry: unknown, index) => {
      if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
        throw new AwsServiceError('SerializationException', `Entries[${index}] must be an object`);
      }
      const at = `entries.${index + 1}.member`;
      const fields = entry as Entry;
      for (const field of ['Source', 'DetailType', 'Detail', 'EventBusName', 'TraceHeader'] as const) {
        if (fields[field] !== undefined && fields[field] !== null && typeof fields[field] !== 'string') {
          throw new AwsServiceError('SerializationException', `Entries[${index}].${field} must be a string`);
        }
      }
      if (utf8Length(fields.Source) > 256) throw constraintError(fields.Source, `${at}.source`, 'Member must have length less than or equal to 256');
      if (utf8Length(fields.DetailType) > 128) throw constraintError(fields.DetailType, `${at}.detailType`, 'Member must have length less than or equal to 128');
      if (fields.Resources !== undefined && fields.Resources !== null) {
        if (!Array.isArray(fields.Resources) || fields.Resources.some((r) => typeof r !== 'string')) {
          throw new AwsServiceError('SerializationException', `Entries[${index}].Resources must be a list of strings`);
        }
        if (fields.Resources.length > 100) throw constraintError(`[${fields.Resources.length} resources]`, `${at}.resources`, 'Member must have length less than or equal to 100');
      }
    });
    const total = entries.reduce((sum: number, entry: Entry) => sum + putEventsEntrySize(entry), 0);
    if (total > (this.options.maxRequestBytes ?? DEFAULT_MAX_REQUEST_BYTES)) {
      throw new AwsServiceError('ValidationException', 'Total size of the entries in the request is over the limit.');
    }
    return entries as Entry[];
  }

  async putEvents(input: Record<string, unknown>): Promise<PutEventsOutput> {
    const entries = this.validateRequest(input);
    const now = (this.options.now ?? (() => new Date()))();
    const results: PutEventsResultEntry[] = [];
    const accepted: BusEvent[] = [];
    for (const entry of entries) {
      const failure = this.validateEntry(entry);
      if (failure) {
        results.push(failure);
        continue;
      }
      const event: BusEvent = {
        version: '0',
        id: randomUUID(),
        'detail-type': entry.DetailType as string,
        source: entry.Source as string,
        account: this.accountId,
        time: eventTime(entry.Time, now),
        region: this.region,
        resources: Array.isArray(entry.Resources) ? [...(entry.Resources as string[])] : [],
        detail: JSON.parse(entry.Detail as string) as Record<string, unknown>,
      };
      this.detailTexts.set(event, entry.Detail as string);
      accepted.push(event);
      results.push({ EventId: event.id });
    }
    // Only what a rule delivers needs the journal: an event no rule matches has nothing to deliver again
    // (the functions' own "Action Decided" events, which settling workflow steps publish during a stop).
    const routed = accepted.filter((event) => this.rules.some((rule) => matchesEventPattern(rule.pattern, event)));
    if (this.refusing && routed.length > 0) {
      throw new AwsServiceError('ServiceUnavailableException', 'The local stack is stopping and accepts no new requests; send it again once GET /health answers 200.', 503);
    }
    if (this.journal !== undefined && routed.length > 0) {
      await this.recovering;
      try {
        await this.journal.append(routed.map((event) => ({ event, detailText: this.detailTexts.get(event) ?? rawJsonText(event.detail) })));
      } catch (error) {
        // Not on disk, so not accepted: the SDK retries a 500.
        this.log.error(`could not journal ${routed.length} event(s) in ${this.journal.file}: ${errorParts(error).message}`);
        throw new AwsServiceError('InternalException', 'The local bus could not journal the events; nothing was accepted.', 500);
      }
    }
    // Delivery starts after the call has answered, as in EventBridge: PutEvents never waits for targets.
    for (const event of accepted) this.dispatch(event);
    return { FailedEntryCount: results.filter((result) => result.ErrorCode !== undefined).length, Entries: results };
  }

  private dispatch(event: BusEvent): void {
    const recorded = this.remember(event);
    this.emit({ kind: 'accepted', event });
    if (this.closed) return;
    this.deliver(event, this.rules.filter((rule) => matchesEventPattern(rule.pattern, event)), recorded);
  }

  private deliver(event: BusEvent, rules: readonly BusRule[], recorded?: RecordedEvent): void {
    recorded ??= this.remember(event);
    if (rules.length > 0) this.unfinished.set(event.id, (this.unfinished.get(event.id) ?? 0) + rules.length);
    for (const rule of rules) {
      const delivery = { rule: rule.name, status: 'pending' as DeliveryStatus, attempts: 0 };
      recorded.deliveries.push(delivery);
      this.schedule(rule, event, delivery, 0);
    }
  }

  private remember(event: BusEvent): RecordedEvent {
    const recorded: RecordedEvent = { event, deliveries: [] };
    this.history.push(recorded);
    const limit = this.options.historySize ?? 200;
    if (this.history.length > limit) this.history.splice(0, this.history.length - limit);
    return recorded;
  }

  /** The delivery is over (delivered or dead-lettered): the journal need not deliver it again. */
  private finished(event: BusEvent, rule: BusRule): void {
    const left = (this.unfinished.get(event.id) ?? 1) - 1;
    if (left > 0) this.unfinished.set(event.id, left);
    else this.unfinished.delete(event.id);
    this.journal?.markDone(event.id, rule.name).catch((error: unknown) => {
      this.log.warn(`could not mark event ${event.id} delivered in the bus journal: ${errorParts(error).message}; it is delivered again at the next start (the evaluator ignores a duplicate)`);
    });
  }

  private schedule(rule: BusRule, event: BusEvent, delivery: RecordedEvent['deliveries'][number], delayMs: number): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      const promise = this.attempt(rule, event, delivery).finally(() => {
        this.inFlight.delete(promise);
        this.settleIfIdle();
      });
      this.inFlight.add(promise);
    }, delayMs);
    this.timers.set(timer, delivery);
  }

  private settleIfIdle(): void {
    if (this.inFlight.size > 0 || this.timers.size > 0) return;
    for (const resolve of this.idleWaiters.splice(0)) resolve();
  }

  private async attempt(rule: BusRule, event: BusEvent, delivery: RecordedEvent['deliveries'][number]): Promise<void> {
    const policy = rule.retry ?? this.options.retry ?? DEFAULT_RETRY_POLICY;
    delivery.attempts += 1;
    const attempt = delivery.attempts;
    try {
      await rule.target(this.deliveryCopy(event));
      delivery.status = 'delivered';
      this.finished(event, rule);
      this.emit({ kind: 'delivered', event, rule: rule.name, attempt });
    } catch (error) {
      if (attempt < policy.maximumAttempts) {
        if (this.closed) {
          // A retry the stopped bus will not make; not a dead letter, since nothing gave up on it
          // (the journal delivers it again at the next start).
          delivery.status = 'abandoned';
          this.emit({ kind: 'delivery-failed', event, rule: rule.name, attempt, error, retryInMs: null });
          return;
        }
        const retryInMs = Math.min(policy.baseDelayMs * 2 ** (attempt - 1), policy.maxDelayMs ?? Number.POSITIVE_INFINITY);
        this.emit({ kind: 'delivery-failed', event, rule: rule.name, attempt, error, retryInMs });
        this.schedule(rule, event, delivery, retryInMs);
        return;
      }
      this.emit({ kind: 'delivery-failed', event, rule: rule.name, attempt, error, retryInMs: null });
      try {
        await this.deadLetter(rule, event, attempt, error);
      } catch (writeError) {
        // Nothing may escape a delivery (it would end the process); the event stays in `recent()`.
        delivery.status = 'abandoned';
        this.log.error(`could not write event ${event.id} to the dead-letter file ${this.options.deadLetterFile}: ${errorParts(writeError).message}`);
        return;
      }
      delivery.status = 'dead-lettered';
      this.finished(event, rule);
      this.emit({ kind: 'dead-lettered', event, rule: rule.name, attempts: attempt, error, file: this.options.deadLetterFile });
    }
  }

  /**
   * Each attempt gets its own copy, as a Lambda invocation gets its own deserialized event: parsed
   * from the Detail text, since `JSON.parse` handles any nesting where `structuredClone` overflows.
   */
  private deliveryCopy(event: BusEvent): BusEvent {
    const text = this.detailTexts.get(event) ?? rawJsonText(event.detail);
    return { ...event, resources: [...event.resources], detail: JSON.parse(text) as Record<string, unknown> };
  }

  private async deadLetter(rule: BusRule, event: BusEvent, attempts: number, error: unknown): Promise<void> {
    const { code, message } = errorParts(error);
    const record: DeadLetterRecord = {
      event,
      attributes: {
        RULE_ARN: this.ruleArn(rule),
        TARGET_ARN: rule.targetArn,
        ERROR_CODE: code,
        ERROR_MESSAGE: message,
        EXHAUSTED_RETRY_CONDITION: 'MaximumRetryAttempts',
        RETRY_ATTEMPTS: attempts - 1,
      },
      deadLetteredAt: new Date().toISOString(),
    };
    await mkdir(dirname(this.options.deadLetterFile), { recursive: true });
    // One line per record at any nesting: the detail is written by the iterative serializer, not JSON.stringify.
    const { detail, ...envelope } = record.event;
    const eventText = `${JSON.stringify(envelope).slice(0, -1)},"detail":${rawJsonText(detail)}}`;
    const line = `{"event":${eventText},"attributes":${JSON.stringify(record.attributes)},"deadLetteredAt":${JSON.stringify(record.deadLetteredAt)}}`;
    await appendFile(this.options.deadLetterFile, `${line}\n`, 'utf8');
  }

  /** Resolves once no delivery is running or waiting for a retry. */
  idle(): Promise<void> {
    if (this.inFlight.size === 0 && this.timers.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /**
   * Stops delivering, as a machine that shuts down cleanly: new requests are refused, deliveries
   * running or waiting for a retry may finish for up to `graceMs`; what is still waiting then is
   * abandoned (and counted) and, with a journal, delivered again at the next start.
   */
  async close(graceMs = 5000): Promise<{ abandoned: number }> {
    this.refusing = true;
    let timeout: NodeJS.Timeout | undefined;
    await Promise.race([this.idle(), new Promise<void>((resolve) => { timeout = setTimeout(resolve, graceMs); })]);
    clearTimeout(timeout);
    this.closed = true;
    let abandoned = 0;
    for (const [timer, delivery] of this.timers) {
      clearTimeout(timer);
      delivery.status = 'abandoned';
      abandoned += 1;
    }
    this.timers.clear();
    this.settleIfIdle();
    // Every delivery over: nothing to deliver again, so the next start reads an empty journal.
    await this.journal?.close({ empty: this.unfinished.size === 0 });
    return { abandoned };
  }
}
