import { randomUUID } from 'node:crypto';
import { resolve } from 'node:path';
import * as cedar from '@cedar-policy/cedar-wasm/nodejs';
import { ActionRequestedSchema, type ActionRequest } from '../domain/contract.js';
import type { ApprovalRequirement, PolicyDecision } from '../domain/decision.js';
import type { PolicyEngine } from '../ports/index.js';
import { compareStrictness, describeDuration, parsePolicyAnnotations, shortestValidity, type Validity } from './annotations.js';
import { defaultPolicyDir, loadPolicySource, PolicyLoadError, policySourceSha256, type PolicySource } from './load-policies.js';
import { neverApplies, policyReads, RESOURCE_ATTRIBUTE_KEY_PREFIX, withContextKey, withResourceAttributesInContext, type PolicyReads } from './policy-reads.js';
import { loadPreparedPolicies, PREPARED_POLICIES_FORMAT, type PreparedPolicies } from './prepared-policies.js';

/*
 * How a request meets Cedar (DESIGN.md decision 2):
 *   principal  Agent::"<agent.id>"                (no attributes)
 *   action     Action::"<verb>"
 *   resource   <resource.type>::"<resource.id>"   attributes: `id` plus the request's resource.attributes
 *   context    RequestContext: environment (Environment::"<environment>"), onBehalfOf?, parameterKeys, riskHints
 * The schema and every policy are validated (strict mode) once, when the engine is built; each request
 * is then checked against the schema before Cedar sees it, so a verb, resource type or environment the
 * schema does not know is answered with a readable `invalid`, never with a Cedar error dump.
 *
 * The environments are an enumerated entity type of the schema (`entity Environment enum [...]`): the
 * platform engineers who write the policies own the list, and the request's environment string, which
 * the agent chooses, is never compared as text. An environment outside the list is `invalid` (the
 * engine checks first; Cedar's request validation would refuse it too), so a "production" or "prod-eu"
 * cannot fall through to the rules written for environments other than "prod".
 */

/** The common type every action's context must use; the engine fills it the same way for every verb. */
export const CONTEXT_TYPE = 'RequestContext';
export const PRINCIPAL_TYPE = 'Agent';
/** The enumerated entity type listing the environments a request may name. */
export const ENVIRONMENT_TYPE = 'Environment';
const ACTION_TYPE = 'Action';

const EXPECTED_CONTEXT = {
  type: 'Record',
  attributes: {
    environment: { type: 'Entity', name: ENVIRONMENT_TYPE },
    onBehalfOf: { type: 'String', required: false },
    parameterKeys: { type: 'Set', element: { type: 'String' } },
    riskHints: { type: 'Set', element: { type: 'String' } },
  },
};
const EXPECTED_CONTEXT_TEXT = `type ${CONTEXT_TYPE} = { environment: ${ENVIRONMENT_TYPE}, onBehalfOf?: String, parameterKeys: Set<String>, riskHints: Set<String> };`;
const EXPECTED_ENVIRONMENT_TEXT = `entity ${ENVIRONMENT_TYPE} enum ["prod", "staging", "dev"];`;

export interface CedarPolicyEngineOptions {
  /**
   * Directory holding `schema.cedarschema` and the `*.cedar` files.
   * @default the repo's `policies/` folder (a bundled Lambda calls `CedarPolicyEngine.load` with its copy, which prefers the prepared form in it)
   */
  policyDir?: string;
  /** The schema and policies as text, instead of a directory (tests, benchmarks). */
  source?: PolicySource;
  /**
   * Evaluate only the policies whose action scope can match the request's verb (plus those whose
   * scope leaves the action open). Gives the same decisions; it only makes big policy sets faster.
   * @default true
   */
  narrowByAction?: boolean;
  /** The form `preparePolicies` makes (validated already), instead of a directory or source. */
  prepared?: PreparedPolicies;
  /**
   * Hand Cedar only the resource attributes, context keys and action groups the verb's policies can read
   * (found by `policyReads` when the verb's set is built). Gives the same decisions; each value crossing
   * into Cedar's wasm costs time on every request.
   * @default true
   */
  sliceInputs?: boolean;
  /**
   * When slicing, pass the resource attributes the policies read in the context, the policies rewritten
   * to read them there (`withResourceAttributesInContext`), instead of as the resource entity's. Same
   * decisions, fewer crossings; false only to measure the difference (`npm run bench`).
   * @default true
   */
  resourceAttributesInContext?: boolean;
  /**
   * How many of Cedar's answers to keep, by their complete input (the whole call as Cedar gets it, as
   * JSON): an identical call is answered from here, without crossing into wasm. The decision is still made
   * from the answer for each request. 0 turns it off.
   * @default 1024
   */
  answerCacheSize?: number;
}

/** What the answer cache has done, for the benchmark. */
export interface AnswerCacheStats {
  hits: number;
  misses: number;
  size: number;
}

