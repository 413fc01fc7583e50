/**
 * The sandbox as a long-running process: options, the ready line, provisioning, clean stop.
 *
 *   [--port 4566] [--state DIR] [--reset] [--speed 600] [--account 000000000000]
 *   [--no-provision] [--assets DIR] [--iam on|off] [--eventual-consistency SECONDS]
 *
 * `--iam off` (or BAKEHOUSE_SANDBOX_IAM=off) switches IAM enforcement off: every request goes
 * through, and what AWS would refuse is only recorded (GET /_sandbox/iam/report); on by default.
 * `--eventual-consistency SECONDS` (or BAKEHOUSE_SANDBOX_EVENTUAL_CONSISTENCY) hides new instances and
 * images from EC2's Describe calls for that many sandbox seconds after they are created, as AWS's
 * eventual consistency may (services/ec2/consistency.ts); 0, the default, shows them at once.
 * Port from --port or BAKEHOUSE_SANDBOX_PORT (default 4566), state directory from --state or
 * BAKEHOUSE_SANDBOX_STATE (default .sandbox/state under the working directory). Binds to
 * 127.0.0.1 only. Prints one line with the endpoint when ready; stops cleanly on SIGINT or SIGTERM.
 *
 * Once ready it provisions itself from a cloud assembly: `--assets DIR` names one already
 * synthesized; otherwise the caller's `assembly` hooks say where it will be and synthesize it
 * (an application brings its own synthesis; the sandbox knows CloudFormation, not the app).
 * Without either, or with `--no-provision`, it serves an empty account, and Lambda code
 * (`Code.S3Key: '<hash>.zip'`) is read from --assets (default cdk.out).
 *
 * The ready line comes before provisioning (a client can watch it happen); `GET /_sandbox/health`
 * answers 503 `{"status":"provisioning"}` until it ended, then 200 `{"status":"ready"}` or 503
 * `{"status":"failed","error":…}`. With nothing to provision it is ready at once.
 */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { MAX_SPEED } from './clock';
import { provisionFromAssembly, summarizeProvisioning } from './provision';
import { DEFAULT_ACCOUNT, DEFAULT_SPEED, type Sandbox, startSandbox } from './server';

/** How an application supplies the assembly the sandbox provisions from. */
export interface AssemblySource {
  /** Where the assembly will be, known before it is built (Lambda reads code there). */
  dirFor(account: string, region: string): string;
  /** Builds (or reuses) the assembly; resolves to its directory. */
  synthesize(account: string, region: string, signal: AbortSignal): Promise<string>;
}

export interface SandboxCommandOptions {
  /** How the command is invoked, for the usage line: `npm run sandbox --`. */
  readonly invocation: string;
  readonly assembly?: AssemblySource;
  readonly argv?: readonly string[];
  /**
   * Runs once the stacks are provisioned without a failure, before health answers ready: what the
   * application expects to find in the account besides its stacks (resources other teams own).
   * Resolves to lines to print; a rejection fails readiness with its reason.
   */
  readonly afterProvisioning?: (sandbox: Sandbox, signal: AbortSignal) => Promise<readonly string[]>;
}

const REGION = 'us-east-1';

const usageOf = (invocation: string): string =>
  `usage: ${invocation} [--port 4566] [--state DIR] [--reset] [--speed 600] [--account 000000000000] [--no-provision] [--assets DIR] [--iam on|off] [--eventual-consistency SECONDS]`;

/**
 * Builds (or reuses) the assembly and provisions the sandbox from it; one line either way, and
 * the health check says how it ended (failed when a resource failed).
 */
const provision = async (
  sandbox: Sandbox,
  assemblyDir: () => Promise<string>,
  signal: AbortSignal,
  afterProvisioning: SandboxCommandOptions['afterProvisioning'],
): Promise<void> => {
  try {
    const report = await provisionFromAssembly({ sandbox, assemblyDir: await assemblyDir() });
    if (signal.aborted) return;
    const summary = summarizeProvisioning(report);
    const lines = report.failed.length === 0 && afterProvisioning ? await afterProvisioning(sandbox, signal) : [];
    if (signal.aborted) return;
    sandbox.setReadiness(
      report.failed.length === 0
        ? { status: 'ready', provisioned: summary }
        : { status: 'failed', error: `provisioning failed: ${summary}` },
    );
    console.log(`bakehouse sandbox ${summary}`);
    for (const line of lines) console.log(`bakehouse sandbox ${line}`);
  } catch (error) {
    if (signal.aborted) return;
    const message = `provisioning failed: ${error instanceof Error ? error.message : String(error)}`;
    sandbox.setReadiness({ status: 'failed', error: message });
    console.error(`sandbox: ${message}`);
  }
};

