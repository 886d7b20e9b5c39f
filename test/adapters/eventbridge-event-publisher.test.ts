import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { EventBridgeEventPublisher } from '../../shared/adapters/aws/eventbridge-event-publisher.js';
import type { ActionDecidedDetail } from '../../shared/domain/decision.js';

const events = mockClient(EventBridgeClient);
const detail: ActionDecidedDetail = {
  actionId: 'q-1',
  requestEventId: '0b8d4e7e-1111-2222-3333-444455556666',
  outcome: 'allowed',
  reason: 'permitted by policy data.query',
  payloadSha256: 'b'.repeat(64),
  policyIds: ['data.query'],
  reviewers: [],
  decidedAt: '2026-11-22T03:00:00.000Z',
  validUntil: '2026-11-22T03:15:00.000Z',
};

describe('EventBridgeEventPublisher', () => {
  beforeEach(() => events.reset());

  it('puts one "Action Decided" event from source countersign on the configured bus', async () => {
    events.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [{ EventId: 'e-1' }] });
    await new EventBridgeEventPublisher(new EventBridgeClient({}), 'countersign-bus').publishDecided(detail);
    expect(events).toHaveReceivedCommandWith(PutEventsCommand, {
      Entries: [{ EventBusName: 'countersign-bus', Source: 'countersign', DetailType: 'Action Decided', Detail: JSON.stringify(detail) }],
    });
  });

  it('throws when EventBridge refuses the entry, naming the error, so the invocation is retried', async () => {
    events.on(PutEventsCommand).resolves({ FailedEntryCount: 1, Entries: [{ ErrorCode: 'InternalFailure', ErrorMessage: 'try again' }] });
    await expect(new EventBridgeEventPublisher(new EventBridgeClient({}), 'countersign-bus').publishDecided(detail))
      .rejects.toThrow(/InternalFailure try again/);
  });
});
