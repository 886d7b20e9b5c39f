import { ConditionalCheckFailedException, GetItemCommand, PutItemCommand, type AttributeValue, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';
import { validUntilOf } from '../../domain/decision.js';
import type { ExecutionSummary, ReportIdentity } from '../../domain/execution.js';
import type { ActionExecuted } from '../../domain/contract.js';
import type { RequestRecord } from '../../ports/index.js';
import type { ExecutionStore, ExecutionTarget, RecordExecutedResult, ViolationWrite } from '../../ports/execution.js';
import { appendRequestEvent, eventItem, fromItem, ITEM, marshallOptions } from './dynamo-decision-store.js';

/**
 * Execution reports on the decision table (issue 12). A report on a received request is one more event
 * item of that request (`EVENT#executed`, or `EVENT#execution_violation#<report fingerprint>`), numbered
 * like every other; a report naming no received request is kept under `execution/<fingerprint>`, a key
 * no actionId can have ("/" is not allowed in one), with no request number.
 */
export const EXECUTION_KEY_PREFIX = 'execution/';

/** The report's own fields, on both item kinds, so the audit log needs no join. */
function reportFields(identity: ReportIdentity, eventId: string, source: string, report: ActionExecuted | null) {
  return {
    reportEventId: eventId,
    reportSource: source,
    reportedBy: identity.agentId,
    reportFingerprint: identity.fingerprint,
    reportJson: identity.reportJson,
    ...(identity.reportTruncated ? { reportTruncated: true, reportSha256: identity.reportSha256, reportBytes: identity.reportBytes } : {}),
    executedPayloadSha256: report?.payloadSha256 ?? null,
    status: report?.status ?? null,
    startedAt: report?.startedAt ?? null,
    finishedAt: report?.finishedAt ?? null,
    resultSummary: report?.result?.summary ?? null,
    resultSha256: report?.result?.sha256 ?? null,
    errorCode: report?.error?.code ?? null,
    errorMessage: report?.error?.message ?? null,
  };
}

export class DynamoExecutionStore implements ExecutionStore {
  constructor(
    private readonly client: DynamoDBClient,
    private readonly tableName: string,
  ) {}

  async getTarget(actionId: string): Promise<ExecutionTarget | undefined> {
    const { Item } = await this.client.send(new GetItemCommand({
      TableName: this.tableName,
      Key: marshall({ pk: ITEM.pk(actionId), sk: ITEM.requestSk }),
      ConsistentRead: true,
    }));
    if (Item === undefined) return undefined;
    const data = unmarshall(Item) as { execution?: ExecutionSummary; executionFingerprint?: string };
    return { record: fromItem(Item), execution: data.execution ?? null, executionFingerprint: data.executionFingerprint ?? null };
  }

  async recordExecuted(write: { target: RequestRecord; identity: ReportIdentity; eventId: string; source: string; report: ActionExecuted; summary: ExecutionSummary; at: string }): Promise<RecordExecutedResult> {
    const { target, identity } = write;
    const item = {
      ...eventItem(target, 'executed', write.at),
      ...reportFields(identity, write.eventId, write.source, write.report),
      outcome: target.outcome,
      validUntil: validUntilOf(target.outcome, target.decidedAt, target.validForSeconds),
    };
    const written = await appendRequestEvent(this.client, this.tableName, target.key, item, undefined, {
      execution: write.summary,
      executionFingerprint: identity.fingerprint,
    });
    if (written) return { status: 'recorded' };
    const current = await this.getTarget(target.key);
    if (current?.execution === null || current === undefined) {
      throw new Error(`the executed item of ${target.key} exists but its request has no execution recorded`);
    }
    return current.executionFingerprint === identity.fingerprint ? { status: 'duplicate' } : { status: 'already_executed', first: current.execution };
  }

  async recordViolation(write: ViolationWrite): Promise<boolean> {
    const fields = { ...reportFields(write.identity, write.eventId, write.source, write.report), rule: write.rule, reason: write.reason };
    if (write.target !== undefined) {
      const item = { ...eventItem(write.target, 'execution_violation', write.at, write.identity.fingerprint), ...fields, outcome: write.target.outcome };
      return appendRequestEvent(this.client, this.tableName, write.target.key, item);
    }
    const key = `${EXECUTION_KEY_PREFIX}${write.identity.fingerprint}`;
    const item: Record<string, unknown> = {
      pk: ITEM.pk(key),
      sk: ITEM.eventSk('execution_violation'),
      kind: 'event',
      eventId: `${key}/execution_violation`,
      eventType: 'execution_violation',
      occurredAt: write.at,
      key,
      actionId: write.identity.actionId,
      sourceEventId: write.eventId,
      source: write.source,
      agentId: write.identity.agentId,
      onBehalfOf: null,
      action: null,
      resourceType: null,
      resourceId: null,
      environment: null,
      payloadSha256: null,
      ...fields,
    };
    try {
      await this.client.send(new PutItemCommand({
        TableName: this.tableName,
        Item: marshall(item, marshallOptions) as Record<string, AttributeValue>,
        ConditionExpression: 'attribute_not_exists(pk)',
      }));
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }
}
