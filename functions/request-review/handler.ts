import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { Tracer } from '@aws-lambda-powertools/tracer';
import { DynamoReviewStore } from '../../shared/adapters/aws/dynamo-review-store.js';
import { SlackCredentialsCache } from '../../shared/adapters/aws/slack-credentials.js';
import { instrumented } from '../../shared/adapters/aws/lambda-handler.js';
import { SlackReviewChannel, slackWebClient } from '../../shared/adapters/slack/slack-review-channel.js';
import { requestReviewConfig } from '../../shared/config.js';
import { loadDirectoryFile } from '../../shared/review/directory-file.js';
import { teamsDepsOf } from '../../shared/adapters/aws/teams-credentials.js';
import { openReview, type OpenReviewDeps } from '../../shared/review/open-review.js';
import type { RequestReviewEvent } from '../../shared/workflow/contract.js';

const config = requestReviewConfig();
const logger = new Logger({ serviceName: 'request-review' });
const metrics = new Metrics({ namespace: 'Countersign', serviceName: 'request-review' });
const tracer = new Tracer({ serviceName: 'request-review' });
const directory = loadDirectoryFile(config.directoryFile);
// Teams beside Slack when configured: cards are posted and updated in the group's Teams channel too.
const teams = teamsDepsOf(config.teams, directory);
const store = new DynamoReviewStore(tracer.captureAWSv3Client(new DynamoDBClient({})), config.tableName);

// The Slack secret is read through a cache with a max age, and again at once when Slack refuses the token.
const slack = new SlackCredentialsCache(config.slack, ({ botToken }): OpenReviewDeps => ({
  store, directory, now: () => new Date(),
  channel: new SlackReviewChannel(slackWebClient({ token: botToken, slackApiUrl: config.slack.apiUrl }), directory),
  ...teams,
}));

/** Invoked by the approval workflow (lambda:invoke.waitForTaskToken) for each phase. The event holds the task token: never log it. */
export const handler = instrumented({ logger, tracer, metrics }, async (event: RequestReviewEvent) => {
  const result = await slack.run((deps) => openReview(event, deps));
  if (result.status === 'slack_unavailable') logger.warn('review phase opened without Slack; the request waits, pending', { ...result });
  else logger.info('review phase opened', { ...result });
  metrics.addDimension('phase', result.phase);
  const metric = { posted: 'ReviewsPosted', already_posted: 'ReviewPhaseRepeats', stale: 'ReviewPhaseRepeats', slack_unavailable: 'ReviewsWithoutSlack' } as const;
  metrics.addMetric(metric[result.status], MetricUnit.Count, 1);
  return result;
});
