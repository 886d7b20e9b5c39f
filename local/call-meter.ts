/**
 * Counts the billable AWS calls the local stack makes on the product's behalf, as the emulators see
 * them: PutEvents entries (by detail type, in 64 KB chunks), Lambda invocations (by function, with
 * their billed milliseconds), DynamoDB request units (as DynamoDB Local reports them with
 * `ReturnConsumedCapacity`), Step Functions state transitions and API requests, and audit objects
 * written (S3 PUTs and bytes). `npm run bench` prices them
 * (bench/cost-model.ts); tests pin the counts per scenario.
 */

/** EventBridge bills a PutEvents entry per 64 KB chunk of its size (detail, detail type, source, resources, time). */
export const PUT_EVENTS_CHUNK_BYTES = 64 * 1024;

export interface LambdaUsage {
  invocations: number;
  /** Sum of each invocation's duration rounded up to the next millisecond, as Lambda bills it. */
  billedMs: number;
  /** Stream records delivered (stream-triggered functions only). */
  records: number;
  /**
   * CPU milliseconds the local stack's process used while each invocation ran, summed: the handler's own
   * work and whatever the process did beside it (the emulators serving its calls, a poller), so an upper
   * bound of the handler's CPU. The cost model scales it to the vCPU share Lambda gives the deployed memory.
   */
  cpuMs: number;
}

export interface DynamoDbUsage {
  calls: number;
  writeUnits: number;
  readUnits: number;
}

export interface MeteredCalls {
  /** PutEvents entries accepted on the bus, by detail type. */
  putEvents: Record<string, { entries: number; chunks: number }>;
  lambda: Record<string, LambdaUsage>;
  /**
   * By operation and the item family it touched (the partition key's prefix, as IAM's LeadingKeys
   * grants see it): `PutItem REQ#`, `PutItem AUDIT#SHARD#`, `TransactWriteItems AGENT#`, ...
   */
  dynamoDb: Record<string, DynamoDbUsage>;
  /** Step Functions API requests by operation (StartExecution, SendTaskSuccess, ...). */
  stepFunctionsRequests: Record<string, number>;
  /** States entered and retried by Standard workflow executions. */
  stateTransitions: number;
  s3Puts: number;
  s3PutBytes: number;
}

function emptyCalls(): MeteredCalls {
  return { putEvents: {}, lambda: {}, dynamoDb: {}, stepFunctionsRequests: {}, stateTransitions: 0, s3Puts: 0, s3PutBytes: 0 };
}

export class CallMeter {
  private calls: MeteredCalls = emptyCalls();
  private readonly listeners = new Set<() => void>();

  recordPutEventsEntry(detailType: string, bytes: number): void {
    const entry = (this.calls.putEvents[detailType] ??= { entries: 0, chunks: 0 });
    entry.entries += 1;
    entry.chunks += Math.max(1, Math.ceil(bytes / PUT_EVENTS_CHUNK_BYTES));
    this.changed();
  }

  recordLambdaInvocation(functionName: string, durationMs: number, records = 0, cpuMs = 0): void {
    const usage = (this.calls.lambda[functionName] ??= { invocations: 0, billedMs: 0, records: 0, cpuMs: 0 });
    usage.invocations += 1;
    usage.billedMs += Math.max(1, Math.ceil(durationMs));
    usage.records += records;
    usage.cpuMs += cpuMs;
    this.changed();
  }

  recordDynamoDbCall(operation: string, units: { writeUnits: number; readUnits: number }): void {
    const usage = (this.calls.dynamoDb[operation] ??= { calls: 0, writeUnits: 0, readUnits: 0 });
    usage.calls += 1;
    usage.writeUnits += units.writeUnits;
    usage.readUnits += units.readUnits;
    this.changed();
  }

  recordStepFunctionsRequest(operation: string): void {
    this.calls.stepFunctionsRequests[operation] = (this.calls.stepFunctionsRequests[operation] ?? 0) + 1;
    this.changed();
  }

  recordStateTransition(): void {
    this.calls.stateTransitions += 1;
    this.changed();
  }

  recordS3Put(bytes: number): void {
    this.calls.s3Puts += 1;
    this.calls.s3PutBytes += bytes;
    this.changed();
  }

  /** A deep copy of what was counted since the last `reset`. */
  snapshot(): MeteredCalls {
    return structuredClone(this.calls);
  }

  /** Returns what was counted and starts again from zero. */
  reset(): MeteredCalls {
    const calls = this.calls;
    this.calls = emptyCalls();
    return calls;
  }

  /** Told after every recorded call; returns an unsubscribe function. */
  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private changed(): void {
    for (const listener of this.listeners) listener();
  }
}
