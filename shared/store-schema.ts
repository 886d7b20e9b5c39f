/**
 * The decision table's key schema, used by the CDK construct and by the local stack's table, so
 * both always agree.
 */
export const DECISION_TABLE = {
  partitionKey: { name: 'pk', type: 'S' },
  sortKey: { name: 'sk', type: 'S' },
  /** Every item has `kind`: `request` (one per request, mutable status) or `event` (immutable). */
  kindAttribute: 'kind',
  /**
   * The table's TTL attribute (epoch seconds). Only bookkeeping items that have served their purpose carry
   * it (an agent's counted-rejection markers); requests and event items never do: they are the record.
   */
  timeToLiveAttribute: 'deleteAfterEpochSeconds',
} as const;

/** The EventBridge rule pattern that routes agents' requests to evaluate-action (AWS and local). */
export const ACTION_REQUESTED_PATTERN = {
  'detail-type': ['Action Requested'],
  source: [{ prefix: 'agent.' }],
} as const;

/** The rule pattern that routes agents' execution reports to record-execution (AWS and local). */
export const ACTION_EXECUTED_PATTERN = {
  'detail-type': ['Action Executed'],
  source: [{ prefix: 'agent.' }],
} as const;

/**
 * The rule pattern that routes evaluate-action's flood-control bursts to record-execution, which posts the
 * one line (AWS and local). Source `countersign` exactly: the bus policy lets only the decision publishers
 * send it, and agents' PutEvents is pinned to `agent.<id>`, so no agent can make a channel post this.
 */
export const AGENT_LIMITED_PATTERN = {
  'detail-type': ['Agent Requests Limited'],
  source: ['countersign'],
} as const;
