import { createServer, request as httpRequest, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { GetItemCommand, type AttributeValue } from '@aws-sdk/client-dynamodb';
import type { CallMeter } from './call-meter.js';
import { localDynamoDbClient } from './dynamodb-local.js';

/**
 * A metering hop between the handlers and DynamoDB Local (the bench's and the cost tests' stack only):
 * every request is passed on with `ReturnConsumedCapacity: TOTAL`, and the request units are counted.
 * Single-item and query requests: as DynamoDB Local reports them (1 KB per write unit, the larger of the
 * item before and after; 4 KB per strongly consistent read unit). `TransactWriteItems`: DynamoDB Local's
 * figure is not AWS's (three 100-byte puts report 2 units, where AWS charges 2 per item per KB: 6), so
 * the hop computes it by AWS's documented rules: for each action, 2 units per KB of the larger of the
 * item before and after (read from DynamoDB Local around the call), item sizes per
 * https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html.
 * The response goes back as DynamoDB Local sent it; the handlers' adapters ignore `ConsumedCapacity`.
 * A request that fails (a cancelled transaction, a failed condition) is counted as a call with no units:
 * AWS charges a failed conditional write, so such calls are undercounted here (the scenarios priced
 * have none).
 */

export interface DynamoDbMeter {
  endpoint: string;
  close(): Promise<void>;
}

const TARGET_PREFIX = 'DynamoDB_20120810.';

function readAll(stream: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('end', () => resolve(Buffer.concat(chunks)));
    stream.on('error', reject);
  });
}

interface Consumed { CapacityUnits?: number; WriteCapacityUnits?: number; ReadCapacityUnits?: number }

/** Write and read units of a response's `ConsumedCapacity` (an object, or an array for batches and transactions). */
export function consumedUnits(operation: string, body: unknown): { writeUnits: number; readUnits: number } {
  const consumed = (body as { ConsumedCapacity?: Consumed | Consumed[] } | null)?.ConsumedCapacity;
  const entries = consumed === undefined ? [] : Array.isArray(consumed) ? consumed : [consumed];
  let writeUnits = 0;
  let readUnits = 0;
  for (const entry of entries) {
    if (entry.WriteCapacityUnits !== undefined || entry.ReadCapacityUnits !== undefined) {
      writeUnits += entry.WriteCapacityUnits ?? 0;
      readUnits += entry.ReadCapacityUnits ?? 0;
    } else if (/^(Get|Query|Scan|BatchGet|TransactGet)/.test(operation)) readUnits += entry.CapacityUnits ?? 0;
    else writeUnits += entry.CapacityUnits ?? 0;
  }
  return { writeUnits, readUnits };
}

/**
 * The item family a request touches: the prefix of its partition key up to the first `#` (`REQ#`, `AGENT#`),
 * or `AUDIT#SHARD#`; for a Query, of its key condition's value; for a transaction, of its first item.
 */
export function itemFamilyOf(input: Record<string, unknown>): string {
  const pkOf = (holder: unknown): string | undefined => {
    const h = holder as { Item?: { pk?: { S?: string } }; Key?: { pk?: { S?: string } } } | undefined;
    return h?.Item?.pk?.S ?? h?.Key?.pk?.S;
  };
  const first = (input.TransactItems as Array<Record<string, unknown>> | undefined)?.[0];
  const values = Object.values((input.ExpressionAttributeValues ?? {}) as Record<string, { S?: string }>).map((value) => value.S);
  const pk = pkOf(input) ?? (first === undefined ? undefined : pkOf(Object.values(first)[0])) ?? (input.KeyConditionExpression === undefined ? undefined : values.find((value) => value?.includes('#')));
  if (pk === undefined) return '-';
  if (pk.startsWith('AUDIT#SHARD#')) return 'AUDIT#SHARD#';
  const cut = pk.indexOf('#');
  return cut < 0 ? '-' : pk.slice(0, cut + 1);
}

/** Bytes of one attribute value, by the rules of the item-size page (names are added by the caller). */
function valueBytes(value: AttributeValue): number {
  if (value.S !== undefined) return Buffer.byteLength(value.S, 'utf8');
  if (value.N !== undefined) return numberBytes(value.N);
  if (value.B !== undefined) return value.B.length;
  if (value.BOOL !== undefined || value.NULL !== undefined) return 1;
  if (value.L !== undefined) return 3 + value.L.reduce((sum, element) => sum + 1 + valueBytes(element), 0);
  if (value.M !== undefined) return 3 + Object.entries(value.M).reduce((sum, [name, element]) => sum + 1 + Buffer.byteLength(name, 'utf8') + valueBytes(element), 0);
  if (value.SS !== undefined) return value.SS.reduce((sum, element) => sum + Buffer.byteLength(element, 'utf8'), 0);
  if (value.NS !== undefined) return value.NS.reduce((sum, element) => sum + numberBytes(element), 0);
  if (value.BS !== undefined) return value.BS.reduce((sum, element) => sum + element.length, 0);
  return 0;
}

/** About 1 byte per two significant digits, plus 1. */
function numberBytes(text: string): number {
  const digits = text.replace(/^-/, '').replace(/e.*$/i, '').replace('.', '').replace(/^0+/, '').replace(/0+$/, '');
  return Math.ceil(Math.max(1, digits.length) / 2) + 1;
}

