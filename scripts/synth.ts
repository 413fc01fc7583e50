/**
 * `npm run synth`: synthesizes the Bakehouse stacks offline, with no AWS credentials and no
 * network, through the same `sst.config.ts` `sst deploy` uses. Prints the absolute path of every
 * CloudFormation template, one per line; with a bad configuration prints the ConfigError and
 * exits 1.
 *
 *   npm run synth -- [--stage dev] [--account 000000000000] [--region us-east-1] [--out cdk.out]
 *                    [--config other.config.ts]
 *
 * `--config` synthesizes another family configuration (a module whose default export is the
 * config) instead of bakehouse.config.ts, with the same Lambda defaults, to try a change offline.
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

// SST skips its AWS bootstrap lookups only under NODE_ENV=test: set it before `sst` is imported
// (everything that imports it is loaded dynamically below).
process.env.NODE_ENV = 'test';
// A dependency of SST still loads the v2 SDK; its end-of-support notice is noise here.
process.env.AWS_SDK_JS_SUPPRESS_MAINTENANCE_MODE_MESSAGE = '1';

const usage =
  'usage: npm run synth -- [--stage dev] [--account 000000000000] [--region us-east-1] [--out cdk.out] [--config file]';

const parseOptions = () => {
  const { values } = parseArgs({
    options: {
      stage: { type: 'string', default: 'dev' },
      account: { type: 'string', default: '000000000000' },
      region: { type: 'string', default: 'us-east-1' },
      out: { type: 'string', default: 'cdk.out' },
      config: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
    strict: true,
  });
  if (!/^[A-Za-z][A-Za-z0-9-]*$/.test(values.stage))
    throw new UsageError(`--stage '${values.stage}' is not a stage name`);
  if (!/^\d{12}$/.test(values.account))
    throw new UsageError(`--account '${values.account}' is not a 12-digit account id`);
  if (!/^[a-z]{2}(-[a-z]+)+-\d$/.test(values.region))
    throw new UsageError(`--region '${values.region}' is not a region`);
  return values;
};

class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

const main = async (): Promise<number> => {
  const options = parseOptions();
  if (options.help) {
    console.log(usage);
    return 0;
  }
  // A configuration that does not validate fails here, before SST and the CDK are loaded (about
  // 2 s), and without a cloud assembly. The stacks validate it again, and check its scripts with
  // ShellCheck, when they are built below.
  const rawConfig = options.config
    ? ((await import(pathToFileURL(resolve(options.config)).href)) as { default: unknown }).default
    : undefined;
  const { loadConfig } = await import('../functions/commons/families');
  const config = loadConfig(rawConfig ?? (await import('../bakehouse.config')).default);
  // ShellCheck over the families' scripts runs on another core while SST and the CDK load; the
  // stacks' own check below then finds its answers (functions/commons/shellcheck.ts).
  const { prefetchShellProblems } = await import('../functions/commons/shellcheck');
  const shellcheckAhead = prefetchShellProblems(config);
  const { synthesizeOffline } = await import('../stacks/synthesize');
  const { default: sstConfig, LAMBDA_DEFAULTS } = await import('../sst.config');
  const { bakehouseStacks } = await import('../stacks');
  const configure = rawConfig === undefined ? sstConfig.stacks : bakehouseStacks(rawConfig, LAMBDA_DEFAULTS);
  const { useBundleCache } = await import('../dev/bundle-cache');
  const started = performance.now();
  let bundles: Awaited<ReturnType<typeof useBundleCache>> | undefined;
  const { assembly } = await synthesizeOffline({
    stage: options.stage,
    region: options.region,
    account: options.account,
    outdir: options.out,
    configure: async (app) => {
      // Bundles keyed by their inputs in .sst/bundle-cache, the misses built in one esbuild run.
      bundles = await useBundleCache({ root: process.cwd() });
      await shellcheckAhead;
      await configure(app);
    },
  });
  for (const stack of assembly.stacks) console.log(resolve(assembly.directory, stack.templateFile));
  const reuse = bundles ? `; bundles: ${bundles.built} built, ${bundles.reused} reused, ${bundles.bySst} by SST` : '';
  console.error(
    `synthesized ${assembly.stacks.length} stack(s) in ${Math.round(performance.now() - started)} ms${reuse}`,
  );
  return 0;
};

try {
  process.exitCode = await main();
} catch (error) {
  const { ConfigError } = await import('../functions/commons/errors');
  if (error instanceof ConfigError || error instanceof UsageError) {
    console.error(error.message);
    if (error instanceof UsageError) console.error(usage);
  } else {
    console.error(error);
  }
  process.exitCode = 1;
}
