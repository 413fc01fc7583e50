import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { matchesPattern, validatePattern } from '../../src/services/events/pattern';

type Rec = Record<string, unknown>;

const amiBakedEvent = (): Rec => ({
  version: '0',
  source: 'bakehouse',
  'detail-type': 'AMI Baked',
  region: 'eu-west-1',
  resources: ['arn:aws:ec2:eu-west-1::image/ami-0abc', 'arn:aws:ec2:eu-west-1::image/ami-0def'],
  detail: { family: 'al2023-base', amiId: 'ami-0abc', sizeGb: 8, encrypted: true, previous: null },
});

const ssmStatusEvent = (status: string): Rec => ({
  source: 'aws.ssm',
  'detail-type': 'EC2 Automation Execution Status-change Notification',
  detail: { ExecutionId: 'exec-1', Status: status, Definition: 'Bakehouse-BakeAmi' },
});

const AMI_BAKED_PATTERN = {
  source: ['bakehouse'],
  'detail-type': ['AMI Baked'],
  detail: { family: [{ prefix: 'al2023' }] },
};

const SSM_TERMINAL_PATTERN = {
  source: ['aws.ssm'],
  'detail-type': ['EC2 Automation Execution Status-change Notification'],
  detail: { Status: ['Success', 'Failed', 'TimedOut', 'Cancelled'] },
};

/** A field value checked against one leaf; `undefined` leaves the field out of the event. */
const matchField = (leaf: unknown[], value: unknown): boolean =>
  matchesPattern({ field: leaf }, value === undefined ? {} : { field: value });

describe('event patterns: realistic Bakehouse rules', () => {
  it('matches an AMI Baked event of an al2023 family', () => {
    // Prepare
    const event = amiBakedEvent();

    // Act
    const matched = matchesPattern(AMI_BAKED_PATTERN, event);

    // Assess
    expect(matched).toBe(true);
  });

  it('rejects an AMI Baked event of another family', () => {
    // Prepare
    const event = amiBakedEvent();
    (event.detail as Rec).family = 'ubuntu-2404';

    // Act
    const matched = matchesPattern(AMI_BAKED_PATTERN, event);

    // Assess
    expect(matched).toBe(false);
  });

  it('requires every top-level key to match (source AND detail-type)', () => {
    // Prepare
    const event = { ...amiBakedEvent(), source: 'someone-else' };

    // Act
    const matched = matchesPattern(AMI_BAKED_PATTERN, event);

    // Assess
    expect(matched).toBe(false);
  });

  it.each([
    ['Success', true],
    ['Failed', true],
    ['TimedOut', true],
    ['InProgress', false],
    ['Pending', false],
  ])('routes the SSM status change %s: %s', (status, expected) => {
    // Prepare
    const event = ssmStatusEvent(status);

    // Act
    const matched = matchesPattern(SSM_TERMINAL_PATTERN, event);

    // Assess
    expect(matched).toBe(expected);
  });

  it('matches a resources array when any ARN matches', () => {
    // Prepare
    const pattern = { resources: [{ suffix: 'image/ami-0def' }] };

    // Act
    const matched = matchesPattern(pattern, amiBakedEvent());

    // Assess
    expect(matched).toBe(true);
  });
});

describe('event patterns: exact values', () => {
  it.each<[string, unknown[], unknown, boolean]>([
    ['a string equal to the literal', ['a'], 'a', true],
    ['a string differing in case', ['a'], 'A', false],
    ['the number 300 against 3.0e2', [3.0e2], 300, true],
    ['the number 300 against the string "300"', ['300'], 300, false],
    ['true against [true]', [true], true, true],
    ['false against [true]', [true], false, false],
    ['null against [null]', [null], null, true],
    ['a missing field against [null]', [null], undefined, false],
    ['an empty string against [""]', [''], '', true],
    ['any value listed (OR)', ['x', 'y', 'z'], 'y', true],
    ['an event array with one matching element', ['b'], ['a', 'b'], true],
    ['an event array with no matching element', ['c'], ['a', 'b'], false],
    ['an empty event array', ['a'], [], false],
    ['an object where a leaf is expected', ['a'], { a: 'a' }, false],
    ['a missing field', ['a'], undefined, false],
  ])('%s: %s', (_name, leaf, value, expected) => {
    // Prepare: the row. Act
    const matched = matchField(leaf, value);

    // Assess
    expect(matched).toBe(expected);
  });
});

