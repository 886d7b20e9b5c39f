import { PutEventsCommand, type EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { DETAIL_TYPE_LIMITED, type AgentLimitedDetail } from '../../domain/agent-limited.js';
import { DECIDED_SOURCE, DETAIL_TYPE_DECIDED } from '../../domain/contract.js';
import type { ActionDecidedDetail } from '../../domain/decision.js';
import type { EventPublisher } from '../../ports/index.js';

export class PublishError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PublishError';
  }
}

/** Publishes Countersign's own events (`Action Decided`, `Agent Requests Limited`) on the Countersign bus. */
export class EventBridgeEventPublisher implements EventPublisher {
  constructor(
    private readonly client: EventBridgeClient,
    private readonly eventBusName: string,
  ) {}

  async publishDecided(detail: ActionDecidedDetail): Promise<void> {
    await this.put(DETAIL_TYPE_DECIDED, detail, detail.actionId ?? detail.requestEventId);
  }

  async publishLimited(detail: AgentLimitedDetail): Promise<void> {
    await this.put(DETAIL_TYPE_LIMITED, detail, `agent ${detail.agentId}`);
  }

  private async put(detailType: string, detail: object, subject: string): Promise<void> {
    const response = await this.client.send(new PutEventsCommand({
      Entries: [{
        EventBusName: this.eventBusName,
        Source: DECIDED_SOURCE,
        DetailType: detailType,
        Detail: JSON.stringify(detail),
      }],
    }));
    const failed = response.Entries?.[0];
    if ((response.FailedEntryCount ?? 0) > 0 || failed?.ErrorCode !== undefined) {
      // PutEvents reports failures per entry with HTTP 200: throw so the caller retries or reports it.
      throw new PublishError(`PutEvents refused "${detailType}" for ${subject} on bus ${this.eventBusName}: ${failed?.ErrorCode ?? 'unknown'} ${failed?.ErrorMessage ?? ''}`.trim());
    }
  }
}
