import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Duration, Stack, type CfnElement } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { StateMachine } from 'aws-cdk-lib/aws-stepfunctions';
import { describe, expect, it } from 'vitest';
import { ActionIntake } from '../../infra/constructs/action-intake.js';
import { PROJECT_ROOT } from '../../infra/constructs/house-function.js';
import { DecisionStore } from '../../infra/constructs/decision-store.js';
import { CountersignStack, type CountersignStackProps } from '../../infra/countersign-stack.js';
import { ENV } from '../../shared/config.js';
import { ACTION_EXECUTED_PATTERN, ACTION_REQUESTED_PATTERN, AGENT_LIMITED_PATTERN, DECISION_TABLE } from '../../shared/store-schema.js';
import { testApp } from '../support/cdk-app.js';

type Resources = Record<string, { Type: string; Properties?: Record<string, unknown>; DeletionPolicy?: string; UpdateReplacePolicy?: string }>;

// No bundling here (bundle.test.ts bundles for real): the assertions are about the template.
function synth(props: Partial<CountersignStackProps> = {}): { stack: CountersignStack; template: Template } {
  const app = testApp();
  const stack = new CountersignStack(app, 'Countersign-test', { stage: 'test', ...props });
  return { stack, template: Template.fromStack(stack) };
}

function onlyResource(template: Template, type: string): [string, Resources[string]] {
  const found = Object.entries(template.findResources(type) as Resources);
  expect(found, `resources of type ${type}`).toHaveLength(1);
  return found[0]!;
}

/** The logical id of the Function URL of a function. */
function urlOf(functionId: string): string {
  const found = Object.entries(template.findResources('AWS::Lambda::Url') as Resources).filter(
    ([, url]) => JSON.stringify(url.Properties?.TargetFunctionArn) === JSON.stringify({ 'Fn::GetAtt': [functionId, 'Arn'] }),
  );
  expect(found, `Function URL of ${functionId}`).toHaveLength(1);
  return found[0]![0];
}

function functionByService(template: Template, service: string): [string, Resources[string]] {
  const found = Object.entries(
    template.findResources('AWS::Lambda::Function', {
      Properties: { Environment: { Variables: { POWERTOOLS_SERVICE_NAME: service } } },
    }) as Resources,
  );
  expect(found, `function ${service}`).toHaveLength(1);
  return found[0]!;
}

