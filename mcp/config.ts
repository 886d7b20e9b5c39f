import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import * as z from 'zod';
import { valueAt } from '../shared/domain/contract.js';

/**
 * The gateway's configuration file (JSON), parsed at the edge. Every problem is reported, one line
 * each, naming the field: the gateway refuses to start with any of them.
 */

/** An upstream's name becomes the prefix of its tools (`S__T`) and the server part of `McpTool::"S/T"`. */
export const UPSTREAM_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9-]{0,31}$/;
/** Separates the upstream from the tool in the names the agent sees. Upstream names cannot contain it. */
export const TOOL_SEPARATOR = '__';
const ENVIRONMENT_PATTERN = /^[a-z][a-z0-9-]{0,31}$/;
const ENV_NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_]*$/;
const AGENT_ID_PATTERN = /^[a-z0-9][a-z0-9._-]{0,63}$/;
const VERB_PATTERN = /^[a-z][a-z0-9_-]*(\.[a-z][a-z0-9_-]*)+$/;
const RESOURCE_TYPE_PATTERN = /^[A-Z][A-Za-z0-9]{0,63}$/;

export const DEFAULT_WAIT_SECONDS = 300;
export const DEFAULT_PROGRESS_EVERY_SECONDS = 10;
/** The longest `countersign_await` may block in one call, whatever the model asks. */
export const DEFAULT_AWAIT_MAX_SECONDS = 300;

const mode = z.enum(['wait', 'defer'], 'must be "wait" (block with progress) or "defer" (answer at once; the model polls countersign_await)');
const seconds = (max: number) => z.number('must be a number of seconds').int('must be a whole number of seconds').min(1, 'must be at least 1').max(max, `must be at most ${max}`);

const callPolicy = {
  /** @default "wait" */
  mode: mode.optional(),
  /** How long a `wait` call blocks before it answers "pending" (the request stays awaitable). @default 300 */
  waitSeconds: seconds(24 * 3600).optional(),
};

const common = {
  /** The environment the upstream's tools act on, as the policies' schema lists them (e.g. "prod"). */
  environment: z.string('is required: the environment this server\'s tools act on, e.g. "prod"').regex(ENVIRONMENT_PATTERN, 'must be 1-32 characters of a-z, 0-9 or "-", starting with a letter, such as "prod"'),
  ...callPolicy,
  /** Let the upstream ask the agent's model for a completion (sampling/createMessage). @default false */
  allowSampling: z.boolean('must be true or false').optional(),
  /** Let the upstream ask the agent's user for input (elicitation/create). @default false */
  allowElicitation: z.boolean('must be true or false').optional(),
  /**
   * What an execution report says of a tool's result: "text", its text (the first 1,000 characters), or
   * "digest", only what kinds of content and how much, with the SHA-256 of the whole result. The report goes
   * into the write-once audit log and onto the review message: "digest" for servers whose results hold data
   * that must not be kept there (file contents, query rows, secrets). @default "text"
   */
  reportResults: z.enum(['text', 'digest'], 'must be "text" (the result\'s text, cut) or "digest" (kinds, sizes and the SHA-256 only)').optional(),
};

const StdioUpstreamSchema = z.strictObject({
  command: z.string('must be the program to run').min(1, 'must not be empty'),
  args: z.array(z.string('must be strings'), 'must be a list of strings').optional(),
  cwd: z.string('must be a directory').optional(),
  /** Set in the upstream's environment (which otherwise has only HOME, PATH and the like). */
  env: z.record(z.string().regex(ENV_NAME_PATTERN, 'variable names must be identifiers'), z.string('values must be strings'), 'must be an object of variable names and values').optional(),
  /** Variables copied from the gateway's own environment: where the upstream's credentials belong. */
  passEnv: z.array(z.string().regex(ENV_NAME_PATTERN, 'variable names must be identifiers'), 'must be a list of variable names').optional(),
  ...common,
});

