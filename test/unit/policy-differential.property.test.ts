import * as cedar from '@cedar-policy/cedar-wasm/nodejs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { generatePolicySet } from '../../bench/policy-bench.js';
import type { ActionRequest } from '../../shared/domain/contract.js';
import type { PolicyDecision } from '../../shared/domain/decision.js';
import { CedarPolicyEngine, decisionFromResponse, preparePolicies, type LoadedPolicy } from '../../shared/policy/cedar-policy-engine.js';
import { loadPolicySource, type PolicySource } from '../../shared/policy/load-policies.js';
import type { PreparedPolicies } from '../../shared/policy/prepared-policies.js';

/*
 * Differential property: the engine as evaluate-action runs it (the prepared form read back from JSON,
 * per-verb narrowed sets preparsed lazily, no schema at evaluation, the action's groups passed as
 * entities, only the attributes and context keys the verb's policies read handed to Cedar, the environment
 * folded into sets per environment) decides every generated request exactly as the plain Cedar call does: `isAuthorized` with the
 * whole, unnarrowed policy set as text, the schema, and Cedar's own request and entity validation. Where
 * Cedar's validation refuses a request, the engine must answer `invalid`; everywhere else the decisions
 * (kind, policy ids, reason, approval, validity) must be equal. The requests carry attributes and
 * context keys no policy reads, and the plain call gets every declared attribute and the whole context.
 */

const GROUPS_SCHEMA = `
entity Environment enum ["prod", "staging", "dev"];
type RequestContext = { environment: Environment, onBehalfOf?: String, parameterKeys: Set<String>, riskHints: Set<String> };
entity Agent;
entity Doc = { id: String, owner?: String, pages?: Long, draft: Bool };
entity Folder = { id: String };
action "docs.all";
action "docs.write" in ["docs.all"];
action "doc.read" in ["docs.all"] appliesTo { principal: [Agent], resource: [Doc, Folder], context: RequestContext };
action "doc.edit" in ["docs.write"] appliesTo { principal: [Agent], resource: [Doc], context: RequestContext };
action "doc.delete" in ["docs.write"] appliesTo { principal: [Agent], resource: [Doc], context: RequestContext };
`;

const GROUPS_POLICIES = `
@id("read-outside-prod") permit (principal, action in Action::"docs.all", resource) when { context.environment != Environment::"prod" };
@id("write-drafts") @approval @approvers("editors") @quorum("2") permit (principal, action in Action::"docs.write", resource is Doc) when { resource.draft };
@id("edit-own") @validFor("PT5M") permit (principal, action == Action::"doc.edit", resource is Doc) when { context has onBehalfOf && resource has owner && resource.owner == context.onBehalfOf };
@id("big-docs") @approval @approvers("leads") @timeout("PT10M") @escalate("security") permit (principal, action in [Action::"doc.edit", Action::"doc.delete"], resource is Doc) when { resource has pages && resource.pages > 100 };
@id("no-destructive-prod") forbid (principal, action == Action::"doc.delete", resource) when { context.environment == Environment::"prod" && context.riskHints.contains("destructive") };
@id("agent-7-out") forbid (principal == Agent::"agent-7", action, resource);
@id("folders-with-path") permit (principal, action == Action::"doc.read", resource is Folder) when { context.parameterKeys.contains("path") };
`;

// Each verb reads something different, through every form the slicing analysis knows (`.`, `has`, `["…"]`,
// an if-then-else, `is … in`, the environment folded per environment, the resource used whole, which keeps
// the entity), so a value it wrongly leaves out of a verb's call changes that verb's decisions.
const SLICING_SCHEMA = `
entity Environment enum ["prod", "staging", "dev"];
type RequestContext = { environment: Environment, onBehalfOf?: String, parameterKeys: Set<String>, riskHints: Set<String> };
entity Agent;
entity Box = { id: String, owner?: String, size?: Long, locked?: Bool };
entity Shelf = { id: String };
action "box.open", "box.move", "box.ship", "box.burn", "box.label", "box.weigh" appliesTo { principal: [Agent], resource: [Box], context: RequestContext };
action "shelf.scan" appliesTo { principal: [Agent], resource: [Shelf, Box], context: RequestContext };
`;

