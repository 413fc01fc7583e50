/**
 * Which configuration a command runs with (issue 18). The deployment's, by default: the stack
 * publishes the configuration it deployed in `<parameterPrefix>/_config/<stage>`
 * (functions/commons/deployed-config.ts), and that is what the functions run, whatever the local
 * `bakehouse.config.ts` says. The local file is used only when the stage has no such parameter (a
 * stage deployed before it existed, or never deployed), and the CLI says so.
 *
 * So a local file that is broken, or ahead of the deployment, does not stop `status` or `families`:
 * the command runs on the deployed configuration and the difference is reported once on stderr
 * (the local file's problems, or the drift: families added or removed, fields changed with both
 * values). Only a command that has nothing but the local file to go on refuses a broken one, with
 * the field and the fix.
 *
 * `configDrift` is pure: two validated configurations in, the difference out.
 */
import { GetParameterCommand, type SSMClient } from '@aws-sdk/client-ssm';
import { configHash, decodeDeployedConfig, deployedConfigParameterName } from '../functions/commons/deployed-config';
import { errorNameOf } from '../functions/commons/errors';
import type { BakehouseConfig } from '../functions/commons/families';
import { CliError } from './errors';

/** How the local file is named in messages. */
export const LOCAL_FILE = 'bakehouse.config.ts';
/** settings.parameterPrefix's default (functions/commons/families.ts). */
const DEFAULT_PARAMETER_PREFIX = '/bakehouse';
const PARAMETER_PREFIX = /^\/[A-Za-z0-9_.-]+(\/[A-Za-z0-9_.-]+)*$/;

// --- the local file ------------------------------------------------------------------------------

export interface LocalConfig {
  /** The validated configuration; undefined when the file has problems. */
  readonly config?: BakehouseConfig;
  /** Every problem, each naming the family, the field and the fix (loadConfig's wording). */
  readonly problems: readonly string[];
  /** What the file exports, unvalidated (undefined when it could not be loaded). */
  readonly raw: unknown;
}

/**
 * The local file, loaded and validated. Never throws: a file that does not load or validate is a
 * LocalConfig with problems, for the caller to report or refuse.
 */
export const loadLocalConfig = async (load: () => Promise<unknown>): Promise<LocalConfig> => {
  let raw: unknown;
  try {
    raw = await load();
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    return {
      problems: [`${LOCAL_FILE} could not be loaded: ${message}. Fix: correct the file so that it compiles`],
      raw: undefined,
    };
  }
  const { loadConfig } = await import('../functions/commons/families');
  try {
    return { config: loadConfig(raw), problems: [], raw };
  } catch (error) {
    if (errorNameOf(error) === 'ConfigError') return { problems: (error as { problems: string[] }).problems, raw };
    throw error;
  }
};

/**
 * The prefix the deployed configuration is read under: the local file's `settings.parameterPrefix`
 * (valid or not: a broken family elsewhere must not lose the prefix), else the default.
 */
export const parameterPrefixOf = (local: LocalConfig): string => {
  if (local.config) return local.config.settings.parameterPrefix;
  const prefix = (local.raw as { settings?: { parameterPrefix?: unknown } } | undefined)?.settings?.parameterPrefix;
  return typeof prefix === 'string' && PARAMETER_PREFIX.test(prefix) ? prefix : DEFAULT_PARAMETER_PREFIX;
};

// --- the deployed configuration ------------------------------------------------------------------

export interface DeployedConfig {
  readonly parameter: string;
  readonly config: BakehouseConfig;
  readonly sha256: string;
  readonly version?: number;
  readonly lastModified?: Date;
}

export type DeployedLookup =
  | { readonly found: true; readonly deployed: DeployedConfig }
  | { readonly found: false; readonly parameter: string; readonly reason: string };

/**
 * The stage's deployed configuration. Not found (ParameterNotFound) and not readable (access
 * denied) are answers, for the caller to fall back on; anything else (no credentials, nothing
 * listening) throws, as it would stop the command's own calls too.
 */
export const readDeployedConfig = async (ssm: Pick<SSMClient, 'send'>, parameter: string): Promise<DeployedLookup> => {
  try {
    const { Parameter } = await ssm.send(new GetParameterCommand({ Name: parameter }));
    const { config, sha256 } = decodeDeployedConfig(Parameter?.Value ?? '');
    return {
      found: true,
      deployed: {
        parameter,
        config,
        sha256,
        ...(Parameter?.Version === undefined ? {} : { version: Parameter.Version }),
        ...(Parameter?.LastModifiedDate === undefined ? {} : { lastModified: Parameter.LastModifiedDate }),
      },
    };
  } catch (error) {
    const name = errorNameOf(error);
    if (name === 'ParameterNotFound') return { found: false, parameter, reason: `${parameter} does not exist` };
    if (name === 'AccessDeniedException') {
      return {
        found: false,
        parameter,
        reason: `${parameter} may not be read (ssm:GetParameter denied; grant it to the operator role)`,
      };
    }
    if (name === 'DeployedConfigError')
      throw new CliError(`${parameter}: ${(error as Error).message}`, { cause: error });
    throw error;
  }
};

