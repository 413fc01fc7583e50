/**
 * The Lambda bundles of an offline synthesis, built once for all functions and reused while their
 * inputs are unchanged (issue 17: a first `npm start` spent most of its synthesis bundling).
 *
 * SST v2 builds each function on its own in a deferred task (one at a time on a 2-core machine:
 * its concurrency is the core count minus one), each with its own esbuild parse of the same AWS
 * SDK, then runs `npm install` in every output directory, even with nothing to install, which
 * writes a `package.json` and a `package-lock.json` into the asset. Here, at `app.finish()`:
 *
 * - every Node function's recipe (the esbuild options SST 2.49.8's `runtime/handlers/node.js`
 *   derives in deploy mode, the output layout, the empty install) is keyed with the contents of
 *   the files its last build read (esbuild's metafile), the listings of their directories below
 *   the root and the package.json / tsconfig.json files that steer resolution, the lock file and
 *   the tool versions;
 * - a hit hands SST the cached directory as the function's output (CDK stages it as the asset);
 * - the misses are bundled in one esbuild build with SST's own esbuild (one entry point per
 *   function, no splitting: each output is what a build of its own writes, byte for byte), into a
 *   directory as deep below the project root as SST's `.sst/artifacts/<function id>`, so the
 *   source map's relative paths are the same; the two npm files are written as SST's `npm install`
 *   writes them (the lock file from one real `npm install` of an empty package, its name replaced).
 *
 * So the assets, their hashes and the template are those `sst deploy` builds (test/stacks/
 * bundle-cache.test.ts compares them with SST's own build). Anything this does not reproduce
 * (another SST version, hooks, copyFiles, code splitting, packages to install, a source map SST
 * uploads, a function importing `sharp`) goes through SST's own build unchanged.
 * BAKEHOUSE_BUNDLE_CACHE=off turns the whole thing off.
 *
 * The cache lives in `.sst/bundle-cache` and is shared by `npm start`, `npm run synth`,
 * `npm run bench` and the stack tests; bundles unused for a week, and all but the 140 used last,
 * are removed.
 */
import { exec } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  realpathSync,
  renameSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { basename, delimiter, dirname, isAbsolute, join, parse, posix, relative, resolve, sep } from 'node:path';

/** Bumped when this file changes what it writes. */
const CACHE_FORMAT = 1;
/** The SST release whose node build this reproduces (runtime/handlers/node.js, runtime/handlers.js). */
export const SST_VERSION = '2.49.8';
const DAY_MS = 24 * 3600_000;
const WEEK_MS = 7 * DAY_MS;
/** About 1 GB: the bundles of ten versions of the fourteen functions. */
const MAX_BUNDLES = 140;

/** Props of an SST function, as `useFunctions().all` holds them (the fields the build reads). */
export interface FunctionBuildProps {
  readonly handler?: string;
  readonly runtime?: string;
  readonly architecture?: string;
  readonly nodejs?: {
    readonly format?: 'esm' | 'cjs';
    readonly install?: readonly string[];
    readonly loader?: Record<string, string>;
    readonly banner?: string;
    readonly minify?: boolean;
    readonly sourcemap?: boolean;
    readonly splitting?: boolean;
    readonly esbuild?: Record<string, unknown>;
  };
  readonly copyFiles?: readonly unknown[];
  readonly hooks?: unknown;
}

/** How one function is built: everything its bundle depends on besides the files it reads. */
export interface BundleRecipe {
  readonly functionId: string;
  /** The entry file, relative to the root (as esbuild names it in the metafile). */
  readonly entry: string;
  /** The bundle's path inside the function's output directory (posix). */
  readonly bundlePath: string;
  /** The Lambda handler SST sets (file without extension, dot, export). */
  readonly handler: string;
  /** SST's esbuild options without entryPoints and outfile. */
  readonly options: Record<string, unknown>;
  /** What `npm install` runs with in the output directory. */
  readonly npmCommand: string;
  readonly packageJson: string;
}

