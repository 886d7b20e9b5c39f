import { resolve } from 'node:path';
import { App } from 'aws-cdk-lib';
import { CountersignStack, STAGE_PATTERN } from './countersign-stack.js';

// The only place that reads context and the environment: everything below takes props.
const app = new App();
const stage: unknown = app.node.tryGetContext('stage') ?? 'dev';
if (typeof stage !== 'string' || !STAGE_PATTERN.test(stage)) {
  throw new Error(`context "stage" must match ${STAGE_PATTERN}, e.g. \`npx cdk synth -c stage=prod\`; got ${JSON.stringify(stage)}`);
}

// The approver directory; a relative path is taken from where `cdk` runs.
const directory: unknown = app.node.tryGetContext('directory');
if (directory !== undefined && (typeof directory !== 'string' || directory.trim() === '')) {
  throw new Error(`context "directory" must be the path of an approver directory JSON, e.g. \`npx cdk deploy -c directory=config/prod-directory.json\`; got ${JSON.stringify(directory)}`);
}
const directoryFile = typeof directory === 'string' ? resolve(directory) : undefined;
// The execution-grant configuration (just-in-time credentials); a relative path is taken from where `cdk` runs.
const executionGrants: unknown = app.node.tryGetContext('executionGrants');
if (executionGrants !== undefined && (typeof executionGrants !== 'string' || executionGrants.trim() === '')) {
  throw new Error(`context "executionGrants" must be the path of an execution-grant JSON, e.g. \`npx cdk deploy -c executionGrants=config/prod-grants.json\`; got ${JSON.stringify(executionGrants)}`);
}
const executionGrantsFile = typeof executionGrants === 'string' ? resolve(executionGrants) : undefined;

// No `env`: the stack is environment-agnostic, so the template names its region and account as
// AWS::Region / AWS::AccountId and deploys unchanged wherever it is deployed. The CLI always sets
// CDK_DEFAULT_REGION (us-east-1 when nothing is configured, e.g. offline in CI); passing it on baked that region
// into kms:ViaService conditions, and a template synthesized in CI could not read its Slack secrets elsewhere.
// The one principal that may disable or delete the audit keys (README, "The audit keys").
const breakGlass: unknown = app.node.tryGetContext('breakGlassPrincipalArn');
if (breakGlass !== undefined && typeof breakGlass !== 'string') {
  throw new Error(`context "breakGlassPrincipalArn" must be an IAM role or user ARN, e.g. \`-c breakGlassPrincipalArn=arn:aws:iam::111122223333:role/audit-break-glass\`; got ${JSON.stringify(breakGlass)}`);
}

// The Bot Connector endpoint of the Teams tenant's region (README, "Reviews in Microsoft Teams").
const teamsServiceUrl: unknown = app.node.tryGetContext('teamsServiceUrl');
if (teamsServiceUrl !== undefined && typeof teamsServiceUrl !== 'string') {
  throw new Error(`context "teamsServiceUrl" must be a URL, e.g. \`-c teamsServiceUrl=https://smba.trafficmanager.net/emea/\`; got ${JSON.stringify(teamsServiceUrl)}`);
}

new CountersignStack(app, `Countersign-${stage}`, { stage, directoryFile, executionGrantsFile, breakGlassPrincipalArn: breakGlass, teamsServiceUrl });
