/**
 * `{{ name }}` references in automation step inputs: a string that is exactly one reference takes
 * the referenced value with its type (a StringList stays a list, an Integer a number); references
 * inside longer text are replaced by the value as text. A whole reference inside a list that
 * resolves to a list is spliced into it. Pure: names are resolved by the caller's lookup.
 */
import { asText, isPlainObject } from './values';

export type Lookup = (name: string) => { readonly found: true; readonly value: unknown } | { readonly found: false };

export class InterpolationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InterpolationError';
  }
}

const WHOLE = /^\s*\{\{\s*([^{}]+?)\s*\}\}\s*$/;
const EMBEDDED = /\{\{\s*([^{}]+?)\s*\}\}/g;

const resolve = (name: string, lookup: Lookup): unknown => {
  const result = lookup(name);
  if (!result.found) throw new InterpolationError(`Unable to resolve the variable {{ ${name} }}.`);
  return result.value;
};

/** The names every `{{ }}` reference in `value` (deeply) uses, in order of appearance. */
export const referencesIn = (value: unknown): string[] => {
  if (typeof value === 'string') return [...value.matchAll(EMBEDDED)].map((match) => match[1] as string);
  if (Array.isArray(value)) return value.flatMap(referencesIn);
  if (isPlainObject(value)) return Object.values(value).flatMap(referencesIn);
  return [];
};

const interpolateString = (text: string, lookup: Lookup): unknown => {
  const whole = WHOLE.exec(text);
  if (whole) return resolve(whole[1] as string, lookup);
  return text.replace(EMBEDDED, (_match, name: string) => asText(resolve(name, lookup)));
};

/** `value` with every reference resolved; throws InterpolationError for a name the lookup lacks. */
export const interpolate = (value: unknown, lookup: Lookup): unknown => {
  if (typeof value === 'string') return interpolateString(value, lookup);
  if (Array.isArray(value)) {
    return value.flatMap((item) => {
      const resolved = interpolate(item, lookup);
      return typeof item === 'string' && WHOLE.test(item) && Array.isArray(resolved) ? resolved : [resolved];
    });
  }
  if (isPlainObject(value)) {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, interpolate(item, lookup)]));
  }
  return value;
};
