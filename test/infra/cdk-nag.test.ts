import { App, Stack, Validations } from 'aws-cdk-lib';
import { CfnFunction } from 'aws-cdk-lib/aws-lambda';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { describe, expect, it } from 'vitest';
import { CountersignStack } from '../../infra/countersign-stack.js';
import { testApp } from '../support/cdk-app.js';

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
    const app = testApp();
    const stack = new CountersignStack(app, `Countersign-${stage}`, { stage });
    expect(violations(stack)).toEqual([]);
  });

  // The list of acknowledgements is part of the security review: a new one must show up here.
  it('acknowledges only these rules, each where it applies and with a reason', () => {
    const app = testApp();
    const stack = new CountersignStack(app, 'Countersign-test', { stage: 'test' });
    const found = acknowledgements(stack);
    const houseFunctions = [
      'DecisionApi/Handler',
      'Credentials/Handler',
      'Intake/EvaluateAction',
      'Reviews/RequestReview',
      'Reviews/RecordOutcome',
      'Reviews/SlackInteractions',
      'Reviews/ReviewApi',
      'Teams/TeamsInteractions',
      'AuditTrail/Writer',
      'AuditTrail/Redrive',
      'AuditTrail/Digest',
      'AuditTrail/Compact',
      'ExecutionReports/RecordExecution',
    ];
    expect(found.map(({ at, id }) => `${at}: ${id}`).sort()).toEqual(
      [
        // X-Ray's "*" and the pinned runtime, per house function.
        ...houseFunctions.flatMap((path) => [`Countersign-test/${path}: AwsSolutions-IAM5[Resource::*]`, `Countersign-test/${path}: AwsSolutions-L1`]),
        // SendTaskSuccess/Failure take no resource; only these three roles hold them.
        'Countersign-test/Reviews/SlackInteractionsTaskCallbacks: AwsSolutions-IAM5[Resource::*]',
        'Countersign-test/Reviews/ReviewApiTaskCallbacks: AwsSolutions-IAM5[Resource::*]',
        'Countersign-test/Teams/TeamsInteractionsTaskCallbacks: AwsSolutions-IAM5[Resource::*]',
        // Slack tokens are rotated in Slack.
        'Countersign-test/Reviews/SlackBotToken: AwsSolutions-SMG4',
        'Countersign-test/Reviews/SlackSigningSecret: AwsSolutions-SMG4',
        // ... and the Teams client secret in Entra ID.
        'Countersign-test/Teams/BotSecret: AwsSolutions-SMG4',
        // Log delivery and X-Ray take no resource; LambdaInvoke's "<function>:*" (versions and aliases).
        'Countersign-test/ApprovalWorkflow/StateMachine: AwsSolutions-IAM5[Resource::*]',
        'Countersign-test/ApprovalWorkflow/StateMachine: AwsSolutions-IAM5[Resource::<ReviewsRequestReviewFunction1D19BE29.Arn>:*]',
        'Countersign-test/ApprovalWorkflow/StateMachine: AwsSolutions-IAM5[Resource::<ReviewsRecordOutcomeFunction32A3C40B.Arn>:*]',
        // ListStreams takes no resource; Lambda needs it for the stream mapping.
        'Countersign-test/AuditTrail/WriterListStreams: AwsSolutions-IAM5[Resource::*]',
        // Object actions under the audit bucket's prefixes, and Lambda-named objects in the failure bucket.
        'Countersign-test/AuditTrail/Writer: AwsSolutions-IAM5[Resource::<AuditTrailBucketA91FD435.Arn>/audit/*]',
        'Countersign-test/AuditTrail/Writer: AwsSolutions-IAM5[Resource::<AuditTrailFailureBucket9A6FB0F7.Arn>/*]',
        'Countersign-test/AuditTrail/Redrive: AwsSolutions-IAM5[Resource::<AuditTrailBucketA91FD435.Arn>/audit/*]',
        'Countersign-test/AuditTrail/Redrive: AwsSolutions-IAM5[Resource::<AuditTrailFailureBucket9A6FB0F7.Arn>/*]',
        'Countersign-test/AuditTrail/Digest: AwsSolutions-IAM5[Resource::<AuditTrailBucketA91FD435.Arn>/audit/*]',
        'Countersign-test/AuditTrail/Digest: AwsSolutions-IAM5[Resource::<AuditTrailBucketA91FD435.Arn>/digests/*]',
        'Countersign-test/AuditTrail/Digest: AwsSolutions-IAM5[Resource::<AuditTrailBucketA91FD435.Arn>/reconciliations/*]',
        'Countersign-test/AuditTrail/Compact: AwsSolutions-IAM5[Resource::<AuditTrailBucketA91FD435.Arn>/audit/*]',
        'Countersign-test/AuditTrail/Compact: AwsSolutions-IAM5[Resource::<AuditTrailBucketA91FD435.Arn>/digests/*]',
        'Countersign-test/AuditTrail/Compact: AwsSolutions-IAM5[Resource::<AuditTrailBucketA91FD435.Arn>/columnar/*]',
        // The L2 Schedule's LambdaInvoke target: the digest function and its versions/aliases.
        'Countersign-test/AuditTrail/DigestScheduleRole: AwsSolutions-IAM5[Resource::<AuditTrailDigestFunctionDC6B6F7D.Arn>:*]',
        'Countersign-test/AuditTrail/CompactScheduleRole: AwsSolutions-IAM5[Resource::<AuditTrailCompactFunctionD82053DB.Arn>:*]',
        'Countersign-test/AuditTrail/RedriveScheduleRole: AwsSolutions-IAM5[Resource::<AuditTrailRedriveFunction4DFE1273.Arn>:*]',
        // An execution role's ceiling: any table of the account; each session is narrowed to the approved one.
        'Countersign-test/Credentials/ExecCountersignExecDbExportCeiling: AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:dynamodb:<AWS::Region>:<AWS::AccountId>:table/*]',
      ].sort(),
    );
    for (const { reason } of found) expect(reason.length).toBeGreaterThan(60);
  });

  it('does report what it is meant to catch (the check is live)', () => {
    const app = new App();
    const stack = new Stack(app, 'Bare');
    new CfnFunction(stack, 'OldRuntime', { code: { zipFile: 'x' }, role: 'arn:aws:iam::123456789012:role/r', runtime: 'nodejs22.x', handler: 'index.handler' });
    expect(violations(stack).map((v) => v.rule)).toContain('AwsSolutions-L1');
  });
});
