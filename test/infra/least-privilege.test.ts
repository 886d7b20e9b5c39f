import { type CfnElement } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { ITEM_FAMILIES } from '../../infra/constructs/decision-store.js';
import { CHAIN_ITEM } from '../../shared/adapters/aws/dynamo-chain-store.js';
import { CountersignStack } from '../../infra/countersign-stack.js';
import { render } from '../../shared/domain/execution-grants.js';
import { testApp } from '../support/cdk-app.js';

/**
 * Each function's role must grant exactly what its handler's SDK calls need, on exactly the resources they
 * touch: an extra action, an action on an extra resource, or a wildcard fails here. When a handler starts
 * making a new call, add it to the expectation below *and* to the grant, in the same change.
 */

type Json = Record<string, unknown>;
type Resources = Record<string, { Type: string; Properties?: Json }>;
type Statement = Json & { Effect?: string; Action?: unknown; Resource?: unknown; Condition?: Json };

const app = testApp();
const stack = new CountersignStack(app, 'Countersign-test', { stage: 'test' });
const template = Template.fromStack(stack);
const resources = template.toJSON().Resources as Resources;

const ids = (type: string) => Object.keys(template.findResources(type));
function only(type: string): string {
  const found = ids(type);
  expect(found, type).toHaveLength(1);
  return found[0]!;
}
const logicalId = (element: unknown) => stack.getLogicalId(element as CfnElement);

const table = only('AWS::DynamoDB::Table');
const tableKey = logicalId(stack.store.key.node.defaultChild);
const slackKey = logicalId(stack.reviews.slackSecretKey.node.defaultChild);
const botTokenSecret = logicalId(stack.reviews.slackBotTokenSecret.node.defaultChild);
const signingSecret = logicalId(stack.reviews.slackSigningSecret.node.defaultChild);
const teamsKey = logicalId(stack.teams.teamsSecretKey.node.defaultChild);
const teamsSecret = logicalId(stack.teams.teamsSecret.node.defaultChild);
const stateMachine = only('AWS::StepFunctions::StateMachine');
const queue = only('AWS::SQS::Queue');
const queueKey = ((resources[queue]!.Properties!.KmsMasterKeyId) as { 'Fn::GetAtt': [string] })['Fn::GetAtt'][0];
const bus = only('AWS::Events::EventBus');
const auditBucket = logicalId(stack.auditTrail.bucket.node.defaultChild);
const failureBucket = logicalId(stack.auditTrail.failureBucket.node.defaultChild);
const auditKey = logicalId(stack.auditTrail.key.node.defaultChild);
const signingKey = logicalId(stack.auditTrail.signingKey.node.defaultChild);
const execRole = logicalId(stack.credentials.roles['countersign-exec-db-export']!.node.defaultChild);

function functionOf(service: string): { id: string; roleId: string; logGroupId: string } {
  const found = Object.entries(resources).filter(
    ([, r]) => r.Type === 'AWS::Lambda::Function' && (r.Properties?.Environment as { Variables?: Json } | undefined)?.Variables?.POWERTOOLS_SERVICE_NAME === service,
  );
  expect(found, `function ${service}`).toHaveLength(1);
  const [id, fn] = found[0]!;
  return {
    id,
    roleId: (fn.Properties?.Role as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0],
    logGroupId: (fn.Properties?.LoggingConfig as { LogGroup: { Ref: string } }).LogGroup.Ref,
  };
}

/** Every statement of every policy attached to the role (which must have no managed or inline policies). */
function statementsOf(roleId: string): Statement[] {
  const role = resources[roleId];
  expect(role?.Type).toBe('AWS::IAM::Role');
  expect(role?.Properties?.ManagedPolicyArns, 'managed policies').toBeUndefined();
  expect(role?.Properties?.Policies, 'inline role policies').toBeUndefined();
  return Object.values(resources)
    .filter((r) => (r.Type === 'AWS::IAM::Policy' || r.Type === 'AWS::IAM::ManagedPolicy') && JSON.stringify(r.Properties?.Roles ?? []).includes(`"${roleId}"`))
    .flatMap((r) => (r.Properties?.PolicyDocument as { Statement: Statement[] }).Statement);
}

/** action -> the resources it is allowed on (logical ids, "<id>:*", or "*"). */
function grantsOf(roleId: string): Record<string, string[]> {
  return grantsOfStatements(statementsOf(roleId));
}

