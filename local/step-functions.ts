import { withResolvers } from './promise-with-resolvers.js';
import { randomBytes, randomUUID } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { StateMachine } from 'aws-local-stepfunctions';
import { AwsServiceError, type AwsOperations } from './aws-json-server.js';
import { lambdaFunctionError } from './lambda-runtime.js';
import { silentLogger, type Logger, type Tone } from './log.js';
import {
  prepareDefinition,
  replaceString,
  RESOLVED_TIMEOUT_FIELD,
  scaleExecutionInput,
  TASK_TOKEN_PLACEHOLDER,
  unscaledDurationPaths,
  type ApprovalDefinition,
  type PreparedDefinition,
  type TaskStateInfo,
} from './workflow-definition.js';

/**
 * Step Functions for the local stack: `StartExecution` runs the synthesized approval state machine
 * on `aws-local-stepfunctions`, its Lambda Task states call the real handler modules, and
 * `waitForTaskToken` is emulated with `SendTaskSuccess`, `SendTaskFailure` and `SendTaskHeartbeat`
 * on the same AWS JSON endpoint, with AWS's error names.
 *
 * StartExecution (AWS semantics, DESIGN.md decision 6 relies on them):
 * - same name, same input, execution still running -> success with the first execution's ARN and startDate;
 * - same name and a different input, or the execution closed -> `ExecutionAlreadyExists`;
 * - a malformed ARN -> `InvalidArn`; a well-formed one that is not deployed -> `StateMachineDoesNotExist`;
 * - names of 1-80 characters without whitespace, brackets, wildcards, `"#%\^|~`$&,;:/` or control
 *   characters, else `InvalidName`; input must be JSON, else `InvalidExecutionInput`.
 *
 * Task tokens: the library has no `$$.Task.Token`, so each run's context carries a placeholder, and
 * each time a `lambda:invoke.waitForTaskToken` state starts, the runner mints a fresh opaque token,
 * puts it where the placeholder was in the payload, registers a pending promise under it, invokes
 * the function (an error it throws fails the task, so the state's Retry/Catch apply) and returns
 * the promise to the library. SendTaskSuccess resolves it with the parsed output; SendTaskFailure
 * rejects it with an error named after `error` (the library matches `ErrorEquals` on `error.name`),
 * whose message is the `cause`. The state's timeout is the library's; when the state fails, exits
 * or the execution ends, every token it minted is closed. Afterwards: an unknown token ->
 * `InvalidToken`; a closed one (timed out, answered, execution over) -> `TaskTimedOut`.
 *
 * Executions are kept in memory (status RUNNING, SUCCEEDED, FAILED, ABORTED; DescribeExecution) and
 * journalled, so a restarted stack keeps AWS's name semantics. In AWS an execution outlives any
 * outage; here an execution that was running when the stack stopped (or crashed) is run again from
 * its first state when the stack is back (`resumeInterrupted`): same name, same input, so its request
 * gets a new task token and, from the review phase, a new window. The runner cannot restore the
 * library's position inside a run, so resuming from the start is the closest it comes.
 */

export type ExecutionStatus = 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'TIMED_OUT' | 'ABORTED';

export interface Execution {
  executionArn: string;
  stateMachineArn: string;
  name: string;
  input: string;
  startDate: string;
  status: ExecutionStatus;
  stopDate?: string;
  output?: string;
  error?: string;
  cause?: string;
  /** Stopped only because the local stack stopped: run again at the next start. */
  suspended?: boolean;
}

/** Invokes one workflow function (the key is the value in `functionStates`) with a payload; resolves with its result. */
export type InvokeWorkflowFunction = (functionKey: string, payload: unknown) => Promise<unknown>;

export interface LocalStepFunctionsOptions {
  stateMachineArn: string;
  /** The synthesized state machine and which Task states call which function. */
  approval: ApprovalDefinition;
  invokeFunction: InvokeWorkflowFunction;
  /** Workflow time runs this many times faster (see `scaleExecutionInput`). @default 1 */
  timeScale?: number;
  /** Executions are kept here (JSON lines) so a restarted stack keeps AWS's name semantics. */
  journalFile?: string;
  log?: Logger;
  now?: () => Date;
  /** Told of each state transition Step Functions would bill (a state entered, or retried). @default none */
  onStateTransition?: () => void;
}