/** An item's size in bytes: attribute names and values. (JSON-decoded binary stays base64 here: close enough for whole KBs.) */
export function itemBytes(item: Record<string, AttributeValue> | undefined): number {
  if (item === undefined) return 0;
  return Object.entries(item).reduce((sum, [name, value]) => sum + Buffer.byteLength(name, 'utf8') + valueBytes(value), 0);
}

type TransactAction = { Put?: { TableName: string; Item: Record<string, AttributeValue> }; Update?: { TableName: string; Key: Record<string, AttributeValue> }; Delete?: { TableName: string; Key: Record<string, AttributeValue> }; ConditionCheck?: { TableName: string; Key: Record<string, AttributeValue> } };

/** The table and key an action of a transaction touches. */
function actionTarget(action: TransactAction): { table: string; key: Record<string, AttributeValue> } | undefined {
  if (action.Put !== undefined) {
    const { pk, sk } = action.Put.Item;
    return pk === undefined ? undefined : { table: action.Put.TableName, key: sk === undefined ? { pk } : { pk, sk } };
  }
  const keyed = action.Update ?? action.Delete ?? action.ConditionCheck;
  return keyed === undefined ? undefined : { table: keyed.TableName, key: keyed.Key };
}

export async function startDynamoDbMeter(target: string, meter: CallMeter): Promise<DynamoDbMeter> {
  const upstream = new URL(target);
  const reader = localDynamoDbClient(target);
  const sizes = async (actions: TransactAction[]): Promise<number[]> => Promise.all(actions.map(async (action) => {
    const at = actionTarget(action);
    if (at === undefined) return 0;
    const { Item } = await reader.send(new GetItemCommand({ TableName: at.table, Key: at.key, ConsistentRead: true }));
    return itemBytes(Item);
  }));
  const server: Server = createServer((incoming, outgoing) => {
    void (async () => {
      const target = String(incoming.headers['x-amz-target'] ?? '');
      let body = await readAll(incoming);
      const operation = target.startsWith(TARGET_PREFIX) ? target.slice(TARGET_PREFIX.length) : undefined;
      let transaction: { actions: TransactAction[]; before: number[] } | undefined;
      let family = '-';
      if (operation !== undefined && body.length > 0) {
        const input = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
        family = itemFamilyOf(input);
        if (input.ReturnConsumedCapacity === undefined || input.ReturnConsumedCapacity === 'NONE') input.ReturnConsumedCapacity = 'TOTAL';
        body = Buffer.from(JSON.stringify(input), 'utf8');
        if (operation === 'TransactWriteItems') {
          const actions = (input.TransactItems ?? []) as TransactAction[];
          // A Put that may only create an item replaces nothing: no read before it (the auto-decided path has only such Puts).
          const needsBefore = actions.map((action) => action.Put === undefined || !String((action.Put as { ConditionExpression?: string }).ConditionExpression ?? '').includes('attribute_not_exists'));
          transaction = { actions, before: await sizes(actions.map((action, i) => (needsBefore[i] === true ? action : {}))) };
        }
      }
      const headers = { ...incoming.headers, 'content-length': String(body.length), host: upstream.host };
      const forwarded = httpRequest({ hostname: upstream.hostname, port: upstream.port, method: incoming.method, path: incoming.url, headers }, (response) => {
        void readAll(response).then((answer) => {
          if (transaction !== undefined) {
            // Counted after the answer is on its way: the sizes after the write cost the caller no time.
            const { actions, before } = transaction;
            const succeeded = response.statusCode === 200;
            const afterPuts = actions.map((action) => (action.Put === undefined ? undefined : itemBytes(action.Put.Item)));
            void (succeeded ? sizes(actions.map((action) => (action.Put === undefined ? action : {}))) : Promise.resolve([])).then((read) => {
              const writeUnits = succeeded ? before.reduce((sum, was, i) => sum + 2 * Math.max(1, Math.ceil(Math.max(was, afterPuts[i] ?? read[i] ?? 0) / 1024)), 0) : 0;
              meter.recordDynamoDbCall(`TransactWriteItems ${family}`, { writeUnits, readUnits: 0 });
            }, () => meter.recordDynamoDbCall(`TransactWriteItems ${family}`, { writeUnits: 0, readUnits: 0 }));
          } else if (operation !== undefined) {
            let parsed: unknown = null;
            try {
              parsed = JSON.parse(answer.toString('utf8'));
            } catch {
              // Not JSON: no units to read.
            }
            meter.recordDynamoDbCall(`${operation} ${family}`, response.statusCode === 200 ? consumedUnits(operation, parsed) : { writeUnits: 0, readUnits: 0 });
          }
          outgoing.writeHead(response.statusCode ?? 502, response.headers);
          outgoing.end(answer);
        }, (error: Error) => outgoing.destroy(error));
      });
      forwarded.on('error', (error) => {
        outgoing.writeHead(502, { 'content-type': 'text/plain' });
        outgoing.end(`the DynamoDB meter could not reach DynamoDB Local: ${error.message}`);
      });
      forwarded.end(body);
    })().catch((error: Error) => {
      outgoing.writeHead(400, { 'content-type': 'text/plain' });
      outgoing.end(`the DynamoDB meter could not read the request: ${error.message}`);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      reader.destroy();
      server.close(() => resolve());
    }),
  };
}
