/**
 * Reading an incoming event against the public contract: the envelope's detail-type must be the
 * one the consumer handles, and the detail must match that detail-type's schema (including the
 * `version` rule: same major, any minor). A mismatch throws `InvalidEventError` naming the field,
 * before the consumer does anything, so a bad event is never half-processed.
 */
import type * as z from 'zod/mini';
import { InvalidEventError } from './errors';
import { type DetailType, describeIssues, detailSchemas, parseContract } from './events';

export type ContractDetailType = keyof typeof detailSchemas;
export type DetailOf<T extends ContractDetailType> = z.output<(typeof detailSchemas)[T]>;

/** The EventBridge envelope fields consumers use. */
export interface IncomingEvent {
  readonly id?: string;
  readonly source?: string;
  readonly 'detail-type'?: string;
  readonly time?: string;
  readonly detail?: unknown;
}

export interface ParsedEvent<T extends ContractDetailType> {
  readonly id: string;
  readonly source: string;
  readonly detailType: T;
  readonly time: string;
  readonly detail: DetailOf<T>;
}

/**
 * Parses `event` as one of `accepted` detail-types. Throws `InvalidEventError` with
 * `rejected <detail-type> <id>: <field>: <problem>; …`.
 */
export const parseEvent = <T extends ContractDetailType>(event: unknown, accepted: readonly T[]): ParsedEvent<T> => {
  const envelope = (event ?? {}) as IncomingEvent;
  const detailType = envelope['detail-type'];
  const label = `${detailType ?? '(no detail-type)'} ${envelope.id ?? '(no id)'}`;
  if (typeof detailType !== 'string' || !(accepted as readonly string[]).includes(detailType)) {
    throw new InvalidEventError(
      `rejected ${label}: detail-type: this consumer takes ${accepted.map((t) => `'${t}'`).join(', ')}. Fix: route only those detail-types to it`,
    );
  }
  const schema = detailSchemas[detailType as T] as unknown as z.ZodMiniType;
  const parsed = parseContract(schema, envelope.detail);
  if (!parsed.success) {
    throw new InvalidEventError(`rejected ${label}: ${describeIssues(parsed.error)}`);
  }
  return {
    id: envelope.id ?? '',
    source: envelope.source ?? '',
    detailType: detailType as T,
    time: envelope.time ?? '',
    detail: parsed.data as DetailOf<T>,
  };
};

export type { DetailType };
