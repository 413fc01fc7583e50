/**
 * Automation parameters: what a schema 0.3 document declares (type, default, allowedValues,
 * allowedPattern, list and string bounds) and how StartAutomationExecution's `Parameters`
 * (every value a list of strings) become typed values. Pure: the API turns a ParameterError into
 * InvalidAutomationExecutionParametersException.
 */
import { coerce, isPlainObject, isValueType, type ValueType, ValueTypeError } from './values';

export interface ParameterSpec {
  readonly name: string;
  readonly type: ValueType;
  readonly hasDefault: boolean;
  readonly defaultValue?: unknown;
  readonly allowedValues?: readonly string[];
  readonly allowedPattern?: string;
  readonly minItems?: number;
  readonly maxItems?: number;
  readonly minChars?: number;
  readonly maxChars?: number;
}

export class ParameterError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ParameterError';
  }
}

const optionalNumber = (spec: Record<string, unknown>, key: string): number | undefined =>
  typeof spec[key] === 'number' ? spec[key] : undefined;

/** The parameters a parsed document declares; throws ParameterError on a malformed declaration. */
export const parameterSpecs = (document: Record<string, unknown>): ParameterSpec[] => {
  const declared = document.parameters;
  if (declared === undefined || declared === null) return [];
  if (!isPlainObject(declared)) throw new ParameterError('The document parameters must be a map.');
  return Object.entries(declared).map(([name, raw]) => {
    const spec = isPlainObject(raw) ? raw : {};
    if (!isValueType(spec.type)) {
      throw new ParameterError(
        `Parameter ${name} has type ${String(spec.type)}; the types are String, StringList, Integer, Boolean, MapList and StringMap.`,
      );
    }
    const minItems = optionalNumber(spec, 'minItems');
    const maxItems = optionalNumber(spec, 'maxItems');
    const minChars = optionalNumber(spec, 'minChars');
    const maxChars = optionalNumber(spec, 'maxChars');
    return {
      name,
      type: spec.type,
      hasDefault: 'default' in spec,
      ...('default' in spec ? { defaultValue: spec.default } : {}),
      ...(Array.isArray(spec.allowedValues) ? { allowedValues: spec.allowedValues.map(String) } : {}),
      ...(typeof spec.allowedPattern === 'string' ? { allowedPattern: spec.allowedPattern } : {}),
      ...(minItems === undefined ? {} : { minItems }),
      ...(maxItems === undefined ? {} : { maxItems }),
      ...(minChars === undefined ? {} : { minChars }),
      ...(maxChars === undefined ? {} : { maxChars }),
    };
  });
};

const single = (spec: ParameterSpec, values: readonly string[]): string => {
  if (values.length !== 1) {
    throw new ParameterError(
      `Parameter "${spec.name}" is of type ${spec.type} and takes exactly one value, but ${values.length} were given.`,
    );
  }
  return values[0] as string;
};

const parseJson = (spec: ParameterSpec, text: string): unknown => {
  try {
    return JSON.parse(text);
  } catch {
    throw new ParameterError(`Parameter "${spec.name}" is of type ${spec.type}; "${text}" is not valid JSON.`);
  }
};

/** One parameter's API value (a list of strings) as its typed value. */
const fromApi = (spec: ParameterSpec, values: readonly string[]): unknown => {
  try {
    switch (spec.type) {
      case 'String':
        return single(spec, values);
      case 'StringList':
        return [...values];
      case 'Integer':
      case 'Boolean':
        return coerce(single(spec, values), spec.type, `Parameter "${spec.name}"`);
      case 'StringMap':
        return coerce(parseJson(spec, single(spec, values)), 'StringMap', `Parameter "${spec.name}"`);
      case 'MapList':
        return coerce(
          values.map((value) => parseJson(spec, value)),
          'MapList',
          `Parameter "${spec.name}"`,
        );
    }
  } catch (error) {
    if (error instanceof ValueTypeError) throw new ParameterError(error.message);
    throw error;
  }
};

const checkConstraints = (spec: ParameterSpec, value: unknown): void => {
  const items = Array.isArray(value) ? value : [value];
  if (spec.minItems !== undefined && Array.isArray(value) && value.length < spec.minItems) {
    throw new ParameterError(`Parameter "${spec.name}" needs at least ${spec.minItems} item(s).`);
  }
  if (spec.maxItems !== undefined && Array.isArray(value) && value.length > spec.maxItems) {
    throw new ParameterError(`Parameter "${spec.name}" takes at most ${spec.maxItems} item(s).`);
  }
  if (spec.type !== 'String' && spec.type !== 'StringList') return;
  for (const item of items as string[]) {
    if (spec.allowedValues && !spec.allowedValues.includes(item)) {
      throw new ParameterError(
        `Parameter "${spec.name}" has value "${item}", which is not one of the allowed values [${spec.allowedValues.join(', ')}].`,
      );
    }
    if (spec.allowedPattern !== undefined && !new RegExp(spec.allowedPattern).test(item)) {
      throw new ParameterError(
        `Parameter "${spec.name}" has value "${item}", which does not match the allowed pattern ${spec.allowedPattern}.`,
      );
    }
    if (spec.minChars !== undefined && item.length < spec.minChars) {
      throw new ParameterError(`Parameter "${spec.name}" must be at least ${spec.minChars} characters long.`);
    }
    if (spec.maxChars !== undefined && item.length > spec.maxChars) {
      throw new ParameterError(`Parameter "${spec.name}" must be at most ${spec.maxChars} characters long.`);
    }
  }
};

/**
 * The typed value of every declared parameter: the given value (validated), or the default.
 * A parameter without a default must be given; an undeclared one is refused.
 */
export const resolveParameters = (
  specs: readonly ParameterSpec[],
  given: Readonly<Record<string, readonly string[]>>,
): Record<string, unknown> => {
  const declared = new Map(specs.map((spec) => [spec.name, spec]));
  const unknown = Object.keys(given).filter((name) => !declared.has(name));
  if (unknown.length > 0) {
    throw new ParameterError(`Parameters [${unknown.join(', ')}] are not defined in the document.`);
  }
  const missing = specs.filter((spec) => !spec.hasDefault && given[spec.name] === undefined).map((spec) => spec.name);
  if (missing.length > 0) {
    throw new ParameterError(`Parameters [${missing.join(', ')}] are required but were not provided.`);
  }
  const values: Record<string, unknown> = {};
  for (const spec of specs) {
    const supplied = given[spec.name];
    if (supplied !== undefined) {
      const value = fromApi(spec, supplied);
      checkConstraints(spec, value);
      values[spec.name] = value;
      continue;
    }
    try {
      values[spec.name] = coerce(spec.defaultValue, spec.type, `The default of parameter "${spec.name}"`);
    } catch (error) {
      if (error instanceof ValueTypeError) throw new ParameterError(error.message);
      throw error;
    }
  }
  return values;
};