interface Evaluation {
  setId: string;
  /** The request's action and its action groups, with their parents, as the schema declares them; empty when no policy of the set uses the hierarchy. */
  actionEntities: cedar.EntityJson[];
  /** What the set's policies can read; everything when the engine does not slice. */
  reads: PolicyReads;
  /** Whether the resource entity must be passed: the set uses the entity whole, so its attributes cannot move to the context. */
  resourceEntity: boolean;
  /** Whether the set's policies read the resource's attributes from the context (`withResourceAttributesInContext`). */
  resourceInContext: boolean;
}

const READS_EVERYTHING: PolicyReads = { resourceAttributes: 'all', contextKeys: 'all', hierarchy: true };

/** `Action::"verb"` and every action group above it, each with its direct parents. */
function actionEntitiesOf(verb: string, parentsOf: ReadonlyMap<string, readonly string[]>): cedar.EntityJson[] {
  const entities: cedar.EntityJson[] = [];
  const seen = new Set<string>();
  const pending = [verb];
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    if (seen.has(next)) continue;
    seen.add(next);
    const parents = parentsOf.get(next) ?? [];
    entities.push({ uid: { type: ACTION_TYPE, id: next }, attrs: {}, parents: parents.map((id) => ({ type: ACTION_TYPE, id })) });
    pending.push(...parents);
  }
  return entities;
}

type AttributeType = 'String' | 'Long' | 'Bool';

interface ResourceType {
  /** Attributes a request may set, besides `id`, which the engine always sets to the resource id. */
  attributes: Map<string, { type: AttributeType; required: boolean }>;
}

/** One loaded policy, as `npm run policies:check` and the tests see it. */
export interface LoadedPolicy {
  id: string;
  file: string;
  line: number;
  effect: 'permit' | 'forbid';
  /** Set for a permit that carries `@approval`. */
  approval?: ApprovalRequirement;
  /** Set for a permit that carries `@validFor`. */
  validity?: Validity;
  /** The verbs the policy's action scope can match, or 'any' when the scope leaves the action open. */
  actions: readonly string[] | 'any';
}

let nextPolicySetNumber = 0;

/** The longest call (as JSON text) whose answer the cache keeps: 1,024 of them stay under 8 MB. */
const MAX_CACHED_CALL_CHARS = 8 * 1024;

export class CedarPolicyEngine implements PolicyEngine {
  readonly policies: readonly LoadedPolicy[];
  /** Validator warnings (e.g. a policy that can never apply). Not fatal; `policies:check` prints them. */
  readonly warnings: readonly string[];
  /** Verbs the schema declares, with the resource types each accepts. */
  readonly verbs: ReadonlyMap<string, readonly string[]>;
  /** The environments a request may name: the schema's `entity Environment enum [...]`, in its order. */
  readonly environments: readonly string[];
  /** The validated form this engine runs from; `preparePolicies` writes it into the evaluate-action bundle. */
  readonly prepared: PreparedPolicies;

  /** verb and environment -> the preparsed policy set and the action entities its requests are evaluated with; filled lazily. */
  private readonly evaluationFor = new Map<string, Evaluation>();
  /**
   * verb (or '*' for the whole set, unnarrowed) -> its policies, what they read, and the ids of its
   * preparsed sets: one, or one per environment when the set reads the environment.
   */
  private readonly policySetFor = new Map<string, { policies: Record<string, cedar.PolicyJson>; reads: PolicyReads; perEnvironment: boolean; resourceInContext: boolean; ids: Map<string, string> }>();
  private readonly narrowByAction: boolean;
  private readonly sliceInputs: boolean;
  private readonly resourceAttributesInContext: boolean;
  private readonly answerCacheSize: number;
  /** Cedar's answers by the JSON of their whole call; least recently used first. */
  private readonly answers = new Map<string, cedar.AuthorizationAnswer>();
  private readonly answerStats = { hits: 0, misses: 0 };
  private readonly base = `countersign-${++nextPolicySetNumber}-${randomUUID()}`;
  private readonly resourceTypes: ReadonlyMap<string, ResourceType>;
  private readonly policyById: ReadonlyMap<string, LoadedPolicy>;
  private readonly knownEnvironments: ReadonlySet<string>;
  private readonly actionParents: ReadonlyMap<string, readonly string[]>;

