import { App, Stack, Validations } from 'aws-cdk-lib';
import { CfnFunction } from 'aws-cdk-lib/aws-lambda';
import { StateMachine } from 'aws-cdk-lib/aws-stepfunctions';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { describe, expect, it } from 'vitest';
import { CountersignStack } from '../../infra/countersign-stack.js';

function violations(scope: IConstruct) {
  return new AwsSolutionsChecks().validateScope(scope).violations.map((v) => ({
    rule: v.ruleName,
    severity: v.severity,
    resources: v.violatingResources.map((r) => r.constructPath),
  }));
}

/** Every acknowledgement in the tree, as "construct path: rule id". */
function acknowledgements(scope: IConstruct): Array<{ at: string; id: string; reason: string }> {
  return scope.node.findAll().flatMap((construct) =>
    construct.node.metadata
      .filter((entry) => entry.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
      .flatMap((entry) =>
        Object.entries(entry.data as Record<string, string>).map(([id, reason]) => ({ at: construct.node.path, id: id.replace(/^annotation::/i, ''), reason })),
      ),
  );
}

describe('cdk-nag AwsSolutionsChecks', () => {
  it.each(['test', 'prod'])('finds nothing unacknowledged in the %s stack, errors or warnings', (stage) => {
    const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
    const stack = new CountersignStack(app, `Countersign-${stage}`, { stage });
    expect(violations(stack)).toEqual([]);
  });

  it('finds nothing unacknowledged with the approval workflow attached', () => {
    const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
    const workflow = new Stack(app, 'Workflow');
    const approvalStateMachine = StateMachine.fromStateMachineArn(workflow, 'Approval', 'arn:aws:states:eu-west-1:123456789012:stateMachine:approval');
    const stack = new CountersignStack(app, 'Countersign-test', { stage: 'test', approvalStateMachine });
    expect(violations(stack)).toEqual([]);
  });

  // The list of acknowledgements is part of the security review: a new one must show up here.
  it('acknowledges only these rules, each where it applies and with a reason', () => {
    const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
    const stack = new CountersignStack(app, 'Countersign-test', { stage: 'test' });
    const found = acknowledgements(stack);
    expect(found.map(({ at, id }) => `${at}: ${id}`).sort()).toEqual([
      'Countersign-test/DecisionApi/Handler: AwsSolutions-IAM5[Resource::*]',
      'Countersign-test/DecisionApi/Handler: AwsSolutions-L1',
      'Countersign-test/Intake/EvaluateAction: AwsSolutions-IAM5[Resource::*]',
      'Countersign-test/Intake/EvaluateAction: AwsSolutions-L1',
    ]);
    for (const { reason } of found) expect(reason.length).toBeGreaterThan(60);
  });

  it('does report what it is meant to catch (the check is live)', () => {
    const app = new App();
    const stack = new Stack(app, 'Bare');
    new CfnFunction(stack, 'OldRuntime', { code: { zipFile: 'x' }, role: 'arn:aws:iam::123456789012:role/r', runtime: 'nodejs22.x', handler: 'index.handler' });
    expect(violations(stack).map((v) => v.rule)).toContain('AwsSolutions-L1');
  });
});
