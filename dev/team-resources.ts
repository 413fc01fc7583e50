/**
 * What the configuration names in the account besides Bakehouse's own stacks: the launch
 * templates its channels move by name and the Auto Scaling groups its canaries join. Other teams
 * own these on AWS, so the stacks never create them; in the sandbox `npm run sandbox` creates them
 * once provisioned (dev/sandbox.ts) as those teams would have them, so the stock configuration
 * (and a platform engineer's own, before it meets AWS) promotes and canaries end to end.
 *
 * A launch template is tagged `bakehouse:launch-template=<name>`, which Promote and Revoke need to
 * change a template named by name (see README "Configuration"); templates given by id (`lt-…`)
 * name one that exists elsewhere, so nothing is made for them. Each group launches from the
 * template of its own name (created untagged when no channel names it). Existing ones are left as
 * they are: the sandbox keeps its state across restarts.
 */
import type { Sandbox } from '@bakehouse/sandbox';
import { Tag } from '../functions/commons/bake-plan';
import { canaryChannelOf } from '../functions/commons/canary-channel';
import { type BakehouseConfig, isLaunchTemplateId } from '../functions/commons/families';

export interface TeamResources {
  /** Launch templates channels name by name, with the family whose source image they start on. */
  readonly launchTemplates: readonly { readonly name: string; readonly family: string; readonly tagged: boolean }[];
  /** Auto Scaling groups canary channels join, with their family. */
  readonly autoScalingGroups: readonly { readonly name: string; readonly family: string }[];
}

/** The resources the configuration names that it does not create (pure). */
export const teamResourcesOf = (config: BakehouseConfig): TeamResources => {
  const templates = new Map<string, { name: string; family: string; tagged: boolean }>();
  for (const family of config.families)
    for (const channel of family.channels)
      for (const { template } of channel.launchTemplates)
        if (!isLaunchTemplateId(template) && !templates.has(template))
          templates.set(template, { name: template, family: family.name, tagged: true });
  const groups = new Map<string, { name: string; family: string }>();
  for (const family of config.families) {
    const canary = canaryChannelOf(family);
    if (!canary || groups.has(canary.canary.autoScalingGroup)) continue;
    const name = canary.canary.autoScalingGroup;
    groups.set(name, { name, family: family.name });
    if (!templates.has(name)) templates.set(name, { name, family: family.name, tagged: false });
  }
  return { launchTemplates: [...templates.values()], autoScalingGroups: [...groups.values()] };
};

type CallAws = Sandbox['runtime']['callAws'];

/** The image a family's template starts on: its source parameter's image, else an Amazon image. */
const startingImage = async (callAws: CallAws, config: BakehouseConfig, familyName: string): Promise<string> => {
  const family = config.families.find((f) => f.name === familyName);
  if (family && 'ssmParameter' in family.source) {
    const { Parameter } = await callAws('ssm', 'GetParameter', { Name: family.source.ssmParameter });
    const value = (Parameter as { Value?: string } | undefined)?.Value;
    if (value) return value;
  }
  const { Images = [] } = await callAws('ec2', 'DescribeImages', { Owners: ['amazon'] });
  const imageId = (Images as { ImageId?: string }[])[0]?.ImageId;
  if (!imageId)
    throw new Error(`no image to start ${familyName}'s launch template on (the sandbox has no Amazon image)`);
  return imageId;
};

/**
 * Creates what `teamResourcesOf` lists and does not exist yet, in the sandbox's home region;
 * resolves to one line per resource created.
 */
export const createTeamResources = async (
  callAws: CallAws,
  config: BakehouseConfig,
  availabilityZone = 'us-east-1a',
): Promise<string[]> => {
  const { launchTemplates, autoScalingGroups } = teamResourcesOf(config);
  const lines: string[] = [];
  for (const { name, family, tagged } of launchTemplates) {
    // A filter, not LaunchTemplateNames: a name that does not exist is then an empty list, not an
    // error (EC2 API Reference, DescribeLaunchTemplates: filter launch-template-name).
    const { LaunchTemplates = [] } = await callAws('ec2', 'DescribeLaunchTemplates', {
      Filters: [{ Name: 'launch-template-name', Values: [name] }],
    });
    if ((LaunchTemplates as unknown[]).length > 0) continue;
    await callAws('ec2', 'CreateLaunchTemplate', {
      LaunchTemplateName: name,
      LaunchTemplateData: { ImageId: await startingImage(callAws, config, family), InstanceType: 'm7i.large' },
      ...(tagged
        ? { TagSpecifications: [{ ResourceType: 'launch-template', Tags: [{ Key: Tag.LaunchTemplate, Value: name }] }] }
        : {}),
    });
    lines.push(
      `launch template ${name} created for ${family}${tagged ? ` (tagged ${Tag.LaunchTemplate}=${name}, as its team would)` : ''}`,
    );
  }
  for (const { name, family } of autoScalingGroups) {
    // Names that match no group give an empty list; the call's only errors are InvalidNextToken and
    // ResourceContention (Amazon EC2 Auto Scaling API Reference, DescribeAutoScalingGroups).
    const { AutoScalingGroups = [] } = await callAws('autoscaling', 'DescribeAutoScalingGroups', {
      AutoScalingGroupNames: [name],
    });
    if ((AutoScalingGroups as unknown[]).length > 0) continue;
    // Empty: the only members are a canary's pairs while it runs.
    await callAws('autoscaling', 'CreateAutoScalingGroup', {
      AutoScalingGroupName: name,
      LaunchTemplate: { LaunchTemplateName: name, Version: '$Default' },
      MinSize: 0,
      MaxSize: 10,
      DesiredCapacity: 0,
      AvailabilityZones: [availabilityZone],
    });
    lines.push(`Auto Scaling group ${name} created for ${family}'s canary (empty, from launch template ${name})`);
  }
  return lines;
};
