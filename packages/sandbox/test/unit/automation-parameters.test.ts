import { describe, expect, it } from 'vitest';
import { ParameterError, parameterSpecs, resolveParameters } from '../../src/services/ssm/automation/parameters';
import { coerce, toStringList } from '../../src/services/ssm/automation/values';

const document = () => ({
  parameters: {
    SourceAmiId: { type: 'String', allowedPattern: '^ami-[0-9a-f]{8,17}$' },
    HttpTokens: { type: 'String', allowedValues: ['required', 'optional'], default: 'required' },
    SecurityGroupIds: { type: 'StringList', minItems: 1 },
    VolumeSize: { type: 'Integer', default: 8 },
    Encrypted: { type: 'Boolean', default: true },
    Extra: { type: 'StringMap', default: {} },
    Mappings: { type: 'MapList', default: [] },
  },
});

const resolve = (given: Record<string, string[]>) => resolveParameters(parameterSpecs(document()), given);
const valid = () => ({ SourceAmiId: ['ami-0123456789abcdef0'], SecurityGroupIds: ['sg-1', 'sg-2'] });

describe('resolveParameters', () => {
  it('types given values and fills defaults', () => {
    expect(
      resolve({ ...valid(), VolumeSize: ['30'], Encrypted: ['false'], Extra: ['{"a":"b"}'], Mappings: ['{"k":1}'] }),
    ).toEqual({
      SourceAmiId: 'ami-0123456789abcdef0',
      HttpTokens: 'required',
      SecurityGroupIds: ['sg-1', 'sg-2'],
      VolumeSize: 30,
      Encrypted: false,
      Extra: { a: 'b' },
      Mappings: [{ k: 1 }],
    });
    expect(resolve(valid())).toMatchObject({ VolumeSize: 8, Encrypted: true, HttpTokens: 'required' });
  });

  it('requires parameters without a default', () => {
    expect(() => resolve({ SourceAmiId: ['ami-0123456789abcdef0'] })).toThrow('[SecurityGroupIds] are required');
  });

  it('refuses undeclared parameters', () => {
    expect(() => resolve({ ...valid(), Nope: ['x'] })).toThrow('[Nope] are not defined');
  });

  it('enforces allowedPattern and allowedValues', () => {
    expect(() => resolve({ ...valid(), SourceAmiId: ['latest'] })).toThrow('allowed pattern');
    expect(() => resolve({ ...valid(), HttpTokens: ['sometimes'] })).toThrow('allowed values');
  });

  it('refuses values of the wrong type or count', () => {
    expect(() => resolve({ ...valid(), VolumeSize: ['big'] })).toThrow(ParameterError);
    expect(() => resolve({ ...valid(), Encrypted: ['yes'] })).toThrow('Boolean');
    expect(() => resolve({ ...valid(), SourceAmiId: ['ami-0123456789abcdef0', 'ami-0123456789abcdef1'] })).toThrow(
      'exactly one value',
    );
    expect(() => resolve({ ...valid(), Extra: ['not json'] })).toThrow('not valid JSON');
    expect(() => resolve({ ...valid(), SecurityGroupIds: [] })).toThrow('at least 1');
  });

  it('refuses a declaration with an unknown type', () => {
    expect(() => parameterSpecs({ parameters: { X: { type: 'Number' } } })).toThrow('has type Number');
  });
});

describe('values', () => {
  it('shows every typed value as a list of strings', () => {
    expect(toStringList('a')).toEqual(['a']);
    expect(toStringList(['a', 'b'])).toEqual(['a', 'b']);
    expect(toStringList(3)).toEqual(['3']);
    expect(toStringList({ a: 1 })).toEqual(['{"a":1}']);
    expect(toStringList([{ a: 1 }])).toEqual(['{"a":1}']);
  });

  it('coerces selected values to output types', () => {
    expect(coerce(5, 'String', 'x')).toBe('5');
    expect(coerce('7', 'Integer', 'x')).toBe(7);
    expect(coerce('TRUE', 'Boolean', 'x')).toBe(true);
    expect(coerce('one', 'StringList', 'x')).toEqual(['one']);
    expect(() => coerce(['a'], 'String', 'Output X')).toThrow('Output X must be a String');
    expect(() => coerce('x', 'MapList', 'y')).toThrow('MapList');
  });
});
