/**
 * The assembly cache: keyed by a hash of every synthesis input and the environment, so a repeated
 * start reuses the assembly and any change to the stacks, code, config or lock file synthesizes
 * again. Runs on a scratch project; a cache hit never starts the synthesis.
 */
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { synthesizeForSandbox, synthInputsHash } from '../../dev/synth';

const SHAPE = { stage: 'dev', account: '000000000000', region: 'us-east-1' };

let root: string;

const write = (path: string, content: string) => {
  mkdirSync(join(root, path, '..'), { recursive: true });
  writeFileSync(join(root, path), content);
};

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'bakehouse-synth-cache-'));
  write('stacks/index.ts', 'export const stacks = 1;');
  write('functions/start-bake/handler.ts', 'export const handler = 1;');
  write('bakehouse.config.ts', 'export default {};');
  write('package-lock.json', '{}');
});

afterEach(() => rmSync(root, { recursive: true, force: true }));

describe('provision synth cache', () => {
  it('changes the hash when a stack, a function, the config or the lock file changes', () => {
    // Prepare
    const before = synthInputsHash(root, SHAPE);
    const changes = ['stacks/index.ts', 'functions/start-bake/handler.ts', 'bakehouse.config.ts', 'package-lock.json'];

    // Act
    const after = changes.map((file) => {
      write(file, `// changed ${file}`);
      return synthInputsHash(root, SHAPE);
    });

    // Assess
    expect(new Set([before, ...after]).size).toBe(5);
  });

  it('keeps the hash for files the synthesis does not read and changes it for another account', () => {
    // Prepare
    const before = synthInputsHash(root, SHAPE);

    // Act
    write('README.md', 'docs');
    write('functions/node_modules/x/index.js', 'ignored');
    const unrelated = synthInputsHash(root, SHAPE);
    const otherAccount = synthInputsHash(root, { ...SHAPE, account: '123456789012' });

    // Assess
    expect(unrelated).toBe(before);
    expect(otherAccount).not.toBe(before);
  });

  it('reuses the cached assembly of the same inputs without synthesizing', async () => {
    // Prepare
    const cacheDir = join(root, '.sandbox');
    const hash = synthInputsHash(root, SHAPE);
    write(`.sandbox/assembly-${hash}/manifest.json`, '{"artifacts":{}}');

    // Act
    const assembly = await synthesizeForSandbox({ root, cacheDir });

    // Assess
    expect(assembly).toEqual({ assemblyDir: join(cacheDir, `assembly-${hash}`), hash, cached: true });
  });

  it('removes assemblies of older inputs once three newer ones were used and an hour has passed', async () => {
    // Prepare: the current assembly and four of earlier inputs, used two to five hours ago
    const cacheDir = join(root, '.sandbox');
    const hash = synthInputsHash(root, SHAPE);
    write(`.sandbox/assembly-${hash}/manifest.json`, '{"artifacts":{}}');
    const older = ['0000000000000002', '0000000000000003', '0000000000000004', '0000000000000005'];
    for (const [i, old] of older.entries()) {
      write(`.sandbox/assembly-${old}/manifest.json`, '{}');
      const at = new Date(Date.now() - (i + 2) * 60 * 60 * 1000);
      utimesSync(join(cacheDir, `assembly-${old}`), at, at);
    }

    // Act
    await synthesizeForSandbox({ root, cacheDir });

    // Assess: the one used now and the two used last before it
    expect(readdirSync(cacheDir).sort()).toEqual(
      [`assembly-${hash}`, 'assembly-0000000000000002', 'assembly-0000000000000003'].sort(),
    );
  });

  it('reports a failed synthesis with its output', async () => {
    // Prepare: a project with no scripts/synth.ts, so the child fails.
    const cacheDir = join(root, '.sandbox');

    // Act
    const outcome = await synthesizeForSandbox({ root, cacheDir }).then(
      () => undefined,
      (error: unknown) => error,
    );

    // Assess
    expect(outcome).toMatchObject({ name: 'SynthError', message: expect.stringMatching(/npm run synth failed/) });
  });

  it('synthesizes once when three callers ask for the same missing assembly at the same time', async () => {
    // Prepare: a synthesis that takes a second and counts its runs (three test files starting
    // together on a clean clone each synthesized before)
    symlinkSync(resolve(import.meta.dirname, '../../node_modules'), join(root, 'node_modules'));
    write('package.json', '{"type":"module"}');
    write(
      'scripts/synth.ts',
      [
        "import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';",
        "import { join } from 'node:path';",
        "const out = process.argv[process.argv.indexOf('--out') + 1] as string;",
        "appendFileSync('runs.txt', 'run\\n');",
        'await new Promise((resolve) => setTimeout(resolve, 1_000));',
        'mkdirSync(out, { recursive: true });',
        "writeFileSync(join(out, 'manifest.json'), '{}');",
      ].join('\n'),
    );
    const cacheDir = join(root, '.sandbox');

    // Act
    const assemblies = await Promise.all([1, 2, 3].map(() => synthesizeForSandbox({ root, cacheDir })));

    // Assess: one synthesized, the two that waited reused its assembly
    expect(readFileSync(join(root, 'runs.txt'), 'utf8').split('\n').filter(Boolean)).toHaveLength(1);
    expect(assemblies.filter((a) => !a.cached)).toHaveLength(1);
    expect(new Set(assemblies.map((a) => a.assemblyDir)).size).toBe(1);
  }, 60_000);
});
