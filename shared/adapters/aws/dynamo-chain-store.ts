import { ConditionalCheckFailedException, GetItemCommand, PutItemCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';
import { ChainHeadConflictError, type ChainHead, type ChainStore } from '../../ports/audit.js';

/**
 * Chain heads on the decision table: `AUDIT#SHARD#<shardId>` / `HEAD`, kind `audit-chain` (not
 * `event`, so the audit writer never takes its own heads from the stream as records).
 */
export const CHAIN_ITEM = {
  pk: (shardId: string) => `AUDIT#SHARD#${shardId}`,
  sk: 'HEAD',
  kind: 'audit-chain',
} as const;

export class DynamoChainStore implements ChainStore {
  constructor(
    private readonly client: DynamoDBClient,
    private readonly tableName: string,
    private readonly now: () => Date = () => new Date(),
  ) {}

  async get(shardId: string): Promise<ChainHead | undefined> {
    const { Item } = await this.client.send(new GetItemCommand({
      TableName: this.tableName,
      Key: marshall({ pk: CHAIN_ITEM.pk(shardId), sk: CHAIN_ITEM.sk }),
      ConsistentRead: true,
    }));
    if (Item === undefined) return undefined;
    const data = unmarshall(Item) as { lastSequence: string; lastHash: string };
    return { lastSequence: data.lastSequence, lastHash: data.lastHash };
  }

  async advance(shardId: string, expected: ChainHead | undefined, next: ChainHead): Promise<void> {
    try {
      await this.client.send(new PutItemCommand({
        TableName: this.tableName,
        Item: marshall({
          pk: CHAIN_ITEM.pk(shardId),
          sk: CHAIN_ITEM.sk,
          kind: CHAIN_ITEM.kind,
          shardId,
          lastSequence: next.lastSequence,
          lastHash: next.lastHash,
          updatedAt: this.now().toISOString(),
        }),
        ...(expected === undefined
          ? { ConditionExpression: 'attribute_not_exists(pk)' }
          : {
              ConditionExpression: 'lastSequence = :seq AND lastHash = :hash',
              ExpressionAttributeValues: marshall({ ':seq': expected.lastSequence, ':hash': expected.lastHash }),
            }),
      }));
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) throw new ChainHeadConflictError(shardId, expected);
      throw error;
    }
  }
}
