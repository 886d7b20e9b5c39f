import * as cedar from '@cedar-policy/cedar-wasm/nodejs';
import { describe, expect, it } from 'vitest';
import type { ActionRequest } from '../../shared/domain/contract.js';
import { CedarPolicyEngine } from '../../shared/policy/cedar-policy-engine.js';
import { neverApplies, policyReads, withContextKey, withResourceAttributesInContext, type PolicyReads } from '../../shared/policy/policy-reads.js';

function json(text: string): cedar.PolicyJson {
  const answer = cedar.policyToJson(text);
  if (answer.type === 'failure') throw new Error(answer.errors.map((e) => e.message).join('; '));
  return answer.json;
}

function reads(...texts: string[]): { resource: string[] | 'all'; context: string[] | 'all'; hierarchy: boolean } {
  const found: PolicyReads = policyReads(texts.map(json));
  const list = (set: ReadonlySet<string> | 'all') => (set === 'all' ? 'all' : [...set].sort());
  return { resource: list(found.resourceAttributes), context: list(found.contextKeys), hierarchy: found.hierarchy };
}

describe('policyReads: what a set of policies can read of a request', () => {
  it('finds attributes read with `.`, `has` and `["…"]`, and context keys', () => {
    expect(
      reads(
        'permit (principal, action, resource) when { resource has owner && resource["owner"] == context.onBehalfOf };',
        'forbid (principal, action, resource) when { resource.id like "audit/*" && context has riskHints && context.riskHints.contains("x") };',
      ),
    ).toEqual({ resource: ['id', 'owner'], context: ['onBehalfOf', 'riskHints'], hierarchy: false });
  });

  it('reads nothing for a policy with no condition, and nothing of the resource for `==` and `is`', () => {
    expect(reads('permit (principal, action == Action::"a", resource is Doc);')).toEqual({ resource: [], context: [], hierarchy: false });
    expect(reads('permit (principal, action, resource) when { resource == Doc::"x" || resource is Doc };')).toEqual({ resource: [], context: [], hierarchy: false });
  });

  it('keeps every attribute or key when the resource or context is used whole', () => {
    expect(reads('permit (principal, action, resource) when { (if context.riskHints.isEmpty() then resource else resource).id == "x" };').resource).toBe('all');
    expect(reads('permit (principal, action, resource) when { [context].contains(context) };').context).toBe('all');
    expect(reads('permit (principal, action, resource) when { {r: resource}.r.id == "x" };').resource).toBe('all');
  });

  it('notes the hierarchy for `in` anywhere: scope, condition, or `is … in`', () => {
    expect(reads('permit (principal, action in [Action::"a"], resource);').hierarchy).toBe(true);
    expect(reads('permit (principal, action, resource) when { action in Action::"g" };').hierarchy).toBe(true);
    expect(reads('permit (principal, action, resource) when { resource is Doc in Folder::"f" };').hierarchy).toBe(true);
    expect(reads('permit (principal in Group::"g", action, resource);').hierarchy).toBe(true);
  });

  it('keeps every key when a `has` path reads into the context', () => {
    const policy = json('permit (principal, action, resource) when { context has onBehalfOf };');
    const path = { ...policy, conditions: [{ kind: 'when', body: { has: { left: { Var: 'context' }, attr: ['environment', 'x'] } } }] } as unknown as cedar.PolicyJson;
    expect(policyReads([path]).contextKeys).toBe('all');
  });

  it('reads through extension calls and `has` paths', () => {
    expect(reads('permit (principal, action, resource) when { context has onBehalfOf && ip("10.0.0.1").isInRange(ip(context.onBehalfOf)) };').context).toEqual(['onBehalfOf']);
  });

  it('keeps everything for a node kind it does not know', () => {
    const policy = json('permit (principal, action, resource) when { true };');
    const strange = { ...policy, conditions: [{ kind: 'when', body: { somethingNew: { left: { Var: 'resource' } } } }] } as unknown as cedar.PolicyJson;
    expect(policyReads([strange])).toEqual({ resourceAttributes: 'all', contextKeys: 'all', hierarchy: true });
  });
});

describe('withContextKey: a policy with a context key made a literal', () => {
  it('replaces `context.k` and `context has k`, and nothing else', () => {
    const policy = json('permit (principal, action, resource) when { context has environment && context.environment == Environment::"prod" && context.riskHints.isEmpty() };');
    const folded = withContextKey(policy, 'environment', { Value: { __entity: { type: 'Environment', id: 'prod' } } });
    const text = cedar.policyToText(folded);
    expect(text.type === 'success' && text.text.replace(/\s+/g, ' ')).toBe('permit(principal, action, resource) when { true && (Environment::"prod" == Environment::"prod") && context.riskHints.isEmpty() };');
  });
});