  /**
   * Parses and validates the policy set (or takes the form `preparePolicies` made of it, already
   * validated); throws `PolicyLoadError` listing every problem.
   */
  constructor(options: CedarPolicyEngineOptions = {}) {
    const given = [options.source, options.policyDir, options.prepared].filter((o) => o !== undefined).length;
    if (given > 1) throw new TypeError('CedarPolicyEngine: give one of policyDir, source or prepared');
    const prepared = options.prepared ?? preparePolicies(options.source ?? loadPolicySource(options.policyDir), options.source !== undefined ? 'the given policy source' : resolve(options.policyDir ?? defaultPolicyDir()));
    if (prepared.format !== PREPARED_POLICIES_FORMAT) {
      throw new PolicyLoadError('the prepared policies', [`format "${String(prepared.format)}" is not ${PREPARED_POLICIES_FORMAT}; prepare them again with this version of Countersign`]);
    }
    this.prepared = prepared;
    this.narrowByAction = options.narrowByAction ?? true;
    this.sliceInputs = options.sliceInputs ?? true;
    this.resourceAttributesInContext = options.resourceAttributesInContext ?? true;
    this.answerCacheSize = options.answerCacheSize ?? 1024;
    if (!Number.isSafeInteger(this.answerCacheSize) || this.answerCacheSize < 0) throw new TypeError(`CedarPolicyEngine: answerCacheSize must be a whole number ≥ 0 (got ${String(options.answerCacheSize)})`);
    this.policies = prepared.policies;
    this.warnings = prepared.warnings;
    this.verbs = new Map(prepared.verbs);
    this.environments = prepared.environments;
    this.knownEnvironments = new Set(prepared.environments);
    this.resourceTypes = new Map(prepared.resourceTypes.map(([name, attributes]) => [name, { attributes: new Map(attributes) }]));
    this.actionParents = new Map(Object.entries(prepared.actionParents));
    this.policyById = new Map(prepared.policies.map((policy) => [policy.id, policy]));
  }

  /**
   * The engine for a policy directory: from its prepared form when it has one (a bundled Lambda: checked
   * against the sources beside it, nothing parsed or validated at cold start), else from the sources.
   */
  static load(policyDir?: string): CedarPolicyEngine {
    const prepared = policyDir === undefined ? undefined : loadPreparedPolicies(policyDir, cedar.getCedarVersion());
    return prepared === undefined ? new CedarPolicyEngine({ policyDir }) : new CedarPolicyEngine({ prepared });
  }

  /**
   * The policy set and action entities for a verb, preparsed on the verb's first request and kept in
   * Cedar's (per thread) cache under names unique to this engine. Cedar offers no way to drop them: build
   * one engine per process (cold start), not one per request.
   *
   * Narrowed (the default), a verb's set holds only the policies whose action scope can match it (plus
   * those whose scope is open): Cedar's per-request cost grows with the policies it evaluates. No schema
   * is passed at evaluation: the policies were validated against it (strict) when prepared, `decide`
   * checks every request against the schema's model before Cedar sees it, and the one thing Cedar took
   * from the schema at evaluation, the action's groups (`action in Action::"group"`), is passed as
   * entities (only when some policy of the set uses `in`). Sliced (the default), the call carries only
   * what the set's policies can read (`policyReads`), and a set that reads the environment is preparsed
   * once per environment with the environment folded in (`withContextKey`), leaving out the policies that
   * can never apply there (`neverApplies`). Decisions are the same (the differential property test
   * compares them with the whole set evaluated with the schema and request validation).
   */
  private evaluationOf(verb: string, environment: string): Evaluation {
    const evaluationKey = `${verb}\n${environment}`;
    const known = this.evaluationFor.get(evaluationKey);
    if (known !== undefined) return known;
    const setKey = this.narrowByAction ? verb : '*';
    let set = this.policySetFor.get(setKey);
    if (set === undefined) {
      const policies: Record<string, cedar.PolicyJson> = {};
      for (const policy of this.policies) {
        if (!this.narrowByAction || policy.actions === 'any' || policy.actions.includes(verb)) policies[policy.id] = this.prepared.policyJson[policy.id] as cedar.PolicyJson;
      }
      const reads = this.sliceInputs ? policyReads(Object.values(policies)) : READS_EVERYTHING;
      const perEnvironment = reads.contextKeys !== 'all' && reads.contextKeys.has('environment');
      // Attributes read by name move into the context (see `withResourceAttributesInContext`).
      const resourceInContext = this.resourceAttributesInContext && reads.resourceAttributes !== 'all' && reads.resourceAttributes.size > 0;
      if (resourceInContext) for (const id of Object.keys(policies)) policies[id] = withResourceAttributesInContext(policies[id] as cedar.PolicyJson);
      set = { policies, reads, perEnvironment, resourceInContext, ids: new Map() };
      this.policySetFor.set(setKey, set);
    }
    // Specialised per environment when the set reads it: `context.environment` becomes the literal (see
    // `withContextKey`), and the context goes without it.
    const variant = set.perEnvironment ? environment : '';
    let setId = set.ids.get(variant);
    if (setId === undefined) {
      setId = `${this.base}-policies-${setKey}${set.perEnvironment ? `@${environment}` : ''}`;
      const environmentValue: cedar.Expr = { Value: { __entity: { type: ENVIRONMENT_TYPE, id: environment } } };
      // Specialised, the rules written for other environments are seen never to apply here, and are left out.
      const policies = set.perEnvironment
        ? Object.fromEntries(
            Object.entries(set.policies)
              .map(([id, json]) => [id, withContextKey(json, 'environment', environmentValue)] as const)
              .filter(([, json]) => !neverApplies(json)),
          )
        : set.policies;
      expectSuccess(cedar.preparsePolicySet(setId, { staticPolicies: policies }), 'the prepared policies', `policies for ${verb}${set.perEnvironment ? ` in ${environment}` : ''}`);
      set.ids.set(variant, setId);
    }
    const { reads } = set;
    const contextKeys = set.perEnvironment && reads.contextKeys !== 'all' ? new Set([...reads.contextKeys].filter((key) => key !== 'environment')) : reads.contextKeys;
    const evaluation: Evaluation = {
      setId,
      actionEntities: reads.hierarchy ? actionEntitiesOf(verb, this.actionParents) : [],
      reads: { ...reads, contextKeys },
      // Without attributes, the resource is as Cedar takes an entity it is not given (no attributes, no
      // parents: the request's resource has none), like the Agent.
      resourceEntity: reads.resourceAttributes === 'all' || (!set.resourceInContext && (reads.hierarchy || reads.resourceAttributes.size > 0)),
      resourceInContext: set.resourceInContext,
    };
    this.evaluationFor.set(evaluationKey, evaluation);
    return evaluation;
  }

