import * as z from 'zod';
import { canonicalJson, CanonicalJsonError, loneSurrogateAt, sha256Hex, utf8Bytes, wellFormedText } from './canonical-json.js';
import { ACTION_ID_PATTERN } from './action-id.js';
import { payloadOf } from './payload.js';

export { payloadOf };

/**
 * Event contract v1. The limits are part of the public contract and are listed in the README;
 * change them here and there together.
 */
export const LIMITS = {
  actionIdMaxChars: 128,
  agentIdMaxChars: 64,
  actionMaxChars: 128,
  resourceTypeMaxChars: 64,
  resourceIdMaxChars: 512,
  resourceAttributesMaxBytes: 4 * 1024,
  environmentMaxChars: 32,
  parametersMaxBytes: 64 * 1024,
  justificationMaxChars: 4000,
  contextMaxBytes: 16 * 1024,
  detailMaxBytes: 256 * 1024,
  /** Levels of objects and arrays, the detail itself being level 1. */
  detailMaxDepth: 32,
  freeTextMaxChars: 256,
  /** The raw detail of an invalid request is kept whole up to this size (UTF-8 bytes of its JSON text)... */
  rawDetailKeptBytes: 256 * 1024,
  /** ...and beyond it only its SHA-256, its size and a prefix of this many bytes. */
  rawDetailPrefixBytes: 16 * 1024,
  /** A reason is cut to this many characters: it quotes what was sent, which may be large. */
  reasonMaxChars: 2000,
  /** `Action Executed`: the agent's summary of the result, and the error it reports. */
  resultSummaryMaxChars: 1000,
  errorCodeMaxChars: 128,
  errorMessageMaxChars: 1000,
  /** An execution report's detail, whole (it carries no parameters). */
  executedDetailMaxBytes: 16 * 1024,
} as const;

/** Keys refused anywhere in a request: JavaScript tools drop them or take them for the prototype. */
const REFUSED_KEYS: ReadonlySet<string> = new Set(['__proto__']);

export const SPEC_VERSION = '1';
export { AGENT_SOURCE_PREFIX } from './decision.js';
export const DETAIL_TYPE_REQUESTED = 'Action Requested';
export const DETAIL_TYPE_DECIDED = 'Action Decided';
export const DETAIL_TYPE_EXECUTED = 'Action Executed';
export const DECIDED_SOURCE = 'countersign';

export { ACTION_ID_PATTERN };
const AGENT_ID_PATTERN = /^[a-z0-9][a-z0-9._-]{0,63}$/;
const VERB_PATTERN = /^[a-z][a-z0-9_-]*(\.[a-z][a-z0-9_-]*)+$/;
const RESOURCE_TYPE_PATTERN = /^[A-Z][A-Za-z0-9]{0,63}$/;
const ENVIRONMENT_PATTERN = /^[a-z][a-z0-9-]{0,31}$/;
const ATTRIBUTE_NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;

function maxCanonicalBytes(limit: number) {
  return (value: unknown, ctx: z.RefinementCtx) => {
    let bytes: number;
    try {
      bytes = utf8Bytes(canonicalJson(value));
    } catch (error) {
      if (!(error instanceof CanonicalJsonError)) throw error;
      ctx.addIssue({ code: 'custom', message: `must be plain JSON (${error.message})` });
      return;
    }
    if (bytes > limit) {
      ctx.addIssue({
        code: 'custom',
        message: `is ${bytes} bytes as canonical JSON; the limit is ${limit} bytes`,
      });
    }
  };
}

const freeText = (max: number) => z.string().min(1, 'must not be empty').max(max, `must be at most ${max} characters`);

const jsonObject = z.record(z.string(), z.unknown(), 'must be a JSON object');

export const AgentSchema = z.strictObject({
  id: z.string().regex(AGENT_ID_PATTERN, 'must be 1-64 characters of a-z, 0-9, ".", "_" or "-", starting with a letter or digit'),
  runId: freeText(LIMITS.freeTextMaxChars).optional(),
  model: freeText(LIMITS.freeTextMaxChars).optional(),
  onBehalfOf: freeText(LIMITS.freeTextMaxChars).optional(),
});

