import { createRequire } from 'node:module';
import { Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { approvalDefinitionFromTemplate, placeholderFunctionArn, synthesizeApprovalDefinition } from '../../infra/approval-definition.js';
import { CountersignStack } from '../../infra/countersign-stack.js';
import { WORKFLOW_STATES } from '../../shared/workflow/contract.js';
import { testApp } from '../support/cdk-app.js';

// asl-validator 4 is CommonJS without type declarations.
type AslValidator = (definition: object, options?: { checkPaths?: boolean; checkArn?: boolean }) => { isValid: boolean; errorsText: (separator?: string) => string };
const aslValidator = createRequire(import.meta.url)('asl-validator') as AslValidator;

/** The validator fills in defaults (QueryLanguage) in place: give it a copy. */
const validate = (definition: object) => aslValidator(structuredClone(definition), { checkPaths: true, checkArn: true });

const synthesized = synthesizeApprovalDefinition();
type Definition = { StartAt: string; States: Record<string, Record<string, unknown>> };
const definition = synthesized.definition as Definition;

describe('synthesizeApprovalDefinition (what the local stack runs)', () => {
  it('is valid Amazon States Language (asl-validator, with path and ARN checks)', () => {
    const result = validate(definition);
    expect(result.errorsText('\n')).toBe('');
    expect(result.isValid).toBe(true);
  });

  it('has every state of the workflow contract, and no other', () => {
    expect(Object.keys(definition.States).sort()).toEqual(Object.values(WORKFLOW_STATES).sort());
  });

  it('maps each Task state to the function it invokes', () => {
    expect(synthesized.functionStates).toEqual({
      [WORKFLOW_STATES.requestReview]: 'request-review',
      [WORKFLOW_STATES.remindReviewers]: 'request-review',
      [WORKFLOW_STATES.escalateReview]: 'request-review',
      [WORKFLOW_STATES.recordApproved]: 'record-outcome',
      [WORKFLOW_STATES.recordRejected]: 'record-outcome',
      [WORKFLOW_STATES.recordExpired]: 'record-outcome',
      [WORKFLOW_STATES.recordFailed]: 'record-outcome',
      [WORKFLOW_STATES.closeApprovalWindow]: 'record-outcome',
    });
    expect((definition.States[WORKFLOW_STATES.requestReview]!.Parameters as { FunctionName: string }).FunctionName).toBe(
      'arn:aws:lambda:us-east-1:000000000000:function:request-review',
    );
  });

  it('is plain JSON: no CloudFormation token is left', () => {
    expect(JSON.stringify(definition)).not.toMatch(/Fn::|"Ref"|\$\{Token/);
  });

  it('is the definition the stack deploys, not a copy', () => {
    const app = testApp();
    const stack = new CountersignStack(app, 'Countersign-prod', { stage: 'prod' });
    expect(approvalDefinitionFromTemplate(Template.fromStack(stack).toJSON())).toEqual(definition);
  });

  it('would be caught by the validator if it were broken (the check is live)', () => {
    const broken = structuredClone(definition);
    broken.States[WORKFLOW_STATES.requestReview]!.Next = 'NoSuchState';
    expect(validate(broken).isValid).toBe(false);
  });
});

describe('approvalDefinitionFromTemplate', () => {
  const machine = (definitionString: unknown) => ({
    Resources: {
      Fn: { Type: 'AWS::Lambda::Function', Properties: { Environment: { Variables: { POWERTOOLS_SERVICE_NAME: 'record-outcome' } } } },
      Machine: { Type: 'AWS::StepFunctions::StateMachine', Properties: { DefinitionString: definitionString } },
    },
  });

  it('resolves Fn::Join, function ARNs and pseudo parameters', () => {
    const template = machine({
      'Fn::Join': ['', ['{"StartAt":"A","States":{"A":{"Type":"Task","Resource":"arn:', { Ref: 'AWS::Partition' }, ':states:::lambda:invoke","Parameters":{"FunctionName":"', { 'Fn::GetAtt': ['Fn', 'Arn'] }, '"},"End":true}}}']],
    });
    expect(approvalDefinitionFromTemplate(template)).toEqual({
      StartAt: 'A',
      States: { A: { Type: 'Task', Resource: 'arn:aws:states:::lambda:invoke', Parameters: { FunctionName: placeholderFunctionArn('record-outcome') }, End: true } },
    });
  });

  it('refuses a token it cannot resolve, rather than leaving it half-resolved', () => {
    const template = machine({ 'Fn::Join': ['', ['{"Comment":"', { 'Fn::GetAtt': ['SomeQueue', 'Arn'] }, '"}']] });
    expect(() => approvalDefinitionFromTemplate(template)).toThrow(/cannot resolve .*SomeQueue/);
  });

  it('wants exactly one state machine', () => {
    expect(() => approvalDefinitionFromTemplate({ Resources: {} })).toThrow(/exactly one AWS::StepFunctions::StateMachine in the template, found 0/);
  });
});
