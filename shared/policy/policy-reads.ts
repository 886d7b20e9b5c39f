import type { ActionConstraint, Expr, PolicyJson, PrincipalConstraint, ResourceConstraint } from '@cedar-policy/cedar-wasm/nodejs';

/**
 * What a set of policies can read of a request, found from their JSON form (Cedar's EST) before the
 * set is used: the engine then hands Cedar only that (issue 15). Crossing into Cedar's wasm costs
 * per value (each attribute and context key is converted, and each entity reference parsed, on every
 * call), and a value no policy reads cannot change a decision.
 *
 * The analysis keeps a value whenever it cannot tell:
 * - `resource.a`, `resource has a`, `resource["a"]` read attribute `a`; `context.k` and `context has k`
 *   read context key `k`.
 * - `resource` (or `context`) anywhere else, e.g. passed whole into a set, a record or an if-then-else,
 *   counts as reading every attribute (or key). The exceptions are the operands of `==`, `!=`, `in` and
 *   `is`, which compare or look up the entity's uid and ancestors, never its attributes.
 * - Any `in` (in a scope or a condition, `is ... in` too) uses the entity hierarchy: then the action's
 *   groups are passed as entities (the request's resource has no parents, so it needs none).
 * - A node kind this code does not know (a later Cedar's EST) counts as reading everything.
 */
export interface PolicyReads {
  /** The resource attributes the policies can read (`id` included), or 'all'. */
  resourceAttributes: ReadonlySet<string> | 'all';
  /** The context keys the policies can read, or 'all'. */
  contextKeys: ReadonlySet<string> | 'all';
  /** Whether any policy uses the entity hierarchy (`in`): then the action and its groups must be passed as entities. */
  hierarchy: boolean;
}

const UID_OPERATORS = new Set(['==', '!=', 'in']);
const BINARY = new Set(['==', '!=', 'in', '<', '<=', '>', '>=', '&&', '||', '+', '-', '*', 'contains', 'containsAll', 'containsAny', 'getTag', 'hasTag']);
const UNARY = new Set(['!', 'neg', 'isEmpty']);

class ReadsCollector {
  resource: Set<string> | 'all' = new Set();
  context: Set<string> | 'all' = new Set();
  hierarchy = false;

  everything(): void {
    this.resource = 'all';
    this.context = 'all';
    this.hierarchy = true;
  }

  private attribute(left: Expr, attr: string): boolean {
    const variable = (left as { Var?: unknown }).Var;
    if (variable === 'resource') {
      if (this.resource !== 'all') this.resource.add(attr);
      return true;
    }
    if (variable === 'context') {
      if (this.context !== 'all') this.context.add(attr);
      return true;
    }
    return false;
  }

  private hasAttribute(left: Expr, attr: string): void {
    if (!this.attribute(left, attr)) this.expr(left);
  }

  /** `uidOnly`: the expression's value is only compared or looked up as an entity uid (operand of ==, !=, in, is). */
  expr(node: Expr, uidOnly = false): void {
    const entries = Object.entries(node as Record<string, unknown>);
    if (entries.length !== 1) return this.everything();
    const [kind, body] = entries[0] as [string, unknown];
    const b = body as Record<string, unknown>;
    switch (kind) {
      case 'Value':
      case 'Slot':
        return;
      case 'Var':
        if (uidOnly) return;
        if (body === 'resource') this.resource = 'all';
        else if (body === 'context') this.context = 'all';
        return;
      case '.':
        if (typeof b.attr !== 'string') return this.everything();
        if (!this.attribute(b.left as Expr, b.attr)) this.expr(b.left as Expr);
        return;
      case 'has':
        // `e has a.b.c` (a path) reads into attribute values; kept whole, as `e` used whole, so that
        // `withContextKey` never meets a path it does not fold.
        if (Array.isArray(b.attr)) return this.expr(b.left as Expr);
        if (typeof b.attr !== 'string') return this.everything();
        return this.hasAttribute(b.left as Expr, b.attr);
      case 'like':
        return this.expr(b.left as Expr);
      case 'is':
        this.expr(b.left as Expr, true);
        if (b.in !== undefined) {
          this.hierarchy = true;
          this.expr(b.in as Expr, true);
        }
        return;
      case 'if-then-else':
        this.expr(b.if as Expr);
        this.expr(b.then as Expr);
        this.expr(b.else as Expr);
        return;
      case 'Set':
        if (!Array.isArray(body)) return this.everything();
        for (const element of body as Expr[]) this.expr(element);
        return;
      case 'Record':
        if (typeof body !== 'object' || body === null) return this.everything();
        for (const value of Object.values(body as Record<string, Expr>)) this.expr(value);
        return;
    }
    if (BINARY.has(kind)) {
      if (kind === 'in') this.hierarchy = true;
      const asUid = UID_OPERATORS.has(kind);
      this.expr(b.left as Expr, asUid);
      this.expr(b.right as Expr, asUid);
      return;
    }
    if (UNARY.has(kind)) return this.expr(b.arg as Expr);
    // An extension function call (`ip("…")`, `decimal(…)`, `.lessThan(…)`): its arguments.
    if (Array.isArray(body) && !kind.startsWith('_')) {
      for (const arg of body as Expr[]) this.expr(arg);
      return;
    }
    this.everything();
  }

