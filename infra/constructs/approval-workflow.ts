import { CfnElement, Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import { Alarm, ComparisonOperator, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import {
  Choice,
  Condition,
  DefinitionBody,
  IntegrationPattern,
  JitterType,
  JsonPath,
  LogLevel,
  StateMachine,
  StateMachineType,
  Succeed,
  TaskInput,
  Timeout,
  Wait,
  WaitTime,
  type RetryProps,
} from 'aws-cdk-lib/aws-stepfunctions';
import { LambdaInvoke } from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import { MAX_TIMEOUT_SECONDS, MAX_VALID_FOR_SECONDS } from '../../shared/policy/annotations.js';
import type { RecordOutcomeEvent, ReviewPhase } from '../../shared/workflow/contract.js';
import { REJECTED_ERROR, REVIEW_CLOSED_ERROR, WORKFLOW_STATES } from '../../shared/workflow/contract.js';

export interface ApprovalWorkflowProps {
  /** Posts (and re-posts) the review in Slack and stores the task token; invoked with `.waitForTaskToken`. */
  readonly requestReview: IFunction;
  /** Writes the outcome item, publishes `Action Decided`, updates the Slack message. */
  readonly recordOutcome: IFunction;
  /**
   * Backstop for a whole execution. Every wait has its own timeout from the execution input (the policy's
   * `@timeout`, at most 7 days: reminder + deadline + escalation add up to 1.5 times that), so this only
   * fires if something is badly wrong; it then alarms (`TimedOutAlarm`), since such an execution records no
   * outcome. Must leave room for the longest policy timeout.
   * @default Duration.days(14)
   */
  readonly executionTimeout?: Duration;
  /**
   * Retention of the execution log group.
   * @default RetentionDays.THREE_MONTHS
   */
  readonly logRetention?: RetentionDays;
}

/** The Lambda errors Step Functions reports for the Lambda service itself (not the function's code). */
export const LAMBDA_SERVICE_ERRORS = [
  'Lambda.ServiceException',
  'Lambda.AWSLambdaException',
  'Lambda.SdkClientException',
  'Lambda.TooManyRequestsException',
] as const;

/** The longest the three waits of one review can take (reminder + deadline + escalation), in seconds. */
const LONGEST_REVIEW_SECONDS = Math.ceil(MAX_TIMEOUT_SECONDS * 1.5) + MAX_VALID_FOR_SECONDS;

/**
 * The approval workflow (DESIGN.md, "approval state machine"): a Standard state machine, started by
 * evaluate-action with execution name = actionId and input = `ApprovalWorkflowInput`.
 *
 * ```
 * RequestReview ──ok──▶ RecordApproved
 *   │ States.Timeout (timing.reminderAfterSeconds)
 *   ▼
 * RemindReviewers ──ok──▶ RecordApproved
 *   │ States.Timeout (timing.deadlineAfterSeconds)
 *   ▼
 * HasEscalation ── approval.escalate present ──▶ EscalateReview ──ok──▶ RecordApproved
 *   │ otherwise                                     │ States.Timeout (timing.escalationSeconds)
 *   ▼                                               ▼
 * RecordExpired ◀───────────────────────────────────┘
 * every review state: Rejected ──▶ RecordRejected, any other error ──▶ RecordFailed (fails closed)
 * ```
 *
 * Every path ends in a Record* state, every wait has a timeout, and an execution whose outcome cannot be
 * recorded (after retries) fails and alarms. Task tokens and request data stay out of the execution log
 * (`includeExecutionData: false`).
 */
export class ApprovalWorkflow extends Construct {
  readonly stateMachine: StateMachine;
  readonly logGroup: LogGroup;
  /** Executions that failed: an outcome could not be recorded. */
  readonly failedAlarm: Alarm;
  /** Executions that hit the backstop timeout: nothing was recorded. */
  readonly timedOutAlarm: Alarm;

  constructor(scope: Construct, id: string, props: ApprovalWorkflowProps) {
    super(scope, id);
    const executionTimeout = props.executionTimeout ?? Duration.days(14);
    if (executionTimeout.toSeconds() <= LONGEST_REVIEW_SECONDS) {
      throw new Error(
        `ApprovalWorkflow ${id}: executionTimeout (${executionTimeout.toHumanString()}) must exceed the longest review, ` +
          `${LONGEST_REVIEW_SECONDS} seconds (1.5 times the 7-day maximum policy @timeout), or long reviews would end unrecorded`,
      );
    }

    const record = (stateName: string, outcome: RecordOutcomeEvent['outcome'], extra: Record<string, unknown>, keep?: { resultPath: string; resultSelector: Record<string, unknown> }) => {
      const task = new LambdaInvoke(this, stateName, {
        stateName,
        lambdaFunction: props.recordOutcome,
        payload: TaskInput.fromObject({ request: JsonPath.objectAt('$$.Execution.Input'), outcome, ...extra }),
        // The function's answer is not needed (except where `keep` says): the state's output stays the input plus $.result / $.error.
        resultPath: keep?.resultPath ?? JsonPath.DISCARD,
        ...(keep === undefined ? {} : { resultSelector: keep.resultSelector }),
        // Lambda's own timeout ends the call first; this only bounds a stuck invocation.
        taskTimeout: Timeout.duration(Duration.minutes(2)),
        retryOnServiceExceptions: false,
      });
      // Recording must outlast an outage of DynamoDB or EventBridge (Slack failures no longer fail it):
      // about an hour and a quarter of retries. Only then does the execution fail (FailedAlarm); a redrive
      // of the execution (StartExecution cannot reuse the name) records it once the cause is fixed.
      task.addRetry(retry([...LAMBDA_SERVICE_ERRORS], { interval: 2, maxAttempts: 10, maxDelay: 300 }));
      task.addRetry(retry(['States.TaskFailed'], { interval: 5, maxAttempts: 20, maxDelay: 300 }));
      return task;
    };
    // The approval's window (issue 12): RecordApproved returns validUntil; the workflow waits until then and
    // has record-outcome show "expired unused" on the review message if no execution was reported.
    const recordApproved = record(WORKFLOW_STATES.recordApproved, 'approved', { result: JsonPath.objectAt('$.result') }, {
      resultPath: '$.recorded',
      resultSelector: { 'validUntil.$': '$.Payload.validUntil' },
    });
    const closeApprovalWindow = record(WORKFLOW_STATES.closeApprovalWindow, 'window_closed', {});
    const waitForApprovalWindow = new Wait(this, WORKFLOW_STATES.waitForApprovalWindow, {
      stateName: WORKFLOW_STATES.waitForApprovalWindow,
      time: WaitTime.timestampPath('$.recorded.validUntil'),
    }).next(closeApprovalWindow);
    recordApproved.next(
      new Choice(this, WORKFLOW_STATES.hasApprovalWindow, { stateName: WORKFLOW_STATES.hasApprovalWindow })
        .when(Condition.and(Condition.isPresent('$.recorded.validUntil'), Condition.isString('$.recorded.validUntil')), waitForApprovalWindow)
        .otherwise(new Succeed(this, WORKFLOW_STATES.approvalRecorded, { stateName: WORKFLOW_STATES.approvalRecorded })),
    );
    const recordRejected = record(WORKFLOW_STATES.recordRejected, 'rejected', { error: JsonPath.objectAt('$.error') });
    const recordExpired = record(WORKFLOW_STATES.recordExpired, 'expired', {});
    const recordFailed = record(WORKFLOW_STATES.recordFailed, 'failed', { error: JsonPath.objectAt('$.error') });

    const review = (stateName: string, phase: ReviewPhase, timeoutPath: string) => {
      const task = new LambdaInvoke(this, stateName, {
        stateName,
        lambdaFunction: props.requestReview,
        integrationPattern: IntegrationPattern.WAIT_FOR_TASK_TOKEN,
        payload: TaskInput.fromObject({
          taskToken: JsonPath.taskToken,
          phase,
          // The execution input, whatever the state's input has gathered on the way ($.error, $.result).
          request: JsonPath.objectAt('$$.Execution.Input'),
        }),
        taskTimeout: Timeout.at(timeoutPath),
        // SendTaskSuccess's output: the ApprovedResult.
        resultPath: '$.result',
        retryOnServiceExceptions: false,
      });
      // Retriers are matched in order. A deny (SendTaskFailure "Rejected") is final, never retried; the
      // wait running out is not an error to retry either (States.TaskFailed excludes States.Timeout).
      // Everything else is the posting failing (Slack down, throttling, the function's own errors): it is
      // retried with backoff, bounded, and a new task token each time, then fails closed via RecordFailed.
      task.addRetry({ errors: [REJECTED_ERROR, REVIEW_CLOSED_ERROR], maxAttempts: 0 });
      task.addRetry(retry([...LAMBDA_SERVICE_ERRORS], { interval: 2, maxAttempts: 6, maxDelay: 60 }));
      task.addRetry(retry(['States.TaskFailed'], { interval: 5, maxAttempts: 6, maxDelay: 300 }));
      return task;
    };
    const requestReview = review(WORKFLOW_STATES.requestReview, 'initial', '$.timing.reminderAfterSeconds');
    const remindReviewers = review(WORKFLOW_STATES.remindReviewers, 'reminder', '$.timing.deadlineAfterSeconds');
    const escalateReview = review(WORKFLOW_STATES.escalateReview, 'escalation', '$.timing.escalationSeconds');
    const hasEscalation = new Choice(this, WORKFLOW_STATES.hasEscalation, { stateName: WORKFLOW_STATES.hasEscalation })
      .when(Condition.isPresent('$.approval.escalate'), escalateReview)
      .otherwise(recordExpired);

    const wire = (task: LambdaInvoke, onTimeout: Choice | LambdaInvoke) => {
      task.next(recordApproved);
      // A timeout carries no information: the next state gets the same input.
      task.addCatch(onTimeout, { errors: ['States.Timeout'], resultPath: JsonPath.DISCARD });
      task.addCatch(recordRejected, { errors: [REJECTED_ERROR], resultPath: '$.error' });
      // ReviewClosed (decided by a vote between phases) and any other error: record-outcome keeps the
      // decision on record, and without one fails closed.
      task.addCatch(recordFailed, { errors: ['States.ALL'], resultPath: '$.error' });
    };
    wire(requestReview, remindReviewers);
    wire(remindReviewers, hasEscalation);
    wire(escalateReview, recordExpired);

    this.logGroup = new LogGroup(this, 'LogGroup', {
      // Step Functions' vended-logs prefix: delivery to it needs no growing CloudWatch Logs resource policy.
      logGroupName: `/aws/vendedlogs/states/${Stack.of(this).stackName}-approval-workflow`,
      retention: props.logRetention ?? RetentionDays.THREE_MONTHS,
      // Named, so a retained group would block re-creating the stack; it holds no execution data anyway.
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.stateMachine = new StateMachine(this, 'StateMachine', {
      stateMachineType: StateMachineType.STANDARD,
      comment: 'Countersign approval: Slack review with reminder, escalation and expiry; every path records an outcome',
      definitionBody: DefinitionBody.fromChainable(requestReview),
      timeout: executionTimeout,
      tracingEnabled: true,
      // ALL events, but never their data: inputs, outputs and parameters carry task tokens and request details.
      logs: { destination: this.logGroup, level: LogLevel.ALL, includeExecutionData: false },
    });

    this.failedAlarm = new Alarm(this, 'FailedAlarm', {
      alarmDescription: 'Countersign: an approval execution failed, so its outcome was not recorded (the request stays pending); see the execution history, fix the cause, redrive it',
      metric: this.stateMachine.metricFailed({ period: Duration.minutes(5), statistic: 'Sum' }),
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });
    this.timedOutAlarm = new Alarm(this, 'TimedOutAlarm', {
      alarmDescription: 'Countersign: an approval execution hit its backstop timeout without recording an outcome (the request stays pending); see the execution history',
      metric: this.stateMachine.metricTimedOut({ period: Duration.minutes(5), statistic: 'Sum' }),
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });

    Validations.of(this.stateMachine).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason: 'Step Functions log delivery (logs:CreateLogDelivery, PutResourcePolicy, ...) and X-Ray (PutTraceSegments, GetSamplingRules, ...) support no resource-level permissions; the least-privilege test pins the exact list.',
    });
    for (const fn of [props.requestReview, props.recordOutcome]) {
      const resource = fn.node.defaultChild;
      if (!(resource instanceof CfnElement)) continue; // an imported function: nag names it differently
      Validations.of(this.stateMachine).acknowledge({
        id: `AwsSolutions-IAM5[Resource::<${Stack.of(this).getLogicalId(resource)}.Arn>:*]`,
        reason: 'lambda:InvokeFunction on the function and its versions/aliases ("<arn>:*"), the grant CDK\'s LambdaInvoke makes; only these two functions, pinned by the least-privilege test.',
      });
    }
  }
}

function retry(errors: string[], { interval, maxAttempts, maxDelay }: { interval: number; maxAttempts: number; maxDelay: number }): RetryProps {
  return {
    errors,
    interval: Duration.seconds(interval),
    maxAttempts,
    backoffRate: 2,
    maxDelay: Duration.seconds(maxDelay),
    jitterStrategy: JitterType.FULL,
  };
}
