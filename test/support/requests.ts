import { randomUUID } from 'node:crypto';
import type { IncomingEvent } from '../../shared/domain/intake.js';

/** An `Action Requested` event as EventBridge hands it to evaluate-action, with overridable detail. */
export function actionRequested(detail: Record<string, unknown> = {}, options: { source?: string; id?: string } = {}): IncomingEvent {
  const agentId = (detail.agent as { id?: string } | undefined)?.id ?? 'billing-agent';
  return {
    id: options.id ?? randomUUID(),
    source: options.source ?? `agent.${agentId}`,
    detailType: 'Action Requested',
    detail: {
      specVersion: '1',
      actionId: `act-${randomUUID()}`,
      agent: { id: agentId, onBehalfOf: 'alice@example.com' },
      action: 'db.query',
      resource: { type: 'Database', id: 'customers' },
      environment: 'prod',
      parameters: { sql: 'select count(*) from customers' },
      justification: 'daily report',
      ...detail,
    },
  };
}
