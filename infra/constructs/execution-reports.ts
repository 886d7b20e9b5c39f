import { Duration } from 'aws-cdk-lib';
import { Alarm, ComparisonOperator, Metric, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import { Rule, type EventPattern, type IEventBus } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { ENV } from '../../shared/config.js';
import { ACTION_EXECUTED_PATTERN, AGENT_LIMITED_PATTERN } from '../../shared/store-schema.js';
import { grantItems } from './decision-store.js';
import { HouseFunction, type PowertoolsLogLevel } from './house-function.js';
import { REVIEW_TABLE_ACTIONS, type SlackReviews } from './slack-reviews.js';

export interface ExecutionReportsProps {
  readonly table: ITable;
  /** The Countersign bus: agents put `Action Executed` on it. */
  readonly eventBus: IEventBus;
  /** Where reports go that infrastructure failures keep from being recorded (the intake's queue). */
  readonly deadLetterQueue: IQueue;
  /** For the Slack bot token and the approver directory (alerts go to approver channels). */
  readonly reviews: SlackReviews;
  /** @default 10 */
  readonly retryAttempts?: number;
  /** @default 1 hour */
  readonly maxEventAge?: Duration;
  /** @default - the house default */
  readonly logRetention?: RetentionDays;
  /** @default - the house default */
  readonly logLevel?: PowertoolsLogLevel;
}

/**
 * Issue 12, layer 1: agents report what they did (`Action Executed`). A rule on the bus hands each report
 * to record-execution, which records the execution, or the violation with its rule, once; posts violations
 * to the approver channel (or the directory's security group); and updates the review message.
 * `ExecutionViolationsAlarm` fires on any violation: one is an agent acting outside what was decided.
 * A second rule hands it evaluate-action's `Agent Requests Limited` events: it posts each burst's one line.
 */
export class ExecutionReports extends Construct {
  readonly recordExecution: HouseFunction;
  readonly rule: Rule;
  /** evaluate-action's `Agent Requests Limited` (source `countersign`), to record-execution, which posts the burst's line. */
  readonly agentLimitedRule: Rule;
  readonly violationsAlarm: Alarm;
  readonly errorsAlarm: Alarm;

  constructor(scope: Construct, id: string, props: ExecutionReportsProps) {
    super(scope, id);
    const directory = props.reviews.directoryBundle;
    this.recordExecution = new HouseFunction(this, 'RecordExecution', {
      entry: 'functions/record-execution/handler.ts',
      serviceName: 'record-execution',
      description: 'Countersign: records Action Executed reports (or the violation, alerted) and shows them on the review message; posts flood-control burst lines',
      timeout: Duration.seconds(30),
      environment: {
        [ENV.tableName]: props.table.tableName,
        [ENV.slackBotTokenSecretArn]: props.reviews.slackBotTokenSecret.secretArn,
        ...directory.environment,
      },
      bundledFiles: [directory.file],
      deadLetterQueue: props.deadLetterQueue,
      retryAttempts: 2,
      maxEventAge: props.maxEventAge ?? Duration.hours(1),
      logRetention: props.logRetention,
      logLevel: props.logLevel,
    });
    const fn = this.recordExecution.function;
    // DynamoExecutionStore and the review store's getByAction: GetItem of the request (and review) item,
    // the executed/violation Put and the request's eventSeq/execution Update (each a TransactWriteItems item),
    // Query of the votes and, for a request recorded before event numbering, its events.
    grantItems(props.table, fn, ['requests', 'reviews'], ...REVIEW_TABLE_ACTIONS);
    // The reporting agent's quarantine (DynamoAgentGuard.quarantineOf): one GetItem of its state item; and
    // its violation-alert count (countViolationAlert): UpdateItem of its window's item.
    grantItems(props.table, fn, ['agents'], 'dynamodb:GetItem', 'dynamodb:UpdateItem');
    props.table.encryptionKey?.grant(fn, 'kms:Decrypt');
    props.reviews.grantBotToken(this.recordExecution.role);

    const eventPattern: EventPattern = {
      detailType: [...ACTION_EXECUTED_PATTERN['detail-type']],
      source: ACTION_EXECUTED_PATTERN.source.map((filter) => ({ ...filter })) as unknown as string[],
    };
    this.rule = new Rule(this, 'ActionExecutedRule', {
      eventBus: props.eventBus,
      eventPattern,
      description: 'Action Executed reports from agents, to record-execution',
    });
    const target = new LambdaFunction(fn, { retryAttempts: props.retryAttempts ?? 10, maxEventAge: props.maxEventAge ?? Duration.hours(1), deadLetterQueue: props.deadLetterQueue });
    this.rule.addTarget(target);

    // Issue 16: the one line per flood-control burst. record-execution already holds the bot token, the Teams
    // credentials and the directory for violation alerts; evaluate-action (untrusted input) holds none of them.
    this.agentLimitedRule = new Rule(this, 'AgentLimitedRule', {
      eventBus: props.eventBus,
      eventPattern: { detailType: [...AGENT_LIMITED_PATTERN['detail-type']], source: [...AGENT_LIMITED_PATTERN.source] },
      description: 'Agent Requests Limited from evaluate-action (flood control), to record-execution',
    });
    this.agentLimitedRule.addTarget(target);

    this.violationsAlarm = new Alarm(this, 'ExecutionViolationsAlarm', {
      alarmDescription: 'Countersign: an agent reported an execution that was not permitted as reported (no decision, not allowed, changed payload, expired, repeated, or malformed); see the execution_violation records and record-execution\'s logs',
      metric: new Metric({ namespace: 'Countersign', metricName: 'ExecutionViolations', dimensionsMap: { service: 'record-execution' }, period: Duration.minutes(5), statistic: 'Sum' }),
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });
    this.errorsAlarm = new Alarm(this, 'RecordExecutionErrorsAlarm', {
      alarmDescription: 'Countersign: record-execution failed (bad reports never fail it, so this is infrastructure); reports are retried, then dead-lettered; see its logs',
      metric: fn.metricErrors({ period: Duration.minutes(5), statistic: 'Sum' }),
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });
  }
}
