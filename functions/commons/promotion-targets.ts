/**
 * What a promotion moves besides the channel parameter: launch templates, Auto Scaling groups,
 * copies in other regions and shares with other accounts. Each operation is idempotent: run twice
 * for the same AMI it changes nothing the second time.
 *
 * Every operation looks everything up before its first write, so a missing template or group fails
 * the promotion before anything changed.
 *
 * Limitation (not implemented): an image whose snapshots are encrypted with a customer managed KMS
 * key can only be launched by a shared account that may use that key. Bakehouse does not create
 * KMS grants or edit key policies: the keys named in `distribution.regions[].kmsKeyId` (and the
 * builder's key) must allow the accounts in `distribution.accounts` (kms:CreateGrant, kms:Decrypt,
 * kms:DescribeKey, kms:GenerateDataKeyWithoutPlainText, kms:ReEncrypt*). Images encrypted with the
 * account's default EBS key (`aws/ebs`) cannot be launched by other accounts at all.
 */
import {
  type AutoScalingClient,
  type AutoScalingGroup,
  DescribeAutoScalingGroupsCommand,
  DescribeInstanceRefreshesCommand,
  StartInstanceRefreshCommand,
} from '@aws-sdk/client-auto-scaling';
import {
  CopyImageCommand,
  CreateLaunchTemplateVersionCommand,
  CreateTagsCommand,
  DescribeImageAttributeCommand,
  DescribeImagesCommand,
  DescribeInstancesCommand,
  DescribeLaunchTemplatesCommand,
  DescribeLaunchTemplateVersionsCommand,
  type EC2Client,
  type LaunchTemplate,
  ModifyImageAttributeCommand,
  ModifyLaunchTemplateCommand,
} from '@aws-sdk/client-ec2';
import { AssumeRoleCommand, type STSClient } from '@aws-sdk/client-sts';
import { type AwsTag, Tag } from './bake-plan';
import { createAutoScalingClient, createEc2ClientIn, createStsClient } from './clients';
import { AutoScalingGroupNotFoundError, errorNameOf, LaunchTemplateNotFoundError, messageOf } from './errors';
import { type VisibilityWait, waitForImageVisible } from './eventual-consistency';
import { type Family, isLaunchTemplateId } from './families';
import { sha256Hex } from './hashing';
import { eachPage } from './pages';
import type { LogPort } from './powertools';

export type Channel = Family['channels'][number];

export interface TargetDeps {
  /** The EC2 client of a region (the home region when omitted). */
  ec2(region?: string): Pick<EC2Client, 'send'>;
  readonly autoScaling: Pick<AutoScalingClient, 'send'>;
  /** An EC2 client in another account, through the role (for re-applying tags there). */
  ec2As(roleArn: string, region?: string): Promise<Pick<EC2Client, 'send'>>;
  readonly homeRegion: string;
  readonly logger: LogPort;
  /** How long to wait for a new copy to become visible (eventual-consistency.ts); its defaults when omitted. */
  readonly visibilityWait?: VisibilityWait;
}

export interface LaunchTemplateUpdate {
  readonly id: string;
  readonly version: number;
  readonly isDefault: boolean;
  /** False when the template already had a version with the AMI (nothing was written). */
  readonly changed: boolean;
}

export interface RefreshResult {
  readonly name: string;
  /** Null when no refresh was started (one already runs, or the group already uses the AMI). */
  readonly instanceRefreshId: string | null;
}

/** Tags that could not be re-applied in a shared account (the share itself stands). */
export interface TagFailure {
  readonly account: string;
  readonly roleArn: string;
  readonly region: string;
  readonly amiId: string;
  readonly reason: string;
}

export interface Distribution {
  readonly regions: readonly { readonly region: string; readonly amiId: string }[];
  readonly accounts: readonly string[];
  /** Accounts whose tags could not be applied (AssumeRole or CreateTags failed); absent when none. */
  readonly tagFailures?: readonly TagFailure[];
}

export interface ImageToDistribute {
  readonly amiId: string;
  readonly name: string;
  readonly tags: readonly AwsTag[];
}

/** On a regional copy: the AMI it was copied from (how a redelivered promotion finds its copy). */
export const COPIED_FROM_TAG = 'bakehouse:copied-from';

// ---------------------------------------------------------------- launch templates

const TEMPLATE_NOT_FOUND = new Set([
  'InvalidLaunchTemplateId.NotFound',
  'InvalidLaunchTemplateName.NotFoundException',
  'InvalidLaunchTemplateId.Malformed',
  'InvalidLaunchTemplateName.MalformedException',
]);

