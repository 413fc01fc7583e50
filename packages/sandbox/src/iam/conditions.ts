/**
 * The Condition element, compiled once per statement ("IAM JSON policy elements: Condition
 * operators"; "Single-valued vs. multivalued context keys"; "Creating a condition with multiple
 * keys or values").
 *
 * - Several operators in a block, and several keys under one operator, must all hold (AND); the
 *   values listed for one key are alternatives (OR).
 * - A key missing from the request makes the condition false, except that a negated operator
 *   (`StringNotEquals`, `ArnNotLike`, …) is then true; `…IfExists` makes any operator true when the
 *   key is missing; `Null` tests presence itself.
 * - `ForAnyValue:` holds when at least one request value matches (for a negated operator: matches
 *   none of the policy's values); a missing or empty key makes it false.
 * - `ForAllValues:` holds when every request value matches; a missing key, an empty list or an
 *   empty string (a null data set, in the docs' words) makes it true.
 * - Without a set operator a multivalued key is read like ForAnyValue, and a negated operator holds
 *   when no request value matches any policy value.
 */
import { arnMatcher, globMatcher, type Matcher } from './arn';
import type { RequestContext } from './context';
import type { ConditionBlock } from './types';
import { compileTemplate } from './variables';

/** A condition that IAM refuses when the policy is written (`MalformedPolicyDocument`). */
export class MalformedPolicyDocumentError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MalformedPolicyDocument';
  }
}

export type Condition = (context: RequestContext) => boolean;

/** One policy value, ready to compare a request value with; `undefined` when its variable cannot be resolved. */
type ValueMatcher = (context: RequestContext) => Matcher | undefined;

type Family = 'string' | 'numeric' | 'date' | 'bool' | 'binary' | 'ip' | 'arn';

interface BaseOperator {
  readonly family: Family;
  readonly negated: boolean;
  /** Builds the matcher for one policy value. */
  readonly value: (text: string, variables: boolean) => ValueMatcher;
}

const constant =
  (matcher: Matcher): ValueMatcher =>
  () =>
    matcher;

/** A template value (policy variables allowed) turned into a matcher once, or per request if it has variables. */
const templated =
  (build: (pieces: Parameters<typeof globMatcher>[0]) => Matcher) =>
  (text: string, variables: boolean): ValueMatcher => {
    const template = compileTemplate(text, variables);
    if (template.constant !== undefined) return constant(build(template.constant));
    return (context) => {
      const pieces = template.resolve(context);
      return pieces === undefined ? undefined : build(pieces);
    };
  };

const exact = templated((pieces) => {
  const text = pieces.map((piece) => piece.text).join('');
  return (value) => value === text;
});

const exactIgnoreCase = templated((pieces) => {
  const text = pieces
    .map((piece) => piece.text)
    .join('')
    .toLowerCase();
  return (value) => value.toLowerCase() === text;
});

const like = templated((pieces) => globMatcher(pieces));
const arnLike = templated((pieces) => arnMatcher(pieces));

const NEVER: Matcher = () => false;

/** Numbers: integers or decimals, compared as numbers. */
const numeric =
  (compare: (actual: number, expected: number) => boolean) =>
  (text: string): ValueMatcher => {
    const expected = Number(text);
    if (text.trim() === '' || !Number.isFinite(expected)) return constant(NEVER);
    return constant((value) => {
      const actual = Number(value);
      return value.trim() !== '' && Number.isFinite(actual) && compare(actual, expected);
    });
  };

/** Dates: ISO 8601 or epoch seconds ("Date condition operators"), compared as instants. */
const toMillis = (text: string): number => {
  const trimmed = text.trim();
  if (/^-?\d+(\.\d+)?$/.test(trimmed)) return Number(trimmed) * 1000;
  return Date.parse(trimmed);
};

const date =
  (compare: (actual: number, expected: number) => boolean) =>
  (text: string): ValueMatcher => {
    const expected = toMillis(text);
    if (Number.isNaN(expected)) return constant(NEVER);
    return constant((value) => {
      const actual = toMillis(value);
      return !Number.isNaN(actual) && compare(actual, expected);
    });
  };

