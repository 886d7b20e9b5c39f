import * as z from 'zod';

/**
 * Execution grants (issue 12, part 2): which approved actions get just-in-time AWS credentials, from which
 * role, narrowed by which session policy. Deployed with the stack as a JSON file
 * (`config/execution-grants.json`), validated at synth and in tests, like the approver directory.
 *
 * A session-policy template is an IAM policy document whose string values may hold placeholders:
 * `${resource.id}`, `${parameters.<name>}` (a top-level string or integer parameter), `${environment}`,
 * `${aws.accountId}`, `${aws.region}`, `${aws.partition}`. IAM's own policy variables (`${aws:username}`,
 * anything with a ":" inside the braces) are left as written. Rendering walks the parsed template and replaces
 * placeholders inside string values only, then serializes the result: a value can never add a key, a statement
 * or a quote. Values are also checked character by character, because inside an ARN a "*", "?" or a policy
 * variable would widen what the policy allows, and a ":" or "/" would change the ARN's structure.
 */

/** STS: a session policy's plain text may be at most 2,048 characters (and the packed form must fit too). */
export const SESSION_POLICY_MAX_CHARS = 2048;
/** STS: `DurationSeconds` is at least 900; a role's maximum session duration is 1 to 12 hours. */
export const STS_MIN_DURATION_SECONDS = 900;
export const ROLE_MAX_SESSION_SECONDS = { min: 3600, max: 43_200, default: 3600 } as const;

/** Request values a placeholder may take: no wildcard, no policy variable, no quote, no space, no ":" or "/". */
const SAFE_VALUE = /^[A-Za-z0-9._+=,@-]{1,256}$/;
/** The same, with "/" allowed, for placeholders the grant lists in `slashAllowedIn` (S3 key prefixes). */
const SAFE_VALUE_WITH_SLASH = /^[A-Za-z0-9._+=,@/-]{1,256}$/;
const AWS_VALUE = {
  accountId: /^\d{12}$/,
  region: /^[a-z]{2}(-[a-z]+)+-\d{1,2}$/,
  partition: /^aws(-[a-z]+)*$/,
} as const;

const PLACEHOLDER = /\$\{([^}]*)\}/g;
const REQUEST_PLACEHOLDER = /^(resource\.id|environment|parameters\.[A-Za-z_][A-Za-z0-9_]{0,63})$/;
const AWS_PLACEHOLDER = /^aws\.(accountId|region|partition)$/;
/** IAM's own policy variables (`${aws:username}`, `${s3:prefix}`, `${*}`): kept as the template writes them. */
const IAM_VARIABLE = /^([A-Za-z0-9-]+:[^}]*|\*|\?|\$)$/;

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

const jsonValue: z.ZodType<Json> = z.lazy(() => z.union([z.null(), z.boolean(), z.number(), z.string(), z.array(jsonValue), z.record(z.string(), jsonValue)]));

const StatementSchema = z.strictObject({
  Sid: z.string().regex(/^[A-Za-z0-9]*$/, 'must be letters and digits only').optional(),
  Effect: z.enum(['Allow', 'Deny']),
  Action: z.union([z.string(), z.array(z.string()).min(1)]),
  Resource: z.union([z.string(), z.array(z.string()).min(1)]),
  Condition: z.record(z.string(), z.record(z.string(), jsonValue)).optional(),
}, 'a statement has Effect, Action, Resource and optionally Sid and Condition (NotAction, NotResource and Principal are refused: they widen a session policy or do not belong in one)');

const PolicyTemplateSchema = z.strictObject({
  Version: z.literal('2012-10-17', 'must be "2012-10-17"'),
  Statement: z.array(StatementSchema).min(1, 'needs at least one statement'),
});

const VERB = /^[a-z][a-z0-9]*(\.[a-z][a-z0-9-]*)+$/;

