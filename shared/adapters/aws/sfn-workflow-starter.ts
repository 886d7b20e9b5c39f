import { createHash } from 'node:crypto';
import { ExecutionAlreadyExists, StartExecutionCommand, type SFNClient } from '@aws-sdk/client-sfn';
import type { ApprovalWorkflowInput, WorkflowStarter } from '../../ports/index.js';

const EXECUTION_NAME = /^[A-Za-z0-9_-]{1,80}$/;

/**
 * Step Functions execution names allow at most 80 characters and no ":" or ".", which actionIds
 * may have. An actionId that is already a valid name is used as is (readable in the console);
 * any other is mapped to a hash, so the name stays a pure function of the actionId.
 */
export function executionNameFor(actionId: string): string {
  if (EXECUTION_NAME.test(actionId)) return actionId;
  return `h-${createHash('sha256').update(actionId).digest('hex').slice(0, 64)}`;
}

/** Starts the approval state machine; the execution name makes a second start a no-op. */
export class SfnWorkflowStarter implements WorkflowStarter {
  constructor(
    private readonly client: SFNClient,
    private readonly stateMachineArn: string,
  ) {}

  async startApproval(input: ApprovalWorkflowInput): Promise<{ executionId: string; alreadyStarted: boolean }> {
    const name = executionNameFor(input.actionId);
    try {
      // Standard workflows answer a repeated start with the same name and input with the first execution.
      const response = await this.client.send(new StartExecutionCommand({
        stateMachineArn: this.stateMachineArn,
        name,
        input: JSON.stringify(input),
      }));
      return { executionId: response.executionArn ?? name, alreadyStarted: false };
    } catch (error) {
      if (error instanceof ExecutionAlreadyExists) return { executionId: name, alreadyStarted: true };
      throw error;
    }
  }
}
