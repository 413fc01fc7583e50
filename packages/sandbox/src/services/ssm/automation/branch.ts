/**
 * aws:branch: the first choice whose condition holds names the next step, else `Default`.
 * Conditions compare an (already interpolated) `Variable` with StringEquals, EqualsIgnoreCase,
 * StartsWith, EndsWith, Contains, NumericEquals, NumericGreater(OrEquals), NumericLesser(OrEquals),
 * BooleanEquals, and combine with And, Or and Not. Pure.
 */
import { asText, isPlainObject } from './values';

export class BranchError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BranchError';
  }
}

const OPERATORS = [
  'StringEquals',
  'EqualsIgnoreCase',
  'StartsWith',
  'EndsWith',
  'Contains',
  'NumericEquals',
  'NumericGreater',
  'NumericLesser',
  'NumericGreaterOrEquals',
  'NumericLesserOrEquals',
  'BooleanEquals',
] as const;

const number = (value: unknown, what: string): number => {
  const parsed = typeof value === 'number' ? value : Number(asText(value));
  if (asText(value).trim() === '' || Number.isNaN(parsed))
    throw new BranchError(`${what} is not a number: ${asText(value)}`);
  return parsed;
};

const boolean = (value: unknown, what: string): boolean => {
  if (typeof value === 'boolean') return value;
  const text = asText(value).toLowerCase();
  if (text === 'true' || text === 'false') return text === 'true';
  throw new BranchError(`${what} is not a Boolean: ${asText(value)}`);
};

const compare = (operator: (typeof OPERATORS)[number], variable: unknown, operand: unknown): boolean => {
  switch (operator) {
    case 'StringEquals':
      return asText(variable) === asText(operand);
    case 'EqualsIgnoreCase':
      return asText(variable).toLowerCase() === asText(operand).toLowerCase();
    case 'StartsWith':
      return asText(variable).startsWith(asText(operand));
    case 'EndsWith':
      return asText(variable).endsWith(asText(operand));
    case 'Contains':
      return Array.isArray(variable)
        ? variable.map(asText).includes(asText(operand))
        : asText(variable).includes(asText(operand));
    case 'NumericEquals':
      return number(variable, 'Variable') === number(operand, operator);
    case 'NumericGreater':
      return number(variable, 'Variable') > number(operand, operator);
    case 'NumericLesser':
      return number(variable, 'Variable') < number(operand, operator);
    case 'NumericGreaterOrEquals':
      return number(variable, 'Variable') >= number(operand, operator);
    case 'NumericLesserOrEquals':
      return number(variable, 'Variable') <= number(operand, operator);
    case 'BooleanEquals':
      return boolean(variable, 'Variable') === boolean(operand, operator);
  }
};

/** Whether one condition (a choice without its NextStep) holds. */
export const holds = (condition: Record<string, unknown>): boolean => {
  if (Array.isArray(condition.And)) return condition.And.every((part) => holds(asCondition(part)));
  if (Array.isArray(condition.Or)) return condition.Or.some((part) => holds(asCondition(part)));
  if (condition.Not !== undefined) return !holds(asCondition(condition.Not));
  const operator = OPERATORS.find((name) => name in condition);
  if (!operator) {
    throw new BranchError(`A choice needs an operator (${OPERATORS.join(', ')}, And, Or or Not).`);
  }
  if (!('Variable' in condition)) throw new BranchError(`The ${operator} choice has no Variable.`);
  return compare(operator, condition.Variable, condition[operator]);
};

const asCondition = (value: unknown): Record<string, unknown> => {
  if (!isPlainObject(value)) throw new BranchError('A choice condition must be an object.');
  return value;
};

/** The next step aws:branch picks from its interpolated inputs. */
export const chooseBranch = (inputs: Record<string, unknown>): string => {
  const choices = inputs.Choices;
  if (!Array.isArray(choices) || choices.length === 0) throw new BranchError('aws:branch needs a list of Choices.');
  for (const choice of choices) {
    const condition = asCondition(choice);
    if (typeof condition.NextStep !== 'string') throw new BranchError('Every choice needs a NextStep.');
    if (holds(condition)) return condition.NextStep;
  }
  if (typeof inputs.Default === 'string') return inputs.Default;
  throw new BranchError('No choice matched and the branch has no Default step.');
};
