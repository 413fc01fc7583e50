/**
 * The BakePipeline stack as the stack tests see it: synthesized offline once per test file (SST
 * cannot synthesize the same app twice in a process), with cdk-nag's AWS Solutions checks, and the
 * lookups the tests share over its template.
 *
 * A configuration given as data is synthesized once per test run, not once per file: the cloud
 * assembly is kept in `node_modules/.cache/bakehouse-stack-tests/<hash>`, by a hash of the options,
 * the configuration, this file and every synthesis input (`synthInputsHash`, as the sandbox's
 * assembly cache), and the test files that share options (the shipped configuration at stage `ci`)
 * read it from there. Each synthesis costs 15-25 s on a 2-core machine.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Template } from 'aws-cdk-lib/assertions';
import { CloudAssembly, type CloudFormationStackArtifact } from 'aws-cdk-lib/cx-api';
import type { App } from 'sst/constructs';
import { afterAll, beforeAll } from 'vitest';
import { fillOnce, pruneCache } from '../../../dev/fill-once';
import { synthInputsHash } from '../../../dev/synth';
import type { BakehouseConfig, ConfigInput } from '../../../functions/commons/families';

export type Resource = { Type: string; Properties?: Record<string, unknown>; Metadata?: Record<string, unknown> };
export type Statement = {
  Sid?: string;
  Effect: string;
  Action: string | string[];
  Resource?: unknown;
  Principal?: unknown;
  Condition?: Record<string, Record<string, unknown>>;
};

export interface PipelineOptions {
  readonly stage: string;
  readonly account: string;
  readonly region: string;
  /**
   * The Bakehouse configuration to add the stacks with; `'sst.config.ts'` for the app exactly as
   * sst.config.ts declares it (its own `stacks`), cached like data since that file and everything
   * it reads are synthesis inputs; or a function that adds the stacks itself (never cached).
   */
  readonly config: ConfigInput | BakehouseConfig | 'sst.config.ts' | ((app: App) => void | Promise<void>);
}

export const asList = <T>(value: T | T[]): T[] => (Array.isArray(value) ? value : [value]);

const isLogicalIdOf = (id: string, constructId: string): boolean =>
  // L2 constructs get a hash suffix; L1 constructs directly in the stack keep their id.
  id === constructId || (id.startsWith(constructId) && /^[0-9A-F]{8}$/.test(id.slice(constructId.length)));

const lookups = (artifact: CloudFormationStackArtifact) => {
  const resources = (artifact.template as { Resources: Record<string, Resource> }).Resources;
  const ofType = (type: string): [string, Resource][] => Object.entries(resources).filter(([, r]) => r.Type === type);
  const logicalIdOf = (type: string, constructId: string): string => {
    const found = ofType(type).filter(([id]) => isLogicalIdOf(id, constructId));
    if (found.length !== 1)
      throw new Error(
        `expected one ${type} ${constructId}, found ${found.length}: ${found.map(([id]) => id).join(', ')}`,
      );
    return (found[0] as [string, Resource])[0];
  };
  const functionId = (constructId: string): string => logicalIdOf('AWS::Lambda::Function', constructId);
  /** The statements of the policies attached to a role, by its logical id. */
  const roleStatements = (roleId: string): Statement[] =>
    ofType('AWS::IAM::Policy')
      .filter(([, r]) => JSON.stringify(r.Properties?.Roles ?? []).includes(JSON.stringify({ Ref: roleId })))
      .flatMap(([, r]) => (r.Properties?.PolicyDocument as { Statement?: Statement[] } | undefined)?.Statement ?? []);
  return {
    resources,
    ofType,
    logicalIdOf,
    functionId,
    queueArn: (constructId: string) => ({ 'Fn::GetAtt': [logicalIdOf('AWS::SQS::Queue', constructId), 'Arn'] }),
    roleStatements,
    /** The statements of the policies attached to a function's role, by the function's construct id. */
    functionStatements: (functionConstructId: string): Statement[] =>
      roleStatements(logicalIdOf('AWS::IAM::Role', `${functionConstructId}Role`)),
    environmentOf: (functionConstructId: string): Record<string, unknown> =>
      (
        resources[functionId(functionConstructId)]?.Properties?.Environment as
          | { Variables?: Record<string, unknown> }
          | undefined
      )?.Variables ?? {},
    /** cdk-nag's AwsSolutions messages at a level, as `<path>: <first line>`. */
    nagMessages: (level: string): string[] =>
      artifact.messages
        .filter((m) => m.level === level && String(m.entry.data).includes('AwsSolutions-'))
        .map((m) => `${m.id}: ${String(m.entry.data).split('\n')[0]}`),
  };
};

export type SynthesizedPipeline = ReturnType<typeof lookups> & {
  readonly outdir: string;
  readonly artifact: CloudFormationStackArtifact;
  readonly template: Template;
  /** Removes the cloud assembly directory. */
  readonly cleanup: () => void;
};

