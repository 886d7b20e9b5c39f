/**
 * Readies the state machine definition the CDK app synthesizes for `aws-local-stepfunctions`, and
 * scales workflow time for `--time-scale`. Emulation only: the states, their Retry/Catch and their
 * data flow are the synthesized ones, unchanged.
 */

/** What `infra/approval-definition.ts` synthesizes: the ASL, and which Task states call which function. */
export interface ApprovalDefinition {
  definition: object;
  functionStates: Record<string, string>;
}

/** How a Task state calls Lambda, read from its `Resource`. */
export type LambdaIntegration =
  /** `arn:aws:states:::lambda:invoke`: Parameters `{FunctionName, Payload}`, result Lambda's Invoke response. */
  | 'invoke'
  /** `arn:aws:states:::lambda:invoke.waitForTaskToken`: the result is what SendTaskSuccess sends. */
  | 'callback'
  /** A function ARN as the Resource (CDK `payloadResponseOnly`): the input is the payload, the result the function's. */
  | 'function';

export function lambdaIntegrationOf(resource: string): LambdaIntegration | undefined {
  if (/^arn:aws[a-z-]*:states:::lambda:invoke$/.test(resource)) return 'invoke';
  if (/^arn:aws[a-z-]*:states:::lambda:invoke\.waitForTaskToken$/.test(resource)) return 'callback';
  if (/^arn:aws[a-z-]*:lambda:/.test(resource)) return 'function';
  return undefined;
}

/**
 * Where the runner puts a Task state's resolved `TimeoutSecondsPath`. Step Functions resolves the
 * path against the state's input; aws-local-stepfunctions 3.0 resolves it against the output of
 * `Parameters` (see `TaskStateAction.getTimeoutMs`), where `$.timing` no longer exists. So the
 * runner resolves the path inside `Parameters` itself and points `TimeoutSecondsPath` at the result;
 * the task override removes the field before the function sees the payload.
 */
export const RESOLVED_TIMEOUT_FIELD = 'CountersignLocalTimeoutSeconds';

/** The stand-in for `$$.Task.Token`: the library has no task tokens, the runner mints one per task. */
export const TASK_TOKEN_PLACEHOLDER = 'countersign-local:task-token-placeholder';

export interface TaskStateInfo {
  name: string;
  resource: string;
  integration: LambdaIntegration | undefined;
  /** Whether `TimeoutSecondsPath` was moved into `Parameters` (see RESOLVED_TIMEOUT_FIELD). */
  timeoutResolvedInParameters: boolean;
}

export interface PreparedDefinition {
  definition: Record<string, unknown>;
  tasks: Map<string, TaskStateInfo>;
  /** Wait states with a literal `Seconds`, for `waitTimeOverrides`. */
  literalWaits: Map<string, number>;
  /** Every `TimeoutSecondsPath`, `HeartbeatSecondsPath` and Wait `SecondsPath`, to check they are time-scaled. */
  durationPaths: string[];
}

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export class WorkflowDefinitionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WorkflowDefinitionError';
  }
}

/** A copy of the definition ready for the library, and what the runner needs to know about its states. */
export function prepareDefinition(source: object): PreparedDefinition {
  const definition = structuredClone(source) as Json;
  if (definition.QueryLanguage === 'JSONata') {
    throw new WorkflowDefinitionError('the approval state machine uses JSONata, which aws-local-stepfunctions 3.0 cannot run; synthesize it with JSONPath (the CDK default)');
  }
  const prepared: PreparedDefinition = { definition, tasks: new Map(), literalWaits: new Map(), durationPaths: [] };
  walkStates(definition, prepared);
  return prepared;
}