const bool = templated((pieces) => {
  const text = pieces
    .map((piece) => piece.text)
    .join('')
    .toLowerCase();
  return (value) => value.toLowerCase() === text;
});

/** `BinaryEquals`: the policy holds the base64 of the bytes; the request value is base64 too. */
const binary = (text: string): ValueMatcher => constant((value) => value === text);

interface Address {
  readonly v6: boolean;
  readonly value: bigint;
}

const parseIpv4 = (text: string): bigint | undefined => {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  let value = 0n;
  for (const part of parts) {
    if (!/^\d{1,3}$/.test(part) || Number(part) > 255) return undefined;
    value = (value << 8n) | BigInt(part);
  }
  return value;
};

const parseIpv6 = (text: string): bigint | undefined => {
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const groups = (half: string | undefined) => (half === undefined || half === '' ? [] : half.split(':'));
  const head = groups(halves[0]);
  const tail = groups(halves[1]);
  const missing = 8 - head.length - tail.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return undefined;
  let value = 0n;
  for (const group of [...head, ...Array<string>(halves.length === 2 ? missing : 0).fill('0'), ...tail]) {
    if (!/^[0-9a-f]{1,4}$/i.test(group)) return undefined;
    value = (value << 16n) | BigInt(`0x${group}`);
  }
  return value;
};

const parseAddress = (text: string): Address | undefined => {
  const trimmed = text.trim();
  if (trimmed.includes(':')) {
    const value = parseIpv6(trimmed);
    return value === undefined ? undefined : { v6: true, value };
  }
  const value = parseIpv4(trimmed);
  return value === undefined ? undefined : { v6: false, value };
};

/** `IpAddress`: an IPv4 or IPv6 address or CIDR block (RFC 4632); a bare address is a /32 or /128. */
const ip = (text: string): ValueMatcher => {
  const [address = '', prefixText] = text.split('/');
  const network = parseAddress(address);
  if (network === undefined) return constant(NEVER);
  const width = network.v6 ? 128 : 32;
  const prefix = prefixText === undefined ? width : Number(prefixText);
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > width) return constant(NEVER);
  const shift = BigInt(width - prefix);
  const base = network.value >> shift;
  return constant((value) => {
    const actual = parseAddress(value);
    return actual !== undefined && actual.v6 === network.v6 && actual.value >> shift === base;
  });
};

const OPERATORS: Readonly<Record<string, BaseOperator>> = {
  StringEquals: { family: 'string', negated: false, value: exact },
  StringNotEquals: { family: 'string', negated: true, value: exact },
  StringEqualsIgnoreCase: { family: 'string', negated: false, value: exactIgnoreCase },
  StringNotEqualsIgnoreCase: { family: 'string', negated: true, value: exactIgnoreCase },
  StringLike: { family: 'string', negated: false, value: like },
  StringNotLike: { family: 'string', negated: true, value: like },
  NumericEquals: { family: 'numeric', negated: false, value: numeric((a, b) => a === b) },
  NumericNotEquals: { family: 'numeric', negated: true, value: numeric((a, b) => a === b) },
  NumericLessThan: { family: 'numeric', negated: false, value: numeric((a, b) => a < b) },
  NumericLessThanEquals: { family: 'numeric', negated: false, value: numeric((a, b) => a <= b) },
  NumericGreaterThan: { family: 'numeric', negated: false, value: numeric((a, b) => a > b) },
  NumericGreaterThanEquals: { family: 'numeric', negated: false, value: numeric((a, b) => a >= b) },
  DateEquals: { family: 'date', negated: false, value: date((a, b) => a === b) },
  DateNotEquals: { family: 'date', negated: true, value: date((a, b) => a === b) },
  DateLessThan: { family: 'date', negated: false, value: date((a, b) => a < b) },
  DateLessThanEquals: { family: 'date', negated: false, value: date((a, b) => a <= b) },
  DateGreaterThan: { family: 'date', negated: false, value: date((a, b) => a > b) },
  DateGreaterThanEquals: { family: 'date', negated: false, value: date((a, b) => a >= b) },
  Bool: { family: 'bool', negated: false, value: bool },
  BinaryEquals: { family: 'binary', negated: false, value: binary },
  IpAddress: { family: 'ip', negated: false, value: ip },
  NotIpAddress: { family: 'ip', negated: true, value: ip },
  // ArnEquals and ArnLike share one row of the docs' table: case-sensitive, component by component, with wildcards.
  ArnEquals: { family: 'arn', negated: false, value: arnLike },
  ArnLike: { family: 'arn', negated: false, value: arnLike },
  ArnNotEquals: { family: 'arn', negated: true, value: arnLike },
  ArnNotLike: { family: 'arn', negated: true, value: arnLike },
};

