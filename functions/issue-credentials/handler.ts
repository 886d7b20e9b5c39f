import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { STSClient } from '@aws-sdk/client-sts';
import { Logger } from '@aws-lambda-powertools/logger';
import { Tracer } from '@aws-lambda-powertools/tracer';
import type { APIGatewayProxyEventV2WithIAMAuthorizer, Context, LambdaFunctionURLResult } from 'aws-lambda';
import { DynamoAgentGuard } from '../../shared/adapters/aws/dynamo-agent-guard.js';
import { DynamoCredentialsStore } from '../../shared/adapters/aws/dynamo-credentials-store.js';
import { instrumented } from '../../shared/adapters/aws/lambda-handler.js';
import { StsCredentialIssuer } from '../../shared/adapters/aws/sts-credential-issuer.js';
import { credentialsApiConfig } from '../../shared/config.js';
import { answerCredentialsRequest, type CredentialsApiDeps } from '../../shared/credentials/credentials-api.js';
import { loadExecutionGrantsFile } from '../../shared/credentials/grants-file.js';
import { loadDirectoryFile } from '../../shared/review/directory-file.js';

const config = credentialsApiConfig();
const logger = new Logger({ serviceName: 'issue-credentials' });
const tracer = new Tracer({ serviceName: 'issue-credentials' });
const dynamo = tracer.captureAWSv3Client(new DynamoDBClient({}));
const agents = new DynamoAgentGuard(dynamo, config.tableName);
const deps: CredentialsApiDeps = {
  store: new DynamoCredentialsStore(dynamo, config.tableName),
  issuer: new StsCredentialIssuer(tracer.captureAWSv3Client(new STSClient({}))),
  grants: loadExecutionGrantsFile(config.executionGrantsFile),
  directory: loadDirectoryFile(config.directoryFile),
  roleArns: config.executionRoleArns,
  region: config.region,
  now: () => new Date(),
  // A quarantined agent gets no credentials, even for an approval given before the quarantine.
  quarantineOf: (agentId) => agents.quarantineOf(agentId),
};

/** `POST /actions/{actionId}/credentials` behind a Function URL with AWS_IAM auth: the caller must be the request's agent. */
export const handler = instrumented({ logger, tracer }, async (event: APIGatewayProxyEventV2WithIAMAuthorizer, context: Context): Promise<LambdaFunctionURLResult> => {
  // Optional chaining: a misconfigured URL (auth NONE) has no authorizer, and is answered 403.
  const callerArn = (event.requestContext.authorizer as Partial<typeof event.requestContext.authorizer> | undefined)?.iam?.userArn;
  const { response, log } = await answerCredentialsRequest({ method: event.requestContext.http.method, path: event.rawPath, callerArn, requestId: context.awsRequestId }, deps);
  // `log` never holds the credentials: only the status, the action, the rule or the role and session name.
  logger.info('credentials request answered', { ...log, callerArn });
  return response;
});