/** The same, for any statements: a role's, or a session policy the credentials function renders. */
function grantsOfStatements(statements: Statement[]): Record<string, string[]> {
  const grants: Record<string, Set<string>> = {};
  for (const statement of statements) {
    expect(statement.Effect, 'only Allow statements are expected in these roles').toBe('Allow');
    expect(statement.NotAction ?? statement.NotResource, 'NotAction/NotResource widen a grant').toBeUndefined();
    for (const action of [statement.Action].flat() as string[]) {
      for (const resource of [statement.Resource].flat()) {
        const name = resourceName(resource);
        if (name !== undefined) (grants[action] ??= new Set()).add(name);
      }
    }
  }
  return Object.fromEntries(Object.entries(grants).map(([action, names]) => [action, [...names].sort()]));
}

function resourceName(resource: unknown): string | undefined {
  if (typeof resource === 'string') return resource;
  const value = resource as Json;
  if (value.Ref === 'AWS::NoValue') return undefined; // the table grant's "no indexes" slot
  if (typeof value.Ref === 'string') return value.Ref;
  const getAtt = value['Fn::GetAtt'] as [string, string] | undefined;
  if (getAtt !== undefined && getAtt[1] === 'Arn') return getAtt[0];
  if (getAtt !== undefined && getAtt[1] === 'StreamArn') return `${getAtt[0]}.StreamArn`;
  // "<function ARN>:*" (its versions and aliases), as CDK's LambdaInvoke grants it, and "<bucket ARN>/<path>"
  // (objects under a prefix).
  const join = value['Fn::Join'] as [string, unknown[]] | undefined;
  if (join !== undefined && join[0] === '' && join[1].length === 2 && typeof join[1][1] === 'string' && /^(:\*|\/.*)$/.test(join[1][1])) {
    const inner = resourceName(join[1][0]);
    if (inner !== undefined) return `${inner}${join[1][1]}`;
  }
  return JSON.stringify(resource); // anything else shows up verbatim and fails the comparison
}

const xrayAndLogs = (logGroupId: string) => ({
  // Active tracing; X-Ray has no resource-level permissions.
  'xray:PutTraceSegments': ['*'],
  'xray:PutTelemetryRecords': ['*'],
  'logs:CreateLogStream': [logGroupId],
  'logs:PutLogEvents': [logGroupId],
});

// DynamoReviewStore: GetItem and Query (request, review and vote items, ConsistentRead), PutItem (event items,
// conditional), UpdateItem (review state, tallies, closing the request) and TransactWriteItems of a Put and an
// Update, which IAM authorizes item by item as PutItem and UpdateItem ("dynamodb:TransactWriteItems" is not
// an IAM action). DynamoDB decrypts the table key with the caller's credentials and generates data keys
// under its own grant, so kms:Decrypt on the table key is all a caller needs.
const reviewTable = {
  'dynamodb:GetItem': [table],
  'dynamodb:PutItem': [table],
  'dynamodb:UpdateItem': [table],
  'dynamodb:Query': [table],
};

