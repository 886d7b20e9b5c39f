import { join } from 'node:path';
import { CfnOutput, Stack, Tags, type Duration, type StackProps } from 'aws-cdk-lib';
import type { IAlarm } from 'aws-cdk-lib/aws-cloudwatch';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import { ActionIntake } from './constructs/action-intake.js';
import { ExecutionReports } from './constructs/execution-reports.js';
import { ApprovalWorkflow } from './constructs/approval-workflow.js';
import { AuditTrail, type NamedQuerySpec } from './constructs/audit-trail.js';
import { DecisionApi } from './constructs/decision-api.js';
import { DecisionStore } from './constructs/decision-store.js';
import { ExecutionCredentials } from './constructs/execution-credentials.js';
import { PROJECT_ROOT, type PowertoolsLogLevel } from './constructs/house-function.js';
import { SlackReviews } from './constructs/slack-reviews.js';
import { TeamsReviews } from './constructs/teams-reviews.js';
import { CedarPolicyEngine } from '../shared/policy/cedar-policy-engine.js';

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
   * The approver directory JSON (absolute, or relative to the project root); validated at synth and bundled
   * into the review functions. `infra/app.ts` takes it from `-c directory=<path>`.
   * @default - `config/directory.json`
   */
  readonly directoryFile?: string;
  /**
   * The Bot Connector base URL for the Teams tenant's region, where proactive messages (review cards) go.
   * @default https://smba.trafficmanager.net/teams/
   */
  readonly teamsServiceUrl?: string;
  /**
   * The execution-grant configuration JSON (absolute, or relative to the project root): which approved actions
   * get just-in-time credentials, from which role, with which session policy. Validated at synth; one execution
   * role is created per grant. `infra/app.ts` takes it from `-c executionGrants=<path>`.
   * @default - `config/execution-grants.json`
   */
  readonly executionGrantsFile?: string;
  /** @default - the house default */
  readonly logRetention?: RetentionDays;
  /** @default 'INFO' */
  readonly logLevel?: PowertoolsLogLevel;
  /**
   * Default Object Lock (COMPLIANCE) retention of the audit log, whole days from 1 to 36,500. Once an object
   * is written its retention cannot be shortened by anyone, so choose before the first deploy.
   * @default Duration.days(365)
   */
  readonly auditRetention?: Duration;
  /**
   * The auditors' queries, shipped as Athena named queries.
   * @default - the saved queries of `shared/audit/queries.ts` (the same ones `npm run audit -- query --saved` runs)
   */
  readonly auditQueries?: readonly NamedQuerySpec[];
  /**
   * The one IAM role or user that may disable or schedule the deletion of the audit log's KMS keys
   * (break glass). `infra/app.ts` takes it from `-c breakGlassPrincipalArn=<arn>`.
   * @default - nobody: the key policy must be changed first, which raises the key alarm
   */
  readonly breakGlassPrincipalArn?: string;
}

/**
 * Countersign's one stack: it composes the capabilities and holds no resources of its own. The stateful
 * resources (table, its key, the bus, the archive, the dead-letter queue and its key, the Slack secret and
 * its key, the audit buckets, the audit key and the digest signing key) are retained on deletion and pinned
 * by logical id in the infra tests; the prod stack is also termination-protected.
 */
