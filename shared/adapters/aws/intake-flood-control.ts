import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { Directory } from '../../domain/directory.js';
import type { IntakeFloodControl } from '../../domain/intake-guard.js';
import { DynamoAgentGuard } from './dynamo-agent-guard.js';

/**
 * evaluate-action's flood control: the agent guard on the decision table and the directory's limits.
 * A burst is announced on the bus (`Agent Requests Limited`); record-execution posts its line, so this
 * function holds no chat credentials.
 */
export function intakeFloodControl(dynamo: DynamoDBClient, tableName: string, directory: Directory): IntakeFloodControl {
  return { guard: new DynamoAgentGuard(dynamo, tableName), limitsOf: (agentId) => directory.limitsOf(agentId) };
}
