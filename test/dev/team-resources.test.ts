/**
 * What `npm run sandbox` creates besides the stacks (dev/team-resources.ts, issue 18): the launch
 * templates channels name by name (tagged for Bakehouse) and the canary groups, from the stock
 * configuration; once, however often the sandbox restarts on its state.
 */
import { AutoScalingClient, DescribeAutoScalingGroupsCommand } from '@aws-sdk/client-auto-scaling';
import { DescribeLaunchTemplatesCommand, DescribeTagsCommand, EC2Client } from '@aws-sdk/client-ec2';
import { startTestSandbox, type TestSandbox } from '@bakehouse/sandbox/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import rawConfig from '../../bakehouse.config';
import { createTeamResources, teamResourcesOf } from '../../dev/team-resources';
import { defineConfig, loadConfig } from '../../functions/commons/families';

const config = loadConfig(rawConfig);

describe('teamResourcesOf', () => {
  it('lists the stock configuration’s example launch template (tagged) and canary group', () => {
    expect(teamResourcesOf(config)).toEqual({
      launchTemplates: [{ name: 'bakehouse-example-web', family: 'al2023-base', tagged: true }],
      autoScalingGroups: [{ name: 'bakehouse-example-web', family: 'al2023-web' }],
    });
  });

  it('leaves templates given by id alone, and gives a group without a template of its name one', () => {
    const base = rawConfig.families[0] as (typeof rawConfig.families)[number];
    const web = rawConfig.families[3] as (typeof rawConfig.families)[number];
    const custom = loadConfig(
      defineConfig({
        ...rawConfig,
        families: [
          {
            ...base,
            channels: [
              { name: 'stable', promoteOn: 'tested', launchTemplates: [{ template: 'lt-0123456789abcdef0' }] },
            ],
          },
          {
            ...web,
            channels: (web.channels ?? []).map((c) =>
              c.canary ? { ...c, canary: { ...c.canary, autoScalingGroup: 'web-fleet' } } : c,
            ),
          },
        ],
      } as typeof rawConfig),
    );
    expect(teamResourcesOf(custom)).toEqual({
      launchTemplates: [{ name: 'web-fleet', family: 'al2023-web', tagged: false }],
      autoScalingGroups: [{ name: 'web-fleet', family: 'al2023-web' }],
    });
  });
});

describe('createTeamResources in a sandbox', () => {
  let sandbox: TestSandbox;
  let ec2: EC2Client;
  let autoscaling: AutoScalingClient;

  beforeAll(async () => {
    sandbox = await startTestSandbox();
    ec2 = new EC2Client(sandbox.clientConfig);
    autoscaling = new AutoScalingClient(sandbox.clientConfig);
  });

  afterAll(async () => {
    ec2?.destroy();
    autoscaling?.destroy();
    await sandbox?.stop();
  });

  const callAws: Parameters<typeof createTeamResources>[0] = (service, action, input, options) =>
    sandbox.sandbox.runtime.callAws(service, action, input, options);

  it('creates the tagged template on the family’s source image and the empty group, then nothing more', async () => {
    // Act
    const first = await createTeamResources(callAws, config);
    const second = await createTeamResources(callAws, config);

    // Assess
    expect(first).toEqual([
      'launch template bakehouse-example-web created for al2023-base (tagged bakehouse:launch-template=bakehouse-example-web, as its team would)',
      "Auto Scaling group bakehouse-example-web created for al2023-web's canary (empty, from launch template bakehouse-example-web)",
    ]);
    expect(second).toEqual([]);
    const { LaunchTemplates = [] } = await ec2.send(
      new DescribeLaunchTemplatesCommand({ LaunchTemplateNames: ['bakehouse-example-web'] }),
    );
    expect(LaunchTemplates).toHaveLength(1);
    const { Tags = [] } = await ec2.send(
      new DescribeTagsCommand({
        Filters: [{ Name: 'resource-id', Values: [LaunchTemplates[0]?.LaunchTemplateId as string] }],
      }),
    );
    expect(Tags).toContainEqual(
      expect.objectContaining({ Key: 'bakehouse:launch-template', Value: 'bakehouse-example-web' }),
    );
    const { AutoScalingGroups = [] } = await autoscaling.send(
      new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: ['bakehouse-example-web'] }),
    );
    expect(AutoScalingGroups).toHaveLength(1);
    expect(AutoScalingGroups[0]).toMatchObject({ MinSize: 0, DesiredCapacity: 0 });
  });
});
