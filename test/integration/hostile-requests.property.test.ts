import { createHash, randomUUID } from 'node:crypto';
import canonicalize from 'canonicalize';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { handleAwsJsonRequest, startHttpServer, type LocalHttpServer } from '../../local/aws-json-server.js';
import { ensureDecisionTable, startDynamoDbLocal, type DynamoDbLocal } from '../../local/dynamodb-local.js';
import { LocalEventBus } from '../../local/event-bus.js';
import { lambdaContext } from '../../local/lambda-runtime.js';
import { ENV } from '../../shared/config.js';
import { toAuditRecordBody } from '../../shared/audit/record.js';
import { itemsOfRequest } from '../support/decision-items.js';

/**
 * Property-based tests of issue 11: hostile mutations of valid requests, sent through the real
 * evaluate-action handler module (envelope parsing, validation, Cedar, logging) onto DynamoDB Local,
 * with its decisions published to a local bus. Each event reaches the handler as Lambda gives it:
 * parsed from JSON text, so a "__proto__" key is an own key and any depth is possible.
 *
 * Properties: a mutated request is decided `invalid` or `denied`, never `allowed` or `pending`; it is
 * recorded exactly once (two items, one decision published; a redelivery writes nothing and publishes the same
 * decision again); the handler
 * never throws; `payloadSha256` is the hash of the payload as sent (computed here with the
 * `canonicalize` package from the sent text, not by the code under test).
 */

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

const TABLE = 'countersign-hostile-it';
const BUS = 'countersign';
const DEEP_MARKER = '\u0000deep\u0000';

let ddb: DynamoDbLocal;
let server: LocalHttpServer;
let bus: LocalEventBus;
let handler: (event: unknown, context: ReturnType<typeof lambdaContext>) => Promise<{ status: string; key: string; outcome: string; reason: string }>;

beforeAll(async () => {
  ddb = await startDynamoDbLocal();
  await ensureDecisionTable(ddb.client, TABLE);
  bus = new LocalEventBus({ name: BUS, region: 'us-east-1', deadLetterFile: '/dev/null', historySize: 100_000 });
  server = await startHttpServer({ port: 0, handler: (request) => handleAwsJsonRequest(request, bus.operations) });
  // The handler module reads its configuration and builds its SDK clients at import, as in Lambda.
  Object.assign(process.env, {
    [ENV.tableName]: TABLE,
    [ENV.eventBusName]: BUS,
    AWS_ENDPOINT_URL_DYNAMODB: ddb.endpoint,
    AWS_ENDPOINT_URL_EVENTBRIDGE: server.url,
    AWS_ACCESS_KEY_ID: 'x',
    AWS_SECRET_ACCESS_KEY: 'x',
  });
  delete process.env.AWS_SESSION_TOKEN;
  delete process.env[ENV.approvalStateMachineArn];
  ({ handler } = await import('../../functions/evaluate-action/handler.js') as unknown as { handler: typeof handler });
});

afterAll(async () => {
  await server?.close();
  await bus?.close(0);
  await ddb?.stop();
});

// ---- generators ---------------------------------------------------------------------------------

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

const text = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 24 });
/** Keys that are ordinary data, Object.prototype's names among them; "__proto__" is the refused one. */
const dataKey = fc.oneof(text, fc.constantFrom('constructor', 'prototype', 'toString', 'valueOf', 'hasOwnProperty', '__defineGetter__', '')).filter((key) => key !== '__proto__');
const jsonData: fc.Arbitrary<Json> = fc.letrec<{ node: Json }>((tie) => ({
  node: fc.oneof(
    { depthSize: 'small', maxDepth: 4 },
    fc.constant(null), fc.boolean(), fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }), text,
    fc.array(tie('node'), { maxLength: 4 }),
    fc.dictionary(dataKey, tie('node'), { maxKeys: 4, noNullPrototype: true }),
  ),
})).node;
const dataObject = fc.dictionary(dataKey, jsonData, { maxKeys: 5, noNullPrototype: true });

