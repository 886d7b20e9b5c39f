import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { Logger } from '@aws-lambda-powertools/logger';
import { Tracer } from '@aws-lambda-powertools/tracer';
import type { LambdaFunctionURLEvent, LambdaFunctionURLResult } from 'aws-lambda';
import { decisionApiConfig } from '../../shared/config.js';
import { DynamoAgentGuard } from '../../shared/adapters/aws/dynamo-agent-guard.js';
import { DynamoDecisionStore } from '../../shared/adapters/aws/dynamo-decision-store.js';
import { instrumented } from '../../shared/adapters/aws/lambda-handler.js';
import { answerDecisionRequest } from '../../shared/api/decision-api.js';

const config = decisionApiConfig();
const logger = new Logger({ serviceName: 'decision-api' });
const tracer = new Tracer({ serviceName: 'decision-api' });
const dynamo = tracer.captureAWSv3Client(new DynamoDBClient({}));
const store = new DynamoDecisionStore(dynamo, config.tableName);
const agents = new DynamoAgentGuard(dynamo, config.tableName);

export const handler = instrumented({ logger, tracer }, async (event: LambdaFunctionURLEvent): Promise<LambdaFunctionURLResult> => {
  const method = event.requestContext.http.method;
  const response = await answerDecisionRequest(method, event.rawPath, store, agents);
  logger.info('decision read', { method, path: event.rawPath, statusCode: response.statusCode });
  return response;
});