  scope(constraint: PrincipalConstraint | ResourceConstraint | ActionConstraint): void {
    if (constraint.op === 'in' || ('in' in constraint && constraint.in !== undefined)) this.hierarchy = true;
    else if (constraint.op !== 'All' && constraint.op !== '==' && constraint.op !== 'is') this.everything();
  }
}

/** What `policies` can read of a request (see `PolicyReads`). */
export function policyReads(policies: Iterable<PolicyJson>): PolicyReads {
  const collector = new ReadsCollector();
  for (const policy of policies) {
    collector.scope(policy.principal);
    collector.scope(policy.action);
    collector.scope(policy.resource);
    for (const clause of policy.conditions) collector.expr(clause.body);
  }
  return { resourceAttributes: collector.resource, contextKeys: collector.context, hierarchy: collector.hierarchy };
}

/**
 * `policy` with `context.<key>` replaced by the literal `value` and `context has <key>` by `true`: the
 * policy as it evaluates for every request whose context holds `key` = `value`. The engine specialises a
 * verb's set per environment this way (the environment is one of the few the schema enumerates, and an
 * entity reference in the context is the dearest value to pass into Cedar), and then leaves the key out
 * of the context. Nothing else changes: the literal is exactly the value Cedar would have read.
 */
export function withContextKey(policy: PolicyJson, key: string, value: Expr): PolicyJson {
  return { ...policy, conditions: policy.conditions.map((clause) => ({ ...clause, body: substitute(clause.body, key, value) })) };
}

function isContext(node: unknown): boolean {
  return typeof node === 'object' && node !== null && (node as { Var?: unknown }).Var === 'context';
}

/**
 * `node` with every single-key node that `replace` answers for replaced by its answer, everywhere in the
 * tree. A literal is data, not an expression: `{ "Value": { "Var": … } }` is a record value, left as it is.
 */
function rewrite(node: Expr, replace: (kind: string, body: Record<string, unknown>) => Expr | undefined): Expr {
  if (Array.isArray(node)) return node.map((element: Expr) => rewrite(element, replace)) as unknown as Expr;
  if (typeof node !== 'object' || node === null) return node;
  const entries = Object.entries(node as Record<string, unknown>);
  const [kind, body] = (entries[0] ?? []) as [string, Record<string, unknown>];
  if (entries.length === 1) {
    const replaced = kind === 'Value' ? node : replace(kind, body);
    if (replaced !== undefined) return replaced;
  }
  return Object.fromEntries(entries.map(([k, v]) => [k, typeof v === 'object' && v !== null ? rewrite(v as Expr, replace) : v])) as Expr;
}

function substitute(node: Expr, key: string, value: Expr): Expr {
  return rewrite(node, (kind, body) => {
    if (body.attr !== key || !isContext(body.left)) return undefined;
    return kind === '.' ? value : kind === 'has' ? { Value: true } : undefined;
  });
}

/**
 * The context key a resource attribute is passed under once the policies read it from the context
 * (`withResourceAttributesInContext`). No context key can clash with it: the schema's context keys are
 * identifiers, which have no dot, and the engine builds the context from those alone.
 */
export const RESOURCE_ATTRIBUTE_KEY_PREFIX = 'resource.';