describe('event patterns: content filters', () => {
  it.each<[string, unknown[], unknown, boolean]>([
    ['prefix on a matching string', [{ prefix: 'al2023' }], 'al2023-base', true],
    ['prefix on a non-matching string', [{ prefix: 'al2023' }], 'al2-base', false],
    ['prefix on a number', [{ prefix: '1' }], 12, false],
    ['prefix ignoring case', [{ prefix: { 'equals-ignore-case': 'EventB' } }], 'eventbridge', true],
    ['prefix ignoring case, mismatch', [{ prefix: { 'equals-ignore-case': 'EventB' } }], 'lambda', false],
    ['suffix on a matching string', [{ suffix: '.png' }], 'a.png', true],
    ['suffix differing in case', [{ suffix: '.png' }], 'a.PNG', false],
    ['suffix ignoring case', [{ suffix: { 'equals-ignore-case': '.png' } }], 'a.PNG', true],
    ['equals-ignore-case', [{ 'equals-ignore-case': 'alice' }], 'ALICE', true],
    ['equals-ignore-case on a longer string', [{ 'equals-ignore-case': 'alice' }], 'alicex', false],
    ['wildcard in the middle', [{ wildcard: 'dev/*/x' }], 'dev/abc/x', true],
    ['wildcard spanning slashes', [{ wildcard: 'dev/*/x' }], 'dev/a/b/x', true],
    ['wildcard anchored at both ends', [{ wildcard: 'dev/*/x' }], 'dev/a/xy', false],
    ['wildcard with an escaped star (literal)', [{ wildcard: 'a\\*b' }], 'a*b', true],
    ['wildcard with an escaped star, not a glob', [{ wildcard: 'a\\*b' }], 'axxb', false],
    ['wildcard treating regex characters literally', [{ wildcard: 'v1.*' }], 'v1x2', false],
    ['numeric single comparison', [{ numeric: ['>', 0] }], 0.5, true],
    ['numeric equality', [{ numeric: ['=', 300] }], 3.0e2, true],
    ['numeric range inclusive upper bound', [{ numeric: ['>', 0, '<=', 5] }], 5, true],
    ['numeric range exclusive lower bound', [{ numeric: ['>', 0, '<=', 5] }], 0, false],
    ['numeric range above', [{ numeric: ['>=', 0, '<', 5] }], 5, false],
    ['numeric on a numeric string', [{ numeric: ['>', 0] }], '10', false],
    ['numeric on an array with one element in range', [{ numeric: ['<', 0] }], [3, -1], true],
    ['cidr inside the block', [{ cidr: '10.0.0.0/24' }], '10.0.0.255', true],
    ['cidr outside the block', [{ cidr: '10.0.0.0/24' }], '10.0.1.0', false],
    ['cidr on a non-address', [{ cidr: '10.0.0.0/24' }], 'ten', false],
    ['cidr /0 matching everything', [{ cidr: '0.0.0.0/0' }], '255.1.2.3', true],
  ])('%s', (_name, leaf, value, expected) => {
    // Prepare: the row. Act
    const matched = matchField(leaf, value);

    // Assess
    expect(matched).toBe(expected);
  });
});

describe('event patterns: exists', () => {
  it.each<[string, boolean, unknown, boolean]>([
    ['exists:true on a present value', true, 'x', true],
    ['exists:true on a present null', true, null, true],
    ['exists:true on a missing field', true, undefined, false],
    ['exists:true on an object (not a leaf)', true, { a: 1 }, false],
    ['exists:false on a missing field', false, undefined, true],
    ['exists:false on a present value', false, 0, false],
  ])('%s', (_name, exists, value, expected) => {
    // Prepare: the row. Act
    const matched = matchField([{ exists }], value);

    // Assess
    expect(matched).toBe(expected);
  });

  it('exists:false matches a leaf under a missing parent object', () => {
    // Prepare
    const pattern = { detail: { error: [{ exists: false }] } };

    // Act
    const matched = matchesPattern(pattern, { source: 'bakehouse' });

    // Assess
    expect(matched).toBe(true);
  });
});

describe('event patterns: anything-but', () => {
  it.each<[string, unknown, unknown, boolean]>([
    ['a different string', 'initializing', 'running', true],
    ['the excluded string', 'initializing', 'initializing', false],
    ['a different number', 123, 124, true],
    ['the excluded number as 1.23e2', 123, 1.23e2, false],
    ['a value outside an exclusion list', ['stopped', 'overloaded'], 'running', true],
    ['a value inside an exclusion list', ['stopped', 'overloaded'], 'stopped', false],
    ['a missing field', 'initializing', undefined, false],
    ['an array with one non-excluded element', 'a', ['a', 'b'], true],
    ['an array made only of the excluded value', 'a', ['a', 'a'], false],
    ['prefix: a string without it', { prefix: 'us-' }, 'eu-west-1', true],
    ['prefix: a string with it', { prefix: 'us-' }, 'us-east-1', false],
    ['suffix: a string without it', { suffix: '.png' }, 'a.jpg', true],
    ['suffix: a string with it', { suffix: '.png' }, 'a.png', false],
    ['equals-ignore-case: another casing', { 'equals-ignore-case': 'initializing' }, 'INITIALIZING', false],
    ['equals-ignore-case list: an unlisted value', { 'equals-ignore-case': ['a', 'b'] }, 'C', true],
    ['wildcard: a path outside it', { wildcard: '*/lib/*' }, 'src/app.ts', true],
    ['wildcard: a path inside it', { wildcard: '*/lib/*' }, 'src/lib/x.ts', false],
  ])('%s', (_name, excluded, value, expected) => {
    // Prepare: the row. Act
    const matched = matchField([{ 'anything-but': excluded }], value);

    // Assess
    expect(matched).toBe(expected);
  });
});