const SLICING_POLICIES = `
@id("open-own") permit (principal, action == Action::"box.open", resource) when { context has onBehalfOf && resource has owner && resource["owner"] == context.onBehalfOf };
@id("move-small") permit (principal, action == Action::"box.move", resource) when { resource has size && resource.size < 10 };
@id("move-big") @approval @approvers("ops") permit (principal, action == Action::"box.move", resource) when { resource has size && resource.size >= 10 && context.environment != Environment::"prod" };
@id("ship-unlocked") @approval @approvers("ops") permit (principal, action == Action::"box.ship", resource) when { if context.parameterKeys.contains("force") then context.riskHints.isEmpty() else (resource has locked && !resource.locked) };
@id("burn-outside-prod") permit (principal, action == Action::"box.burn", resource) when { context.environment == Environment::"dev" || (context.environment == Environment::"staging" && context.riskHints.contains("bulk")) };
@id("label-any") permit (principal, action == Action::"box.label", resource);
@id("label-owned-only") forbid (principal, action == Action::"box.label", resource) unless { resource has owner };
@id("burn-for-someone") forbid (principal, action == Action::"box.burn", resource) unless { context has onBehalfOf };
@id("label-not-locked") forbid (principal, action == Action::"box.label", resource) when { resource has locked && resource.locked };
@id("scan-boxes") permit (principal, action == Action::"shelf.scan", resource is Box) when { resource.id like "b*" };
@id("scan-shelves") permit (principal, action == Action::"shelf.scan", resource is Shelf in Shelf::"top");
@id("weigh-b-boxes") permit (principal, action == Action::"box.weigh", resource) when { (if context.riskHints.isEmpty() then resource else resource).id like "b*" };
`;

interface Setup {
  name: string;
  source: PolicySource;
  engine: CedarPolicyEngine;
  policyById: ReadonlyMap<string, LoadedPolicy>;
  texts: Record<string, string>;
  verbs: readonly string[];
  resourceTypes: readonly string[];
  attributeNames: readonly string[];
  schemaJson: cedar.SchemaJson<string>;
}

function setup(name: string, source: PolicySource): Setup {
  // Through JSON, as the bundle carries it.
  const prepared = JSON.parse(JSON.stringify(preparePolicies(source))) as PreparedPolicies;
  const engine = new CedarPolicyEngine({ prepared });
  const texts: Record<string, string> = {};
  for (const file of source.policies) {
    const parts = cedar.policySetTextToParts(file.text);
    if (parts.type === 'failure') throw new Error(`${name}: ${parts.errors[0]?.message}`);
    for (const text of parts.policies) {
      const json = cedar.policyToJson(text);
      if (json.type === 'failure') throw new Error(`${name}: ${json.errors[0]?.message}`);
      texts[String(json.json.annotations?.id)] = text;
    }
  }
  expect(Object.keys(texts).sort()).toEqual(engine.policies.map((p) => p.id).sort());
  const schemaJson = cedar.schemaToJson(source.schema.text);
  if (schemaJson.type === 'failure') throw new Error(`${name}: ${schemaJson.errors[0]?.message}`);
  return {
    schemaJson: schemaJson.json,
    name,
    source,
    engine,
    policyById: new Map(engine.policies.map((policy) => [policy.id, policy])),
    texts,
    verbs: [...engine.verbs.keys()],
    resourceTypes: prepared.resourceTypes.map(([type]) => type),
    attributeNames: [...new Set(prepared.resourceTypes.flatMap(([, attributes]) => attributes.map(([attribute]) => attribute)))],
  };
}

/** The request as DESIGN.md decision 2 maps it, handed to Cedar whole: full set as text, schema, validation on. */
function plainDecision(s: Setup, request: ActionRequest): PolicyDecision | 'refused' {
  const shape = (s.schemaJson['']?.entityTypes[request.resource.type] as { shape?: { attributes?: Record<string, unknown> } } | undefined)?.shape;
  const attrs: Record<string, cedar.CedarValueJson> = {};
  for (const name of Object.keys(shape?.attributes ?? {})) {
    const value = request.resource.attributes?.[name];
    if (value !== undefined) attrs[name] = value;
  }
  attrs.id = request.resource.id;
  const context: Record<string, cedar.CedarValueJson> = {
    environment: { __entity: { type: 'Environment', id: request.environment } },
    parameterKeys: Object.keys(request.parameters),
    riskHints: [...new Set((request.context?.riskHints as string[] | undefined) ?? [])],
  };
  if (request.agent.onBehalfOf !== undefined) context.onBehalfOf = request.agent.onBehalfOf;
  const resource = { type: request.resource.type, id: request.resource.id };
  const answer = cedar.isAuthorized({
    principal: { type: 'Agent', id: request.agent.id },
    action: { type: 'Action', id: request.action },
    resource,
    context,
    entities: [{ uid: resource, attrs, parents: [] }],
    policies: { staticPolicies: s.texts },
    schema: s.source.schema.text,
    validateRequest: true,
  });
  return answer.type === 'failure' ? 'refused' : decisionFromResponse(request, answer.response, s.policyById);
}

