/**
 * The bundle cache's keys (dev/bundle-cache.ts): a bundle is reused only while everything it was
 * built from is unchanged. A changed source, a new file beside one (it can change what an import
 * resolves to), a changed package.json or lock file, another configuration compiled in, another
 * tool version: each gives another key. The same inputs give the same key.
 *
 * And end to end, on a small SST app (test/dev/support/bundle-cache-app.ts) synthesized in child
 * processes: the template and every asset file are byte for byte those SST's own build gives
 * (BAKEHOUSE_BUNDLE_CACHE=off), and after one function's source changes only that function is
 * bundled again while the other's bundle is reused.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  type BundleRecipe,
  bundleKey,
  FileHasher,
  type FunctionBuildProps,
  inputsOf,
  recipeHash,
  recipeOf,
  resolutionFiles,
} from '../../dev/bundle-cache';

const TOOLS = { sst: '2.49.8', esbuild: '0.18.13', npm: '11.0.0' };
const PROPS: FunctionBuildProps = {
  handler: 'functions/notify/handler.handler',
  runtime: 'nodejs24.x',
  architecture: 'arm_64',
  nodejs: {
    format: 'esm',
    minify: true,
    sourcemap: true,
    install: [],
    esbuild: { external: [], define: { __BAKEHOUSE_CONFIG__: '{"families":[]}' } },
  },
};
const INPUTS = ['functions/notify/handler.ts', 'functions/commons/env.ts', 'node_modules/zod/index.js'];

let root: string;
const write = (path: string, text: string) => {
  mkdirSync(join(root, path, '..'), { recursive: true });
  writeFileSync(join(root, path), text);
};
const recipe = (props: FunctionBuildProps = PROPS): BundleRecipe => {
  const found = recipeOf(root, 'c8notify', props);
  if (!found) throw new Error('no recipe');
  return found;
};
/** The key as a fresh process computes it (files are read once per process). */
const keyNow = (r: BundleRecipe = recipe(), tools = TOOLS, inputs = INPUTS) =>
  bundleKey(recipeHash(r, tools), inputs, new FileHasher(root));

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'bakehouse-bundle-cache-'));
  write('functions/notify/handler.ts', 'export const handler = () => 1;\n');
  write('functions/commons/env.ts', 'export const env = {};\n');
  write('node_modules/zod/index.js', 'module.exports = {};\n');
  write('package.json', '{"name":"fixture"}');
  write('package-lock.json', '{"lockfileVersion":3}');
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

describe('recipeOf', () => {
  it('reproduces the layout SST 2.49.8 gives a Node function in deploy mode', () => {
    const found = recipe();
    expect(found).toMatchObject({
      functionId: 'c8notify',
      entry: 'functions/notify/handler.ts',
      bundlePath: 'functions/notify/handler.mjs',
      handler: 'functions/notify/handler.handler',
      packageJson: '{"dependencies":{}}',
      npmCommand: 'npm install --omit=dev --omit=optional --force --platform=linux --arch=arm64 --os=linux --cpu=arm64',
    });
    expect(found.options).toMatchObject({
      format: 'esm',
      external: ['sharp', 'pg-native'],
      sourcemap: true,
      minify: true,
      define: { __BAKEHOUSE_CONFIG__: '{"families":[]}' },
    });
  });

  it('leaves to SST what it does not reproduce', () => {
    const nodejs = PROPS.nodejs ?? {};
    expect(recipeOf(root, 'x', { ...PROPS, hooks: { beforeBuild: () => {} } })).toBeUndefined();
    expect(recipeOf(root, 'x', { ...PROPS, copyFiles: [{ from: 'a' }] })).toBeUndefined();
    expect(recipeOf(root, 'x', { ...PROPS, nodejs: { ...nodejs, splitting: true } })).toBeUndefined();
    expect(recipeOf(root, 'x', { ...PROPS, nodejs: { ...nodejs, install: ['sharp'] } })).toBeUndefined();
    // Unset, SST uploads the source map through a custom resource.
    const { sourcemap: _, ...unset } = nodejs;
    expect(recipeOf(root, 'x', { ...PROPS, nodejs: unset })).toBeUndefined();
    expect(
      recipeOf(root, 'x', { ...PROPS, nodejs: { ...nodejs, esbuild: { plugins: [{ name: 'p', setup() {} }] } } }),
    ).toBeUndefined();
    expect(recipeOf(root, 'x', { ...PROPS, runtime: 'python3.12' })).toBeUndefined();
    expect(recipeOf(root, 'x', { ...PROPS, handler: 'functions/missing/handler.handler' })).toBeUndefined();
  });
});

