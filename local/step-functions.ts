import { randomUUID } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { AwsServiceError, type AwsOperations } from './aws-json-server.js';
import { silentLogger, type Logger } from './log.js';

/**
 * Step Functions `StartExecution`, enough for the spine: executions are recorded by name with AWS's
 * semantics (DESIGN.md decision 6 relies on them), and nothing runs yet. The workflow runner that
 * executes the synthesized state machine replaces this with the Slack approvals issue; callers only
 * use `operations` and `onExecutionStarted`, so the swap stays small.
 *
 * AWS semantics kept (StartExecution API reference):
 * - same name, same input, execution open -> success with the first execution's ARN and startDate;
 * - same name, different input -> `ExecutionAlreadyExists` (an execution closed would also be, but
 *   nothing closes here yet);
 * - a malformed ARN -> `InvalidArn`; a well-formed one that is not deployed -> `StateMachineDoesNotExist`;
 * - names of 1-80 characters without whitespace, brackets, wildcards, `"#%\^|~`$&,;:/` or control
 *   characters, else `InvalidName`; input must be JSON, else `InvalidExecutionInput`.
 */

export interface Execution {
  executionArn: string;
  stateMachineArn: string;
  name: string;
  input: string;
  startDate: string;
}

export interface LocalStepFunctionsOptions {
  stateMachineArns: readonly string[];
  /** Executions are kept here (JSON lines) so a restarted stack keeps AWS's name semantics. */
  journalFile?: string;
  log?: Logger;
  now?: () => Date;
}

const STATE_MACHINE_ARN = /^arn:aws[a-z-]*:states:([a-z0-9-]+):(\d{12}):stateMachine:([A-Za-z0-9_-]{1,80})$/;
const INVALID_NAME_CHARACTERS = /[\s<>{}[\]?*"#%\\^|~`$&,;:/\u0000-\u001f\u007f-\u009f]/;
const MAX_INPUT_BYTES = 256 * 1024;

export class LocalStepFunctions {
  private readonly executions = new Map<string, Execution>();
  private readonly listeners = new Set<(execution: Execution) => void>();

  constructor(private readonly options: LocalStepFunctionsOptions) {
    const file = options.journalFile;
    if (file !== undefined && existsSync(file)) {
      for (const line of readFileSync(file, 'utf8').split('\n')) {
        if (line.trim() === '') continue;
        const execution = JSON.parse(line) as Execution;
        this.executions.set(execution.executionArn, execution);
      }
    }
  }

  get operations(): AwsOperations {
    return { 'AWSStepFunctions.StartExecution': (input) => this.startExecution(input) };
  }

  /** Told of each new execution (not of an idempotent repeat); returns an unsubscribe function. */
  onExecutionStarted(listener: (execution: Execution) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  list(): readonly Execution[] {
    return [...this.executions.values()];
  }

  startExecution(input: Record<string, unknown>): { executionArn: string; startDate: number } {
    const { stateMachineArn, name = randomUUID(), input: executionInput = '{}' } = input;
    if (typeof stateMachineArn !== 'string' || stateMachineArn === '') {
      throw new AwsServiceError('ValidationException', "1 validation error detected: Value null at 'stateMachineArn' failed to satisfy constraint: Member must not be null");
    }
    const arn = STATE_MACHINE_ARN.exec(stateMachineArn);
    if (arn === null) throw new AwsServiceError('InvalidArn', `Invalid Arn: '${stateMachineArn}'`);
    if (!this.options.stateMachineArns.includes(stateMachineArn)) {
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
      if (existing.input !== executionInput) {
        throw new AwsServiceError('ExecutionAlreadyExists', `Execution Already Exists: '${executionArn}'`);
      }
      return { executionArn, startDate: Date.parse(existing.startDate) / 1000 };
    }
    const execution: Execution = {
      executionArn,
      stateMachineArn,
      name,
      input: executionInput,
      startDate: (this.options.now?.() ?? new Date()).toISOString(),
    };
    this.executions.set(executionArn, execution);
    if (this.options.journalFile !== undefined) {
      mkdirSync(dirname(this.options.journalFile), { recursive: true });
      appendFileSync(this.options.journalFile, `${JSON.stringify(execution)}\n`, 'utf8');
    }
    this.announce(execution, parsedInput);
    for (const listener of this.listeners) listener(execution);
    return { executionArn, startDate: Date.parse(execution.startDate) / 1000 };
  }

  private announce(execution: Execution, input: unknown): void {
    const log = this.options.log ?? silentLogger;
    const fields = typeof input === 'object' && input !== null
      ? input as { actionId?: unknown; approval?: { approvers?: unknown; quorum?: unknown; timeout?: unknown } }
      : {};
    const actionId = typeof fields.actionId === 'string' ? fields.actionId : execution.name;
    const approval = fields.approval;
    const needs = approval && typeof approval.approvers === 'string'
      ? `${approval.approvers}, quorum ${String(approval.quorum ?? 1)}${typeof approval.timeout === 'string' ? `, timeout ${approval.timeout}` : ''}: `
      : '';
    log.step('pending', actionId, `approval workflow started${needs === '' ? '' : ` (${needs.slice(0, -2)})`}; reviews arrive with the Slack approvals issue`, 'warn');
  }
}
