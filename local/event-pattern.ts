/**
 * A small EventBridge event-pattern matcher: the subset the local bus needs for the rules the
 * CDK app defines (today `ACTION_REQUESTED_PATTERN`). Supported: exact values (string, number,
 * boolean, null) and the `prefix`, `suffix`, `exists` and `anything-but` operators, nested
 * objects, and array values in the event (a match on any element matches, as in EventBridge).
 * Anything else is refused when the rule is added, so a pattern the local bus cannot evaluate
 * never silently matches nothing.
 */

export type PatternScalar = string | number | boolean | null;
export type PatternMatcher =
  | PatternScalar
  | { readonly prefix: string }
  | { readonly suffix: string }
  | { readonly exists: boolean }
  | { readonly 'anything-but': PatternScalar | readonly PatternScalar[] };

export interface EventPattern {
  readonly [field: string]: readonly PatternMatcher[] | EventPattern;
}

export class InvalidEventPatternError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvalidEventPatternError';
  }
}

const OPERATORS = ['prefix', 'suffix', 'exists', 'anything-but'] as const;

function isScalar(value: unknown): value is PatternScalar {
  return value === null || typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean';
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function checkMatcher(matcher: unknown, where: string): void {
  if (isScalar(matcher)) return;
  if (!isPlainObject(matcher)) throw new InvalidEventPatternError(`${where}: a matcher must be a value or an operator object`);
  const keys = Object.keys(matcher);
  const [operator] = keys;
  if (keys.length !== 1 || operator === undefined) {
    throw new InvalidEventPatternError(`${where}: an operator object has exactly one key`);
  }
  if (!(OPERATORS as readonly string[]).includes(operator)) {
    throw new InvalidEventPatternError(`${where}: operator "${operator}" is not supported by the local bus (supported: ${OPERATORS.join(', ')})`);
  }
  const operand = matcher[operator];
  if ((operator === 'prefix' || operator === 'suffix') && typeof operand !== 'string') {
    throw new InvalidEventPatternError(`${where}: "${operator}" takes a string`);
  }
  if (operator === 'exists' && typeof operand !== 'boolean') {
    throw new InvalidEventPatternError(`${where}: "exists" takes true or false`);
  }
  if (operator === 'anything-but' && !(isScalar(operand) || (Array.isArray(operand) && operand.every(isScalar)))) {
    throw new InvalidEventPatternError(`${where}: "anything-but" takes a value or a list of values`);
  }
}

/** Throws `InvalidEventPatternError` naming the first field the local matcher cannot evaluate. */
export function validateEventPattern(pattern: unknown, path = ''): asserts pattern is EventPattern {
  if (!isPlainObject(pattern)) throw new InvalidEventPatternError(`${path || 'pattern'}: must be an object`);
  const fields = Object.entries(pattern);
  if (fields.length === 0) throw new InvalidEventPatternError(`${path || 'pattern'}: must not be empty`);
  for (const [field, value] of fields) {
    const where = path ? `${path}.${field}` : field;
    if (Array.isArray(value)) {
      if (value.length === 0) throw new InvalidEventPatternError(`${where}: a list of matchers must not be empty`);
      value.forEach((matcher, index) => checkMatcher(matcher, `${where}[${index}]`));
    } else {
      validateEventPattern(value, where);
    }
  }
}

function matchesScalar(matcher: PatternMatcher, value: unknown): boolean {
  if (isScalar(matcher)) return value === matcher;
  if ('prefix' in matcher) return typeof value === 'string' && value.startsWith(matcher.prefix);
  if ('suffix' in matcher) return typeof value === 'string' && value.endsWith(matcher.suffix);
  if ('exists' in matcher) return matcher.exists;
  const excluded = matcher['anything-but'];
  const list: readonly PatternScalar[] = Array.isArray(excluded) ? excluded : [excluded as PatternScalar];
  return isScalar(value) && !list.includes(value);
}

function matchesLeaf(matchers: readonly PatternMatcher[], value: unknown): boolean {
  if (value === undefined) {
    return matchers.some((matcher) => isPlainObject(matcher) && 'exists' in matcher && !matcher.exists);
  }
  // `exists` and the other operators apply to leaf values only, as in EventBridge.
  const values = Array.isArray(value) ? value : [value];
  return values.some((item) => !isPlainObject(item) && !Array.isArray(item)
    && matchers.some((matcher) => matchesScalar(matcher, item)));
}

/** True when `event` (an EventBridge event object: source, detail-type, detail...) matches `pattern`. */
export function matchesEventPattern(pattern: EventPattern, event: unknown): boolean {
  if (!isPlainObject(event)) return false;
  return Object.entries(pattern).every(([field, expected]) => {
    const value = event[field];
    if (Array.isArray(expected)) return matchesLeaf(expected as readonly PatternMatcher[], value);
    return isPlainObject(value) && matchesEventPattern(expected as EventPattern, value);
  });
}
