/**
 * EventBridge event-pattern matching for the local sandbox: pure, dependency-free.
 *
 * A pattern is an object whose leaves are non-empty arrays of match values. Keys AND together,
 * values in a leaf OR together, `$or` ORs whole sub-patterns. When an event field is an array, a
 * leaf matches if any element matches, and a nested pattern matches if any object element matches.
 */

type Scalar = string | number | boolean | null;
type Rec = Record<string, unknown>;

const PREFIX = 'Event pattern is not valid. Reason:';
const COMPARISONS = new Set(['=', '<', '<=', '>', '>=']);
const LOWER_BOUNDS = new Set(['>', '>=']);
const UPPER_BOUNDS = new Set(['<', '<=']);

const isRecord = (value: unknown): value is Rec => typeof value === 'object' && value !== null && !Array.isArray(value);

const isScalar = (value: unknown): value is Scalar =>
  value === null || typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean';

const isStringList = (value: unknown): value is string[] =>
  Array.isArray(value) && value.length > 0 && value.every((item) => typeof item === 'string');

const isNumberList = (value: unknown): value is number[] =>
  Array.isArray(value) && value.length > 0 && value.every((item) => typeof item === 'number');

/** The single `{ operator: argument }` entry of a content filter, or undefined if it has not exactly one. */
function soleEntry(filter: Rec): [string, unknown] | undefined {
  const entries = Object.entries(filter);
  return entries.length === 1 ? entries[0] : undefined;
}

function invalid(field: string, reason: string): string {
  return `${PREFIX} "${field}" ${reason}`;
}

// ---------------------------------------------------------------- validation

/** Returns undefined when the pattern is valid, otherwise an InvalidEventPatternException-like message. */
export function validatePattern(pattern: unknown): string | undefined {
  if (!isRecord(pattern)) return `${PREFIX} the event pattern must be a JSON object`;
  return validateObject(pattern, '');
}

function validateObject(pattern: Rec, path: string): string | undefined {
  const keys = Object.keys(pattern);
  if (keys.length === 0) return path ? invalid(path, 'must not be an empty object') : `${PREFIX} empty event pattern`;
  for (const key of keys) {
    const field = path ? `${path}.${key}` : key;
    const value = pattern[key];
    const error =
      key === '$or'
        ? validateOr(value, field)
        : isRecord(value)
          ? validateObject(value, field)
          : validateLeaf(value, field);
    if (error) return error;
  }
  return undefined;
}

function validateOr(value: unknown, field: string): string | undefined {
  if (!Array.isArray(value) || value.length === 0) return invalid(field, 'must be a non-empty array of patterns');
  for (const [index, branch] of value.entries()) {
    if (!isRecord(branch)) return invalid(`${field}[${index}]`, 'must be a pattern object');
    const error = validateObject(branch, `${field}[${index}]`);
    if (error) return error;
  }
  return undefined;
}

function validateLeaf(value: unknown, field: string): string | undefined {
  if (!Array.isArray(value) || value.length === 0) return invalid(field, 'must be an object or a non-empty array');
  for (const matcher of value) {
    if (isScalar(matcher)) continue;
    if (!isRecord(matcher)) return invalid(field, 'match values must be strings, numbers, booleans, null or filters');
    const error = validateFilter(matcher, field);
    if (error) return error;
  }
  return undefined;
}

function validateFilter(filter: Rec, field: string): string | undefined {
  const entry = soleEntry(filter);
  if (!entry) return invalid(field, 'content filters must have exactly one operator');
  const [operator, argument] = entry;
  switch (operator) {
    case 'prefix':
    case 'suffix':
      return validateAffix(operator, argument, field);
    case 'equals-ignore-case':
      return typeof argument === 'string' ? undefined : invalid(field, 'equals-ignore-case must be a string');
    case 'wildcard':
      return typeof argument === 'string'
        ? validateWildcard(argument, field)
        : invalid(field, 'wildcard must be a string');
    case 'exists':
      return typeof argument === 'boolean' ? undefined : invalid(field, 'exists must be true or false');
    case 'numeric':
      return validateNumeric(argument, field);
    case 'anything-but':
      return validateAnythingBut(argument, field);
    case 'cidr':
      return parseCidr(argument) ? undefined : invalid(field, 'cidr must be an IPv4 CIDR block such as 10.0.0.0/24');
    default:
      return invalid(field, `uses unrecognized match type ${operator}`);
  }
}

