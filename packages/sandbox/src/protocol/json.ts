/**
 * Reading JSON 1.1 request members the way AWS's JSON services validate them: a missing required
 * member or a value outside its constraints is a `ValidationException`, a member of the wrong JSON
 * type a `SerializationException`. Shared by SSM and Secrets Manager.
 */

import { AwsError } from '../errors';
import { decodeOffsetToken, encodeOffsetToken } from '../pagination';

export type Input = Record<string, unknown>;

export const validationError = (message: string): AwsError => new AwsError('ValidationException', message);

const wrongType = (member: string, expected: string): AwsError =>
  new AwsError('SerializationException', `Member ${member} must be ${expected}`);

const lowerFirst = (member: string): string => member.charAt(0).toLowerCase() + member.slice(1);

export const missing = (member: string): AwsError =>
  validationError(
    `1 validation error detected: Value null at '${lowerFirst(member)}' failed to satisfy constraint: Member must not be null`,
  );

export const optionalString = (input: Input, member: string): string | undefined => {
  const value = input[member];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw wrongType(member, 'a string');
  return value;
};

export const requiredString = (input: Input, member: string): string => {
  const value = optionalString(input, member);
  if (value === undefined) throw missing(member);
  return value;
};

export const optionalBoolean = (input: Input, member: string): boolean | undefined => {
  const value = input[member];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'boolean') throw wrongType(member, 'a boolean');
  return value;
};

export const optionalInteger = (input: Input, member: string): number | undefined => {
  const value = input[member];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value)) throw wrongType(member, 'an integer');
  return value;
};

export const optionalStringList = (input: Input, member: string): string[] | undefined => {
  const value = input[member];
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value) || value.some((item) => typeof item !== 'string')) {
    throw wrongType(member, 'a list of strings');
  }
  return value as string[];
};

export const optionalObjectList = (input: Input, member: string): Input[] | undefined => {
  const value = input[member];
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value) || value.some((item) => !item || typeof item !== 'object' || Array.isArray(item))) {
    throw wrongType(member, 'a list of structures');
  }
  return value as Input[];
};

export const optionalObject = (input: Input, member: string): Input | undefined => {
  const value = input[member];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'object' || Array.isArray(value)) throw wrongType(member, 'a structure');
  return value as Input;
};

/** MaxResults within [min, max] (AWS answers a ValidationException outside), or the default. */
export const maxResults = (input: Input, min: number, max: number, fallback: number): number => {
  const value = optionalInteger(input, 'MaxResults');
  if (value === undefined) return fallback;
  if (value < min || value > max) {
    throw validationError(
      `1 validation error detected: Value '${value}' at 'maxResults' failed to satisfy constraint: Member must have value ${value < min ? `greater than or equal to ${min}` : `less than or equal to ${max}`}`,
    );
  }
  return value;
};

/** NextToken is an opaque offset; a token the sandbox did not issue is refused as AWS refuses one. */
export const pageStart = (input: Input, code = 'InvalidNextToken'): number => {
  const token = optionalString(input, 'NextToken');
  if (token === undefined || token === '') return 0;
  const offset = decodeOffsetToken(token);
  if (offset === undefined) throw new AwsError(code, 'The specified token is not valid.');
  return offset;
};

/** One page of already sorted `items` and the token for the next one, if any. */
export const page = <T>(items: readonly T[], start: number, size: number): { items: T[]; nextToken?: string } => {
  const slice = items.slice(start, start + size);
  return start + size < items.length ? { items: slice, nextToken: encodeOffsetToken(start + size) } : { items: slice };
};

/** JSON 1.1 timestamps are epoch seconds. */
export const epochSeconds = (iso: string): number => Date.parse(iso) / 1000;

/** Drops undefined members, so responses omit what is not set. */
export const compact = <T extends Record<string, unknown>>(record: T): T =>
  Object.fromEntries(Object.entries(record).filter(([, value]) => value !== undefined)) as T;
