import { readFileSync } from 'node:fs';
import { idsOfCaller } from '../domain/caller-arn.js';

/**
 * Which agents an IAM caller is, from the approver directory's `agents.<id>.iamPrincipalArns`: what the
 * decision API needs of the directory, read without its schema (the whole directory is validated at synth,
 * in CI and by every other function's cold start; this reads one field and refuses a file where it is not
 * a list of strings).
 */
export interface AgentCallers {
  /** The agents whose IAM identity the caller is: none for an operator's, a CI role's or an executor's identity. */
  agentsOf(callerArn: string): string[];
}

export class AgentCallersError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AgentCallersError';
  }
}

export function agentCallersOf(agents: ReadonlyMap<string, readonly string[]>): AgentCallers {
  return { agentsOf: (callerArn) => idsOfCaller(callerArn, agents) };
}

/** The agents' IAM identities from the directory file at `path` (once per cold start). */
export function loadAgentCallers(path: string): AgentCallers {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new AgentCallersError(`cannot read the approver directory ${path} as JSON (${error instanceof Error ? error.message : String(error)}); set COUNTERSIGN_DIRECTORY_FILE to its path`);
  }
  const agents = (json as { agents?: unknown } | null)?.agents;
  if (typeof agents !== 'object' || agents === null || Array.isArray(agents)) throw new AgentCallersError(`the approver directory ${path} has no "agents" object`);
  // A Map: an agent keyed `__proto__` stays an agent (a plain object would take it for its prototype, and
  // drop it, and its role would read as an operator's).
  const identities = new Map<string, readonly string[]>();
  for (const [agentId, agent] of Object.entries(agents)) {
    if (typeof agent !== 'object' || agent === null || Array.isArray(agent)) throw new AgentCallersError(`the approver directory ${path}: agents.${agentId} must be an object`);
    const arns = (agent as { iamPrincipalArns?: unknown }).iamPrincipalArns ?? [];
    if (!Array.isArray(arns) || !arns.every((arn) => typeof arn === 'string')) throw new AgentCallersError(`the approver directory ${path}: agents.${agentId}.iamPrincipalArns must be a list of ARNs`);
    identities.set(agentId, arns as string[]);
  }
  return agentCallersOf(identities);
}
