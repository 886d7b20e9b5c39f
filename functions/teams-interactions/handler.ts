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
import { loadTeamsCredentials, TeamsClientCache, teamsReviewBoard } from '../../shared/adapters/aws/teams-credentials.js';
import { instrumented } from '../../shared/adapters/aws/lambda-handler.js';
import { SlackReviewChannel, slackWebClient } from '../../shared/adapters/slack/slack-review-channel.js';
import { teamsInteractionsConfig } from '../../shared/config.js';
import { loadDirectoryFile } from '../../shared/review/directory-file.js';
import { errorResponse } from '../../shared/review/slack-interaction.js';
import { answerTeamsRequest, type TeamsInteractionDeps } from '../../shared/review/teams-interaction.js';
import { BotFrameworkTokenVerifier } from '../../shared/teams/verify-token.js';

const config = teamsInteractionsConfig();
const logger = new Logger({ serviceName: 'teams-interactions' });
const metrics = new Metrics({ namespace: 'Countersign', serviceName: 'teams-interactions' });
const tracer = new Tracer({ serviceName: 'teams-interactions' });
const directory = loadDirectoryFile(config.directoryFile);
const dynamo = tracer.captureAWSv3Client(new DynamoDBClient({}));
const store = new DynamoReviewStore(dynamo, config.tableName);
// "Block this agent", and counting denies toward automatic quarantine.
const guard = new DynamoAgentGuard(dynamo, config.tableName);
const callbacks = new SfnTaskCallbacks(tracer.captureAWSv3Client(new SFNClient({})));
// The JWKS cache lives as long as the warm function; an unknown kid refetches it.
const verifier = new BotFrameworkTokenVerifier(config.teams.openIdMetadataUrl === undefined ? {} : { openIdMetadataUrl: config.teams.openIdMetadataUrl });
const teams = teamsReviewBoard(new TeamsClientCache(config.teams), directory);

// A vote in Teams updates the Slack message too: the Slack bot token, never the signing secret.
const slack = new SlackCredentialsCache(config.slack, ({ botToken }) => ({
  store, guard, callbacks, directory, verifier, teams, now: () => new Date(),
  channel: new SlackReviewChannel(slackWebClient({ token: botToken, slackApiUrl: config.slack.apiUrl, interactive: true }), directory),
}));

/** The bot's messaging endpoint (Function URL, auth NONE: the Bot Framework signs each request with its JWT). */
export const handler = instrumented({ logger, tracer, metrics }, async (event: LambdaFunctionURLEvent): Promise<LambdaFunctionURLResult> => {
  try {
    const request = { method: event.requestContext.http.method, headers: event.headers ?? {}, body: event.body, isBase64Encoded: event.isBase64Encoded };
    const { appId, tenantId } = await loadTeamsCredentials(config.teams);
    const { response, log } = await slack.run((deps): ReturnType<typeof answerTeamsRequest> => answerTeamsRequest(request, { ...deps, bot: { appId, tenantId } } satisfies TeamsInteractionDeps));
    if (response.statusCode >= 400) logger.warn('teams request refused', { statusCode: response.statusCode, ...log });
    else logger.info('teams request answered', { statusCode: response.statusCode, ...log });
    metrics.addDimension('status', String(log.status ?? response.statusCode));
    metrics.addMetric('TeamsInteractions', MetricUnit.Count, 1);
    return response;
  } catch (error) {
    logger.error('teams request failed', { error });
    return errorResponse(500, 'InternalError', 'Countersign could not handle this activity; try again');
  }
});
