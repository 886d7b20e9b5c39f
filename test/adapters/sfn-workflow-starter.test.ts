import { ExecutionAlreadyExists, SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { executionNameFor, SfnWorkflowStarter } from '../../shared/adapters/aws/sfn-workflow-starter.js';
import type { ApprovalWorkflowInput } from '../../shared/ports/index.js';

const sfn = mockClient(SFNClient);
const ARN = 'arn:aws:states:eu-west-1:123456789012:stateMachine:approval';

const input: ApprovalWorkflowInput = {
  actionId: 'export-2026-11-22-001',
  payloadSha256: 'a'.repeat(64),
  agentId: 'billing-agent',
  onBehalfOf: 'alice',
  action: 'db.export',
  resource: { type: 'Database', id: 'customers' },
  environment: 'prod',
  policyIds: ['data.export.prod'],
  approval: { approvers: 'data-owners', quorum: 1, timeout: 'PT30M', timeoutSeconds: 1800 },
  timing: { reminderAfterSeconds: 900, deadlineAfterSeconds: 900, escalationSeconds: 900 },
  requestedAt: '2026-11-22T03:00:00.000Z',
};

describe('SfnWorkflowStarter', () => {
  beforeEach(() => sfn.reset());

  it('starts the approval state machine with the actionId as execution name and the request as input', async () => {
    sfn.on(StartExecutionCommand).resolves({ executionArn: `${ARN}:export-2026-11-22-001`, startDate: new Date() });
    const result = await new SfnWorkflowStarter(new SFNClient({}), ARN).startApproval(input);
    expect(result).toEqual({ executionId: `${ARN}:export-2026-11-22-001`, alreadyStarted: false });
    expect(sfn).toHaveReceivedCommandTimes(StartExecutionCommand, 1);
    expect(sfn).toHaveReceivedCommandWith(StartExecutionCommand, { stateMachineArn: ARN, name: 'export-2026-11-22-001', input: JSON.stringify(input) });
  });

  it('treats an execution that already exists as started, so a redelivery starts nothing twice', async () => {
    sfn.on(StartExecutionCommand).rejects(new ExecutionAlreadyExists({ message: 'Execution Already Exists', $metadata: {} }));
    const result = await new SfnWorkflowStarter(new SFNClient({}), ARN).startApproval(input);
    expect(result).toEqual({ executionId: 'export-2026-11-22-001', alreadyStarted: true });
  });

  it('lets other failures through so the invocation is retried', async () => {
    sfn.on(StartExecutionCommand).rejects(new Error('throttled'));
    await expect(new SfnWorkflowStarter(new SFNClient({}), ARN).startApproval(input)).rejects.toThrow('throttled');
  });

  it('maps actionIds that are not valid execution names to a stable hash name', () => {
    expect(executionNameFor('run-42_a')).toBe('run-42_a');
    const colon = executionNameFor('run:42');
    expect(colon).toMatch(/^h-[0-9a-f]{64}$/);
    expect(executionNameFor('run:42')).toBe(colon);
    expect(executionNameFor('run.42')).not.toBe(colon);
    expect(executionNameFor('x'.repeat(81))).toMatch(/^h-[0-9a-f]{64}$/);
    expect(executionNameFor('x'.repeat(80))).toBe('x'.repeat(80));
  });
});
