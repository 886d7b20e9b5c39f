import { appendFileSync, mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventBridgeClient, PutEventsCommand, type PutEventsRequestEntry } from '@aws-sdk/client-eventbridge';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ACTION_REQUESTED_PATTERN } from '../../shared/store-schema.js';
import { handleAwsJsonRequest, startHttpServer, type LocalHttpServer } from '../../local/aws-json-server.js';
import { LocalEventBus, putEventsEntrySize, type BusActivity, type BusEvent, type DeadLetterRecord } from '../../local/event-bus.js';
import { memoryLogger } from '../../local/log.js';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

const BUS = 'countersign';
const MIB = 1024 * 1024;

let dir: string;
let server: LocalHttpServer;
let bus: LocalEventBus;
let events: EventBridgeClient;
let delivered: BusEvent[];
/** What the stub target does with each delivery; replaced per test. */
let targetBehaviour: (event: BusEvent, attempt: number) => Promise<void>;
const attempts = new Map<string, number>();

const credentials = { accessKeyId: 'x', secretAccessKey: 'x' };

function entry(overrides: Partial<PutEventsRequestEntry> = {}): PutEventsRequestEntry {
  return {
    EventBusName: BUS,
    Source: 'agent.billing-agent',
    DetailType: 'Action Requested',
    Detail: JSON.stringify({ actionId: 'a-1', action: 'db.query' }),
    ...overrides,
  };
}

/** A detail whose entry (Source + DetailType + Detail, as AWS counts it) is exactly `bytes` long. */
function detailForEntrySize(bytes: number, base: PutEventsRequestEntry = entry()): string {
  const overhead = putEventsEntrySize({ ...base, Detail: JSON.stringify({ pad: '' }) });
  return JSON.stringify({ pad: 'x'.repeat(bytes - overhead) });
}

function deadLetters(): DeadLetterRecord[] {
  const file = join(dir, 'dlq.jsonl');
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8').trim().split('\n').map((line) => JSON.parse(line) as DeadLetterRecord);
}

beforeAll(async () => {
  server = await startHttpServer({
    port: 0,
    handler: (request) => handleAwsJsonRequest(request, bus.operations),
  });
  events = new EventBridgeClient({ endpoint: server.url, region: 'us-east-1', credentials });
});

afterAll(async () => {
  events.destroy();
  await server.close();
});

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'countersign-bus-'));
  delivered = [];
  attempts.clear();
  targetBehaviour = async () => undefined;
  bus = new LocalEventBus({
    name: BUS,
    region: 'us-east-1',
    deadLetterFile: join(dir, 'dlq.jsonl'),
    retry: { maximumAttempts: 3, baseDelayMs: 5 },
    log: memoryLogger(),
  });
  bus.addRule({
    name: 'action-requested',
    pattern: ACTION_REQUESTED_PATTERN,
    targetArn: 'arn:aws:lambda:us-east-1:000000000000:function:stub',
    target: async (event) => {
      const attempt = (attempts.get(event.id) ?? 0) + 1;
      attempts.set(event.id, attempt);
      await targetBehaviour(event, attempt);
      delivered.push(event);
    },
  });
});

afterEach(async () => {
  await bus.close(1000);
  rmSync(dir, { recursive: true, force: true });
});