describe('least privilege: each role grants what its handler calls, on what it touches, and nothing else', () => {
  it('evaluate-action', () => {
    const fn = functionOf('evaluate-action');
    expect(grantsOf(fn.roleId)).toEqual({
      // DynamoDecisionStore: conditional PutItems (the request item, its decided event), a conflict's refusal as
      // a TransactWriteItems of a Put and an Update of the request's eventSeq (authorized item by item as PutItem
      // and UpdateItem), GetItem (the earlier request, its eventSeq), Query (counting the events of a request
      // recorded before numbering existed); DynamoAgentGuard's transactions (PutItem, UpdateItem) too.
      'dynamodb:PutItem': [table],
      'dynamodb:UpdateItem': [table],
      'dynamodb:GetItem': [table],
      'dynamodb:Query': [table],
      // DynamoAgentGuard.release: a conflict gives its open-review slot back (Delete of the slot; AGENT#* only, pinned below).
      'dynamodb:DeleteItem': [table],
      // DynamoDB decrypts the table key with the caller's credentials; SQS needs both to encrypt a message.
      // No Slack secret or its key: a flood burst is announced on the bus, and record-execution posts the line.
      'kms:Decrypt': [tableKey, queueKey].sort(),
      'kms:GenerateDataKey': [queueKey],
      // EventBridgeEventPublisher: PutEvents (Action Decided, and Agent Requests Limited for a flood burst).
      'events:PutEvents': [bus],
      // SfnWorkflowStarter: StartExecution of the approval workflow, and of nothing else.
      'states:StartExecution': [stateMachine],
      // Lambda sends failed asynchronous invocations to the dead-letter queue with the execution role.
      'sqs:SendMessage': [queue],
      ...xrayAndLogs(fn.logGroupId),
    });
  });

  it('decision-api', () => {
    const fn = functionOf('decision-api');
    expect(grantsOf(fn.roleId)).toEqual({
      // DynamoDecisionStore.getDecision: GetItem of the request item, Query of its votes while pending.
      'dynamodb:GetItem': [table],
      'dynamodb:Query': [table],
      'kms:Decrypt': [tableKey],
      ...xrayAndLogs(fn.logGroupId),
    });
  });

  // request-review never resumes the workflow: a request closed between phases fails it with ReviewClosed.
  it('request-review', () => {
    const fn = functionOf('request-review');
    expect(grantsOf(fn.roleId)).toEqual({
      ...reviewTable,
      // The table key, and the Slack secret's key through Secrets Manager (condition checked below).
      'kms:Decrypt': [tableKey, slackKey, teamsKey].sort(),
      // Powertools parameters: GetSecretValue of the bot token's secret, once per cold start; never the signing secret.
      'secretsmanager:GetSecretValue': [botTokenSecret, teamsSecret].sort(),
      ...xrayAndLogs(fn.logGroupId),
    });
  });

  it('record-outcome', () => {
    const fn = functionOf('record-outcome');
    expect(grantsOf(fn.roleId)).toEqual({
      ...reviewTable,
      // DynamoAgentGuard.release: the open-review slot's conditional Delete (in a transaction with the count's Update).
      'dynamodb:DeleteItem': [table],
      'kms:Decrypt': [tableKey, slackKey, teamsKey].sort(),
      // The bot token: chat.update of the review message.
      'secretsmanager:GetSecretValue': [botTokenSecret, teamsSecret].sort(),
      // EventBridgeEventPublisher: Action Decided (the bus policy exempts this role, see the stack test).
      'events:PutEvents': [bus],
      ...xrayAndLogs(fn.logGroupId),
    });
  });

  // DynamoExecutionStore and the review store's getByAction (to update the review message); posts alerts.
  it('record-execution', () => {
    const fn = functionOf('record-execution');
    expect(grantsOf(fn.roleId)).toEqual({
      ...reviewTable,
      // The table key, the Slack secret's key (through Secrets Manager), and the dead-letter queue's key.
      'kms:Decrypt': [tableKey, slackKey, teamsKey, queueKey].sort(),
      'kms:GenerateDataKey': [queueKey],
      // The bot token: violation alerts (chat.postMessage) and chat.update of the review message; the Teams
      // secret: the update of the review's Teams card.
      'secretsmanager:GetSecretValue': [botTokenSecret, teamsSecret].sort(),
      // Failed asynchronous invocations (reports) go to the intake's dead-letter queue.
      'sqs:SendMessage': [queue],
      ...xrayAndLogs(fn.logGroupId),
    });
  });

  it('slack-interactions', () => {
    const fn = functionOf('slack-interactions');
    expect(grantsOf(fn.roleId)).toEqual({
      ...reviewTable,
      // "Block this agent": the quarantine gives back the closed reviews' slots (DynamoAgentGuard.release).
      'dynamodb:DeleteItem': [table],
      'kms:Decrypt': [tableKey, slackKey, teamsKey].sort(),
      // The signing secret (signature check: the only role that reads it) and the bot token (views.open,
      // chat.update, ephemeral notices).
      'secretsmanager:GetSecretValue': [botTokenSecret, signingSecret, teamsSecret].sort(),
      // SfnTaskCallbacks: quorum -> SendTaskSuccess, a deny -> SendTaskFailure("Rejected"). Neither action
      // supports resource-level permissions; the task token is the capability.
      'states:SendTaskSuccess': ['*'],
      'states:SendTaskFailure': ['*'],
      ...xrayAndLogs(fn.logGroupId),
    });
  });

  it('teams-interactions', () => {
    const fn = functionOf('teams-interactions');
    expect(grantsOf(fn.roleId)).toEqual({
      ...reviewTable,
      // "Block this agent" and automatic quarantine give back the closed reviews' slots (DynamoAgentGuard.release).
      'dynamodb:DeleteItem': [table],
      'kms:Decrypt': [tableKey, slackKey, teamsKey].sort(),
      // The Teams secret (app id and tenant: the JWT's audience and the tenant check; the client secret: card
      // updates) and the Slack bot token (chat.update of the Slack message); never the Slack signing secret.
      'secretsmanager:GetSecretValue': [botTokenSecret, teamsSecret].sort(),
      'states:SendTaskSuccess': ['*'],
      'states:SendTaskFailure': ['*'],
      ...xrayAndLogs(fn.logGroupId),
    });
  });

  it('review-api', () => {
    const fn = functionOf('review-api');
    expect(grantsOf(fn.roleId)).toEqual({
      // DynamoReviewStore, and DynamoDecisionStore.getDecision (GetItem) for the answer.
      ...reviewTable,
      // POST /agents/{agentId}/quarantine gives back the closed reviews' slots (DynamoAgentGuard.release).
      'dynamodb:DeleteItem': [table],
      'kms:Decrypt': [tableKey, slackKey, teamsKey].sort(),
      // The bot token: chat.update of the review message after a vote.
      'secretsmanager:GetSecretValue': [botTokenSecret, teamsSecret].sort(),
      'states:SendTaskSuccess': ['*'],
      'states:SendTaskFailure': ['*'],
      ...xrayAndLogs(fn.logGroupId),
    });
  });

  it('issue-credentials', () => {
    const fn = functionOf('issue-credentials');
    expect(grantsOf(fn.roleId)).toEqual({
      // DynamoCredentialsStore: GetItem (the request, its eventSeq), Query (counting a pre-numbering request's
      // events), and appendRequestEvent's transaction of a conditional Put and the request's Update.
      'dynamodb:GetItem': [table],
      'dynamodb:Query': [table],
      'dynamodb:PutItem': [table],
      'dynamodb:UpdateItem': [table],
      'kms:Decrypt': [tableKey],
      // StsCredentialIssuer: AssumeRole with session tags and a source identity, on the execution roles only.
      'sts:AssumeRole': [execRole],
      'sts:TagSession': [execRole],
      'sts:SetSourceIdentity': [execRole],
      ...xrayAndLogs(fn.logGroupId),
    });
  });

  it('the db.export execution role: trusted by the credentials function only, for its tags and a cs- source identity', () => {
    const role = resources[execRole]!.Properties!;
    const fnRole = { 'Fn::GetAtt': [functionOf('issue-credentials').roleId, 'Arn'] };
    expect(role.MaxSessionDuration).toBe(3600);
    expect(role.ManagedPolicyArns).toBeUndefined();
    expect(role.AssumeRolePolicyDocument).toEqual({
      Version: '2012-10-17',
      Statement: [
        { Effect: 'Allow', Principal: { AWS: fnRole }, Action: 'sts:AssumeRole' },
        {
          Effect: 'Allow', Principal: { AWS: fnRole }, Action: 'sts:TagSession',
          Condition: {
            'ForAllValues:StringEquals': { 'aws:TagKeys': ['countersign:actionId', 'countersign:payloadSha256'] },
            Null: { 'aws:RequestTag/countersign:actionId': 'false', 'aws:RequestTag/countersign:payloadSha256': 'false' },
          },
        },
        { Effect: 'Allow', Principal: { AWS: fnRole }, Action: 'sts:SetSourceIdentity', Condition: { StringLike: { 'sts:SourceIdentity': 'cs-*' } } },
      ],
    });
  });

  it('the db.export execution role may only read tables (its ceiling), and no other role may assume it', () => {
    const statements = Object.values(resources)
      .filter((r) => r.Type === 'AWS::IAM::Policy' && JSON.stringify(r.Properties?.Roles ?? []).includes(`"${execRole}"`))
      .flatMap((r) => (r.Properties?.PolicyDocument as { Statement: Statement[] }).Statement);
    const anyTable = JSON.stringify({ 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':dynamodb:', { Ref: 'AWS::Region' }, ':', { Ref: 'AWS::AccountId' }, ':table/*']] });
    expect(grantsOfStatements(statements)).toEqual({ 'dynamodb:Scan': [anyTable], 'dynamodb:Query': [anyTable], 'dynamodb:DescribeTable': [anyTable] });
    const assumers = Object.entries(resources).filter(([, r]) => r.Type === 'AWS::IAM::Policy' && JSON.stringify(r.Properties?.PolicyDocument).includes(`"${execRole}"`));
    expect(assumers.map(([, r]) => r.Properties?.Roles)).toEqual([[{ Ref: functionOf('issue-credentials').roleId }]]);
  });

  it('a rendered session policy grants the approved table only, until the approval ends', () => {
    const grant = stack.credentials.grants.grantFor('db.export', 'Database')!;
    const policy = render(grant, { resourceId: 'customers', environment: 'prod', parameters: {}, aws: { accountId: '123456789012', region: 'eu-west-1', partition: 'aws' } }, '2026-11-22T03:15:00.000Z');
    const statements = policy.Statement as unknown as Statement[];
    const customers = 'arn:aws:dynamodb:eu-west-1:123456789012:table/customers';
    expect(grantsOfStatements(statements)).toEqual({ 'dynamodb:Scan': [customers], 'dynamodb:Query': [customers], 'dynamodb:DescribeTable': [customers] });
    for (const statement of statements) expect(statement.Condition).toEqual({ DateLessThan: { 'aws:CurrentTime': '2026-11-22T03:15:00.000Z' } });
  });

  it('the approval state machine', () => {
    const roleId = (resources[stateMachine]!.Properties!.RoleArn as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
    const requestReview = functionOf('request-review').id;
    const recordOutcome = functionOf('record-outcome').id;
    const logDelivery = ['CreateLogDelivery', 'GetLogDelivery', 'UpdateLogDelivery', 'DeleteLogDelivery', 'ListLogDeliveries', 'PutResourcePolicy', 'DescribeResourcePolicies', 'DescribeLogGroups'];
    expect(grantsOf(roleId)).toEqual({
      // The two functions (and their versions/aliases, as CDK's LambdaInvoke grants), nothing else.
      'lambda:InvokeFunction': [requestReview, `${requestReview}:*`, recordOutcome, `${recordOutcome}:*`].sort(),
      // Step Functions sets up log delivery with the role; these actions have no resource-level permissions.
      ...Object.fromEntries(logDelivery.map((action) => [`logs:${action}`, ['*']])),
      'xray:PutTraceSegments': ['*'],
      'xray:PutTelemetryRecords': ['*'],
      'xray:GetSamplingRules': ['*'],
      'xray:GetSamplingTargets': ['*'],
    });
  });

  // S3AuditSink: PutObject (If-None-Match, COMPLIANCE retention date: needs s3:PutObjectRetention), GetObject,
  // ListObjectsV2 (s3:ListBucket, which also makes a missing key a 404 rather than a 403); DynamoChainStore:
  // GetItem and a conditional PutItem of the shard's chain head. The event source mapping reads the stream with
  // this role (ListStreams has no resource-level permissions) and writes failed batches to the failure bucket
  // (PutObject, ListBucket, GenerateDataKey of its key).
  it('audit-writer', () => {
    const fn = functionOf('audit-writer');
    expect(grantsOf(fn.roleId)).toEqual({
      's3:PutObject': [`${auditBucket}/audit/*`, `${failureBucket}/*`].sort(),
      's3:PutObjectRetention': [`${auditBucket}/audit/*`],
      's3:GetObject': [`${auditBucket}/audit/*`],
      's3:ListBucket': [auditBucket, failureBucket].sort(),
      'kms:GenerateDataKey': [auditKey],
      'kms:Decrypt': [auditKey, tableKey].sort(),
      'dynamodb:GetItem': [table],
      'dynamodb:PutItem': [table],
      'dynamodb:DescribeStream': [`${table}.StreamArn`],
      'dynamodb:GetRecords': [`${table}.StreamArn`],
      'dynamodb:GetShardIterator': [`${table}.StreamArn`],
      'dynamodb:ListStreams': ['*'],
      ...xrayAndLogs(fn.logGroupId),
    });
  });

  // The writer's code and grants on the log and the chain heads, plus reading the failure bucket.
  it('audit-redrive', () => {
    const fn = functionOf('audit-redrive');
    expect(grantsOf(fn.roleId)).toEqual({
      's3:PutObject': [`${auditBucket}/audit/*`],
      's3:PutObjectRetention': [`${auditBucket}/audit/*`],
      's3:GetObject': [`${auditBucket}/audit/*`, `${failureBucket}/*`].sort(),
      's3:ListBucket': [auditBucket, failureBucket].sort(),
      // readS3Failures reads every version of the failure bucket.
      's3:ListBucketVersions': [failureBucket],
      's3:GetObjectVersion': [`${failureBucket}/*`],
      'kms:GenerateDataKey': [auditKey],
      'kms:Decrypt': [auditKey],
      'dynamodb:GetItem': [table],
      'dynamodb:PutItem': [table],
      ...xrayAndLogs(fn.logGroupId),
    });
  });

  // Lists and reads the hour's objects (audit/), reads the previous digest and writes the new one with a
  // retention date (digests/), signs it (KmsSigner: Sign, GetPublicKey).
  it('audit-digest', () => {
    const fn = functionOf('audit-digest');
    expect(grantsOf(fn.roleId)).toEqual({
      's3:GetObject': [`${auditBucket}/audit/*`, `${auditBucket}/digests/*`, `${auditBucket}/reconciliations/*`].sort(),
      's3:PutObject': [`${auditBucket}/digests/*`, `${auditBucket}/reconciliations/*`].sort(),
      's3:PutObjectRetention': [`${auditBucket}/digests/*`, `${auditBucket}/reconciliations/*`].sort(),
      's3:ListBucket': [auditBucket],
      // The daily reconciliation: event ids and times only (the statement's conditions are pinned below).
      'dynamodb:Scan': [table],
      // The audit writer's chain heads, which vouch for the objects it signs (leading keys pinned below).
      'dynamodb:GetItem': [table],
      'kms:GenerateDataKey': [auditKey],
      'kms:Decrypt': [auditKey, tableKey].sort(),
      'kms:Sign': [signingKey],
      'kms:GetPublicKey': [signingKey],
      ...xrayAndLogs(fn.logGroupId),
    });
  });

  // Lists the bucket; reads the objects, the digests (which list them with their hashes) and the copy's
  // manifests; writes Parquet files and manifests with a retention date under columnar/ only. No table, no signing.
  it('audit-compact', () => {
    const fn = functionOf('audit-compact');
    expect(grantsOf(fn.roleId)).toEqual({
      's3:GetObject': [`${auditBucket}/audit/*`, `${auditBucket}/columnar/*`, `${auditBucket}/digests/*`].sort(),
      's3:PutObject': [`${auditBucket}/columnar/*`],
      's3:PutObjectRetention': [`${auditBucket}/columnar/*`],
      's3:ListBucket': [auditBucket],
      'kms:GenerateDataKey': [auditKey],
      'kms:Decrypt': [auditKey],
      ...xrayAndLogs(fn.logGroupId),
    });
  });

  it('audit-digest may scan the table for event ids and times only, never a review item\'s task token', () => {
    const scan = statementsOf(functionOf('audit-digest').roleId).filter((s) => s.Action === 'dynamodb:Scan');
    expect(scan).toHaveLength(1);
    expect(scan[0]!.Condition).toEqual({
      'ForAllValues:StringEquals': { 'dynamodb:Attributes': ['pk', 'sk', 'kind', 'eventId', 'occurredAt', 'key', 'receivedAt', 'auditEvent'] },
      StringEqualsIfExists: { 'dynamodb:Select': 'SPECIFIC_ATTRIBUTES' },
    });
  });

  it('each schedule invokes its one function and nothing else', () => {
    const invoked = Object.values(template.findResources('AWS::Scheduler::Schedule') as Record<string, { Properties: Json }>).map((schedule) => {
      const roleId = ((schedule.Properties.Target as Json).RoleArn as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
      return grantsOf(roleId);
    });
    expect(invoked).toEqual(expect.arrayContaining([
      // The L2 LambdaInvoke target's grant: the function and its versions/aliases.
      { 'lambda:InvokeFunction': [functionOf('audit-digest').id, `${functionOf('audit-digest').id}:*`] },
      { 'lambda:InvokeFunction': [functionOf('audit-redrive').id, `${functionOf('audit-redrive').id}:*`] },
      { 'lambda:InvokeFunction': [functionOf('audit-compact').id, `${functionOf('audit-compact').id}:*`] },
    ]));
    expect(invoked).toHaveLength(3);
  });

  it('decrypts with the Slack secret\'s key only through Secrets Manager', () => {
    const slackKeyStatements = ['request-review', 'record-outcome', 'slack-interactions', 'review-api', 'record-execution'].flatMap((service) =>
      statementsOf(functionOf(service).roleId).filter((s) => JSON.stringify(s.Resource).includes(`"${slackKey}"`)),
    );
    // One per role (slack-interactions' second grant, for the signing secret, is the same statement).
    expect(slackKeyStatements).toHaveLength(5);
    for (const statement of slackKeyStatements) {
      expect(statement).toMatchObject({
        Action: 'kms:Decrypt',
        Condition: { StringEquals: { 'kms:ViaService': { 'Fn::Join': ['', ['secretsmanager.', { Ref: 'AWS::Region' }, '.amazonaws.com']] } } },
      });
    }
  });
});