describe('withResourceAttributesInContext: resource attributes read from the context', () => {
  const text = (policy: cedar.PolicyJson) => {
    const answer = cedar.policyToText(policy);
    if (answer.type === 'failure') throw new Error(answer.errors.map((e) => e.message).join('; '));
    return answer.text.replace(/\s+/g, ' ');
  };
  it('moves `resource.a`, `resource["a"]` and `resource has a`, and leaves the uid\'s uses (scope, ==, in, is) and literals alone', () => {
    const policy = json('permit (principal, action, resource is Box) when { resource has owner && resource["owner"] == context.onBehalfOf && resource.size < 10 && resource != Box::"x" && !(resource in Shelf::"s") && resource is Box && {v: "resource"}.v == "resource" };');
    expect(text(withResourceAttributesInContext(policy))).toBe(
      'permit(principal, action, resource is Box) when { (context has "resource.owner") && (context["resource.owner"] == context.onBehalfOf) && (context["resource.size"] < 10) && (resource != Box::"x") && (!(resource in Shelf::"s")) && (resource is Box) && ({v: "resource"}.v == "resource") };',
    );
  });
});

describe('neverApplies: a policy that, once the environment is folded in, can never apply', () => {
  const inProd = (text: string) => neverApplies(withContextKey(json(text), 'environment', { Value: { __entity: { type: 'Environment', id: 'prod' } } }));
  it('finds the rules written for other environments', () => {
    expect(inProd('permit (principal, action, resource) unless { context.environment == Environment::"prod" };')).toBe(true);
    expect(inProd('permit (principal, action, resource) when { context.environment == Environment::"dev" && resource.size > 1 };')).toBe(true);
    expect(inProd('permit (principal, action, resource) when { context.environment != Environment::"prod" || context.environment == Environment::"dev" };')).toBe(true);
    expect(inProd('permit (principal, action, resource) when { true } unless { context.environment == Environment::"prod" };')).toBe(true);
  });
  it('keeps a policy that may apply, or may error before the clause that is false', () => {
    expect(inProd('permit (principal, action, resource) when { context.environment == Environment::"prod" };')).toBe(false);
    expect(inProd('permit (principal, action, resource) when { resource.size > 1 && context.environment == Environment::"dev" };')).toBe(false);
    expect(inProd('permit (principal, action, resource) when { resource.size > 1 } unless { context.environment == Environment::"prod" };')).toBe(false);
    expect(inProd('permit (principal, action, resource) when { context.environment == Environment::"dev" || resource.size > 1 };')).toBe(false);
    expect(inProd('forbid (principal, action, resource);')).toBe(false);
  });
});

const SCHEMA = `
entity Environment enum ["prod", "staging", "dev"];
type RequestContext = { environment: Environment, onBehalfOf?: String, parameterKeys: Set<String>, riskHints: Set<String> };
entity Agent;
entity Box = { id: String, owner?: String, size?: Long };
action "box.open", "box.move", "box.look" appliesTo { principal: [Agent], resource: [Box], context: RequestContext };
`;
const POLICIES = `
@id("open-own") permit (principal, action == Action::"box.open", resource) when { context has onBehalfOf && resource has owner && resource.owner == context.onBehalfOf };
@id("move-small-outside-prod") permit (principal, action == Action::"box.move", resource) when { resource has size && resource.size < 10 && context.environment != Environment::"prod" };
@id("look") permit (principal, action == Action::"box.look", resource);
`;

function boxRequest(action: string, environment = 'dev'): ActionRequest {
  return {
    specVersion: '1',
    actionId: 'reads-1',
    agent: { id: 'bot', onBehalfOf: 'ann' },
    action,
    resource: { type: 'Box', id: 'b1', attributes: { owner: 'ann', size: 3, undeclared: 'x' } },
    environment,
    parameters: { reason: 1 },
    justification: 'test',
    context: { riskHints: ['bulk'], extra: true },
  };
}

