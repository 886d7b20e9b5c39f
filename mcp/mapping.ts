import type { ActionSpec } from '../client/index.js';
import { valueAt } from '../shared/domain/contract.js';
import { DEFAULT_WAIT_SECONDS, TOOL_SEPARATOR, type GatewayConfig, type ToolRule } from './config.js';

/** The verb and resource type of the default mapping: tool T of upstream S is `mcp.call` on `McpTool::"S/T"`. */
export const DEFAULT_VERB = 'mcp.call';
export const DEFAULT_RESOURCE_TYPE = 'McpTool';

export type CallMode = 'wait' | 'defer';

/** How one tool call becomes a request, and how the gateway waits for its decision. */
export interface CallPlan {
  server: string;
  tool: string;
  spec: ActionSpec;
  mode: CallMode;
  waitSeconds: number;
  /** The rule that shaped the request, by its index in `rules`, if one did. */
  ruleIndex?: number;
}

/** The name the agent sees: `S__T`. */
export function namespacedName(server: string, tool: string): string {
  return `${server}${TOOL_SEPARATOR}${tool}`;
}

/** `S__T` back into its parts (upstream names cannot contain the separator, so the first one splits). */
export function splitNamespacedName(name: string): { server: string; tool: string } | undefined {
  const at = name.indexOf(TOOL_SEPARATOR);
  if (at <= 0 || at + TOOL_SEPARATOR.length >= name.length) return undefined;
  return { server: name.slice(0, at), tool: name.slice(at + TOOL_SEPARATOR.length) };
}

/** `*` matches any run of characters; everything else is literal. */
export function toolPatternMatches(pattern: string, serverAndTool: string): boolean {
  const source = pattern.split('*').map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('.*');
  return new RegExp(`^${source}$`).test(serverAndTool);
}

function resourceOf(rule: ToolRule | undefined, server: string, tool: string, args: Record<string, unknown>): { type: string; id: string } | string {
  const resource = rule?.resource;
  if (resource === undefined) return { type: DEFAULT_RESOURCE_TYPE, id: `${server}/${tool}` };
  if (resource.id !== undefined) return { type: resource.type, id: resource.id };
  const from = resource.idFrom ?? '';
  // Only a string is taken: a path into the prototype ("constructor") gives a function, which is refused.
  const value = valueAt(args, from.split('.'));
  if (typeof value !== 'string' || value.length === 0) {
    return `the gateway's rule for ${server}/${tool} takes the ${resource.type} id from the argument "${from}", which this call ${value === undefined ? 'does not give' : 'gives as something other than a non-empty string'}; give "${from}" and call again`;
  }
  return { type: resource.type, id: value };
}

/**
 * The request a tool call becomes. The arguments are the request's `parameters` whole: they are what
 * is approved and what runs. Answers a problem (text for the model) when a rule cannot be applied.
 */
export function planToolCall(
  config: GatewayConfig,
  server: string,
  tool: string,
  args: Record<string, unknown>,
  client: { name?: string; version?: string } = {},
): { ok: true; plan: CallPlan } | { ok: false; problem: string } {
  const upstream = config.upstreams[server];
  if (upstream === undefined) return { ok: false, problem: `no upstream server "${server}" behind this gateway` };
  const rules = config.rules ?? [];
  const ruleIndex = rules.findIndex((rule) => toolPatternMatches(rule.tool, `${server}/${tool}`));
  const rule = ruleIndex >= 0 ? rules[ruleIndex] : undefined;
  const resource = resourceOf(rule, server, tool, args);
  if (typeof resource === 'string') return { ok: false, problem: resource };
  const clientText = client.name === undefined ? 'an MCP client' : `${client.name}${client.version === undefined ? '' : ` ${client.version}`}`;
  const spec: ActionSpec = {
    action: rule?.action ?? DEFAULT_VERB,
    resource,
    environment: rule?.environment ?? upstream.environment,
    parameters: args,
    justification: `MCP tool call: ${tool} on server ${server}, from ${clientText} through countersign-mcp`,
    context: { mcp: { server, tool, ...(client.name === undefined ? {} : { client: clientText }) } },
  };
  return {
    ok: true,
    plan: {
      server,
      tool,
      spec,
      mode: rule?.mode ?? upstream.mode ?? config.defaults?.mode ?? 'wait',
      waitSeconds: rule?.waitSeconds ?? upstream.waitSeconds ?? config.defaults?.waitSeconds ?? DEFAULT_WAIT_SECONDS,
      ...(rule === undefined ? {} : { ruleIndex }),
    },
  };
}
