/**
 * A small SST app for test/dev/bundle-cache.test.ts, synthesized offline in a process of its own
 * (SST synthesizes one app per process): two functions under BUNDLE_FIXTURE_DIR sharing a module,
 * with Bakehouse's Lambda defaults, through the bundle cache in BUNDLE_CACHE_DIR (unless
 * BAKEHOUSE_BUNDLE_CACHE=off). Prints the cache's counts and the assembly directory as JSON.
 */
process.env.NODE_ENV = 'test';
process.env.AWS_SDK_JS_SUPPRESS_MAINTENANCE_MODE_MESSAGE = '1';
const [outdir] = process.argv.slice(2);
const fixture = process.env.BUNDLE_FIXTURE_DIR;
if (!outdir || !fixture) throw new Error('usage: BUNDLE_FIXTURE_DIR=dir tsx bundle-cache-app.ts <outdir>');
const { synthesizeOffline } = await import('../../../stacks/synthesize');
const { LAMBDA_DEFAULTS } = await import('../../../sst.config');
const { useBundleCache } = await import('../../../dev/bundle-cache');
const { Function: SstFunction } = await import('sst/constructs');
let stats: Awaited<ReturnType<typeof useBundleCache>> | undefined;
const { assembly } = await synthesizeOffline({
  stage: 'fixture',
  region: 'us-east-1',
  account: '000000000000',
  outdir,
  configure: async (app) => {
    stats = await useBundleCache({
      root: process.cwd(),
      ...(process.env.BUNDLE_CACHE_DIR ? { cacheDir: process.env.BUNDLE_CACHE_DIR } : {}),
    });
    app.stack(function Fixture({ stack }) {
      const { logRetention: _, ...defaults } = LAMBDA_DEFAULTS;
      for (const name of ['a', 'b'])
        new SstFunction(stack, name.toUpperCase(), { ...defaults, handler: `${fixture}/${name}/handler.handler` });
    });
  },
});
console.log(JSON.stringify({ stats, directory: assembly.directory }));

export {};
