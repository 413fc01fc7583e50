import { MissingEnvironmentError } from './errors';

/**
 * Reads the named environment variables once (call it at cold start) and fails fast, naming
 * every missing key, so a misconfigured function never half-runs.
 */
export const readEnv = <const K extends string>(
  keys: readonly K[],
  source: NodeJS.ProcessEnv = process.env,
): Record<K, string> => {
  const missing = keys.filter((key) => !source[key]);
  if (missing.length > 0) {
    throw new MissingEnvironmentError(
      `missing environment variable(s) ${missing.join(', ')}. Fix: deploy through the Bakehouse stack, which sets them`,
    );
  }
  return Object.fromEntries(keys.map((key) => [key, source[key] as string])) as Record<K, string>;
};

export const readIntEnv = (value: string, key: string): number => {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed <= 0) {
    throw new MissingEnvironmentError(`${key} must be a positive integer, got '${value}'`);
  }
  return parsed;
};

/**
 * The environment key that names the state table (stacks/pipeline-context.ts builds it; each
 * function that keeps conditional state reads the name at cold start with `readEnv`).
 */
export const STATE_TABLE_NAME_KEY = 'STATE_TABLE_NAME';
