/**
 * Which items DynamoDB's Time to Live deletes, and when: the pure rules of the sandbox's TTL sweep.
 *
 * - An item expires when its TTL attribute, a top-level Number holding epoch seconds, is less than
 *   the current time (API Reference, UpdateTimeToLive). Any other type, or no attribute, and the
 *   item never expires; a value more than five years in the past is not eligible either (Developer
 *   Guide, "Computing time to live (TTL) in DynamoDB").
 * - Deletion is a background process that runs some time after expiry ("typically within two days
 *   of expiration"), and until then the item "will still show up in reads, queries, and scans"
 *   (same page): code must filter expired items itself. The sandbox deletes an expired item only
 *   once `lagSeconds` of sandbox time have passed since its expiry, so a test sees both sides.
 */

/** Sandbox seconds between an item's expiry and its deletion unless `PUT /_sandbox/dynamodb/ttl` says otherwise. */
export const DEFAULT_TTL_LAG_SECONDS = 300;

const FIVE_YEARS_SECONDS = 5 * 365 * 24 * 60 * 60;

/** A DynamoDB item on the wire: attribute name → typed value (`{N: '…'}`, `{S: '…'}`, …). */
export type WireItem = Readonly<Record<string, unknown>>;

/** The expiry (epoch seconds) the item's TTL attribute holds, or undefined when TTL ignores the item. */
export const expiryOf = (item: WireItem, attributeName: string): number | undefined => {
  const value = item[attributeName];
  if (typeof value !== 'object' || value === null) return undefined;
  const number = (value as { N?: unknown }).N;
  if (typeof number !== 'string') return undefined;
  const seconds = Number(number);
  return Number.isFinite(seconds) ? seconds : undefined;
};

/** Whether TTL's background process has deleted the item by `nowMs` (sandbox clock). */
export const isDueForDeletion = (item: WireItem, attributeName: string, nowMs: number, lagSeconds: number): boolean => {
  const expiry = expiryOf(item, attributeName);
  if (expiry === undefined) return false;
  const nowSeconds = nowMs / 1000;
  if (expiry < nowSeconds - FIVE_YEARS_SECONDS) return false;
  return expiry < nowSeconds && expiry + lagSeconds <= nowSeconds;
};
