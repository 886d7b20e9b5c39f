import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { Logger } from '@aws-lambda-powertools/logger';
import type { APIGatewayProxyEventV2WithIAMAuthorizer, LambdaFunctionURLResult } from 'aws-lambda';
import { decisionApiConfig } from '../../shared/config.js';
import { DynamoAgentGuard } from '../../shared/adapters/aws/dynamo-agent-guard.js';
import { DynamoDecisionStore } from '../../shared/adapters/aws/dynamo-decision-store.js';
import { instrumented } from '../../shared/adapters/aws/lambda-handler.js';
import { loadAgentCallers } from '../../shared/api/agent-callers.js';
import { answerDecisionRequest } from '../../shared/api/decision-api.js';

const config = decisionApiConfig();
const logger = new Logger({ serviceName: 'decision-api' });
// No Tracer: the X-Ray SDK would be a third of this bundle and of its cold start, for one GetItem that
// Lambda's active tracing already times as the invocation.
const dynamo = new DynamoDBClient({});
const store = new DynamoDecisionStore(dynamo, config.tableName);
const agents = new DynamoAgentGuard(dynamo, config.tableName);
const agentCallers = loadAgentCallers(config.directoryFile);

/** Behind a Function URL with AWS_IAM auth: an agent's identity reads its own requests only (see answerDecisionRequest). */
export const handler = instrumented({ logger }, async (event: APIGatewayProxyEventV2WithIAMAuthorizer): Promise<LambdaFunctionURLResult> => {
  const method = event.requestContext.http.method;
  // Optional chaining: a misconfigured URL (auth NONE) has no authorizer, and is answered 403.
  const callerArn = (event.requestContext.authorizer as Partial<typeof event.requestContext.authorizer> | undefined)?.iam?.userArn;
  const response = await answerDecisionRequest(method, event.rawPath, store, agents, { callerArn, agents: agentCallers });
  logger.info('decision read', { method, path: event.rawPath, statusCode: response.statusCode, callerArn });
  return response;
});