interface ResolvedTemplate {
  readonly configured: Channel['launchTemplates'][number];
  readonly template: LaunchTemplate & { LaunchTemplateId: string };
  readonly latestVersion: number;
  readonly latestImageId: string | undefined;
}

const describeTemplate = async (
  configured: Channel['launchTemplates'][number],
  deps: TargetDeps,
): Promise<ResolvedTemplate> => {
  const ec2 = deps.ec2();
  const byId = isLaunchTemplateId(configured.template);
  const notFound = (cause?: unknown) =>
    new LaunchTemplateNotFoundError(
      `launch template '${configured.template}' (a channel's launchTemplates) does not exist in ${deps.homeRegion}. ` +
        'Fix: create it, or correct or remove it in the family config',
      cause === undefined ? undefined : { cause },
    );
  let template: LaunchTemplate | undefined;
  try {
    const found = await ec2.send(
      new DescribeLaunchTemplatesCommand(
        byId ? { LaunchTemplateIds: [configured.template] } : { LaunchTemplateNames: [configured.template] },
      ),
    );
    template = found.LaunchTemplates?.[0];
  } catch (error) {
    if (TEMPLATE_NOT_FOUND.has(errorNameOf(error) ?? '')) throw notFound(error);
    throw error;
  }
  const id = template?.LaunchTemplateId;
  if (!template || !id) throw notFound();
  const versions = await ec2.send(
    new DescribeLaunchTemplateVersionsCommand({ LaunchTemplateId: id, Versions: ['$Latest'] }),
  );
  const latest = versions.LaunchTemplateVersions?.[0];
  const latestVersion = latest?.VersionNumber ?? template.LatestVersionNumber;
  if (latestVersion === undefined) throw new Error(`launch template ${id} reported no latest version`);
  return {
    configured,
    template: { ...template, LaunchTemplateId: id },
    latestVersion,
    latestImageId: latest?.LaunchTemplateData?.ImageId,
  };
};

/** A target a promotion cannot move (checked before the move, or failed after it): what, why and the fix. */
export interface TargetProblem {
  readonly kind: 'launchTemplate' | 'autoScalingGroup';
  /** The template or group as the configuration names it. */
  readonly target: string;
  readonly reason: string;
  readonly fix: string;
}

/**
 * What keeps Promote from giving each template a version, found before the channel moves (so a
 * bad template refuses the whole promotion and nothing moves): a template that does not exist
 * (DescribeLaunchTemplates answers InvalidLaunchTemplateName.NotFoundException /
 * InvalidLaunchTemplateId.NotFound, EC2 API Reference "Error codes",
 * https://docs.aws.amazon.com/AWSEC2/latest/APIReference/errors-overview.html), and one configured
 * by name that lacks `bakehouse:launch-template=<name>`. That tag is the whole of Promote's grant
 * on a template given by name (stacks/promotion.ts: CreateLaunchTemplateVersion and
 * ModifyLaunchTemplate are allowed by aws:ResourceTag only), and one given by id is granted by its
 * ARN; so checking the tag checks the permission. (DryRun, which answers DryRunOperation or
 * UnauthorizedOperation, would ask IAM itself, but the sandbox does not model DryRun and would
 * create the version.) Empty when every template can be moved.
 */
export const checkLaunchTemplates = async (
  templates: Channel['launchTemplates'],
  deps: TargetDeps,
): Promise<TargetProblem[]> => {
  const problems: TargetProblem[] = [];
  for (const configured of templates) {
    const name = configured.template;
    const byId = isLaunchTemplateId(name);
    let template: LaunchTemplate | undefined;
    try {
      const found = await deps
        .ec2()
        .send(
          new DescribeLaunchTemplatesCommand(byId ? { LaunchTemplateIds: [name] } : { LaunchTemplateNames: [name] }),
        );
      template = found.LaunchTemplates?.[0];
    } catch (error) {
      if (!TEMPLATE_NOT_FOUND.has(errorNameOf(error) ?? '')) throw error;
    }
    if (!template) {
      problems.push({
        kind: 'launchTemplate',
        target: name,
        reason: `launch template '${name}' does not exist in ${deps.homeRegion}`,
        fix: `create it${byId ? '' : ` (tagged ${Tag.LaunchTemplate}=${name})`}, or correct or remove it in the channel's launchTemplates in bakehouse.config.ts`,
      });
      continue;
    }
    if (byId) continue;
    const tagged = template.Tags?.find((tag) => tag.Key === Tag.LaunchTemplate)?.Value;
    if (tagged !== name) {
      problems.push({
        kind: 'launchTemplate',
        target: name,
        reason: `launch template '${name}' ${tagged === undefined ? `has no ${Tag.LaunchTemplate} tag` : `is tagged ${Tag.LaunchTemplate}='${tagged}', not '${name}'`}, so Promote may not create a version on it`,
        fix: `tag it ${Tag.LaunchTemplate}=${name} (aws ec2 create-tags --resources ${template.LaunchTemplateId ?? name} --tags Key=${Tag.LaunchTemplate},Value=${name}), or name it by id in the channel's launchTemplates`,
      });
    }
  }
  return problems;
};