export const ResourceSchema = z.strictObject({
  type: z.string().regex(RESOURCE_TYPE_PATTERN, 'must be a Cedar entity type name such as "Database" (letters and digits, starting upper case, at most 64)'),
  id: freeText(LIMITS.resourceIdMaxChars),
  attributes: z
    .record(
      z.string(),
      z.union([z.string().max(LIMITS.freeTextMaxChars), z.boolean(), z.number().int()], 'attribute values must be strings, booleans or integers'),
      'must be an object of attribute values',
    )
    .superRefine((attributes, ctx) => {
      for (const name of Object.keys(attributes)) {
        if (!ATTRIBUTE_NAME_PATTERN.test(name)) ctx.addIssue({ code: 'custom', path: [name], message: 'attribute names must be identifiers (letters, digits, "_")' });
      }
    })
    .superRefine(maxCanonicalBytes(LIMITS.resourceAttributesMaxBytes))
    .optional(),
});

export const ActionRequestedSchema = z
  .strictObject({
    specVersion: z.literal(SPEC_VERSION, `must be "${SPEC_VERSION}" (the only version this service speaks)`),
    actionId: z.string().regex(ACTION_ID_PATTERN, 'must be 1-128 characters of A-Z, a-z, 0-9, ".", "_", ":" or "-"'),
    agent: AgentSchema,
    action: z.string().max(LIMITS.actionMaxChars, `must be at most ${LIMITS.actionMaxChars} characters`).regex(VERB_PATTERN, 'must be a dotted lower-case verb such as "db.export"'),
    resource: ResourceSchema,
    environment: z.string().regex(ENVIRONMENT_PATTERN, 'must be 1-32 characters of a-z, 0-9 or "-", starting with a letter, such as "prod"'),
    parameters: jsonObject.superRefine(maxCanonicalBytes(LIMITS.parametersMaxBytes)),
    justification: freeText(LIMITS.justificationMaxChars),
    context: jsonObject.superRefine(maxCanonicalBytes(LIMITS.contextMaxBytes)).optional(),
  });

export type ActionRequest = z.infer<typeof ActionRequestedSchema>;

export type ValidationResult =
  | { ok: true; request: ActionRequest }
  | { ok: false; reason: string; actionId?: string };

const SHA256_HEX = /^[0-9a-f]{64}$/;
const ISO_UTC_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,3})?Z$/;
const ERROR_CODE_PATTERN = /^[A-Za-z0-9._:-]+$/;
const sha256Field = z.string().regex(SHA256_HEX, 'must be a SHA-256 as 64 lower-case hex digits');
const timeField = z
  .string()
  .regex(ISO_UTC_TIME, 'must be an ISO 8601 UTC time such as "2026-12-07T03:00:00.000Z"')
  // Date.parse rolls 2026-02-31 over to March: the time must read back as written.
  .refine((value) => Number.isFinite(Date.parse(value)) && new Date(value).toISOString().slice(0, 19) === value.slice(0, 19), 'must be a real date and time');

/**
 * `Action Executed` (contract v1): what the agent reports after it acted on an allowed or approved
 * request. `payloadSha256` is the hash of what it executed (the same canonical payload as the request's);
 * a `failed` report carries `error`, a `succeeded` one never does.
 */
export const ActionExecutedSchema = z
  .strictObject({
    specVersion: z.literal(SPEC_VERSION, `must be "${SPEC_VERSION}" (the only version this service speaks)`),
    actionId: z.string().regex(ACTION_ID_PATTERN, 'must be 1-128 characters of A-Z, a-z, 0-9, ".", "_", ":" or "-"'),
    payloadSha256: sha256Field,
    status: z.enum(['succeeded', 'failed'], 'must be "succeeded" or "failed"'),
    startedAt: timeField,
    finishedAt: timeField,
    result: z
      .strictObject({
        summary: freeText(LIMITS.resultSummaryMaxChars).optional(),
        sha256: sha256Field.optional(),
      })
      .refine((result) => result.summary !== undefined || result.sha256 !== undefined, 'must have "summary", "sha256" or both (leave result out otherwise)')
      .optional(),
    error: z
      .strictObject({
        code: z.string().min(1, 'must not be empty').max(LIMITS.errorCodeMaxChars, `must be at most ${LIMITS.errorCodeMaxChars} characters`).regex(ERROR_CODE_PATTERN, 'must be letters, digits, ".", "_", ":" or "-" (an error name such as "AccessDenied")'),
        message: freeText(LIMITS.errorMessageMaxChars),
      })
      .optional(),
  })
  .superRefine((report, ctx) => {
    if (Date.parse(report.finishedAt) < Date.parse(report.startedAt)) ctx.addIssue({ code: 'custom', path: ['finishedAt'], message: 'must not be before startedAt' });
    if (report.status === 'failed' && report.error === undefined) ctx.addIssue({ code: 'custom', path: ['error'], message: 'is required when status is "failed" (code and message of what went wrong)' });
    if (report.status === 'succeeded' && report.error !== undefined) ctx.addIssue({ code: 'custom', path: ['error'], message: 'must be absent when status is "succeeded"' });
  });

