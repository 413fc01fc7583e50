import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { build } from 'esbuild';
import { afterAll, describe, expect, it } from 'vitest';
import rawConfig from '../../bakehouse.config';
import { bundleDefines, loadConfig } from '../../functions/commons/families';

const outDir = mkdtempSync(join(tmpdir(), 'bakehouse-config-bundle-'));
afterAll(() => rmSync(outDir, { recursive: true, force: true }));

/**
 * Bundles commons/config.ts the way the stack bundles functions, then calls bakehouseConfig() in
 * a fresh Node process (outside Vitest, whose own define would otherwise apply to the bundle).
 */
const bundleAndCall = async (name: string, define: Record<string, string>): Promise<string> => {
  const outfile = join(outDir, `${name}.mjs`);
  await build({
    entryPoints: [join(import.meta.dirname, '../../functions/commons/config.ts')],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    define,
    logLevel: 'silent',
  });
  const probe = `const m = await import(${JSON.stringify(pathToFileURL(outfile).href)});
try { process.stdout.write(JSON.stringify(m.bakehouseConfig())); } catch (e) { process.stdout.write('ERROR ' + e.name + ': ' + e.message); }`;
  const child = spawnSync(process.execPath, ['--input-type=module', '-e', probe], { encoding: 'utf8' });
  return child.stdout;
};

describe('the family configuration inside a bundle', () => {
  it('is the validated config, compiled in as data', async () => {
    // Prepare
    const validated = loadConfig(structuredClone(rawConfig));

    // Act
    const output = await bundleAndCall('with-define', bundleDefines(validated));

    // Assess
    expect(JSON.parse(output)).toEqual(validated);
  });

  it('fails with the fix when the bundle was built without it', async () => {
    // Act
    const output = await bundleAndCall('without-define', {});

    // Assess
    expect(output).toMatch(
      /^ERROR ConfigNotBundledError: .*not compiled into this bundle\. Fix: build through the Bakehouse stack/,
    );
  });

  it('keeps zod and the config schema out of the bundle', async () => {
    // Prepare
    const outfile = join(outDir, 'size.mjs');

    // Act
    const result = await build({
      entryPoints: [join(import.meta.dirname, '../../functions/commons/config.ts')],
      outfile,
      bundle: true,
      platform: 'node',
      format: 'esm',
      metafile: true,
      define: bundleDefines(loadConfig(structuredClone(rawConfig))),
      logLevel: 'silent',
    });

    // Assess
    const inputs = Object.keys(result.metafile.inputs);
    expect(inputs.some((path) => path.includes('node_modules/zod'))).toBe(false);
    expect(inputs.some((path) => path.endsWith('families.ts'))).toBe(false);
  });
});