/** The operator names IAM accepts, without prefixes or the IfExists suffix. */
export const CONDITION_OPERATORS: readonly string[] = [...Object.keys(OPERATORS), 'Null'];

type SetOperator = 'ForAnyValue' | 'ForAllValues' | undefined;

interface ParsedOperator {
  readonly set: SetOperator;
  readonly name: string;
  readonly ifExists: boolean;
}

const parseOperator = (text: string): ParsedOperator => {
  const match = /^(?:(ForAnyValue|ForAllValues):)?(.+?)(IfExists)?$/.exec(text);
  const name = match?.[2] ?? text;
  if (match === null || (name !== 'Null' && OPERATORS[name] === undefined))
    throw new MalformedPolicyDocumentError(`Invalid Condition type : ${text}`);
  if (name === 'Null' && match[3] !== undefined)
    throw new MalformedPolicyDocumentError(`Invalid Condition type : ${text}`);
  return { set: match[1] as SetOperator, name, ifExists: match[3] !== undefined };
};

const asList = <T>(value: T | readonly T[]): readonly T[] => (Array.isArray(value) ? value : [value as T]);

/** `Null`: "true" holds when the key is absent (or an empty list), "false" when it is present. */
const nullCondition =
  (key: string, expected: readonly string[]): Condition =>
  (context) => {
    const values = context.get(key);
    const absent = values === undefined || values.length === 0;
    return expected.some((text) =>
      text.toLowerCase() === 'true' ? absent : text.toLowerCase() === 'false' && !absent,
    );
  };

const compileClause = (
  operator: ParsedOperator,
  base: BaseOperator,
  key: string,
  texts: readonly string[],
  variables: boolean,
): Condition => {
  const matchers = texts.map((text) => base.value(text, variables));
  const { ifExists, set } = operator;
  const { negated } = base;
  return (context) => {
    let values = context.get(key);
    if (set !== undefined && values !== undefined && values.length === 1 && values[0] === '') values = [];
    if (values === undefined) {
      if (ifExists) return true;
      if (set === 'ForAllValues') return true;
      if (set === 'ForAnyValue') return false;
      return negated;
    }
    // The policy values as matchers for this request (a value whose variable is missing matches nothing).
    const resolved: Matcher[] = [];
    for (const matcher of matchers) resolved.push(matcher(context) ?? NEVER);
    const matchesAny = (value: string) => resolved.some((matcher) => matcher(value));
    if (set === 'ForAllValues') return values.every((value) => matchesAny(value) !== negated);
    if (set === 'ForAnyValue') return values.some((value) => matchesAny(value) !== negated);
    return values.some(matchesAny) !== negated;
  };
};

const ALWAYS: Condition = () => true;

/** Compiles a Condition block; throws MalformedPolicyDocumentError for an operator IAM does not know. */
export const compileCondition = (block: ConditionBlock | undefined, variables: boolean): Condition => {
  if (block === undefined) return ALWAYS;
  const clauses: Condition[] = [];
  for (const [operatorText, keys] of Object.entries(block)) {
    const operator = parseOperator(operatorText);
    for (const [keyText, raw] of Object.entries(keys)) {
      const key = keyText.toLowerCase();
      const texts = asList(raw).map((value) => String(value));
      if (operator.name === 'Null') {
        clauses.push(nullCondition(key, texts));
        continue;
      }
      const base = OPERATORS[operator.name] as BaseOperator;
      const usesVariables = variables && (base.family === 'string' || base.family === 'arn' || base.family === 'bool');
      clauses.push(compileClause(operator, base, key, texts, usesVariables));
    }
  }
  if (clauses.length === 1) return clauses[0] as Condition;
  return (context) => clauses.every((clause) => clause(context));
};
