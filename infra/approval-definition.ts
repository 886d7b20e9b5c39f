import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import { CountersignStack } from './countersign-stack.js';
import { cdkJsonContext } from './cdk-context.js';

/**
 * The approval state machine exactly as the CDK app synthesizes it, as plain Amazon States Language, for the
 * local stack (which runs it on aws-local-stepfunctions) and for tests. Nothing here is a hand-written copy:
 * the definition comes out of the CloudFormation template, with its tokens resolved.
 */

export type WorkflowFunction = 'request-review' | 'record-outcome';

/** The account, region and partition the placeholder ARNs use. */
export const PLACEHOLDER_ACCOUNT = '000000000000';
export const PLACEHOLDER_REGION = 'us-east-1';

/** The readable stand-in for a function's ARN in the resolved definition. */
export function placeholderFunctionArn(serviceName: string): string {
  return `arn:aws:lambda:${PLACEHOLDER_REGION}:${PLACEHOLDER_ACCOUNT}:function:${serviceName}`;
}

const PSEUDO_PARAMETERS: Record<string, string> = {
  'AWS::Partition': 'aws',
  'AWS::Region': PLACEHOLDER_REGION,
  'AWS::AccountId': PLACEHOLDER_ACCOUNT,
  'AWS::URLSuffix': 'amazonaws.com',
};

type Json = Record<string, unknown>;
type Resource = { Type?: string; Properties?: Json };

export class ApprovalDefinitionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ApprovalDefinitionError';
  }
}

/**
 * Finds the one `AWS::StepFunctions::StateMachine` in a synthesized CloudFormation template and resolves its
 * `DefinitionString` into a plain ASL object: each Lambda function ARN (`Fn::GetAtt [<function>, Arn]`)
 * becomes `placeholderFunctionArn(<its POWERTOOLS_SERVICE_NAME>)`, pseudo parameters become placeholders
 * (`aws`, us-east-1, 000000000000). Any other token is an error, so a new kind of reference cannot slip
 * through as a half-resolved string.
 */
export function approvalDefinitionFromTemplate(template: object): object {
  const resources = ((template as { Resources?: Record<string, Resource> }).Resources ?? {}) as Record<string, Resource>;
  const machines = Object.entries(resources).filter(([, r]) => r.Type === 'AWS::StepFunctions::StateMachine');
  if (machines.length !== 1) {
    throw new ApprovalDefinitionError(`expected exactly one AWS::StepFunctions::StateMachine in the template, found ${machines.length}`);
  }
  const [machineId, machine] = machines[0]!;
  const definition = machine.Properties?.DefinitionString;
  if (definition === undefined) {
    throw new ApprovalDefinitionError(`state machine ${machineId} has no DefinitionString (an S3 DefinitionS3Location cannot be resolved offline)`);
  }
  const text = resolveString(definition, resources, machineId);
  try {
    return JSON.parse(text) as object;
  } catch (error) {
    throw new ApprovalDefinitionError(`state machine ${machineId}: the resolved definition is not JSON: ${(error as Error).message}`);
  }
}

function resolveString(value: unknown, resources: Record<string, Resource>, machineId: string): string {
  if (typeof value === 'string') return value;
  const token = value as Json;
  const join = token['Fn::Join'] as [string, unknown[]] | undefined;
  if (join !== undefined) return join[1].map((part) => resolveString(part, resources, machineId)).join(join[0]);
  const ref = token.Ref;
  if (typeof ref === 'string' && ref in PSEUDO_PARAMETERS) return PSEUDO_PARAMETERS[ref]!;
  const getAtt = token['Fn::GetAtt'] as [string, string] | undefined;
  if (getAtt !== undefined && getAtt[1] === 'Arn') {
    const target = resources[getAtt[0]];
    const service = (target?.Properties?.Environment as { Variables?: Json } | undefined)?.Variables?.POWERTOOLS_SERVICE_NAME;
    if (target?.Type === 'AWS::Lambda::Function' && typeof service === 'string') return placeholderFunctionArn(service);
  }
  throw new ApprovalDefinitionError(`state machine ${machineId}: cannot resolve ${JSON.stringify(value)} in its definition offline`);
}

export interface SynthesizedApprovalDefinition {
  /** The state machine's ASL, Lambda ARNs replaced by `placeholderFunctionArn(...)`. */
  definition: object;
  /** Each Task state's name -> the function it invokes (Parameters.FunctionName). */
  functionStates: Record<string, WorkflowFunction>;
}

const WORKFLOW_FUNCTIONS: readonly WorkflowFunction[] = ['request-review', 'record-outcome'];

/**
 * Synthesizes the CountersignStack (no bundling: only the template is needed) and returns its approval state
 * machine as plain ASL, with the Task states mapped to the functions they invoke.
 */
export function synthesizeApprovalDefinition(): SynthesizedApprovalDefinition {
  const outdir = mkdtempSync(join(tmpdir(), 'countersign-approval-definition-'));
  try {
    const app = new App({ outdir, context: { ...cdkJsonContext(), 'aws:cdk:bundling-stacks': [] } });
    const stack = new CountersignStack(app, 'Countersign-local', { stage: 'local' });
    const template = app.synth().getStackArtifact(stack.artifactId).template as object;
    const definition = approvalDefinitionFromTemplate(template);
    return { definition, functionStates: functionStatesOf(definition) };
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}

function functionStatesOf(definition: object): Record<string, WorkflowFunction> {
  const byArn = new Map(WORKFLOW_FUNCTIONS.map((name) => [placeholderFunctionArn(name), name] as const));
  const states = (definition as { States?: Record<string, { Type?: string; Parameters?: { FunctionName?: unknown } }> }).States ?? {};
  const result: Record<string, WorkflowFunction> = {};
  for (const [name, state] of Object.entries(states)) {
    if (state.Type !== 'Task') continue;
    const fn = byArn.get(String(state.Parameters?.FunctionName));
    if (fn === undefined) {
      throw new ApprovalDefinitionError(`Task state ${name} invokes ${JSON.stringify(state.Parameters?.FunctionName)}, not one of ${WORKFLOW_FUNCTIONS.join(', ')}`);
    }
    result[name] = fn;
  }
  return result;
}