describe('PutEvents request validation', () => {
  it('refuses 11 entries as a whole with ValidationException, and delivers none of them', async () => {
    const call = events.send(new PutEventsCommand({ Entries: Array.from({ length: 11 }, () => entry()) }));
    await expect(call).rejects.toMatchObject({
      name: 'ValidationException',
      message: expect.stringContaining('Member must have length less than or equal to 10'),
      $metadata: { httpStatusCode: 400 },
    });
    await bus.idle();
    expect(delivered).toHaveLength(0);
    expect(bus.recent()).toHaveLength(0);
  });

  it('refuses an empty list of entries', async () => {
    await expect(events.send(new PutEventsCommand({ Entries: [] }))).rejects.toMatchObject({
      name: 'ValidationException',
      message: expect.stringContaining('Member must have length greater than or equal to 1'),
    });
  });

  it('accepts 10 entries', async () => {
    const response = await events.send(new PutEventsCommand({ Entries: Array.from({ length: 10 }, () => entry()) }));
    expect(response.FailedEntryCount).toBe(0);
    expect(new Set(response.Entries?.map((e) => e.EventId)).size).toBe(10);
  });

  it('limits the request to 1 MiB of entries counted as AWS documents it, Time counting 14 bytes', async () => {
    // Two entries that together are exactly at the limit pass; one byte more fails the whole call.
    const half = entry({ Detail: detailForEntrySize(MIB / 2) });
    expect(putEventsEntrySize(half as Record<string, unknown>)).toBe(MIB / 2);
    const atLimit = await events.send(new PutEventsCommand({ Entries: [half, half] }));
    expect(atLimit.FailedEntryCount).toBe(0);

    const overByOne = entry({ Detail: detailForEntrySize(MIB / 2 + 1) });
    await expect(events.send(new PutEventsCommand({ Entries: [half, overByOne] }))).rejects.toMatchObject({
      name: 'ValidationException',
      message: 'Total size of the entries in the request is over the limit.',
    });
    const whole = entry({ Detail: detailForEntrySize(MIB) });
    await expect(events.send(new PutEventsCommand({ Entries: [{ ...whole, Time: new Date() }] }))).rejects.toMatchObject({
      name: 'ValidationException',
    });
    await bus.idle();
    expect(delivered).toHaveLength(2);
  });

  it('accepts a 300 KB entry, above the old 256 KB EventBridge limit', async () => {
    const response = await events.send(new PutEventsCommand({ Entries: [entry({ Detail: detailForEntrySize(300 * 1024) })] }));
    expect(response.FailedEntryCount).toBe(0);
  });
});

describe('PutEvents per-entry errors', () => {
  it('reports a malformed Detail on its own entry while the good entries of the call succeed', async () => {
    const response = await events.send(new PutEventsCommand({
      Entries: [entry(), entry({ Detail: '{"actionId": "a-2",' }), entry()],
    }));
    expect(response.FailedEntryCount).toBe(1);
    expect(response.Entries).toHaveLength(3);
    expect(response.Entries?.[1]).toEqual({ ErrorCode: 'MalformedDetail', ErrorMessage: 'Detail is malformed.' });
    expect(response.Entries?.[0]?.EventId).toMatch(/^[0-9a-f-]{36}$/);
    expect(response.Entries?.[2]?.EventId).toMatch(/^[0-9a-f-]{36}$/);
    await bus.idle();
    expect(delivered.map((event) => event.id).sort()).toEqual([response.Entries?.[0]?.EventId, response.Entries?.[2]?.EventId].sort());
  });

  it('treats a Detail that is JSON but not an object as malformed', async () => {
    const response = await events.send(new PutEventsCommand({ Entries: [entry({ Detail: '[1,2]' }), entry({ Detail: '"text"' })] }));
    expect(response.FailedEntryCount).toBe(2);
    expect(response.Entries?.map((e) => e.ErrorCode)).toEqual(['MalformedDetail', 'MalformedDetail']);
  });

  it('reports a missing Source, DetailType or Detail as InvalidArgument naming the parameter', async () => {
    const response = await events.send(new PutEventsCommand({
      Entries: [entry({ Source: undefined }), entry({ DetailType: undefined }), entry({ Detail: undefined })],
    }));
    expect(response.FailedEntryCount).toBe(3);
    expect(response.Entries).toEqual([
      { ErrorCode: 'InvalidArgument', ErrorMessage: 'Parameter Source is not valid. Reason: Source is a required argument.' },
      { ErrorCode: 'InvalidArgument', ErrorMessage: 'Parameter DetailType is not valid. Reason: DetailType is a required argument.' },
      { ErrorCode: 'InvalidArgument', ErrorMessage: 'Parameter Detail is not valid. Reason: Detail is a required argument.' },
    ]);
  });

  it('accepts the bus by name or ARN, takes the default bus as this one, and refuses any other bus', async () => {
    const response = await events.send(new PutEventsCommand({
      Entries: [
        entry({ EventBusName: bus.arn }),
        entry({ EventBusName: undefined }),
        entry({ EventBusName: 'default' }),
        entry({ EventBusName: 'countersign-typo' }),
      ],
    }));
    expect(response.FailedEntryCount).toBe(1);
    expect(response.Entries?.slice(0, 3).map((e) => e.EventId)).toEqual([expect.any(String), expect.any(String), expect.any(String)]);
    expect(response.Entries?.[3]?.ErrorCode).toBe('ResourceNotFoundException');
    expect(response.Entries?.[3]?.ErrorMessage).toContain('Event bus countersign-typo does not exist');
    expect(response.Entries?.[3]?.ErrorMessage).toContain('set EventBusName to "countersign"');
  });

  it('refuses the reserved aws. sources', async () => {
    const response = await events.send(new PutEventsCommand({ Entries: [entry({ Source: 'aws.ec2' })] }));
    expect(response.Entries?.[0]?.ErrorCode).toBe('NotAuthorizedForSourceException');
  });
});