const { stack, template } = synth();
const [tableId] = onlyResource(template, 'AWS::DynamoDB::Table');
const [busId] = onlyResource(template, 'AWS::Events::EventBus');
const [queueId, queue] = onlyResource(template, 'AWS::SQS::Queue');
const [evaluateId, evaluate] = functionByService(template, 'evaluate-action');
const [decisionApiId, decisionApi] = functionByService(template, 'decision-api');
const [, requestReview] = functionByService(template, 'request-review');
const [, recordOutcome] = functionByService(template, 'record-outcome');
const [interactionsId, interactions] = functionByService(template, 'slack-interactions');
const [reviewApiId, reviewApi] = functionByService(template, 'review-api');
const [stateMachineId] = onlyResource(template, 'AWS::StepFunctions::StateMachine');
const botTokenSecretId = stack.getLogicalId(stack.reviews.slackBotTokenSecret.node.defaultChild as CfnElement);
const signingSecretId = stack.getLogicalId(stack.reviews.slackSigningSecret.node.defaultChild as CfnElement);
const tableKeyId = stack.getLogicalId(stack.store.key.node.defaultChild as CfnElement);
const queueKeyId = (queue.Properties?.KmsMasterKeyId as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
const roleIdOf = (fn: Resources[string]) => (fn.Properties?.Role as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
const evaluateRoleId = roleIdOf(evaluate);
const recordOutcomeRoleId = roleIdOf(recordOutcome);
const allFunctions = [
  ['evaluate-action', evaluate],
  ['decision-api', decisionApi],
  ['request-review', requestReview],
  ['record-outcome', recordOutcome],
  ['slack-interactions', interactions],
  ['review-api', reviewApi],
  ['teams-interactions', functionByService(template, 'teams-interactions')[1]],
  ['audit-writer', functionByService(template, 'audit-writer')[1]],
  ['audit-redrive', functionByService(template, 'audit-redrive')[1]],
  ['audit-digest', functionByService(template, 'audit-digest')[1]],
  ['audit-compact', functionByService(template, 'audit-compact')[1]],
  ['record-execution', functionByService(template, 'record-execution')[1]],
  ['issue-credentials', functionByService(template, 'issue-credentials')[1]],
] as const;

describe('the house function (every function)', () => {
  it('has exactly the thirteen Countersign functions: no custom-resource, log-retention or auto-delete helpers', () => {
    expect(Object.keys(template.findResources('AWS::Lambda::Function'))).toHaveLength(allFunctions.length);
  });


  it.each(allFunctions)('%s runs nodejs22.x on arm64 with active tracing, without --enable-source-maps, and the Powertools settings', (service, fn) => {
    expect(fn.Properties).toMatchObject({
      Runtime: 'nodejs22.x',
      Architectures: ['arm64'],
      TracingConfig: { Mode: 'Active' },
      Handler: 'index.handler',
      Environment: {
        Variables: {
          POWERTOOLS_SERVICE_NAME: service,
          POWERTOOLS_METRICS_NAMESPACE: 'Countersign',
          LOG_LEVEL: 'INFO',
        },
      },
    });
    const variables = (fn.Properties?.Environment as { Variables: Record<string, string> }).Variables;
    // Reading the map at every cold start costs more than it gives (README, design notes): no function maps traces at run time.
    expect('NODE_OPTIONS' in variables, service).toBe(false);
  });

  it.each(allFunctions)('%s logs to its own log group, kept 90 days', (_service, fn) => {
    const logGroupId = ((fn.Properties?.LoggingConfig as { LogGroup: { Ref: string } }).LogGroup).Ref;
    const logGroup = (template.findResources('AWS::Logs::LogGroup') as Resources)[logGroupId];
    expect(logGroup?.Properties).toMatchObject({ RetentionInDays: 90 });
  });

  it('gives no role an AWS managed policy', () => {
    for (const [id, role] of Object.entries(template.findResources('AWS::IAM::Role') as Resources)) {
      expect(role.Properties?.ManagedPolicyArns, id).toBeUndefined();
    }
  });

  it('takes a log level', () => {
    const debug = synth({ logLevel: 'DEBUG' }).template;
    debug.allResourcesProperties('AWS::Lambda::Function', { Environment: { Variables: Match.objectLike({ LOG_LEVEL: 'DEBUG' }) } });
  });
});

describe('decision store', () => {
  it('is an on-demand table keyed by DECISION_TABLE, with PITR, deletion protection, the CMK, a NEW_IMAGE stream and TTL on DECISION_TABLE.timeToLiveAttribute', () => {
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      KeySchema: [
        { AttributeName: DECISION_TABLE.partitionKey.name, KeyType: 'HASH' },
        { AttributeName: DECISION_TABLE.sortKey.name, KeyType: 'RANGE' },
      ],
      AttributeDefinitions: Match.arrayWith([
        { AttributeName: DECISION_TABLE.partitionKey.name, AttributeType: DECISION_TABLE.partitionKey.type },
        { AttributeName: DECISION_TABLE.sortKey.name, AttributeType: DECISION_TABLE.sortKey.type },
      ]),
      BillingMode: 'PAY_PER_REQUEST',
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      DeletionProtectionEnabled: true,
      SSESpecification: { SSEEnabled: true, SSEType: 'KMS', KMSMasterKeyId: { 'Fn::GetAtt': [tableKeyId, 'Arn'] } },
      StreamSpecification: { StreamViewType: 'NEW_IMAGE' },
      TimeToLiveSpecification: { AttributeName: DECISION_TABLE.timeToLiveAttribute, Enabled: true },
    });
  });

  it('retains the table and its key when the stack or the resource goes away', () => {
    template.hasResource('AWS::DynamoDB::Table', { DeletionPolicy: 'Retain', UpdateReplacePolicy: 'Retain' });
    template.hasResource('AWS::KMS::Key', {
      Properties: Match.objectLike({ EnableKeyRotation: true }),
      DeletionPolicy: 'Retain',
      UpdateReplacePolicy: 'Retain',
    });
    expect(tableKeyId).not.toBe(queueKeyId);
  });

  it('exposes the key as the table\'s encryption key (so grants reach it)', () => {
    const app = testApp();
    const store = new DecisionStore(new Stack(app, 'S'), 'Store');
    expect(store.table.encryptionKey).toBe(store.key);
  });
});