const setDefault = async (id: string, version: number, deps: TargetDeps): Promise<void> => {
  await deps.ec2().send(new ModifyLaunchTemplateCommand({ LaunchTemplateId: id, DefaultVersion: String(version) }));
};

/**
 * Gives each template a new version with the AMI (copied from its latest version, only the image
 * changed) and makes it the default when configured. A template whose latest version already
 * has the AMI is left as it is (made default if it should be and is not).
 */
export const updateLaunchTemplates = async (
  templates: Channel['launchTemplates'],
  amiId: string,
  deps: TargetDeps,
): Promise<LaunchTemplateUpdate[]> => {
  const resolved: ResolvedTemplate[] = [];
  for (const configured of templates) resolved.push(await describeTemplate(configured, deps));

  const updates: LaunchTemplateUpdate[] = [];
  for (const { configured, template, latestVersion, latestImageId } of resolved) {
    const id = template.LaunchTemplateId;
    if (latestImageId === amiId) {
      const isDefault = template.DefaultVersionNumber === latestVersion;
      if (configured.makeDefault && !isDefault) await setDefault(id, latestVersion, deps);
      deps.logger.info('launch template already has the image', { launchTemplateId: id, version: latestVersion });
      updates.push({ id, version: latestVersion, isDefault: isDefault || configured.makeDefault, changed: false });
      continue;
    }
    const created = await deps.ec2().send(
      new CreateLaunchTemplateVersionCommand({
        LaunchTemplateId: id,
        SourceVersion: String(latestVersion),
        VersionDescription: `bakehouse: image ${amiId}`,
        LaunchTemplateData: { ImageId: amiId },
      }),
    );
    const version = created.LaunchTemplateVersion?.VersionNumber;
    if (version === undefined) throw new Error(`CreateLaunchTemplateVersion on ${id} returned no version number`);
    if (configured.makeDefault) await setDefault(id, version, deps);
    deps.logger.info('launch template has a new version with the image', {
      launchTemplateId: id,
      version,
      sourceVersion: latestVersion,
      isDefault: configured.makeDefault,
    });
    updates.push({ id, version, isDefault: configured.makeDefault, changed: true });
  }
  return updates;
};

// ---------------------------------------------------------------- Auto Scaling

/** Refresh statuses during which AWS refuses another StartInstanceRefresh. */
const ACTIVE_REFRESH = new Set(['Pending', 'InProgress', 'Cancelling', 'RollbackInProgress', 'Baking']);
const NAMES_PER_CALL = 50;
const INSTANCES_PER_CALL = 100;

const chunks = <T>(items: readonly T[], size: number): T[][] =>
  Array.from({ length: Math.ceil(items.length / size) }, (_, index) => items.slice(index * size, (index + 1) * size));

const describeGroups = async (names: readonly string[], deps: TargetDeps): Promise<Map<string, AutoScalingGroup>> => {
  const groups = new Map<string, AutoScalingGroup>();
  for (const batch of chunks(names, NAMES_PER_CALL)) {
    for await (const page of eachPage((NextToken) =>
      deps.autoScaling.send(new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: batch, NextToken })),
    )) {
      for (const group of page.AutoScalingGroups ?? []) {
        if (group.AutoScalingGroupName) groups.set(group.AutoScalingGroupName, group);
      }
    }
  }
  return groups;
};

const activeRefreshOf = async (name: string, deps: TargetDeps): Promise<string | undefined> => {
  for await (const page of eachPage((NextToken) =>
    deps.autoScaling.send(new DescribeInstanceRefreshesCommand({ AutoScalingGroupName: name, NextToken })),
  )) {
    const active = page.InstanceRefreshes?.find((refresh) => ACTIVE_REFRESH.has(refresh.Status ?? ''));
    if (active) return active.InstanceRefreshId ?? 'unknown';
  }
  return undefined;
};

