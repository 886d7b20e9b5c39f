import { Duration, Token } from 'aws-cdk-lib';
import { Alarm, ComparisonOperator, Metric, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import { Rule } from 'aws-cdk-lib/aws-events';
import { AnyPrincipal, Effect, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import type { Key } from 'aws-cdk-lib/aws-kms';
import { Construct } from 'constructs';

/** The KMS calls that would make what a key protects unreadable (or let someone then do so). */
export const GUARDED_KEY_ACTIONS = ['kms:ScheduleKeyDeletion', 'kms:DisableKey'] as const;
/** The calls that raise the alarm: the guarded ones, and a key policy change (the way around the deny). */
export const ALARMED_KEY_EVENTS = ['ScheduleKeyDeletion', 'DisableKey', 'PutKeyPolicy'] as const;

const IAM_PRINCIPAL_ARN = /^arn:aws[a-z-]*:iam::\d{12}:(role|user)\/[\w+=,.@/-]+$/;

export interface KeyGuardProps {
  /** The keys whose loss would make locked evidence unreadable or unverifiable. */
  readonly keys: readonly Key[];
  /**
   * The one IAM role or user that may still disable or schedule the deletion of these keys (break glass).
   * @default - nobody: the key policy must be changed first (kms:PutKeyPolicy), which raises the alarm
   */
  readonly breakGlassPrincipalArn?: string;
}

/**
 * Object Lock keeps the audit objects, but not the key that encrypts them: whoever may disable the key or
 * schedule its deletion could make COMPLIANCE-locked evidence unreadable for ever. Each key's policy
 * denies kms:ScheduleKeyDeletion and kms:DisableKey to every principal of the account (the root user
 * included) except the break-glass principal, and a rule on the default bus matches CloudTrail's record of
 * any attempt (allowed or denied) and of a key policy change; an alarm fires on a match.
 *
 * kms:PutKeyPolicy is not denied: CloudFormation updates the key policy with it, and KMS's lockout safety
 * check refuses a policy that would lock the caller out. Changing the policy is the way around the deny,
 * so it raises the alarm too.
 */
export class KeyGuard extends Construct {
  readonly rule: Rule;
  readonly alarm: Alarm;

  constructor(scope: Construct, id: string, props: KeyGuardProps) {
    super(scope, id);
    const breakGlass = props.breakGlassPrincipalArn;
    if (breakGlass !== undefined && !Token.isUnresolved(breakGlass) && !IAM_PRINCIPAL_ARN.test(breakGlass)) {
      throw new Error(`KeyGuard ${id}: breakGlassPrincipalArn must be the ARN of an IAM role or user (arn:aws:iam::<account>:role/<name>), got ${JSON.stringify(breakGlass)}`);
    }
    for (const key of props.keys) {
      key.addToResourcePolicy(new PolicyStatement({
        sid: 'NobodyButBreakGlassDisablesOrDeletesTheKey',
        effect: Effect.DENY,
        principals: [new AnyPrincipal()],
        actions: [...GUARDED_KEY_ACTIONS],
        resources: ['*'],
        ...(breakGlass === undefined ? {} : { conditions: { ArnNotEquals: { 'aws:PrincipalArn': breakGlass } } }),
      }));
    }

    this.rule = new Rule(this, 'KeyChangeRule', {
      description: 'Countersign: an attempt to disable, schedule the deletion of, or change the policy of an audit key (CloudTrail)',
      eventPattern: {
        source: ['aws.kms'],
        detailType: ['AWS API Call via CloudTrail'],
        detail: {
          eventSource: ['kms.amazonaws.com'],
          eventName: [...ALARMED_KEY_EVENTS],
          // A denied call may carry the key only as the caller wrote it (id, ARN), not in `resources`.
          $or: [
            { resources: { ARN: props.keys.map((key) => key.keyArn) } },
            { requestParameters: { keyId: props.keys.flatMap((key) => [key.keyArn, key.keyId]) } },
          ],
        },
      },
    });
    this.alarm = new Alarm(this, 'KeyChangeAlarm', {
      alarmDescription: 'Countersign: someone tried to disable or delete an audit key, or changed its policy; without the key the locked audit log is unreadable. Find the caller in CloudTrail.',
      metric: new Metric({ namespace: 'AWS/Events', metricName: 'MatchedEvents', dimensionsMap: { RuleName: this.rule.ruleName }, period: Duration.minutes(5), statistic: 'Sum' }),
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });
  }
}
