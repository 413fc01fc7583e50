/**
 * `bakehouse config check [--json]`: validates the local bakehouse.config.ts and prints every
 * problem with its field and its fix, then its drift from the configuration the stage runs
 * (cli/config-source.ts). Exits 1 when the file has problems.
 *
 * Besides every field loadConfig checks, it asks the target what a bake would find only when it
 * runs, as PlanBake resolves a source
 * (functions/plan-bake/core.ts resolveSource): an SSM parameter source must exist and name an
 * available image, an AMI filter must match one, and the image must have the family's
 * architecture (an arm64 image never bakes into an x86_64 family); a family built on another must
 * share its parent's architecture. When the target cannot be asked (no credentials, nothing
 * listening), the file's own checks still run and the output says the sources were not checked.
 *
 * ShellCheck over the Linux scripts stays with synthesis (`npm run synth`): it renders the scripts
 * into the automation documents (automation/), which the shipped CLI does not carry.
 */
import type { Image } from '@aws-sdk/client-ec2';
import { GetParameterCommand } from '@aws-sdk/client-ssm';
import { describeImage } from '../../functions/commons/channels';
import { configHash, deployedConfigParameterName } from '../../functions/commons/deployed-config';
import { errorNameOf } from '../../functions/commons/errors';
import type { BakehouseConfig, Family } from '../../functions/commons/families';
import { newestImage } from '../../functions/commons/newest-image';
import {
  type ConfigDrift,
  configDrift,
  type DeployedLookup,
  describeDrift,
  driftJson,
  hasDrift,
  LOCAL_FILE,
  type LocalConfig,
  loadLocalConfig,
  parameterPrefixOf,
  readDeployedConfig,
} from '../config-source';
import { type CommandContext, say, sayJson } from '../context';
import { ExitCode, explainError } from '../errors';

export type CheckContext = Omit<CommandContext, 'config'>;

export interface ConfigCheckOptions {
  /** The local file's export, unvalidated. */
  readonly load: () => Promise<unknown>;
}

export interface Problem {
  readonly family: string | null;
  readonly field: string | null;
  readonly message: string;
  readonly fix: string | null;
  /** The whole line, as printed. */
  readonly text: string;
}

/** `family 'x': builder.subnetId: <what is wrong>. Fix: <the fix>` split into its parts. */
export const parseProblem = (text: string): Problem => {
  let rest = text;
  const familyMatch = /^family '([^']+)': /.exec(rest);
  if (familyMatch) rest = rest.slice(familyMatch[0].length);
  const fieldMatch = /^([\w$.[\]-]+(?: line \d+)?): /.exec(rest);
  if (fieldMatch) rest = rest.slice(fieldMatch[0].length);
  const fixAt = rest.indexOf('Fix: ');
  return {
    family: familyMatch?.[1] ?? null,
    field: fieldMatch?.[1] ?? null,
    message: (fixAt < 0 ? rest : rest.slice(0, fixAt)).trim().replace(/\.$/, ''),
    fix: fixAt < 0 ? null : rest.slice(fixAt + 'Fix: '.length).trim(),
    text,
  };
};

const AMI_ID = /^ami-[0-9a-f]{8}([0-9a-f]{9})?$/;

type SourceDeps = Pick<CheckContext, 'clients' | 'target'>;

const architectureProblem = (family: Family, image: Image, from: string): string[] =>
  image.Architecture && image.Architecture !== family.architecture
    ? [
        `family '${family.name}': architecture: the source image ${image.ImageId} (${from}) is ${image.Architecture}, but the family is ${family.architecture}: the bake would fail when it resolves the source. Fix: set architecture: '${image.Architecture}', or point source at an ${family.architecture} image`,
      ]
    : [];

const readSourceParameter = async (name: string, deps: SourceDeps): Promise<string | undefined> => {
  try {
    return (await deps.clients.ssm.send(new GetParameterCommand({ Name: name }))).Parameter?.Value;
  } catch (error) {
    if (errorNameOf(error) === 'ParameterNotFound') return undefined;
    throw error;
  }
};

/** What PlanBake would refuse about a family's source on this target, as problems. */
const sourceProblemsOf = async (family: Family, config: BakehouseConfig, deps: SourceDeps): Promise<string[]> => {
  const region = deps.target.region ?? 'the target region';
  const { source } = family;
  if ('ssmParameter' in source) {
    const value = await readSourceParameter(source.ssmParameter, deps);
    if (value === undefined) {
      return [
        `family '${family.name}': source.ssmParameter: '${source.ssmParameter}' does not exist in ${region}. Fix: check the parameter path and the region`,
      ];
    }
    if (!AMI_ID.test(value)) {
      return [
        `family '${family.name}': source.ssmParameter: '${source.ssmParameter}' holds '${value.slice(0, 60)}', not an AMI id. Fix: name a parameter whose value is an AMI id`,
      ];
    }
    const image = await describeImage(value, deps.clients.ec2);
    if (image?.State !== 'available') {
      return [
        `family '${family.name}': source.ssmParameter: '${source.ssmParameter}' names ${value}, which is ${image?.State ?? 'not found'} in ${region}. Fix: point the source at an available image`,
      ];
    }
    return architectureProblem(family, image, source.ssmParameter);
  }
  if ('amiFilter' in source) {
    const image = await newestImage(deps.clients.ec2, source.amiFilter.owners, source.amiFilter.filters);
    if (!image) {
      return [
        `family '${family.name}': source.amiFilter: matches no available image in ${region}. Fix: check the owners and filters`,
      ];
    }
    return architectureProblem(family, image, 'the newest image the amiFilter matches');
  }
  const parent = config.families.find((f) => f.name === source.family);
  if (parent && parent.architecture !== family.architecture) {
    return [
      `family '${family.name}': architecture: the family is ${family.architecture}, but its parent '${parent.name}' is ${parent.architecture}, and a child bakes from its parent's images. Fix: set architecture: '${parent.architecture}', or build on a family of the same architecture`,
    ];
  }
  return [];
};

