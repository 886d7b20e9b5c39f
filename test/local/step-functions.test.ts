import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  DescribeExecutionCommand,
  ExecutionAlreadyExists,
  InvalidArn,
  InvalidToken,
  SendTaskFailureCommand,
  SendTaskHeartbeatCommand,
  SendTaskSuccessCommand,
  SFNClient,
  StartExecutionCommand,
  StateMachineDoesNotExist,
  TaskTimedOut,
} from '@aws-sdk/client-sfn';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { handleAwsJsonRequest, startHttpServer, type LocalHttpServer } from '../../local/aws-json-server.js';
import { memoryLogger } from '../../local/log.js';
import { LocalStepFunctions } from '../../local/step-functions.js';
import { TASK_TOKEN_PLACEHOLDER } from '../../local/workflow-definition.js';
import { eventually, MINIMAL_APPROVAL } from './support.js';

/**
 * The local Step Functions: StartExecution's AWS semantics, and the waitForTaskToken emulation
 * driven with the real `@aws-sdk/client-sfn`, on a small definition shaped like the synthesized one.
 */

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

const STATE_MACHINE_ARN = 'arn:aws:states:us-east-1:000000000000:stateMachine:countersign-approval';
const credentials = { accessKeyId: 'x', secretAccessKey: 'x' };

interface Invocation {
  functionKey: string;
  payload: { taskToken?: string; phase?: string; outcome?: string; request?: { timing?: Record<string, number> }; result?: unknown; error?: { Error?: string; Cause?: string } };
}

let dir: string;
let server: LocalHttpServer;
let sfn: SFNClient;
let stepFunctions: LocalStepFunctions;
let invocations: Invocation[];
/** What the stub request-review does; replaced per test. */
let requestReview: (payload: Invocation['payload']) => Promise<unknown>;
const log = memoryLogger();

function createRunner(options: { timeScale?: number } = {}): LocalStepFunctions {
  return new LocalStepFunctions({
    stateMachineArn: STATE_MACHINE_ARN,
    approval: MINIMAL_APPROVAL,
    journalFile: join(dir, 'executions.jsonl'),
    log,
    ...options,
    invokeFunction: async (functionKey, payload) => {
      invocations.push({ functionKey, payload: payload as Invocation['payload'] });
      if (functionKey === 'request-review') return requestReview(payload as Invocation['payload']);
      return { outcome: (payload as { outcome: string }).outcome };
    },
  });
}

function input(actionId: string, reminderAfterSeconds = 600): string {
  return JSON.stringify({ actionId, approval: { approvers: 'data-owners', quorum: 1 }, timing: { reminderAfterSeconds, deadlineAfterSeconds: 600, escalationSeconds: 600 } });
}

const start = (name: string, executionInput = input(name), stateMachineArn = STATE_MACHINE_ARN) =>
  sfn.send(new StartExecutionCommand({ stateMachineArn, name, input: executionInput }));

/** The token request-review received for an execution (the nth attempt), once it has been invoked. */
function tokenOf(actionId: string, nth = 0): Promise<string> {
  return eventually(() => invocations.filter((i) => i.functionKey === 'request-review' && (i.payload.request as { actionId?: string } | undefined)?.actionId === actionId)[nth]?.payload.taskToken, `request-review for ${actionId}`);
}

function recordOf(actionId: string): Promise<Invocation['payload']> {
  return eventually(() => invocations.find((i) => i.functionKey === 'record-outcome' && (i.payload.request as { actionId?: string } | undefined)?.actionId === actionId)?.payload, `record-outcome for ${actionId}`);
}

async function statusOf(executionArn: string): Promise<string | undefined> {
  return (await sfn.send(new DescribeExecutionCommand({ executionArn }))).status;
}

beforeAll(async () => {
  server = await startHttpServer({ port: 0, handler: (request) => handleAwsJsonRequest(request, stepFunctions.operations) });
  sfn = new SFNClient({ endpoint: server.url, region: 'us-east-1', credentials, maxAttempts: 1 });
});

afterAll(async () => {
  sfn.destroy();
  await server.close();
});

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'countersign-sfn-'));
  invocations = [];
  requestReview = async () => ({ status: 'posted' });
  stepFunctions = createRunner();
});