  decide(request: ActionRequest): PolicyDecision {
    const call = this.authorizationCall(request);
    if ('kind' in call) return call;
    const answer = this.answer(call);
    if (answer.type === 'failure') {
      // The checks that built the call mirror the schema, so this is not expected; it is still answered,
      // not thrown (and `invalid` is never evaluated, so a request Cedar refuses cannot be allowed).
      return invalid(`the policy engine refused the request: ${answer.errors.map((e) => e.message).join('; ')}`);
    }
    return decisionFromResponse(request, answer.response, this.policyById);
  }

  get answerCacheStats(): AnswerCacheStats {
    return { ...this.answerStats, size: this.answers.size };
  }

  /**
   * Cedar's answer to the call, from the cache when this exact call was answered before. The key is the
   * whole call (policy set id, principal, action, resource, context, entities): the answer depends on
   * nothing else, and the policy set behind an id never changes.
   */
  private answer(call: cedar.StatefulAuthorizationCall): cedar.AuthorizationAnswer {
    if (this.answerCacheSize === 0) return cedar.statefulIsAuthorized(call);
    const key = JSON.stringify(call);
    const known = this.answers.get(key);
    if (known !== undefined) {
      this.answerStats.hits++;
      this.answers.delete(key);
      this.answers.set(key, known);
      return known;
    }
    this.answerStats.misses++;
    const answer = cedar.statefulIsAuthorized(call);
    // A large call (a policy that reads big parameters) is not kept: 1,024 of them could hold hundreds of MB.
    if (answer.type === 'success' && key.length <= MAX_CACHED_CALL_CHARS) {
      this.answers.set(key, answer);
      if (this.answers.size > this.answerCacheSize) this.answers.delete(this.answers.keys().next().value as string);
    }
    return answer;
  }

  /**
   * The one Cedar call `decide` makes for a request, or the `invalid` decision when the request does not
   * fit the schema (then Cedar is not called). The benchmark times the bare call beside `decide`.
   */
  authorizationCall(request: ActionRequest): cedar.StatefulAuthorizationCall | PolicyDecision {
    const verb = request.action;
    const resourceTypes = this.verbs.get(verb);
    if (resourceTypes === undefined) {
      return invalid(`action "${verb}" is not a verb the policy schema knows (nearest known: ${nearestWords(verb, [...this.verbs.keys()], 3).join(', ')})`);
    }
    const type = request.resource.type;
    const resourceType = this.resourceTypes.get(type);
    if (!resourceTypes.includes(type) || resourceType === undefined) {
      return invalid(`resource type "${type}" is not valid for action "${verb}" (expected ${resourceTypes.join(' or ')})`);
    }
    // Never evaluated: an unlisted environment would otherwise get the outcome of the rules written for
    // "not prod". Cedar's request validation refuses it too; this check gives the readable reason.
    if (!this.knownEnvironments.has(request.environment)) {
      return invalid(`environment: ${JSON.stringify(request.environment)} is not an environment the policy schema knows (known: ${this.environments.join(', ')})`);
    }

    const evaluation = this.evaluationOf(verb, request.environment);
    const { resourceAttributes: read, contextKeys } = evaluation.reads;
    const attrs: Record<string, string | number | boolean> = {};
    const given = request.resource.attributes ?? {};
    // Only attributes the schema declares for the type are passed on; others are ignored, so agents may
    // send descriptive attributes that no policy reads yet. `id` is always the resource id: a request
    // cannot pass off one resource as another through an `id` attribute. Every declared attribute is
    // checked, whether or not a policy of this verb reads it, so slicing never changes what is `invalid`.
    for (const [name, declared] of resourceType.attributes) {
      const value = Object.hasOwn(given, name) ? given[name] : undefined;
      if (value === undefined) {
        if (declared.required) return invalid(`resource.attributes.${name} is required for a ${type} by the policy schema`);
        continue;
      }
      const problem = attributeTypeProblem(value, declared.type);
      if (problem !== undefined) return invalid(`resource.attributes.${name} must be ${problem} for a ${type} (got ${JSON.stringify(value)})`);
      if (read === 'all' || read.has(name)) attrs[name] = value;
    }
    if (read === 'all' || read.has('id')) attrs.id = request.resource.id;

    const wants = (key: string) => contextKeys === 'all' || contextKeys.has(key);
    const context: Record<string, cedar.CedarValueJson> = {};
    if (wants('environment')) context.environment = { __entity: { type: ENVIRONMENT_TYPE, id: request.environment } };
    if (wants('parameterKeys')) context.parameterKeys = Object.keys(request.parameters);
    if (wants('riskHints')) context.riskHints = riskHintsOf(request.context);
    if (request.agent.onBehalfOf !== undefined && wants('onBehalfOf')) context.onBehalfOf = request.agent.onBehalfOf;
    if (evaluation.resourceInContext) for (const [name, value] of Object.entries(attrs)) context[`${RESOURCE_ATTRIBUTE_KEY_PREFIX}${name}`] = value;

    const resource = { type, id: request.resource.id };
    return {
      principal: { type: PRINCIPAL_TYPE, id: request.agent.id },
      action: { type: ACTION_TYPE, id: verb },
      resource,
      context,
      // The Agent entity is left out: it has no attributes or parents, and Cedar treats an absent
      // entity exactly so. So is the resource when no policy of the set reads it, and the action's
      // groups when no policy uses `in`. Each entity costs parsing time on every request.
      entities: evaluation.resourceEntity ? [{ uid: resource, attrs, parents: [] }, ...evaluation.actionEntities] : evaluation.actionEntities,
      preparsedPolicySetId: evaluation.setId,
      validateRequest: false,
    };
  }
}