/**
 * The image ids the group's instances run (one entry per instance EC2 lists). By `instance-id`
 * filter, not InstanceIds: an instance the group launched moments ago may not be known to EC2 yet
 * (eventual consistency, https://docs.aws.amazon.com/ec2/latest/devguide/eventual-consistency.html)
 * and one it terminated an hour ago no longer is; by id either would fail the whole call with
 * InvalidInstanceID.NotFound, by filter it is simply not listed.
 */
const imagesOf = async (instanceIds: readonly string[], deps: TargetDeps): Promise<string[]> => {
  const images: string[] = [];
  for (const batch of chunks(instanceIds, INSTANCES_PER_CALL)) {
    for await (const page of eachPage((NextToken) =>
      deps
        .ec2()
        .send(new DescribeInstancesCommand({ Filters: [{ Name: 'instance-id', Values: [...batch] }], NextToken })),
    )) {
      for (const reservation of page.Reservations ?? []) {
        for (const instance of reservation.Instances ?? []) images.push(instance.ImageId ?? '');
      }
    }
  }
  return images;
};

/**
 * Starts an instance refresh on each group whose instances do not all run the AMI yet. No
 * refresh is started while one already runs (AWS would refuse it; the running one may be ours,
 * from a first delivery), nor for a group with no instances (its next launches use the
 * template's new default version anyway).
 */
export const refreshAutoScalingGroups = async (
  groups: Channel['autoScalingGroups'],
  amiId: string,
  deps: TargetDeps,
): Promise<RefreshResult[]> => {
  const found = await describeGroups(
    groups.map((group) => group.name),
    deps,
  );
  const missing = groups.filter((group) => !found.has(group.name)).map((group) => group.name);
  if (missing.length > 0) {
    throw new AutoScalingGroupNotFoundError(
      `Auto Scaling group${missing.length > 1 ? 's' : ''} ${missing.map((name) => `'${name}'`).join(', ')} ` +
        `(a channel's autoScalingGroups) not found in ${deps.homeRegion}. Fix: create it, or correct or remove it in the family config`,
    );
  }

  const results: RefreshResult[] = [];
  for (const configured of groups) {
    const group = found.get(configured.name) as AutoScalingGroup;
    const skip = (reason: string, extra: Record<string, unknown> = {}) => {
      deps.logger.info(`no instance refresh: ${reason}`, { autoScalingGroup: configured.name, ...extra });
      results.push({ name: configured.name, instanceRefreshId: null });
    };
    const running = await activeRefreshOf(configured.name, deps);
    if (running) {
      skip('one is already running', { instanceRefreshId: running });
      continue;
    }
    const instanceIds = (group.Instances ?? []).flatMap((instance) =>
      instance.InstanceId ? [instance.InstanceId] : [],
    );
    if (instanceIds.length === 0) {
      skip('the group has no instances');
      continue;
    }
    const images = await imagesOf(instanceIds, deps);
    // An instance EC2 did not list may run anything: only a full answer proves the group is done.
    if (images.length === instanceIds.length && images.every((image) => image === amiId)) {
      skip('every instance already runs the image', { amiId });
      continue;
    }
    const version =
      group.LaunchTemplate?.Version ?? group.MixedInstancesPolicy?.LaunchTemplate?.LaunchTemplateSpecification?.Version;
    if (version !== undefined && /^\d+$/.test(version)) {
      deps.logger.warn('the group pins a launch template version: the refresh keeps that version, not the new image', {
        autoScalingGroup: configured.name,
        version,
      });
    }
    try {
      const started = await deps.autoScaling.send(
        new StartInstanceRefreshCommand({
          AutoScalingGroupName: configured.name,
          Strategy: 'Rolling',
          Preferences: { MinHealthyPercentage: configured.minHealthyPercentage, SkipMatching: true },
        }),
      );
      const instanceRefreshId = started.InstanceRefreshId ?? null;
      deps.logger.info('instance refresh started', { autoScalingGroup: configured.name, instanceRefreshId });
      results.push({ name: configured.name, instanceRefreshId });
    } catch (error) {
      // Another promotion started one between our look and our start: that refresh does the work.
      if (!/InstanceRefreshInProgress/.test(errorNameOf(error) ?? '')) throw error;
      skip('one started meanwhile');
    }
  }
  return results;
};

// ---------------------------------------------------------------- distribution

type Ec2Port = Pick<EC2Client, 'send'>;