function validateAffix(operator: string, argument: unknown, field: string): string | undefined {
  if (typeof argument === 'string') return undefined;
  if (isRecord(argument)) {
    const entry = soleEntry(argument);
    if (entry && entry[0] === 'equals-ignore-case' && typeof entry[1] === 'string') return undefined;
  }
  return invalid(field, `${operator} must be a string or {"equals-ignore-case": string}`);
}

function validateWildcard(expression: string, field: string): string | undefined {
  return wildcardRegExp(expression) ? undefined : invalid(field, 'wildcard has consecutive * or a bad \\ escape');
}

function validateNumeric(argument: unknown, field: string): string | undefined {
  const bad = invalid(field, 'numeric must be [op, number] or [">"|">=", low, "<"|"<=", high] with low < high');
  if (!Array.isArray(argument)) return bad;
  const [op1, n1, op2, n2] = argument;
  const firstOk = typeof op1 === 'string' && COMPARISONS.has(op1) && typeof n1 === 'number' && Number.isFinite(n1);
  if (argument.length === 2) return firstOk ? undefined : bad;
  if (argument.length !== 4 || !firstOk) return bad;
  const isRange =
    LOWER_BOUNDS.has(op1) && typeof op2 === 'string' && UPPER_BOUNDS.has(op2) && typeof n2 === 'number' && n1 < n2;
  return isRange ? undefined : bad;
}

function validateAnythingBut(argument: unknown, field: string): string | undefined {
  if (typeof argument === 'string' || typeof argument === 'number') return undefined;
  if (isStringList(argument) || isNumberList(argument)) return undefined;
  const entry = isRecord(argument) ? soleEntry(argument) : undefined;
  if (entry) {
    const [operator, value] = entry;
    if ((operator === 'prefix' || operator === 'suffix') && typeof value === 'string') return undefined;
    if (operator === 'equals-ignore-case' && (typeof value === 'string' || isStringList(value))) return undefined;
    if (operator === 'wildcard' && typeof value === 'string') return validateWildcard(value, field);
  }
  return invalid(
    field,
    'anything-but must be a string, a number, a list of either, or a prefix/suffix/equals-ignore-case/wildcard filter',
  );
}

// ---------------------------------------------------------------- matching

/** True when the event matches the pattern. Assumes the pattern passed `validatePattern`. */
export function matchesPattern(pattern: object, event: object): boolean {
  return matchesObject(pattern as Rec, event as Rec);
}

function matchesObject(pattern: Rec, event: Rec): boolean {
  return Object.entries(pattern).every(([key, expected]) => matchesField(key, expected, event));
}

function matchesField(key: string, expected: unknown, event: Rec): boolean {
  if (key === '$or') return (expected as Rec[]).some((branch) => matchesObject(branch, event));
  const actual = flatten(Object.hasOwn(event, key) ? event[key] : undefined);
  if (isRecord(expected)) return matchesNested(expected, actual);
  const scalars = actual.filter(isScalar);
  return (expected as unknown[]).some((matcher) => matchesLeaf(matcher, scalars));
}

/** A nested pattern matches any object element; a missing field is an empty object, so exists:false can match. */
function matchesNested(pattern: Rec, actual: unknown[]): boolean {
  const objects = actual.filter(isRecord);
  return (objects.length > 0 ? objects : [{}]).some((candidate) => matchesObject(pattern, candidate));
}

/** Event values as a flat list: absent → [], arrays (of arrays) → their elements. */
function flatten(value: unknown): unknown[] {
  if (value === undefined) return [];
  return Array.isArray(value) ? value.flatMap(flatten) : [value];
}

function matchesLeaf(matcher: unknown, scalars: Scalar[]): boolean {
  if (!isRecord(matcher)) return scalars.some((value) => value === matcher);
  const [operator, argument] = soleEntry(matcher) ?? ['', undefined];
  if (operator === 'exists') return argument === scalars.length > 0;
  const test = valueTest(operator, argument);
  return scalars.some(test);
}

type ValueTest = (value: Scalar) => boolean;