/** Requests the contract accepts, one per line of the shipped policy table's outcomes. */
const TARGETS = [
  { agent: 'billing-agent', action: 'db.query', resource: { type: 'Database', id: 'customers' }, environment: 'prod' },
  { agent: 'billing-agent', action: 'db.export', resource: { type: 'Database', id: 'customers' }, environment: 'prod' },
  { agent: 'ops-agent', action: 'user.password.reset', resource: { type: 'User', id: 'u-456', attributes: { admin: false } }, environment: 'prod' },
  { agent: 'ops-agent', action: 'storage.bucket.delete', resource: { type: 'Bucket', id: 'invoices' }, environment: 'prod' },
  { agent: 'ops-agent', action: 'compute.instance.create', resource: { type: 'Instance', id: 'i-1' }, environment: 'dev' },
] as const;

interface Sent {
  source: string;
  detail: Record<string, Json>;
  /** Levels of arrays put where DEEP_MARKER is, when the text is written. */
  deep?: number;
}

const validRequest: fc.Arbitrary<Sent> = fc.record({
  target: fc.constantFrom(...TARGETS),
  parameters: dataObject,
  justification: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 200 }),
  context: fc.option(dataObject, { nil: undefined }),
  onBehalfOf: fc.option(fc.emailAddress(), { nil: undefined }),
}).map(({ target, parameters, justification, context, onBehalfOf }): Sent => ({
  source: `agent.${target.agent}`,
  detail: {
    specVersion: '1',
    actionId: 'set-when-sent',
    agent: { id: target.agent, ...(onBehalfOf === undefined ? {} : { onBehalfOf }) },
    action: target.action,
    resource: structuredClone(target.resource) as Json,
    environment: target.environment,
    parameters,
    justification,
    ...(context === undefined ? {} : { context }),
  },
}));

/** The object at a dotted path of the detail, created when missing (mutations write into it). */
function objectAt(detail: Record<string, Json>, path: string): Record<string, Json> {
  let object = detail;
  for (const key of path === '' ? [] : path.split('.')) {
    const next = object[key];
    if (typeof next !== 'object' || next === null || Array.isArray(next)) object[key] = {};
    object = object[key] as Record<string, Json>;
  }
  return object;
}

/** `text` with one lone surrogate: appended after well-formed text, followed by "!", it pairs with nothing. */
const withLoneSurrogate = (original: string, unit: number) => `${original}${String.fromCharCode(unit)}!`;

type Mutation = (sent: Sent) => void;
/** A mutation that a failing run prints by what it does. */
const described = (description: string, apply: Mutation): Mutation => Object.assign(apply, { [fc.toStringMethod]: () => description });
const CONTAINERS = ['parameters', 'context', 'resource.attributes', 'agent', 'resource', ''];

const oversize: fc.Arbitrary<Mutation> = fc.oneof(
  fc.integer({ min: 64 * 1024 + 1, max: 700_000 }).map((bytes) => described(`parameters.pad of ${bytes} bytes`, (sent) => { objectAt(sent.detail, 'parameters').pad = 'x'.repeat(bytes); })),
  fc.integer({ min: 4001, max: 1_000_000 }).map((chars) => described(`justification of ${chars} characters`, (sent) => { sent.detail.justification = 'j'.repeat(chars); })),
  fc.integer({ min: 16 * 1024 + 1, max: 450_000 }).map((bytes) => described(`context.pad of ${bytes} bytes`, (sent) => { objectAt(sent.detail, 'context').pad = 'c'.repeat(bytes); })),
);

const deep: fc.Arbitrary<Mutation> = fc.record({ where: fc.constantFrom(...CONTAINERS), levels: fc.integer({ min: 31, max: 20_000 }) })
  .map(({ where, levels }) => described(`${where || 'detail'}.deep nested ${levels} levels`, (sent) => {
    objectAt(sent.detail, where).deep = DEEP_MARKER;
    sent.deep = levels;
  }));

const protoKey: fc.Arbitrary<Mutation> = fc.record({ where: fc.constantFrom(...CONTAINERS, 'parameters.nested'), value: jsonData })
  .map(({ where, value }) => described(`${where || 'detail'}.__proto__ = ${JSON.stringify(value)}`, (sent) => {
    // An own "__proto__" key, as JSON.parse makes it (assignment would set the prototype instead).
    Object.defineProperty(objectAt(sent.detail, where), '__proto__', { value, enumerable: true, writable: true, configurable: true });
  }));

