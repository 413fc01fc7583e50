/**
 * Validating events against the schema files with a JSON Schema draft-04 validator (Ajv), as a
 * consumer that never saw Bakehouse's TypeScript would: what the tests use to prove the files and
 * zod agree, and that what Bakehouse publishes matches what it documents. Ajv is a
 * devDependency: nothing deployed imports this module.
 */
import Ajv, { type ValidateFunction } from 'ajv-draft-04';
import { CONTRACT_DETAIL_TYPES, type ContractDetailType, type JsonSchema, readEventSchema } from './event-schemas';

export interface SchemaVerdict {
  readonly valid: boolean;
  /** `/detail/family: must be string`, one per problem. */
  readonly errors: readonly string[];
}

/** A validator per detail-type over the given schemas (default: the files in schemas/events). */
export const createEventValidator = (
  schemaOf: (detailType: ContractDetailType) => JsonSchema = readEventSchema,
): ((detailType: ContractDetailType, event: unknown) => SchemaVerdict) => {
  // strict: an unknown keyword in a file fails here instead of being ignored silently.
  const ajv = new Ajv({ strict: true, allErrors: true, allowUnionTypes: true });
  const validators = new Map<ContractDetailType, ValidateFunction>(
    CONTRACT_DETAIL_TYPES.map((detailType) => [detailType, ajv.compile(schemaOf(detailType) as object)]),
  );
  return (detailType, event) => {
    const validate = validators.get(detailType);
    if (!validate) throw new Error(`no schema for detail-type '${detailType}'`);
    const valid = validate(event);
    return {
      valid,
      errors: (validate.errors ?? []).map((e) => `${e.instancePath || '(event)'}: ${e.message ?? e.keyword}`),
    };
  };
};