const serve = async (options: SandboxCommandOptions): Promise<number> => {
  const { values } = parseArgs({
    args: options.argv ? [...options.argv] : process.argv.slice(2),
    options: {
      port: { type: 'string', default: process.env.BAKEHOUSE_SANDBOX_PORT ?? '4566' },
      state: { type: 'string', default: process.env.BAKEHOUSE_SANDBOX_STATE ?? resolve('.sandbox', 'state') },
      reset: { type: 'boolean', default: false },
      speed: { type: 'string', default: String(DEFAULT_SPEED) },
      account: { type: 'string', default: DEFAULT_ACCOUNT },
      provision: { type: 'boolean', default: true },
      assets: { type: 'string' },
      iam: { type: 'string', default: process.env.BAKEHOUSE_SANDBOX_IAM || 'on' },
      'eventual-consistency': {
        type: 'string',
        default: process.env.BAKEHOUSE_SANDBOX_EVENTUAL_CONSISTENCY || '0',
      },
      help: { type: 'boolean', default: false },
    },
    strict: true,
    allowNegative: true,
  });
  if (values.help) {
    console.log(usageOf(options.invocation));
    return 0;
  }
  const port = Number(values.port);
  const speed = Number(values.speed);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--port '${values.port}' is not a port`);
  if (!(Number.isFinite(speed) && speed >= 0 && speed <= MAX_SPEED)) {
    throw new Error(`--speed '${values.speed}' must be a number of 0 or more, at most ${MAX_SPEED}`);
  }
  if (!/^\d{12}$/.test(values.account)) throw new Error(`--account '${values.account}' is not a 12-digit account id`);
  const iam = values.iam;
  if (iam !== 'on' && iam !== 'off') throw new Error(`--iam '${iam}' must be on or off`);
  const hideSeconds = Number(values['eventual-consistency']);
  if (!Number.isFinite(hideSeconds) || hideSeconds < 0) {
    throw new Error(
      `--eventual-consistency '${values['eventual-consistency']}' must be a number of sandbox seconds, 0 or more`,
    );
  }

  const assets = values.assets === undefined ? undefined : resolve(values.assets);
  const source = options.assembly;
  const provisionFrom =
    values.provision && (assets !== undefined || source !== undefined)
      ? { dir: assets ?? (source as AssemblySource).dirFor(values.account, REGION) }
      : undefined;
  const sandbox = await startSandbox({
    port,
    stateDir: resolve(values.state),
    reset: values.reset,
    speed,
    account: values.account,
    assetsDir: provisionFrom?.dir ?? assets ?? resolve('cdk.out'),
    iam,
    provisioning: provisionFrom !== undefined,
    ...(hideSeconds > 0 ? { eventualConsistency: { hideSeconds } } : {}),
  });
  const consistency = hideSeconds > 0 ? `, new EC2 resources hidden for ${hideSeconds} s` : '';
  console.log(
    `bakehouse sandbox ready at ${sandbox.url} (state ${resolve(values.state)}, speed ${speed}x, IAM enforcement ${iam}${consistency})`,
  );
  const stopping = new AbortController();
  if (provisionFrom) {
    const assemblyDir = async (): Promise<string> =>
      assets ?? (source as AssemblySource).synthesize(sandbox.account, REGION, stopping.signal);
    void provision(sandbox, assemblyDir, stopping.signal, options.afterProvisioning);
  }

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

/** Runs the sandbox until SIGINT/SIGTERM, then exits the process (1 with the usage on bad options). */
export const runSandboxCommand = (options: SandboxCommandOptions): void => {
  serve(options).then(
    (code) => process.exit(code),
    (error: unknown) => {
      console.error(`sandbox: ${error instanceof Error ? error.message : String(error)}`);
      console.error(usageOf(options.invocation));
      process.exit(1);
    },
  );
};