/**
 * The decision for Cedar's answer to a request (DESIGN.md decision 2): deny if Cedar denies (or a guarding
 * policy could not be evaluated); else approval by the strictest `@approval` among the determining
 * permits; else allow. Exported for the differential test, which applies it to the plain Cedar call.
 */
export function decisionFromResponse(request: ActionRequest, response: cedar.Response, policyById: ReadonlyMap<string, LoadedPolicy>): PolicyDecision {
  const verb = request.action;
  // Cedar skips a policy whose evaluation errors. For a forbid or an approval policy that would fail
  // open, so such an error denies the request instead. (Strict validation makes these errors rare:
  // they need e.g. an integer overflow.) An erroring plain permit just does not permit, as in Cedar.
  const failedGuard = response.diagnostics.errors.filter((error) => {
    const policy = policyById.get(error.policyId);
    return policy === undefined || policy.effect === 'forbid' || policy.approval !== undefined;
  });
  if (failedGuard.length > 0) {
    const ids = failedGuard.map((error) => error.policyId);
    const details = failedGuard.map((error) => `policy ${error.policyId}: ${error.error.message}`).join('; ');
    return { kind: 'deny', policyIds: ids, reason: `denied because a guarding policy could not be evaluated (${details})` };
  }

  const determining = [...response.diagnostics.reason].sort();
  if (response.decision === 'deny') {
    if (determining.length === 0) {
      return { kind: 'deny', policyIds: [], reason: `no policy permits ${verb} on ${request.resource.type} in ${request.environment}` };
    }
    return { kind: 'deny', policyIds: determining, reason: `forbidden by ${policyList(determining)}` };
  }

  const approvals = determining
    .map((id) => ({ id, approval: policyById.get(id)?.approval }))
    .filter((p): p is { id: string; approval: ApprovalRequirement } => p.approval !== undefined)
    .sort((a, b) => compareStrictness(a.approval, b.approval) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const strictest = approvals[0];
  // Every permit that applies may shorten how long the permission lasts; none lengthens it past the shortest.
  const validity = shortestValidity(determining.map((id) => policyById.get(id)?.validity));
  if (strictest === undefined) {
    return { kind: 'allow', policyIds: determining, reason: `permitted by ${policyList(determining)}`, validity };
  }
  const approvalIds = approvals.map((p) => p.id);
  const policyIds = [...approvalIds, ...determining.filter((id) => !approvalIds.includes(id))];
  const { approvers, quorum, escalate } = strictest.approval;
  const reason =
    `needs ${quorum} approval${quorum === 1 ? '' : 's'} from ${approvers} within ${describeDuration(strictest.approval.timeoutSeconds)}` +
    (escalate !== undefined ? `, escalating to ${escalate}` : '') +
    ` (${policyList([strictest.id])}` +
    (approvals.length > 1 ? `, the strictest of ${approvals.length} that apply)` : ')');
  return { kind: 'approval', policyIds, reason, approval: { ...strictest.approval }, validity };
}

function invalid(reason: string): PolicyDecision {
  return { kind: 'invalid', policyIds: [], reason };
}

/**
 * Edit distance counting a swap of two neighbouring characters as one edit (optimal string
 * alignment), so that the typo "exprot" is one edit from "export".
 */
export function editDistance(a: string, b: string): number {
  const rows: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  const at = (i: number, j: number) => rows[i]?.[j] ?? Number.POSITIVE_INFINITY;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, at(i - 2, j - 2) + 1);
      (rows[i] as number[])[j] = best;
    }
  }
  return at(a.length, b.length);
}