const HANDLER_EXTENSIONS = ['.ts', '.tsx', '.mts', '.cts', '.js', '.jsx', '.mjs', '.cjs'];
const OPTIONS_WE_PLACE = ['entryPoints', 'outfile', 'outdir', 'outExtension', 'splitting', 'write', 'absWorkingDir'];

/** True for JSON data only (no functions such as esbuild plugins, no class instances). */
const isPlainData = (value: unknown): boolean => {
  if (value === null || ['string', 'number', 'boolean', 'undefined'].includes(typeof value)) return true;
  if (Array.isArray(value)) return value.every(isPlainData);
  if (typeof value !== 'object' || Object.getPrototypeOf(value) !== Object.prototype) return false;
  return Object.values(value as object).every(isPlainData);
};

/**
 * The recipe SST 2.49.8 follows for a Node function in deploy mode, or undefined where this file
 * does not reproduce SST's build (SST then builds the function itself).
 */
export const recipeOf = (root: string, functionId: string, props: FunctionBuildProps): BundleRecipe | undefined => {
  const { handler, runtime, nodejs = {} } = props;
  if (typeof handler !== 'string' || typeof runtime !== 'string' || !runtime.startsWith('nodejs')) return undefined;
  if (props.hooks !== undefined || (props.copyFiles?.length ?? 0) > 0) return undefined;
  if (nodejs.splitting || (nodejs.install?.length ?? 0) > 0 || !isPlainData(nodejs)) return undefined;
  // With sourcemap unset SST uploads the map through a custom resource: SST's path.
  if (!nodejs.sourcemap && nodejs.sourcemap !== false) return undefined;
  const { external = [], ...override } = (nodejs.esbuild ?? {}) as { external?: string[] } & Record<string, unknown>;
  if (OPTIONS_WE_PLACE.some((option) => option in override)) return undefined;
  const parsed = parse(handler);
  const file = HANDLER_EXTENSIONS.map((ext) => join(parsed.dir, parsed.name + ext)).find((f) =>
    existsSync(resolve(root, f)),
  );
  if (!file) return undefined;
  const isESM = (nodejs.format ?? 'esm') === 'esm';
  const dir = relative(root, resolve(root, parsed.dir));
  const extension = isESM ? '.mjs' : '.cjs';
  const bundle = join(
    !dir.startsWith('..') && !isAbsolute(handler) ? dir : '',
    parsed.name.replace('.', '-') + extension,
  );
  const forceExternal = ['sharp', 'pg-native', ...(isESM || runtime !== 'nodejs16.x' ? [] : ['aws-sdk'])];
  const options: Record<string, unknown> = {
    platform: 'node',
    external: [...forceExternal, ...external],
    loader: nodejs.loader,
    keepNames: true,
    bundle: true,
    logLevel: 'silent',
    metafile: true,
    ...(isESM
      ? {
          format: 'esm',
          target: 'esnext',
          mainFields: ['module', 'main'],
          banner: {
            js: [
              `import { createRequire as topLevelCreateRequire } from 'module';`,
              `const require = topLevelCreateRequire(import.meta.url);`,
              `import { fileURLToPath as topLevelFileUrlToPath, URL as topLevelURL } from "url"`,
              `const __dirname = topLevelFileUrlToPath(new topLevelURL(".", import.meta.url))`,
              nodejs.banner || '',
            ].join('\n'),
          },
        }
      : { format: 'cjs', target: 'node14', banner: nodejs.banner ? { js: nodejs.banner } : undefined }),
    sourcemap: nodejs.sourcemap !== false,
    minify: nodejs.minify,
    ...override,
  };
  const arm = props.architecture === 'arm_64';
  return {
    functionId,
    entry: relative(root, resolve(root, file)),
    bundlePath: bundle.split(sep).join(posix.sep),
    handler: join(dirname(bundle), basename(bundle, extension) + parsed.ext)
      .split(sep)
      .join(posix.sep),
    options,
    npmCommand: [
      'npm install',
      '--omit=dev',
      '--omit=optional',
      '--force',
      '--platform=linux',
      arm ? '--arch=arm64' : '--arch=x64',
      '--os=linux',
      arm ? '--cpu=arm64' : '--cpu=x64',
    ].join(' '),
    packageJson: JSON.stringify({ dependencies: {} }),
  };
};