describe('bundleKey', () => {
  it('is the same for the same inputs, so a second build reuses the bundle', () => {
    expect(keyNow()).toBe(keyNow());
  });

  it('changes when a source the function reads changes, and comes back when it is reverted', () => {
    const before = keyNow();
    write('functions/commons/env.ts', 'export const env = { changed: true };\n');
    const changed = keyNow();
    expect(changed).not.toBe(before);
    write('functions/commons/env.ts', 'export const env = {};\n');
    expect(keyNow()).toBe(before);
  });

  it('changes when a dependency in node_modules or the lock file changes', () => {
    const before = keyNow();
    write('node_modules/zod/index.js', 'module.exports = { v: 2 };\n');
    const afterModule = keyNow();
    expect(afterModule).not.toBe(before);
    write('package-lock.json', '{"lockfileVersion":3,"packages":{}}');
    expect(keyNow()).not.toBe(afterModule);
  });

  it('changes when a file appears beside a source (an import may now resolve to it)', () => {
    const before = keyNow();
    write('functions/commons/env/index.ts', 'export const env = { shadow: true };\n');
    expect(keyNow()).not.toBe(before);
  });

  it('changes when a package.json or tsconfig.json on the way to the root appears or changes', () => {
    const before = keyNow();
    write('functions/tsconfig.json', '{}');
    const withTsconfig = keyNow();
    expect(withTsconfig).not.toBe(before);
    write('package.json', '{"name":"fixture","type":"module"}');
    expect(keyNow()).not.toBe(withTsconfig);
  });

  it('changes with another configuration compiled in, other options, or another function', () => {
    const before = keyNow();
    const nodejs = PROPS.nodejs ?? {};
    const otherConfig = recipe({
      ...PROPS,
      nodejs: { ...nodejs, esbuild: { external: [], define: { __BAKEHOUSE_CONFIG__: '{"families":[1]}' } } },
    });
    expect(keyNow(otherConfig)).not.toBe(before);
    expect(keyNow(recipe({ ...PROPS, nodejs: { ...nodejs, minify: false } }))).not.toBe(before);
    expect(keyNow(recipe({ ...PROPS, architecture: 'x86_64' }))).not.toBe(before);
    const otherId = recipeOf(root, 'c8other', PROPS) as BundleRecipe;
    expect(keyNow(otherId)).not.toBe(before);
  });

  it('changes with another SST, esbuild or npm', () => {
    const before = keyNow();
    expect(keyNow(recipe(), { ...TOOLS, sst: '2.50.0' })).not.toBe(before);
    expect(keyNow(recipe(), { ...TOOLS, esbuild: '0.19.0' })).not.toBe(before);
    expect(keyNow(recipe(), { ...TOOLS, npm: '12.0.0' })).not.toBe(before);
  });

  it('does not read the root listing (SST writes a new .sst.config file there on every run)', () => {
    const before = keyNow();
    write('.sst.config.1796468832320.mjs', 'export default {};');
    expect(keyNow()).toBe(before);
    expect(resolutionFiles(INPUTS)).not.toContain('./');
  });
});

describe('inputsOf', () => {
  it('is what the entry reaches in a metafile shared by several entries, not the others', () => {
    const metafile = {
      inputs: {
        'functions/a/handler.ts': {
          imports: [{ path: 'functions/commons/env.ts' }, { path: 'sharp', external: true }],
        },
        'functions/commons/env.ts': { imports: [{ path: 'node_modules/zod/index.js' }] },
        'node_modules/zod/index.js': { imports: [] },
        'functions/b/handler.ts': { imports: [{ path: 'functions/b/core.ts' }] },
        'functions/b/core.ts': { imports: [] },
      },
    };
    expect(inputsOf(metafile, 'functions/a/handler.ts')).toEqual([
      'functions/a/handler.ts',
      'functions/commons/env.ts',
      'node_modules/zod/index.js',
    ]);
    expect(inputsOf(metafile, 'functions/b/handler.ts')).toEqual(['functions/b/core.ts', 'functions/b/handler.ts']);
  });
});

