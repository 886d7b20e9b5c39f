import { InvalidToken, SendTaskFailureCommand, SendTaskSuccessCommand, SFNClient, TaskDoesNotExist, TaskTimedOut } from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { SfnTaskCallbacks } from '../../shared/adapters/aws/sfn-task-callbacks.js';
import { TaskNotWaitingError } from '../../shared/ports/review-store.js';

const sfn = mockClient(SFNClient);
const TOKEN = 'AQCEAAAAKgAAAAMAAAAAAAAAAf+secret-task-token';

describe('SfnTaskCallbacks', () => {
  beforeEach(() => sfn.reset());

  it('sends SendTaskSuccess with the output as JSON', async () => {
    sfn.on(SendTaskSuccessCommand).resolves({});
    const output = { outcome: 'approved', reason: 'approved by bob', reviewers: [{ id: 'bob', vote: 'approve', at: '2026-11-22T03:00:00.000Z' }], decidedAt: '2026-11-22T03:00:00.000Z' };
    await new SfnTaskCallbacks(new SFNClient({})).succeed(TOKEN, output);
    expect(sfn).toHaveReceivedCommandTimes(SendTaskSuccessCommand, 1);
    expect(sfn).toHaveReceivedCommandWith(SendTaskSuccessCommand, { taskToken: TOKEN, output: JSON.stringify(output) });
  });

  it('sends SendTaskFailure with the error and cause, within the API limits', async () => {
    sfn.on(SendTaskFailureCommand).resolves({});
    await new SfnTaskCallbacks(new SFNClient({})).fail(TOKEN, 'Rejected', 'x'.repeat(40_000));
    expect(sfn).toHaveReceivedCommandWith(SendTaskFailureCommand, { taskToken: TOKEN, error: 'Rejected', cause: 'x'.repeat(32_768) });
  });

  it.each([
    ['TaskTimedOut', () => new TaskTimedOut({ message: 'Task Timed Out', $metadata: {} })],
    ['InvalidToken', () => new InvalidToken({ message: 'Invalid token', $metadata: {} })],
    ['TaskDoesNotExist', () => new TaskDoesNotExist({ message: 'Task does not exist', $metadata: {} })],
  ] as const)('maps %s to TaskNotWaitingError (the request is closed or expired), for success and failure', async (code, error) => {
    sfn.on(SendTaskSuccessCommand).rejects(error()).on(SendTaskFailureCommand).rejects(error());
    const callbacks = new SfnTaskCallbacks(new SFNClient({}));
    for (const call of [() => callbacks.succeed(TOKEN, {}), () => callbacks.fail(TOKEN, 'Rejected', '{}')]) {
      const failure = await call().then(() => undefined, (e: unknown) => e);
      expect(failure).toBeInstanceOf(TaskNotWaitingError);
      expect(failure).toMatchObject({ code, message: expect.stringContaining('closed or expired') });
      expect(String((failure as Error).message)).not.toContain(TOKEN);
    }
  });

  it('recognises the error by name, as the local stack answers it', async () => {
    sfn.on(SendTaskSuccessCommand).rejects(Object.assign(new Error('Task Timed Out'), { name: 'TaskTimedOut' }));
    await expect(new SfnTaskCallbacks(new SFNClient({})).succeed(TOKEN, {})).rejects.toBeInstanceOf(TaskNotWaitingError);
  });

  it('lets other failures through unchanged, so the caller knows the callback did not happen', async () => {
    const throttled = Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' });
    sfn.on(SendTaskSuccessCommand).rejects(throttled);
    await expect(new SfnTaskCallbacks(new SFNClient({})).succeed(TOKEN, {})).rejects.toMatchObject({ name: 'ThrottlingException' });
  });
});