describe('delivery', () => {
  it('delivers a matching event in EventBridge shape, with the id PutEvents returned', async () => {
    const time = new Date('2026-11-22T10:11:12.345Z');
    const response = await events.send(new PutEventsCommand({
      Entries: [entry({ Time: time, Resources: ['arn:aws:rds:us-east-1:000000000000:db:customers'] })],
    }));
    await bus.idle();
    expect(delivered).toEqual([{
      version: '0',
      id: response.Entries?.[0]?.EventId,
      'detail-type': 'Action Requested',
      source: 'agent.billing-agent',
      account: '000000000000',
      time: '2026-11-22T10:11:12Z',
      region: 'us-east-1',
      resources: ['arn:aws:rds:us-east-1:000000000000:db:customers'],
      detail: { actionId: 'a-1', action: 'db.query' },
    }]);
  });

  it('stamps events without Time with the time of the call, in whole seconds', async () => {
    await events.send(new PutEventsCommand({ Entries: [entry()] }));
    await bus.idle();
    expect(delivered[0]?.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(delivered[0]?.resources).toEqual([]);
  });

  it('does not deliver events the rule does not match, but keeps them for inspection', async () => {
    const response = await events.send(new PutEventsCommand({
      Entries: [entry({ Source: 'countersign', DetailType: 'Action Decided', Detail: '{"actionId":"a-1","outcome":"allowed"}' })],
    }));
    expect(response.FailedEntryCount).toBe(0);
    await bus.idle();
    expect(delivered).toHaveLength(0);
    expect(bus.recent().map((recorded) => [recorded.event['detail-type'], recorded.deliveries.length])).toEqual([['Action Decided', 0]]);
  });

  it('retries a failed delivery and succeeds without a dead letter', async () => {
    targetBehaviour = async (_event, attempt) => {
      if (attempt < 2) throw new Error('DynamoDB throttled');
    };
    await events.send(new PutEventsCommand({ Entries: [entry()] }));
    await bus.idle();
    expect(delivered).toHaveLength(1);
    expect([...attempts.values()]).toEqual([2]);
    expect(bus.recent()[0]?.deliveries).toEqual([{ rule: 'action-requested', status: 'delivered', attempts: 2 }]);
    expect(deadLetters()).toEqual([]);
  });

  it('after the last attempt fails, appends the event and the error to the dead-letter file', async () => {
    targetBehaviour = async () => {
      throw new TypeError('cannot reach the table');
    };
    const response = await events.send(new PutEventsCommand({ Entries: [entry()] }));
    await bus.idle();
    const eventId = response.Entries?.[0]?.EventId;
    expect(attempts.get(eventId ?? '')).toBe(3);
    expect(delivered).toHaveLength(0);
    const letters = deadLetters();
    expect(letters).toHaveLength(1);
    expect(letters[0]).toMatchObject({
      event: { id: eventId, source: 'agent.billing-agent', detail: { actionId: 'a-1' } },
      attributes: {
        RULE_ARN: 'arn:aws:events:us-east-1:000000000000:rule/countersign/action-requested',
        TARGET_ARN: 'arn:aws:lambda:us-east-1:000000000000:function:stub',
        ERROR_CODE: 'TypeError',
        ERROR_MESSAGE: 'cannot reach the table',
        EXHAUSTED_RETRY_CONDITION: 'MaximumRetryAttempts',
        RETRY_ATTEMPTS: 2,
      },
    });
    expect(bus.recent()[0]?.deliveries[0]?.status).toBe('dead-lettered');
  });
});

describe('events nested at any depth (issue 11)', () => {
  const DEPTH = 10_000;
  // Built as text: JSON.stringify of such a value overflows the stack, which is the point.
  const deepDetail = `{"actionId":"a-deep","parameters":{"deep":${'['.repeat(DEPTH)}${']'.repeat(DEPTH)}}}`;
  const depthOf = (value: unknown): number => {
    let depth = 0;
    for (let level = value; Array.isArray(level); level = level[0]) depth += 1;
    return depth;
  };

  it('delivers a 10,000-level detail to its target, as sent', async () => {
    await events.send(new PutEventsCommand({ Entries: [entry({ Detail: deepDetail })] }));
    await bus.idle();
    expect(delivered).toHaveLength(1);
    expect(depthOf((delivered[0]?.detail as { parameters: { deep: unknown } }).parameters.deep)).toBe(DEPTH);
    expect(bus.recent()[0]?.deliveries).toEqual([{ rule: 'action-requested', status: 'delivered', attempts: 1 }]);
  });

  it('dead-letters a 10,000-level event whose target keeps failing, one JSON line with the detail whole', async () => {
    targetBehaviour = async () => {
      throw new Error('still failing');
    };
    const response = await events.send(new PutEventsCommand({ Entries: [entry({ Detail: deepDetail })] }));
    await bus.idle();
    const letters = deadLetters();
    expect(letters).toHaveLength(1);
    expect(letters[0]).toMatchObject({ event: { id: response.Entries?.[0]?.EventId, detail: { actionId: 'a-deep' } }, attributes: { ERROR_MESSAGE: 'still failing' } });
    expect(depthOf((letters[0]?.event.detail as { parameters: { deep: unknown } }).parameters.deep)).toBe(DEPTH);
    expect(bus.recent()[0]?.deliveries[0]?.status).toBe('dead-lettered');
  });
});

describe('the journal: accepted events survive a crash (issue 11)', () => {
  const RULE = 'action-requested';
  const journalOf = () => join(dir, 'bus', 'journal.jsonl');
  /** A bus on this test's journal whose target records what it gets, or never answers (a crash mid-delivery). */
  function journaledBus(target: (event: BusEvent) => Promise<void>, log = memoryLogger()): LocalEventBus {
    const journaled = new LocalEventBus({ name: BUS, region: 'us-east-1', deadLetterFile: join(dir, 'dlq.jsonl'), journalFile: journalOf(), retry: { maximumAttempts: 2, baseDelayMs: 5 }, log });
    journaled.addRule({ name: RULE, pattern: ACTION_REQUESTED_PATTERN, targetArn: 'arn:aws:lambda:us-east-1:000000000000:function:stub', target });
    return journaled;
  }
  const request = (actionId: string, detail = JSON.stringify({ actionId, action: 'db.query' })) => ({
    Entries: [{ EventBusName: BUS, Source: 'agent.billing-agent', DetailType: 'Action Requested', Detail: detail }],
  });
  const never = () => new Promise<void>(() => undefined);

  it('has each accepted entry on disk, its Detail byte for byte, when PutEvents answers; a batch is one write', async () => {
    const first = journaledBus(never);
    await first.recover();
    const spaced = '{ "actionId" : "a-1",\n  "action": "db.query" }';
    const batch = await first.putEvents({ Entries: [request('a-1', spaced).Entries[0], request('a-2').Entries[0]] });
    const lines = readFileSync(journalOf(), 'utf8').trim().split('\n').map((line) => JSON.parse(line) as { event: { id: string }; detail: string });
    expect(lines.map((line) => line.event.id)).toEqual(batch.Entries.map((result) => result.EventId));
    expect(lines[0]?.detail).toBe(spaced);
    await first.close(0);
  });

  it('delivers again, after a crash, exactly the accepted events whose delivery was not over, as sent', async () => {
    const delivered: BusEvent[] = [];
    // The first run delivers a-1 and is killed while delivering a-2 and a-3.
    const first = journaledBus(async (event) => {
      if (event.detail.actionId !== 'a-1') return never();
      delivered.push(event);
    });
    await first.recover();
    const ids = [];
    for (const actionId of ['a-1', 'a-2', 'a-3']) ids.push((await first.putEvents(request(actionId))).Entries[0]?.EventId);
    await eventuallyTrue(() => delivered.length === 1);

    const activity: BusActivity[] = [];
    const redelivered: BusEvent[] = [];
    const second = journaledBus(async (event) => { redelivered.push(event); });
    second.subscribe((item) => activity.push(item));
    expect(await second.recover()).toBe(2);
    await second.idle();
    expect(redelivered.map((event) => [event.id, event.detail.actionId])).toEqual([[ids[1], 'a-2'], [ids[2], 'a-3']]);
    expect(activity.filter((item) => item.kind === 'recovered').map((item) => item.event.id)).toEqual([ids[1], ids[2]]);
    await second.close(1000);

    // Delivered now: a third start has nothing to deliver, and the journal was compacted.
    const third = journaledBus(async (event) => { redelivered.push(event); });
    expect(await third.recover()).toBe(0);
    expect(readFileSync(journalOf(), 'utf8')).toBe('');
    await third.close(0);
    await first.close(0);
  });

  it('a clean stop with every delivery over leaves the journal empty; one with a delivery still running keeps it', async () => {
    const clean = journaledBus(async () => undefined);
    await clean.recover();
    await clean.putEvents(request('a-1'));
    await clean.idle();
    await clean.close(1000);
    expect(readFileSync(journalOf(), 'utf8')).toBe('');

    const busy = journaledBus(never);
    await busy.recover();
    const id = (await busy.putEvents(request('a-2'))).Entries[0]?.EventId;
    await busy.close(0);
    expect(readFileSync(journalOf(), 'utf8')).toContain(`"id":"${id}"`);
  });

  it('skips a last line cut short by the crash (never acknowledged), saying so', async () => {
    const first = journaledBus(never);
    await first.recover();
    const id = (await first.putEvents(request('a-1'))).Entries[0]?.EventId;
    await first.close(0);
    appendFileSync(journalOf(), '{"event":{"version":"0","id":"torn');
    const log = memoryLogger();
    const redelivered: BusEvent[] = [];
    const second = journaledBus(async (event) => { redelivered.push(event); }, log);
    expect(await second.recover()).toBe(1);
    await second.idle();
    expect(redelivered.map((event) => event.id)).toEqual([id]);
    expect(log.lines.join('\n')).toContain('1 unreadable line(s) in the bus journal');
    await second.close(0);
  });

  it('while stopping and once stopped, refuses new requests with 503 (the SDK retries) but accepts events no rule delivers, unjournaled', async () => {
    const stopping = journaledBus(async () => undefined);
    await stopping.recover();
    stopping.refuseNewRequests();
    await expect(stopping.putEvents(request('a-late'))).rejects.toMatchObject({ type: 'ServiceUnavailableException', statusCode: 503 });
    const decided = { Entries: [{ EventBusName: BUS, Source: 'countersign', DetailType: 'Action Decided', Detail: '{"actionId":"a-0","outcome":"allowed"}' }] };
    expect((await stopping.putEvents(decided)).FailedEntryCount).toBe(0);
    // Even once the bus is closed: workflow steps that settle after it publish their decisions.
    await stopping.close(0);
    expect((await stopping.putEvents(decided)).FailedEntryCount).toBe(0);
    await expect(stopping.putEvents(request('a-later'))).rejects.toMatchObject({ type: 'ServiceUnavailableException', statusCode: 503 });
    expect(readFileSync(journalOf(), 'utf8')).toBe('');
  });
});

async function eventuallyTrue(probe: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('the AWS JSON endpoint', () => {
  it('answers an unknown operation with UnknownOperationException, as AWS does', async () => {
    const response = await fetch(server.url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': 'AWSEvents.ListRules' },
      body: '{}',
    });
    expect(response.status).toBe(400);
    expect(response.headers.get('x-amzn-errortype')).toBe('UnknownOperationException');
    expect(response.headers.get('content-type')).toBe('application/x-amz-json-1.1');
    expect(await response.json()).toMatchObject({ __type: 'UnknownOperationException' });
  });

  it('answers a body that is not JSON with SerializationException', async () => {
    const response = await fetch(server.url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': 'AWSEvents.PutEvents' },
      body: '{"Entries": [',
    });
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ __type: 'SerializationException' });
  });
});
