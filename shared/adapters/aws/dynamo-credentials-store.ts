import { GetItemCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import type { CredentialsFailure, CredentialsIssue, CredentialsRefusal, CredentialsStore, RecordedRequest } from '../../ports/credentials.js';
import type { RequestRecord } from '../../ports/index.js';
import { appendRequestEvent, eventItem, fromItem, ITEM } from './dynamo-decision-store.js';

/**
 * The credentials API's side of the decision table: reads the request item, and adds immutable event items
 * through `appendRequestEvent` (so `requestSeq` stays 1..n). `credentials_issued` has one fixed key per
 * request, so its conditional put is the once-only claim; each refusal has its own key (the Lambda request id).
 * No item ever holds a secret: only what was asked of STS.
 */
export class DynamoCredentialsStore implements CredentialsStore {
  constructor(
    private readonly client: DynamoDBClient,
    private readonly tableName: string,
    private readonly pause?: (ms: number) => Promise<void>,
  ) {}

  async getRequest(actionId: string): Promise<RecordedRequest | undefined> {
    const { Item } = await this.client.send(new GetItemCommand({
      TableName: this.tableName,
      Key: marshall({ pk: ITEM.pk(actionId), sk: ITEM.requestSk }),
      ConsistentRead: true,
    }));
    if (Item === undefined) return undefined;
    // The execution store sets `execution` on the request item with the `executed` event (one transaction).
    const status = Item.execution?.M?.status?.S;
    return { record: fromItem(Item), executionStatus: Item.execution === undefined || Item.execution.NULL === true ? null : status ?? 'reported' };
  }

  claimIssue(record: RequestRecord, issue: CredentialsIssue): Promise<boolean> {
    return this.append(record.key, { ...eventItem(record, 'credentials_issued', issue.occurredAt), ...issue });
  }

  async recordRefusal(record: RequestRecord, refusal: CredentialsRefusal): Promise<void> {
    // The same ask delivered twice (the same request id) is one refusal: false is fine.
    await this.append(record.key, { ...eventItem(record, 'credentials_refused', refusal.occurredAt, refusal.refusalId), ...refusal });
  }

  async recordFailure(record: RequestRecord, failure: CredentialsFailure): Promise<void> {
    await this.append(record.key, { ...eventItem(record, 'credentials_failed', failure.occurredAt), ...failure });
  }

  private append(key: string, item: Record<string, unknown>): Promise<boolean> {
    return this.pause === undefined ? appendRequestEvent(this.client, this.tableName, key, item) : appendRequestEvent(this.client, this.tableName, key, item, this.pause);
  }
}
