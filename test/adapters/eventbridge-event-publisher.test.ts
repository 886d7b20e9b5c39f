import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { EventBridgeEventPublisher } from '../../shared/adapters/aws/eventbridge-event-publisher.js';
import type { AgentLimitedDetail } from '../../shared/domain/agent-limited.js';
import type { ActionDecidedDetail } from '../../shared/domain/decision.js';
import { AGENT_LIMITED_PATTERN } from '../../shared/store-schema.js';

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

  it('puts one "Agent Requests Limited" event from source countersign (the rule that posts the burst line matches only that source)', async () => {
    const burst: AgentLimitedDetail = { agentId: 'billing-agent', group: 'security', limit: 'approval-rate', reason: 'used its 4 approval requests per hour', resetsAt: '2026-12-07T05:15:00.000Z', at: '2026-12-07T05:00:00.000Z' };
    events.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [{ EventId: 'e-2' }] });
    await new EventBridgeEventPublisher(new EventBridgeClient({}), 'countersign-bus').publishLimited(burst);
    expect(events).toHaveReceivedCommandWith(PutEventsCommand, {
      Entries: [{ EventBusName: 'countersign-bus', Source: AGENT_LIMITED_PATTERN.source[0], DetailType: AGENT_LIMITED_PATTERN['detail-type'][0], Detail: JSON.stringify(burst) }],
    });
    events.on(PutEventsCommand).resolves({ FailedEntryCount: 1, Entries: [{ ErrorCode: 'ThrottlingException', ErrorMessage: 'slow down' }] });
    await expect(new EventBridgeEventPublisher(new EventBridgeClient({}), 'countersign-bus').publishLimited(burst))
      .rejects.toThrow('PutEvents refused "Agent Requests Limited" for agent billing-agent on bus countersign-bus: ThrottlingException slow down');
  });
});
