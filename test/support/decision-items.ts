import { QueryCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';

/** Every item of one request (its request item and event items), read consistently, unmarshalled. */
export async function itemsOfRequest(client: DynamoDBClient, tableName: string, key: string): Promise<Record<string, unknown>[]> {
  const { Items = [] } = await client.send(new QueryCommand({
    TableName: tableName,
    KeyConditionExpression: 'pk = :pk',
    ExpressionAttributeValues: { ':pk': { S: `REQ#${key}` } },
    ConsistentRead: true,
  }));
  return Items.map((item) => unmarshall(item));
}

/**
 * The events among a request's items, as the audit log numbers them: each event item, and the request
 * item marked as its `requested` event's source (issue 15), which is event 1.
 */
export function eventsAmong(items: Record<string, unknown>[]): Array<Record<string, unknown> & { eventType: string; requestSeq: number }> {
  return items.flatMap((item) => {
    if (item.kind === 'event') return [item as Record<string, unknown> & { eventType: string; requestSeq: number }];
    if (item.kind === 'request' && item.auditEvent === 'requested') return [{ ...item, eventType: 'requested', requestSeq: 1 }];
    return [];
  });
}
