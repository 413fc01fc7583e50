import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BranchError, chooseBranch, holds } from '../../src/services/ssm/automation/branch';

describe('holds', () => {
  it('compares strings', () => {
    expect(holds({ Variable: 'Linux', StringEquals: 'Linux' })).toBe(true);
    expect(holds({ Variable: 'Linux', StringEquals: 'linux' })).toBe(false);
    expect(holds({ Variable: 'Linux', EqualsIgnoreCase: 'linux' })).toBe(true);
    expect(holds({ Variable: 'ami-123', StartsWith: 'ami-' })).toBe(true);
    expect(holds({ Variable: 'image.vhd', EndsWith: '.vhd' })).toBe(true);
    expect(holds({ Variable: 'al2023-base', Contains: '2023' })).toBe(true);
  });

  it('compares numbers given as numbers or text', () => {
    expect(holds({ Variable: 3, NumericEquals: '3' })).toBe(true);
    expect(holds({ Variable: '10', NumericGreater: 9 })).toBe(true);
    expect(holds({ Variable: 2, NumericLesser: 2 })).toBe(false);
    expect(holds({ Variable: 2, NumericLesserOrEquals: 2 })).toBe(true);
    expect(holds({ Variable: 2, NumericGreaterOrEquals: 3 })).toBe(false);
  });

  it('compares booleans and looks inside lists with Contains', () => {
    expect(holds({ Variable: true, BooleanEquals: 'true' })).toBe(true);
    expect(holds({ Variable: 'False', BooleanEquals: false })).toBe(true);
    expect(holds({ Variable: ['a', 'b'], Contains: 'b' })).toBe(true);
    expect(holds({ Variable: ['ab'], Contains: 'b' })).toBe(false);
  });

  it('combines with And, Or and Not', () => {
    const yes = { Variable: 'x', StringEquals: 'x' };
    const no = { Variable: 'x', StringEquals: 'y' };
    expect(holds({ And: [yes, yes] })).toBe(true);
    expect(holds({ And: [yes, no] })).toBe(false);
    expect(holds({ Or: [no, yes] })).toBe(true);
    expect(holds({ Not: no })).toBe(true);
  });

  it('Not is the negation of any comparison', () => {
    fc.assert(
      fc.property(fc.integer(), fc.integer(), (a, b) => {
        const condition = { Variable: a, NumericGreater: b };
        expect(holds({ Not: condition })).toBe(!holds(condition));
      }),
    );
  });

  it('refuses a choice without an operator, without a Variable, or comparing a non-number numerically', () => {
    expect(() => holds({ Variable: 'x' })).toThrow(BranchError);
    expect(() => holds({ StringEquals: 'x' })).toThrow('no Variable');
    expect(() => holds({ Variable: 'abc', NumericEquals: 1 })).toThrow('not a number');
    expect(() => holds({ Variable: 'maybe', BooleanEquals: true })).toThrow('not a Boolean');
  });
});

describe('chooseBranch', () => {
  const inputs = {
    Choices: [
      { NextStep: 'windows', Variable: 'Windows', StringEquals: 'Linux' },
      { NextStep: 'linux', Variable: 'Linux', StringEquals: 'Linux' },
    ],
    Default: 'other',
  };

  it('picks the first choice that holds', () => {
    expect(chooseBranch(inputs)).toBe('linux');
  });

  it('falls back to Default, and fails without one', () => {
    const none = { Choices: [{ NextStep: 'a', Variable: 'x', StringEquals: 'y' }] };
    expect(chooseBranch({ ...none, Default: 'fallback' })).toBe('fallback');
    expect(() => chooseBranch(none)).toThrow('no Default');
  });

  it('refuses a branch without choices', () => {
    expect(() => chooseBranch({ Default: 'x' })).toThrow('Choices');
  });
});
