import type { ApprovalDefinition } from '../../local/workflow-definition.js';

/**
 * A small approval state machine in the shape the CDK app synthesizes (callback task with its
 * timeout read from `$.timing`, Catch on States.Timeout and Rejected, lambda:invoke record states),
 * for tests of the runner's own mechanics. The real definition is exercised end to end elsewhere.
 */
export const MINIMAL_APPROVAL: ApprovalDefinition = {
  definition: {
    StartAt: 'RequestReview',
    States: {
      RequestReview: {
        Type: 'Task',
        Resource: 'arn:aws:states:::lambda:invoke.waitForTaskToken',
        Parameters: {
          FunctionName: 'arn:aws:lambda:us-east-1:000000000000:function:request-review',
          Payload: { 'taskToken.$': '$$.Task.Token', phase: 'initial', 'request.$': '$$.Execution.Input' },
        },
        TimeoutSecondsPath: '$.timing.reminderAfterSeconds',
        ResultPath: '$.result',
        Retry: [{ ErrorEquals: ['Rejected'], MaxAttempts: 0 }, { ErrorEquals: ['Flaky'], IntervalSeconds: 1, MaxAttempts: 1 }],
        Catch: [
          { ErrorEquals: ['States.Timeout'], ResultPath: null, Next: 'RecordExpired' },
          { ErrorEquals: ['Rejected'], ResultPath: '$.error', Next: 'RecordRejected' },
          { ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: 'RecordFailed' },
        ],
        Next: 'RecordApproved',
      },
      RecordApproved: record('approved', { 'result.$': '$.result' }),
      RecordRejected: record('rejected', { 'error.$': '$.error' }),
      RecordExpired: record('expired', {}),
      RecordFailed: record('failed', { 'error.$': '$.error' }),
    },
  },
  functionStates: {
    RequestReview: 'request-review',
    RecordApproved: 'record-outcome',
    RecordRejected: 'record-outcome',
    RecordExpired: 'record-outcome',
    RecordFailed: 'record-outcome',
  },
};

function record(outcome: string, extra: Record<string, string>): Record<string, unknown> {
  return {
    Type: 'Task',
    Resource: 'arn:aws:states:::lambda:invoke',
    Parameters: {
      FunctionName: 'arn:aws:lambda:us-east-1:000000000000:function:record-outcome',
      Payload: { 'request.$': '$$.Execution.Input', outcome, ...extra },
    },
    ResultSelector: { 'outcome.$': '$.Payload.outcome', 'statusCode.$': '$.StatusCode' },
    TimeoutSeconds: 30,
    End: true,
  };
}

/** Polls `probe` until it returns something other than undefined; fails after `timeoutMs` (no timing assertion). */
export async function eventually<T>(probe: () => T | undefined | Promise<T | undefined>, what: string, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
