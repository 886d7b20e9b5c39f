import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { Tracer } from '@aws-lambda-powertools/tracer';
import type { EventBridgeEvent } from 'aws-lambda';
import { EventBridgeEnvelopeSchema } from '../../shared/adapters/aws/eventbridge-envelope.js';
import { DynamoAgentGuard } from '../../shared/adapters/aws/dynamo-agent-guard.js';
import { DynamoExecutionStore } from '../../shared/adapters/aws/dynamo-execution-store.js';
import { DynamoReviewStore } from '../../shared/adapters/aws/dynamo-review-store.js';
import { instrumented } from '../../shared/adapters/aws/lambda-handler.js';
import { SlackCredentialsCache } from '../../shared/adapters/aws/slack-credentials.js';
import { SlackReviewChannel, slackWebClient } from '../../shared/adapters/slack/slack-review-channel.js';
import { recordExecutionConfig } from '../../shared/config.js';
import { recordExecutionReport, type RecordExecutionDeps } from '../../shared/execution/record-execution.js';
import { announceAgentLimited, channelAlerts, reviewMessages } from '../../shared/execution/review-adapters.js';
import { DETAIL_TYPE_LIMITED, parseAgentLimited } from '../../shared/domain/agent-limited.js';
import { DECIDED_SOURCE } from '../../shared/domain/contract.js';
import { loadDirectoryFile } from '../../shared/review/directory-file.js';
import { teamsDepsOf } from '../../shared/adapters/aws/teams-credentials.js';

const config = recordExecutionConfig();
const logger = new Logger({ serviceName: 'record-execution' });
const metrics = new Metrics({ namespace: 'Countersign', serviceName: 'record-execution' });
const tracer = new Tracer({ serviceName: 'record-execution' });
const directory = loadDirectoryFile(config.directoryFile);
const client = tracer.captureAWSv3Client(new DynamoDBClient({}));
const store = new DynamoExecutionStore(client, config.tableName);
const reviews = new DynamoReviewStore(client, config.tableName);
const agents = new DynamoAgentGuard(client, config.tableName);
const now = () => new Date();
// The review's Teams card shows the execution too, when Teams is configured.
const teams = teamsDepsOf(config.teams, directory);

const slack = new SlackCredentialsCache(config.slack, ({ botToken }) => {
  const channel = new SlackReviewChannel(slackWebClient({ token: botToken, slackApiUrl: config.slack.apiUrl }), directory);
  const deps: RecordExecutionDeps = {
    store,
    now,
    quarantineOf: (agentId) => agents.quarantineOf(agentId),
    alerts: channelAlerts(channel, directory, teams.teams),
    // A reporter past its alert limit (flood control's `violationAlerts`) is recorded, not posted.
    countAlert: (reporter, rule, at) => agents.countViolationAlert(reporter, rule, at, directory.violationAlertLimit()),
    messages: reviewMessages({ store: reviews, channel, ...teams, directory, now }),
  };
  return { ...deps, channel };
});

/**
 * `Action Executed` from agents: records the execution, or the violation, once. `Agent Requests Limited`
 * from evaluate-action (its rule matches source `countersign` only): posts the burst's one line.
 */
export const handler = instrumented({ logger, tracer, metrics }, async (event: EventBridgeEvent<string, unknown>) => {
  // Only EventBridge invokes this function: an envelope that does not parse is a wiring fault, retried then sent to the DLQ.
  const envelope = EventBridgeEnvelopeSchema.parse(event);
  if (envelope['detail-type'] === DETAIL_TYPE_LIMITED && envelope.source === DECIDED_SOURCE) {
    // A detail that does not parse throws (named fields): retried, then dead-lettered with the event.
    const detail = parseAgentLimited(envelope.detail);
    const { group } = await slack.run(({ channel }) => announceAgentLimited(detail, { channel, directory, ...teams }));
    logger.info('flood-control burst announced', { agentId: detail.agentId, limit: detail.limit, group, requestedGroup: detail.group });
    metrics.addMetric('FloodBurstsAnnounced', MetricUnit.Count, 1);
    return { status: 'announced', agentId: detail.agentId, group };
  }
  const result = await slack.run((deps) => recordExecutionReport({ id: envelope.id, source: envelope.source, detailType: envelope['detail-type'], detail: envelope.detail }, deps));
  const summary = { status: result.status, actionId: result.actionId, rule: result.rule, reason: result.reason, alerted: result.alerted, held: result.held === true, messagesUpdated: result.messagesUpdated };
  if (result.status === 'violation') logger.warn('execution violation recorded', summary);
  else logger.info(result.status === 'executed' ? 'execution recorded' : 'report already recorded', summary);
  if (result.warnings.length > 0) logger.warn('recorded, but not everyone was told', { ...summary, warnings: result.warnings });
  if (result.status === 'violation') {
    // The alarm watches the total (service dimension only); the per-rule count is a metric of its own.
    metrics.addMetric('ExecutionViolations', MetricUnit.Count, 1);
    const byRule = metrics.singleMetric();
    byRule.addDimension('rule', result.rule ?? 'unknown');
    byRule.addMetric('ExecutionViolationsByRule', MetricUnit.Count, 1);
    if (result.held === true) metrics.addMetric('ExecutionViolationAlertsHeld', MetricUnit.Count, 1);
  } else {
    metrics.addMetric(result.status === 'executed' ? 'ExecutionsRecorded' : 'DuplicateExecutionReports', MetricUnit.Count, 1);
  }
  return summary;
});
