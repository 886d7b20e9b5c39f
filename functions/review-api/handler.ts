import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SFNClient } from '@aws-sdk/client-sfn';
import { Logger } from '@aws-lambda-powertools/logger';
import { Tracer } from '@aws-lambda-powertools/tracer';
import type { APIGatewayProxyEventV2WithIAMAuthorizer, LambdaFunctionURLResult } from 'aws-lambda';
import { DynamoAgentGuard } from '../../shared/adapters/aws/dynamo-agent-guard.js';
import { DynamoDecisionStore } from '../../shared/adapters/aws/dynamo-decision-store.js';
import { DynamoReviewStore } from '../../shared/adapters/aws/dynamo-review-store.js';
import { SfnTaskCallbacks } from '../../shared/adapters/aws/sfn-task-callbacks.js';
import { SlackCredentialsCache } from '../../shared/adapters/aws/slack-credentials.js';
import { instrumented } from '../../shared/adapters/aws/lambda-handler.js';
import { SlackReviewChannel, slackWebClient } from '../../shared/adapters/slack/slack-review-channel.js';
import { reviewApiConfig } from '../../shared/config.js';
import { loadDirectoryFile } from '../../shared/review/directory-file.js';
import { teamsDepsOf } from '../../shared/adapters/aws/teams-credentials.js';
import { errorResponse } from '../../shared/review/slack-interaction.js';
import { answerVoteRequest, type VotesApiDeps } from '../../shared/review/votes-api.js';
import { AGENTS_ROUTE, answerAgentRequest } from '../../shared/review/agents-api.js';
import type { QuarantineDeps } from '../../shared/review/quarantine-agent.js';

const config = reviewApiConfig();
const logger = new Logger({ serviceName: 'review-api' });
const tracer = new Tracer({ serviceName: 'review-api' });
const directory = loadDirectoryFile(config.directoryFile);
// Teams beside Slack when configured: cards are posted and updated in the group's Teams channel too.
const teams = teamsDepsOf(config.teams, directory);
const dynamo = tracer.captureAWSv3Client(new DynamoDBClient({}));
const store = new DynamoReviewStore(dynamo, config.tableName);
const decisions = new DynamoDecisionStore(dynamo, config.tableName);
const guard = new DynamoAgentGuard(dynamo, config.tableName);
const callbacks = new SfnTaskCallbacks(tracer.captureAWSv3Client(new SFNClient({})));

const slack = new SlackCredentialsCache(config.slack, ({ botToken }): VotesApiDeps & QuarantineDeps => ({
  store, decisions, guard, callbacks, directory, now: () => new Date(),
  channel: new SlackReviewChannel(slackWebClient({ token: botToken, slackApiUrl: config.slack.apiUrl }), directory),
  ...teams,
}));

/** `POST /actions/{actionId}/votes` behind a Function URL with AWS_IAM auth: the caller is the reviewer. */
/**
 * The workflow opens the review a moment after the decision API first says `pending`. A vote in that
 * moment is not refused for good: 409 means closed, so it answers 503 with Retry-After, which CI clients
 * and SDK retry policies treat as "try again" (the README's "Votes from CI" says so).
 */
function notOpenYetIsRetry<R extends { statusCode: number; headers: Record<string, string>; body: string }>(response: R): R {
  if (response.statusCode !== 409 || (JSON.parse(response.body) as { error?: unknown }).error !== 'ReviewNotOpen') return response;
  return { ...response, statusCode: 503, headers: { ...response.headers, 'retry-after': String(REVIEW_NOT_OPEN_RETRY_AFTER_SECONDS) } };
}
const REVIEW_NOT_OPEN_RETRY_AFTER_SECONDS = 2;

export const handler = instrumented({ logger, tracer }, async (event: APIGatewayProxyEventV2WithIAMAuthorizer): Promise<LambdaFunctionURLResult> => {
  try {
    const body = event.isBase64Encoded && event.body !== undefined ? Buffer.from(event.body, 'base64').toString('utf8') : event.body;
    // Optional chaining: a misconfigured URL (auth NONE) has no authorizer, and is answered 403.
    const callerArn = (event.requestContext.authorizer as Partial<typeof event.requestContext.authorizer> | undefined)?.iam?.userArn;
    const request = { method: event.requestContext.http.method, path: event.rawPath, body, callerArn };
    // `/agents/{agentId}/quarantine|lift`: the kill switch; everything else is a vote.
    const answer = AGENTS_ROUTE.test(event.rawPath) ? answerAgentRequest : answerVoteRequest;
    const { response, log } = await slack.run((deps) => answer(request, deps));
    logger.info('review API request answered', log);
    return notOpenYetIsRetry(response);
  } catch (error) {
    logger.error('vote request failed', { error });
    return errorResponse(500, 'InternalError', 'Countersign could not handle this vote; try again');
  }
});