/** Versions of the tools whose output lands in a bundle directory. */
export interface ToolVersions {
  readonly sst: string;
  readonly esbuild: string;
  readonly npm: string;
}

/** The recipe's hash: the key of the list of files its last build read. */
export const recipeHash = (recipe: BundleRecipe, tools: ToolVersions): string =>
  createHash('sha256')
    .update(JSON.stringify({ format: CACHE_FORMAT, tools, recipe }))
    .digest('hex')
    .slice(0, 24);

/** Reads files once per process: most functions read the same SDK modules. */
export class FileHasher {
  readonly #hashes = new Map<string, string>();
  constructor(readonly root: string) {}

  /** The content hash of a file (or of a directory's entry names), 'absent' when it is not there. */
  of(path: string): string {
    const known = this.#hashes.get(path);
    if (known) return known;
    const full = resolve(this.root, path);
    let hash = 'absent';
    try {
      const stat = statSync(full);
      hash = createHash('sha1')
        .update(stat.isDirectory() ? readdirSync(full).sort().join('\0') : readFileSync(full))
        .digest('hex');
    } catch {}
    this.#hashes.set(path, hash);
    return hash;
  }
}

/**
 * What a build with these inputs depends on beyond their contents: for each project file (outside
 * node_modules) its directory's listing (a new file can change what an import resolves to) and
 * the package.json and tsconfig.json files from there up to the root (exports, paths); and the
 * lock file, which pins node_modules.
 */
export const resolutionFiles = (inputs: readonly string[]): string[] => {
  const files = new Set<string>(['package-lock.json', 'package.json', 'tsconfig.json']);
  for (const input of inputs) {
    if (input.split(/[\\/]/).includes('node_modules') || input.includes(':')) continue;
    // Up to the root; for a file outside it (a workspace linked from elsewhere) the listing of its
    // own directory only: the directories above hold other projects.
    const outside = input.startsWith('..');
    for (let dir = dirname(input); !/^(\.\.[\\/])*\.\.$/.test(dir); dir = dirname(dir)) {
      // Not the root's listing: SST writes a timestamped .sst.config file there on every run.
      if (dir !== '.' && (!outside || dir === dirname(input))) files.add(`${dir}/`);
      files.add(join(dir, 'package.json'));
      files.add(join(dir, 'tsconfig.json'));
      if (dir === '.' || dir === dirname(dir)) break;
    }
  }
  return [...files].sort();
};

/**
 * The bundle's cache key: the recipe's hash and the contents of everything the build read. A
 * change to any input, to the files steering resolution, to the recipe (options, config compiled
 * in with `define`, layout) or to a tool version gives another key.
 */
export const bundleKey = (recipeKey: string, inputs: readonly string[], files: FileHasher): string => {
  const hash = createHash('sha256').update(recipeKey);
  for (const path of [...inputs].sort()) hash.update(`\0${path}\0${files.of(path)}`);
  for (const path of resolutionFiles(inputs)) hash.update(`\0${path}\0${files.of(path)}`);
  return hash.digest('hex').slice(0, 32);
};