const HttpUpstreamSchema = z.strictObject({
  url: z.url('must be an http(s) URL').refine((url) => /^https?:/.test(url), 'must be an http(s) URL'),
  headers: z.record(z.string(), z.string('values must be strings'), 'must be an object of header names and values').optional(),
  ...common,
});

const UpstreamSchema = z.union([StdioUpstreamSchema, HttpUpstreamSchema], 'must have either "command" (a stdio server) or "url" (a Streamable HTTP server)');

const ResourceRuleSchema = z.strictObject({
  type: z.string('is required').regex(RESOURCE_TYPE_PATTERN, 'must be a Cedar entity type name such as "Database"'),
  /** A fixed resource id. */
  id: z.string().min(1, 'must not be empty').optional(),
  /** The argument (a dotted path into the arguments) whose string value is the resource id. */
  idFrom: z.string().min(1, 'must not be empty').optional(),
}).refine((resource) => (resource.id === undefined) !== (resource.idFrom === undefined), 'needs exactly one of "id" and "idFrom"');

const RuleSchema = z.strictObject({
  /** `S/T`, `*` matching any run of characters: "db/*", "*\/delete_*". */
  tool: z.string('is required: a pattern of "server/tool", "*" matching anything').min(3).regex(/^[^/]+\/[^/]+$/, 'must be "server/tool", "*" matching anything (e.g. "db/*")'),
  action: z.string().regex(VERB_PATTERN, 'must be a dotted lower-case verb such as "db.query"').optional(),
  resource: ResourceRuleSchema.optional(),
  environment: z.string().regex(ENVIRONMENT_PATTERN, 'must be 1-32 characters of a-z, 0-9 or "-", starting with a letter').optional(),
  ...callPolicy,
});

const CountersignSchema = z.union([
  z.strictObject({
    /** The local stack's URL (`npm start`): bus endpoint and decision API, no signing. */
    local: z.url('must be the local stack\'s URL, e.g. http://127.0.0.1:4010'),
  }),
  z.strictObject({
    /** The stack's `DecisionApiUrl` output. */
    decisionApiUrl: z.url('must be the stack\'s DecisionApiUrl output'),
    /** @default "countersign" */
    eventBusName: z.string().min(1).optional(),
    /** @default EventBridge in the region */
    busEndpoint: z.url().optional(),
    region: z.string().min(1).optional(),
  }),
], 'must be {"local": "<url>"} or {"decisionApiUrl": "<url>", "eventBusName": "<name>", "region": "<region>"}');

export const GatewayConfigSchema = z.strictObject({
  agentId: z.string('is required: the agent this gateway speaks for (events go out as agent.<agentId>)').regex(AGENT_ID_PATTERN, 'must be 1-64 characters of a-z, 0-9, ".", "_" or "-", starting with a letter or digit'),
  countersign: CountersignSchema,
  upstreams: z.record(
    z.string().regex(UPSTREAM_NAME_PATTERN, `upstream names must be 1-32 letters, digits or "-" (no "${TOOL_SEPARATOR}" or "/": they prefix tool names)`),
    UpstreamSchema,
    'must be an object of upstream servers by name',
  ).refine((upstreams) => Object.keys(upstreams).length > 0, 'must name at least one upstream server'),
  rules: z.array(RuleSchema, 'must be a list of rules').optional(),
  /** Defaults for every upstream and rule. */
  defaults: z.strictObject({
    ...callPolicy,
    /** How often a waiting call sends a progress notification. @default 10 */
    progressEverySeconds: seconds(600).optional(),
    /** The longest one `countersign_await` call blocks. @default 300 */
    awaitMaxSeconds: seconds(3600).optional(),
  }).optional(),
});

export type GatewayConfig = z.infer<typeof GatewayConfigSchema>;
export type UpstreamConfig = z.infer<typeof UpstreamSchema>;
export type StdioUpstreamConfig = z.infer<typeof StdioUpstreamSchema>;
export type HttpUpstreamConfig = z.infer<typeof HttpUpstreamSchema>;
export type ToolRule = z.infer<typeof RuleSchema>;

