import { type CfnElement } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { CountersignStack } from '../../infra/countersign-stack.js';
import { testApp } from '../support/cdk-app.js';

/**
 * The audit log's keys cannot be disabled or scheduled for deletion by anyone but the break-glass
 * principal (COMPLIANCE-locked objects under a deleted key are unreadable for ever), and any attempt, or a
 * key policy change, raises an alarm.
 */

type Statement = { Sid?: string; Effect: string; Principal?: unknown; Action: string | string[]; Resource: unknown; Condition?: unknown };

function synth(breakGlassPrincipalArn?: string) {
  const app = testApp();
  const stack = new CountersignStack(app, 'Countersign-test', { stage: 'test', breakGlassPrincipalArn });
  const template = Template.fromStack(stack);
  const keyStatements = (key: { node: { defaultChild?: unknown } }) => {
    const id = stack.getLogicalId(key.node.defaultChild as CfnElement);
    return (template.toJSON().Resources[id].Properties.KeyPolicy as { Statement: Statement[] }).Statement;
  };
  return { stack, template, auditKey: keyStatements(stack.auditTrail.key), signingKey: keyStatements(stack.auditTrail.signingKey) };
}

const guard = (statements: Statement[]) => statements.filter((s) => s.Sid === 'NobodyButBreakGlassDisablesOrDeletesTheKey');

describe('the audit keys cannot be disabled or deleted', () => {
  it('without a break-glass principal, both key policies deny ScheduleKeyDeletion and DisableKey to every principal, unconditionally', () => {
    const { auditKey, signingKey } = synth();
    for (const statements of [auditKey, signingKey]) {
      expect(guard(statements)).toEqual([{
        Sid: 'NobodyButBreakGlassDisablesOrDeletesTheKey', Effect: 'Deny', Principal: { AWS: '*' },
        Action: ['kms:ScheduleKeyDeletion', 'kms:DisableKey'], Resource: '*',
      }]);
      // Nothing in the policy allows them either way: the deny is not undone by a more specific allow.
      expect(statements.filter((s) => s.Effect === 'Allow' && [s.Action].flat().some((a) => a === 'kms:ScheduleKeyDeletion' || a === 'kms:DisableKey'))).toEqual([]);
    }
  });

  it('exempts exactly the break-glass principal given in the props', () => {
    const arn = 'arn:aws:iam::111122223333:role/audit-break-glass';
    const { auditKey, signingKey } = synth(arn);
    for (const statements of [auditKey, signingKey]) {
      expect(guard(statements)).toEqual([expect.objectContaining({ Effect: 'Deny', Condition: { ArnNotEquals: { 'aws:PrincipalArn': arn } } })]);
    }
  });

  it('refuses a break-glass value that is not an IAM role or user ARN, naming the expected form', () => {
    expect(() => synth('111122223333')).toThrow(/breakGlassPrincipalArn must be the ARN of an IAM role or user \(arn:aws:iam::<account>:role\/<name>\), got "111122223333"/);
    expect(() => synth('arn:aws:iam::111122223333:root')).toThrow(/breakGlassPrincipalArn must be/);
  });

  it('alarms when CloudTrail records an attempt to disable or delete either key, or a change of its policy', () => {
    const { stack, template } = synth();
    const keyArn = (key: { node: { defaultChild?: unknown } }) => ({ 'Fn::GetAtt': [stack.getLogicalId(key.node.defaultChild as CfnElement), 'Arn'] });
    const keyId = (key: { node: { defaultChild?: unknown } }) => ({ Ref: stack.getLogicalId(key.node.defaultChild as CfnElement) });
    const { key, signingKey } = stack.auditTrail;
    template.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: {
        source: ['aws.kms'],
        'detail-type': ['AWS API Call via CloudTrail'],
        detail: {
          eventSource: ['kms.amazonaws.com'],
          eventName: ['ScheduleKeyDeletion', 'DisableKey', 'PutKeyPolicy'],
          $or: [
            { resources: { ARN: [keyArn(key), keyArn(signingKey)] } },
            { requestParameters: { keyId: [keyArn(key), keyId(key), keyArn(signingKey), keyId(signingKey)] } },
          ],
        },
      },
    });
    const ruleId = stack.getLogicalId(stack.auditTrail.keyGuard.rule.node.defaultChild as CfnElement);
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/Events', MetricName: 'MatchedEvents', Dimensions: [{ Name: 'RuleName', Value: { Ref: ruleId } }],
      Threshold: 1, ComparisonOperator: 'GreaterThanOrEqualToThreshold', TreatMissingData: 'notBreaching',
    });
    expect(stack.alarms).toContain(stack.auditTrail.keyGuard.alarm);
  });
});
