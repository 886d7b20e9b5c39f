import { App, Stack, Validations } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { StateMachine } from 'aws-cdk-lib/aws-stepfunctions';
import { describe, expect, it } from 'vitest';
import { CountersignStack } from '../../infra/countersign-stack.js';

/**
 * Each function's role must grant exactly what its handler's SDK calls need, on exactly the resources they
 * touch: an extra action, an action on an extra resource, or a wildcard fails here. When a handler starts
 * making a new call, add it to the expectation below *and* to the grant, in the same change.
 */

type Json = Record<string, unknown>;
type Resources = Record<string, { Type: string; Properties?: Json }>;

/** action -> the resources it is allowed on (logical ids, or "*"), from every policy attached to the role. */
function grantsOf(template: Template, functionServiceName: string): Record<string, string[]> {
  const resources = template.toJSON().Resources as Resources;
  const fn = Object.values(resources).find(
    (r) => r.Type === 'AWS::Lambda::Function' && (r.Properties?.Environment as { Variables?: Json } | undefined)?.Variables?.POWERTOOLS_SERVICE_NAME === functionServiceName,
  );
  if (fn === undefined) throw new Error(`no function with POWERTOOLS_SERVICE_NAME ${functionServiceName}`);
  const roleId = (fn.Properties?.Role as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
  const role = resources[roleId];
  expect(role?.Properties?.ManagedPolicyArns, 'managed policies').toBeUndefined();
  expect(role?.Properties?.Policies, 'inline role policies').toBeUndefined();

  const documents = Object.values(resources)
    .filter((r) => (r.Type === 'AWS::IAM::Policy' || r.Type === 'AWS::IAM::ManagedPolicy') && JSON.stringify(r.Properties?.Roles ?? []).includes(`"${roleId}"`))
    .map((r) => r.Properties?.PolicyDocument as { Statement: Json[] });

  const grants: Record<string, Set<string>> = {};
  for (const statement of documents.flatMap((d) => d.Statement)) {
    expect(statement.Effect, 'only Allow statements are expected in function roles').toBe('Allow');
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
  if (resource === '*') return '*';
  if (typeof resource === 'string') return resource;
  const value = resource as Json;
  if (value.Ref === 'AWS::NoValue') return undefined; // the table grant's "no indexes" slot
  if (typeof value.Ref === 'string') return value.Ref;
  const getAtt = value['Fn::GetAtt'] as [string, string] | undefined;
  if (getAtt !== undefined && getAtt[1] === 'Arn') return getAtt[0];
  return JSON.stringify(resource); // anything else (Fn::Join, ...) shows up verbatim and fails the comparison
}

function synth(withWorkflow: boolean) {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  let approvalStateMachine;
  if (withWorkflow) {
    const workflow = new Stack(app, 'Workflow');
    Validations.of(workflow).acknowledge({ id: 'CloudFormation-Validate::F0001', reason: 'test fixture: a stack that only imports the state machine' });
    approvalStateMachine = StateMachine.fromStateMachineArn(workflow, 'Approval', STATE_MACHINE_ARN);
  }
  const stack = new CountersignStack(app, 'Countersign-test', { stage: 'test', approvalStateMachine });
  const template = Template.fromStack(stack);
  const ids = (type: string) => Object.keys(template.findResources(type));
  const only = (type: string) => {
    const found = ids(type);
    expect(found, type).toHaveLength(1);
    return found[0]!;
  };
  const table = only('AWS::DynamoDB::Table');
  const tableKey = ((template.findResources('AWS::DynamoDB::Table')[table] as { Properties: Json }).Properties.SSESpecification as { KMSMasterKeyId: { 'Fn::GetAtt': [string] } }).KMSMasterKeyId['Fn::GetAtt'][0];
  const queue = only('AWS::SQS::Queue');
  const queueKey = ((template.findResources('AWS::SQS::Queue')[queue] as { Properties: Json }).Properties.KmsMasterKeyId as { 'Fn::GetAtt': [string] })['Fn::GetAtt'][0];
  const logGroupOf = (service: string) => {
    const fn = Object.values(template.findResources('AWS::Lambda::Function', { Properties: { Environment: { Variables: { POWERTOOLS_SERVICE_NAME: service } } } }))[0] as { Properties: Json };
    return (fn.Properties.LoggingConfig as { LogGroup: { Ref: string } }).LogGroup.Ref;
  };
  return { template, table, tableKey, queue, queueKey, bus: only('AWS::Events::EventBus'), logGroupOf };
}

const STATE_MACHINE_ARN = 'arn:aws:states:eu-west-1:123456789012:stateMachine:approval';

describe('least privilege: each role grants what its handler calls, on what it touches, and nothing else', () => {
  it('evaluate-action', () => {
    const { template, table, tableKey, queue, queueKey, bus, logGroupOf } = synth(false);
    expect(grantsOf(template, 'evaluate-action')).toEqual({
      // DynamoDecisionStore: TransactWriteItems of conditional Puts (authorized item by item as PutItem),
      // PutItem (conflict record), UpdateItem (mark dispatched), GetItem (the earlier request).
      'dynamodb:PutItem': [table],
      'dynamodb:UpdateItem': [table],
      'dynamodb:GetItem': [table],
      // DynamoDB decrypts the table key with the caller's credentials; SQS needs both to encrypt a message.
      'kms:Decrypt': [tableKey, queueKey].sort(),
      'kms:GenerateDataKey': [queueKey],
      // EventBridgeEventPublisher: PutEvents (Action Decided).
      'events:PutEvents': [bus],
      // Lambda sends failed asynchronous invocations to the dead-letter queue with the execution role.
      'sqs:SendMessage': [queue],
      // Active tracing; X-Ray has no resource-level permissions.
      'xray:PutTraceSegments': ['*'],
      'xray:PutTelemetryRecords': ['*'],
      'logs:CreateLogStream': [logGroupOf('evaluate-action')],
      'logs:PutLogEvents': [logGroupOf('evaluate-action')],
    });
  });

  it('evaluate-action with the approval workflow adds StartExecution on that state machine only', () => {
    const { template } = synth(true);
    const grants = grantsOf(template, 'evaluate-action');
    expect(grants['states:StartExecution']).toEqual([STATE_MACHINE_ARN]);
    expect(Object.keys(grants).filter((action) => action.startsWith('states:'))).toEqual(['states:StartExecution']);
  });

  it('decision-api', () => {
    const { template, table, tableKey, logGroupOf } = synth(false);
    expect(grantsOf(template, 'decision-api')).toEqual({
      // DynamoDecisionStore.getDecision: GetItem of the request item.
      'dynamodb:GetItem': [table],
      'kms:Decrypt': [tableKey],
      'xray:PutTraceSegments': ['*'],
      'xray:PutTelemetryRecords': ['*'],
      'logs:CreateLogStream': [logGroupOf('decision-api')],
      'logs:PutLogEvents': [logGroupOf('decision-api')],
    });
  });
});