export type ActionExecuted = z.infer<typeof ActionExecutedSchema>;

export type ExecutedValidationResult =
  | { ok: true; report: ActionExecuted }
  | { ok: false; reason: string; actionId?: string };

/** The value at `path` inside `root` (undefined where a step is not an object). */
export function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let value = root;
  for (const key of path) {
    if (typeof value !== 'object' || value === null) return undefined;
    value = (value as Record<PropertyKey, unknown>)[key];
  }
  return value;
}

function describeIssue(issue: z.core.$ZodIssue, detail: unknown): string {
  const where = pathText(issue.path.map((key) => (typeof key === 'symbol' ? String(key) : key)));
  if (issue.path.length === 0 && (typeof detail !== 'object' || detail === null || Array.isArray(detail))) {
    return 'detail: must be a JSON object';
  }
  if (issue.code === 'unrecognized_keys') {
    const shown = issue.keys.slice(0, 5).map((k) => quoted(k)).join(', ');
    return `${where}: unknown field${issue.keys.length > 1 ? 's' : ''} ${shown}${issue.keys.length > 5 ? ` and ${issue.keys.length - 5} more` : ''} (extra fields are refused)`;
  }
  if ((issue.code === 'invalid_type' || issue.code === 'invalid_value') && valueAt(detail, issue.path) === undefined) return `${where}: is required`;
  return `${where}: ${issue.message}`;
}

/** `text` shortened for quoting in a reason: at most `max` characters, lone surrogates escaped. */
export function quoted(text: string, max = 64): string {
  const shown = text.length <= max ? text : `${text.slice(0, max)}...`;
  return `"${wellFormedText(shown)}"`;
}

/** A path for a reason: `parameters.a.0`, keys shortened. */
function pathText(path: readonly (string | number)[]): string {
  return path.length === 0 ? 'detail' : path.map((key) => (typeof key === 'number' ? String(key) : wellFormedText(key.length <= 40 ? key : `${key.slice(0, 40)}...`))).join('.');
}

/**
 * What the schema cannot see, found in one iterative walk (so no depth of input overflows the stack):
 * nesting deeper than the limit, refused keys (zod's records drop `__proto__` silently, which would
 * make the hash of the parsed request differ from what was sent), and text that is not valid Unicode.
 */
