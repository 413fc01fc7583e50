/**
 * Which configuration a CLI command runs with (cli/config-source.ts): the deployed one from SSM by
 * default, the local file only when the stage has no deployed configuration; the drift between the
 * two (a pure function); and a broken local file reported, not fatal, while a deployment exists.
 */
import { GetParameterCommand, ParameterNotFound, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import shippedConfig from '../../bakehouse.config';
import { configDrift, describeDrift, loadLocalConfig, resolveCommandConfig } from '../../cli/config-source';
import { CliError } from '../../cli/errors';
import { encodeDeployedConfig } from '../../functions/commons/deployed-config';
import { type BakehouseConfig, type ConfigInput, loadConfig } from '../../functions/commons/families';

type MutableFamily = Record<string, unknown> & { name: string; builder: Record<string, unknown> };
type MutableConfig = ConfigInput & { families: MutableFamily[]; settings: Record<string, unknown> };

const raw = (change: (config: MutableConfig) => void = () => {}): MutableConfig => {
  const config = structuredClone(shippedConfig) as MutableConfig;
  change(config);
  return config;
};
const family = (config: MutableConfig, name: string): MutableFamily => {
  const found = config.families.find((f) => f.name === name);
  if (!found) throw new Error(`no family ${name}`);
  return found;
};
const valid = (change?: (config: MutableConfig) => void): BakehouseConfig => loadConfig(raw(change));

const ssm = new SSMClient({ region: 'us-east-1' });
const ssmMock = mockClient(ssm);
beforeEach(() => ssmMock.reset());

const deploy = (config: BakehouseConfig) =>
  ssmMock
    .on(GetParameterCommand, { Name: '/bakehouse/_config/dev' })
    .resolves({ Parameter: { Name: '/bakehouse/_config/dev', Value: encodeDeployedConfig(config).value, Version: 3 } });
const notDeployed = () =>
  ssmMock.on(GetParameterCommand).rejects(new ParameterNotFound({ message: 'not found', $metadata: {} }));

describe('configDrift', () => {
  it('finds no drift between equal configurations', () => {
    const drift = configDrift(valid(), valid());
    expect(drift).toEqual({
      addedFamilies: [],
      removedFamilies: [],
      changedFamilies: [],
      settings: [],
      familyOrderChanged: false,
    });
    expect(describeDrift(drift)).toEqual([]);
  });

  it('names families only in the local file (added) and only deployed (removed)', () => {
    const deployed = valid();
    const local = valid((c) => {
      c.families = c.families.filter((f) => f.name !== 'ubuntu-2404-base');
      c.families.push({ ...structuredClone(family(c, 'al2023-base')), name: 'al2023-extra' });
    });
    const drift = configDrift(deployed, local);
    expect(drift.addedFamilies).toEqual(['al2023-extra']);
    expect(drift.removedFamilies).toEqual(['ubuntu-2404-base']);
    expect(drift.changedFamilies).toEqual([]);
  });

  it('names each changed field of a family with both values', () => {
    const local = valid((c) => {
      const base = family(c, 'al2023-base');
      base.builder = { ...base.builder, instanceType: 'm7i.xlarge' };
      base.description = 'changed';
    });
    const drift = configDrift(valid(), local);
    expect(drift.changedFamilies).toEqual([
      {
        family: 'al2023-base',
        changes: [
          { field: 'builder.instanceType', deployed: 'm7i.large', local: 'm7i.xlarge' },
          {
            field: 'description',
            deployed: 'Amazon Linux 2023, patched weekly, with the platform agents',
            local: 'changed',
          },
        ],
      },
    ]);
    const lines = describeDrift(drift).join('\n');
    expect(lines).toContain(`family 'al2023-base': builder.instanceType: deployed "m7i.large", local "m7i.xlarge"`);
  });

  it('keys lists of named items by name, so a new channel is one added field, not every index shifted', () => {
    const local = valid((c) => {
      const base = family(c, 'al2023-base');
      base.channels = [{ name: 'canary-ring', promoteOn: 'baked' }, ...(base.channels as object[])];
    });
    const drift = configDrift(valid(), local);
    expect(drift.changedFamilies).toEqual([
      {
        family: 'al2023-base',
        changes: [
          {
            field: 'channels[canary-ring]',
            deployed: undefined,
            local: expect.objectContaining({ name: 'canary-ring', promoteOn: 'baked' }),
          },
        ],
      },
    ]);
    expect(describeDrift(drift).join('\n')).toContain('channels[canary-ring]: deployed (absent), local {"name"');
  });

  it('reports changed settings with both values', () => {
    const local = valid((c) => {
      c.settings = { ...c.settings, janitor: { dryRun: false } };
    });
    const drift = configDrift(valid(), local);
    expect(drift.settings).toEqual([{ field: 'janitor.dryRun', deployed: true, local: false }]);
    expect(describeDrift(drift).join('\n')).toContain('settings: janitor.dryRun: deployed true, local false');
  });

  it('tells a reordering of families apart from a change', () => {
    const local = valid((c) => {
      c.families.reverse();
    });
    const drift = configDrift(valid(), local);
    expect(drift.familyOrderChanged).toBe(true);
    expect(drift.changedFamilies).toEqual([]);
  });
});

describe('loadLocalConfig', () => {
  it('validates the file and keeps every problem with its field and fix', async () => {
    const local = await loadLocalConfig(async () =>
      raw((c) => {
        family(c, 'al2023-base').schedule = { cron: '0 3 ? * SUN *', timezone: 'Mars/Base' };
      }),
    );
    expect(local.config).toBeUndefined();
    expect(local.problems).toEqual([expect.stringMatching(/^family 'al2023-base': schedule\.timezone: .*Fix:/)]);
  });

  it('turns a file that cannot be loaded into a problem', async () => {
    const local = await loadLocalConfig(async () => {
      throw new SyntaxError('Unexpected token');
    });
    expect(local.problems).toEqual([expect.stringContaining('Unexpected token')]);
  });
});

describe('resolveCommandConfig', () => {
  it('uses the deployed configuration and says nothing when the local file equals it', async () => {
    deploy(valid());
    const resolved = await resolveCommandConfig({ ssm, stage: 'dev', local: await loadLocalConfig(async () => raw()) });
    expect(resolved.source).toBe('deployed');
    expect(resolved.notes).toEqual([]);
    expect(ssmMock.commandCalls(GetParameterCommand)[0]?.args[0].input).toEqual({ Name: '/bakehouse/_config/dev' });
  });

  it('uses the deployed configuration over a changed local file, and reports the drift in one note', async () => {
    deploy(valid());
    const local = await loadLocalConfig(async () =>
      raw((c) => {
        family(c, 'al2023-base').description = 'changed';
      }),
    );
    const resolved = await resolveCommandConfig({ ssm, stage: 'dev', local });
    expect(resolved.source).toBe('deployed');
    expect(resolved.config.families.find((f) => f.name === 'al2023-base')?.description).not.toBe('changed');
    expect(resolved.notes).toHaveLength(1);
    expect(resolved.notes[0]).toMatch(
      /differs from the configuration deployed to stage 'dev' \(\/bakehouse\/_config\/dev\)/,
    );
    expect(resolved.notes[0]).toContain(`family 'al2023-base': description: deployed`);
  });

  it('falls back to the local file when the stage has no deployed configuration, and says so', async () => {
    notDeployed();
    const resolved = await resolveCommandConfig({ ssm, stage: 'dev', local: await loadLocalConfig(async () => raw()) });
    expect(resolved.source).toBe('local');
    expect(resolved.config).toEqual(valid());
    expect(resolved.notes).toEqual([
      expect.stringMatching(
        /stage 'dev' has no deployed configuration \(\/bakehouse\/_config\/dev does not exist\): using the local bakehouse\.config\.ts/,
      ),
    ]);
  });

  it('keeps working with the deployed configuration when the local file is broken, naming the problem once', async () => {
    deploy(valid());
    const local = await loadLocalConfig(async () =>
      raw((c) => {
        family(c, 'windows-2022-base').builder.subnetId = 'my-subnet';
      }),
    );
    const resolved = await resolveCommandConfig({ ssm, stage: 'dev', local });
    expect(resolved.source).toBe('deployed');
    expect(resolved.config).toEqual(JSON.parse(JSON.stringify(valid())));
    expect(resolved.notes).toHaveLength(1);
    expect(resolved.notes[0]).toContain('the local bakehouse.config.ts is invalid');
    expect(resolved.notes[0]).toContain("family 'windows-2022-base': builder.subnetId");
    expect(resolved.notes[0]).toContain('Fix:');
  });

  it('refuses with the field and the fix when the local file is broken and nothing is deployed', async () => {
    notDeployed();
    const local = await loadLocalConfig(async () =>
      raw((c) => {
        family(c, 'windows-2022-base').builder.subnetId = 'my-subnet';
      }),
    );
    const attempt = resolveCommandConfig({ ssm, stage: 'dev', local });
    await expect(attempt).rejects.toThrow(CliError);
    await expect(attempt).rejects.toThrow(/family 'windows-2022-base': builder\.subnetId: .*Fix: use a subnet id/);
  });

  it('reads the parameter under the prefix the local file names', async () => {
    notDeployed();
    const local = await loadLocalConfig(async () =>
      raw((c) => {
        c.settings = { ...c.settings, parameterPrefix: '/images' };
      }),
    );
    await resolveCommandConfig({ ssm, stage: 'prod', local });
    expect(ssmMock.commandCalls(GetParameterCommand)[0]?.args[0].input).toEqual({ Name: '/images/_config/prod' });
  });
});