/** CopyImage's idempotency token (at most 64 ASCII characters): the same AMI and region, the same copy. */
export const copyClientToken = (amiId: string, region: string): string =>
  `bakehouse-${sha256Hex(`${amiId}|${region}`).slice(0, 48)}`;

const copiedTags = (image: ImageToDistribute): AwsTag[] => [
  ...image.tags.filter((tag) => tag.Key !== COPIED_FROM_TAG),
  { Key: COPIED_FROM_TAG, Value: image.amiId },
];

const existingCopy = async (ec2: Ec2Port, amiId: string): Promise<string | undefined> => {
  for await (const page of eachPage((NextToken) =>
    ec2.send(
      new DescribeImagesCommand({
        Owners: ['self'],
        Filters: [{ Name: `tag:${COPIED_FROM_TAG}`, Values: [amiId] }],
        NextToken,
      }),
    ),
  )) {
    const copy = page.Images?.find((image) => image.State !== 'failed' && image.State !== 'deregistered');
    if (copy?.ImageId) return copy.ImageId;
  }
  return undefined;
};

const copyTo = async (
  target: Family['distribution']['regions'][number],
  image: ImageToDistribute,
  deps: TargetDeps,
): Promise<string> => {
  const ec2 = deps.ec2(target.region);
  const existing = await existingCopy(ec2, image.amiId);
  if (existing) {
    deps.logger.info('image already copied', { region: target.region, amiId: existing, sourceAmiId: image.amiId });
    return existing;
  }
  const tags = copiedTags(image);
  const copied = await ec2.send(
    new CopyImageCommand({
      SourceImageId: image.amiId,
      SourceRegion: deps.homeRegion,
      Name: image.name,
      Description: `bakehouse: copy of ${image.amiId} from ${deps.homeRegion}`,
      Encrypted: true,
      ...(target.kmsKeyId === undefined ? {} : { KmsKeyId: target.kmsKeyId }),
      ClientToken: copyClientToken(image.amiId, target.region),
      CopyImageTags: true,
      TagSpecifications: [
        { ResourceType: 'image', Tags: tags },
        { ResourceType: 'snapshot', Tags: tags },
      ],
    }),
  );
  if (!copied.ImageId) throw new Error(`CopyImage of ${image.amiId} to ${target.region} returned no image id`);
  deps.logger.info('image copied', { region: target.region, amiId: copied.ImageId, sourceAmiId: image.amiId });
  // Sharing and tagging name the copy by id: until EC2 knows it they would answer InvalidAMIID.NotFound.
  await waitForImageVisible(ec2, copied.ImageId, deps.visibilityWait);
  return copied.ImageId;
};

/** Adds launch permission for the accounts that do not have it yet (one call for all of them). */
const share = async (ec2: Ec2Port, amiId: string, accounts: readonly string[], logger: LogPort): Promise<void> => {
  const current = await ec2.send(new DescribeImageAttributeCommand({ ImageId: amiId, Attribute: 'launchPermission' }));
  const has = new Set((current.LaunchPermissions ?? []).flatMap((permission) => permission.UserId ?? []));
  const missing = accounts.filter((account) => !has.has(account));
  if (missing.length === 0) return;
  await ec2.send(
    new ModifyImageAttributeCommand({
      ImageId: amiId,
      LaunchPermission: { Add: missing.map((UserId) => ({ UserId })) },
    }),
  );
  logger.info('image shared', { amiId, accounts: missing });
};

/**
 * Copies the image to each configured region (encrypted, with the region's KMS key when given)
 * and gives each configured account launch permission on the image and its copies. Where an
 * account names a `tagRoleArn`, the image's tags are written there too through that role (tags
 * are per account: a shared AMI shows the target account none of the owner's). A tagging
 * failure is logged and reported in `tagFailures`; it does not stop the other accounts.
 */