afterEach(async () => {
  await stepFunctions.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('StartExecution', () => {
  it('answers a repeated start with the same name and input with the first execution, while it runs', async () => {
    const first = await start('act-1');
    const second = await start('act-1');
    expect(first.executionArn).toBe('arn:aws:states:us-east-1:000000000000:execution:countersign-approval:act-1');
    expect(second.executionArn).toBe(first.executionArn);
    expect(second.startDate).toEqual(first.startDate);
    expect(stepFunctions.list()).toHaveLength(1);
  });

  it('refuses the same name with another input, and the same input once the execution closed', async () => {
    await start('act-2');
    await expect(start('act-2', input('act-2', 601))).rejects.toBeInstanceOf(ExecutionAlreadyExists);
    const token = await tokenOf('act-2');
    await sfn.send(new SendTaskSuccessCommand({ taskToken: token, output: '{"outcome":"approved"}' }));
    const executionArn = stepFunctions.list()[0]?.executionArn ?? '';
    await eventually(async () => ((await statusOf(executionArn)) === 'SUCCEEDED' ? true : undefined), 'the execution to succeed');
    await expect(start('act-2')).rejects.toBeInstanceOf(ExecutionAlreadyExists);
  });

  it('keeps its executions across a crash; one that was running is run again from its first state, with a new token', async () => {
    const first = await start('act-3');
    const oldToken = await tokenOf('act-3');
    // No close(): as after a crash, the journal still shows it running.
    const restarted = createRunner();
    try {
      expect(restarted.get(first.executionArn ?? '')?.status).toBe('RUNNING');
      expect(() => restarted.startExecution({ stateMachineArn: STATE_MACHINE_ARN, name: 'act-3', input: input('act-3', 601) })).toThrow('Execution Already Exists');
      expect(restarted.resumeInterrupted()).toBe(1);
      const newToken = await tokenOf('act-3', 1);
      expect(newToken).not.toBe(oldToken);
      expect(log.lines.some((line) => / resumed +act-3 /.test(line))).toBe(true);
      restarted.sendTaskSuccess({ taskToken: newToken, output: '{"outcome":"approved"}' });
      await eventually(() => (restarted.get(first.executionArn ?? '')?.status === 'SUCCEEDED' ? true : undefined), 'the resumed execution to succeed');
    } finally {
      await restarted.close();
    }
    // Once it ended, a later start leaves it alone.
    const third = createRunner();
    try {
      expect(third.get(first.executionArn ?? '')?.status).toBe('SUCCEEDED');
      expect(third.resumeInterrupted()).toBe(0);
    } finally {
      await third.close();
    }
  });

  it("an execution stopped by the stack's own stop is resumed at the next start; one that ended is not", async () => {
    const waiting = await start('act-5');
    await tokenOf('act-5');
    const ended = await start('act-6');
    await sfn.send(new SendTaskSuccessCommand({ taskToken: await tokenOf('act-6'), output: '{"outcome":"approved"}' }));
    await eventually(async () => ((await statusOf(ended.executionArn ?? '')) === 'SUCCEEDED' ? true : undefined), 'act-6 to succeed');
    await stepFunctions.close();
    expect(stepFunctions.get(waiting.executionArn ?? '')?.status).toBe('ABORTED');
    stepFunctions = createRunner();
    expect(stepFunctions.get(waiting.executionArn ?? '')?.status).toBe('RUNNING');
    expect(stepFunctions.resumeInterrupted()).toBe(1);
    await tokenOf('act-5', 1);
    expect(invocations.filter((i) => (i.payload.request as { actionId?: string } | undefined)?.actionId === 'act-6' && i.functionKey === 'request-review')).toHaveLength(1);
  });

  it('refuses a state machine that is not deployed, a malformed ARN and names Step Functions does not allow', async () => {
    await expect(start('act-4', '{}', 'arn:aws:states:us-east-1:000000000000:stateMachine:other')).rejects.toBeInstanceOf(StateMachineDoesNotExist);
    await expect(start('act-4', '{}', 'not-an-arn')).rejects.toBeInstanceOf(InvalidArn);
    await expect(start('has space')).rejects.toMatchObject({ name: 'InvalidName' });
    await expect(start('a'.repeat(81))).rejects.toMatchObject({ name: 'InvalidName' });
    await expect(start('act:5')).rejects.toMatchObject({ name: 'InvalidName' });
    await expect(start('act-6', '{not json')).rejects.toMatchObject({ name: 'InvalidExecutionInput' });
  });
});

describe('waitForTaskToken', () => {
  it('hands the function a fresh opaque token, and SendTaskSuccess resumes the workflow with the output', async () => {
    const { executionArn = '' } = await start('ok-1');
    const token = await tokenOf('ok-1');
    expect(token).not.toBe(TASK_TOKEN_PLACEHOLDER);
    expect(token.length).toBeGreaterThan(500);
    expect(token.length).toBeLessThanOrEqual(2048);
    await sfn.send(new SendTaskHeartbeatCommand({ taskToken: token }));
    await sfn.send(new SendTaskSuccessCommand({ taskToken: token, output: JSON.stringify({ outcome: 'approved', reviewers: [{ id: 'bob', vote: 'approve' }] }) }));
    const record = await recordOf('ok-1');
    expect(record).toMatchObject({ outcome: 'approved', result: { outcome: 'approved', reviewers: [{ id: 'bob', vote: 'approve' }] } });
    await eventually(async () => ((await statusOf(executionArn)) === 'SUCCEEDED' ? true : undefined), 'SUCCEEDED');
    // lambda:invoke returned Lambda's Invoke response; the state's ResultSelector read Payload and StatusCode from it.
    expect(JSON.parse(stepFunctions.get(executionArn)?.output ?? '{}')).toEqual({ outcome: 'approved', statusCode: 200 });
    await expect(sfn.send(new SendTaskSuccessCommand({ taskToken: token, output: '{}' }))).rejects.toBeInstanceOf(TaskTimedOut);
  });

  it('mints a different token for every task', async () => {
    await start('ok-2');
    await start('ok-3');
    expect(await tokenOf('ok-2')).not.toBe(await tokenOf('ok-3'));
  });

  it('SendTaskFailure with error Rejected is caught by the state\'s Catch, with the cause', async () => {
    await start('deny-1');
    const token = await tokenOf('deny-1');
    await sfn.send(new SendTaskFailureCommand({ taskToken: token, error: 'Rejected', cause: 'dan denied: not this quarter' }));
    expect(await recordOf('deny-1')).toMatchObject({ outcome: 'rejected', error: { Error: 'Rejected', Cause: 'dan denied: not this quarter' } });
    // Rejected has a Retry with MaxAttempts 0: request-review ran once.
    expect(invocations.filter((i) => i.functionKey === 'request-review')).toHaveLength(1);
  });

  it('closes the token when the state times out: a late callback gets TaskTimedOut, an unknown one InvalidToken', async () => {
    await start('late-1', input('late-1', 1));
    const token = await tokenOf('late-1');
    expect(await recordOf('late-1')).toMatchObject({ outcome: 'expired' });
    await expect(sfn.send(new SendTaskSuccessCommand({ taskToken: token, output: '{}' }))).rejects.toBeInstanceOf(TaskTimedOut);
    await expect(sfn.send(new SendTaskHeartbeatCommand({ taskToken: token }))).rejects.toBeInstanceOf(TaskTimedOut);
    await expect(sfn.send(new SendTaskSuccessCommand({ taskToken: `${token.slice(0, -4)}AAAA`, output: '{}' }))).rejects.toBeInstanceOf(InvalidToken);
    await expect(sfn.send(new SendTaskFailureCommand({ taskToken: 'not-a-token', error: 'Rejected' }))).rejects.toMatchObject({ name: 'InvalidToken', $metadata: { httpStatusCode: 400 } });
  });

  it('refuses output that is not JSON with InvalidOutput, and leaves the task waiting', async () => {
    await start('bad-output');
    const token = await tokenOf('bad-output');
    await expect(sfn.send(new SendTaskSuccessCommand({ taskToken: token, output: '{oops' }))).rejects.toMatchObject({ name: 'InvalidOutput' });
    await sfn.send(new SendTaskSuccessCommand({ taskToken: token, output: '{"outcome":"approved"}' }));
    expect(await recordOf('bad-output')).toMatchObject({ outcome: 'approved' });
  });

  it('fails the task when the function throws, so Retry and Catch apply; a retry gets a new token', async () => {
    let calls = 0;
    requestReview = async () => {
      calls += 1;
      const error = new Error(calls === 1 ? 'Slack is down' : 'still down');
      error.name = calls === 1 ? 'Flaky' : 'SlackUnavailable';
      throw error;
    };
    await start('broken-1');
    const record = await recordOf('broken-1');
    expect(calls).toBe(2);
    expect(record.outcome).toBe('failed');
    expect(record.error?.Error).toBe('SlackUnavailable');
    expect(JSON.parse(record.error?.Cause ?? '{}')).toMatchObject({ errorType: 'SlackUnavailable', errorMessage: 'still down' });
    const tokens = invocations.filter((i) => i.functionKey === 'request-review').map((i) => i.payload.taskToken);
    expect(new Set(tokens).size).toBe(2);
    expect(log.lines.some((line) => line.includes('broken-1') && line.includes('SlackUnavailable'))).toBe(true);
  });

  it('aborts running executions on close; their tokens answer TaskTimedOut', async () => {
    const { executionArn = '' } = await start('stop-1');
    const token = await tokenOf('stop-1');
    await stepFunctions.close();
    expect(stepFunctions.get(executionArn)?.status).toBe('ABORTED');
    await expect(sfn.send(new SendTaskSuccessCommand({ taskToken: token, output: '{}' }))).rejects.toBeInstanceOf(TaskTimedOut);
  });
});

describe('--time-scale', () => {
  it('divides the timing of the execution input, rounded up to whole seconds, and the functions see it', async () => {
    await stepFunctions.close();
    stepFunctions = createRunner({ timeScale: 600 });
    await start('fast-1', input('fast-1', 900));
    const token = await tokenOf('fast-1');
    const seen = invocations.find((i) => i.payload.taskToken === token)?.payload.request?.timing;
    expect(seen).toEqual({ reminderAfterSeconds: 2, deadlineAfterSeconds: 1, escalationSeconds: 1 });
    // 900 s at 600x times out for real, and the workflow takes its timeout path.
    expect(await recordOf('fast-1')).toMatchObject({ outcome: 'expired' });
    // The recorded input is the one StartExecution was given.
    expect(JSON.parse(stepFunctions.list()[0]?.input ?? '{}').timing.reminderAfterSeconds).toBe(900);
  });
});
