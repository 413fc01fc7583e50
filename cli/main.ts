/**
 * The `bakehouse` operator CLI. `main(argv, io)` runs one command and resolves to its exit code:
 * 0 success, 1 failure (AWS refused, the bake failed, a promotion was refused), 2 usage error
 * (unknown command, option, family, channel, malformed id), 130 interrupted.
 *
 * Only commander and the light modules are imported up front: each command's module, the SDK
 * clients (clients.ts) and the configuration (zod) are imported when the command runs, so `--help`
 * and `--version` start in a fraction of the second the SDK takes to load. The shipped
 * `bin/bakehouse.mjs` is this file bundled by scripts/build-cli.ts; each import() below becomes a
 * chunk of it.
 */
import { readFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { createInterface } from 'node:readline/promises';
import { Command, CommanderError, Option } from 'commander';
import type { BakehouseConfig } from '../functions/commons/families';
import { bakehouseNames } from '../functions/commons/stage-names';
import {
  type Clients,
  type CliIo,
  type CommandContext,
  looksLikeSandboxValue,
  resolveTarget,
  SANDBOX_FORMS,
  type Target,
} from './context';
import { ExitCode, explainError, UsageError } from './errors';

export interface MainOptions {
  /**
   * The configuration, as is (default: the one deployed to the stage, else bakehouse.config.ts:
   * cli/config-source.ts).
   */
  readonly config?: BakehouseConfig;
  /** The local bakehouse.config.ts's export, unvalidated (default: the file, compiled in). */
  readonly localConfig?: () => Promise<unknown>;
  /** Clients for a target (default: SDK clients for AWS or the sandbox). */
  readonly clients?: (target: Target) => Clients & { close?(): void };
  readonly now?: () => Date;
  readonly sleep?: (ms: number) => Promise<void>;
  readonly pollMs?: number;
  readonly signal?: AbortSignal;
}

interface CommonFlags {
  json?: boolean;
  sandbox?: string | boolean;
  stage?: string;
  region?: string;
}

/**
 * `--sandbox` takes an optional value, and commander gives an optional option the next argument
 * whatever it is (`bakehouse --sandbox families` would target a sandbox named "families"). So the
 * argument after a bare `--sandbox` becomes its value (`--sandbox=4690`) only when it looks like
 * one (looksLikeSandboxValue); otherwise `--sandbox=` (no value) leaves it to the command.
 */
export const withSandboxValues = (argv: readonly string[]): string[] => {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--') {
      out.push(...argv.slice(i));
      break;
    }
    if (arg !== '--sandbox') out.push(arg);
    else if (i + 1 < argv.length && looksLikeSandboxValue(argv[i + 1] as string)) out.push(`--sandbox=${argv[++i]}`);
    else out.push('--sandbox=');
  }
  return out;
};

const positiveInt = (value: string): number => {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new UsageError(`'${value}' is not a positive whole number`);
  return n;
};

/** bakehouse.config.ts's export, unvalidated, loaded when a command needs it. */
const localConfigFile = async (): Promise<unknown> => (await import('../bakehouse.config')).default;

/**
 * The package's version. package.json is one directory up both from cli/main.ts (development) and
 * from bin/bakehouse.mjs (the bundle, whose entry chunk holds this module), so it is read, not
 * compiled in: a version bump does not make the committed bundle stale.
 */
