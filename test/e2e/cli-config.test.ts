/**
 * The configuration the deployment runs (issue 18), against the stack provisioned in the sandbox:
 * the stack's deployed-configuration parameter, `bakehouse config check` (problems with field and
 * fix, source images checked against the target, drift against the deployment), and commands that
 * keep working on the deployed configuration while the local file is broken. The CLI runs in
 * process through `main`, with the local file replaced by data (MainOptions.localConfig).
 */
import { DescribeParametersCommand, GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import type { TestSandbox } from '@bakehouse/sandbox/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import shippedConfig from '../../bakehouse.config';
import { main } from '../../cli/main';
import { decodeDeployedConfig } from '../../functions/commons/deployed-config';
import { type ConfigInput, loadConfig } from '../../functions/commons/families';
import { startProvisionedSandbox } from './support/stack';

let sandbox: TestSandbox;
let ssm: SSMClient;

beforeAll(async () => {
  ({ sandbox } = await startProvisionedSandbox(600));
  ssm = new SSMClient(sandbox.clientConfig);
}, 180_000);

afterAll(async () => {
  ssm?.destroy();
  await sandbox?.stop();
});

type MutableFamily = Record<string, unknown> & { name: string; builder: Record<string, unknown> };
type MutableConfig = ConfigInput & { families: MutableFamily[] };

/** The shipped configuration with a change, as the local file would export it. */
const localFile = (change: (config: MutableConfig) => void = () => {}): MutableConfig => {
  const config = structuredClone(shippedConfig) as MutableConfig;
  change(config);
  return config;
};
const family = (config: MutableConfig, name: string): MutableFamily => {
  const found = config.families.find((f) => f.name === name);
  if (!found) throw new Error(`no family ${name}`);
  return found;
};

const capture = () => {
  const out: string[] = [];
  return { write: (text: string) => out.push(text), text: () => out.join('') };
};

const cli = async (args: string[], local: MutableConfig = localFile()) => {
  const stdout = capture();
  const stderr = capture();
  const code = await main(
    [...args, '--sandbox', sandbox.sandbox.url],
    { stdout, stderr, env: { USER: 'alice' } },
    { pollMs: 100, localConfig: async () => local },
  );
  return { code, stdout: stdout.text(), stderr: stderr.text() };
};

describe('the deployed configuration', () => {
  it('is published by the provisioned stack at /bakehouse/_config/dev and equals the loaded configuration', async () => {
    const { Parameter } = await ssm.send(new GetParameterCommand({ Name: '/bakehouse/_config/dev' }));
    const { config } = decodeDeployedConfig(Parameter?.Value ?? '');
    expect(config).toEqual(JSON.parse(JSON.stringify(loadConfig(structuredClone(shippedConfig)))));
    // Provisioned with Tier Intelligent-Tiering: a value under 4 KB is a (free) Standard parameter.
    const { Parameters } = await ssm.send(
      new DescribeParametersCommand({ ParameterFilters: [{ Key: 'Name', Values: ['/bakehouse/_config/dev'] }] }),
    );
    expect(Parameters?.map((p) => p.Tier)).toEqual(['Standard']);
  });

  it('is what commands use, silently, while the local file equals it', async () => {
    const run = await cli(['families', '--json']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toBe('');
  });

  it('is what commands use when the local file differs, and the drift is said once on stderr', async () => {
    const local = localFile((c) => {
      c.families = c.families.filter((f) => f.name !== 'windows-2022-base');
      family(c, 'al2023-base').description = 'changed locally';
    });
    const run = await cli(['families', '--json'], local);
    expect(run.code, run.stderr).toBe(0);
    const { families } = JSON.parse(run.stdout) as { families: { name: string; description: string }[] };
    expect(families.map((f) => f.name)).toContain('windows-2022-base');
    expect(families.find((f) => f.name === 'al2023-base')?.description).not.toBe('changed locally');
    expect(run.stderr.match(/differs from the configuration deployed to stage 'dev'/g)).toHaveLength(1);
    expect(run.stderr).toContain(`- family 'windows-2022-base': deployed, not in the local file`);
    expect(run.stderr).toContain(`family 'al2023-base': description: deployed "Amazon Linux 2023`);
  });
});

describe('bakehouse config check', () => {
  it('passes the shipped file, with no drift', async () => {
    const run = await cli(['config', 'check']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain('bakehouse.config.ts is valid');
    expect(run.stdout).toContain("the same as deployed to stage 'dev'");
  });

  it('shows the drift after a local change: which families and which fields, with both values', async () => {
    const local = localFile((c) => {
      const base = family(c, 'al2023-base');
      base.builder = { ...base.builder, instanceType: 'm7i.2xlarge' };
      c.families = c.families.filter((f) => f.name !== 'ubuntu-2404-base');
    });
    const run = await cli(['config', 'check'], local);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain(
      `family 'al2023-base': builder.instanceType: deployed "m7i.large", local "m7i.2xlarge"`,
    );
    expect(run.stdout).toContain(`family 'ubuntu-2404-base': deployed, not in the local file`);

    const json = await cli(['config', 'check', '--json'], local);
    const document = JSON.parse(json.stdout) as { valid: boolean; drift: Record<string, unknown> };
    expect(document.valid).toBe(true);
    expect(document.drift).toMatchObject({
      removedFamilies: ['ubuntu-2404-base'],
      changedFamilies: [
        {
          family: 'al2023-base',
          changes: [{ field: 'builder.instanceType', deployed: 'm7i.large', local: 'm7i.2xlarge' }],
        },
      ],
    });
  });

  it('finds an arm64 source image for an x86_64 family (DescribeImages on the target) and exits 1', async () => {
    const local = localFile((c) => {
      family(c, 'al2023-base').source = {
        ssmParameter: '/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64',
      };
    });
    const run = await cli(['config', 'check'], local);
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/family 'al2023-base': architecture: .*arm64.*x86_64.*Fix:/);

    const json = await cli(['config', 'check', '--json'], local);
    const document = JSON.parse(json.stdout) as { valid: boolean; problems: Record<string, unknown>[] };
    expect(document.valid).toBe(false);
    expect(document.problems).toContainEqual(
      expect.objectContaining({ family: 'al2023-base', field: 'architecture', fix: expect.stringContaining('arm64') }),
    );
  });

  it('lists every problem of a broken file with the field and the fix, and exits 1', async () => {
    const local = localFile((c) => {
      family(c, 'al2023-base').schedule = { cron: '0 3 ? * SUN *', timezone: 'Mars/Base' };
      family(c, 'windows-2022-base').builder.subnetId = 'my-subnet';
    });
    const run = await cli(['config', 'check'], local);
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/family 'al2023-base': schedule\.timezone: .*Mars\/Base.*Fix:/);
    expect(run.stdout).toMatch(/family 'windows-2022-base': builder\.subnetId: .*Fix: use a subnet id/);
  });
});

describe('a broken local file', () => {
  const broken = () =>
    localFile((c) => {
      family(c, 'al2023-base').schedule = { cron: '0 3 ? * SUN *', timezone: 'Mars/Base' };
    });

  it.each([[['families']], [['status']], [['images', 'al2023-base']]])(
    'does not stop %j, which runs on the deployed configuration and names the local problem once on stderr',
    async (args) => {
      const run = await cli(args, broken());
      expect(run.code, run.stderr).toBe(0);
      expect(run.stderr.match(/the local bakehouse\.config\.ts is invalid/g)).toHaveLength(1);
      expect(run.stderr).toMatch(/family 'al2023-base': schedule\.timezone: .*Fix:/);
    },
  );
});
