/**
 * The BakePipeline stack as the stack tests see it: synthesized offline once per test file (SST
 * cannot synthesize the same app twice in a process), with cdk-nag's AWS Solutions checks, and the
 * lookups the tests share over its template.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Aspects } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import type { CloudFormationStackArtifact } from 'aws-cdk-lib/cx-api';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { App } from 'sst/constructs';
import { afterAll, beforeAll } from 'vitest';
import type { BakehouseConfig, ConfigInput } from '../../../functions/commons/families';
import { LAMBDA_DEFAULTS } from '../../../sst.config';
import { bakehouseStacks } from '../../../stacks';
import { synthesizeOffline } from '../../../stacks/synthesize';

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
  /** The Bakehouse configuration to add the stacks with, or a function that adds them itself. */
  readonly config: ConfigInput | BakehouseConfig | ((app: App) => void | Promise<void>);
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

/** Synthesizes the app offline into a temporary directory and returns its BakePipeline stack. */
export const synthesizePipeline = async (options: PipelineOptions): Promise<SynthesizedPipeline> => {
  const { stage, account, region, config } = options;
  const outdir = mkdtempSync(join(tmpdir(), `bakehouse-${stage}-test-`));
  const cleanup = () => rmSync(outdir, { recursive: true, force: true });
  try {
    const { assembly } = await synthesizeOffline({
      stage,
      region,
      account,
      outdir,
      configure: async (app) => {
        if (typeof config === 'function') await config(app);
        else bakehouseStacks(config, LAMBDA_DEFAULTS)(app);
        Aspects.of(app).add(new AwsSolutionsChecks({ logIgnores: true }));
      },
    });
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
