import { PutEventsCommand, type EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { DECIDED_SOURCE, DETAIL_TYPE_DECIDED } from '../../domain/contract.js';
import type { ActionDecidedDetail } from '../../domain/decision.js';
import type { EventPublisher } from '../../ports/index.js';

export class PublishError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PublishError';
  }
}

/** Publishes `Action Decided` on the Countersign bus. */
export class EventBridgeEventPublisher implements EventPublisher {
  constructor(
    private readonly client: EventBridgeClient,
    private readonly eventBusName: string,
  ) {}

  async publishDecided(detail: ActionDecidedDetail): Promise<void> {
    const response = await this.client.send(new PutEventsCommand({
      Entries: [{
        EventBusName: this.eventBusName,
        Source: DECIDED_SOURCE,
        DetailType: DETAIL_TYPE_DECIDED,
        Detail: JSON.stringify(detail),
      }],
    }));
    const failed = response.Entries?.[0];
    if ((response.FailedEntryCount ?? 0) > 0 || failed?.ErrorCode !== undefined) {
      // PutEvents reports failures per entry with HTTP 200: throw so the invocation is retried.
      throw new PublishError(`PutEvents refused "Action Decided" for ${detail.actionId ?? detail.requestEventId} on bus ${this.eventBusName}: ${failed?.ErrorCode ?? 'unknown'} ${failed?.ErrorMessage ?? ''}`.trim());
    }
  }
}
