/**
 * The boundary between the product and the emulator: product code (functions, stacks, state
 * machines, automation documents, schemas, the CLI) never imports the sandbox or the app's dev
 * tooling, and the sandbox package never imports the application. Proven twice: the Biome rule
 * that `npm run lint` applies flags each kind of forbidden import, and every import in the tree
 * as it is resolves where the boundary allows.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '..', '..');
const PRODUCT = ['functions', 'stacks', 'state-machines', 'automation', 'schemas', 'cli', 'bin'];
const PRODUCT_FILES = ['sst.config.ts', 'bakehouse.config.ts'];

const sourcesUnder = (dir: string): string[] =>
  readdirSync(join(root, dir), { recursive: true, encoding: 'utf8' })
    .filter((path) => /\.(ts|mts|mjs|js)$/.test(path) && !path.split('/').includes('node_modules'))
    .map((path) => join(dir, path));

const SPECIFIER = /(?:from|import)\s*\(?\s*['"]([^'"]+)['"]/g;
const specifiersOf = (file: string): string[] =>
  [...readFileSync(join(root, file), 'utf8').matchAll(SPECIFIER)].map((match) => match[1] as string);

/** Where a relative specifier points, relative to the project root; a package name as it is. */
const targetOf = (file: string, specifier: string): string =>
  specifier.startsWith('.') ? relative(root, resolve(root, dirname(file), specifier)) : specifier;

describe('the product never imports the emulator', () => {
  it('resolves every import of product code outside packages/sandbox, dev/ and test/', () => {
    // Arrange
    const files = [...PRODUCT.flatMap(sourcesUnder), ...PRODUCT_FILES];

    // Act
    const crossings = files.flatMap((file) =>
      specifiersOf(file)
        .map((specifier) => ({ file, specifier, target: targetOf(file, specifier) }))
        .filter(({ target }) => /^(@bakehouse\/sandbox|packages\/sandbox|dev|test)(\/|$)/.test(target)),
    );

    // Assess
    expect(files.length).toBeGreaterThan(50);
    expect(crossings).toEqual([]);
  });

  it('resolves every import of the sandbox package inside the package or to a library', () => {
    // Arrange
    const files = sourcesUnder('packages/sandbox');

    // Act
    const crossings = files.flatMap((file) =>
      specifiersOf(file)
        .map((specifier) => ({ file, specifier, target: targetOf(file, specifier) }))
        .filter(({ specifier, target }) => specifier.startsWith('.') && !target.startsWith('packages/sandbox/')),
    );

    // Assess
    expect(files.length).toBeGreaterThan(50);
    expect(crossings).toEqual([]);
  });
});

describe('the lint rule that keeps it so', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'bakehouse-layout-'));
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  /** Lints probe files in a scratch tree under the project's Biome configuration. */
  const lint = (files: Record<string, string>): { path: string; rule: string; line: number }[] => {
    const config = JSON.parse(readFileSync(join(root, 'biome.json'), 'utf8')) as Record<string, unknown>;
    delete config.vcs;
    delete config.$schema;
    writeFileSync(join(scratch, 'biome.json'), JSON.stringify(config));
    for (const [path, text] of Object.entries(files)) {
      mkdirSync(dirname(join(scratch, path)), { recursive: true });
      writeFileSync(join(scratch, path), text);
    }
    const run = spawnSync(
      join(root, 'node_modules', '.bin', 'biome'),
      ['lint', '--reporter=json', ...Object.keys(files)],
      {
        cwd: scratch,
        encoding: 'utf8',
      },
    );
    const report = JSON.parse(run.stdout) as {
      diagnostics: { category: string; location: { path: string; start?: { line: number } } }[];
    };
    return report.diagnostics.map((d) => ({
      path: d.location.path,
      rule: d.category,
      line: d.location.start?.line ?? 0,
    }));
  };

  it('flags a product file that imports the sandbox by package, subpath or path, or the dev tooling', () => {
    // Arrange
    const probe = [
      "import { startSandbox } from '@bakehouse/sandbox';",
      "import { startTestSandbox } from '@bakehouse/sandbox/testing';",
      "import { Store } from '../../packages/sandbox/src/store';",
      "import { runLifecycle } from '../../dev/start/lifecycle';",
      "import { nextCron } from '@bakehouse/cron';",
      '',
      'export const probe = [startSandbox, startTestSandbox, Store, runLifecycle, nextCron];',
      '',
    ].join('\n');

    // Act
    const findings = lint({ 'functions/commons/probe.ts': probe, 'cli/probe.ts': probe });

    // Assess: the first four imports of each file, not the library
    const restricted = findings.filter((f) => f.rule === 'lint/style/noRestrictedImports');
    expect(restricted.map((f) => `${f.path}:${f.line}`).sort()).toEqual(
      ['cli/probe.ts', 'functions/commons/probe.ts'].flatMap((path) => [1, 2, 3, 4].map((line) => `${path}:${line}`)),
    );
  });

  it('flags the sandbox package importing the application, and lets the dev tooling import the sandbox', () => {
    // Arrange
    const emulator = [
      "import rawConfig from '../../../bakehouse.config';",
      "import { loadConfig } from '../../../functions/commons/families';",
      "import { loadBakeDocument } from '../../../automation/documents';",
      "import { AwsError } from './errors';",
      "import { runAutomation } from './services/ssm/automation/engine';",
      '',
      'export const probe = [rawConfig, loadConfig, loadBakeDocument, AwsError, runAutomation];',
      '',
    ].join('\n');
    const tooling = [
      "import { startSandbox } from '@bakehouse/sandbox';",
      "import { loadConfig } from '../functions/commons/families';",
      '',
      'export const probe = [startSandbox, loadConfig];',
      '',
    ].join('\n');

    // Act
    const findings = lint({ 'packages/sandbox/src/probe.ts': emulator, 'dev/probe.ts': tooling });

    // Assess
    const restricted = findings.filter((f) => f.rule === 'lint/style/noRestrictedImports');
    expect(restricted.map((f) => `${f.path}:${f.line}`).sort()).toEqual([
      'packages/sandbox/src/probe.ts:1',
      'packages/sandbox/src/probe.ts:2',
      'packages/sandbox/src/probe.ts:3',
    ]);
  });
});