describe('action intake', () => {
  it('routes ACTION_REQUESTED_PATTERN from the custom bus to evaluate-action, with retries and the DLQ', () => {
    template.hasResourceProperties('AWS::Events::Rule', {
      EventBusName: { Ref: busId },
      EventPattern: ACTION_REQUESTED_PATTERN,
      Targets: [
        {
          Arn: { 'Fn::GetAtt': [evaluateId, 'Arn'] },
          RetryPolicy: { MaximumRetryAttempts: 10, MaximumEventAgeInSeconds: 3600 },
          DeadLetterConfig: { Arn: { 'Fn::GetAtt': [queueId, 'Arn'] } },
        },
      ],
    });
  });

  it('routes ACTION_EXECUTED_PATTERN from the same bus to record-execution, with retries and the same DLQ', () => {
    const [recordExecutionId] = functionByService(template, 'record-execution');
    template.hasResourceProperties('AWS::Events::Rule', {
      EventBusName: { Ref: busId },
      EventPattern: ACTION_EXECUTED_PATTERN,
      Targets: [
        {
          Arn: { 'Fn::GetAtt': [recordExecutionId, 'Arn'] },
          RetryPolicy: { MaximumRetryAttempts: 10, MaximumEventAgeInSeconds: 3600 },
          DeadLetterConfig: { Arn: { 'Fn::GetAtt': [queueId, 'Arn'] } },
        },
      ],
    });
  });

  it('routes AGENT_LIMITED_PATTERN (source "countersign" exactly, which no agent may send) to record-execution, with retries and the same DLQ', () => {
    const [recordExecutionId] = functionByService(template, 'record-execution');
    expect(AGENT_LIMITED_PATTERN).toEqual({ 'detail-type': ['Agent Requests Limited'], source: ['countersign'] });
    template.hasResourceProperties('AWS::Events::Rule', {
      EventBusName: { Ref: busId },
      EventPattern: { 'detail-type': ['Agent Requests Limited'], source: ['countersign'] },
      Targets: [
        {
          Arn: { 'Fn::GetAtt': [recordExecutionId, 'Arn'] },
          RetryPolicy: { MaximumRetryAttempts: 10, MaximumEventAgeInSeconds: 3600 },
          DeadLetterConfig: { Arn: { 'Fn::GetAtt': [queueId, 'Arn'] } },
        },
      ],
    });
    // The bus has exactly these three rules; evaluate-action's own events reach no other function.
    const onBus = Object.values(template.findResources('AWS::Events::Rule') as Resources).filter((rule) => JSON.stringify(rule.Properties?.EventBusName) === JSON.stringify({ Ref: busId }));
    expect(onBus.map((rule) => (rule.Properties?.EventPattern as { 'detail-type': string[] })['detail-type']).flat().sort()).toEqual(['Action Executed', 'Action Requested', 'Agent Requests Limited']);
  });

  it('alarms on any execution violation, counted over every rule', () => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'Countersign',
      MetricName: 'ExecutionViolations',
      Dimensions: [{ Name: 'service', Value: 'record-execution' }],
      Statistic: 'Sum',
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      TreatMissingData: 'notBreaching',
    });
  });

  it('archives Action Requested events from the bus for a year', () => {
    template.hasResourceProperties('AWS::Events::Archive', {
      SourceArn: { 'Fn::GetAtt': [busId, 'Arn'] },
      EventPattern: ACTION_REQUESTED_PATTERN,
      RetentionDays: 365,
    });
  });

  it('takes the archive retention, retries and event age as props', () => {
    const app = testApp();
    const s = new Stack(app, 'S');
    const store = new DecisionStore(s, 'Store');
    new ActionIntake(s, 'Intake', { table: store.table, archiveRetention: Duration.days(30), retryAttempts: 3, maxEventAge: Duration.minutes(15) });
    const t = Template.fromStack(s);
    t.hasResourceProperties('AWS::Events::Archive', { RetentionDays: 30 });
    t.hasResourceProperties('AWS::Events::Rule', { Targets: [Match.objectLike({ RetryPolicy: { MaximumRetryAttempts: 3, MaximumEventAgeInSeconds: 900 } })] });
    t.hasResourceProperties('AWS::Lambda::EventInvokeConfig', { MaximumEventAgeInSeconds: 900 });
  });

  it.each([
    [{ retryAttempts: 186 }, /retryAttempts must be an integer from 0 to 185/],
    [{ retryAttempts: 1.5 }, /retryAttempts must be an integer/],
    [{ maxEventAge: Duration.seconds(30) }, /maxEventAge must be from 1 minute to 6 hours/],
    [{ maxEventAge: Duration.hours(7) }, /maxEventAge must be from 1 minute to 6 hours/],
    [{ archiveRetention: Duration.hours(36) }, /archiveRetention must be a whole number of days/],
    [{ policyDir: '/nonexistent/policies' }, /cannot read the policy directory/],
  ])('rejects %o with a specific message', (props, message) => {
    const app = testApp();
    const s = new Stack(app, 'S');
    const store = new DecisionStore(s, 'Store');
    expect(() => new ActionIntake(s, 'Intake', { table: store.table, ...props })).toThrow(message);
  });

  it('fails the synth on a shadow set (policies/shadow/) that does not validate, naming its file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'countersign-shadow-synth-'));
    try {
      cpSync(join(PROJECT_ROOT, 'policies'), dir, { recursive: true });
      writeFileSync(join(dir, 'shadow', 'typo.cedar'), '@id("typo")\npermit (principal, action == Action::"db.query", resource is Database) when { resource.ownr == "x" };\n');
      const s = new Stack(testApp(), 'S');
      const store = new DecisionStore(s, 'Store');
      expect(() => new ActionIntake(s, 'Intake', { table: store.table, policyDir: dir })).toThrow(/shadow set of [\s\S]*shadow\/typo\.cedar/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('sends failed asynchronous invocations of evaluate-action (after 2 retries, within an hour) to the same DLQ', () => {
    expect(evaluate.Properties?.DeadLetterConfig).toEqual({ TargetArn: { 'Fn::GetAtt': [queueId, 'Arn'] } });
    template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      FunctionName: { Ref: evaluateId },
      MaximumRetryAttempts: 2,
      MaximumEventAgeInSeconds: 3600,
    });
  });

  it('keeps dead letters 14 days in a KMS-encrypted queue that refuses plain HTTP', () => {
    expect(queue.Properties).toMatchObject({ MessageRetentionPeriod: 14 * 24 * 3600, KmsMasterKeyId: { 'Fn::GetAtt': [queueKeyId, 'Arn'] } });
    template.hasResourceProperties('AWS::KMS::Key', { EnableKeyRotation: true, Description: Match.stringLikeRegexp('dead-letter') });
    template.hasResourceProperties('AWS::SQS::QueuePolicy', {
      Queues: [{ Ref: queueId }],
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
          Match.objectLike({ Effect: 'Allow', Principal: { Service: 'events.amazonaws.com' }, Action: 'sqs:SendMessage' }),
        ]),
      },
    });
  });

  it('lets EventBridge rules of this bus, and only those, use the DLQ key', () => {
    const key = (template.findResources('AWS::KMS::Key') as Resources)[queueKeyId];
    const statements = (key?.Properties?.KeyPolicy as { Statement: Array<Record<string, unknown>> }).Statement;
    expect(statements).toContainEqual(
      expect.objectContaining({
        Principal: { Service: 'events.amazonaws.com' },
        Action: ['kms:GenerateDataKey', 'kms:Decrypt'],
        Condition: {
          StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } },
          ArnLike: { 'aws:SourceArn': { 'Fn::Join': ['', expect.arrayContaining([':rule/', { Ref: busId }, '/*'])] } },
        },
      }),
    );
  });

  it('tells evaluate-action the table, the bus, the bundled policy directory and the approval state machine', () => {
    const variables = (evaluate.Properties?.Environment as { Variables: Record<string, unknown> }).Variables;
    expect(variables).toMatchObject({
      [ENV.tableName]: { Ref: tableId },
      [ENV.eventBusName]: { Ref: busId },
      [ENV.policyDir]: '/var/task/policies',
      [ENV.approvalStateMachineArn]: { Ref: stateMachineId },
    });
    expect(decisionApi.Properties?.Environment).toEqual({
      Variables: expect.objectContaining({ [ENV.tableName]: { Ref: tableId } }),
    });
  });

  it('without an approval state machine (the construct alone), sets no ARN and grants no states action', () => {
    const app = testApp();
    const s = new Stack(app, 'S');
    const intake = new ActionIntake(s, 'Intake', { table: new DecisionStore(s, 'Store').table });
    const t = Template.fromStack(s);
    const fn = t.findResources('AWS::Lambda::Function')[s.getLogicalId(intake.evaluateAction.function.node.defaultChild as CfnElement)] as Resources[string];
    expect((fn.Properties?.Environment as { Variables: Record<string, unknown> }).Variables).not.toHaveProperty(ENV.approvalStateMachineArn);
    expect(JSON.stringify(t.findResources('AWS::IAM::Policy'))).not.toMatch(/"states:/);
  });

  it('given an imported approval state machine, passes its ARN and grants StartExecution on it only', () => {
    const app = testApp();
    const arn = 'arn:aws:states:eu-west-1:123456789012:stateMachine:approval';
    const s = new Stack(app, 'S');
    const approvalStateMachine = StateMachine.fromStateMachineArn(s, 'Approval', arn);
    new ActionIntake(s, 'Intake', { table: new DecisionStore(s, 'Store').table, approvalStateMachine });
    const t = Template.fromStack(s);
    t.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ POWERTOOLS_SERVICE_NAME: 'evaluate-action', [ENV.approvalStateMachineArn]: arn }) },
    });
    t.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: { Statement: Match.arrayWith([{ Action: 'states:StartExecution', Effect: 'Allow', Resource: arn }]) },
    });
  });

  it('alarms on dead letters and on evaluate-action errors', () => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/SQS',
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [queueId, 'QueueName'] } }],
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      TreatMissingData: 'notBreaching',
    });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/Lambda',
      MetricName: 'Errors',
      Dimensions: [{ Name: 'FunctionName', Value: { Ref: evaluateId } }],
      Threshold: 1,
    });
  });
});

