/**
 * `npm run sandbox`: the local AWS-compatible endpoint, provisioned from Bakehouse's stacks.
 *
 *   npm run sandbox -- [--port 4566] [--state DIR] [--reset] [--speed 600] [--account 000000000000]
 *                      [--no-provision] [--assets DIR] [--iam on|off]
 *
 * The options, the ready line and the stop are the sandbox package's (packages/sandbox/src/cli.ts).
 * What is Bakehouse's: once ready, the cloud assembly is synthesized for the sandbox account (or
 * reused from `.sandbox/assembly-<hash>` when nothing it reads changed, dev/synth.ts) and every
 * emulated resource is created or updated in place, with one summary line. `--assets DIR`
 * provisions from an assembly already synthesized there (`npm run synth -- --out DIR`) instead.
 * Until that line, `GET /_sandbox/health` answers 503 `{"status":"provisioning"}`: wait for its
 * 200 `{"status":"ready"}` (503 `{"status":"failed"}` says why provisioning did not finish).
 *
 * Before it is ready, what bakehouse.config.ts names in the account besides the stacks is created
 * as the teams that own it would have it (dev/team-resources.ts): the example launch template
 * al2023-base's stable channel moves, tagged for Bakehouse, and the group al2023-web's canary joins.
 * So the stock configuration promotes and canaries end to end in a plain `npm run sandbox`, as it
 * does in `npm start`; on AWS those are the teams' own (replace or drop them in the config).
 *
 * Then it follows the configuration (dev/config-watch.ts): a saved change to bakehouse.config.ts
 * (or the file BAKEHOUSE_CONFIG names) is synthesized and provisioned into the running sandbox in
 * place, with the state it has; a change that does not validate is reported and not applied.
 */
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { provisionFromAssembly, type Sandbox, summarizeProvisioning } from '@bakehouse/sandbox';
import { runSandboxCommand } from '@bakehouse/sandbox/cli';
import { watchConfig } from './config-watch';
import { assemblyDirFor, synthesizeForSandbox } from './synth';

const REGION = 'us-east-1';
const root = join(import.meta.dirname, '..');
const defaultConfig = join(root, 'bakehouse.config.ts');
/** BAKEHOUSE_CONFIG names another configuration file (tests, a team's own copy). */
const configFile = resolve(process.env.BAKEHOUSE_CONFIG || defaultConfig);
const config = configFile === defaultConfig ? undefined : configFile;

/** The configuration as the file is now (a fresh import each time: the file changes under us). */
const loadFreshConfig = async () => {
  const [{ default: rawConfig }, { loadConfig }] = await Promise.all([
    import(`${pathToFileURL(configFile).href}?at=${Date.now()}`) as Promise<{ default: unknown }>,
    import('../functions/commons/families'),
  ]);
  return loadConfig(rawConfig);
};

const createTeamResourcesIn = async (sandbox: Sandbox): Promise<readonly string[]> => {
  const [bakehouseConfig, { createTeamResources }] = await Promise.all([loadFreshConfig(), import('./team-resources')]);
  return createTeamResources(
    (service, action, input, options) => sandbox.runtime.callAws(service, action, input, options),
    bakehouseConfig,
  );
};

/** Synthesizes the changed configuration and provisions the running sandbox from it, in place. */
const reprovision = async (sandbox: Sandbox, signal: AbortSignal): Promise<readonly string[]> => {
  const { assemblyDir } = await synthesizeForSandbox({ account: sandbox.account, region: REGION, signal, config });
  const report = await provisionFromAssembly({ sandbox, assemblyDir });
  const summary = summarizeProvisioning(report);
  if (report.failed.length > 0) throw new Error(`provisioning failed: ${summary}`);
  return [`re-provisioned: ${summary}`, ...(await createTeamResourcesIn(sandbox))];
};

const providedAssembly = process.argv.includes('--assets');

runSandboxCommand({
  invocation: 'npm run sandbox --',
  assembly: {
    dirFor: (account, region) => assemblyDirFor({ account, region, ...(config ? { config } : {}) }),
    synthesize: async (account, region, signal) =>
      (await synthesizeForSandbox({ account, region, signal, config })).assemblyDir,
  },
  afterProvisioning: async (sandbox, signal) => {
    const lines = await createTeamResourcesIn(sandbox);
    if (providedAssembly) return lines;
    const watch = watchConfig({
      file: configFile,
      apply: () => reprovision(sandbox, signal),
      print: (line) => console.log(`bakehouse sandbox ${line}`),
    });
    signal.addEventListener('abort', () => watch.close(), { once: true });
    return [...lines, `following ${configFile}: a change is synthesized and provisioned in place`];
  },
});