describe('who may sign audit digests (issue 4: only the digest role may kms:Sign)', () => {
  /** Every Allow statement in the template (IAM policies, key policies, resource policies) with an action that covers kms:Sign. */
  function signAllows(): Array<{ at: string; statement: Statement }> {
    const found: Array<{ at: string; statement: Statement }> = [];
    const covers = (action: string) => /^(\*|kms:\*|kms:sign\*?|kms:s\*|kms:si\*|kms:sig\*)$/i.test(action);
    const visit = (at: string, value: unknown): void => {
      if (Array.isArray(value)) value.forEach((item) => visit(at, item));
      else if (typeof value === 'object' && value !== null) {
        const object = value as Statement;
        if ('Effect' in object && object.Effect === 'Allow' && (('Action' in object && ([object.Action].flat() as string[]).some(covers)) || 'NotAction' in object)) {
          found.push({ at, statement: object });
        }
        Object.values(object).forEach((item) => visit(at, item));
      }
    };
    for (const [id, resource] of Object.entries(resources)) visit(id, resource.Properties);
    return found;
  }

  it('no IAM policy but the digest role\'s allows kms:Sign, and that one on the signing key only', () => {
    const digestRole = functionOf('audit-digest').roleId;
    const inPolicies = signAllows().filter(({ at }) => resources[at]?.Type !== 'AWS::KMS::Key');
    expect(inPolicies.map(({ at, statement }) => ({ roles: resources[at]?.Properties?.Roles, resource: statement.Resource }))).toEqual([
      { roles: [{ Ref: digestRole }], resource: { 'Fn::GetAtt': [signingKey, 'Arn'] } },
    ]);
  });

  it('the signing key\'s policy denies kms:Sign to every other principal, whatever IAM says', () => {
    const keyPolicy = (resources[signingKey]!.Properties!.KeyPolicy as { Statement: Statement[] }).Statement;
    expect(keyPolicy).toContainEqual(
      expect.objectContaining({
        Effect: 'Deny',
        Principal: { AWS: '*' },
        Action: 'kms:Sign',
        Condition: { ArnNotEquals: { 'aws:PrincipalArn': { 'Fn::GetAtt': [functionOf('audit-digest').roleId, 'Arn'] } } },
      }),
    );
    // The only Allow is the account's delegation to IAM (kms:*), which the deny overrides for kms:Sign.
    expect(keyPolicy.filter((s) => s.Effect === 'Allow').map((s) => s.Action)).toEqual(['kms:*']);
  });

  it('no other key can sign: the signing key is the only SIGN_VERIFY key', () => {
    const signing = Object.entries(resources).filter(([, r]) => r.Type === 'AWS::KMS::Key' && r.Properties?.KeyUsage === 'SIGN_VERIFY').map(([id]) => id);
    expect(signing).toEqual([signingKey]);
  });
});

