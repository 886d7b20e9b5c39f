import { CfnOutput, Stack, Tags, type StackProps } from 'aws-cdk-lib';
import type { IAlarm } from 'aws-cdk-lib/aws-cloudwatch';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { IStateMachine } from 'aws-cdk-lib/aws-stepfunctions';
import type { Construct } from 'constructs';
import { ActionIntake } from './constructs/action-intake.js';
import { DecisionApi } from './constructs/decision-api.js';
import { DecisionStore } from './constructs/decision-store.js';
import type { PowertoolsLogLevel } from './constructs/house-function.js';

export const STAGE_PATTERN = /^[a-z][a-z0-9-]{0,15}$/;

export interface CountersignStackProps extends StackProps {
  /** Deployment stage, e.g. `dev`, `staging`, `prod`: lowercase letters, digits and "-", at most 16. */
  readonly stage: string;
  /**
   * Protects the stack from `cdk destroy` / DeleteStack.
   * @default - true for the `prod` stage, false otherwise
   */
  readonly terminationProtection?: boolean;
  /**
   * The approval workflow (arrives with the Slack issue).
   * @default - none: requests that need approval stay `pending`
   */
  readonly approvalStateMachine?: IStateMachine;
  /** @default - the house default */
  readonly logRetention?: RetentionDays;
  /** @default 'INFO' */
  readonly logLevel?: PowertoolsLogLevel;
}

/**
 * Countersign's one stack: it composes the capabilities and holds no resources of its own. The stateful
 * resources (table, its key, the bus, the archive, the dead-letter queue) are retained on deletion and pinned
 * by logical id in the infra tests; the prod stack is also termination-protected.
 */
export class CountersignStack extends Stack {
  readonly store: DecisionStore;
  readonly intake: ActionIntake;
  readonly decisionApi: DecisionApi;
  /** Every alarm, without actions: a later issue routes them. */
  readonly alarms: IAlarm[];

  constructor(scope: Construct, id: string, props: CountersignStackProps) {
    if (!STAGE_PATTERN.test(props.stage)) {
      throw new Error(`CountersignStack: stage "${props.stage}" must match ${STAGE_PATTERN} (e.g. dev, staging, prod)`);
    }
    super(scope, id, {
      description: `Countersign (${props.stage}): a human checkpoint in front of AI agents' privileged actions`,
      ...props,
      terminationProtection: props.terminationProtection ?? props.stage === 'prod',
    });
    Tags.of(this).add('project', 'countersign');
    Tags.of(this).add('stage', props.stage);

    this.store = new DecisionStore(this, 'DecisionStore');
    this.intake = new ActionIntake(this, 'Intake', {
      table: this.store.table,
      approvalStateMachine: props.approvalStateMachine,
      logRetention: props.logRetention,
      logLevel: props.logLevel,
    });
    this.decisionApi = new DecisionApi(this, 'DecisionApi', {
      table: this.store.table,
      logRetention: props.logRetention,
      logLevel: props.logLevel,
    });
    this.alarms = [this.intake.deadLetterAlarm, this.intake.evaluateErrorsAlarm];

    new CfnOutput(this, 'EventBusName', {
      value: this.intake.eventBus.eventBusName,
      description: 'Agents send Action Requested here (PutEvents EventBusName)',
    });
    new CfnOutput(this, 'EventBusArn', { value: this.intake.eventBus.eventBusArn });
    new CfnOutput(this, 'DecisionTableName', { value: this.store.table.tableName });
    new CfnOutput(this, 'DeadLetterQueueUrl', { value: this.intake.deadLetterQueue.queueUrl });
    new CfnOutput(this, 'RequestArchiveArn', {
      value: this.intake.archive.archiveArn,
      description: 'Replay Action Requested events from here (aws events start-replay --event-source-arn)',
    });
  }
}