describe('event patterns: structure', () => {
  it('recurses into nested objects', () => {
    // Prepare
    const pattern = { detail: { image: { arch: ['arm64'] } } };

    // Act
    const hit = matchesPattern(pattern, { detail: { image: { arch: 'arm64' } } });
    const miss = matchesPattern(pattern, { detail: { image: { arch: 'x86_64' } } });

    // Assess
    expect([hit, miss]).toEqual([true, false]);
  });

  it('does not match a nested pattern when the event has a scalar there', () => {
    // Prepare
    const pattern = { detail: { arch: ['arm64'] } };

    // Act
    const matched = matchesPattern(pattern, { detail: 'arm64' });

    // Assess
    expect(matched).toBe(false);
  });

  it('matches a nested pattern against any object element of an array, within one element', () => {
    // Prepare
    const pattern = { detail: { images: { arch: ['arm64'], region: ['eu-west-1'] } } };
    const event = {
      detail: {
        images: [
          { arch: 'x86_64', region: 'eu-west-1' },
          { arch: 'arm64', region: 'eu-west-1' },
        ],
      },
    };
    const split = { detail: { images: [{ arch: 'arm64' }, { region: 'eu-west-1' }] } };

    // Act
    const matched = matchesPattern(pattern, event);
    const splitMatched = matchesPattern(pattern, split);

    // Assess
    expect(matched).toBe(true);
    expect(splitMatched).toBe(false);
  });

  it('matches $or when any branch matches, at the top level', () => {
    // Prepare
    const pattern = { $or: [{ source: ['aws.ec2'] }, { 'detail-type': ['AMI Baked'] }] };

    // Act
    const matched = matchesPattern(pattern, amiBakedEvent());

    // Assess
    expect(matched).toBe(true);
  });

  it('rejects $or when no branch matches', () => {
    // Prepare
    const pattern = { $or: [{ source: ['aws.ec2'] }, { 'detail-type': ['AMI Deprecated'] }] };

    // Act
    const matched = matchesPattern(pattern, amiBakedEvent());

    // Assess
    expect(matched).toBe(false);
  });

  it('ANDs a nested $or with its sibling keys', () => {
    // Prepare
    const pattern = {
      source: ['bakehouse'],
      detail: { $or: [{ sizeGb: [{ numeric: ['>', 100] }] }, { encrypted: [true] }] },
    };
    const unencrypted = structuredClone(amiBakedEvent());
    (unencrypted.detail as Rec).encrypted = false;

    // Act
    const matched = matchesPattern(pattern, amiBakedEvent());
    const unencryptedMatched = matchesPattern(pattern, unencrypted);

    // Assess
    expect(matched).toBe(true);
    expect(unencryptedMatched).toBe(false);
  });
});