/** The `count` candidates nearest to `word` by edit distance, nearest first, ties in name order. */
export function nearestWords(word: string, candidates: readonly string[], count: number): string[] {
  return candidates
    .map((candidate) => ({ candidate, distance: editDistance(word, candidate) }))
    .sort((x, y) => x.distance - y.distance || x.candidate.localeCompare(y.candidate))
    .slice(0, count)
    .map(({ candidate }) => candidate);
}

function policyList(ids: readonly string[]): string {
  return ids.length === 1 ? `policy ${ids[0]}` : `policies ${ids.join(', ')}`;
}

function attributeTypeProblem(value: string | number | boolean, type: AttributeType): string | undefined {
  switch (type) {
    case 'String':
      return typeof value === 'string' ? undefined : 'a string';
    case 'Bool':
      return typeof value === 'boolean' ? undefined : 'true or false';
    case 'Long':
      return typeof value === 'number' && Number.isSafeInteger(value) ? undefined : 'an integer';
  }
}

/** `context.riskHints` when the agent sent an array of strings; anything else counts as no hints. */
function riskHintsOf(context: Record<string, unknown> | undefined): string[] {
  const hints = context?.riskHints;
  if (!Array.isArray(hints) || !hints.every((hint): hint is string => typeof hint === 'string')) return [];
  return [...new Set(hints)];
}

function expectSuccess(answer: cedar.CheckParseAnswer, where: string, what: string): void {
  if (answer.type === 'failure') {
    throw new PolicyLoadError(where, answer.errors.map((error) => `${what}: ${describeCedarError(error)}`));
  }
}

// ---------------------------------------------------------------------------------------------------
// Compilation: schema model, policy metadata, validation. Every problem is collected, then thrown once.

interface Located {
  file: string;
  text: string;
  /** Offset of the policy text in its file. */
  offset: number;
  line: number;
}

type SchemaTypeJson = { type: string; required?: boolean; element?: SchemaTypeJson; attributes?: Record<string, SchemaTypeJson>; name?: string };
type NamespaceJson = {
  commonTypes?: Record<string, SchemaTypeJson>;
  entityTypes: Record<string, { shape?: SchemaTypeJson; enum?: string[] }>;
  actions: Record<string, { appliesTo?: { resourceTypes: string[]; principalTypes: string[]; context?: SchemaTypeJson }; memberOf?: Array<{ id: string; type?: string }> }>;
};

/**
 * Parses the schema and policies, checks them (the schema's shape, every annotation, unique ids) and
 * validates the policies against the schema in strict mode; returns the form the engine runs from, which
 * can be written as JSON (the evaluate-action bundle carries it, so its cold start skips all of this).
 * Throws `PolicyLoadError` listing every problem.
 */