describe('who may resume or start an approval (DESIGN.md decision 1)', () => {
  /** Every statement in the template that names a Step Functions action (or a wildcard that would cover one). */
  function statesStatements(): Array<{ at: string; actions: string[]; statement: Statement }> {
    const found: Array<{ at: string; actions: string[]; statement: Statement }> = [];
    const visit = (at: string, value: unknown): void => {
      if (Array.isArray(value)) value.forEach((item) => visit(at, item));
      else if (typeof value === 'object' && value !== null) {
        const object = value as Statement;
        if ('Effect' in object && ('Action' in object || 'NotAction' in object)) {
          const actions = [object.Action ?? object.NotAction].flat() as string[];
          const matching = actions.filter((a) => a === '*' || /^states:/i.test(a) || 'NotAction' in object);
          if (matching.length > 0) found.push({ at, actions: matching, statement: object });
        }
        Object.values(object).forEach((item) => visit(at, item));
      }
    };
    for (const [id, resource] of Object.entries(resources)) visit(id, resource.Properties);
    return found;
  }

  it('only the slack-interactions, teams-interactions and review-api roles may states:SendTask*; evaluate-action may only StartExecution', () => {
    const byPolicy = statesStatements().map(({ at, actions, statement }) => ({
      roles: ((resources[at]?.Properties?.Roles ?? []) as Array<{ Ref: string }>).map((r) => r.Ref),
      type: resources[at]?.Type,
      actions: [...actions].sort(),
      effect: statement.Effect,
    }));
    expect(byPolicy).toHaveLength(4);
    expect(byPolicy).toEqual(
      expect.arrayContaining([
        { roles: [functionOf('slack-interactions').roleId], type: 'AWS::IAM::Policy', actions: ['states:SendTaskFailure', 'states:SendTaskSuccess'], effect: 'Allow' },
        { roles: [functionOf('teams-interactions').roleId], type: 'AWS::IAM::Policy', actions: ['states:SendTaskFailure', 'states:SendTaskSuccess'], effect: 'Allow' },
        { roles: [functionOf('review-api').roleId], type: 'AWS::IAM::Policy', actions: ['states:SendTaskFailure', 'states:SendTaskSuccess'], effect: 'Allow' },
        { roles: [functionOf('evaluate-action').roleId], type: 'AWS::IAM::Policy', actions: ['states:StartExecution'], effect: 'Allow' },
      ]),
    );
  });

  it('grants agents nothing in Step Functions: no resource policy (bus, keys, queue) names a states action or a wildcard action', () => {
    const resourcePolicies = statesStatements().filter(({ at }) => resources[at]?.Type !== 'AWS::IAM::Policy');
    expect(resourcePolicies).toEqual([]);
    // Agents reach Countersign only through the bus, whose policy allows nothing but events:PutEvents.
    const busActions = Object.values(template.findResources('AWS::Events::EventBus') as Resources).flatMap((bus) => (bus.Properties?.Policy as { Statement: Statement[] }).Statement.map((s) => s.Action));
    expect(busActions).toHaveLength(4);
    expect(new Set(busActions)).toEqual(new Set(['events:PutEvents']));
  });
});