describe('an offline synthesis through the bundle cache', () => {
  const ROOT = resolve(import.meta.dirname, '..', '..');
  // As deep below the root as SST's .sst/artifacts (source maps name sources relative to it).
  const cacheDir = join(ROOT, '.sst', `bundle-cache-test-${process.pid}`);
  // At the root, not under .sst/: a bundle's key covers the listing of each directory above its
  // sources but the root's, and other files' syntheses add entries to .sst/ while this one runs
  // (a clean-clone run rebuilt the unchanged function because .sst/ had gained one).
  const fixtureDir = join(ROOT, `.bundle-fixture-${process.pid}`);
  const outs = mkdtempSync(join(tmpdir(), 'bakehouse-bundle-cache-out-'));
  type Run = { stats: { built: number; reused: number; bySst: number }; directory: string };

  const synth = async (name: string, env: Record<string, string> = {}): Promise<Run> => {
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--import', 'tsx', 'test/dev/support/bundle-cache-app.ts', join(outs, name)],
      {
        cwd: ROOT,
        env: { ...process.env, BUNDLE_FIXTURE_DIR: relative(ROOT, fixtureDir), BUNDLE_CACHE_DIR: cacheDir, ...env },
      },
    );
    return JSON.parse(stdout.trim().split('\n').at(-1) as string) as Run;
  };
  /** Every file of the assembly but its tree and manifest metadata, path to contents. */
  const filesOf = (dir: string, under = ''): Record<string, string> =>
    Object.fromEntries(
      readdirSync(join(dir, under), { withFileTypes: true }).flatMap((entry) => {
        const path = join(under, entry.name);
        if (entry.isDirectory()) return Object.entries(filesOf(dir, path));
        return path.startsWith('asset.') || path.endsWith('.template.json')
          ? [[path, readFileSync(join(dir, path), 'base64')]]
          : [];
      }),
    );
  const fixture = (path: string, text: string) => {
    mkdirSync(join(fixtureDir, path, '..'), { recursive: true });
    writeFileSync(join(fixtureDir, path), text);
  };

  it('writes what SST writes, and rebuilds only the function whose source changed', async () => {
    try {
      fixture('shared.ts', "export const greeting = (name: string): string => 'hello ' + name;\n");
      for (const name of ['a', 'b'])
        fixture(
          `${name}/handler.ts`,
          `import { greeting } from '../shared';\nexport const handler = async () => greeting('${name}');\n`,
        );
      const [bySst, first] = await Promise.all([synth('sst', { BAKEHOUSE_BUNDLE_CACHE: 'off' }), synth('first')]);
      expect(first.stats).toEqual(expect.objectContaining({ built: 2, reused: 0, bySst: 0 }));
      const sstFiles = filesOf(bySst.directory);
      expect(Object.keys(sstFiles).filter((path) => path.endsWith('/handler.mjs'))).toHaveLength(2);
      expect(filesOf(first.directory)).toEqual(sstFiles);

      fixture(
        'a/handler.ts',
        `import { greeting } from '../shared';\nexport const handler = async () => greeting('A');\n`,
      );
      const changed = await synth('changed');
      expect(changed.stats).toEqual(expect.objectContaining({ built: 1, reused: 1, bySst: 0 }));
      const bundles = (files: Record<string, string>) =>
        Object.keys(files).filter((path) => path.endsWith('/handler.mjs'));
      const before = bundles(sstFiles);
      const after = bundles(filesOf(changed.directory));
      // B's asset is the same directory (same hash); A's is new.
      expect(after.filter((path) => before.includes(path))).toEqual(
        before.filter((path) => path.endsWith('b/handler.mjs')),
      );
      expect(after.filter((path) => !before.includes(path))).toEqual([expect.stringMatching(/a\/handler\.mjs$/)]);
    } finally {
      for (const dir of [cacheDir, fixtureDir, outs]) rmSync(dir, { recursive: true, force: true });
    }
  }, 240_000);
});
