import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SFNClient } from '@aws-sdk/client-sfn';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { Tracer } from '@aws-lambda-powertools/tracer';
import type { LambdaFunctionURLEvent, LambdaFunctionURLResult } from 'aws-lambda';
import { DynamoAgentGuard } from '../../shared/adapters/aws/dynamo-agent-guard.js';
import { DynamoReviewStore } from '../../shared/adapters/aws/dynamo-review-store.js';
import { SfnTaskCallbacks } from '../../shared/adapters/aws/sfn-task-callbacks.js';
import { SlackCredentialsCache } from '../../shared/adapters/aws/slack-credentials.js';
import { instrumented } from '../../shared/adapters/aws/lambda-handler.js';
import { SlackReviewChannel, slackWebClient } from '../../shared/adapters/slack/slack-review-channel.js';
import { slackInteractionsConfig } from '../../shared/config.js';
import { loadDirectoryFile } from '../../shared/review/directory-file.js';
import { teamsDepsOf } from '../../shared/adapters/aws/teams-credentials.js';
import type { QuarantineDeps } from '../../shared/review/quarantine-agent.js';
import { answerSlackRequest, errorResponse, type SlackHttpRequest } from '../../shared/review/slack-interaction.js';

const config = slackInteractionsConfig();
const logger = new Logger({ serviceName: 'slack-interactions' });
const metrics = new Metrics({ namespace: 'Countersign', serviceName: 'slack-interactions' });
const tracer = new Tracer({ serviceName: 'slack-interactions' });
const directory = loadDirectoryFile(config.directoryFile);
// Teams beside Slack when configured: cards are posted and updated in the group's Teams channel too.
const teams = teamsDepsOf(config.teams, directory);
const dynamo = tracer.captureAWSv3Client(new DynamoDBClient({}));
const store = new DynamoReviewStore(dynamo, config.tableName);
// "Block this agent": quarantine from the review message (issue 16).
const guard = new DynamoAgentGuard(dynamo, config.tableName);
const callbacks = new SfnTaskCallbacks(tracer.captureAWSv3Client(new SFNClient({})));

const slack = new SlackCredentialsCache(config.slack, ({ botToken }): QuarantineDeps => ({
  store, guard, callbacks, directory, now: () => new Date(),
  channel: new SlackReviewChannel(slackWebClient({ token: botToken, slackApiUrl: config.slack.apiUrl, interactive: true }), directory),
  ...teams,
}));

/** Checks and answers a request; a signature that fails with the cached secret is checked once more after a forced refetch (a rotation). */
const answer = (request: SlackHttpRequest) => slack.run(async (deps, credentials) => {
  const first = await answerSlackRequest(request, credentials.signingSecret, deps);
  if (first.log.status !== 'bad_signature' || first.response.statusCode !== 401) return first;
  const fresh = await slack.refresh();
  return fresh === undefined ? first : answerSlackRequest(request, fresh.credentials.signingSecret, fresh.value);
});

/** Slack's interactivity URL (Function URL, auth NONE: Slack signs each request). */
export const handler = instrumented({ logger, tracer, metrics }, async (event: LambdaFunctionURLEvent): Promise<LambdaFunctionURLResult> => {
  try {
    const request = { method: event.requestContext.http.method, headers: event.headers ?? {}, body: event.body, isBase64Encoded: event.isBase64Encoded, nowSeconds: Math.floor(Date.now() / 1000) };
    const { response, log } = await answer(request);
    if (response.statusCode >= 400) logger.warn('interaction refused', { statusCode: response.statusCode, ...log });
    else logger.info('interaction answered', { statusCode: response.statusCode, ...log });
    metrics.addDimension('status', String(log.status ?? response.statusCode));
    metrics.addMetric('Interactions', MetricUnit.Count, 1);
    return response;
  } catch (error) {
    logger.error('interaction failed', { error });
    return errorResponse(500, 'InternalError', 'Countersign could not handle this interaction; try again');
  }
});
