/**
 * Automation values: parameters and step outputs are typed (String, StringList, Integer, Boolean,
 * MapList, StringMap) while the API shows every value as a list of strings. One place converts
 * between the two.
 */
export const VALUE_TYPES = ['String', 'StringList', 'Integer', 'Boolean', 'MapList', 'StringMap'] as const;
export type ValueType = (typeof VALUE_TYPES)[number];

export const isValueType = (type: unknown): type is ValueType =>
  typeof type === 'string' && (VALUE_TYPES as readonly string[]).includes(type);

export const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  value !== null && typeof value === 'object' && !Array.isArray(value) && !(value instanceof Date);

/** A value as text where a string is wanted (embedded in a longer string, a String output). */
export const asText = (value: unknown): string => {
  if (typeof value === 'string') return value;
  if (value instanceof Date) return value.toISOString();
  if (value === undefined || value === null) return '';
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
};

/** The API's list-of-strings view of a typed value. */
export const toStringList = (value: unknown): string[] => {
  if (Array.isArray(value)) return value.map((item) => asText(item));
  return [asText(value)];
};

export class ValueTypeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ValueTypeError';
  }
}

/** Converts a value (an API response member, a default) to `type`, or throws ValueTypeError. */
export const coerce = (value: unknown, type: ValueType, what: string): unknown => {
  switch (type) {
    case 'String':
      if (Array.isArray(value) || isPlainObject(value)) {
        throw new ValueTypeError(`${what} must be a String, but it is ${JSON.stringify(value)}`);
      }
      return asText(value);
    case 'StringList':
      if (!Array.isArray(value)) return [asText(value)];
      return value.map((item) => asText(item));
    case 'Integer': {
      const number = typeof value === 'number' ? value : typeof value === 'string' ? Number(value.trim()) : Number.NaN;
      if (!Number.isInteger(number)) throw new ValueTypeError(`${what} must be an Integer, but it is ${asText(value)}`);
      return number;
    }
    case 'Boolean':
      if (typeof value === 'boolean') return value;
      if (typeof value === 'string' && /^(true|false)$/i.test(value.trim()))
        return value.trim().toLowerCase() === 'true';
      throw new ValueTypeError(`${what} must be a Boolean (true or false), but it is ${asText(value)}`);
    case 'StringMap':
      if (isPlainObject(value)) return value;
      throw new ValueTypeError(`${what} must be a StringMap (an object), but it is ${asText(value)}`);
    case 'MapList':
      if (Array.isArray(value) && value.every(isPlainObject)) return value;
      throw new ValueTypeError(`${what} must be a MapList (a list of objects), but it is ${asText(value)}`);
  }
};