function walkStates(machine: Json, prepared: PreparedDefinition): void {
  const states = machine.States;
  if (!isObject(states)) throw new WorkflowDefinitionError('the state machine definition has no States object');
  for (const [name, state] of Object.entries(states)) {
    if (!isObject(state)) continue;
    if (state.QueryLanguage === 'JSONata') throw new WorkflowDefinitionError(`state "${name}" uses JSONata, which aws-local-stepfunctions 3.0 cannot run`);
    switch (state.Type) {
      case 'Task':
        prepareTask(name, state, prepared);
        break;
      case 'Wait':
        if (typeof state.Seconds === 'number') prepared.literalWaits.set(name, state.Seconds);
        if (typeof state.SecondsPath === 'string') prepared.durationPaths.push(state.SecondsPath);
        break;
      case 'Parallel':
        for (const branch of Array.isArray(state.Branches) ? state.Branches : []) if (isObject(branch)) walkStates(branch, prepared);
        break;
      case 'Map': {
        const processor = state.ItemProcessor ?? state.Iterator;
        if (isObject(processor)) walkStates(processor, prepared);
        break;
      }
      default:
        break;
    }
  }
}

function prepareTask(name: string, state: Json, prepared: PreparedDefinition): void {
  const resource = typeof state.Resource === 'string' ? state.Resource : '';
  let timeoutResolvedInParameters = false;
  if (typeof state.HeartbeatSecondsPath === 'string') prepared.durationPaths.push(state.HeartbeatSecondsPath);
  if (typeof state.TimeoutSecondsPath === 'string') {
    prepared.durationPaths.push(state.TimeoutSecondsPath);
    if (isObject(state.Parameters)) {
      state.Parameters = { ...state.Parameters, [`${RESOLVED_TIMEOUT_FIELD}.$`]: state.TimeoutSecondsPath };
      state.TimeoutSecondsPath = `$.${RESOLVED_TIMEOUT_FIELD}`;
      timeoutResolvedInParameters = true;
    }
  }
  prepared.tasks.set(name, { name, resource, integration: lambdaIntegrationOf(resource), timeoutResolvedInParameters });
}

/** Rounded up to whole seconds, at least 1: ASL durations are positive integers. */
export function scaleSeconds(seconds: number, timeScale: number): number {
  return Math.max(1, Math.ceil(seconds / timeScale));
}

/**
 * What `--time-scale N` scales, in the execution input: every number in its `timing` object (the
 * workflow contract's `ApprovalTiming`: reminderAfterSeconds, deadlineAfterSeconds,
 * escalationSeconds), divided by N and rounded up to whole seconds (at least 1). The states read
 * their timeouts from there, so reminders, deadlines, escalation windows and expiry all come N
 * times sooner. The functions see the scaled `timing` too, so the expiry they show matches the
 * clock. Lambda task timeouts and Retry intervals are not scaled: they pace real calls.
 */
export function scaleExecutionInput(input: unknown, timeScale: number): unknown {
  if (timeScale === 1 || !isObject(input) || !isObject(input.timing)) return input;
  const timing: Json = {};
  for (const [field, value] of Object.entries(input.timing)) {
    timing[field] = typeof value === 'number' && Number.isFinite(value) && value > 0 ? scaleSeconds(value, timeScale) : value;
  }
  return { ...input, timing };
}

/** Duration paths that do not read the scaled `timing`: `--time-scale` would not speed them up. */
export function unscaledDurationPaths(prepared: PreparedDefinition): string[] {
  return prepared.durationPaths.filter((path) => !/(^|\.)timing\./.test(path));
}

/** A deep copy of `value` with every string equal to `placeholder` replaced by `replacement`. */
export function replaceString<T>(value: T, placeholder: string, replacement: string): T {
  if (value === placeholder) return replacement as T;
  if (Array.isArray(value)) return value.map((item: unknown) => replaceString(item, placeholder, replacement)) as T;
  if (isObject(value)) {
    const copy: Json = {};
    for (const [key, item] of Object.entries(value)) copy[key] = replaceString(item, placeholder, replacement);
    return copy as T;
  }
  return value;
}