export const ExecutionGrantSchema = z.strictObject({
  /** The request's verb, e.g. `db.export`. */
  action: z.string().regex(VERB, 'must be a dotted lower-case verb such as "db.export"'),
  /** The request's resource type, e.g. `Database`. */
  resourceType: z.string().regex(/^[A-Z][A-Za-z0-9]{0,63}$/, 'must be a resource type such as "Database"'),
  /** The execution role's name in this configuration (its construct id and description name it). */
  role: z.string().regex(/^[A-Za-z0-9+=,.@_-]{1,64}$/, 'must be 1-64 characters of A-Z, a-z, 0-9 or +=,.@_-'),
  /** The role's maximum session duration in seconds (IAM: 3,600 to 43,200). @default 3600 */
  maxSessionSeconds: z.number().int().min(ROLE_MAX_SESSION_SECONDS.min, 'must be at least 3600 (IAM)').max(ROLE_MAX_SESSION_SECONDS.max, 'must be at most 43200 (IAM)').default(ROLE_MAX_SESSION_SECONDS.default),
  /** Placeholders whose values may contain "/" (never ":"), e.g. `parameters.prefix` under an S3 bucket ARN. */
  slashAllowedIn: z.array(z.string().regex(REQUEST_PLACEHOLDER, 'must name a request placeholder such as "parameters.prefix"')).default([]),
  sessionPolicy: PolicyTemplateSchema,
});

export const ExecutionGrantsSchema = z.strictObject({
  grants: z.array(ExecutionGrantSchema),
}).superRefine((config, ctx) => {
  const seen = new Map<string, number>();
  const roles = new Map<string, number>();
  config.grants.forEach((grant, index) => {
    const key = `${grant.action} on ${grant.resourceType}`;
    const earlier = seen.get(key);
    if (earlier !== undefined) ctx.addIssue({ code: 'custom', path: ['grants', index], message: `${key} is already granted by grants.${earlier}; one grant per verb and resource type` });
    seen.set(key, index);
    const sameRole = roles.get(grant.role);
    if (sameRole !== undefined) ctx.addIssue({ code: 'custom', path: ['grants', index, 'role'], message: `role "${grant.role}" is already used by grants.${sameRole}; each grant has its own role` });
    roles.set(grant.role, index);
    for (const problem of templateProblems(grant)) ctx.addIssue({ code: 'custom', path: ['grants', index, 'sessionPolicy', ...problem.path], message: problem.message });
  });
});

export type ExecutionGrant = z.infer<typeof ExecutionGrantSchema>;
export type ExecutionGrantsData = z.infer<typeof ExecutionGrantsSchema>;
export type PolicyDocument = z.infer<typeof PolicyTemplateSchema>;

export class ExecutionGrantsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ExecutionGrantsError';
  }
}

/** The values a template is rendered with: the approved request's, and the account's. */
export interface RenderValues {
  resourceId: string;
  environment: string;
  parameters: Record<string, unknown>;
  aws: { accountId: string; region: string; partition: string };
}

/** Why a value was not put into a policy: the request cannot get credentials (recorded with the refusal). */
export class UnsafePolicyValueError extends Error {
  constructor(readonly placeholder: string, message: string) {
    super(message);
    this.name = 'UnsafePolicyValueError';
  }
}

/** The rendered policy is larger than STS accepts. */
export class SessionPolicyTooLargeError extends Error {
  constructor(readonly chars: number) {
    super(`the rendered session policy is ${chars} characters; STS accepts at most ${SESSION_POLICY_MAX_CHARS} (shorten the template or the values)`);
    this.name = 'SessionPolicyTooLargeError';
  }
}

function* strings(value: Json, path: (string | number)[] = []): Generator<{ text: string; path: (string | number)[] }> {
  if (typeof value === 'string') yield { text: value, path };
  else if (Array.isArray(value)) for (const [i, item] of value.entries()) yield* strings(item, [...path, i]);
  else if (value !== null && typeof value === 'object') for (const [key, item] of Object.entries(value)) yield* strings(item, [...path, key]);
}

/** The request parameters a grant's template uses. */
export function parameterNames(grant: ExecutionGrant): string[] {
  const names = new Set<string>();
  for (const { text } of strings(grant.sessionPolicy as unknown as Json)) {
    for (const match of text.matchAll(PLACEHOLDER)) if (match[1]?.startsWith('parameters.')) names.add(match[1].slice('parameters.'.length));
  }
  return [...names];
}

