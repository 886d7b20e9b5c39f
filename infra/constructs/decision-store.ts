import { RemovalPolicy } from 'aws-cdk-lib';
import { AttributeType, BillingMode, StreamViewType, Table, TableEncryption, type ITable } from 'aws-cdk-lib/aws-dynamodb';
import { Grant, type IGrantable } from 'aws-cdk-lib/aws-iam';
import { Key, type IKey } from 'aws-cdk-lib/aws-kms';
import { Construct } from 'constructs';
import { CHAIN_ITEM } from '../../shared/adapters/aws/dynamo-chain-store.js';
import { AGENT_ITEM } from '../../shared/adapters/aws/dynamo-agent-guard.js';
import { ITEM } from '../../shared/adapters/aws/dynamo-decision-store.js';
import { REVIEW_ITEM } from '../../shared/adapters/aws/dynamo-review-store.js';
import { DECISION_TABLE } from '../../shared/store-schema.js';

/**
 * The table's item families by partition key prefix, from the adapters that write them: requests and their
 * event items, reviews (task token, votes), the audit writer's per-shard chain heads, and each agent's
 * flood-control state, open-review slots and quarantine events.
 */
export const ITEM_FAMILIES = {
  requests: ITEM.pk(''),
  agents: AGENT_ITEM.pk(''),
  reviews: REVIEW_ITEM.pk(''),
  auditChain: CHAIN_ITEM.pk(''),
} as const;
export type ItemFamily = keyof typeof ITEM_FAMILIES;

/**
 * Grants item actions on the table, only on items whose partition key starts with one of the families'
 * prefixes (`dynamodb:LeadingKeys`; IAM checks each item of a transaction, and a Query's key condition).
 * So a review function cannot write an audit chain head, nor the audit writer a request.
 */
export function grantItems(table: ITable, grantee: IGrantable, families: readonly ItemFamily[], ...actions: string[]): Grant {
  return Grant.addToPrincipal({
    grantee,
    actions,
    resourceArns: [table.tableArn],
    conditions: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': families.map((family) => `${ITEM_FAMILIES[family]}*`) } },
  });
}

/**
 * The system of record: one DynamoDB table holding each request and its immutable event items (DESIGN.md,
 * decisions 6 and 7). Stateful, so it survives everything: deletion protection, RETAIN on stack deletion,
 * point-in-time recovery, and a customer-managed key (rotated yearly) that is retained too. The stream
 * (NEW_IMAGE) feeds the audit writer.
 *
 * The construct ids ("Table", "Key") are part of the logical ids that CloudFormation knows these resources
 * by; a test pins them, because a changed id means a replaced, empty table.
 */
export class DecisionStore extends Construct {
  readonly table: ITable;
  /** The customer-managed key the table (and its stream) is encrypted with. */
  readonly key: IKey;

  constructor(scope: Construct, id: string) {
    super(scope, id);

    const key = new Key(this, 'Key', {
      description: 'Countersign decision table (items, stream, backups)',
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });

    const table = new Table(this, 'Table', {
      partitionKey: { name: DECISION_TABLE.partitionKey.name, type: attributeType(DECISION_TABLE.partitionKey.type) },
      sortKey: { name: DECISION_TABLE.sortKey.name, type: attributeType(DECISION_TABLE.sortKey.type) },
      billingMode: BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      deletionProtection: true,
      encryption: TableEncryption.CUSTOMER_MANAGED,
      encryptionKey: key,
      stream: StreamViewType.NEW_IMAGE,
      // Deletes only what carries the attribute (DECISION_TABLE.timeToLiveAttribute); a TTL delete is a
      // REMOVE on the stream, which the audit writer's INSERT-only filters never pass on.
      timeToLiveAttribute: DECISION_TABLE.timeToLiveAttribute,
      removalPolicy: RemovalPolicy.RETAIN,
    });

    this.key = key;
    this.table = table;
  }
}

function attributeType(type: 'S' | 'N' | 'B'): AttributeType {
  switch (type) {
    case 'S':
      return AttributeType.STRING;
    case 'N':
      return AttributeType.NUMBER;
    case 'B':
      return AttributeType.BINARY;
  }
}
