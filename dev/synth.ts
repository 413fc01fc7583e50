/**
 * The cloud assembly the sandbox is provisioned from: `npm run synth` (scripts/synth.ts, the same
 * offline synthesis the stack tests use) run in a child process, cached in
 * `.sandbox/assembly-<hash>` by a hash of everything the synthesis reads, so a repeated start
 * skips the ~10 s synthesis.
 *
 * A child process because SST synthesizes an app once per process and only works offline with
 * NODE_ENV=test (it otherwise looks up its bootstrap stack in AWS); the sandbox process keeps its
 * own environment and can synthesize again after a change.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { fillOnce, pruneCache } from './fill-once';

/** What the synthesis reads: the stacks, the code they bundle, the config, the lock file. */
export const SYNTH_INPUTS: readonly string[] = [
  'stacks',
  'functions',
  'state-machines',
  'automation',
  'packages/cron',
  'bakehouse.config.ts',
  'sst.config.ts',
  'scripts/synth.ts',
  'package-lock.json',
];

export interface SandboxSynthOptions {
  /** The project root (where sst.config.ts is); default the working directory. */
  readonly root?: string;
  /** Where assemblies are cached; default `<root>/.sandbox`. */
  readonly cacheDir?: string;
  readonly stage?: string;
  readonly account?: string;
  readonly region?: string;
  /** Stops the synthesis (kills the child process). */
  readonly signal?: AbortSignal;
  /** A configuration file other than `<root>/bakehouse.config.ts` (`npm run synth -- --config`). */
  readonly config?: string;
  /** Told when another process is synthesizing the same assembly and this one waits for it. */
  readonly onWait?: (lockPath: string) => void;
}

export interface SandboxAssembly {
  readonly assemblyDir: string;
  readonly hash: string;
  /** True when the assembly came from the cache. */
  readonly cached: boolean;
}

/** A failed `npm run synth`, with its output. */
export class SynthError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SynthError';
  }
}

const filesUnder = (root: string, path: string): string[] => {
  const full = join(root, path);
  if (!existsSync(full)) return [];
  if (!statSync(full).isDirectory()) return [path];
  return readdirSync(full, { withFileTypes: true })
    .filter((entry) => entry.name !== 'node_modules' && !entry.name.startsWith('.'))
    .flatMap((entry) => filesUnder(root, join(path, entry.name)));
};

/** A hash of the synthesis inputs' paths and contents and of the options that shape the template. */
export const synthInputsHash = (root: string, shape: Readonly<Record<string, string>>): string => {
  const hash = createHash('sha256').update(JSON.stringify(shape));
  for (const file of SYNTH_INPUTS.flatMap((input) => filesUnder(root, input)).sort()) {
    hash.update(`\0${relative(root, join(root, file))}\0`).update(readFileSync(join(root, file)));
  }
  return hash.digest('hex').slice(0, 16);
};

const runSynth = (root: string, args: readonly string[], signal?: AbortSignal): Promise<void> =>
  new Promise((done, fail) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/synth.ts', ...args], {
      cwd: root,
      ...(signal ? { signal } : {}),
      env: { ...process.env, NODE_ENV: 'test' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.on('error', fail);
    child.on('close', (code) =>
      code === 0 ? done() : fail(new SynthError(`npm run synth failed (exit ${code}):\n${output.trim()}`)),
    );
  });

const locate = (options: SandboxSynthOptions) => {
  const root = resolve(options.root ?? process.cwd());
  const cacheDir = resolve(options.cacheDir ?? join(root, '.sandbox'));
  const config = options.config === undefined ? undefined : resolve(root, options.config);
  const shape = {
    stage: options.stage ?? 'dev',
    account: options.account ?? '000000000000',
    region: options.region ?? 'us-east-1',
    // Another configuration file is an input too: its path and its contents.
    ...(config === undefined ? {} : { config, configContents: readFileSync(config, 'utf8') }),
  };
  const hash = synthInputsHash(root, shape);
  return { root, cacheDir, shape, config, hash, assemblyDir: join(cacheDir, `assembly-${hash}`) };
};

/** Where `synthesizeForSandbox` with these options puts (or finds) the assembly, without synthesizing. */
export const assemblyDirFor = (options: SandboxSynthOptions = {}): string => locate(options).assemblyDir;

/** Synthesizes the stacks for the sandbox's account and region, or reuses the cached assembly. */
export const synthesizeForSandbox = async (options: SandboxSynthOptions = {}): Promise<SandboxAssembly> => {
  const { root, cacheDir, shape, config, hash, assemblyDir } = locate(options);
  // One process synthesizes; the test files and npm start that ask meanwhile wait for its assembly.
  const synthesized = await fillOnce(
    assemblyDir,
    () => existsSync(join(assemblyDir, 'manifest.json')),
    (into) =>
      runSynth(
        root,
        [
          '--stage',
          shape.stage,
          '--account',
          shape.account,
          '--region',
          shape.region,
          '--out',
          into,
          ...(config === undefined ? [] : ['--config', config]),
        ],
        options.signal,
      ),
    options.onWait ? { onWait: options.onWait } : {},
  );
  pruneAssemblies(cacheDir, assemblyDir);
  return { assemblyDir, hash, cached: !synthesized };
};

/** Keeps the assemblies used lately (dev/fill-once.ts pruneCache) and removes the rest. */
const pruneAssemblies = (cacheDir: string, used: string): void => {
  pruneCache(cacheDir, { isEntry: (name) => /^assembly-[0-9a-f]{16}$/.test(name), used });
};
