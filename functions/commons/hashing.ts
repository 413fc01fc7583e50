import { createHash } from 'node:crypto';
import { v5 as uuidv5 } from 'uuid';

export const sha256Hex = (text: string): string => createHash('sha256').update(text).digest('hex');

/** JSON with object keys sorted at every level, so equal values always hash the same. */
export const canonicalJson = (value: unknown): string =>
  JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(
          Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
        )
      : v,
  );

/** Bakehouse's own UUID namespace, so its name-based UUIDs never collide with anyone else's. */
const BAKEHOUSE_NAMESPACE = '6f1b2c0e-4b7d-5e2a-9c3f-8d1a7b6e5c40';

/** An RFC 9562 version-5 (name-based) UUID of `text`: the same text always gives the same UUID. */
export const uuidFrom = (text: string): string => uuidv5(text, BAKEHOUSE_NAMESPACE);
