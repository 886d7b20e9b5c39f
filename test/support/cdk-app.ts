import { App, type AppProps } from 'aws-cdk-lib';
import { cdkJsonContext } from '../../infra/cdk-context.js';

export { cdkJsonContext };

/** An App as the CDK CLI makes it from cdk.json, without bundling: infra tests assert templates. */
export function testApp(props: AppProps = {}): App {
  return new App({ ...props, context: { ...cdkJsonContext(), 'aws:cdk:bundling-stacks': [], ...props.context } });
}