/** The statements of the bus's own policy document (the AWS::Events::EventBus `Policy` property). */
function busStatements(t: Template): Record<string, unknown>[] {
  const [, bus] = onlyResource(t, 'AWS::Events::EventBus');
  const policy = bus.Properties?.Policy as { Version: string; Statement: Record<string, unknown>[] };
  expect(policy.Version).toBe('2012-10-17');
  return policy.Statement;
}

describe('event bus policy', () => {
  const statements = busStatements(template);

  it('is one document on the bus itself: no AWS::Events::EventBusPolicy resources, four statements with distinct ids', () => {
    expect(template.findResources('AWS::Events::EventBusPolicy')).toEqual({});
    expect(statements.map((s) => s.Sid)).toEqual(['ThisAccountMayPutEvents', 'NoOtherAccountMayPutEvents', 'OnlyPublishersSendDecisionSource', 'OnlyPublishersSendDecisions']);
    // The policy cannot reference the bus's own attributes: it names the bus by the ARN of the name it gives it.
    const busArn = { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':events:', { Ref: 'AWS::Region' }, ':', { Ref: 'AWS::AccountId' }, ':event-bus/', { Ref: 'AWS::StackName' }, '-bus']] };
    template.hasResourceProperties('AWS::Events::EventBus', { Name: { 'Fn::Join': ['', [{ Ref: 'AWS::StackName' }, '-bus']] } });
    for (const statement of statements) expect(statement.Resource).toEqual(busArn);
  });

  it('lets an app hold two stages (one account): each stack synthesizes its own bus and policy, and no statement id is deployed as an account-wide resource', () => {
    const app = testApp();
    const stages = ['staging', 'prod'].map((stage) => new CountersignStack(app, `Countersign-${stage}`, { stage }));
    const assembly = app.synth();
    for (const stage of stages) {
      const t = Template.fromJSON(assembly.getStackByName(stage.stackName).template as Record<string, unknown>);
      expect(t.findResources('AWS::Events::EventBusPolicy')).toEqual({});
      expect(busStatements(t).map((s) => s.Sid)).toHaveLength(4);
      // The bus name comes from the stack name, so the two stages' buses differ in one account and region.
      t.hasResourceProperties('AWS::Events::EventBus', { Name: { 'Fn::Join': ['', [{ Ref: 'AWS::StackName' }, '-bus']] } });
    }
  });

  it('lets this account put events and denies every other account', () => {
    expect(statements).toContainEqual(
      expect.objectContaining({
        Effect: 'Allow',
        Action: 'events:PutEvents',
        Principal: { AWS: { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':iam::', { Ref: 'AWS::AccountId' }, ':root']] } },
      }),
    );
    expect(statements).toContainEqual(
      expect.objectContaining({
        Effect: 'Deny',
        Action: 'events:PutEvents',
        Principal: { AWS: '*' },
        Condition: { StringNotEqualsIfExists: { 'aws:PrincipalAccount': { Ref: 'AWS::AccountId' } } },
      }),
    );
    expect(statements.filter((s) => s.Effect === 'Allow')).toHaveLength(1);
  });

  it('denies forged decisions (source countersign, detail-type Action Decided) to all but evaluate-action and record-outcome', () => {
    const publishers = [{ 'Fn::GetAtt': [evaluateRoleId, 'Arn'] }, { 'Fn::GetAtt': [recordOutcomeRoleId, 'Arn'] }];
    for (const [key, value] of [['events:source', 'countersign'], ['events:detail-type', 'Action Decided']] as const) {
      expect(statements).toContainEqual(
        expect.objectContaining({
          Effect: 'Deny',
          Principal: { AWS: '*' },
          Condition: { StringEquals: { [key]: value }, ArnNotEquals: { 'aws:PrincipalArn': publishers } },
        }),
      );
    }
  });

  it('exempts (and grants) roles added as decision publishers', () => {
    const app = testApp();
    const s = new CountersignStack(app, 'Countersign-test', { stage: 'test' });
    const outcomeRole = new Role(s, 'OutcomeRole', { assumedBy: new ServicePrincipal('states.amazonaws.com') });
    s.intake.addDecisionPublisher(outcomeRole);
    const t = Template.fromStack(s);
    const roleId = s.getLogicalId(outcomeRole.node.defaultChild as CfnElement);
    const publishers = [{ 'Fn::GetAtt': [evaluateRoleId, 'Arn'] }, { 'Fn::GetAtt': [recordOutcomeRoleId, 'Arn'] }, { 'Fn::GetAtt': [roleId, 'Arn'] }];
    const denies = busStatements(t).filter((statement) => statement.Sid !== undefined && String(statement.Sid).startsWith('OnlyPublishers'));
    expect(denies).toHaveLength(2);
    for (const deny of denies) expect((deny.Condition as Record<string, unknown>).ArnNotEquals).toEqual({ 'aws:PrincipalArn': publishers });
    t.hasResourceProperties('AWS::IAM::Policy', {
      Roles: [{ Ref: roleId }],
      PolicyDocument: { Statement: [Match.objectLike({ Action: 'events:PutEvents', Resource: { 'Fn::GetAtt': [busId, 'Arn'] } })] },
    });
  });
});