function valueTest(operator: string, argument: unknown): ValueTest {
  switch (operator) {
    case 'prefix':
      return affixTest(argument, (value, affix) => value.startsWith(affix));
    case 'suffix':
      return affixTest(argument, (value, affix) => value.endsWith(affix));
    case 'equals-ignore-case':
      return (value) => typeof value === 'string' && value.toLowerCase() === String(argument).toLowerCase();
    case 'wildcard':
      return wildcardTest(String(argument));
    case 'numeric':
      return numericTest(argument as unknown[]);
    case 'anything-but':
      return anythingButTest(argument);
    case 'cidr':
      return cidrTest(String(argument));
    default:
      return () => false;
  }
}

function affixTest(argument: unknown, test: (value: string, affix: string) => boolean): ValueTest {
  if (typeof argument === 'string') return (value) => typeof value === 'string' && test(value, argument);
  const affix = String((argument as Rec)['equals-ignore-case']).toLowerCase();
  return (value) => typeof value === 'string' && test(value.toLowerCase(), affix);
}

function anythingButTest(argument: unknown): ValueTest {
  if (!isRecord(argument)) {
    const excluded: unknown[] = Array.isArray(argument) ? argument : [argument];
    return (value) => !excluded.includes(value);
  }
  const [operator, value] = soleEntry(argument) ?? ['', undefined];
  if (operator === 'equals-ignore-case') {
    const excluded = (Array.isArray(value) ? value : [value]).map((item) => String(item).toLowerCase());
    return (candidate) => typeof candidate === 'string' && !excluded.includes(candidate.toLowerCase());
  }
  const positive = valueTest(operator, value);
  return (candidate) => typeof candidate === 'string' && !positive(candidate);
}

function numericTest(range: unknown[]): ValueTest {
  const comparisons: [string, number][] = [];
  for (let index = 0; index + 1 < range.length; index += 2) {
    comparisons.push([String(range[index]), Number(range[index + 1])]);
  }
  return (value) => typeof value === 'number' && comparisons.every(([op, bound]) => compare(value, op, bound));
}

function compare(value: number, operator: string, bound: number): boolean {
  switch (operator) {
    case '=':
      return value === bound;
    case '<':
      return value < bound;
    case '<=':
      return value <= bound;
    case '>':
      return value > bound;
    default:
      return value >= bound;
  }
}

/** Compiles a wildcard (`*` = any run of characters, `\*` a literal star, `\\` a backslash); undefined if malformed. */
function wildcardRegExp(expression: string): RegExp | undefined {
  let source = '';
  for (let index = 0; index < expression.length; index++) {
    const char = expression[index];
    if (char === '\\') {
      const next = expression[++index];
      if (next !== '*' && next !== '\\') return undefined;
      source += `\\${next}`;
    } else if (char === '*') {
      if (expression[index + 1] === '*') return undefined;
      source += '.*';
    } else {
      source += (char ?? '').replace(/[.+?^${}()|[\]\\/-]/g, '\\$&');
    }
  }
  return new RegExp(`^${source}$`, 's');
}

function wildcardTest(expression: string): ValueTest {
  const regExp = wildcardRegExp(expression);
  return (value) => typeof value === 'string' && regExp !== undefined && regExp.test(value);
}

// ---------------------------------------------------------------- cidr (IPv4 only)

function parseIpv4(text: string): number | undefined {
  const parts = text.split('.');
  if (parts.length !== 4 || !parts.every((part) => /^\d{1,3}$/.test(part) && Number(part) <= 255)) return undefined;
  return parts.reduce((address, part) => address * 256 + Number(part), 0);
}

function parseCidr(block: unknown): { network: number; size: number } | undefined {
  if (typeof block !== 'string') return undefined;
  const [ip = '', bits = '32', extra] = block.split('/');
  const address = parseIpv4(ip);
  if (address === undefined || extra !== undefined || !/^\d{1,2}$/.test(bits) || Number(bits) > 32) return undefined;
  const size = 2 ** (32 - Number(bits));
  return { network: address - (address % size), size };
}

function cidrTest(block: string): ValueTest {
  const range = parseCidr(block);
  return (value) => {
    const address = typeof value === 'string' ? parseIpv4(value) : undefined;
    return range !== undefined && address !== undefined && address - (address % range.size) === range.network;
  };
}