type RunHandle = ReturnType<StateMachine['run']>;
type EventLog = RunHandle['eventLogs'] extends AsyncGenerator<infer Event> ? Event : never;
type RunOptions = NonNullable<Parameters<StateMachine['run']>[1]>;
type TaskHandlers = NonNullable<NonNullable<RunOptions['overrides']>['taskResourceLocalHandlers']>;

const STATE_MACHINE_ARN = /^arn:aws[a-z-]*:states:([a-z0-9-]+):(\d{12}):stateMachine:([A-Za-z0-9_-]{1,80})$/;
const EXECUTION_ARN = /^arn:aws[a-z-]*:states:[a-z0-9-]+:\d{12}:execution:[A-Za-z0-9_-]{1,80}:.{1,80}$/;
const INVALID_NAME_CHARACTERS = /[\s<>{}[\]?*"#%\\^|~`$&,;:/\u0000-\u001f\u007f-\u009f]/;
const MAX_INPUT_BYTES = 256 * 1024;
const MAX_TOKEN_LENGTH = 2048;
const MAX_ERROR_LENGTH = 256;
const MAX_CAUSE_LENGTH = 32_768;
/** Closed tokens remembered (to answer TaskTimedOut rather than InvalidToken); older ones are forgotten. */
const CLOSED_TOKENS_KEPT = 10_000;

/** An error the library neither retries nor catches: it ends a run that the stack is stopping. */
class RunStoppedError extends Error {
  readonly isRetryable = false;
  readonly isCatchable = false;
  constructor() {
    super('the local stack stopped this execution');
    this.name = 'States.Runtime';
  }
}

interface PendingTask {
  executionArn: string;
  stateName: string;
  state: 'waiting' | 'closed';
  /** Date.now() when minted: an event about the state closes only tokens minted before it. */
  createdAt: number;
  resolve: (output: unknown) => void;
  reject: (error: Error) => void;
}

interface Run {
  execution: Execution;
  abort: () => void;
  stopping: boolean;
  done: Promise<void>;
}

function taskError(name: string, message: string): Error {
  const error = new Error(message);
  error.name = name;
  return error;
}

/** A fresh opaque token, about as long as the ones Step Functions hands out. */
function mintTaskToken(): string {
  return `AQB${randomBytes(480).toString('base64')}`;
}

function field(input: Record<string, unknown>, name: string): unknown {
  return input[name];
}

function requiredString(input: Record<string, unknown>, name: string, max: number): string {
  const value = field(input, name);
  if (typeof value !== 'string' || value.length === 0) {
    throw new AwsServiceError('ValidationException', `1 validation error detected: Value null at '${name}' failed to satisfy constraint: Member must not be null`);
  }
  if (value.length > max) {
    throw new AwsServiceError('ValidationException', `1 validation error detected: Value at '${name}' failed to satisfy constraint: Member must have length less than or equal to ${max}`);
  }
  return value;
}

function optionalString(input: Record<string, unknown>, name: string, max: number): string | undefined {
  const value = field(input, name);
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw new AwsServiceError('SerializationException', `${name} must be a string`);
  if (value.length > max) {
    throw new AwsServiceError('ValidationException', `1 validation error detected: Value at '${name}' failed to satisfy constraint: Member must have length less than or equal to ${max}`);
  }
  return value;
}

export class LocalStepFunctions {
  private readonly executions = new Map<string, Execution>();
  private readonly runs = new Map<string, Run>();
  /** Executions the journal shows running when this runner started; `resumeInterrupted` runs them. */
  private readonly interrupted: Execution[] = [];
  private readonly tasks = new Map<string, PendingTask>();
  private readonly closedTokens: string[] = [];
  private readonly listeners = new Set<(execution: Execution) => void>();
  private readonly prepared: PreparedDefinition;
  private readonly machine: StateMachine;
  private readonly timeScale: number;
  private readonly log: Logger;
  private closed = false;

  constructor(private readonly options: LocalStepFunctionsOptions) {
    this.log = options.log ?? silentLogger;
    this.timeScale = options.timeScale ?? 1;
    if (!(this.timeScale >= 1) || !Number.isFinite(this.timeScale)) throw new RangeError(`timeScale must be a number >= 1, got ${this.timeScale}`);
    this.prepared = prepareDefinition(options.approval.definition);
    for (const stateName of Object.keys(options.approval.functionStates)) {
      const task = this.prepared.tasks.get(stateName);
      if (task === undefined) throw new RangeError(`functionStates names "${stateName}", which is not a Task state of the definition`);
      if (task.integration === undefined) throw new RangeError(`Task state "${stateName}" has Resource "${task.resource}", which is not a Lambda integration`);
    }
    if (this.timeScale !== 1) {
      for (const path of unscaledDurationPaths(this.prepared)) this.log.warn(`the workflow reads a duration from ${path}, which --time-scale does not scale (it scales $.timing)`);
    }
    // The CDK writes function ARNs into Parameters; the library need not check ARNs it never calls.
    this.machine = new StateMachine(this.prepared.definition as never, { validationOptions: { checkArn: false } });
    this.loadJournal();
  }

  get operations(): AwsOperations {
    return {
      'AWSStepFunctions.StartExecution': (input) => this.startExecution(input),
      'AWSStepFunctions.DescribeExecution': (input) => this.describeExecution(input),
      'AWSStepFunctions.SendTaskSuccess': (input) => this.sendTaskSuccess(input),
      'AWSStepFunctions.SendTaskFailure': (input) => this.sendTaskFailure(input),
      'AWSStepFunctions.SendTaskHeartbeat': (input) => this.sendTaskHeartbeat(input),
    };
  }

  /** Told of each new execution (not of an idempotent repeat); returns an unsubscribe function. */
  onExecutionStarted(listener: (execution: Execution) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  list(): readonly Execution[] {
    return [...this.executions.values()];
  }

  get(executionArn: string): Execution | undefined {
    return this.executions.get(executionArn);
  }

  /** Aborts every running execution and closes its tokens; later starts are refused. */
  async close(): Promise<void> {
    this.closed = true;
    const runs = [...this.runs.values()];
    for (const run of runs) {
      run.stopping = true;
      run.abort();
      for (const [token, task] of this.tasks) {
        if (task.executionArn === run.execution.executionArn) this.closeTask(token, task, { error: new RunStoppedError() });
      }
    }
    await Promise.all(runs.map((run) => run.done));
  }

  startExecution(input: Record<string, unknown>): { executionArn: string; startDate: number } {
    const { stateMachineArn, name = randomUUID(), input: executionInput = '{}' } = input;
    if (typeof stateMachineArn !== 'string' || stateMachineArn === '') {
      throw new AwsServiceError('ValidationException', "1 validation error detected: Value null at 'stateMachineArn' failed to satisfy constraint: Member must not be null");
    }
    const arn = STATE_MACHINE_ARN.exec(stateMachineArn);
    if (arn === null) throw new AwsServiceError('InvalidArn', `Invalid Arn: '${stateMachineArn}'`);
    if (stateMachineArn !== this.options.stateMachineArn) {
      throw new AwsServiceError('StateMachineDoesNotExist', `State Machine Does Not Exist: '${stateMachineArn}'`);
    }
    if (typeof name !== 'string' || name.length < 1 || name.length > 80 || INVALID_NAME_CHARACTERS.test(name)) {
      throw new AwsServiceError('InvalidName', `Invalid Name: '${String(name)}'`);
    }
    if (typeof executionInput !== 'string') throw new AwsServiceError('SerializationException', 'input must be a string');
    if (Buffer.byteLength(executionInput, 'utf8') > MAX_INPUT_BYTES) {
      throw new AwsServiceError('InvalidExecutionInput', `Invalid State Machine Execution Input: the input is larger than ${MAX_INPUT_BYTES} bytes`);
    }
    let parsedInput: unknown;
    try {
      parsedInput = JSON.parse(executionInput);
    } catch (error) {
      throw new AwsServiceError('InvalidExecutionInput', `Invalid State Machine Execution Input: '${(error as Error).message}'`);
    }
    const [, region, account, machine] = arn;
    const executionArn = `arn:aws:states:${region}:${account}:execution:${machine}:${name}`;
    const existing = this.executions.get(executionArn);
    if (existing !== undefined) {
      if (existing.input !== executionInput || existing.status !== 'RUNNING') {
        throw new AwsServiceError('ExecutionAlreadyExists', `Execution Already Exists: '${executionArn}'`);
      }
      return { executionArn, startDate: Date.parse(existing.startDate) / 1000 };
    }
    if (this.closed) throw new AwsServiceError('ServiceUnavailableException', 'The local stack is stopping; no new executions start.', 503);
    const execution: Execution = {
      executionArn,
      stateMachineArn,
      name,
      input: executionInput,
      startDate: this.now().toISOString(),
      status: 'RUNNING',
    };
    this.executions.set(executionArn, execution);
    this.journal(execution);
    this.announce(execution, parsedInput);
    this.run(execution, parsedInput);
    for (const listener of this.listeners) listener(execution);
    return { executionArn, startDate: Date.parse(execution.startDate) / 1000 };
  }

  describeExecution(input: Record<string, unknown>): Record<string, unknown> {
    const executionArn = requiredString(input, 'executionArn', 2048);
    if (!EXECUTION_ARN.test(executionArn)) throw new AwsServiceError('InvalidArn', `Invalid Arn: '${executionArn}'`);
    const execution = this.executions.get(executionArn);
    if (execution === undefined) throw new AwsServiceError('ExecutionDoesNotExist', `Execution Does Not Exist: '${executionArn}'`);
    return {
      executionArn: execution.executionArn,
      stateMachineArn: execution.stateMachineArn,
      name: execution.name,
      status: execution.status,
      startDate: Date.parse(execution.startDate) / 1000,
      ...(execution.stopDate === undefined ? {} : { stopDate: Date.parse(execution.stopDate) / 1000 }),
      input: execution.input,
      ...(execution.output === undefined ? {} : { output: execution.output }),
      ...(execution.error === undefined ? {} : { error: execution.error }),
      ...(execution.cause === undefined ? {} : { cause: execution.cause }),
    };
  }

  sendTaskSuccess(input: Record<string, unknown>): Record<string, never> {
    const token = requiredString(input, 'taskToken', MAX_TOKEN_LENGTH);
    const output = requiredString(input, 'output', 262_144);
    let parsed: unknown;
    try {
      parsed = JSON.parse(output);
    } catch (error) {
      throw new AwsServiceError('InvalidOutput', `Invalid Output: '${(error as Error).message}'`);
    }
    this.closeTask(token, this.openTask(token), { output: parsed });
    return {};
  }

  sendTaskFailure(input: Record<string, unknown>): Record<string, never> {
    const token = requiredString(input, 'taskToken', MAX_TOKEN_LENGTH);
    const error = optionalString(input, 'error', MAX_ERROR_LENGTH);
    const cause = optionalString(input, 'cause', MAX_CAUSE_LENGTH);
    this.closeTask(token, this.openTask(token), { error: taskError(error ?? '', cause ?? '') });
    return {};
  }

  sendTaskHeartbeat(input: Record<string, unknown>): Record<string, never> {
    this.openTask(requiredString(input, 'taskToken', MAX_TOKEN_LENGTH));
    return {};
  }

  private openTask(token: string): PendingTask {
    const task = this.tasks.get(token);
    if (task === undefined) throw new AwsServiceError('InvalidToken', 'Invalid Token: \'Invalid token\'');
    if (task.state !== 'waiting') throw new AwsServiceError('TaskTimedOut', 'Task Timed Out: \'Provided task does not exist anymore\'');
    return task;
  }

  private now(): Date {
    return this.options.now?.() ?? new Date();
  }

  private run(execution: Execution, input: unknown): void {
    const handlers: Record<string, (input: unknown) => Promise<unknown>> = {};
    for (const [stateName, functionKey] of Object.entries(this.options.approval.functionStates)) {
      const task = this.prepared.tasks.get(stateName) as TaskStateInfo;
      handlers[stateName] = (taskInput) => this.runTask(execution, task, functionKey, taskInput);
    }
    const waitTimeOverrides: Record<string, number> = {};
    if (this.timeScale !== 1) {
      for (const [stateName, seconds] of this.prepared.literalWaits) waitTimeOverrides[stateName] = Math.round((seconds * 1000) / this.timeScale);
    }
    const [, , , machineName = ''] = STATE_MACHINE_ARN.exec(execution.stateMachineArn) ?? [];
    // Registered first: the library calls the first Task's override synchronously, from run().
    const run: Run = { execution, abort: () => undefined, stopping: false, done: Promise.resolve() };
    this.runs.set(execution.executionArn, run);
    const started = this.machine.run(scaleExecutionInput(input, this.timeScale) as never, {
      overrides: { taskResourceLocalHandlers: handlers as unknown as TaskHandlers, waitTimeOverrides },
      context: {
        Execution: { Id: execution.executionArn, Name: execution.name, RoleArn: `arn:aws:iam::000000000000:role/${machineName}` },
        StateMachine: { Id: execution.stateMachineArn, Name: machineName },
        Task: { Token: TASK_TOKEN_PLACEHOLDER },
      },
    });
    // The outcome is read from the event log; the result promise only must not go unhandled.
    started.result.catch(() => undefined);
    run.abort = started.abort;
    run.done = this.follow(run, started.eventLogs).finally(() => {
      this.runs.delete(execution.executionArn);
      this.closeTasks(execution.executionArn);
    });
  }

  /** Reads a run's event log: closes tokens as states end, and records how the execution ended. */
  private async follow(run: Run, events: AsyncGenerator<EventLog>): Promise<void> {
    const { execution } = run;
    try {
      for await (const event of events) {
        switch (event.type) {
          case 'StateEntered':
          case 'StateRetried':
            this.options.onStateTransition?.();
            break;
          case 'StateFailed':
          case 'StateExited':
            // The state timed out, failed or ended: its tokens are spent. (A retry mints a new one.)
            this.closeTasks(execution.executionArn, event.state.name, event.timestamp);
            break;
          case 'ExecutionSucceeded':
            this.finish(execution, 'SUCCEEDED', { output: JSON.stringify(event.output ?? null) });
            break;
          case 'ExecutionFailed':
            this.finish(execution, run.stopping ? 'ABORTED' : 'FAILED', { error: event.Error, cause: typeof event.Cause === 'string' ? event.Cause : JSON.stringify(event.Cause) });
            break;
          case 'ExecutionAborted':
            this.finish(execution, 'ABORTED', {});
            break;
          case 'ExecutionTimeout':
            this.finish(execution, 'TIMED_OUT', {});
            break;
          default:
            break;
        }
      }
    } finally {
      if (execution.status === 'RUNNING') this.finish(execution, 'ABORTED', {});
    }
  }

  private finish(execution: Execution, status: ExecutionStatus, details: { output?: string; error?: string; cause?: string }): void {
    if (execution.status !== 'RUNNING') return;
    // Aborted by the stack's own stop, not by the workflow: the next start runs it again.
    const suspended = status === 'ABORTED' && this.closed && this.runs.get(execution.executionArn)?.stopping === true;
    Object.assign(execution, { status, stopDate: this.now().toISOString() }, details, suspended ? { suspended } : {});
    this.journal({ executionArn: execution.executionArn, status, stopDate: execution.stopDate, ...details, ...(suspended ? { suspended } : {}) });
    if (status === 'FAILED' || status === 'TIMED_OUT') {
      this.log.step('workflow', this.subjectOf(execution), `execution ${status}${details.error === undefined ? '' : `: ${details.error}`}${details.cause ? ` - ${details.cause.slice(0, 300)}` : ''}`, 'error');
    }
  }

  /**
   * Closes the tokens still waiting in an execution (in one state, or all; minted before `before`):
   * a later callback gets TaskTimedOut. The event log is read a few microtasks late, so an event must
   * not close the token of a retry that started meanwhile.
   */
  private closeTasks(executionArn: string, stateName?: string, before = Number.POSITIVE_INFINITY): void {
    for (const [token, task] of this.tasks) {
      if (task.executionArn === executionArn && (stateName === undefined || task.stateName === stateName) && task.createdAt < before) {
        this.closeTask(token, task);
      }
    }
  }

  /**
   * Ends a waiting task: settles its promise when given an outcome (a timed-out one the library has
   * already given up on), and remembers the token as closed, for TaskTimedOut answers.
   */
  private closeTask(token: string, task: PendingTask, outcome?: { output: unknown } | { error: Error }): void {
    if (task.state !== 'waiting') return;
    task.state = 'closed';
    if (outcome !== undefined) {
      if ('error' in outcome) task.reject(outcome.error);
      else task.resolve(outcome.output);
    }
    task.resolve = () => undefined;
    task.reject = () => undefined;
    this.closedTokens.push(token);
    while (this.closedTokens.length > CLOSED_TOKENS_KEPT) this.tasks.delete(this.closedTokens.shift() as string);
  }

  private async runTask(execution: Execution, task: TaskStateInfo, functionKey: string, taskInput: unknown): Promise<unknown> {
    const run = this.runs.get(execution.executionArn);
    if (run === undefined || run.stopping) throw new RunStoppedError();
    let parameters = taskInput;
    if (task.timeoutResolvedInParameters && typeof parameters === 'object' && parameters !== null) {
      const { [RESOLVED_TIMEOUT_FIELD]: _resolved, ...rest } = parameters as Record<string, unknown>;
      parameters = rest;
    }
    switch (task.integration) {
      case 'invoke': {
        const payload = (parameters as { Payload?: unknown }).Payload ?? null;
        const result = await this.invoke(execution, task, functionKey, payload);
        // What the lambda:invoke integration returns: Lambda's Invoke response, the function's result as `Payload`.
        return {
          ExecutedVersion: '$LATEST',
          Payload: result,
          SdkHttpMetadata: { HttpStatusCode: 200 },
          SdkResponseMetadata: { RequestId: randomUUID() },
          StatusCode: 200,
        };
      }
      case 'function':
        return this.invoke(execution, task, functionKey, parameters ?? null);
      case 'callback':
        return this.waitForTaskToken(execution, task, functionKey, (parameters as { Payload?: unknown }).Payload ?? null);
      default:
        throw new RangeError(`Task state "${task.name}" is not a Lambda integration`);
    }
  }

  private async invoke(execution: Execution, task: TaskStateInfo, functionKey: string, payload: unknown): Promise<unknown> {
    try {
      const result = await this.options.invokeFunction(functionKey, payload);
      // Lambda serializes the result as JSON: undefined becomes null, and no object is shared with the caller.
      return result === undefined ? null : JSON.parse(JSON.stringify(result));
    } catch (error) {
      const failure = lambdaFunctionError(error);
      this.log.step('failed', this.subjectOf(execution), `${functionKey} (state ${task.name}) threw ${failure.errorType}: ${failure.errorMessage}; the state's Retry/Catch apply`, 'warn');
      // As Step Functions reports a function error: named after errorType, with the error object as the cause.
      throw taskError(failure.errorType, JSON.stringify(failure));
    }
  }

  private waitForTaskToken(execution: Execution, task: TaskStateInfo, functionKey: string, payload: unknown): Promise<unknown> {
    // A new attempt of the state (a retry) ends the previous one, whatever the event log has said so far.
    this.closeTasks(execution.executionArn, task.name);
    const token = mintTaskToken();
    const pending = withResolvers<unknown>();
    const entry: PendingTask = {
      executionArn: execution.executionArn,
      stateName: task.name,
      state: 'waiting',
      createdAt: Date.now(),
      resolve: pending.resolve,
      reject: pending.reject,
    };
    this.tasks.set(token, entry);
    const withToken = replaceString(payload, TASK_TOKEN_PLACEHOLDER, token);
    this.invoke(execution, task, functionKey, withToken).then(
      () => this.reportReview(execution, withToken),
      // A function error fails the task (if no callback came first).
      (error: Error) => this.closeTask(token, entry, { error }),
    );
    return pending.promise;
  }

  private reportReview(execution: Execution, payload: unknown): void {
    const { phase, request } = (typeof payload === 'object' && payload !== null ? payload : {}) as {
      phase?: unknown;
      request?: { approval?: { approvers?: unknown; quorum?: unknown; escalate?: unknown }; timing?: Record<string, unknown> };
    };
    const approval = request?.approval ?? {};
    const timing = request?.timing ?? {};
    const group = typeof approval.approvers === 'string' ? approval.approvers : 'the approvers';
    const seconds = (value: unknown) => (typeof value === 'number' ? formatSeconds(value) : '?');
    const lines: Record<string, [string, string, Tone]> = {
      initial: ['review', `posted to ${group} for review, quorum ${String(approval.quorum ?? 1)}; reminder in ${seconds(timing.reminderAfterSeconds)}`, 'accent'],
      reminder: ['reminded', `reminded ${group}; deadline in ${seconds(timing.deadlineAfterSeconds)}`, 'warn'],
      escalation: ['escalated', `escalated to ${typeof approval.escalate === 'string' ? approval.escalate : 'the escalation group'}; expires in ${seconds(timing.escalationSeconds)}`, 'warn'],
    };
    const line = typeof phase === 'string' ? lines[phase] : undefined;
    if (line !== undefined) this.log.step(line[0], this.subjectOf(execution), line[1], line[2]);
  }

  private subjectOf(execution: Execution): string {
    try {
      const { actionId } = JSON.parse(execution.input) as { actionId?: unknown };
      return typeof actionId === 'string' ? actionId : execution.name;
    } catch {
      return execution.name;
    }
  }

  private announce(execution: Execution, input: unknown): void {
    const fields = typeof input === 'object' && input !== null
      ? input as { approval?: { approvers?: unknown; quorum?: unknown; timeout?: unknown; escalate?: unknown } }
      : {};
    const approval = fields.approval;
    const needs = approval !== undefined && typeof approval.approvers === 'string'
      ? ` (${approval.approvers}, quorum ${String(approval.quorum ?? 1)}${typeof approval.timeout === 'string' ? `, timeout ${approval.timeout}` : ''}${typeof approval.escalate === 'string' ? `, then ${approval.escalate}` : ''})`
      : '';
    const scale = this.timeScale === 1 ? '' : `; time runs ${this.timeScale}x faster`;
    this.log.step('decided', this.subjectOf(execution), `pending - needs approval${needs}; approval workflow started${scale}`, 'warn');
  }

  private journal(record: Partial<Execution> & { resumedAt?: string }): void {
    const file = this.options.journalFile;
    if (file === undefined) return;
    mkdirSync(dirname(file), { recursive: true });
    appendFileSync(file, `${JSON.stringify(record)}\n`, 'utf8');
  }

  private loadJournal(): void {
    const file = this.options.journalFile;
    if (file === undefined || !existsSync(file)) return;
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      if (line.trim() === '') continue;
      const record = JSON.parse(line) as Partial<Execution> & { executionArn: string; resumedAt?: string };
      const known = this.executions.get(record.executionArn);
      if (known === undefined) this.executions.set(record.executionArn, { status: 'RUNNING', ...record } as Execution);
      else if (record.resumedAt !== undefined) {
        // Running again: what the earlier stop recorded no longer applies.
        for (const key of ['stopDate', 'output', 'error', 'cause', 'suspended'] as const) delete known[key];
        known.status = 'RUNNING';
      } else Object.assign(known, record);
    }
    // Running when the stack crashed, or stopped by the stack's stop: both are still running as far
    // as their requests know. They stay RUNNING (as in AWS) until resumeInterrupted() runs them.
    for (const execution of this.executions.values()) {
      if (execution.status === 'RUNNING' || (execution.status === 'ABORTED' && execution.suspended === true)) {
        for (const key of ['stopDate', 'output', 'error', 'cause', 'suspended'] as const) delete execution[key];
        execution.status = 'RUNNING';
        this.interrupted.push(execution);
      }
    }
  }

  /**
   * Runs again, from their first state, the executions that were running when the stack last
   * stopped; call it once the functions they invoke are ready. Returns how many.
   */
  resumeInterrupted(): number {
    const resumable = this.interrupted.splice(0);
    for (const execution of resumable) {
      if (this.closed || execution.status !== 'RUNNING') continue;
      let parsed: unknown;
      try {
        parsed = JSON.parse(execution.input);
      } catch (error) {
        this.finish(execution, 'ABORTED', { error: 'States.Runtime', cause: `the journalled input cannot be read again: ${(error as Error).message}` });
        continue;
      }
      this.journal({ executionArn: execution.executionArn, resumedAt: this.now().toISOString() });
      this.log.step('resumed', this.subjectOf(execution), 'the local stack restarted while this approval waited: its workflow runs again from the start (a new review window if the review was still open; a decided one is recorded as decided)', 'warn');
      this.run(execution, parsed);
    }
    return resumable.length;
  }
}

function formatSeconds(seconds: number): string {
  if (seconds % 3600 === 0) return `${seconds / 3600} h`;
  if (seconds >= 120 && seconds % 60 === 0) return `${seconds / 60} min`;
  return `${seconds} s`;
}

