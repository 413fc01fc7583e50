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
 */
import { runSandboxCommand } from '@bakehouse/sandbox/cli';
import { assemblyDirFor, synthesizeForSandbox } from './synth';

runSandboxCommand({
  invocation: 'npm run sandbox --',
  assembly: {
    dirFor: (account, region) => assemblyDirFor({ account, region }),
    synthesize: async (account, region, signal) =>
      (await synthesizeForSandbox({ account, region, signal })).assemblyDir,
  },
  afterProvisioning: async (sandbox) => {
    const [{ default: rawConfig }, { loadConfig }, { createTeamResources }] = await Promise.all([
      import('../bakehouse.config'),
      import('../functions/commons/families'),
      import('./team-resources'),
    ]);
    return createTeamResources(
      (service, action, input, options) => sandbox.runtime.callAws(service, action, input, options),
      loadConfig(rawConfig),
    );
  },
});