const loneSurrogate: fc.Arbitrary<Mutation> = fc.record({
  where: fc.constantFrom('source', 'justification', 'parameters value', 'parameters key', 'context key', 'agent.model', 'resource.id'),
  unit: fc.integer({ min: 0xd800, max: 0xdfff }),
}).map(({ where, unit }) => described(`lone surrogate U+${unit.toString(16).toUpperCase()} in ${where}`, (sent) => {
  const resource = sent.detail.resource as Record<string, Json>;
  switch (where) {
    case 'source': sent.source = withLoneSurrogate(sent.source, unit); break;
    case 'justification': sent.detail.justification = withLoneSurrogate(sent.detail.justification as string, unit); break;
    case 'parameters value': objectAt(sent.detail, 'parameters').note = withLoneSurrogate('n', unit); break;
    case 'parameters key': objectAt(sent.detail, 'parameters')[withLoneSurrogate('k', unit)] = 1; break;
    case 'context key': objectAt(sent.detail, 'context')[withLoneSurrogate('k', unit)] = 1; break;
    case 'agent.model': objectAt(sent.detail, 'agent').model = withLoneSurrogate('m', unit); break;
    default: resource.id = withLoneSurrogate(resource.id as string, unit);
  }
}));

const STRING_FIELDS = ['specVersion', 'actionId', 'agent.id', 'action', 'resource.type', 'resource.id', 'environment', 'justification'];
const OBJECT_FIELDS = ['agent', 'resource', 'parameters', 'context', 'resource.attributes'];
const notString = fc.oneof(fc.integer(), fc.boolean(), fc.constant(null), fc.array(fc.integer(), { maxLength: 3 }), fc.dictionary(text, fc.integer(), { maxKeys: 2, noNullPrototype: true }));
const notObject = fc.oneof(fc.integer(), fc.boolean(), fc.constant(null), fc.array(jsonData, { maxLength: 3 }), text);
const wrongType: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ field: fc.constantFrom(...STRING_FIELDS), value: notString }),
  fc.record({ field: fc.constantFrom(...OBJECT_FIELDS), value: notObject }),
).map(({ field, value }) => described(`${field} = ${JSON.stringify(value)}`, (sent) => {
  const path = field.split('.');
  const last = path.pop() as string;
  objectAt(sent.detail, path.join('.'))[last] = value as Json;
}));

const mutation = fc.oneof(oversize, deep, protoKey, loneSurrogate, wrongType);

/**
 * A fresh copy of a generated request with a new actionId (generated values are reused while
 * shrinking, and an actionId is unique per request), then mutated.
 */
function prepare(valid: Sent, mutate: Mutation = () => undefined): Sent {
  const sent: Sent = { source: valid.source, detail: JSON.parse(JSON.stringify(valid.detail)) as Record<string, Json> };
  sent.detail.actionId = `prop-${randomUUID()}`;
  mutate(sent);
  return sent;
}

// ---- sending and reading back ---------------------------------------------------------------------

/** The detail's JSON text as the agent sent it (JSON.stringify writes lone surrogates as escapes). */
function detailText(sent: Sent): string {
  const flat = JSON.stringify(sent.detail);
  if (sent.deep === undefined) return flat;
  return flat.replace(JSON.stringify(DEEP_MARKER), `${'['.repeat(sent.deep)}${']'.repeat(sent.deep)}`);
}

/** The event as Lambda hands it to the handler: parsed from EventBridge's JSON. */
function lambdaEvent(sent: Sent, id: string): unknown {
  return JSON.parse(`{"version":"0","id":${JSON.stringify(id)},"detail-type":"Action Requested","source":${JSON.stringify(sent.source)},"account":"000000000000","time":"2026-12-06T10:00:00Z","region":"us-east-1","resources":[],"detail":${detailText(sent)}}`);
}

const sha256 = (value: string) => createHash('sha256').update(value).digest('hex');

/** The key the request must be recorded under: its actionId when the contract allows it, else the event id. */
function expectedKey(sent: Sent, eventId: string): string {
  const { actionId } = sent.detail;
  return typeof actionId === 'string' && /^[A-Za-z0-9._:-]{1,128}$/.test(actionId) ? actionId : `invalid/${eventId}`;
}

