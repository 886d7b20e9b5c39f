import { App } from 'aws-cdk-lib';
import { CountersignStack, STAGE_PATTERN } from './countersign-stack.js';

// The only place that reads context and the environment: everything below takes props.
const app = new App();
const stage: unknown = app.node.tryGetContext('stage') ?? 'dev';
if (typeof stage !== 'string' || !STAGE_PATTERN.test(stage)) {
  throw new Error(`context "stage" must match ${STAGE_PATTERN}, e.g. \`npx cdk synth -c stage=prod\`; got ${JSON.stringify(stage)}`);
}

new CountersignStack(app, `Countersign-${stage}`, {
  stage,
  // Unset offline (no credentials): the stack is then environment-agnostic, which synth accepts.
  env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
});
