import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { synthesizeApprovalDefinition } from '../../infra/approval-definition.js';
import { memoryLogger } from '../../local/log.js';
import { LocalStepFunctions } from '../../local/step-functions.js';
import { WORKFLOW_STATES } from '../../shared/workflow/contract.js';
import { eventually } from './support.js';

/**
 * The approval's window (issue 12) on the synthesized state machine, run by the local runner: after
 * RecordApproved the execution waits until the validUntil record-outcome returned, then invokes it
 * again with `window_closed`; without a validUntil it ends at once.
 */

const STATE_MACHINE_ARN = 'arn:aws:states:us-east-1:000000000000:stateMachine:countersign-approval';
let dir: string;
let runner: LocalStepFunctions;
const calls: Array<{ fn: string; payload: { outcome?: string; taskToken?: string; request?: { actionId?: string } }; at: number }> = [];
const validUntilOf = new Map<string, string | null>();

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'countersign-window-'));
  runner = new LocalStepFunctions({
    stateMachineArn: STATE_MACHINE_ARN,
    approval: synthesizeApprovalDefinition(),
    journalFile: join(dir, 'executions.jsonl'),
    log: memoryLogger(),
    invokeFunction: async (fn, payload) => {
      const call = { fn, payload: payload as (typeof calls)[number]['payload'], at: Date.now() };
      calls.push(call);
      const actionId = call.payload.request?.actionId ?? '';
      // request-review: approve at once, as a vote's SendTaskSuccess would.
      if (fn === 'request-review') {
        setTimeout(() => runner.sendTaskSuccess({ taskToken: call.payload.taskToken, output: JSON.stringify({ outcome: 'approved', reason: 'ok', reviewers: [], decidedAt: new Date().toISOString() }) }), 10);
        return { status: 'posted' };
      }
      return { actionId, outcome: 'approved', validUntil: validUntilOf.get(actionId) ?? null };
    },
  });
}, 120_000);

afterAll(async () => {
  await runner.close();
  rmSync(dir, { recursive: true, force: true });
});

function start(actionId: string) {
  const input = { actionId, approval: { approvers: 'data-owners', quorum: 1 }, timing: { reminderAfterSeconds: 600, deadlineAfterSeconds: 600, escalationSeconds: 600 } };
  return runner.startExecution({ stateMachineArn: STATE_MACHINE_ARN, name: actionId, input: JSON.stringify(input) });
}

const outcomesOf = (actionId: string) => calls.filter((c) => c.fn === 'record-outcome' && c.payload.request?.actionId === actionId).map((c) => c.payload.outcome);

describe('after an approval, the synthesized workflow', () => {
  it('waits for validUntil, then has record-outcome close the window, and succeeds', async () => {
    validUntilOf.set('win-1', new Date(Date.now() + 1_500).toISOString());
    const { executionArn } = start('win-1');
    await eventually(() => (runner.get(executionArn)?.status === 'SUCCEEDED' ? true : undefined), 'the execution to succeed');
    expect(outcomesOf('win-1')).toEqual(['approved', 'window_closed']);
    const [approved, closed] = calls.filter((c) => c.fn === 'record-outcome' && c.payload.request?.actionId === 'win-1');
    expect((closed?.at ?? 0) - (approved?.at ?? 0)).toBeGreaterThan(500);
  });

  it(`ends at ${WORKFLOW_STATES.approvalRecorded} when record-outcome gives no validUntil`, async () => {
    validUntilOf.set('win-2', null);
    const { executionArn } = start('win-2');
    await eventually(() => (runner.get(executionArn)?.status === 'SUCCEEDED' ? true : undefined), 'the execution to succeed');
    expect(outcomesOf('win-2')).toEqual(['approved']);
  });
});