/** DESIGN.md decision 3, from the sent text, with the reference implementation of RFC 8785. */
function expectedPayloadSha256(sent: Sent): string {
  const detail = JSON.parse(detailText(sent)) as { agent: { id: string; onBehalfOf?: string }; action: string; resource: unknown; environment: string; parameters: unknown };
  return sha256(canonicalize({ agent: detail.agent.id, onBehalfOf: detail.agent.onBehalfOf ?? null, action: detail.action, resource: detail.resource, environment: detail.environment, parameters: detail.parameters }) as string);
}

const itemsOf = (key: string) => itemsOfRequest(ddb.client, TABLE, key);

function decisionsPublishedFor(eventId: string): Record<string, unknown>[] {
  return bus.recent().map((recorded) => recorded.event.detail).filter((detail) => detail.requestEventId === eventId);
}

/** Sends one request through the handler twice (a redelivery) and checks what every request must satisfy. */
async function sendAndCheck(sent: Sent) {
  const eventId = randomUUID();
  const key = expectedKey(sent, eventId);
  // No handler throws: a rejection here fails the property with the request that caused it.
  const first = await handler(lambdaEvent(sent, eventId), lambdaContext('countersign-evaluate-action', 30_000));
  expect(first).toMatchObject({ status: 'created', key });

  const items = await itemsOf(key);
  // Recorded exactly once: the request item (its requested event's source) and its decided event, nothing else.
  expect(items.map((item) => item.sk).sort()).toEqual(['EVENT#decided', 'REQUEST']);
  const request = items.find((item) => item.sk === 'REQUEST') as Record<string, unknown>;
  const types = items.map((item) => toAuditRecordBody(item, { shardId: 'shard-1', sequenceNumber: '1', streamCreatedAt: '2026-12-06T10:00:00.000Z' }).event_type);
  expect(types.sort()).toEqual(['decided', 'requested']);

  const again = await handler(lambdaEvent(sent, eventId), lambdaContext('countersign-evaluate-action', 30_000));
  expect(again).toMatchObject({ status: 'duplicate', key, outcome: first.outcome });
  expect(await itemsOf(key)).toEqual(items);
  // The redelivery hands the decision on again (at least once, as EventBridge delivers): the same detail twice.
  // A pending request is handed to the approval workflow instead, and nothing is published.
  const published = decisionsPublishedFor(eventId);
  expect(published).toHaveLength(first.outcome === 'pending' ? 0 : 2);
  expect(published[1]).toEqual(published[0]);
  return { outcome: request.outcome as string, request, published: published.slice(0, 1) };
}

// ---- properties ---------------------------------------------------------------------------------

describe('hostile requests through the evaluate-action handler on DynamoDB Local (issue 11)', () => {
  it('a mutated request is decided invalid or denied, recorded exactly once, its hash that of what was sent, and no handler throws', async () => {
    await fc.assert(fc.asyncProperty(validRequest, mutation, async (valid, mutate) => {
      const sent = prepare(valid, mutate);
      const { outcome, request, published } = await sendAndCheck(sent);
      expect(['invalid', 'denied']).toContain(outcome);
      expect(published).toHaveLength(1);
      expect(published[0]).toMatchObject({ outcome });
      if (outcome === 'invalid') {
        expect(request.payloadSha256).toBeNull();
        expect(request.reason).toEqual(expect.stringMatching(/^\S.*: /));
        // What is kept of the raw detail identifies what was sent, whatever was kept of it.
        expect(request.rawDetailBytes).toBeGreaterThan(0);
        expect(request.rawDetailSha256).toMatch(/^[0-9a-f]{64}$/);
      } else {
        expect(request.payloadSha256).toBe(expectedPayloadSha256(sent));
      }
    }), { numRuns: 60 });
  });

  it('odd but legal data (Object.prototype names as keys, any Unicode, nesting within the limit) is decided by policy, with payloadSha256 the hash of what was sent', async () => {
    await fc.assert(fc.asyncProperty(validRequest, async (valid) => {
      const sent = prepare(valid);
      const { outcome, request } = await sendAndCheck(sent);
      expect(outcome).not.toBe('invalid');
      expect(request.payloadSha256).toBe(expectedPayloadSha256(sent));
      expect((await itemsOf(sent.detail.actionId as string)).find((item) => item.sk === 'EVENT#decided')).toMatchObject({ payloadSha256: expectedPayloadSha256(sent) });
    }), { numRuns: 40 });
  });
});
