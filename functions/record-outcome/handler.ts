import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { Tracer } from '@aws-lambda-powertools/tracer';
import { DynamoAgentGuard } from '../../shared/adapters/aws/dynamo-agent-guard.js';
import { DynamoReviewStore } from '../../shared/adapters/aws/dynamo-review-store.js';
import { EventBridgeEventPublisher } from '../../shared/adapters/aws/eventbridge-event-publisher.js';
import { SlackCredentialsCache } from '../../shared/adapters/aws/slack-credentials.js';
import { instrumented } from '../../shared/adapters/aws/lambda-handler.js';
import { SlackReviewChannel, slackWebClient } from '../../shared/adapters/slack/slack-review-channel.js';
import { recordOutcomeConfig } from '../../shared/config.js';
import { loadDirectoryFile } from '../../shared/review/directory-file.js';
import { teamsDepsOf } from '../../shared/adapters/aws/teams-credentials.js';
import { recordOutcome, type RecordOutcomeDeps } from '../../shared/review/record-outcome.js';
import type { RecordOutcomeEvent } from '../../shared/workflow/contract.js';

const config = recordOutcomeConfig();
const logger = new Logger({ serviceName: 'record-outcome' });
const metrics = new Metrics({ namespace: 'Countersign', serviceName: 'record-outcome' });
const tracer = new Tracer({ serviceName: 'record-outcome' });
const directory = loadDirectoryFile(config.directoryFile);
// Teams beside Slack when configured: cards are posted and updated in the group's Teams channel too.
const teams = teamsDepsOf(config.teams, directory);
const dynamo = tracer.captureAWSv3Client(new DynamoDBClient({}));
const store = new DynamoReviewStore(dynamo, config.tableName);
const guard = new DynamoAgentGuard(dynamo, config.tableName);
const publisher = new EventBridgeEventPublisher(tracer.captureAWSv3Client(new EventBridgeClient({})), config.eventBusName);

const slack = new SlackCredentialsCache(config.slack, ({ botToken }): RecordOutcomeDeps => ({
  store, publisher, guard, directory, now: () => new Date(),
  channel: new SlackReviewChannel(slackWebClient({ token: botToken, slackApiUrl: config.slack.apiUrl }), directory),
  ...teams,
}));

/** The approval workflow's last step on every path (RecordApproved/Rejected/Expired/Failed). */
export const handler = instrumented({ logger, tracer, metrics }, async (event: RecordOutcomeEvent) => {
  const result = await slack.run((deps) => recordOutcome(event, deps));
  const { decision } = result;
  const summary = { actionId: decision.actionId, workflowOutcome: event.outcome, outcome: decision.outcome, reason: decision.reason, reviewers: decision.reviewers.map((r) => `${r.id}:${r.vote}`), closedNow: result.closedNow, published: result.published, messagesUpdated: result.messagesUpdated };
  if (result.warnings.length > 0) logger.warn('outcome recorded, Slack message not updated', { ...summary, warnings: result.warnings });
  else logger.info('outcome recorded', summary);
  metrics.addDimension('outcome', decision.outcome);
  metrics.addMetric('ReviewsClosed', MetricUnit.Count, result.closedNow || result.published ? 1 : 0);
  // validUntil: the workflow waits until then to close the approval's window (always present, null when none).
  return { actionId: decision.actionId, outcome: decision.outcome, reason: decision.reason, decidedAt: decision.decidedAt, validUntil: decision.validUntil };
});
