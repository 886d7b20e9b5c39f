import { Stack, type CfnElement } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { AccountRootPrincipal, Role } from 'aws-cdk-lib/aws-iam';
import { describe, expect, it } from 'vitest';
import { CountersignStack } from '../../infra/countersign-stack.js';
import { readmeBlock, readmeText } from './readme.js';
import { testApp } from '../support/cdk-app.js';

/**
 * The README's IAM text for callers of the AWS_IAM Function URLs (decision API, review API) is what the
 * stack's own grants write: a reader who copies it gets exactly what `grantInvoke` would give, and both
 * actions Lambda checks (lambda:InvokeFunctionUrl, lambda:InvokeFunction via the Function URL).
 */

const app = testApp();
const stack = new CountersignStack(app, 'Countersign-test', { stage: 'test' });
const agentRole = new Role(stack, 'AgentRole', { assumedBy: new AccountRootPrincipal() });
const pipelineRole = new Role(stack, 'PipelineRole', { assumedBy: new AccountRootPrincipal() });
const credentialsCaller = new Role(stack, 'CredentialsCaller', { assumedBy: new AccountRootPrincipal() });
stack.credentials.grantInvoke(credentialsCaller);
stack.decisionApi.grantInvoke(agentRole);
stack.reviews.grantReviewApiInvoke(pipelineRole);
const template = Template.fromStack(stack);

function grantedTo(role: Role): unknown[] {
  const roleId = stack.getLogicalId(role.node.defaultChild as CfnElement);
  const policies = Object.values(template.findResources('AWS::IAM::Policy', { Properties: { Roles: [{ Ref: roleId }] } }));
  expect(policies).toHaveLength(1);
  return (policies[0]!.Properties as { PolicyDocument: { Statement: unknown[] } }).PolicyDocument.Statement;
}

function functionArnOutput(name: string): unknown {
  return (template.findOutputs(name)[name] as { Value: unknown } | undefined)?.Value;
}

/** The README's block, with a placeholder replaced by what the stack resolves it to. */
function readmeStatements(placeholder: string, arn: unknown): unknown[] {
  const block = readmeBlock('json', 'Function URL with `AWS_IAM` auth checks two actions');
  expect(block).toContain(`"${placeholder}"`);
  const parsed = JSON.parse(block.replaceAll(`"${placeholder}"`, JSON.stringify(arn))) as unknown[];
  return parsed;
}

describe('README: the Function URL permissions', () => {
  it('the decision API block is exactly what DecisionApi.grantInvoke grants, on the DecisionApiFunctionArn output', () => {
    const arn = functionArnOutput('DecisionApiFunctionArn');
    expect(arn).toEqual(stack.resolve(stack.decisionApi.handler.function.functionArn));
    const granted = grantedTo(agentRole);
    expect(granted.map((s) => (s as { Action: string }).Action)).toEqual(['lambda:InvokeFunctionUrl', 'lambda:InvokeFunction']);
    expect(readmeStatements('<DecisionApiFunctionArn>', arn)).toEqual(granted);
  });

  it('"Votes from CI" is the same block on the ReviewApiFunctionArn output, what grantReviewApiInvoke grants', () => {
    const arn = functionArnOutput('ReviewApiFunctionArn');
    expect(arn).toEqual(Stack.of(stack).resolve(stack.reviews.reviewApi.function.functionArn));
    expect(readmeText()).toMatch(/\*\*Votes from CI\*\*: give the pipeline's role the two Function URL statements of "Let an agent in" with\s+`<ReviewApiFunctionArn>` in place of `<DecisionApiFunctionArn>`/);
    expect(readmeStatements('<DecisionApiFunctionArn>', arn)).toEqual(grantedTo(pipelineRole));
  });

  it('"Just-in-time AWS credentials": the agent\'s block is what ExecutionCredentials.grantInvoke grants, on the CredentialsApiFunctionArn output', () => {
    const arn = functionArnOutput('CredentialsApiFunctionArn');
    expect(arn).toEqual(stack.resolve(stack.credentials.handler.function.functionArn));
    const block = readmeBlock('json', '`ExecutionCredentials.grantInvoke`');
    expect(block).toContain('"<CredentialsApiFunctionArn>"');
    expect(JSON.parse(block.replaceAll('"<CredentialsApiFunctionArn>"', JSON.stringify(arn)))).toEqual(grantedTo(credentialsCaller));
  });

  it('"Just-in-time AWS credentials": the agent\'s role after holds no DynamoDB action; the execution role does, and only the function may assume it', () => {
    const before = JSON.parse(readmeBlock('json', 'Before, the agent held the privilege itself')) as { Action: string[] };
    expect(before.Action).toEqual(['dynamodb:Scan', 'dynamodb:Query']);
    const after = JSON.stringify(readmeBlock('json', '`ExecutionCredentials.grantInvoke`'));
    expect(after).not.toMatch(/dynamodb:/);
    const execRole = stack.credentials.roles['countersign-exec-db-export']!;
    const trust = stack.resolve((execRole.node.defaultChild as unknown as { assumeRolePolicyDocument: unknown }).assumeRolePolicyDocument) as { Statement: Array<{ Principal: unknown }> };
    for (const statement of trust.Statement) expect(statement.Principal).toEqual({ AWS: stack.resolve(stack.credentials.handler.function.role!.roleArn) });
  });

  it('no README sentence grants lambda:InvokeFunctionUrl alone', () => {
    const paragraphs = readmeText().split(/\n\s*\n/).filter((p) => p.includes('lambda:InvokeFunctionUrl'));
    expect(paragraphs.length).toBeGreaterThan(0);
    for (const paragraph of paragraphs) expect(paragraph).toMatch(/lambda:InvokeFunction[`"]/);
  });
});
