/**
 * `npm run synth` as a user runs it: a child process with no AWS credentials, printing the
 * template paths, or the configuration problem and exit code 1.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import shippedConfig from '../../bakehouse.config';

const workdir = mkdtempSync(join(tmpdir(), 'bakehouse-synth-script-'));

/** Runs scripts/synth.ts from the project root with an environment that holds no AWS credentials. */
const synth = (...args: string[]) => {
  const env = Object.fromEntries(
    Object.entries(process.env).filter(([key]) => !key.startsWith('AWS_') && key !== 'NODE_ENV'),
  );
  return spawnSync('node_modules/.bin/tsx', ['scripts/synth.ts', ...args], {
    cwd: process.cwd(),
    env: { ...env, AWS_EC2_METADATA_DISABLED: 'true' },
    encoding: 'utf8',
    timeout: 120_000,
  });
};

afterAll(() => rmSync(workdir, { recursive: true, force: true }));

describe('scripts/synth.ts', () => {
  it('prints the absolute path of each template it wrote', () => {
    // Prepare
    const out = join(workdir, 'cdk.out');

    // Act
    const result = synth('--stage', 'synthtest', '--account', '210987654321', '--region', 'eu-west-1', '--out', out);

    // Assess
    expect(result.stderr).not.toMatch(/error/i);
    expect(result.status).toBe(0);
    const paths = result.stdout.trim().split('\n');
    expect(paths).toEqual([join(out, 'synthtest-bakehouse-BakePipeline.template.json')]);
    for (const path of paths) {
      expect(isAbsolute(path)).toBe(true);
      expect(existsSync(path)).toBe(true);
      const template = JSON.parse(readFileSync(path, 'utf8')) as { Resources: Record<string, { Type: string }> };
      expect(Object.values(template.Resources).some((r) => r.Type === 'AWS::StepFunctions::StateMachine')).toBe(true);
    }
  }, 120_000);

  it('prints the configuration problem and exits 1 for a bad configuration', () => {
    // Prepare
    const config = structuredClone(shippedConfig) as { families: { name: string; schedule?: unknown }[] };
    const family = config.families.find((f) => f.name === 'al2023-base');
    if (family) family.schedule = { cron: '0 3 ? * SUN *', timezone: 'Mars/Base' };
    const file = join(workdir, 'bad.config.mjs');
    writeFileSync(file, `export default ${JSON.stringify(config)};\n`);

    // Act
    const result = synth('--config', file, '--out', join(workdir, 'bad.out'));

    // Assess
    expect(result.status).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain("family 'al2023-base': schedule.timezone");
    expect(result.stderr).toContain('Fix:');
    expect(existsSync(join(workdir, 'bad.out'))).toBe(false);
  }, 60_000);
});
