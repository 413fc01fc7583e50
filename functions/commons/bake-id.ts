/**
 * A bake's id: the name of its state machine execution, derived from the family and the
 * idempotency key, so the same request always names the same bake. StartBake starts it under this
 * name; the notifier, the CLI and the sandbox find a bake by it.
 */
import { sha256Hex } from './hashing';

/** Execution names allow 80 characters: the family (at most 40) and 32 hex of the key's hash. */
export const bakeIdFor = (family: string, idempotencyKey: string): string =>
  `${family}-${sha256Hex(`${family}\n${idempotencyKey}`).slice(0, 32)}`;

/** The form of every bake id: `<family>-<32 hex>`. */
export const BAKE_ID = /^(?<family>.+)-[0-9a-f]{32}$/;

/** The family a bake id names, or undefined when it is not a bake id. */
export const familyOfBakeId = (bakeId: string): string | undefined => BAKE_ID.exec(bakeId)?.groups?.family;