describe('decision API', () => {
  it('is a Function URL with AWS_IAM auth, output as DecisionApiUrl', () => {
    template.hasResourceProperties('AWS::Lambda::Url', {
      AuthType: 'AWS_IAM',
      TargetFunctionArn: { 'Fn::GetAtt': [decisionApiId, 'Arn'] },
    });
    template.hasOutput('DecisionApiUrl', { Value: { 'Fn::GetAtt': [urlOf(decisionApiId), 'FunctionUrl'] } });
  });
});

describe('stack', () => {
  it('is termination-protected for prod only (overridable)', () => {
    expect(synth({ stage: 'prod' }).stack.terminationProtection).toBe(true);
    expect(stack.terminationProtection).toBe(false);
    expect(synth({ stage: 'prod', terminationProtection: false }).stack.terminationProtection).toBe(false);
  });

  it('rejects a stage that cannot name a stack', () => {
    expect(() => synth({ stage: 'Prod_1' })).toThrow(/stage "Prod_1" must match/);
  });

  it('outputs what agents and operators need', () => {
    template.hasOutput('EventBusName', { Value: { Ref: busId } });
    template.hasOutput('DecisionTableName', { Value: { Ref: tableId } });
    template.hasOutput('DeadLetterQueueUrl', { Value: { Ref: queueId } });
    template.hasOutput('RequestArchiveArn', { Value: { 'Fn::GetAtt': [Object.keys(template.findResources('AWS::Events::Archive'))[0], 'Arn'] } });
    template.hasOutput('SlackInteractionsUrl', { Value: { 'Fn::GetAtt': [urlOf(interactionsId), 'FunctionUrl'] } });
    template.hasOutput('ReviewApiUrl', { Value: { 'Fn::GetAtt': [urlOf(reviewApiId), 'FunctionUrl'] } });
    template.hasOutput('SlackBotTokenSecretArn', { Value: { Ref: botTokenSecretId } });
    template.hasOutput('SlackSigningSecretArn', { Value: { Ref: signingSecretId } });
    template.hasOutput('ApprovalStateMachineArn', { Value: { Ref: stateMachineId } });
    const credentialsId = functionByService(template, 'issue-credentials')[0];
    template.hasOutput('CredentialsApiUrl', { Value: { 'Fn::GetAtt': [urlOf(credentialsId), 'FunctionUrl'] } });
    template.hasOutput('CredentialsApiFunctionArn', { Value: { 'Fn::GetAtt': [credentialsId, 'Arn'] } });
  });

  it('serves POST /actions/{actionId}/credentials on its own Function URL with AWS_IAM auth, and tells the function its roles and files', () => {
    const [credentialsId, fn] = functionByService(template, 'issue-credentials');
    template.hasResourceProperties('AWS::Lambda::Url', { AuthType: 'AWS_IAM', TargetFunctionArn: { 'Fn::GetAtt': [credentialsId, 'Arn'] } });
    const execRole = stack.getLogicalId(stack.credentials.roles['countersign-exec-db-export']!.node.defaultChild as CfnElement);
    expect((fn.Properties?.Environment as { Variables: Record<string, unknown> }).Variables).toMatchObject({
      COUNTERSIGN_TABLE_NAME: { Ref: tableId },
      COUNTERSIGN_DIRECTORY_FILE: '/var/task/config/directory.json',
      COUNTERSIGN_EXECUTION_GRANTS_FILE: '/var/task/config/execution-grants.json',
      COUNTERSIGN_EXECUTION_ROLE_ARNS: { 'Fn::Join': ['', ['{"countersign-exec-db-export":"', { 'Fn::GetAtt': [execRole, 'Arn'] }, '"}']] },
    });
  });

  it('refuses a broken execution-grant configuration at synth, naming the file and the problem', () => {
    const dir = mkdtempSync(join(tmpdir(), 'countersign-grants-'));
    const file = join(dir, 'grants.json');
    writeFileSync(file, JSON.stringify({ grants: [{ action: 'db.export', resourceType: 'Database', role: 'r', sessionPolicy: { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'dynamodb:*', Resource: '*' }] } }] }));
    try {
      expect(() => new CountersignStack(testApp(), 'Countersign-broken', { stage: 'test', executionGrantsFile: file })).toThrow(
        /ExecutionCredentials Credentials: .*grants\.json is not a valid execution-grant configuration: grants\.0\.sessionPolicy\.Statement\.0\.Action: "dynamodb:\*" allows every action of a service.*Statement\.0\.Resource: "\*" is every resource/,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('collects every alarm in stack.alarms, without actions yet', () => {
    const alarmIds = Object.keys(template.findResources('AWS::CloudWatch::Alarm')).sort();
    expect(alarmIds).toHaveLength(15);
    expect(stack.alarms.map((alarm) => stack.getLogicalId(alarm.node.defaultChild as CfnElement)).sort()).toEqual(alarmIds);
    for (const alarm of Object.values(template.findResources('AWS::CloudWatch::Alarm') as Resources)) {
      expect(alarm.Properties?.AlarmActions).toBeUndefined();
    }
  });

  // CloudFormation knows resources by logical id: a changed id replaces the resource, and for these that
  // means an empty table, a new key, a bus without its archive. Change an id only with a migration plan.
  it('pins the logical ids of the stateful resources', () => {
    const ids = (type: string) => Object.keys(template.findResources(type)).sort();
    expect({
      table: ids('AWS::DynamoDB::Table'),
      keys: ids('AWS::KMS::Key'),
      bus: ids('AWS::Events::EventBus'),
      archive: ids('AWS::Events::Archive'),
      deadLetterQueue: ids('AWS::SQS::Queue'),
      secret: ids('AWS::SecretsManager::Secret'),
      stateMachine: ids('AWS::StepFunctions::StateMachine'),
      buckets: ids('AWS::S3::Bucket'),
    }).toEqual({
      table: ['DecisionStoreTableE96C120A'],
      // AuditTrailKey encrypts the audit log: without it the log cannot be read. The signing key's public
      // key is what every digest was verified against.
      keys: ['AuditTrailDigestSigningKeyA0F1099A', 'AuditTrailKeyA4D56A7A', 'DecisionStoreKeyE5DA54A7', 'IntakeDeadLetterKey71B23B68', 'ReviewsSlackSecretKey0268EC75', 'TeamsSecretKeyD4B9BB75'],
      bus: ['IntakeBus81FDE4B9'],
      archive: ['IntakeRequestArchive071572E4'],
      deadLetterQueue: ['IntakeDeadLetterQueueA5C12DB5'],
      // The secret holds the operator's Slack credentials: a new one would be a placeholder again.
      // ... and the Teams bot's.
      secret: ['ReviewsSlackBotToken0F9C24EB', 'ReviewsSlackSigningSecretEE68F39A', 'TeamsBotSecretD6306A96'],
      // Running approvals belong to this state machine; a replacement would orphan them from the new ARN.
      stateMachine: ['ApprovalWorkflowStateMachine8774E493'],
      // The audit log (Object Lock: a new bucket would start an empty log), its access logs, failed batches,
      // query results.
      buckets: ['AuditTrailAccessLogsBucketDB75E784', 'AuditTrailBucketA91FD435', 'AuditTrailFailureBucket9A6FB0F7', 'AuditTrailQueryResultsBucket0B12D583'],
    });
  });
});
