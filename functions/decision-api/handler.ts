import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { Logger } from '@aws-lambda-powertools/logger';
import type { LambdaFunctionURLEvent, LambdaFunctionURLResult } from 'aws-lambda';
import { decisionApiConfig } from '../../shared/config.js';
import { DynamoDecisionStore } from '../../shared/adapters/aws/dynamo-decision-store.js';
import { instrumented } from '../../shared/adapters/aws/lambda-handler.js';
import { answerDecisionRequest } from '../../shared/api/decision-api.js';

const config = decisionApiConfig();
const logger = new Logger({ serviceName: 'decision-api' });
// No Tracer: the X-Ray SDK would be a third of this bundle and of its cold start, for one GetItem that
// Lambda's active tracing already times as the invocation.
const store = new DynamoDecisionStore(new DynamoDBClient({}), config.tableName);

export const handler = instrumented({ logger }, async (event: LambdaFunctionURLEvent): Promise<LambdaFunctionURLResult> => {
  const method = event.requestContext.http.method;
  const response = await answerDecisionRequest(method, event.rawPath, store);
  logger.info('decision read', { method, path: event.rawPath, statusCode: response.statusCode });
  return response;
});
