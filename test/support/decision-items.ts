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
