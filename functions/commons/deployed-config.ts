/**
 * The configuration a stage runs, published in one SSM parameter so that the operator CLI works
 * with what is deployed, not with whatever `bakehouse.config.ts` says on one laptop (issue 18).
 * The stack writes it (stacks/deployed-config.ts); the CLI reads it (cli/config-source.ts).
 *
 * Name: `<parameterPrefix>/_config/<stage>`. Under the prefix every other Bakehouse parameter
 * lives under (channels `<prefix>/<family>/<channel>`, `_callbacks`, `_janitor`); `_config` is no
 * family's name (a family name starts with a letter); one per stage, so two stages that share a
 * prefix in one account do not overwrite each other's.
 *
 * Content: the validated configuration as the functions see it (loadConfig's output, compiled
 * into every bundle as JSON by `bundleDefines`), with the SHA-256 of its canonical JSON (keys
 * sorted) so the CLI compares it with the local file's without diffing. The JSON is gzipped and
 * base64-encoded inside a small JSON envelope:
 *
 *   {"format":"bakehouse.deployed-config/1","sha256":"…","encoding":"gzip+base64","config":"H4sI…"}
 *
 * (`aws ssm get-parameter --name /bakehouse/_config/dev --query Parameter.Value --output text |
 * jq -r .config | base64 -d | gunzip` shows it.)
 *
 * Size: a parameter value holds at most 4 KB in the Standard tier and 8 KB in the Advanced tier;
 * Advanced parameters are charged, and an Advanced parameter can never be turned back into a
 * Standard one (AWS Systems Manager User Guide, "Managing parameter tiers",
 * https://docs.aws.amazon.com/systems-manager/latest/userguide/parameter-store-advanced-parameters.html).
 * The shipped configuration is about 6 KB of JSON and a 2.6 KB value compressed, so compression
 * keeps it, and configurations half again as large, in the free Standard tier. The stack asks for the
 * `Intelligent-Tiering` tier: Parameter Store then creates a Standard parameter while the value fits
 * in 4 KB and upgrades it to Advanced only when a value needs it ("Specifying a default parameter
 * tier", https://docs.aws.amazon.com/systems-manager/latest/userguide/ps-default-tier.html); asking
 * for Standard or Advanced by size instead would fail the deploy that shrinks a value back under
 * 4 KB (no downgrade). A value over 8 KB fails synthesis with `ConfigError`, naming the fix.
 */
import { gunzipSync, gzipSync } from 'node:zlib';
import { BakehouseError, ConfigError } from './errors';
import type { BakehouseConfig } from './families';
import { canonicalJson, sha256Hex } from './hashing';

export const DEPLOYED_CONFIG_FORMAT = 'bakehouse.deployed-config/1';
const ENCODING = 'gzip+base64';

/** A Standard parameter's value limit (4 KB), and an Advanced one's (8 KB): see the header. */
export const STANDARD_PARAMETER_MAX_BYTES = 4096;
export const ADVANCED_PARAMETER_MAX_BYTES = 8192;

/** The deployed configuration of a stage is `<parameterPrefix>/_config/<stage>`. */
export const deployedConfigParameterName = (parameterPrefix: string, stage: string): string =>
  `${parameterPrefix}/_config/${stage}`;

/** The tier a value of `bytes` needs; undefined over the Advanced limit. */
export const parameterTierFor = (bytes: number): 'Standard' | 'Advanced' | undefined =>
  bytes <= STANDARD_PARAMETER_MAX_BYTES ? 'Standard' : bytes <= ADVANCED_PARAMETER_MAX_BYTES ? 'Advanced' : undefined;

/** A parameter value that is not a deployed configuration this version can read. */
export class DeployedConfigError extends BakehouseError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'DeployedConfigError';
  }
}

/** The configuration as a function sees it: its JSON (undefined fields dropped). */
const asFunctionsSeeIt = (config: BakehouseConfig): BakehouseConfig =>
  JSON.parse(JSON.stringify(config)) as BakehouseConfig;

/** The content hash: SHA-256 of the canonical JSON (keys sorted at every level), as hex. */
export const configHash = (config: BakehouseConfig): string => sha256Hex(canonicalJson(asFunctionsSeeIt(config)));

export interface EncodedConfig {
  readonly value: string;
  readonly sha256: string;
  /** The value's size in bytes (UTF-8), what Parameter Store's limits count. */
  readonly bytes: number;
  /** The tier Parameter Store gives the value under Intelligent-Tiering. */
  readonly tier: 'Standard' | 'Advanced';
}

/** The parameter value for a validated configuration; `ConfigError` when it exceeds 8 KB. */
export const encodeDeployedConfig = (config: BakehouseConfig): EncodedConfig => {
  const json = JSON.stringify(asFunctionsSeeIt(config));
  const sha256 = configHash(config);
  // level 9: the value is written once per deploy and read by every CLI command; smaller is better.
  const compressed = gzipSync(json, { level: 9 }).toString('base64');
  const value = JSON.stringify({ format: DEPLOYED_CONFIG_FORMAT, sha256, encoding: ENCODING, config: compressed });
  const bytes = Buffer.byteLength(value, 'utf8');
  const tier = parameterTierFor(bytes);
  if (tier === undefined) {
    throw new ConfigError([
      `families: the configuration the stack publishes for the CLI (SSM parameter <prefix>/_config/<stage>) is ${bytes} bytes compressed, more than the ${ADVANCED_PARAMETER_MAX_BYTES} bytes an SSM parameter holds. Fix: shorten long inline scripts, tests and descriptions (ship longer logic as a package, install.packages), or split the families over two stages`,
    ]);
  }
  return { value, sha256, bytes, tier };
};

export interface DecodedConfig {
  readonly config: BakehouseConfig;
  readonly sha256: string;
}

const refuse = (why: string, cause?: unknown): never => {
  throw new DeployedConfigError(
    `the deployed configuration parameter ${why}. Fix: deploy the stage again (npx sst deploy --stage <stage>) with this version of Bakehouse`,
    cause === undefined ? undefined : { cause },
  );
};

/** The configuration in a parameter value; `DeployedConfigError` when it is not one, or corrupt. */
export const decodeDeployedConfig = (value: string): DecodedConfig => {
  let envelope: Record<string, unknown>;
  try {
    envelope = JSON.parse(value) as Record<string, unknown>;
  } catch (error) {
    return refuse('is not JSON', error);
  }
  if (envelope === null || typeof envelope !== 'object' || envelope.format !== DEPLOYED_CONFIG_FORMAT) {
    return refuse(
      `has format ${JSON.stringify((envelope as { format?: unknown } | null)?.format)}, not '${DEPLOYED_CONFIG_FORMAT}'`,
    );
  }
  if (envelope.encoding !== ENCODING || typeof envelope.config !== 'string' || typeof envelope.sha256 !== 'string') {
    return refuse(`is not encoded as ${ENCODING} with a sha256`);
  }
  let config: BakehouseConfig;
  try {
    config = JSON.parse(gunzipSync(Buffer.from(envelope.config, 'base64')).toString('utf8')) as BakehouseConfig;
  } catch (error) {
    return refuse('does not decompress to JSON', error);
  }
  if (!Array.isArray(config?.families) || typeof config.settings !== 'object' || config.settings === null) {
    return refuse('holds no settings and families');
  }
  const sha256 = configHash(config);
  if (sha256 !== envelope.sha256) return refuse(`content does not match its hash (${envelope.sha256})`);
  return { config, sha256 };
};
