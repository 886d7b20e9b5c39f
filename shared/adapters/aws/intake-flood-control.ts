import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { SlackConfig } from '../../config.js';
import type { Directory } from '../../domain/directory.js';
import type { IntakeFloodControl } from '../../domain/intake-guard.js';
import { SlackReviewChannel, slackWebClient } from '../slack/slack-review-channel.js';
import { DynamoAgentGuard } from './dynamo-agent-guard.js';
import { SlackCredentialsCache } from './slack-credentials.js';

/**
 * evaluate-action's flood control: the agent guard on the decision table, the directory's limits, and,
 * when the stack has Slack, the burst line posted with the bot token (no signing secret) to the approver
 * group's Slack channel. A group with only a Teams channel gets no line (the denials are still recorded).
 */
export function intakeFloodControl(dynamo: DynamoDBClient, tableName: string, directory: Directory, slack: SlackConfig | undefined): IntakeFloodControl {
  const guard = new DynamoAgentGuard(dynamo, tableName);
  const limitsOf = (agentId: string) => directory.limitsOf(agentId);
  if (slack === undefined) return { guard, limitsOf };
  const board = new SlackCredentialsCache(slack, ({ botToken }) => new SlackReviewChannel(slackWebClient({ token: botToken, slackApiUrl: slack.apiUrl }), directory));
  return {
    guard,
    limitsOf,
    announceBurst: async (group, text) => {
      const channel = directory.channelsOf(group).slack;
      if (channel !== undefined) await board.run((slackBoard) => slackBoard.postAlert(channel.id, text));
    },
  };
}