const ROOT = resolve(import.meta.dirname, '..', '..', '..');
const CACHE_DIR = join(ROOT, 'node_modules', '.cache', 'bakehouse-stack-tests');

/** The cache directory of a synthesis from data, or undefined for a configuration given as code. */
const cachedAssemblyDir = (options: PipelineOptions): string | undefined => {
  if (typeof options.config === 'function') return undefined;
  const { stage, account, region, config } = options;
  const hash = synthInputsHash(ROOT, {
    stage,
    account,
    region,
    config: JSON.stringify(config),
    support: readFileSync(import.meta.filename, 'utf8'),
  });
  return join(CACHE_DIR, hash);
};

const synthesizeInto = async (options: PipelineOptions, outdir: string): Promise<void> => {
  const { stage, account, region, config } = options;
  // Loaded here, not at the top: a file that finds its assembly in the cache never loads SST and
  // the stacks (sst/constructs alone takes about 2 s to import, in every test file's fresh worker).
  const [
    { Aspects },
    { AwsSolutionsChecks },
    { useBundleCache },
    { default: sstConfig, LAMBDA_DEFAULTS },
    { bakehouseStacks },
    { synthesizeOffline },
  ] = await Promise.all([
    import('aws-cdk-lib'),
    import('cdk-nag'),
    import('../../../dev/bundle-cache'),
    import('../../../sst.config'),
    import('../../../stacks'),
    import('../../../stacks/synthesize'),
  ]);
  await synthesizeOffline({
    stage,
    region,
    account,
    outdir,
    configure: async (app) => {
      // The bundles npm start and npm run synth built are reused while their inputs are unchanged.
      await useBundleCache({ root: ROOT });
      if (config === 'sst.config.ts') sstConfig.stacks(app);
      else if (typeof config === 'function') await config(app);
      else bakehouseStacks(config, LAMBDA_DEFAULTS)(app);
      Aspects.of(app).add(new AwsSolutionsChecks({ logIgnores: true }));
    },
  });
};

/**
 * Synthesizes the app offline and returns its BakePipeline stack: into a temporary directory for a
 * configuration given as code, into (or from) the run's cache for one given as data.
 */
export const synthesizePipeline = async (options: PipelineOptions): Promise<SynthesizedPipeline> => {
  const { stage } = options;
  const cached = cachedAssemblyDir(options);
  const outdir = cached ?? mkdtempSync(join(tmpdir(), `bakehouse-${stage}-test-`));
  // A cached assembly stays for the next file; a temporary one goes with this file.
  const cleanup = cached ? () => {} : () => rmSync(outdir, { recursive: true, force: true });
  try {
    if (!cached) await synthesizeInto(options, outdir);
    else {
      // One file synthesizes while the files that start meanwhile wait for it (dev/fill-once.ts).
      await fillOnce(
        cached,
        () => existsSync(join(cached, 'manifest.json')),
        (into) => synthesizeInto(options, into),
      );
      // The dozen entries used last are kept (a run uses six), and any used within the hour.
      pruneCache(CACHE_DIR, { isEntry: (name) => /^[0-9a-f]{16}$/.test(name), used: cached, keep: 12 });
    }
    const assembly = new CloudAssembly(outdir);
    const artifact = assembly.stacks.find((s) => s.stackName === `${stage}-bakehouse-BakePipeline`);
    if (!artifact) throw new Error(`no BakePipeline stack in ${assembly.stacks.map((s) => s.stackName).join(', ')}`);
    const template = Template.fromJSON(artifact.template as Record<string, unknown>);
    return { ...lookups(artifact), outdir, artifact, template, cleanup };
  } catch (error: unknown) {
    cleanup();
    throw error;
  }
};

/**
 * Synthesizes the pipeline in the test file's `beforeAll` and removes it in its `afterAll`. The
 * returned handle is usable at module scope; its members read the synthesis once it has run.
 */
export const pipelineStack = (options: PipelineOptions): SynthesizedPipeline => {
  let synthesized: SynthesizedPipeline | undefined;
  beforeAll(async () => {
    synthesized = await synthesizePipeline(options);
  });
  afterAll(() => synthesized?.cleanup());
  const current = (): SynthesizedPipeline => {
    if (!synthesized) throw new Error('the pipeline is synthesized in beforeAll; use it inside a test');
    return synthesized;
  };
  return {
    get outdir() {
      return current().outdir;
    },
    get artifact() {
      return current().artifact;
    },
    get template() {
      return current().template;
    },
    get resources() {
      return current().resources;
    },
    ofType: (type) => current().ofType(type),
    logicalIdOf: (type, constructId) => current().logicalIdOf(type, constructId),
    functionId: (constructId) => current().functionId(constructId),
    queueArn: (constructId) => current().queueArn(constructId),
    roleStatements: (roleId) => current().roleStatements(roleId),
    functionStatements: (functionConstructId) => current().functionStatements(functionConstructId),
    environmentOf: (functionConstructId) => current().environmentOf(functionConstructId),
    nagMessages: (level) => current().nagMessages(level),
    cleanup: () => current().cleanup(),
  };
};
