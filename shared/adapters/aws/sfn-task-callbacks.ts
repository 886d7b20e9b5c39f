import { SendTaskFailureCommand, SendTaskSuccessCommand, type SFNClient } from '@aws-sdk/client-sfn';
import { TaskNotWaitingError } from '../../ports/review-store.js';
import type { TaskCallbacks } from '../../ports/review.js';

/** Step Functions' answers that mean nobody waits on the token any more (SendTaskSuccess/Failure API reference). */
const NOT_WAITING = new Set(['TaskTimedOut', 'InvalidToken', 'TaskDoesNotExist']);

/** SendTaskFailure limits: error 256 characters, cause 32768. */
const MAX_ERROR = 256;
const MAX_CAUSE = 32_768;

function notWaiting(error: unknown): TaskNotWaitingError | undefined {
  // By name, not class: the local stack's endpoint answers with the same error names.
  if (!(error instanceof Error) || !NOT_WAITING.has(error.name)) return undefined;
  return new TaskNotWaitingError(
    error.name as TaskNotWaitingError['code'],
    `the approval workflow no longer waits on this task (${error.name}): the request is closed or expired`,
    { cause: error },
  );
}

/** Resumes the approval workflow. The token goes to Step Functions and nowhere else (not in errors or logs). */
export class SfnTaskCallbacks implements TaskCallbacks {
  constructor(private readonly client: SFNClient) {}

  async succeed(taskToken: string, output: unknown): Promise<void> {
    try {
      await this.client.send(new SendTaskSuccessCommand({ taskToken, output: JSON.stringify(output) }));
    } catch (error) {
      throw notWaiting(error) ?? error;
    }
  }

  async fail(taskToken: string, error: string, cause: string): Promise<void> {
    try {
      await this.client.send(new SendTaskFailureCommand({ taskToken, error: error.slice(0, MAX_ERROR), cause: cause.slice(0, MAX_CAUSE) }));
    } catch (failure) {
      throw notWaiting(failure) ?? failure;
    }
  }
}