describe('the engine hands Cedar only what the verb’s policies read', () => {
  const engine = new CedarPolicyEngine({ source: { schema: { file: 's.cedarschema', text: SCHEMA }, policies: [{ file: 'p.cedar', text: POLICIES }] } });
  const call = (action: string, environment?: string) => engine.authorizationCall(boxRequest(action, environment)) as cedar.StatefulAuthorizationCall;

  it('box.open: owner and onBehalfOf, not size, id or the other context keys; the attribute in the context, no entity', () => {
    expect(call('box.open').context).toEqual({ onBehalfOf: 'ann', 'resource.owner': 'ann' });
    expect(call('box.open').entities).toEqual([]);
    expect(engine.decide(boxRequest('box.open')).kind).toBe('allow');
  });

  it('box.move: size, and the environment folded into a set per environment', () => {
    const dev = call('box.move', 'dev');
    const prod = call('box.move', 'prod');
    expect(dev.context).toEqual({ 'resource.size': 3 });
    expect(dev.entities).toEqual([]);
    expect(dev.preparsedPolicySetId).not.toBe(prod.preparsedPolicySetId);
    expect(engine.decide(boxRequest('box.move', 'dev')).kind).toBe('allow');
    expect(engine.decide(boxRequest('box.move', 'prod')).kind).toBe('deny');
  });

  it('box.look: no entity and an empty context', () => {
    expect(call('box.look')).toMatchObject({ context: {}, entities: [] });
    expect(engine.decide(boxRequest('box.look')).kind).toBe('allow');
  });

  it('still answers invalid for a declared attribute of the wrong type that no policy of the verb reads', () => {
    const request = boxRequest('box.look');
    request.resource.attributes = { size: 'big' };
    expect(engine.decide(request)).toMatchObject({ kind: 'invalid', reason: 'resource.attributes.size must be an integer for a Box (got "big")' });
  });

  it('passes everything when told not to slice', () => {
    const whole = new CedarPolicyEngine({ source: { schema: { file: 's.cedarschema', text: SCHEMA }, policies: [{ file: 'p.cedar', text: POLICIES }] }, sliceInputs: false });
    const full = whole.authorizationCall(boxRequest('box.look')) as cedar.StatefulAuthorizationCall;
    expect(Object.keys(full.context).sort()).toEqual(['environment', 'onBehalfOf', 'parameterKeys', 'riskHints']);
    expect(full.entities[0]).toEqual({ uid: { type: 'Box', id: 'b1' }, attrs: { owner: 'ann', size: 3, id: 'b1' }, parents: [] });
  });
});

describe('the answer cache', () => {
  const make = (answerCacheSize?: number) =>
    new CedarPolicyEngine({ source: { schema: { file: 's.cedarschema', text: SCHEMA }, policies: [{ file: 'p.cedar', text: POLICIES }] }, ...(answerCacheSize === undefined ? {} : { answerCacheSize }) });

  it('answers an identical call from the cache, and a call differing in anything its policies read from Cedar', () => {
    const engine = make();
    const first = engine.decide(boxRequest('box.open'));
    expect(engine.decide(boxRequest('box.open'))).toEqual(first);
    expect(engine.answerCacheStats).toEqual({ hits: 1, misses: 1, size: 1 });
    // `size` is not read by box.open's policies: the sliced call is the same, so is the answer.
    const other = boxRequest('box.open');
    other.resource.attributes = { owner: 'ann', size: 99 };
    expect(engine.decide(other)).toEqual(first);
    expect(engine.answerCacheStats.hits).toBe(2);
    // `owner` is read: a new call, and a different decision.
    const stranger = boxRequest('box.open');
    stranger.resource.attributes = { owner: 'bob' };
    expect(engine.decide(stranger).kind).toBe('deny');
    expect(engine.answerCacheStats).toEqual({ hits: 2, misses: 2, size: 2 });
  });

  it('makes each decision from its own request (the reason names the request’s verb and environment)', () => {
    const engine = make();
    // box.open's policies do not read the environment: two requests that differ only in it make one call.
    const stranger = (environment: string) => ({ ...boxRequest('box.open', environment), resource: { type: 'Box', id: 'b1', attributes: { owner: 'bob' } } });
    const dev = engine.decide(stranger('dev'));
    const staging = engine.decide(stranger('staging'));
    expect(engine.answerCacheStats).toEqual({ hits: 1, misses: 1, size: 1 });
    expect(dev.reason).toBe('no policy permits box.open on Box in dev');
    expect(staging.reason).toBe('no policy permits box.open on Box in staging');
  });

  it('does not keep the answer to a call over 8 KB of JSON (a policy that reads large data)', () => {
    const engine = make();
    const large = boxRequest('box.open');
    large.resource.attributes = { owner: 'x'.repeat(9 * 1024) };
    engine.decide(large);
    engine.decide(large);
    expect(engine.answerCacheStats).toEqual({ hits: 0, misses: 2, size: 0 });
  });

  it('keeps at most answerCacheSize answers, the most recently used', () => {
    const engine = make(2);
    for (const owner of ['a', 'b', 'c', 'a']) {
      const request = boxRequest('box.open');
      request.resource.attributes = { owner };
      engine.decide(request);
    }
    expect(engine.answerCacheStats).toEqual({ hits: 0, misses: 4, size: 2 });
    expect(make(0).answerCacheStats.size).toBe(0);
    expect(() => make(-1)).toThrow('answerCacheSize must be a whole number ≥ 0 (got -1)');
  });
});