export function preparePolicies(source: PolicySource, where = 'the given policy source'): PreparedPolicies {
  const schemaFile = source.schema.file;
  const problems: string[] = [];

  // --- the schema
  const schemaAnswer = cedar.schemaToJsonWithResolvedTypes(source.schema.text);
  if (schemaAnswer.type === 'failure') {
    throw new PolicyLoadError(where, schemaAnswer.errors.map((error) => `${schemaFile}${lineSuffix(source.schema.text, 0, error)}: ${describeCedarError(error)}`));
  }
  const namespaces = schemaAnswer.json as unknown as Record<string, NamespaceJson>;
  const namespaceNames = Object.keys(namespaces).filter((name) => name !== '');
  if (namespaceNames.length > 0) {
    problems.push(`${schemaFile}: declare the types outside any namespace (found namespace ${namespaceNames.join(', ')}); requests name actions Action::"<verb>" and resources <Type>::"<id>"`);
  }
  const schema: NamespaceJson = namespaces[''] ?? { entityTypes: {}, actions: {} };
  const commonTypes = schema.commonTypes ?? {};
  const resolve = (t: SchemaTypeJson): SchemaTypeJson => {
    const common = commonTypes[t.type];
    return common === undefined ? t : { ...resolve(common), ...(t.required === false ? { required: false } : {}) };
  };

  const agent = schema.entityTypes[PRINCIPAL_TYPE];
  if (agent === undefined || agent.enum !== undefined) {
    problems.push(`${schemaFile}: declare \`entity ${PRINCIPAL_TYPE};\`, the type of every principal`);
  } else if (Object.keys(agent.shape?.attributes ?? {}).length > 0) {
    problems.push(`${schemaFile}: declare \`entity ${PRINCIPAL_TYPE};\` without attributes: the engine knows an agent only by its id (facts about a request belong in ${CONTEXT_TYPE})`);
  }
  const declaredContext = commonTypes[CONTEXT_TYPE];
  if (declaredContext === undefined || !sameJson(declaredContext, EXPECTED_CONTEXT)) {
    problems.push(`${schemaFile}: declare the context type exactly as the engine fills it: ${EXPECTED_CONTEXT_TEXT}`);
  }
  const environments = schema.entityTypes[ENVIRONMENT_TYPE]?.enum ?? [];
  if (environments.length === 0) {
    problems.push(`${schemaFile}: declare the environments requests may name as an enumerated entity type, e.g. ${EXPECTED_ENVIRONMENT_TEXT} (a request naming any other environment is answered invalid)`);
  }
  for (const environment of environments) {
    const checked = ActionRequestedSchema.shape.environment.safeParse(environment);
    if (!checked.success) {
      problems.push(`${schemaFile}: environment ${JSON.stringify(environment)} of ${ENVIRONMENT_TYPE} can never be requested: an environment ${checked.error.issues[0]?.message ?? 'does not match the event contract'}`);
    }
  }

  const verbs = new Map<string, string[]>();
  const resourceTypes = new Map<string, ResourceType>();
  const parentsOf = new Map<string, string[]>();
  for (const [verb, action] of Object.entries(schema.actions)) {
    parentsOf.set(verb, (action.memberOf ?? []).filter((m) => (m.type ?? ACTION_TYPE) === ACTION_TYPE).map((m) => m.id));
    const applies = action.appliesTo;
    if (applies === undefined || applies.resourceTypes.length === 0) continue; // an action group
    if (applies.principalTypes.length !== 1 || applies.principalTypes[0] !== PRINCIPAL_TYPE) {
      problems.push(`${schemaFile}: action "${verb}" must apply to principal [${PRINCIPAL_TYPE}] (found [${applies.principalTypes.join(', ')}])`);
    }
    if (applies.context?.type !== CONTEXT_TYPE) {
      problems.push(`${schemaFile}: action "${verb}" must use \`context: ${CONTEXT_TYPE}\`, the one context the engine builds`);
    }
    verbs.set(verb, [...applies.resourceTypes]);
    for (const typeName of applies.resourceTypes) {
      if (resourceTypes.has(typeName)) continue;
      const entity = schema.entityTypes[typeName];
      const attributes = new Map<string, { type: AttributeType; required: boolean }>();
      resourceTypes.set(typeName, { attributes });
      const shape = entity?.shape === undefined ? undefined : resolve(entity.shape);
      const declared = shape?.attributes ?? {};
      const id = declared.id === undefined ? undefined : resolve(declared.id);
      if (entity?.enum !== undefined || id === undefined || id.type !== 'String' || id.required === false) {
        problems.push(`${schemaFile}: resource type ${typeName} must declare a required \`id: String\` attribute (the engine sets it to the resource id so policies can match on it)`);
      }
      for (const [name, raw] of Object.entries(declared)) {
        if (name === 'id') continue;
        const t = resolve(raw);
        if (t.type !== 'String' && t.type !== 'Long' && t.type !== 'Bool') {
          problems.push(`${schemaFile}: attribute ${name} of ${typeName} has type ${t.type === 'EntityOrCommon' || t.type === 'Entity' ? (t.name ?? t.type) : t.type}; request attributes can only be String, Long or Bool`);
          continue;
        }
        attributes.set(name, { type: t.type, required: raw.required !== false });
      }
    }
  }
  if (verbs.size === 0) problems.push(`${schemaFile}: declares no action that applies to a resource`);

  // --- the policies: split, read annotations and action scope, check ids
  const policies: LoadedPolicy[] = [];
  const texts: Record<string, string> = {};
  const policyJson: Record<string, cedar.PolicyJson> = {};
  const located = new Map<string, Located>();
  for (const file of source.policies) {
    const parts = cedar.policySetTextToParts(file.text);
    if (parts.type === 'failure') {
      for (const error of parts.errors) problems.push(`${file.file}${lineSuffix(file.text, 0, error)}: ${describeCedarError(error)}`);
      continue;
    }
    if (parts.policy_templates.length > 0) {
      problems.push(`${file.file}: contains a policy template (a policy with ?principal or ?resource); Countersign ships static policies only`);
    }
    let cursor = 0;
    for (const text of parts.policies) {
      const found = file.text.indexOf(text, cursor);
      const offset = found === -1 ? cursor : found;
      cursor = found === -1 ? cursor : found + text.length;
      const line = lineOf(file.text, offset);
      const at = `${file.file}:${line}`;
      const json = cedar.policyToJson(text);
      if (json.type === 'failure') {
        for (const error of json.errors) problems.push(`${at}: ${describeCedarError(error)}`);
        continue;
      }
      const effect = json.json.effect;
      const annotations = parsePolicyAnnotations(json.json.annotations as Record<string, string | null> | undefined, effect);
      const label = annotations.id === undefined ? `${at}:` : `${at}: policy "${annotations.id}"`;
      for (const problem of annotations.problems) problems.push(`${label}${annotations.id === undefined ? ' ' : ': '}${problem}`);
      if (annotations.id === undefined) continue;
      const earlier = located.get(annotations.id);
      if (earlier !== undefined) {
        problems.push(`${label}: reuses the @id of the policy at ${earlier.file}:${earlier.line}; every @id must be unique`);
        continue;
      }
      located.set(annotations.id, { file: file.file, text, offset, line });
      texts[annotations.id] = text;
      policyJson[annotations.id] = json.json;
      const policy: LoadedPolicy = {
        id: annotations.id,
        file: file.file,
        line,
        effect,
        actions: actionsInScope(json.json.action, verbs, parentsOf),
      };
      if (annotations.approval !== undefined) policy.approval = annotations.approval;
      if (annotations.validity !== undefined) policy.validity = annotations.validity;
      policies.push(policy);
    }
  }
  if (problems.length > 0) throw new PolicyLoadError(where, problems);

  // --- validation against the schema, strict mode
  const warnings: string[] = [];
  const validation = cedar.validate({ schema: source.schema.text, policies: { staticPolicies: texts }, validationSettings: { mode: 'strict' } });
  if (validation.type === 'failure') {
    throw new PolicyLoadError(where, validation.errors.map((error) => `validation could not run: ${describeCedarError(error)}`));
  }
  const describe = (item: cedar.ValidationError) => {
    const at = located.get(item.policyId);
    const place = at === undefined ? '' : `${at.file}${lineSuffix(sourceOf(source, at.file), at.offset, item.error)}: `;
    // Cedar prefixes "for policy `x`, " (or ": ", and in the help too); the place already names the policy.
    let message = describeCedarError(item.error).replace(/(^|\()for policy `[^`]*`[,:] /g, '$1');
    if (/\bString and Environment\b|\bEnvironment and String\b/.test(message)) {
      message += `; name an environment as ${ENVIRONMENT_TYPE}::"prod", not as the string "prod"`;
    }
    return `${place}policy "${item.policyId}": ${message}`;
  };
  for (const item of validation.validationErrors) problems.push(describe(item));
  for (const item of validation.validationWarnings) warnings.push(describe(item));
  for (const item of validation.otherWarnings) warnings.push(describeCedarError(item));
  if (problems.length > 0) throw new PolicyLoadError(where, [...new Set(problems)]);

  return {
    format: PREPARED_POLICIES_FORMAT,
    cedarVersion: cedar.getCedarVersion(),
    sourceSha256: policySourceSha256(source),
    policies,
    policyJson,
    warnings: [...new Set(warnings)],
    verbs: [...verbs],
    actionParents: Object.fromEntries(parentsOf),
    resourceTypes: [...resourceTypes].map(([name, type]) => [name, [...type.attributes]]),
    environments: [...environments],
  };
}

/** The verbs a policy's action scope can match, expanding action groups through the schema's memberOf. */
function actionsInScope(scope: cedar.ActionConstraint, verbs: ReadonlyMap<string, readonly string[]>, parentsOf: ReadonlyMap<string, readonly string[]>): readonly string[] | 'any' {
  if (scope.op === 'All') return 'any';
  const uidId = (uid: cedar.EntityUidJson) => ('__entity' in uid ? uid.__entity.id : uid.id);
  if (scope.op === '==') return 'entity' in scope ? [uidId(scope.entity)] : 'any';
  const targets = new Set('entities' in scope ? scope.entities.map(uidId) : [uidId(scope.entity)]);
  const ancestorsOrSelf = (verb: string): Set<string> => {
    const seen = new Set<string>([verb]);
    const queue = [verb];
    for (let next = queue.pop(); next !== undefined; next = queue.pop()) {
      for (const parent of parentsOf.get(next) ?? []) {
        if (seen.has(parent)) continue;
        seen.add(parent);
        queue.push(parent);
      }
    }
    return seen;
  };
  return [...verbs.keys()].filter((verb) => [...ancestorsOrSelf(verb)].some((a) => targets.has(a)));
}

function sourceOf(source: PolicySource, file: string): string {
  return source.policies.find((p) => p.file === file)?.text ?? '';
}

function sameJson(a: unknown, b: unknown): boolean {
  if (typeof a !== 'object' || a === null || typeof b !== 'object' || b === null) return a === b;
  const ka = Object.keys(a).sort();
  const kb = Object.keys(b).sort();
  return ka.length === kb.length && ka.every((k, i) => k === kb[i] && sameJson((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}

function lineOf(text: string, offset: number): number {
  let line = 1;
  for (let i = 0; i < offset && i < text.length; i++) if (text.charCodeAt(i) === 10) line++;
  return line;
}

/** `:line:column` of the first source location of a Cedar error, relative to `text` from `base`. */
function lineSuffix(text: string, base: number, error: cedar.DetailedError): string {
  const start = error.sourceLocations?.[0]?.start;
  if (start === undefined || text === '') return '';
  const offset = base + start;
  const line = lineOf(text, offset);
  const column = offset - (text.lastIndexOf('\n', offset - 1) + 1) + 1;
  return `:${line}:${column}`;
}

function describeCedarError(error: cedar.DetailedError): string {
  return error.help === null || error.help === '' ? error.message : `${error.message} (${error.help})`;
}
