/**
 * Provisions a running sandbox from a synthesized CloudFormation template: the same stacks that
 * deploy to AWS, with no second wiring. Every emulated resource is created (or updated in place)
 * through the sandbox's own AWS APIs, dependencies first; everything else is reported as not
 * emulated or unsupported.
 */
import { SandboxRuntime } from '../runtime';
import { applyResource, type Outcome, provisioningOrder, supportOf } from './plan';
import { TemplateResolver } from './resolver';
import { readAssemblyStack } from './template';

// The steps provisioning is made of, for tests that check a template's plan without a sandbox.
export { generatedName } from './physical';
export { type PlannedResource, planResource, provisioningOrder, supportOf } from './plan';
export { TemplateResolver } from './resolver';
export { type AssemblyStack, type CfnTemplate, readAssemblyStack } from './template';

/** A started sandbox in this process, or one reached by URL. */
export type ProvisionTarget =
  | {
      readonly runtime: Pick<SandboxRuntime, 'callAws'>;
      readonly account: string;
      /** The sandbox's `addAssets`: the assembly's Lambda code is published before the template is applied. */
      readonly addAssets?: (dir: string) => void;
    }
  | { readonly url: string; readonly account?: string };

export interface ProvisionOptions {
  readonly sandbox: ProvisionTarget;
  /** The cloud assembly directory (`cdk.out`, or `synthesizeForSandbox().assemblyDir`). */
  readonly assemblyDir: string;
  /** Needed when the assembly has more than one stack. */
  readonly stackName?: string;
  /** Stack parameter values over the defaults. */
  readonly parameters?: Readonly<Record<string, string>>;
}

export interface ProvisionedResource {
  readonly logicalId: string;
  readonly type: string;
  readonly physicalId: string;
  readonly arn?: string;
  readonly outcome: Outcome;
}

export interface SkippedResource {
  readonly logicalId: string;
  readonly type: string;
}

export interface ProvisionReport {
  readonly stack: string;
  readonly account: string;
  readonly region: string;
  /** Every emulated resource, created, updated in place or found unchanged. */
  readonly created: readonly ProvisionedResource[];
  /** Types the sandbox needs no emulation for (IAM, log groups, alarms, SQS, custom resources). */
  readonly notEmulated: readonly SkippedResource[];
  /** Types the sandbox does not know. */
  readonly unsupported: readonly SkippedResource[];
  /** Emulated resources whose calls failed, with the error. */
  readonly failed: readonly (SkippedResource & { readonly error: string })[];
  readonly warnings: readonly string[];
}

const describeError = (error: unknown): string =>
  error instanceof Error ? `${error.name}: ${error.message}` : String(error);

const connect = async (target: ProvisionTarget) => {
  if ('runtime' in target)
    return { callAws: target.runtime.callAws.bind(target.runtime), account: target.account, close: () => {} };
  const runtime = new SandboxRuntime(
    () => target.url,
    () => {
      throw new Error('a provisioning connection has no service context');
    },
  );
  const account =
    target.account ?? String((await runtime.callAws('sts', 'GetCallerIdentity', {})).Account ?? '000000000000');
  return { callAws: runtime.callAws.bind(runtime), account, close: () => runtime.close() };
};

export const provisionFromAssembly = async (options: ProvisionOptions): Promise<ProvisionReport> => {
  const stack = readAssemblyStack(options.assemblyDir, options.stackName);
  if ('runtime' in options.sandbox) options.sandbox.addAssets?.(options.assemblyDir);
  const connection = await connect(options.sandbox);
  try {
    const region = stack.region ?? 'us-east-1';
    const warnings: string[] = [];
    if (stack.account && stack.account !== connection.account) {
      warnings.push(
        `the stack was synthesized for account ${stack.account}, the sandbox is ${connection.account}: ids the template spells out keep ${stack.account}`,
      );
    }
    const call = (service: string, action: string, input: Record<string, unknown>) =>
      connection.callAws(service, action, input, { region });
    const parameters = { ...(await ssmParameterValues(stack.template.Parameters ?? {}, call)), ...options.parameters };
    const resolver = new TemplateResolver(
      stack.template,
      { account: connection.account, region, stackName: stack.stackName },
      { parameters },
    );
    const created: ProvisionedResource[] = [];
    const notEmulated: SkippedResource[] = [];
    const unsupported: SkippedResource[] = [];
    const failed: (SkippedResource & { error: string })[] = [];
    for (const logicalId of provisioningOrder(resolver)) {
      const type = stack.template.Resources[logicalId]?.Type ?? '';
      const support = supportOf(type);
      if (support === 'notEmulated') notEmulated.push({ logicalId, type });
      if (support === 'unsupported') unsupported.push({ logicalId, type });
      if (support !== 'emulated') continue;
      try {
        const outcome = await applyResource(resolver, options.assemblyDir, logicalId, call);
        created.push({ logicalId, type, ...resolver.ids(logicalId), outcome });
      } catch (error) {
        failed.push({ logicalId, type, error: describeError(error) });
      }
    }
    return {
      stack: stack.stackName,
      account: connection.account,
      region,
      created,
      notEmulated,
      unsupported,
      failed,
      warnings,
    };
  } finally {
    connection.close();
  }
};

/**
 * Values of `AWS::SSM::Parameter::Value<…>` parameters (CDK's BootstrapVersion) read from the
 * sandbox's Parameter Store when they are there; a missing one only fails a resource that uses it.
 */
const ssmParameterValues = async (
  parameters: Readonly<Record<string, { Type: string; Default?: unknown }>>,
  call: (service: string, action: string, input: Record<string, unknown>) => Promise<Record<string, unknown>>,
): Promise<Record<string, string>> => {
  const values: Record<string, string> = {};
  for (const [name, parameter] of Object.entries(parameters)) {
    if (!parameter.Type.startsWith('AWS::SSM::Parameter::Value<') || typeof parameter.Default !== 'string') continue;
    const found = await call('ssm', 'GetParameter', { Name: parameter.Default }).catch(() => undefined);
    const value = (found?.Parameter as { Value?: string } | undefined)?.Value;
    if (value !== undefined) values[name] = value;
  }
  return values;
};

const countByType = (resources: readonly SkippedResource[]): string =>
  resources.length === 0
    ? 'none'
    : Object.entries(
        resources.reduce<Record<string, number>>((counts, r) => {
          counts[r.type] = (counts[r.type] ?? 0) + 1;
          return counts;
        }, {}),
      )
        .map(([type, count]) => `${type.replace(/^AWS::/, '')} ${count}`)
        .join(', ');

/** One line for the console: counts, what is not emulated, what is unsupported or failed. */
export const summarizeProvisioning = (report: ProvisionReport): string => {
  const outcomes = (outcome: Outcome) => report.created.filter((r) => r.outcome === outcome).length;
  const failed =
    report.failed.length === 0 ? '' : `; FAILED ${report.failed.map((r) => `${r.logicalId} (${r.error})`).join(', ')}`;
  return (
    `provisioned ${report.stack}: ${report.created.length} resources (${outcomes('created')} created, ` +
    `${outcomes('updated')} updated, ${outcomes('unchanged')} unchanged); ` +
    `not emulated: ${countByType(report.notEmulated)}; unsupported: ${countByType(report.unsupported)}${failed}`
  );
};