describe('item families per role (dynamodb:LeadingKeys)', () => {
  /** Each role's statements that allow a table item action, with the partition key prefixes they are limited to. */
  function tableStatementsOf(service: string): Array<{ actions: string[]; leadingKeys: unknown }> {
    return statementsOf(functionOf(service).roleId)
      .filter((s) => [s.Resource].flat().some((r) => resourceName(r) === table))
      .map((s) => ({ actions: [s.Action].flat() as string[], leadingKeys: (s.Condition?.['ForAllValues:StringLike'] as Json | undefined)?.['dynamodb:LeadingKeys'] }));
  }

  it.each([
    ['evaluate-action', ['REQ#*']],
    ['decision-api', ['REQ#*']],
    ['issue-credentials', ['REQ#*']],
    ['request-review', ['REQ#*', 'REVIEW#*']],
    ['record-outcome', ['REQ#*', 'REVIEW#*']],
    ['slack-interactions', ['REQ#*', 'REVIEW#*']],
    ['review-api', ['REQ#*', 'REVIEW#*']],
    ['teams-interactions', ['REQ#*', 'REVIEW#*']],
    ['record-execution', ['REQ#*', 'REVIEW#*']],
    ['audit-writer', ['AUDIT#SHARD#*']],
  ])('%s may touch only items under %j, besides its flood-control grant on AGENT#*', (service, prefixes) => {
    const statements = tableStatementsOf(service).filter((s) => JSON.stringify(s.leadingKeys) !== JSON.stringify(['AGENT#*']));
    expect(statements.length).toBeGreaterThan(0);
    for (const statement of statements) expect(statement.leadingKeys, `${service}: ${statement.actions.join(', ')}`).toEqual(prefixes);
  });

  // Flood control (DynamoAgentGuard): each role may do on an agent's items (AGENT#<agentId>) exactly what its handler does.
  it.each([
    // Admission: GetItem of the state and the payload's slot, then a transaction of an Update and a conditional Put; the burst's UpdateItem;
    // a conflict giving its slot back (a conditional Delete and an Update).
    ['evaluate-action', ['dynamodb:DeleteItem', 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem']],
    // GET /agents/{agentId}: one Query.
    ['decision-api', ['dynamodb:Query']],
    // Giving a slot back: a transaction of a conditional Delete and an Update.
    ['record-outcome', ['dynamodb:DeleteItem', 'dynamodb:UpdateItem']],
    // Quarantine and lift: read the state (GetItem, Query), write it with its audit event item (Update, Put), give slots back (Delete).
    ['slack-interactions', ['dynamodb:DeleteItem', 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:Query', 'dynamodb:UpdateItem']],
    ['review-api', ['dynamodb:DeleteItem', 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:Query', 'dynamodb:UpdateItem']],
    // The same from Teams ("Block this agent"), and counting a deny toward automatic quarantine (Update of the state, Put of the marker).
    ['teams-interactions', ['dynamodb:DeleteItem', 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:Query', 'dynamodb:UpdateItem']],
    ['request-review', []],
    // A report of an act started after the agent's quarantine is a violation: one GetItem of its state.
    ['record-execution', ['dynamodb:GetItem', 'dynamodb:UpdateItem']],
    // A quarantined agent gets no credentials: one GetItem of its state.
    ['issue-credentials', ['dynamodb:GetItem']],
    ['audit-writer', []],
  ])('%s may do only %j on AGENT#* items', (service, actions) => {
    const statements = tableStatementsOf(service).filter((s) => JSON.stringify(s.leadingKeys) === JSON.stringify(['AGENT#*']));
    expect(statements.flatMap((s) => s.actions).sort()).toEqual(actions);
  });

  it('audit-redrive writes only chain heads, and reads chain heads and request partitions (the failed items\' content), never a review item', () => {
    const statements = tableStatementsOf('audit-redrive');
    expect(statements).toEqual(expect.arrayContaining([
      { actions: ['dynamodb:PutItem'], leadingKeys: ['AUDIT#SHARD#*'] },
      { actions: ['dynamodb:GetItem'], leadingKeys: ['AUDIT#SHARD#*', 'REQ#*'] },
    ]));
    expect(statements).toHaveLength(2);
  });

  it('audit-digest holds only the reconciliation\'s Scan on the table, limited to ids and times, and GetItem of chain heads only', () => {
    const statements = tableStatementsOf('audit-digest');
    expect(statements.map((s) => s.actions)).toEqual(expect.arrayContaining([['dynamodb:Scan'], ['dynamodb:GetItem']]));
    expect(statements).toHaveLength(2);
    // The chain heads (AUDIT#SHARD#<shard>): never a request, review (task token) or agent item.
    expect(statements.find((s) => s.actions.includes('dynamodb:GetItem'))).toEqual({ actions: ['dynamodb:GetItem'], leadingKeys: ['AUDIT#SHARD#*'] });
  });

  it('the prefixes are the ones the adapters write, so no review role can reach an audit chain head', () => {
    expect(ITEM_FAMILIES).toEqual({ requests: 'REQ#', agents: 'AGENT#', reviews: 'REVIEW#', auditChain: 'AUDIT#SHARD#' });
    expect(CHAIN_ITEM.pk('shardId-1')).toBe('AUDIT#SHARD#shardId-1');
  });
});