function templateProblems(grant: ExecutionGrant): Array<{ path: (string | number)[]; message: string }> {
  const problems: Array<{ path: (string | number)[]; message: string }> = [];
  for (const { text, path } of strings(grant.sessionPolicy as unknown as Json)) {
    for (const match of text.matchAll(PLACEHOLDER)) {
      const name = match[1] ?? '';
      if (!REQUEST_PLACEHOLDER.test(name) && !AWS_PLACEHOLDER.test(name) && !IAM_VARIABLE.test(name)) {
        problems.push({ path, message: `unknown placeholder \${${name}}; use \${resource.id}, \${environment}, \${parameters.<name>}, \${aws.accountId}, \${aws.region} or \${aws.partition}` });
      }
    }
  }
  grant.sessionPolicy.Statement.forEach((statement, index) => {
    for (const action of [statement.Action].flat()) {
      if (action === '*' || /^[^:]+:\*$/.test(action)) problems.push({ path: ['Statement', index, 'Action'], message: `"${action}" allows every action of a service; name the actions the act needs` });
      else if (!/^[a-z0-9-]+:[A-Za-z0-9*]+$/.test(action)) problems.push({ path: ['Statement', index, 'Action'], message: `"${action}" is not an IAM action such as "dynamodb:Query"` });
    }
    for (const resource of [statement.Resource].flat()) {
      if (resource === '*') problems.push({ path: ['Statement', index, 'Resource'], message: '"*" is every resource; scope the statement with ${resource.id} or a parameter' });
    }
  });
  try {
    const longest = 'x'.repeat(64);
    const parameters = Object.fromEntries(parameterNames(grant).map((name) => [name, longest]));
    const size = serializedSize(render(grant, { resourceId: longest, environment: 'x'.repeat(32), parameters, aws: { accountId: '123456789012', region: 'ap-southeast-1', partition: 'aws-us-gov' } }, '2026-01-01T00:00:00.000Z'));
    if (size > SESSION_POLICY_MAX_CHARS) problems.push({ path: [], message: `renders to ${size} characters with 64-character values; STS accepts at most ${SESSION_POLICY_MAX_CHARS}` });
  } catch (error) {
    if (!(error instanceof UnsafePolicyValueError)) throw error;
  }
  return problems;
}

function requestValue(name: string, values: RenderValues): unknown {
  if (name === 'resource.id') return values.resourceId;
  if (name === 'environment') return values.environment;
  const parameter = name.slice('parameters.'.length);
  return Object.hasOwn(values.parameters, parameter) ? values.parameters[parameter] : undefined;
}

/** One placeholder's value, or why it may not go into a policy. */
function placeholderValue(name: string, grant: ExecutionGrant, values: RenderValues): string {
  if (AWS_PLACEHOLDER.test(name)) {
    const key = name.slice('aws.'.length) as keyof typeof AWS_VALUE;
    const value = values.aws[key];
    if (!AWS_VALUE[key].test(value)) throw new UnsafePolicyValueError(name, `\${${name}} is "${value}", which is not a valid ${key}`);
    return value;
  }
  const raw = requestValue(name, values);
  if (raw === undefined || raw === null) throw new UnsafePolicyValueError(name, `\${${name}}: the request has no such value, and the grant's session policy needs it`);
  if (typeof raw !== 'string' && !(typeof raw === 'number' && Number.isSafeInteger(raw))) {
    throw new UnsafePolicyValueError(name, `\${${name}}: must be a string or an integer to go into a policy, not ${Array.isArray(raw) ? 'an array' : typeof raw}`);
  }
  const value = String(raw);
  const pattern = grant.slashAllowedIn.includes(name) ? SAFE_VALUE_WITH_SLASH : SAFE_VALUE;
  if (!pattern.test(value)) {
    const allowed = grant.slashAllowedIn.includes(name) ? 'A-Z, a-z, 0-9 and ._+=,@-/' : 'A-Z, a-z, 0-9 and ._+=,@-';
    throw new UnsafePolicyValueError(name, `\${${name}} may only hold 1-256 characters of ${allowed} (wildcards, policy variables, quotes, spaces and ARN separators would widen or reshape the policy); the request's value was refused`);
  }
  return value;
}

