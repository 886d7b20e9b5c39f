import type { ActionRequest } from './contract.js';

/**
 * The part of a request its `payloadSha256` is taken over: who, what, on which resource, where, with which
 * parameters. Kept out of contract.ts (zod) so a store adapter can name it without carrying the schemas.
 */
export function payloadOf(request: ActionRequest) {
  return {
    agent: request.agent.id,
    onBehalfOf: request.agent.onBehalfOf ?? null,
    action: request.action,
    resource: request.resource,
    environment: request.environment,
    parameters: request.parameters,
  };
}
