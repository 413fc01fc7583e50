/**
 * The shipped `bakehouse` (bin/bakehouse.mjs and bin/chunks/, built by scripts/build-cli.ts):
 * the committed files are what today's sources build to, they import nothing `npm ci --omit=dev`
 * does not install, the CLI reaches no emulator, dev tooling or test code, and `--help` loads
 * commander alone. test/e2e/cli-bundle.test.ts runs it.
 */
import { existsSync, readdirSync, readFileSync, realpathSync } from 'node:fs';
import { isBuiltin } from 'node:module';
import { join, relative, sep } from 'node:path';
import { build, type Metafile } from 'esbuild';
import { describe, expect, it } from 'vitest';
import { buildCli, CLI_CHUNKS, CLI_ENTRY, ROOT } from '../../scripts/build-cli';

const STALE = 'run npm run build:cli and commit bin/';

interface PackageJson {
  readonly bin?: Record<string, string>;
  readonly dependencies?: Record<string, string>;
}
const packageJsonAt = (dir: string): PackageJson =>
  JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as PackageJson;
const rootPackage = packageJsonAt(ROOT);
const dependencies = Object.keys(rootPackage.dependencies ?? {});

/** `@scope/name/sub` → `@scope/name`, `zod/mini` → `zod`. */
const packageOf = (specifier: string): string =>
  specifier
    .split('/')
    .slice(0, specifier.startsWith('@') ? 2 : 1)
    .join('/');

/** A package linked from this repository (a workspace), not installed into node_modules. */
const isWorkspace = (name: string): boolean =>
  !relative(ROOT, realpathSync(join(ROOT, 'node_modules', name)))
    .split(sep)
    .includes('node_modules');

/** The committed bundle's files, relative to the repository. */
const committedFiles = (): string[] => [
  ...(existsSync(join(ROOT, CLI_ENTRY)) ? [CLI_ENTRY] : []),
  ...(existsSync(join(ROOT, CLI_CHUNKS))
    ? readdirSync(join(ROOT, CLI_CHUNKS)).map((name) => `${CLI_CHUNKS}/${name}`)
    : []),
];

/** The committed bundle read back by esbuild: every file the entry reaches and what each imports. */
const committedGraph = async (): Promise<Metafile> => {
  const result = await build({
    absWorkingDir: ROOT,
    entryPoints: [CLI_ENTRY],
    bundle: true,
    write: false,
    metafile: true,
    platform: 'node',
    format: 'esm',
    packages: 'external',
    logLevel: 'silent',
  });
  return result.metafile;
};

/** The bare specifiers imported from `entry` and the files it imports statically (what `--help` loads). */
const staticImports = (graph: Metafile, entry: string): Set<string> => {
  const seen = new Set<string>();
  const external = new Set<string>();
  const visit = (file: string): void => {
    if (seen.has(file)) return;
    seen.add(file);
    for (const imported of graph.inputs[file]?.imports ?? []) {
      if (imported.kind !== 'import-statement') continue;
      if (imported.external) external.add(imported.path);
      else visit(imported.path);
    }
  };
  visit(entry);
  return external;
};

describe('the committed CLI bundle', () => {
  it('is byte for byte what npm run build:cli builds from the sources today', async () => {
    const built = await buildCli();
    const committed = committedFiles();
    const builtPaths = built.files.map((file) => file.path);
    const missing = builtPaths.filter((path) => !committed.includes(path));
    const extra = committed.filter((path) => !builtPaths.includes(path));
    const differing = built.files
      .filter((file) => committed.includes(file.path))
      .filter((file) => !Buffer.from(file.contents).equals(readFileSync(join(ROOT, file.path))))
      .map((file) => file.path);
    const problems = [
      ...missing.map((path) => `${path} is not committed`),
      ...extra.map((path) => `${path} is not built any more`),
      ...differing.map((path) => `${path} differs from the build`),
    ];
    expect(problems, `the bundle is stale: ${STALE}\n${problems.join('\n')}`).toEqual([]);
  }, 60_000);

  it('is the bin of the package, a #! script for node', () => {
    expect(rootPackage.bin).toEqual({ bakehouse: CLI_ENTRY });
    expect(readFileSync(join(ROOT, CLI_ENTRY), 'utf8').split('\n')[0]).toBe('#!/usr/bin/env node');
  });

  it('imports only Node builtins and installed packages listed in "dependencies"', async () => {
    const graph = await committedGraph();
    const reached = Object.keys(graph.inputs).sort();
    // Every committed file is reached from the entry, so every one of them was checked.
    expect(reached).toEqual(committedFiles().sort());
    const specifiers = new Set(
      Object.values(graph.inputs).flatMap((input) => input.imports.filter((i) => i.external).map((i) => i.path)),
    );
    const foreign = [...specifiers].filter((s) => !isBuiltin(s) && !dependencies.includes(packageOf(s)));
    expect(foreign, 'imports of packages npm ci --omit=dev does not install').toEqual([]);
    // A workspace package exports its TypeScript source, which Node will not load from node_modules.
    const workspaces = [...specifiers].filter((s) => !isBuiltin(s) && isWorkspace(packageOf(s)));
    expect(workspaces, 'workspace packages must be bundled in').toEqual([]);
    expect([...specifiers].map(packageOf)).toContain('@aws-sdk/client-ec2');
  }, 30_000);

  it('loads no package for --help: commander is bundled in; the SDK, zod and the configuration are loaded by the command', async () => {
    const graph = await committedGraph();
    const packages = [...staticImports(graph, CLI_ENTRY)].filter((s) => !isBuiltin(s)).map(packageOf);
    expect(packages).toEqual([]);
    expect(readFileSync(join(ROOT, CLI_ENTRY), 'utf8')).toContain('node_modules/commander/lib/command.js');
  }, 30_000);
});

describe('what the CLI reaches', () => {
  it('is product code and what "dependencies" install: no emulator, dev tooling, tests or devDependencies', async () => {
    const { inputs } = await buildCli();
    const local = inputs.filter((path) => !path.includes('node_modules/'));
    expect(
      local.filter((path) => !/^(cli|functions\/commons|packages\/cron\/src)\/|^bakehouse\.config\.ts$/.test(path)),
    ).toEqual([]);
    expect(local).toContain('bakehouse.config.ts');
    expect(local).toContain('packages/cron/src/index.ts');
    // Bundled third-party code: only packages the dependencies install (their own "dependencies").
    const installed = new Set<string>();
    const queue = [...dependencies];
    for (let name = queue.shift(); name !== undefined; name = queue.shift()) {
      if (installed.has(name)) continue;
      installed.add(name);
      const dir = join(ROOT, 'node_modules', name);
      if (existsSync(dir)) queue.push(...Object.keys(packageJsonAt(dir).dependencies ?? {}));
    }
    const bundledPackages = [
      ...new Set(
        inputs
          .filter((path) => path.includes('node_modules/'))
          .map((path) => packageOf(path.slice(path.lastIndexOf('node_modules/') + 'node_modules/'.length))),
      ),
    ];
    expect(bundledPackages.filter((name) => !installed.has(name))).toEqual([]);
    expect(bundledPackages).toContain('aws-cron-parser');
  }, 60_000);
});