describe('event patterns: validation', () => {
  it.each([
    { source: ['bakehouse'] },
    AMI_BAKED_PATTERN,
    SSM_TERMINAL_PATTERN,
    { n: [{ numeric: ['>=', 0, '<', 10] }], m: [{ numeric: ['=', 3] }] },
    { a: [{ 'anything-but': ['x', 'y'] }], b: [{ 'anything-but': { prefix: 'us-' } }] },
    { a: [{ exists: false }], b: [{ cidr: '192.168.0.0/16' }], c: [{ wildcard: 'a\\*b*' }] },
    { $or: [{ a: ['1'] }, { b: { c: [null, true, 2] } }] },
  ])('accepts %j', (pattern) => {
    // Prepare: the row. Act
    const error = validatePattern(pattern);

    // Assess
    expect(error).toBeUndefined();
  });

  it.each<[unknown, string]>([
    [[], 'must be a JSON object'],
    [{}, 'empty event pattern'],
    [{ detail: {} }, '"detail" must not be an empty object'],
    [{ source: 'bakehouse' }, '"source" must be an object or a non-empty array'],
    [{ source: [] }, '"source" must be an object or a non-empty array'],
    [{ detail: { family: [['nested']] } }, '"detail.family" match values'],
    [{ a: [{ regex: 'x' }] }, 'unrecognized match type regex'],
    [{ a: [{ prefix: 'x', suffix: 'y' }] }, 'exactly one operator'],
    [{ a: [{ prefix: 1 }] }, 'prefix must be a string'],
    [{ a: [{ suffix: { 'equals-ignore-case': 1 } }] }, 'suffix must be a string'],
    [{ a: [{ 'equals-ignore-case': ['x'] }] }, 'equals-ignore-case must be a string'],
    [{ a: [{ exists: 'yes' }] }, 'exists must be true or false'],
    [{ a: [{ numeric: ['>', 5, '<', 5] }] }, '"a" numeric'],
    [{ a: [{ numeric: ['<', 5, '>', 0] }] }, '"a" numeric'],
    [{ a: [{ numeric: ['!=', 5] }] }, '"a" numeric'],
    [{ a: [{ numeric: ['>', '5'] }] }, '"a" numeric'],
    [{ a: [{ numeric: ['>', 0, '<'] }] }, '"a" numeric'],
    [{ a: [{ 'anything-but': [] }] }, 'anything-but must be'],
    [{ a: [{ 'anything-but': ['x', 1] }] }, 'anything-but must be'],
    [{ a: [{ 'anything-but': true }] }, 'anything-but must be'],
    [{ a: [{ 'anything-but': { numeric: ['>', 1] } }] }, 'anything-but must be'],
    [{ a: [{ wildcard: 'a**b' }] }, 'wildcard has consecutive'],
    [{ a: [{ wildcard: 'a\\b' }] }, 'bad \\ escape'],
    [{ a: [{ cidr: '10.0.0.0/33' }] }, 'cidr must be'],
    [{ a: [{ cidr: '10.0.0.256/8' }] }, 'cidr must be'],
    [{ $or: [] }, '"$or" must be a non-empty array'],
    [{ $or: { a: ['x'] } }, '"$or" must be a non-empty array'],
    [{ $or: [{ a: ['x'] }, 'b'] }, '"$or[1]" must be a pattern object'],
    [{ detail: { $or: [{ a: [] }] } }, '"detail.$or[0].a"'],
  ])('rejects %j', (pattern, message) => {
    // Prepare: the row. Act
    const error = validatePattern(pattern);

    // Assess
    expect(error).toMatch(/^Event pattern is not valid\. Reason: /);
    expect(error).toContain(message);
  });
});

// ---------------------------------------------------------------- properties

const jsonScalar = fc.oneof(
  fc.string(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.boolean(),
  fc.constant(null),
);
const fieldName = fc.string({ minLength: 1 }).filter((key) => key !== '$or');
const jsonEvent = fc.dictionary(fieldName, fc.jsonValue(), { minKeys: 1 });

/** The pattern listing, for every leaf field of the event, the exact values found there. */
function exactPatternFor(event: Rec): Rec | undefined {
  const entries = Object.entries(event)
    .filter(([key]) => key !== '$or')
    .map(([key, value]) => [key, exactEntryFor(value)] as const)
    .filter(([, entry]) => entry !== undefined);
  return entries.length > 0 ? Object.fromEntries(entries) : undefined;
}

function exactEntryFor(value: unknown): unknown {
  if (Array.isArray(value)) {
    const scalars = value.flat(Number.POSITIVE_INFINITY).filter((item) => item === null || typeof item !== 'object');
    return scalars.length > 0 ? scalars : undefined;
  }
  if (value !== null && typeof value === 'object') return exactPatternFor(value as Rec);
  return [value];
}

describe('event patterns: properties', () => {
  it('matches any event with the pattern of its exact leaf values, alone or inside $or', () => {
    fc.assert(
      fc.property(jsonEvent, fieldName, jsonScalar, (event, otherKey, otherValue) => {
        // Prepare
        const pattern = exactPatternFor(event);
        fc.pre(pattern !== undefined);
        const wrapped = { $or: [{ [otherKey]: [otherValue] }, pattern as Rec] };

        // Act
        const alone = matchesPattern(pattern as Rec, event);
        const inOr = matchesPattern(wrapped, event);

        // Assess
        expect(validatePattern(pattern)).toBeUndefined();
        expect(validatePattern(wrapped)).toBeUndefined();
        expect(alone).toBe(true);
        expect(inOr).toBe(true);
      }),
    );
  });

  it('anything-but [v] matches a present scalar exactly when [v] does not', () => {
    const excludable = fc.oneof(fc.string(), fc.double({ noNaN: true, noDefaultInfinity: true }));
    fc.assert(
      fc.property(excludable, jsonScalar, fc.boolean(), (excluded, other, holdsExcluded) => {
        // Prepare: half the time the field holds the excluded value itself
        const field = holdsExcluded ? excluded : other;

        // Act
        const exact = matchField([excluded], field);
        const anythingBut = matchField([{ 'anything-but': [excluded] }], field);

        // Assess
        expect(anythingBut).toBe(!exact);
      }),
    );
  });
});