export function isStdioUpstream(upstream: UpstreamConfig): upstream is StdioUpstreamConfig {
  return 'command' in upstream;
}

/** The configuration cannot be used; `problems` has one line per problem, each naming its field. */
export class GatewayConfigError extends Error {
  constructor(readonly file: string, readonly problems: string[]) {
    super(`${file}: ${problems.length} problem${problems.length === 1 ? '' : 's'}:\n${problems.map((p) => `  ${p}`).join('\n')}`);
    this.name = 'GatewayConfigError';
  }
}

function pathText(path: readonly PropertyKey[]): string {
  return path.length === 0 ? '(the file)' : path.map(String).join('.');
}

/** Which branch of a union an object meant: the key that tells them apart. */
const UNION_KEYS = ['command', 'url', 'local', 'decisionApiUrl'];

/** Zod's issues as one line each; for a union, the branch's own issues when the input chose one. */
function describe(issues: readonly z.core.$ZodIssue[], root: unknown, prefix: readonly PropertyKey[] = []): string[] {
  const lines: string[] = [];
  for (const issue of issues) {
    const path = [...prefix, ...issue.path];
    const value = valueAt(root, path);
    const choseBranch = typeof value === 'object' && value !== null && UNION_KEYS.some((key) => key in value);
    if (issue.code === 'invalid_union' && issue.errors.length > 0 && choseBranch) {
      // The branch with the fewest problems is the one the author meant (it has "command" or "url").
      const best = [...issue.errors].sort((a, b) => a.length - b.length)[0] ?? [];
      const unrecognizedOnly = best.every((inner) => inner.code === 'unrecognized_keys');
      lines.push(...(best.length > 0 && !unrecognizedOnly ? describe(best, root, path) : [`${pathText(path)}: ${issue.message}`]));
      continue;
    }
    if (issue.code === 'invalid_key') {
      lines.push(...issue.issues.map((inner) => `${pathText(path)}: ${inner.message}`));
      continue;
    }
    if (issue.code === 'unrecognized_keys') {
      lines.push(`${pathText(path)}: unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')}`);
      continue;
    }
    lines.push(`${pathText(path)}: ${issue.message}`);
  }
  return [...new Set(lines)];
}

/** Checks what zod cannot see alone: rules that name no known upstream. */
function crossProblems(config: GatewayConfig): string[] {
  const problems: string[] = [];
  const names = Object.keys(config.upstreams);
  (config.rules ?? []).forEach((rule, index) => {
    const server = rule.tool.split('/')[0] ?? '';
    if (!server.includes('*') && !names.includes(server)) {
      problems.push(`rules.${index}.tool: "${server}" is not an upstream in "upstreams" (${names.join(', ')})`);
    }
  });
  return problems;
}

/** Parses a configuration already read; `file` names it in the error. Relative `cwd`s resolve against `baseDir`. */
export function parseGatewayConfig(json: unknown, file: string, baseDir = process.cwd()): GatewayConfig {
  const parsed = GatewayConfigSchema.safeParse(json);
  if (!parsed.success) throw new GatewayConfigError(file, describe(parsed.error.issues, json));
  const problems = crossProblems(parsed.data);
  if (problems.length > 0) throw new GatewayConfigError(file, problems);
  for (const upstream of Object.values(parsed.data.upstreams)) {
    if (isStdioUpstream(upstream) && upstream.cwd !== undefined) upstream.cwd = resolve(baseDir, upstream.cwd);
  }
  return parsed.data;
}

/** Reads and validates the configuration file; throws `GatewayConfigError` with every problem. */
export function loadGatewayConfig(file: string): GatewayConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new GatewayConfigError(file, [`cannot be read (${(error as NodeJS.ErrnoException).code ?? String(error)}): pass the gateway's JSON config with --config <file>`]);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new GatewayConfigError(file, [`is not JSON: ${(error as Error).message}`]);
  }
  return parseGatewayConfig(json, file, dirname(resolve(file)));
}
