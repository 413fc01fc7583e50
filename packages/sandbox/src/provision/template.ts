/**
 * The parts of a CDK cloud assembly provisioning reads: the manifest (which stacks, in which
 * environment), a stack's CloudFormation template, and its file assets (Lambda bundles, state
 * machine definitions) by the S3 location the template names them with.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

export interface CfnResource {
  readonly Type: string;
  readonly Properties?: Record<string, unknown>;
  readonly DependsOn?: string | readonly string[];
  readonly Condition?: string;
  readonly Metadata?: Record<string, unknown>;
}

export interface CfnParameter {
  readonly Type: string;
  readonly Default?: unknown;
}

export interface CfnTemplate {
  readonly Parameters?: Record<string, CfnParameter>;
  readonly Conditions?: Record<string, unknown>;
  readonly Mappings?: Record<string, Record<string, Record<string, unknown>>>;
  readonly Resources: Record<string, CfnResource>;
  readonly Outputs?: Record<string, { Value: unknown }>;
}

export interface AssemblyStack {
  readonly stackName: string;
  readonly templateFile: string;
  /** From the artifact's `aws://account/region` environment; undefined when environment-agnostic. */
  readonly account?: string;
  readonly region?: string;
  readonly template: CfnTemplate;
}

interface ManifestArtifact {
  readonly type: string;
  readonly environment?: string;
  readonly properties?: { templateFile?: string; stackName?: string; file?: string };
}

interface AssetManifest {
  readonly files?: Record<
    string,
    {
      source: { path?: string; packaging?: string };
      destinations: Record<string, { bucketName: string; objectKey: string }>;
    }
  >;
}

/** The assembly has no such stack, or it is not a cloud assembly. */
export class AssemblyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AssemblyError';
  }
}

const readJson = <T>(file: string): T => JSON.parse(readFileSync(file, 'utf8')) as T;

const manifestArtifacts = (assemblyDir: string): Record<string, ManifestArtifact> => {
  const file = join(assemblyDir, 'manifest.json');
  if (!existsSync(file)) throw new AssemblyError(`${assemblyDir} is not a cloud assembly (no manifest.json)`);
  return readJson<{ artifacts?: Record<string, ManifestArtifact> }>(file).artifacts ?? {};
};

/** Every CloudFormation stack of the assembly, in manifest order. */
export const readAssemblyStacks = (assemblyDir: string): AssemblyStack[] =>
  Object.entries(manifestArtifacts(assemblyDir))
    .filter(([, artifact]) => artifact.type === 'aws:cloudformation:stack')
    .map(([id, artifact]) => {
      const templateFile = artifact.properties?.templateFile ?? `${id}.template.json`;
      const env = /^aws:\/\/([^/]+)\/(.+)$/.exec(artifact.environment ?? '');
      const account = env?.[1] && /^\d{12}$/.test(env[1]) ? env[1] : undefined;
      const region = env?.[2] && !env[2].startsWith('unknown') ? env[2] : undefined;
      return {
        stackName: artifact.properties?.stackName ?? id,
        templateFile,
        ...(account === undefined ? {} : { account }),
        ...(region === undefined ? {} : { region }),
        template: readJson<CfnTemplate>(join(assemblyDir, templateFile)),
      };
    });

export const readAssemblyStack = (assemblyDir: string, stackName?: string): AssemblyStack => {
  const stacks = readAssemblyStacks(assemblyDir);
  const names = stacks.map((stack) => stack.stackName).join(', ') || 'none';
  if (stackName === undefined) {
    const [only, ...others] = stacks;
    if (!only || others.length > 0) {
      throw new AssemblyError(`the assembly in ${assemblyDir} has stacks ${names}: name the one to provision`);
    }
    return only;
  }
  const found = stacks.find((stack) => stack.stackName === stackName);
  if (!found) throw new AssemblyError(`the assembly in ${assemblyDir} has no stack '${stackName}' (it has ${names})`);
  return found;
};

/**
 * The local path of the file asset published to `s3://bucket/key`, from the assembly's asset
 * manifests; falls back to CDK's `asset.<key>` naming.
 */
export const assetPath = (assemblyDir: string, key: string): string => {
  for (const artifact of Object.values(manifestArtifacts(assemblyDir))) {
    if (artifact.type !== 'cdk:asset-manifest' || !artifact.properties?.file) continue;
    const manifest = readJson<AssetManifest>(join(assemblyDir, artifact.properties.file));
    for (const asset of Object.values(manifest.files ?? {})) {
      const published = Object.values(asset.destinations).some((destination) => destination.objectKey === key);
      if (published && asset.source.path) return resolve(assemblyDir, asset.source.path);
    }
  }
  const fallback = resolve(assemblyDir, `asset.${key}`);
  if (existsSync(fallback)) return fallback;
  throw new AssemblyError(`no asset in ${assemblyDir} is published as '${key}'`);
};