/**
 * `policy` reading the resource's attributes from the context: `resource.a` (or `resource["a"]`)
 * becomes `context["resource.a"]` and `resource has a` becomes `context has "resource.a"`. Every other
 * use of `resource` (a scope, `==`, `in`, `is`) is left as it is: it looks at the entity's uid, which
 * the call still carries. Crossing into Cedar, an entity costs far more than the same values in the
 * context (its uid parsed, an entity store built): about 13 µs a call for one entity with two
 * attributes, measured in `npm run bench`. Only for a set whose policies read named attributes and
 * nothing else of the entity (`PolicyReads.resourceAttributes` is not 'all'), and the attributes are
 * strings, integers and booleans (the engine's model), so a record's attribute holds exactly what the
 * entity's would: the same values, the same `has`, and no access error that strict validation lets
 * through either way.
 */
export function withResourceAttributesInContext(policy: PolicyJson): PolicyJson {
  return { ...policy, conditions: policy.conditions.map((clause) => ({ ...clause, body: resourceToContext(clause.body) })) };
}

function isResource(node: unknown): boolean {
  return typeof node === 'object' && node !== null && (node as { Var?: unknown }).Var === 'resource';
}

function resourceToContext(node: Expr): Expr {
  return rewrite(node, (kind, body) =>
    (kind === '.' || kind === 'has') && typeof body.attr === 'string' && isResource(body.left)
      ? ({ [kind]: { left: { Var: 'context' }, attr: `${RESOURCE_ATTRIBUTE_KEY_PREFIX}${body.attr}` } } as unknown as Expr)
      : undefined);
}

type Known = boolean | undefined;

/**
 * Whether a policy can be seen, from its text alone, never to apply and never to error: its clauses,
 * taken in Cedar's order (a conjunction, evaluated left to right, short-circuiting), reach a clause that is
 * false for certain after clauses that are true for certain. Only literals are evaluated: `true`,
 * `false`, `!`, `&&`, `||`, if-then-else and `==` / `!=` between two literal strings, numbers, booleans or
 * entity references. After `withContextKey` folds the environment in, this finds the rules written for
 * other environments (`context.environment == Environment::"prod"` outside prod, and so on); the engine
 * leaves them out of that environment's set. Such a policy is neither in Cedar's reasons nor in its
 * errors, so leaving it out changes nothing.
 */
export function neverApplies(policy: PolicyJson): boolean {
  for (const clause of policy.conditions) {
    const value = known(clause.body);
    const holds = value === undefined ? undefined : clause.kind === 'when' ? value : !value;
    if (holds === undefined) return false;
    if (!holds) return true;
  }
  return false;
}

function literal(node: unknown): string | number | boolean | { type: string; id: string } | undefined {
  if (typeof node !== 'object' || node === null || !('Value' in node)) return undefined;
  const value = (node as { Value: unknown }).Value;
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') return value;
  const entity = typeof value === 'object' && value !== null && '__entity' in value ? (value as { __entity: unknown }).__entity : undefined;
  if (typeof entity !== 'object' || entity === null) return undefined;
  const { type, id } = entity as { type?: unknown; id?: unknown };
  return typeof type === 'string' && typeof id === 'string' && Object.keys(entity).length === 2 ? { type, id } : undefined;
}

function known(node: Expr): Known {
  const entries = Object.entries(node as Record<string, unknown>);
  if (entries.length !== 1) return undefined;
  const [kind, body] = entries[0] as [string, Record<string, unknown>];
  switch (kind) {
    case 'Value':
      return typeof body === 'boolean' ? body : undefined;
    case '!': {
      const arg = known(body.arg as Expr);
      return arg === undefined ? undefined : !arg;
    }
    case '&&': {
      const left = known(body.left as Expr);
      return left === false ? false : left === true ? known(body.right as Expr) : undefined;
    }
    case '||': {
      const left = known(body.left as Expr);
      return left === true ? true : left === false ? known(body.right as Expr) : undefined;
    }
    case 'if-then-else': {
      const condition = known(body.if as Expr);
      return condition === undefined ? undefined : known((condition ? body.then : body.else) as Expr);
    }
    case '==':
    case '!=': {
      const left = literal(body.left);
      const right = literal(body.right);
      if (left === undefined || right === undefined) return undefined;
      const equal = typeof left === 'object' && typeof right === 'object' ? left.type === right.type && left.id === right.id : left === right;
      return kind === '==' ? equal : !equal;
    }
    default:
      return undefined;
  }
}