interface SourceCheck {
  readonly problems: readonly string[];
  /** Why the sources could not be checked on the target; undefined when they were. */
  readonly skipped?: string;
}

const checkSources = async (config: BakehouseConfig, ctx: CheckContext): Promise<SourceCheck> => {
  try {
    const problems = await Promise.all(config.families.map((family) => sourceProblemsOf(family, config, ctx)));
    return { problems: problems.flat() };
  } catch (error) {
    const explained = explainError(error, {
      endpoint: ctx.target.endpoint,
      sandbox: ctx.target.sandbox,
      stage: ctx.stage,
    });
    return { problems: [], skipped: explained.message };
  }
};

const lookupDeployment = async (local: LocalConfig, ctx: CheckContext): Promise<DeployedLookup> => {
  const parameter = deployedConfigParameterName(parameterPrefixOf(local), ctx.stage);
  try {
    return await readDeployedConfig(ctx.clients.ssm, parameter);
  } catch (error) {
    const explained = explainError(error, {
      endpoint: ctx.target.endpoint,
      sandbox: ctx.target.sandbox,
      stage: ctx.stage,
    });
    return { found: false, parameter, reason: explained.message };
  }
};

const targetName = (ctx: CheckContext): string => ctx.target.endpoint ?? `AWS (${ctx.target.region ?? 'AWS_REGION'})`;

export const configCheckCommand = async (ctx: CheckContext, options: ConfigCheckOptions): Promise<number> => {
  const local = await loadLocalConfig(options.load);
  const config = local.config;
  const [sources, deployment] = await Promise.all([
    config
      ? checkSources(config, ctx)
      : Promise.resolve<SourceCheck>({ problems: [], skipped: `${LOCAL_FILE} is invalid` }),
    lookupDeployment(local, ctx),
  ]);
  const problems = [...local.problems, ...sources.problems];
  const localSha256 = config ? configHash(config) : null;
  const drift: ConfigDrift | null =
    config && deployment.found && deployment.deployed.sha256 !== localSha256
      ? configDrift(deployment.deployed.config, config)
      : null;
  const valid = problems.length === 0;

  if (ctx.json) {
    sayJson(ctx, {
      file: LOCAL_FILE,
      valid,
      problems: problems.map(parseProblem),
      sources: {
        checked: sources.skipped === undefined,
        target: targetName(ctx),
        ...(sources.skipped === undefined ? {} : { reason: sources.skipped }),
      },
      localSha256,
      deployment: deployment.found
        ? {
            stage: ctx.stage,
            parameter: deployment.deployed.parameter,
            found: true,
            sha256: deployment.deployed.sha256,
            version: deployment.deployed.version ?? null,
            lastModified: deployment.deployed.lastModified?.toISOString() ?? null,
          }
        : { stage: ctx.stage, parameter: deployment.parameter, found: false, reason: deployment.reason },
      drift: drift ? driftJson(drift) : null,
    });
    return valid ? ExitCode.Ok : ExitCode.Failure;
  }

  if (valid) {
    say(ctx, `${LOCAL_FILE} is valid (${config?.families.length ?? 0} families)`);
  } else {
    say(ctx, `${LOCAL_FILE} has ${problems.length} problem${problems.length === 1 ? '' : 's'}:`);
    for (const problem of problems) say(ctx, `  - ${problem}`);
  }
  say(
    ctx,
    sources.skipped === undefined
      ? `Source images checked on ${targetName(ctx)}.`
      : `Source images not checked on ${targetName(ctx)}: ${sources.skipped}`,
  );
  if (!deployment.found) {
    say(ctx, `Stage '${ctx.stage}' has no deployed configuration to compare with (${deployment.reason}).`);
  } else if (!config) {
    say(
      ctx,
      `Stage '${ctx.stage}' runs the configuration in ${deployment.deployed.parameter}; the local file is compared with it once it is valid.`,
    );
  } else if (!drift || !hasDrift(drift)) {
    say(ctx, `The local file is the same as deployed to stage '${ctx.stage}' (${deployment.deployed.parameter}).`);
  } else {
    say(
      ctx,
      `Drift from the configuration deployed to stage '${ctx.stage}' (${deployment.deployed.parameter}); deploy to apply (npx sst deploy --stage ${ctx.stage}):`,
    );
    for (const line of describeDrift(drift)) say(ctx, `  ${line}`);
  }
  return valid ? ExitCode.Ok : ExitCode.Failure;
};