/** Files reachable from an entry in an esbuild metafile: what a build of that entry alone reads. */
export const inputsOf = (
  metafile: { inputs: Record<string, { imports: { path: string; external?: boolean }[] }> },
  entry: string,
): string[] => {
  const seen = new Set<string>();
  const queue = [entry];
  while (queue.length > 0) {
    const path = queue.pop() as string;
    if (seen.has(path) || !metafile.inputs[path]) continue;
    seen.add(path);
    for (const imported of metafile.inputs[path].imports) if (!imported.external) queue.push(imported.path);
  }
  return [...seen].sort();
};

/** The version of the npm that `npm` on PATH runs, read from its package.json. */
const npmVersion = (): string => {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const bin = join(dir, 'npm');
    if (!existsSync(bin)) continue;
    for (let at = dirname(realpathSync(bin)); at !== dirname(at); at = dirname(at)) {
      const manifest = join(at, 'package.json');
      if (!existsSync(manifest)) continue;
      const { name, version } = JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string; version?: string };
      if (name === 'npm' && version) return version;
    }
  }
  return 'unknown';
};

const run = (command: string, cwd: string): Promise<void> =>
  new Promise((done, fail) => exec(command, { cwd }, (error) => (error ? fail(error) : done())));

export interface BundleCacheStats {
  built: number;
  reused: number;
  /** Functions SST built itself (a recipe this file does not reproduce). */
  bySst: number;
  seconds: number;
}

export interface BundleCacheOptions {
  readonly root: string;
  /** Default `<root>/.sst/bundle-cache`, as deep as SST's `.sst/artifacts`. */
  readonly cacheDir?: string;
}

type Esbuild = {
  version: string;
  build: (options: Record<string, unknown>) => Promise<{
    metafile: { inputs: Record<string, { imports: { path: string; external?: boolean }[] }> };
  }>;
};
type BuildResult = { type: 'success' | 'error'; handler?: string; out?: string; sourcemap?: string; errors?: string[] };
type Handlers = { build: (functionId: string, mode: string) => Promise<BuildResult | undefined> };

/**
 * Puts the bundle cache in front of SST's function builds for this process's app. Call it in the
 * app's configure step (after `initProject`, before `app.finish()`). Returns the counts, filled in
 * as the build runs.
 */