function shapeProblems(detail: unknown): string[] {
  const problems: string[] = [];
  let deepest: { depth: number; path: (string | number)[] } | undefined;
  let refusedKey: (string | number)[] | undefined;
  let badText: { path: (string | number)[]; at: number; key: boolean } | undefined;
  const stack: { value: unknown; depth: number; path: (string | number)[] }[] = [{ value: detail, depth: 1, path: [] }];
  for (let item = stack.pop(); item !== undefined; item = stack.pop()) {
    const { value, depth, path } = item;
    if (typeof value === 'string') {
      const at = badText === undefined ? loneSurrogateAt(value) : -1;
      if (at >= 0) badText = { path, at, key: false };
      continue;
    }
    if (typeof value !== 'object' || value === null) continue;
    if (depth > LIMITS.detailMaxDepth && (deepest === undefined || depth > deepest.depth)) deepest = { depth, path };
    // Past the limit only the depth is still measured; the path stops growing so memory stays linear.
    const deep = depth > LIMITS.detailMaxDepth;
    if (Array.isArray(value)) {
      value.forEach((element, index) => stack.push({ value: element, depth: depth + 1, path: deep ? path : [...path, index] }));
      continue;
    }
    for (const [key, element] of Object.entries(value)) {
      if (refusedKey === undefined && REFUSED_KEYS.has(key)) refusedKey = [...path, key];
      if (badText === undefined && loneSurrogateAt(key) >= 0) badText = { path: [...path, key], at: loneSurrogateAt(key), key: true };
      stack.push({ value: element, depth: depth + 1, path: deep ? path : [...path, key] });
    }
  }
  if (deepest !== undefined) {
    const field = deepest.path.length > 0 ? pathText(deepest.path.slice(0, 1)) : 'detail';
    problems.push(`${field}: nests ${deepest.depth} levels of objects and arrays; the limit is ${LIMITS.detailMaxDepth}, counting the detail as level 1`);
  }
  if (refusedKey !== undefined) {
    problems.push(`${pathText(refusedKey)}: the key "__proto__" is refused anywhere in a request (JSON tools drop it or read it as the prototype); rename it`);
  }
  if (badText !== undefined) {
    problems.push(`${pathText(badText.path)}: ${badText.key ? 'a key' : 'text'} with a lone surrogate at character ${badText.at} is not valid Unicode`);
  }
  return problems;
}

/** Cuts a reason to `LIMITS.reasonMaxChars`, with lone surrogates escaped, so that it can always be stored. */
export function boundedReason(reason: string): string {
  const text = wellFormedText(reason);
  return text.length <= LIMITS.reasonMaxChars ? text : `${text.slice(0, LIMITS.reasonMaxChars - 3)}...`;
}

/** The detail's actionId when it is one the contract allows, whatever else is wrong: the key an invalid request is kept under. */
export function usableActionId(detail: unknown): string | undefined {
  return typeof detail === 'object' && detail !== null && 'actionId' in detail
    && typeof detail.actionId === 'string' && ACTION_ID_PATTERN.test(detail.actionId)
    ? detail.actionId
    : undefined;
}

/**
 * The checks every agent event's detail gets before its schema (depth, refused keys, Unicode, plain
 * JSON, size), then the schema. Every failure names the field and the rule.
 */
function validateDetail<T>(detail: unknown, schema: z.ZodType<T>, maxBytes: number): { ok: true; value: T } | { ok: false; reason: string; actionId?: string } {
  const actionId = usableActionId(detail);
  if (typeof detail !== 'object' || detail === null || Array.isArray(detail)) return { ok: false, reason: 'detail: must be a JSON object', actionId };
  const shape = shapeProblems(detail);
  if (shape.length > 0) return { ok: false, reason: boundedReason(shape.join('; ')), actionId };
  let detailBytes: number;
  try {
    detailBytes = utf8Bytes(canonicalJson(detail));
  } catch (error) {
    if (!(error instanceof CanonicalJsonError)) throw error;
    return { ok: false, reason: `detail: must be plain JSON (${error.message})`, actionId };
  }
  if (detailBytes > maxBytes) {
    return { ok: false, reason: `detail: is ${detailBytes} bytes as canonical JSON; the limit is ${maxBytes} bytes`, actionId };
  }
  const parsed = schema.safeParse(detail);
  if (parsed.success) return { ok: true, value: parsed.data };
  const reason = parsed.error.issues.slice(0, 5).map((issue) => describeIssue(issue, detail)).join('; ');
  return { ok: false, reason: boundedReason(reason), actionId };
}

/** Validates an `Action Requested` detail. Every failure names the field and the rule. */
export function validateActionRequested(detail: unknown): ValidationResult {
  const result = validateDetail(detail, ActionRequestedSchema, LIMITS.detailMaxBytes);
  return result.ok ? { ok: true, request: result.value } : result;
}

/** Validates an `Action Executed` detail, with the same rules as a request's. */
export function validateActionExecuted(detail: unknown): ExecutedValidationResult {
  const result = validateDetail(detail, ActionExecutedSchema, LIMITS.executedDetailMaxBytes);
  return result.ok ? { ok: true, report: result.value } : result;
}

/** The part of a request that an approval is for (DESIGN.md decision 3). */
export function payloadSha256(request: ActionRequest): string {
  return sha256Hex(canonicalJson(payloadOf(request)));
}