// --- drift ---------------------------------------------------------------------------------------

export interface FieldChange {
  /** `builder.instanceType`, `channels[stable].promoteOn`: lists of named items are keyed by name. */
  readonly field: string;
  /** undefined: the field is absent on that side. */
  readonly deployed: unknown;
  readonly local: unknown;
}

export interface ConfigDrift {
  /** Families in the local file only. */
  readonly addedFamilies: readonly string[];
  /** Families deployed only. */
  readonly removedFamilies: readonly string[];
  readonly changedFamilies: readonly { readonly family: string; readonly changes: readonly FieldChange[] }[];
  readonly settings: readonly FieldChange[];
  /** The same families, listed in another order (the order `families` prints them in). */
  readonly familyOrderChanged: boolean;
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** Lists whose items are all objects with distinct string names (channels, tests, scripts, metrics). */
const namedItems = (list: readonly unknown[]): Map<string, unknown> | undefined => {
  const byName = new Map<string, unknown>();
  for (const item of list) {
    const name = isObject(item) ? item.name : undefined;
    if (typeof name !== 'string' || byName.has(name)) return undefined;
    byName.set(name, item);
  }
  return byName;
};

const join = (path: string, key: string): string => (path === '' ? key : `${path}.${key}`);

/**
 * Every leaf that differs, deployed against local. Objects recurse by key; lists of named items by
 * name (`channels[stable]`), so inserting one is one change, not every index shifted; other lists
 * of the same length by index; anything else is compared whole.
 */
const fieldChanges = (deployed: unknown, local: unknown, path: string, out: FieldChange[]): FieldChange[] => {
  if (JSON.stringify(deployed) === JSON.stringify(local)) return out;
  if (isObject(deployed) && isObject(local)) {
    const keys = [...new Set([...Object.keys(deployed), ...Object.keys(local)])].sort();
    for (const key of keys) fieldChanges(deployed[key], local[key], join(path, key), out);
    return out;
  }
  if (Array.isArray(deployed) && Array.isArray(local)) {
    const deployedByName = namedItems(deployed);
    const localByName = namedItems(local);
    if (deployedByName && localByName && (deployedByName.size > 0 || localByName.size > 0)) {
      const names = [...new Set([...deployedByName.keys(), ...localByName.keys()])];
      for (const name of names) fieldChanges(deployedByName.get(name), localByName.get(name), `${path}[${name}]`, out);
      return out;
    }
    if (deployed.length === local.length && deployed.some((item) => typeof item === 'object' && item !== null)) {
      deployed.forEach((item, index) => {
        fieldChanges(item, local[index], join(path, String(index)), out);
      });
      return out;
    }
  }
  out.push({ field: path, deployed, local });
  return out;
};

/** What differs between the deployed and the local configuration (both validated). */
export const configDrift = (deployedConfig: BakehouseConfig, localConfig: BakehouseConfig): ConfigDrift => {
  // Compared as the functions see them: JSON, undefined fields dropped.
  const deployed = JSON.parse(JSON.stringify(deployedConfig)) as BakehouseConfig;
  const local = JSON.parse(JSON.stringify(localConfig)) as BakehouseConfig;
  const deployedNames = deployed.families.map((f) => f.name);
  const localNames = local.families.map((f) => f.name);
  const changedFamilies = localNames
    .filter((name) => deployedNames.includes(name))
    .map((name) => ({
      family: name,
      changes: fieldChanges(
        deployed.families.find((f) => f.name === name),
        local.families.find((f) => f.name === name),
        '',
        [],
      ),
    }))
    .filter((family) => family.changes.length > 0);
  const common = (names: string[], other: string[]) => names.filter((name) => other.includes(name));
  return {
    addedFamilies: localNames.filter((name) => !deployedNames.includes(name)),
    removedFamilies: deployedNames.filter((name) => !localNames.includes(name)),
    changedFamilies,
    settings: fieldChanges(deployed.settings, local.settings, '', []),
    familyOrderChanged: common(deployedNames, localNames).join('\n') !== common(localNames, deployedNames).join('\n'),
  };
};

export const hasDrift = (drift: ConfigDrift): boolean =>
  drift.addedFamilies.length > 0 ||
  drift.removedFamilies.length > 0 ||
  drift.changedFamilies.length > 0 ||
  drift.settings.length > 0 ||
  drift.familyOrderChanged;

const MAX_VALUE_CHARS = 80;

/** A value in one line: JSON, shortened; `(absent)` for a field one side does not have. */
export const showValue = (value: unknown): string => {
  if (value === undefined) return '(absent)';
  const text = JSON.stringify(value);
  return text.length > MAX_VALUE_CHARS ? `${text.slice(0, MAX_VALUE_CHARS - 1)}…` : text;
};

const change = (who: string, c: FieldChange): string =>
  `~ ${who}: ${c.field}: deployed ${showValue(c.deployed)}, local ${showValue(c.local)}`;

/** The drift, one line per family added or removed and per changed field; empty when none. */
export const describeDrift = (drift: ConfigDrift): string[] => [
  ...drift.addedFamilies.map((name) => `+ family '${name}': in the local file only (not deployed)`),
  ...drift.removedFamilies.map((name) => `- family '${name}': deployed, not in the local file`),
  ...drift.changedFamilies.flatMap(({ family, changes }) => changes.map((c) => change(`family '${family}'`, c))),
  ...drift.settings.map((c) => change('settings', c)),
  ...(drift.familyOrderChanged ? ['~ families: listed in another order'] : []),
];

/** JSON for `--json`: absent values as null (JSON has no undefined). */
export const driftJson = (drift: ConfigDrift): unknown =>
  JSON.parse(JSON.stringify(drift, (_key, value: unknown) => (value === undefined ? null : value)));

// --- the configuration a command runs with -------------------------------------------------------

export interface ResolvedConfig {
  readonly config: BakehouseConfig;
  readonly source: 'deployed' | 'local';
  readonly parameter: string;
  readonly deployed?: DeployedConfig;
  readonly local: LocalConfig;
  readonly drift?: ConfigDrift;
  /** What to tell the operator on stderr, once each: the fallback, the local problems, the drift. */
  readonly notes: readonly string[];
}

const indent = (lines: readonly string[], marker = ''): string => lines.map((line) => `  ${marker}${line}`).join('\n');

/**
 * The configuration for a command: the deployed one when the stage has one, else the local file.
 * Throws a CliError naming every field and fix when the local file is all there is and is broken.
 */
export const resolveCommandConfig = async (input: {
  readonly ssm: Pick<SSMClient, 'send'>;
  readonly stage: string;
  readonly local: LocalConfig;
}): Promise<ResolvedConfig> => {
  const { local, stage } = input;
  const parameter = deployedConfigParameterName(parameterPrefixOf(local), stage);
  const lookup = await readDeployedConfig(input.ssm, parameter);
  if (!lookup.found) {
    if (!local.config) {
      throw new CliError(
        `${LOCAL_FILE} is invalid, and stage '${stage}' has no deployed configuration to use instead (${lookup.reason}):\n${indent(local.problems, '- ')}\nFix: correct the fields above (\`bakehouse config check\` lists them), or pass the --stage that is deployed`,
        { details: { problems: local.problems, parameter } },
      );
    }
    return {
      config: local.config,
      source: 'local',
      parameter,
      local,
      notes: [
        `bakehouse: stage '${stage}' has no deployed configuration (${lookup.reason}): using the local ${LOCAL_FILE}. Fix: deploy the stage (npx sst deploy --stage ${stage}) or pass the --stage that is deployed`,
      ],
    };
  }
  const { deployed } = lookup;
  const where = `the configuration deployed to stage '${stage}' (${parameter})`;
  const usingDeployed = (notes: readonly string[], drift?: ConfigDrift): ResolvedConfig => ({
    config: deployed.config,
    source: 'deployed',
    parameter,
    deployed,
    local,
    ...(drift ? { drift } : {}),
    notes,
  });
  if (!local.config) {
    return usingDeployed([
      `bakehouse: the local ${LOCAL_FILE} is invalid; this command uses ${where}. Fix the local file (\`bakehouse config check\` shows every problem):\n${indent(local.problems, '- ')}`,
    ]);
  }
  if (configHash(local.config) === deployed.sha256) return usingDeployed([]);
  const drift = configDrift(deployed.config, local.config);
  return usingDeployed(
    [
      `bakehouse: the local ${LOCAL_FILE} differs from ${where}; this command uses the deployed one. Deploy to apply the local file (npx sst deploy --stage ${stage}):\n${indent(describeDrift(drift))}`,
    ],
    drift,
  );
};