function requests(s: Setup): fc.Arbitrary<ActionRequest> {
  const value = fc.oneof(fc.constantFrom('legal-hold', 'me@example.com', 'x'), fc.integer({ min: -3, max: 300 }), fc.boolean());
  const attributeNames = [...s.attributeNames, 'undeclared'];
  // Keys an agent may add that no policy can read: the engine must ignore them, sliced or not.
  const extraKey = fc.constantFrom('note', 'ticket', 'environment', 'onBehalfOf', 'parameterKeys', 'extra');
  return fc
    .record({
      verb: fc.oneof({ weight: 9, arbitrary: fc.constantFrom(...s.verbs) }, { weight: 1, arbitrary: fc.constantFrom('db.exprot', 'docs.write', 'nope') }),
      typeIndex: fc.nat(),
      keepType: fc.double({ min: 0, max: 1, noNaN: true }),
      resourceId: fc.oneof(fc.constantFrom('audit/1', 'frozen-12/a', 'res-1', 'prod-db', 'a/b', 'b7', 'top'), fc.string({ minLength: 1, maxLength: 12 })),
      attributes: fc.dictionary(fc.constantFrom(...attributeNames), value, { maxKeys: attributeNames.length }),
      environment: fc.oneof({ weight: 9, arbitrary: fc.constantFrom('prod', 'staging', 'dev') }, { weight: 1, arbitrary: fc.constantFrom('production', 'test') }),
      agent: fc.constantFrom('agent-1', 'agent-3', 'agent-7', 'agent-12', 'ops-bot'),
      onBehalfOf: fc.option(fc.constantFrom('me@example.com', 'x', 'someone@example.com'), { nil: undefined }),
      parameterKeys: fc.subarray(['reason', 'rows', 'path', 'table', 'force']),
      riskHints: fc.subarray(['destructive', 'pii', 'bulk', 'destructive']),
      extraContext: fc.dictionary(extraKey, value, { maxKeys: 3 }),
      extraParameters: fc.dictionary(extraKey, value, { maxKeys: 2 }),
    })
    .map((g) => {
      const allowed = s.engine.verbs.get(g.verb) ?? [];
      // Mostly a resource type the verb accepts; sometimes any type the schema knows.
      const type = g.keepType < 0.9 && allowed.length > 0 ? (allowed[g.typeIndex % allowed.length] as string) : (s.resourceTypes[g.typeIndex % s.resourceTypes.length] as string);
      return {
        specVersion: '1',
        actionId: 'differential',
        agent: { id: g.agent, ...(g.onBehalfOf === undefined ? {} : { onBehalfOf: g.onBehalfOf }) },
        action: g.verb,
        resource: { type, id: g.resourceId, attributes: g.attributes },
        environment: g.environment,
        parameters: { ...g.extraParameters, ...Object.fromEntries(g.parameterKeys.map((key) => [key, 1])) },
        justification: 'differential test',
        context: { ...g.extraContext, riskHints: g.riskHints },
      } satisfies ActionRequest;
    });
}

const setups = [
  () => setup('the shipped policies', loadPolicySource()),
  () => setup('a generated set of 60 policies', generatePolicySet(60, 7).source),
  () => setup('action groups', { schema: { file: 'groups.cedarschema', text: GROUPS_SCHEMA }, policies: [{ file: 'groups.cedar', text: GROUPS_POLICIES }] }),
  () => setup('a different slice per verb', { schema: { file: 'slicing.cedarschema', text: SLICING_SCHEMA }, policies: [{ file: 'slicing.cedar', text: SLICING_POLICIES }] }),
];

describe('the engine decides as plain Cedar does with the whole set, the schema and validation', () => {
  for (const make of setups) {
    const s = make();
    it(`${s.name}: equal decisions over generated requests`, () => {
      const seen = new Set<string>();
      fc.assert(
        fc.property(requests(s), (request) => {
          const engine = s.engine.decide(request);
          const plain = plainDecision(s, request);
          seen.add(engine.kind);
          if (plain === 'refused') expect(engine.kind).toBe('invalid');
          else expect(engine).toEqual(plain);
        }),
        { numRuns: 400, seed: 15 },
      );
      // The generators reach every outcome the set can give, so the property is not vacuous.
      expect([...seen].sort()).toEqual(['allow', 'approval', 'deny', 'invalid']);
    }, 120_000);
  }

});
