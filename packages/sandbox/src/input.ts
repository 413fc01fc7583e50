/** Small checks of JSON input shared by the control endpoint and the models it drives. */

export const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** The first field of `input` not in `allowed`, for the "unknown field" reply. */
export const unknownField = (input: Record<string, unknown>, allowed: readonly string[]): string | undefined =>
  Object.keys(input).find((key) => !allowed.includes(key));

export const isNumber = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value);