function renderString(text: string, grant: ExecutionGrant, values: RenderValues): string {
  return text.replace(PLACEHOLDER, (whole, name: string) => (IAM_VARIABLE.test(name) ? whole : placeholderValue(name, grant, values)));
}

function renderJson(value: Json, grant: ExecutionGrant, values: RenderValues): Json {
  if (typeof value === 'string') return renderString(value, grant, values);
  if (Array.isArray(value)) return value.map((item) => renderJson(item, grant, values));
  if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, renderJson(item, grant, values)]));
  return value;
}

/**
 * The session policy for one approved request: the template with its placeholders filled in, and every
 * Allow statement limited to the approval's window (`aws:CurrentTime` before `validUntil`), because STS's
 * shortest session (15 minutes) can outlast the window. Throws `UnsafePolicyValueError` for a value that may
 * not go into a policy.
 */
export function render(grant: ExecutionGrant, values: RenderValues, validUntil: string): PolicyDocument {
  const rendered = renderJson(grant.sessionPolicy as unknown as Json, grant, values) as unknown as PolicyDocument;
  return {
    Version: rendered.Version,
    Statement: rendered.Statement.map((statement) => (statement.Effect !== 'Allow' ? statement : {
      ...statement,
      Condition: { ...statement.Condition, DateLessThan: { ...statement.Condition?.DateLessThan, 'aws:CurrentTime': validUntil } },
    })),
  };
}

/** The policy as sent to STS: JSON without whitespace. */
export function serializedPolicy(policy: PolicyDocument): string {
  return JSON.stringify(policy);
}

function serializedSize(policy: PolicyDocument): number {
  return serializedPolicy(policy).length;
}

/** `render`, serialized, and held to STS's size limit. */
export function renderSessionPolicy(grant: ExecutionGrant, values: RenderValues, validUntil: string): string {
  const text = serializedPolicy(render(grant, values, validUntil));
  if (text.length > SESSION_POLICY_MAX_CHARS) throw new SessionPolicyTooLargeError(text.length);
  return text;
}

/**
 * The execution role's own permissions: the template with every request placeholder as "*" (any table, any
 * prefix) and the account's values as given (CDK tokens at synth). Conditions that depend on the request are
 * left out: the session policy of each request carries them. The role is the ceiling; a session is narrowed
 * to one approved resource by its session policy.
 */
export function roleCeilingPolicy(grant: ExecutionGrant, aws: RenderValues['aws']): PolicyDocument {
  const fill = (text: string) => text.replace(PLACEHOLDER, (whole, name: string) => {
    if (IAM_VARIABLE.test(name)) return whole;
    if (AWS_PLACEHOLDER.test(name)) return aws[name.slice('aws.'.length) as keyof RenderValues['aws']];
    return '*';
  });
  const requestDependent = (value: Json) => [...strings(value)].some(({ text }) => [...text.matchAll(PLACEHOLDER)].some((m) => REQUEST_PLACEHOLDER.test(m[1] ?? '')));
  return {
    Version: '2012-10-17',
    Statement: grant.sessionPolicy.Statement.map((statement) => {
      const { Condition, ...rest } = statement;
      const kept = Condition === undefined || requestDependent(Condition as unknown as Json) ? undefined : Condition;
      return {
        ...rest,
        Action: statement.Action,
        Resource: Array.isArray(statement.Resource) ? statement.Resource.map(fill) : fill(statement.Resource),
        ...(kept === undefined ? {} : { Condition: kept }),
      };
    }),
  };
}

/** Lookups over validated execution grants. */
export class ExecutionGrants {
  constructor(readonly data: ExecutionGrantsData) {}

  static parse(json: unknown, where = 'execution grants'): ExecutionGrants {
    const parsed = ExecutionGrantsSchema.safeParse(json);
    if (!parsed.success) {
      throw new ExecutionGrantsError(`${where} is not a valid execution-grant configuration: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`);
    }
    return new ExecutionGrants(parsed.data);
  }

  /** The grant for a verb on a resource type, if there is one. */
  grantFor(action: string, resourceType: string): ExecutionGrant | undefined {
    return this.data.grants.find((grant) => grant.action === action && grant.resourceType === resourceType);
  }
}
