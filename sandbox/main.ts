/**
 * `npm run sandbox`: the local AWS-compatible endpoint.
 *
 *   npm run sandbox -- [--port 4566] [--state DIR] [--reset] [--speed 600] [--account 000000000000]
 *                      [--no-provision] [--assets DIR]
 *
 * Port from --port or BAKEHOUSE_SANDBOX_PORT (default 4566), state directory from --state or
 * BAKEHOUSE_SANDBOX_STATE (default .sandbox/state in the project). Binds to 127.0.0.1 only.
 * Prints one line with the endpoint when ready; stops cleanly on SIGINT or SIGTERM.
 *
 * Once ready it provisions itself from the synthesized stacks (sandbox/provision): the cloud
 * assembly is synthesized for the sandbox account (or reused from `.sandbox/assembly-<hash>` when
 * nothing it reads changed), every emulated resource is created or updated in place, and one
 * summary line is printed. `--assets DIR` provisions from an assembly already synthesized there
 * (`npm run synth -- --out DIR`) instead. Lambda code (`Code.S3Key: '<hash>.zip'`) is read from
 * the same assembly; with `--no-provision` from --assets (default cdk.out).
 */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { provisionFromAssembly, summarizeProvisioning } from './provision';
import { assemblyDirFor, synthesizeForSandbox } from './provision/synth';
import { DEFAULT_ACCOUNT, DEFAULT_SPEED, type Sandbox, startSandbox } from './server';

const usage =
  'usage: npm run sandbox -- [--port 4566] [--state DIR] [--reset] [--speed 600] [--account 000000000000] [--no-provision] [--assets DIR]';

/** Synthesizes (or reuses) the assembly and provisions the sandbox from it; one line either way. */
const provision = async (sandbox: Sandbox, assets: string | undefined, signal: AbortSignal): Promise<void> => {
  try {
    const assemblyDir =
      assets ?? (await synthesizeForSandbox({ account: sandbox.account, region: 'us-east-1', signal })).assemblyDir;
    const report = await provisionFromAssembly({ sandbox, assemblyDir });
    if (!signal.aborted) console.log(`bakehouse sandbox ${summarizeProvisioning(report)}`);
  } catch (error) {
    if (!signal.aborted) {
      console.error(`sandbox: provisioning failed: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
};

const main = async (): Promise<number> => {
  const { values } = parseArgs({
    options: {
      port: { type: 'string', default: process.env.BAKEHOUSE_SANDBOX_PORT ?? '4566' },
      state: { type: 'string', default: process.env.BAKEHOUSE_SANDBOX_STATE ?? resolve('.sandbox', 'state') },
      reset: { type: 'boolean', default: false },
      speed: { type: 'string', default: String(DEFAULT_SPEED) },
      account: { type: 'string', default: DEFAULT_ACCOUNT },
      provision: { type: 'boolean', default: true },
      assets: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
    strict: true,
    allowNegative: true,
  });
  if (values.help) {
    console.log(usage);
    return 0;
  }
  const port = Number(values.port);
  const speed = Number(values.speed);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--port '${values.port}' is not a port`);
  if (!Number.isFinite(speed) || speed < 0) throw new Error(`--speed '${values.speed}' must be a number of 0 or more`);
  if (!/^\d{12}$/.test(values.account)) throw new Error(`--account '${values.account}' is not a 12-digit account id`);

  const assets = values.assets === undefined ? undefined : resolve(values.assets);
  // The assembly provisioning will use is known before it is synthesized: Lambda reads code there.
  const assetsDir = values.provision
    ? (assets ?? assemblyDirFor({ account: values.account, region: 'us-east-1' }))
    : (assets ?? resolve('cdk.out'));
  const sandbox = await startSandbox({
    port,
    stateDir: resolve(values.state),
    reset: values.reset,
    speed,
    account: values.account,
    assetsDir,
  });
  console.log(`bakehouse sandbox ready at ${sandbox.url} (state ${resolve(values.state)}, speed ${speed}x)`);
  const stopping = new AbortController();
  if (values.provision) void provision(sandbox, assets, stopping.signal);

  await new Promise<void>((done) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      stopping.abort();
      sandbox.close().then(done, (error: unknown) => {
        console.error('sandbox: error while stopping', error);
        done();
      });
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  return 0;
};

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(`sandbox: ${error instanceof Error ? error.message : String(error)}`);
    console.error(usage);
    process.exit(1);
  },
);
