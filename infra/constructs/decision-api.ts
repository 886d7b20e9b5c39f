import { basename, posix } from 'node:path';
import { CfnOutput } from 'aws-cdk-lib';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import type { IGrantable, Grant } from 'aws-cdk-lib/aws-iam';
import { FunctionUrlAuthType, type FunctionUrl } from 'aws-cdk-lib/aws-lambda';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { ENV } from '../../shared/config.js';
import { grantItems } from './decision-store.js';
import { HouseFunction, type PowertoolsLogLevel } from './house-function.js';
import { BUNDLED_CONFIG_DIR, LAMBDA_TASK_ROOT } from './slack-reviews.js';

export interface DecisionApiProps {
  /** The decision table, read with GetItem and Query only; its encryption key, if any, for kms:Decrypt. */
  readonly table: ITable;
  /**
   * The approver directory (validated by the stack's reviews): the API reads its agents' IAM identities, and
   * answers an agent's identity only for that agent's requests and state.
   */
  readonly directoryFile: string;
  /** @default - the house default */
  readonly logRetention?: RetentionDays;
  /** @default - the house default */
  readonly logLevel?: PowertoolsLogLevel;
}

/**
 * `GET /actions/{actionId}` as a Lambda Function URL with AWS_IAM auth: callers sign with SigV4 and need
 * `lambda:InvokeFunctionUrl` and `lambda:InvokeFunction` with `lambda:InvokedViaFunctionUrl` (see `grantInvoke`). Read-only on the table.
 * An agent's IAM identity (the directory's `agents.<id>.iamPrincipalArns`) reads only that agent's requests.
 */
export class DecisionApi extends Construct {
  readonly handler: HouseFunction;
  readonly functionUrl: FunctionUrl;
  /** The Function URL (ends with "/"); also the stack output `DecisionApiUrl`. */
  readonly url: string;

  constructor(scope: Construct, id: string, props: DecisionApiProps) {
    super(scope, id);
    this.handler = new HouseFunction(this, 'Handler', {
      entry: 'functions/decision-api/handler.ts',
      serviceName: 'decision-api',
      description: 'Countersign: GET /actions/{actionId}, the decision on a request',
      memorySize: 256,
      // A hot, read-only path that agents poll: no source-map cost on its cold starts.
      sourceMaps: false,
      environment: { [ENV.tableName]: props.table.tableName, [ENV.directoryFile]: posix.join(LAMBDA_TASK_ROOT, BUNDLED_CONFIG_DIR, basename(props.directoryFile)) },
      bundledFiles: [{ source: props.directoryFile, targetDir: BUNDLED_CONFIG_DIR }],
      logRetention: props.logRetention,
      logLevel: props.logLevel,
    });
    const fn = this.handler.function;
    // The handler's only SDK calls, in DynamoDecisionStore.getDecision: GetItem of the request item, and
    // Query of its accepted votes while a review is open (the least-privilege test pins both).
    grantItems(props.table, fn, ['requests'], 'dynamodb:GetItem', 'dynamodb:Query');
    // GET /agents/{agentId}: one Query of the agent's state and open-review slots.
    grantItems(props.table, fn, ['agents'], 'dynamodb:Query');
    props.table.encryptionKey?.grant(fn, 'kms:Decrypt');

    this.functionUrl = fn.addFunctionUrl({ authType: FunctionUrlAuthType.AWS_IAM });
    this.url = this.functionUrl.url;
    const output = new CfnOutput(this, 'Url', {
      value: this.url,
      description: 'Decision API (AWS_IAM auth, SigV4 service "lambda"): GET <url>actions/{actionId}',
    });
    output.overrideLogicalId('DecisionApiUrl');
  }

  /**
   * Lets a principal (a CI role, an executor) call the API: `grantInvokeUrl` grants both actions Lambda checks
   * for an AWS_IAM Function URL (the README's policy JSON is held to these statements by a test).
   */
  grantInvoke(grantee: IGrantable): Grant {
    return this.handler.function.grantInvokeUrl(grantee);
  }
}