export const useBundleCache = async (options: BundleCacheOptions): Promise<BundleCacheStats> => {
  const stats: BundleCacheStats = { built: 0, reused: 0, bySst: 0, seconds: 0 };
  if (process.env.BAKEHOUSE_BUNDLE_CACHE === 'off') return stats;
  const root = resolve(options.root);
  const requireFromSst = createRequire(createRequire(join(root, 'package.json')).resolve('sst/package.json'));
  const sstVersion = (requireFromSst('./package.json') as { version: string }).version;
  // Another SST may build differently: it builds on its own.
  if (sstVersion !== SST_VERSION || resolve(process.cwd()) !== root) return stats;
  const esbuild = requireFromSst('esbuild') as Esbuild;
  const { useRuntimeHandlers } = (await import('sst/runtime/handlers.js')) as unknown as {
    useRuntimeHandlers: () => Handlers;
  };
  const { useFunctions } = (await import('sst/constructs/Function.js')) as unknown as {
    useFunctions: () => { all: Record<string, FunctionBuildProps> };
  };
  const { useProject } = (await import('sst/project.js')) as unknown as {
    useProject: () => { paths: { artifacts: string } };
  };
  const cacheDir = resolve(options.cacheDir ?? join(root, '.sst', 'bundle-cache'));
  // The source maps' relative paths depend on how deep the output is below the root.
  const depth = (dir: string) => relative(root, dir).split(sep).length;
  if (depth(useProject().paths.artifacts) !== depth(cacheDir)) return stats;
  const tools: ToolVersions = { sst: sstVersion, esbuild: esbuild.version, npm: npmVersion() };
  const handlers = useRuntimeHandlers();
  const sstBuild = handlers.build.bind(handlers);
  let planned: Map<string, Promise<BuildResult | undefined>> | undefined;
  handlers.build = async (functionId, mode) => {
    if (mode !== 'deploy') return sstBuild(functionId, mode);
    planned ??= plan(useFunctions().all);
    const mine = await planned.get(functionId);
    if (mine) return mine;
    stats.bySst += 1;
    return sstBuild(functionId, mode);
  };

  const recipesDir = join(cacheDir, 'recipes');
  const manifestOf = (recipeKey: string): string[] | undefined => {
    try {
      return (JSON.parse(readFileSync(join(recipesDir, `${recipeKey}.json`), 'utf8')) as { inputs: string[] }).inputs;
    } catch {
      return undefined;
    }
  };
  const writeAtomically = (path: string, text: string) => {
    mkdirSync(dirname(path), { recursive: true });
    const temporary = `${path}.${process.pid}.tmp`;
    writeFileSync(temporary, text);
    renameSync(temporary, path);
  };

  /** SST's `npm install` of an empty package writes this lock file, with the directory's name. */
  const lockTemplates = new Map<string, Promise<string>>();
  const PROBE = 'bakehouse-npm-probe';
  const lockFileFor = async (recipe: BundleRecipe): Promise<string> => {
    const id = createHash('sha256')
      .update(JSON.stringify([tools.npm, recipe.npmCommand, recipe.packageJson]))
      .digest('hex')
      .slice(0, 16);
    let template = lockTemplates.get(id);
    if (!template) {
      template = (async () => {
        const stored = join(cacheDir, `npm-lock-${id}.json`);
        if (existsSync(stored)) return readFileSync(stored, 'utf8');
        const probe = join(cacheDir, `probe-${process.pid}-${id}`, PROBE);
        mkdirSync(probe, { recursive: true });
        try {
          writeFileSync(join(probe, 'package.json'), recipe.packageJson);
          await run(recipe.npmCommand, probe);
          const text = readFileSync(join(probe, 'package-lock.json'), 'utf8');
          if (text.split(`"name": "${PROBE}"`).length !== 2) throw new Error('npm lock file without its name');
          writeAtomically(stored, text);
          return text;
        } finally {
          rmSync(dirname(probe), { recursive: true, force: true });
        }
      })();
      lockTemplates.set(id, template);
    }
    return (await template).replace(`"name": "${PROBE}"`, `"name": ${JSON.stringify(recipe.functionId)}`);
  };

  const plan = (functions: Record<string, FunctionBuildProps>): Map<string, Promise<BuildResult | undefined>> => {
    const started = performance.now();
    const files = new FileHasher(root);
    const results = new Map<string, Promise<BuildResult | undefined>>();
    const misses: { recipe: BundleRecipe; recipeKey: string }[] = [];
    for (const [functionId, props] of Object.entries(functions)) {
      // Names SST's lock file gets from the output directory; anything npm might rewrite stays with SST.
      if (!/^[a-z0-9-]+$/.test(functionId)) continue;
      const recipe = recipeOf(root, functionId, props);
      if (!recipe) continue;
      const recipeKey = recipeHash(recipe, tools);
      const inputs = manifestOf(recipeKey);
      const out = inputs && join(cacheDir, bundleKey(recipeKey, inputs, files));
      if (out && existsSync(out)) {
        const now = new Date();
        utimesSync(out, now, now);
        stats.reused += 1;
        results.set(functionId, Promise.resolve({ type: 'success', handler: recipe.handler, out }));
      } else misses.push({ recipe, recipeKey });
    }
    // One esbuild build per distinct set of options (the configuration compiled in is one of them).
    const groups = new Map<string, typeof misses>();
    for (const miss of misses) {
      const group =
        JSON.stringify(miss.recipe.options) + miss.recipe.bundlePath.slice(miss.recipe.bundlePath.lastIndexOf('.'));
      groups.set(group, [...(groups.get(group) ?? []), miss]);
    }
    const finished: Promise<unknown>[] = [];
    for (const group of groups.values()) {
      const built = buildGroup(group, files);
      finished.push(built);
      group.forEach(({ recipe }, index) => {
        results.set(
          recipe.functionId,
          built.then((outs) => {
            const out = outs?.[index];
            if (!out) return undefined;
            stats.built += 1;
            return { type: 'success', handler: recipe.handler, out };
          }),
        );
      });
    }
    void Promise.allSettled(finished).then(() => {
      stats.seconds = Math.round((performance.now() - started) / 100) / 10;
      prune();
    });
    return results;
  };

  /** Bundles a group of misses at once; undefined (SST builds them) when esbuild or npm fails. */
  const buildGroup = async (
    group: { recipe: BundleRecipe; recipeKey: string }[],
    files: FileHasher,
  ): Promise<(string | undefined)[] | undefined> => {
    const staging = group.map(({ recipe }) => join(cacheDir, `building-${process.pid}-${recipe.functionId}`));
    try {
      for (const dir of staging) rmSync(dir, { recursive: true, force: true });
      // The lock files (one `npm install` of an empty package the first time) while esbuild works.
      const locks = group.map(({ recipe }) => lockFileFor(recipe));
      for (const lock of locks) lock.catch(() => undefined);
      const first = group[0]?.recipe as BundleRecipe;
      const extension = first.bundlePath.slice(first.bundlePath.lastIndexOf('.'));
      const result = await esbuild.build({
        ...first.options,
        entryPoints: Object.fromEntries(
          group.map(({ recipe }, i) => [
            relative(cacheDir, join(staging[i] as string, recipe.bundlePath.slice(0, -extension.length))),
            recipe.entry,
          ]),
        ),
        outdir: cacheDir,
        outExtension: { '.js': extension },
      });
      return await Promise.all(
        group.map(async ({ recipe, recipeKey }, i) => {
          const dir = staging[i] as string;
          const inputs = inputsOf(result.metafile, recipe.entry);
          // SST installs sharp or pg-native when a function imports them: its own build does that.
          if (inputs.some((input) => /node_modules[\\/](sharp|pg-native)[\\/]/.test(input))) return undefined;
          writeFileSync(join(dir, 'package.json'), recipe.packageJson);
          writeFileSync(join(dir, 'package-lock.json'), await (locks[i] as Promise<string>));
          const out = join(cacheDir, bundleKey(recipeKey, inputs, files));
          try {
            renameSync(dir, out);
          } catch {
            // The same bundle, finished by another process first.
            if (!existsSync(out)) throw new Error(`bundle cache: cannot move ${dir} to ${out}`);
          }
          writeAtomically(join(recipesDir, `${recipeKey}.json`), JSON.stringify({ inputs }));
          return out;
        }),
      );
    } catch {
      return undefined;
    } finally {
      for (const dir of staging) rmSync(dir, { recursive: true, force: true });
    }
  };

  /**
   * Removes bundles unused for a week (a hit touches its directory) and all but the
   * MAX_BUNDLES most recently used (a bundle is about 5 MB), and what a process killed while
   * bundling left behind over a day ago.
   */
  const prune = () => {
    try {
      const entries = readdirSync(cacheDir).map((entry) => ({
        path: join(cacheDir, entry),
        bundle: /^[0-9a-f]{32}$/.test(entry),
        leftover: /^(building|probe)-/.test(entry),
        unusedMs: Date.now() - statSync(join(cacheDir, entry)).mtimeMs,
      }));
      const bundles = entries.filter((e) => e.bundle).sort((a, b) => a.unusedMs - b.unusedMs);
      const stale = [
        ...bundles.filter((e, index) => e.unusedMs > WEEK_MS || index >= MAX_BUNDLES),
        ...entries.filter((e) => e.leftover && e.unusedMs > DAY_MS),
      ];
      for (const { path } of stale) rmSync(path, { recursive: true, force: true });
    } catch {}
  };

  return stats;
};