export const distributeImage = async (
  family: Family,
  image: ImageToDistribute,
  deps: TargetDeps,
): Promise<Distribution> => {
  const regions: { region: string; amiId: string }[] = [];
  for (const target of family.distribution.regions) {
    if (target.region === deps.homeRegion) {
      deps.logger.warn('distribution lists the home region; the image is already there', { region: target.region });
      continue;
    }
    regions.push({ region: target.region, amiId: await copyTo(target, image, deps) });
  }

  const accounts = family.distribution.accounts.map((entry) => entry.account);
  const everywhere = [{ region: deps.homeRegion, amiId: image.amiId }, ...regions];
  if (accounts.length > 0) {
    for (const placed of everywhere) await share(deps.ec2(placed.region), placed.amiId, accounts, deps.logger);
  }

  const tagFailures: TagFailure[] = [];
  for (const { account, tagRoleArn } of family.distribution.accounts) {
    if (tagRoleArn === undefined) continue;
    for (const placed of everywhere) {
      const tags = placed.amiId === image.amiId ? [...image.tags] : copiedTags(image);
      if (tags.length === 0) continue;
      try {
        const target = await deps.ec2As(tagRoleArn, placed.region);
        await target.send(new CreateTagsCommand({ Resources: [placed.amiId], Tags: tags }));
      } catch (error) {
        const failure = { account, roleArn: tagRoleArn, region: placed.region, amiId: placed.amiId };
        deps.logger.error('could not tag the shared image in the account', {
          ...failure,
          error: messageOf(error),
          errorName: errorNameOf(error),
        });
        tagFailures.push({ ...failure, reason: `${errorNameOf(error) ?? 'Error'}: ${messageOf(error)}` });
      }
    }
  }
  return { regions, accounts, ...(tagFailures.length > 0 ? { tagFailures } : {}) };
};

// ---------------------------------------------------------------- clients

type Credentials = NonNullable<Parameters<typeof createEc2ClientIn>[1]>;

export interface TargetClientFactories {
  ec2In(region: string, credentials?: Credentials): Ec2Port;
  readonly autoScaling: Pick<AutoScalingClient, 'send'>;
  readonly sts: Pick<STSClient, 'send'>;
}

export interface TargetDepsOptions {
  readonly homeRegion: string;
  readonly logger: LogPort;
  /** The clients to build on; the real AWS ones (clients.ts) when omitted. */
  readonly clients?: TargetClientFactories;
  /** Milliseconds since the epoch (assumed-role credentials are reused until shortly before they expire). */
  readonly now?: () => number;
  /** How long to wait for a new copy to become visible; eventual-consistency.ts's defaults when omitted. */
  readonly visibilityWait?: VisibilityWait;
}

/** The session name CloudTrail shows in the target accounts for Bakehouse's tagging calls. */
export const TAG_SESSION_NAME = 'bakehouse-promote';
const RENEW_BEFORE_MS = 5 * 60_000;

/**
 * TargetDeps for the handler: one EC2 client per region and one per assumed role and region,
 * built on first use and kept for the container's life (assumed ones until their credentials
 * are about to expire).
 */
export const createTargetDeps = (options: TargetDepsOptions): TargetDeps => {
  const clients: TargetClientFactories = options.clients ?? {
    ec2In: createEc2ClientIn,
    autoScaling: createAutoScalingClient(),
    sts: createStsClient(),
  };
  const now = options.now ?? Date.now;
  const regional = new Map<string, Ec2Port>();
  const assumed = new Map<string, { client: Ec2Port; expiresMs: number }>();
  const ec2 = (region: string = options.homeRegion): Ec2Port => {
    let client = regional.get(region);
    if (!client) {
      client = clients.ec2In(region);
      regional.set(region, client);
    }
    return client;
  };
  const ec2As = async (roleArn: string, region: string = options.homeRegion): Promise<Ec2Port> => {
    const key = `${roleArn}|${region}`;
    const cached = assumed.get(key);
    if (cached && cached.expiresMs - RENEW_BEFORE_MS > now()) return cached.client;
    const { Credentials: credentials } = await clients.sts.send(
      new AssumeRoleCommand({ RoleArn: roleArn, RoleSessionName: TAG_SESSION_NAME }),
    );
    if (!credentials?.AccessKeyId || !credentials.SecretAccessKey) {
      throw new Error(`AssumeRole ${roleArn} returned no credentials`);
    }
    const expiration = credentials.Expiration;
    const client = clients.ec2In(region, {
      accessKeyId: credentials.AccessKeyId,
      secretAccessKey: credentials.SecretAccessKey,
      ...(credentials.SessionToken === undefined ? {} : { sessionToken: credentials.SessionToken }),
      ...(expiration === undefined ? {} : { expiration }),
    });
    assumed.set(key, { client, expiresMs: expiration?.getTime() ?? now() + RENEW_BEFORE_MS * 2 });
    return client;
  };
  return {
    ec2,
    ec2As,
    autoScaling: clients.autoScaling,
    homeRegion: options.homeRegion,
    logger: options.logger,
    ...(options.visibilityWait === undefined ? {} : { visibilityWait: options.visibilityWait }),
  };
};