export class CountersignStack extends Stack {
  readonly store: DecisionStore;
  readonly intake: ActionIntake;
  readonly executionReports: ExecutionReports;
  readonly decisionApi: DecisionApi;
  readonly credentials: ExecutionCredentials;
  readonly reviews: SlackReviews;
  readonly teams: TeamsReviews;
  readonly approvalWorkflow: ApprovalWorkflow;
  readonly auditTrail: AuditTrail;
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
    // Built in this order because each needs the one before: the workflow invokes the review functions,
    // the intake starts the workflow; record-outcome then learns the intake's bus (connectDecisionBus).
    this.reviews = new SlackReviews(this, 'Reviews', {
      table: this.store.table,
      directoryFile: props.directoryFile,
      logRetention: props.logRetention,
      logLevel: props.logLevel,
    });
    this.teams = new TeamsReviews(this, 'Teams', {
      table: this.store.table,
      reviews: this.reviews,
      serviceUrl: props.teamsServiceUrl,
      logRetention: props.logRetention,
      logLevel: props.logLevel,
    });
    this.approvalWorkflow = new ApprovalWorkflow(this, 'ApprovalWorkflow', {
      requestReview: this.reviews.requestReview.function,
      recordOutcome: this.reviews.recordOutcome.function,
      logRetention: props.logRetention,
    });
    this.intake = new ActionIntake(this, 'Intake', {
      table: this.store.table,
      approvalStateMachine: this.approvalWorkflow.stateMachine,
      floodControl: { directory: this.reviews.directoryBundle },
      logRetention: props.logRetention,
      logLevel: props.logLevel,
    });
    this.reviews.connectDecisionBus(this.intake);
    checkDirectoryCoversPolicies(this.reviews);
    this.executionReports = new ExecutionReports(this, 'ExecutionReports', {
      table: this.store.table,
      eventBus: this.intake.eventBus,
      deadLetterQueue: this.intake.deadLetterQueue,
      reviews: this.reviews,
      logRetention: props.logRetention,
      logLevel: props.logLevel,
    });
    // An execution report refreshes the review's Teams card too.
    this.teams.connect(this.executionReports.recordExecution);
    this.decisionApi = new DecisionApi(this, 'DecisionApi', {
      table: this.store.table,
      directoryFile: this.reviews.directoryFile,
      logRetention: props.logRetention,
      logLevel: props.logLevel,
    });
    this.credentials = new ExecutionCredentials(this, 'Credentials', {
      table: this.store.table,
      directoryFile: this.reviews.directoryFile,
      grantsFile: props.executionGrantsFile,
      logRetention: props.logRetention,
      logLevel: props.logLevel,
    });
    this.auditTrail = new AuditTrail(this, 'AuditTrail', {
      table: this.store.table,
      retention: props.auditRetention,
      savedQueries: props.auditQueries,
      breakGlassPrincipalArn: props.breakGlassPrincipalArn,
      logRetention: props.logRetention,
      logLevel: props.logLevel,
    });
    this.alarms = [
      this.intake.deadLetterAlarm,
      this.intake.evaluateErrorsAlarm,
      this.executionReports.violationsAlarm,
      this.executionReports.errorsAlarm,
      this.approvalWorkflow.failedAlarm,
      this.approvalWorkflow.timedOutAlarm,
      ...this.auditTrail.alarms,
    ];

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
    new CfnOutput(this, 'SlackInteractionsUrl', {
      value: this.reviews.slackInteractionsUrl.url,
      description: 'The Slack app\'s Interactivity Request URL (Slack signs each request; the function verifies it)',
    });
    new CfnOutput(this, 'TeamsMessagingEndpoint', {
      value: this.teams.teamsInteractionsUrl.url,
      description: 'The Azure Bot\'s messaging endpoint (the Bot Framework signs each request with its JWT; the function verifies it)',
    });
    new CfnOutput(this, 'TeamsBotSecretArn', {
      value: this.teams.teamsSecret.secretArn,
      description: 'Put the Teams bot credentials here: JSON {"appId":"...","tenantId":"...","clientSecret":"..."}',
    });
    new CfnOutput(this, 'ReviewApiUrl', {
      value: this.reviews.reviewApiUrl.url,
      description: 'Votes for CI pipelines (AWS_IAM auth, SigV4 service "lambda"): POST <url>actions/{actionId}/votes',
    });
    // Callers of the AWS_IAM Function URLs need both lambda:InvokeFunctionUrl and lambda:InvokeFunction on the
    // function (README, "Let an agent in"): their policies name the function, not the URL.
    new CfnOutput(this, 'DecisionApiFunctionArn', {
      value: this.decisionApi.handler.function.functionArn,
      description: 'Grant readers of decisions lambda:InvokeFunctionUrl and lambda:InvokeFunction (InvokedViaFunctionUrl) on this',
    });
    new CfnOutput(this, 'ReviewApiFunctionArn', {
      value: this.reviews.reviewApi.function.functionArn,
      description: 'Grant CI voters lambda:InvokeFunctionUrl and lambda:InvokeFunction (InvokedViaFunctionUrl) on this',
    });
    new CfnOutput(this, 'SlackBotTokenSecretArn', {
      value: this.reviews.slackBotTokenSecret.secretArn,
      description: 'Put the Slack bot token here: JSON {"botToken":"xoxb-..."}',
    });
    new CfnOutput(this, 'SlackSigningSecretArn', {
      value: this.reviews.slackSigningSecret.secretArn,
      description: 'Put the Slack signing secret here: JSON {"signingSecret":"..."}',
    });
    new CfnOutput(this, 'ApprovalStateMachineArn', { value: this.approvalWorkflow.stateMachine.stateMachineArn });
    new CfnOutput(this, 'AuditBucketName', {
      value: this.auditTrail.bucket.bucketName,
      description: 'The audit log (Object Lock, COMPLIANCE): npm run audit -- verify --bucket <name>',
    });
    new CfnOutput(this, 'AuditFailureBucketName', {
      value: this.auditTrail.failureBucket.bucketName,
      description: 'Stream batches the audit writer could not write (FailedBatchesAlarm); replay them, then verify --reconcile',
    });
    new CfnOutput(this, 'AthenaWorkGroup', { value: this.auditTrail.workGroupName, description: 'Run the saved audit queries in this workgroup' });
    new CfnOutput(this, 'GlueDatabase', { value: this.auditTrail.databaseName, description: 'Holds the audit_events table' });
    new CfnOutput(this, 'DigestSigningKeyArn', {
      value: this.auditTrail.signingKey.keyArn,
      description: 'Digests are signed with this key (ECDSA_SHA_256); aws kms get-public-key --key-id <arn> for offline verification',
    });
  }
}

/**
 * Every approver group a policy names (`@approvers`, `@escalate`) must be in the approver directory, or its
 * reviews would fail when they are posted (and the requests fail closed). Checked at synth, with the policies
 * evaluate-action bundles (ActionIntake's default policy directory).
 */
function checkDirectoryCoversPolicies(reviews: SlackReviews): void {
  const engine = new CedarPolicyEngine({ policyDir: join(PROJECT_ROOT, 'policies') });
  const groups = reviews.directory.data.groups;
  const problems = engine.policies.flatMap((policy) => {
    const approval = policy.approval;
    if (approval === undefined) return [];
    return [
      ['@approvers', approval.approvers],
      ['@escalate', approval.escalate],
    ].flatMap(([annotation, group]) =>
      group === undefined || Object.prototype.hasOwnProperty.call(groups, group) ? [] : [`policy ${policy.id} names group "${group}" in ${annotation}`],
    );
  });
  if (problems.length > 0) {
    throw new Error(
      `CountersignStack: the approver directory ${reviews.directoryFile} lacks groups the policies need: ${problems.join('; ')}. ` +
        'Add each group (members and a channel) to the directory, or change the policy.',
    );
  }
}