const packageVersion = (): string =>
  (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;

export const main = async (argv: readonly string[], io: CliIo, options: MainOptions = {}): Promise<number> => {
  let exitCode: number = ExitCode.Ok;
  let current: { ctx: Omit<CommandContext, 'config'>; close(): void } | undefined;
  const program = new Command('bakehouse')
    .description('Operate Bakehouse (AMI bakes, channels, revocation, cleanup) on AWS or the local sandbox')
    .version(packageVersion())
    .exitOverride()
    .showHelpAfterError('(run with --help for usage)')
    .configureOutput({
      writeOut: (text) => io.stdout.write(text),
      writeErr: (text) => io.stderr.write(text),
    })
    // The target options belong to the program, so they are accepted before the command, between
    // `events` and `tail`, and after it (commander reads program options anywhere unless
    // positional options are enabled); each command's --help lists them.
    .configureHelp({ showGlobalOptions: true })
    .option('--json', 'machine-readable output (documented shapes)')
    .addOption(
      new Option(
        '--sandbox [target]',
        `talk to the local sandbox: ${SANDBOX_FORMS} (default: BAKEHOUSE_SANDBOX_PORT, else 4566)`,
      ),
    )
    .option('--stage <stage>', 'the deployed stage (default dev, or BAKEHOUSE_STAGE)')
    .option('--region <region>', 'AWS region (default AWS_REGION)');

  /** Everything a command runs with but the configuration (`config check` reads its own). */
  const targetContextFor = async (flags: CommonFlags): Promise<Omit<CommandContext, 'config'>> => {
    const target = resolveTarget(
      {
        ...(flags.sandbox === undefined ? {} : { sandbox: flags.sandbox }),
        ...(flags.region ? { region: flags.region } : {}),
      },
      io.env,
    );
    const stage = flags.stage ?? io.env.BAKEHOUSE_STAGE ?? 'dev';
    const clients = await (options.clients
      ? options.clients(target)
      : import('./clients').then(({ lazyClients }) => lazyClients(target)));
    const ctx: Omit<CommandContext, 'config'> = {
      stage,
      names: bakehouseNames(stage),
      target,
      clients,
      io,
      user: io.env.BAKEHOUSE_USER ?? io.env.USER ?? safeUser(),
      json: flags.json === true,
      now: options.now ?? (() => new Date()),
      sleep: options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms))),
      signal: options.signal ?? new AbortController().signal,
      pollMs: options.pollMs ?? (target.sandbox ? 250 : 5000),
    };
    current = { ctx, close: () => (clients as { close?(): void }).close?.() };
    return ctx;
  };

  /**
   * The context with the configuration the stage runs (the deployed one, else the local file):
   * what the local file's problems or drift are is said once on stderr (cli/config-source.ts).
   */
  const contextFor = async (flags: CommonFlags): Promise<CommandContext> => {
    const ctx = await targetContextFor(flags);
    if (options.config) return { ...ctx, config: options.config };
    const { loadLocalConfig, resolveCommandConfig } = await import('./config-source');
    const local = await loadLocalConfig(options.localConfig ?? localConfigFile);
    const resolved = await resolveCommandConfig({ ssm: ctx.clients.ssm, stage: ctx.stage, local });
    for (const note of resolved.notes) io.stderr.write(`${note}\n`);
    return { ...ctx, config: resolved.config };
  };

  /**
   * A subcommand's own options, when its parent has one of the same name (`bake cancel --timeout`
   * under `bake --timeout`). The program reads the options after the operands and hands them to the
   * first command, so `bake cancel <id> --timeout 60` sets `bake`'s; a value given on the line to a
   * parent counts as the subcommand's. (optsWithGlobals alone would let the parent's default win.)
   */
  const ownOptions = (cmd: Command): Record<string, unknown> => {
    const values: Record<string, unknown> = { ...cmd.opts() };
    for (const option of cmd.options) {
      const key = option.attributeName();
      if (cmd.getOptionValueSource(key) === 'cli') continue;
      for (let parent = cmd.parent; parent; parent = parent.parent) {
        if (parent.getOptionValueSource(key) === 'cli') {
          values[key] = parent.getOptionValue(key);
          break;
        }
      }
    }
    return values;
  };

  /** Adds a command; it takes the program's target options (--json, --sandbox, --stage, --region). */
  const command = (parent: Command, spec: string, description: string) => parent.command(spec).description(description);
  // commander calls actions with (...positionals, options, command); the target options are the
  // program's, so they come with the command's own from optsWithGlobals.
  const withOptions =
    <O, P extends unknown[]>(fn: (ctx: CommandContext, options: O, ...positionals: P) => Promise<number>) =>
    async (...args: unknown[]) => {
      const own = args.at(-1) as Command;
      const opts = { ...own.optsWithGlobals<O & CommonFlags>(), ...(ownOptions(own) as O) };
      const ctx = await contextFor(opts);
      exitCode = await fn(ctx, opts, ...(args.slice(0, -2) as P));
    };

  command(
    program,
    'overview',
    'the fleet at a glance: last bakes, channel AMIs (age, revoked, stranded), next runs, dead letters',
  ).action(withOptions(async (ctx) => (await import('./commands/overview')).overviewCommand(ctx)));
  command(
    program,
    'families [family]',
    'configured families (or one): schedules (next run, local time) and channel AMIs',
  ).action(
    withOptions(async (ctx, _o, family: string | undefined) =>
      (await import('./commands/families')).familiesCommand(ctx, family),
    ),
  );
  const bake = command(program, 'bake <family>', 'request a bake (Bake Requested); --wait follows it to the end')
    .option('--force', 'bake even when the same source was already baked', false)
    .option('--wait', 'follow the bake; exit 1 when it fails', false)
    .option('--reason <text>', 'why', 'requested from the CLI')
    .option('--idempotency-key <key>', 'the same key never starts a second bake (default: a new one)')
    .option('--timeout <seconds>', 'how long --wait follows the bake', positiveInt, 4 * 3600)
    .action(
      withOptions(
        async (
          ctx,
          o: { force: boolean; wait: boolean; reason: string; idempotencyKey?: string; timeout: number },
          family: string,
        ) =>
          (await import('./commands/bake')).bakeCommand(ctx, family, {
            force: o.force,
            wait: o.wait,
            reason: o.reason,
            timeoutSeconds: o.timeout,
            ...(o.idempotencyKey === undefined ? {} : { idempotencyKey: o.idempotencyKey }),
          }),
      ),
    );
  command(bake, 'steps <bake-id>', "a bake's automation steps: status, start and end, output or failure").action(
    withOptions(async (ctx, _o, bakeId: string) =>
      (await import('./commands/bake-control')).bakeStepsCommand(ctx, bakeId),
    ),
  );
  command(bake, 'cancel <bake-id>', 'stop a running bake and wait until its clean-up has run')
    .option('--timeout <seconds>', 'how long to wait for the clean-up', positiveInt, 300)
    .action(
      withOptions(async (ctx, o: { timeout: number }, bakeId: string) =>
        (await import('./commands/bake-control')).bakeCancelCommand(ctx, bakeId, { timeoutSeconds: o.timeout }),
      ),
    );
  command(program, 'status [bake-id]', 'one bake in detail, or the most recent bakes')
    .option('--limit <n>', 'how many recent bakes', positiveInt, 20)
    .action(
      withOptions(async (ctx, o: { limit: number }, bakeId: string | undefined) => {
        const [{ requireFamilyOfBakeId }, { statusCommand }] = await Promise.all([
          import('./commands/shared'),
          import('./commands/bakes'),
        ]);
        if (bakeId !== undefined) requireFamilyOfBakeId(ctx, bakeId);
        return statusCommand(ctx, bakeId, o);
      }),
    );
  command(program, 'history <family>', 'recent bakes of a family: outcome, AMI, duration')
    .option('--limit <n>', 'how many bakes', positiveInt, 10)
    .action(
      withOptions(async (ctx, o: { limit: number }, family: string) => {
        const [{ requireFamily }, { historyCommand }] = await Promise.all([
          import('./commands/shared'),
          import('./commands/bakes'),
        ]);
        requireFamily(ctx, family);
        return historyCommand(ctx, family, o);
      }),
    );
  command(program, 'images <family>', "a family's images: tags, channels, test result, revoked").action(
    withOptions(async (ctx, _o, family: string) => (await import('./commands/images')).imagesCommand(ctx, family)),
  );
  command(program, 'lineage <ami-id>', 'the ancestry tree: source AMI → family image → child families').action(
    withOptions(async (ctx, _o, amiId: string) => (await import('./commands/images')).lineageCommand(ctx, amiId)),
  );
  command(
    program,
    'diff <a> <b>',
    'what changed between two images (AMI ids or <family>:<channel>): release, packages added, removed, upgraded; hotfixes on Windows',
  ).action(
    withOptions(async (ctx, _o, a: string, b: string) => (await import('./commands/diff')).diffCommand(ctx, a, b)),
  );
  command(program, 'promote <family> <channel> <ami-id>', 'point a channel at an AMI (Promote Requested)')
    .option('--reason <text>', 'why', 'manual promotion')
    .option('--timeout <seconds>', 'how long to wait for the channel to move', positiveInt, 60)
    .action(
      withOptions(async (ctx, o: { reason: string; timeout: number }, family: string, channel: string, amiId: string) =>
        (await import('./commands/promotion')).promoteCommand(ctx, family, channel, amiId, {
          reason: o.reason,
          timeoutSeconds: o.timeout,
        }),
      ),
    );
  command(program, 'rollback <family> <channel>', 'move a channel back to its previous good AMI')
    .option('--timeout <seconds>', 'how long to wait for the channel to move', positiveInt, 60)
    .action(
      withOptions(async (ctx, o: { timeout: number }, family: string, channel: string) =>
        (await import('./commands/promotion')).rollbackCommand(ctx, family, channel, { timeoutSeconds: o.timeout }),
      ),
    );
  command(program, 'revoke <ami-id>', 'revoke an image (AMI Revoked): never promoted again, channels moved off it')
    .requiredOption('--reason <text>', 'why (recorded on the image)')
    .option('--cascade', 'also revoke every image built on it', false)
    .action(
      withOptions(async (ctx, o: { reason: string; cascade: boolean }, amiId: string) =>
        (await import('./commands/promotion')).revokeCommand(ctx, amiId, { reason: o.reason, cascade: o.cascade }),
      ),
    );
  command(program, 'canary <family>', "the family's running or latest canary and its scorecard; --abort stops it")
    .option('--abort', 'stop the running canary and wait until its instances are terminated', false)
    .option('--timeout <seconds>', 'how long --abort waits for the instances', positiveInt, 600)
    .action(
      withOptions(async (ctx, o: { abort: boolean; timeout: number }, family: string) =>
        (await import('./commands/canary')).canaryCommand(ctx, family, { abort: o.abort, timeoutSeconds: o.timeout }),
      ),
    );
  command(program, 'janitor', "the janitor's plan (a dry run); --apply carries it out")
    .option('--apply', 'apply the plan (asks first on a terminal)', false)
    .option('--yes', 'do not ask', false)
    .action(
      withOptions(async (ctx, o: { apply: boolean; yes: boolean }) =>
        (await import('./commands/janitor')).janitorCommand(ctx, o),
      ),
    );
  const channel = program.command('channel').description("a family's channels");
  command(
    channel,
    'history <family> <channel>',
    'every move of the channel, newest first: when, from, to, who, why',
  ).action(
    withOptions(async (ctx, _o, family: string, channelName: string) =>
      (await import('./commands/channel-history')).channelHistoryCommand(ctx, family, channelName),
    ),
  );
  const events = program.command('events').description('Bakehouse events');
  command(events, 'tail', 'follow the events on the bus (Ctrl-C stops)')
    .option('--for <seconds>', 'stop after this many seconds', positiveInt)
    .option('--all', 'sandbox: print the events already logged first', false)
    .action(
      withOptions(async (ctx, o: { for?: number; all: boolean }) =>
        (await import('./commands/events')).eventsTailCommand(ctx, {
          all: o.all,
          ...(o.for === undefined ? {} : { forSeconds: o.for }),
        }),
      ),
    );

  const config = program.command('config').description('the configuration: bakehouse.config.ts and the deployed one');
  command(
    config,
    'check',
    'validate bakehouse.config.ts (every field, source images on the target) and show its drift from the deployed one',
  ).action(async (...args: unknown[]) => {
    const ctx = await targetContextFor((args.at(-1) as Command).optsWithGlobals<CommonFlags>());
    exitCode = await (await import('./commands/config')).configCheckCommand(ctx, {
      load: options.localConfig ?? localConfigFile,
    });
  });

  try {
    await program.parseAsync(withSandboxValues(argv), { from: 'user' });
    return exitCode;
  } catch (error) {
    if (error instanceof CommanderError) {
      if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version' || error.exitCode === 0)
        return 0;
      if (error.code === 'commander.help') return 0;
      return ExitCode.Usage;
    }
    const ctx = current?.ctx;
    const explained = explainError(error, {
      endpoint: ctx?.target.endpoint,
      sandbox: ctx?.target.sandbox ?? false,
      stage: ctx?.stage ?? 'dev',
    });
    if (ctx?.json)
      io.stdout.write(
        `${JSON.stringify({ error: explained.message, exitCode: explained.exitCode, ...explained.details }, null, 2)}\n`,
      );
    io.stderr.write(`bakehouse: ${explained.message}\n`);
    return explained instanceof UsageError || explained.exitCode === ExitCode.Usage
      ? ExitCode.Usage
      : explained.exitCode;
  } finally {
    current?.close();
  }
};

const safeUser = (): string => {
  try {
    return userInfo().username;
  } catch {
    return 'unknown';
  }
};

/** The process entry: real stdio, SIGINT aborts long commands (they clean up), exit code set. */
export const runProcess = async (): Promise<void> => {
  const controller = new AbortController();
  let interrupted = false;
  process.on('SIGINT', () => {
    if (interrupted) process.exit(ExitCode.Interrupted);
    interrupted = true;
    controller.abort();
  });
  const confirm = process.stdin.isTTY
    ? async (question: string) => {
        const rl = createInterface({ input: process.stdin, output: process.stderr });
        try {
          return /^y(es)?$/i.test((await rl.question(`${question} [y/N] `)).trim());
        } finally {
          rl.close();
        }
      }
    : undefined;
  const code = await main(
    process.argv.slice(2),
    { stdout: process.stdout, stderr: process.stderr, env: process.env, ...(confirm ? { confirm } : {}) },
    { signal: controller.signal },
  );
  process.exitCode = interrupted && code === 0 ? ExitCode.Interrupted : code;
};
