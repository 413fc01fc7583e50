/**
 * Which resources and condition keys each EC2 action authorizes (Service Authorization Reference,
 * "Actions, resources, and condition keys for Amazon EC2"). Actions not listed (the Describe*
 * actions, which support no resource-level permissions) are authorized as ec2:Action on *.
 *
 * - One check per resource the action touches, its ARN built from the reference's ARN format for
 *   the resource type (`arnOf`). Images and snapshots have no account in their ARN
 *   (`arn:aws:ec2:REGION::image/ami-…`): the check carries their owner as `resourceAccount`.
 * - Existing resources carry their stored tags as `aws:ResourceTag/K` and `ec2:ResourceTag/K`;
 *   resources a request creates are checked as `TYPE/*` with the request's tags for that type as
 *   `aws:RequestTag/K` and `aws:TagKeys`.
 * - Tags given at creation (TagSpecifications) also need `ec2:CreateTags` on each tagged resource
 *   with `ec2:CreateAction` = the creating action (EC2 User Guide, "Grant permission to tag
 *   resources during creation").
 * - RunInstances with an instance profile needs `iam:PassRole` on the profile's role with
 *   `iam:PassedToService` = `ec2.amazonaws.com` (IAM User Guide, "Grant a user permissions to pass
 *   a role to an AWS service"; EC2 User Guide, "IAM roles for Amazon EC2").
 * - CopyImage authorizes the source image (since October 2024) and the new image and snapshots
 *   (EC2 User Guide, "Grant permissions to copy Amazon EC2 AMIs").
 * - Every check carries `ec2:Region`, which the reference lists for every EC2 action.
 *
 * A resource the store does not hold is checked by its ARN without tags; the action then answers
 * with its own NotFound error when the caller is allowed.
 */
import { type AuthzCheck, passRole } from '../../authz/authorizer';
import { parseRoleArn } from '../../authz/identity';
import { profileOf } from '../../authz/instance-profile';
import type { ContextKeys, ContextValue, PolicyDocument } from '../../iam/types';
import { indexedList, indexedStructs, type QueryParams } from '../../protocol/query';
import type { AuthzMapper, ServiceContext } from '../../service';
import { imageTagsFor } from './images';
import { DEFAULT_GROUP, DEFAULT_SUBNET, DEFAULT_VPC } from './instances';
import {
  findByName,
  type LaunchDefaults,
  launchDefaultsOf,
  resolveLaunchTemplateVersion,
  resolveSsmImageId,
} from './launch-templates';
import {
  AMAZON_OWNER_ID,
  Ec2Table,
  type ImageRecord,
  type InstanceRecord,
  type LaunchTemplateRecord,
  type SnapshotRecord,
  type Tags,
} from './model';

type Mapper = AuthzMapper<QueryParams>;

/** The EC2 resource types the sandbox's actions authorize, as the reference names them. */
export type Ec2ResourceType =
  | 'image'
  | 'instance'
  | 'snapshot'
  | 'volume'
  | 'launch-template'
  | 'network-interface'
  | 'security-group'
  | 'subnet'
  | 'key-pair'
  | 'vpc';

// ---------------------------------------------------------------- ARNs and condition keys

/**
 * The ARN of an EC2 resource from the reference's format for its type, e.g.
 * `arn:${Partition}:ec2:${Region}::image/${ImageId}`: the partition, region and account filled in,
 * the last placeholder replaced by `id` (`*` for a resource the request creates).
 */
export const arnOf = (
  ctx: ServiceContext,
  type: Ec2ResourceType,
  id: string,
  where: { readonly region?: string; readonly account?: string } = {},
): string => {
  const format = ctx.authorizer.catalog.arnFormat('ec2', type);
  if (format === undefined) throw new Error(`sandbox bug: the reference has no ARN format for ec2 ${type}`);
  const known: Readonly<Record<string, string>> = {
    Partition: 'aws',
    Region: where.region ?? ctx.region,
    Account: where.account ?? ctx.account,
  };
  return format.replace(/\$\{(\w+)\}/g, (_, name: string) => known[name] ?? id);
};

/** `aws:ResourceTag/K` and `ec2:ResourceTag/K` for each stored tag. */
const resourceTags = (tags: Tags | undefined): Record<string, string> => {
  const keys: Record<string, string> = {};
  for (const [key, value] of Object.entries(tags ?? {})) {
    keys[`aws:ResourceTag/${key}`] = value;
    keys[`ec2:ResourceTag/${key}`] = value;
  }
  return keys;
};

/** `aws:RequestTag/K` for each tag of the request and `aws:TagKeys` (absent without tags). */
const requestTags = (tags: Tags | undefined): Record<string, ContextValue> => {
  const entries = Object.entries(tags ?? {});
  if (entries.length === 0) return {};
  const keys: Record<string, ContextValue> = { 'aws:TagKeys': entries.map(([key]) => key) };
  for (const [key, value] of entries) keys[`aws:RequestTag/${key}`] = value;
  return keys;
};

/** `Tag.N.Key|Value` as sent (validation is the action's). */
const tagsIn = (params: QueryParams, prefix: string): Tags => {
  const tags: Tags = {};
  for (const tag of indexedStructs(params, prefix)) {
    const key = tag.get('Key');
    if (key !== undefined) tags[key] = tag.get('Value') ?? '';
  }
  return tags;
};

/** `TagSpecification.N` by resource type, as sent. */
const tagSpecs = (params: QueryParams): Map<string, Tags> => {
  const byType = new Map<string, Tags>();
  for (const spec of indexedStructs(params, 'TagSpecification')) {
    const type = spec.get('ResourceType') ?? '';
    byType.set(type, { ...byType.get(type), ...tagsIn(spec, 'Tag') });
  }
  return byType;
};

interface Target {
  readonly type: Ec2ResourceType;
  readonly id: string;
  readonly context?: ContextKeys;
  readonly region?: string;
  readonly account?: string;
  /** The owner of an image or snapshot (their ARNs name none). */
  readonly resourceAccount?: string;
  readonly resourcePolicy?: PolicyDocument;
}

const check = (ctx: ServiceContext, action: string, target: Target): AuthzCheck => ({
  action: `ec2:${action}`,
  resource: arnOf(ctx, target.type, target.id, {
    ...(target.region === undefined ? {} : { region: target.region }),
    ...(target.account === undefined ? {} : { account: target.account }),
  }),
  context: { 'ec2:Region': ctx.region, ...target.context },
  ...(target.resourceAccount === undefined ? {} : { resourceAccount: target.resourceAccount }),
  ...(target.resourcePolicy === undefined ? {} : { resourcePolicy: target.resourcePolicy }),
});

/** The account a request acts as: it owns what the request creates. */
const callerAccount = (ctx: ServiceContext): string => ctx.caller.principal.account;

// ---------------------------------------------------------------- existing resources

/**
 * What an image's launch permissions let another account do with it: launch it, copy it and tag
 * it with its own tags (EC2 User Guide, "Share an AMI with specific AWS accounts" and "Understand
 * shared AMI use"). Across accounts IAM needs the resource's side to allow too; for an image that
 * side is its launch permissions, given here as the resource-based policy they act as.
 */
const SHARED_IMAGE_ACTIONS = ['ec2:RunInstances', 'ec2:CopyImage', 'ec2:CreateTags', 'ec2:DeleteTags'];
/** One document per grantee, so the evaluator compiles each once. */
const launchPermissionPolicies = new Map<string, PolicyDocument>();

const launchPermissionPolicy = (image: ImageRecord, viewer: string): PolicyDocument | undefined => {
  if (image.ownerId === viewer) return undefined;
  const grantee = image.isPublic ? '*' : image.launchPermissions.includes(viewer) ? viewer : undefined;
  if (grantee === undefined) return undefined;
  let policy = launchPermissionPolicies.get(grantee);
  if (!policy) {
    policy = {
      Version: '2012-10-17',
      Statement: [
        {
          Effect: 'Allow',
          Principal: grantee === '*' ? '*' : { AWS: `arn:aws:iam::${grantee}:root` },
          Action: SHARED_IMAGE_ACTIONS,
          Resource: '*',
        },
      ],
    };
    launchPermissionPolicies.set(grantee, policy);
  }
  return policy;
};

const imageTarget = (ctx: ServiceContext, imageId: string, region = ctx.region): Target => {
  const image = ctx.store.get<ImageRecord>(Ec2Table.Images, imageId);
  if (!image) return { type: 'image', id: imageId, region, context: { 'ec2:ImageID': imageId } };
  const shared = launchPermissionPolicy(image, callerAccount(ctx));
  return {
    type: 'image',
    id: imageId,
    region,
    resourceAccount: image.ownerId,
    ...(shared === undefined ? {} : { resourcePolicy: shared }),
    context: {
      ...resourceTags(imageTagsFor(ctx, image)),
      'ec2:ImageID': imageId,
      // "amazon", "aws-marketplace" or the owner's account id (reference: ec2:Owner).
      'ec2:Owner': image.ownerId === AMAZON_OWNER_ID ? 'amazon' : (image.imageOwnerAlias ?? image.ownerId),
      'ec2:Public': String(image.isPublic),
      'ec2:ImageType': 'machine',
      'ec2:RootDeviceType': image.rootDeviceType,
    },
  };
};

const instanceTarget = (ctx: ServiceContext, instanceId: string): Target => {
  const instance = ctx.store.get<InstanceRecord>(Ec2Table.Instances, instanceId);
  if (!instance) return { type: 'instance', id: instanceId, context: { 'ec2:InstanceID': instanceId } };
  return {
    type: 'instance',
    id: instanceId,
    context: {
      ...resourceTags(instance.tags),
      'ec2:InstanceID': instanceId,
      'ec2:InstanceType': instance.instanceType,
      ...(instance.iamInstanceProfile === undefined ? {} : { 'ec2:InstanceProfile': instance.iamInstanceProfile }),
      'ec2:MetadataHttpTokens': instance.metadataOptions.httpTokens,
      'ec2:MetadataHttpEndpoint': instance.metadataOptions.httpEndpoint,
      'ec2:RootDeviceType': 'ebs',
      'ec2:Tenancy': 'default',
    },
  };
};

const snapshotTarget = (ctx: ServiceContext, snapshotId: string): Target => {
  const snapshot = ctx.store.get<SnapshotRecord>(Ec2Table.Snapshots, snapshotId);
  if (!snapshot) return { type: 'snapshot', id: snapshotId, context: { 'ec2:SnapshotID': snapshotId } };
  return {
    type: 'snapshot',
    id: snapshotId,
    resourceAccount: snapshot.ownerId,
    context: {
      ...resourceTags(snapshot.tags),
      'ec2:SnapshotID': snapshotId,
      'ec2:Owner': snapshot.ownerId,
      'ec2:VolumeSize': String(snapshot.volumeSize),
      'ec2:Encrypted': String(snapshot.encrypted),
    },
  };
};

/** A stored record with tags (volumes, launch templates) by its table. */
const taggedTarget =
  (type: Ec2ResourceType, table: string) =>
  (ctx: ServiceContext, id: string): Target => {
    const record = ctx.store.get<{ tags?: Tags }>(table, id);
    return { type, id, context: resourceTags(record?.tags) };
  };

/** The targets of ids by their prefix (CreateTags and DeleteTags name any resource). */
const TARGETS_BY_PREFIX: Readonly<Record<string, (ctx: ServiceContext, id: string) => Target>> = {
  ami: imageTarget,
  snap: snapshotTarget,
  i: instanceTarget,
  vol: taggedTarget('volume', Ec2Table.Volumes),
  lt: taggedTarget('launch-template', Ec2Table.LaunchTemplates),
  sg: (_ctx, id) => ({ type: 'security-group', id }),
  subnet: (_ctx, id) => ({ type: 'subnet', id }),
  eni: (_ctx, id) => ({ type: 'network-interface', id }),
};

/** The launch template a request names by `LaunchTemplateId` or `LaunchTemplateName` under `prefix`. */
const templateOf = (
  ctx: ServiceContext,
  params: QueryParams,
  prefix = '',
): { id: string; template?: LaunchTemplateRecord } | undefined => {
  const id = params.get(`${prefix}LaunchTemplateId`);
  const name = params.get(`${prefix}LaunchTemplateName`);
  if (id !== undefined) {
    const template = ctx.store.get<LaunchTemplateRecord>(Ec2Table.LaunchTemplates, id);
    return template ? { id, template } : { id };
  }
  if (name === undefined) return undefined;
  const template = findByName(ctx, name);
  return template ? { id: template.launchTemplateId, template } : { id: '*' };
};

const templateTarget = (ctx: ServiceContext, params: QueryParams): Target => {
  const found = templateOf(ctx, params);
  return { type: 'launch-template', id: found?.id ?? '*', context: resourceTags(found?.template?.tags) };
};

// ---------------------------------------------------------------- creation

/** A resource the request creates: `TYPE/*` with the request's tags for its type. */
const created = (
  ctx: ServiceContext,
  type: Ec2ResourceType,
  tags: Tags | undefined,
  context?: ContextKeys,
): Target => ({
  type,
  id: '*',
  ...(type === 'image' || type === 'snapshot' ? { resourceAccount: callerAccount(ctx) } : {}),
  context: { ...requestTags(tags), ...context },
});

/** `ec2:CreateTags` for each resource type tagged at creation, with `ec2:CreateAction`. */
const tagOnCreate = (
  ctx: ServiceContext,
  action: string,
  specs: ReadonlyMap<string, Tags>,
  types: readonly Ec2ResourceType[],
): AuthzCheck[] =>
  types
    .filter((type) => Object.keys(specs.get(type) ?? {}).length > 0)
    .map((type) => check(ctx, 'CreateTags', created(ctx, type, specs.get(type), { 'ec2:CreateAction': action })));

// ---------------------------------------------------------------- RunInstances

/** The role an instance profile holds, looked up in IAM (read-only); undefined when there is none. */
const roleOfProfile = (ctx: ServiceContext, profileArn: string): string | undefined => {
  const lookup = profileOf(ctx.store, profileArn);
  if (lookup?.roleName === undefined) return undefined;
  return lookup.role?.arn ?? `arn:aws:iam::${lookup.account}:role/${lookup.roleName}`;
};

const passProfileRole = (ctx: ServiceContext, profileArn: string | undefined): AuthzCheck[] => {
  const roleArn = profileArn === undefined ? undefined : roleOfProfile(ctx, profileArn);
  if (roleArn === undefined || !parseRoleArn(roleArn)) return [];
  return [passRole(roleArn, 'ec2.amazonaws.com')];
};

/** `IamInstanceProfile.Arn`, or the ARN of `IamInstanceProfile.Name` in the sandbox account. */
const profileArnOf = (ctx: ServiceContext, params: QueryParams): string | undefined => {
  const name = params.get('IamInstanceProfile.Name');
  const arn = params.get('IamInstanceProfile.Arn');
  if (arn !== undefined || name === undefined) return arn;
  return `arn:aws:iam::${ctx.account}:instance-profile/${name}`;
};

const RUN_INSTANCES_TAGGABLE: readonly Ec2ResourceType[] = ['instance', 'volume', 'network-interface'];

/**
 * The subnet, security groups and image a launch template's version (default `$Default`) gives a
 * launch, read as the launch reads them (launchDefaultsOf). A malformed version or an unresolvable
 * `resolve:ssm:` image is the launch's error, not authorization's: the image is then named as is.
 */
const templateDefaultsOf = (
  ctx: ServiceContext,
  template: LaunchTemplateRecord | undefined,
  version: string | undefined,
): LaunchDefaults => {
  if (!template) return { securityGroupIds: [] };
  let defaults: LaunchDefaults;
  try {
    defaults = launchDefaultsOf(
      resolveLaunchTemplateVersion(ctx, { launchTemplateId: template.launchTemplateId, version }).version.data,
    );
  } catch {
    return { securityGroupIds: [] };
  }
  if (defaults.imageId === undefined) return defaults;
  try {
    return { ...defaults, imageId: resolveSsmImageId(ctx, defaults.imageId) };
  } catch {
    return defaults;
  }
};

const runInstances: Mapper = (params, ctx) => {
  const specs = tagSpecs(params);
  const template = templateOf(ctx, params, 'LaunchTemplate.');
  const fromTemplate: ContextKeys =
    template === undefined ? {} : { 'ec2:LaunchTemplate': arnOf(ctx, 'launch-template', template.id) };
  const fromData = templateDefaultsOf(ctx, template?.template, params.get('LaunchTemplate.Version'));
  const subnetId =
    params.get('SubnetId') ?? params.get('NetworkInterface.1.SubnetId') ?? fromData.subnetId ?? DEFAULT_SUBNET;
  const groupIds = [
    ...indexedList(params, 'SecurityGroupId'),
    ...indexedList(params, 'NetworkInterface.1.SecurityGroupId'),
  ];
  // Without a subnet or groups, from the request or from the template's version, EC2 launches in
  // the default VPC's default subnet with its default group ("If you don't specify a subnet ID, we
  // choose a default subnet from your default VPC", RunInstances, Amazon EC2 API Reference), and
  // the request is authorized on those (so is one naming a template that does not exist, which
  // then fails as EC2 fails it).
  const groups =
    groupIds.length > 0
      ? groupIds
      : fromData.securityGroupIds.length > 0
        ? [...fromData.securityGroupIds]
        : [DEFAULT_GROUP];
  const vpc = { 'ec2:Vpc': arnOf(ctx, 'vpc', DEFAULT_VPC) };
  const profileArn = profileArnOf(ctx, params);
  const keyName = params.get('KeyName');
  const image = params.get('ImageId') ?? fromData.imageId;
  const targets: Target[] = [
    ...(image === undefined ? [] : [imageTarget(ctx, image)]),
    created(ctx, 'instance', specs.get('instance'), {
      'ec2:InstanceType': params.get('InstanceType') ?? 'm1.small',
      ...(profileArn === undefined ? {} : { 'ec2:InstanceProfile': profileArn }),
      'ec2:MetadataHttpTokens': params.get('MetadataOptions.HttpTokens') ?? 'required',
      'ec2:MetadataHttpEndpoint': params.get('MetadataOptions.HttpEndpoint') ?? 'enabled',
      'ec2:RootDeviceType': 'ebs',
      'ec2:Tenancy': 'default',
    }),
    created(ctx, 'volume', specs.get('volume')),
    created(ctx, 'network-interface', specs.get('network-interface'), {
      ...vpc,
      ...(subnetId === undefined ? {} : { 'ec2:Subnet': arnOf(ctx, 'subnet', subnetId) }),
    }),
    ...groups.map((id): Target => ({ type: 'security-group', id, context: { ...vpc, 'ec2:SecurityGroupID': id } })),
    ...(subnetId === undefined
      ? []
      : [{ type: 'subnet', id: subnetId, context: { ...vpc, 'ec2:SubnetID': subnetId } } as const]),
    ...(template === undefined
      ? []
      : [{ type: 'launch-template', id: template.id, context: resourceTags(template.template?.tags) } as const]),
    ...(keyName === undefined
      ? []
      : [{ type: 'key-pair', id: keyName, context: { 'ec2:KeyPairName': keyName } } as const]),
  ];
  return [
    ...targets.map((target) =>
      check(ctx, 'RunInstances', { ...target, context: { ...target.context, ...fromTemplate } }),
    ),
    ...tagOnCreate(ctx, 'RunInstances', specs, RUN_INSTANCES_TAGGABLE),
    ...passProfileRole(ctx, profileArn),
  ];
};

// ---------------------------------------------------------------- images

const createImage: Mapper = (params, ctx) => {
  const specs = tagSpecs(params);
  const instanceId = params.get('InstanceId');
  return [
    ...(instanceId === undefined ? [] : [check(ctx, 'CreateImage', instanceTarget(ctx, instanceId))]),
    check(ctx, 'CreateImage', created(ctx, 'image', specs.get('image'))),
    check(ctx, 'CreateImage', created(ctx, 'snapshot', specs.get('snapshot'))),
    ...tagOnCreate(ctx, 'CreateImage', specs, ['image', 'snapshot']),
  ];
};

const copyImage: Mapper = (params, ctx) => {
  const specs = tagSpecs(params);
  const sourceId = params.get('SourceImageId');
  const sourceRegion = params.get('SourceRegion') ?? ctx.region;
  return [
    ...(sourceId === undefined ? [] : [check(ctx, 'CopyImage', imageTarget(ctx, sourceId, sourceRegion))]),
    check(ctx, 'CopyImage', created(ctx, 'image', specs.get('image'))),
    check(ctx, 'CopyImage', created(ctx, 'snapshot', specs.get('snapshot'))),
    ...tagOnCreate(ctx, 'CopyImage', specs, ['image', 'snapshot']),
  ];
};

/** Actions on one image named by `ImageId`. */
const IMAGE_ACTIONS = [
  'DeregisterImage',
  'ModifyImageAttribute',
  'DescribeImageAttribute',
  'EnableImageDeprecation',
  'DisableImageDeprecation',
  'EnableImage',
  'DisableImage',
  'EnableImageDeregistrationProtection',
  'DisableImageDeregistrationProtection',
] as const;

const onImage =
  (action: string): Mapper =>
  (params, ctx) => [check(ctx, action, imageTarget(ctx, params.get('ImageId') ?? '*'))];

// ---------------------------------------------------------------- instances, snapshots, tags

/** Actions on the instances named by `InstanceId.N`. */
const INSTANCE_ACTIONS = ['StartInstances', 'StopInstances', 'TerminateInstances'] as const;

const onInstances =
  (action: string): Mapper =>
  (params, ctx) =>
    [...new Set(indexedList(params, 'InstanceId'))].map((id) => check(ctx, action, instanceTarget(ctx, id)));

const deleteSnapshot: Mapper = (params, ctx) => [
  check(ctx, 'DeleteSnapshot', snapshotTarget(ctx, params.get('SnapshotId') ?? '*')),
];

/** DeleteTags' keys, and the values of the tags it names with one (without, any value goes). */
const deletedTags = (params: QueryParams): Record<string, ContextValue> => {
  const tags = indexedStructs(params, 'Tag');
  const keys = tags.flatMap((tag) => tag.get('Key') ?? []);
  const valued: Tags = {};
  for (const tag of tags) {
    const [key, value] = [tag.get('Key'), tag.get('Value')];
    if (key !== undefined && value !== undefined) valued[key] = value;
  }
  return { ...requestTags(valued), ...(keys.length > 0 ? { 'aws:TagKeys': keys } : {}) };
};

/**
 * CreateTags and DeleteTags: each resource by its id's type with its tags as they are before the
 * call, and the request's tags (DeleteTags: those named with a value) and keys.
 */
const onTagged =
  (action: 'CreateTags' | 'DeleteTags'): Mapper =>
  (params, ctx) => {
    const request = action === 'CreateTags' ? requestTags(tagsIn(params, 'Tag')) : deletedTags(params);
    return [...new Set(indexedList(params, 'ResourceId'))].flatMap((id) => {
      const target = TARGETS_BY_PREFIX[id.split('-')[0] ?? '']?.(ctx, id);
      return target ? [check(ctx, action, { ...target, context: { ...target.context, ...request } })] : [];
    });
  };

// ---------------------------------------------------------------- launch templates

const createLaunchTemplate: Mapper = (params, ctx) => {
  const specs = tagSpecs(params);
  return [
    check(ctx, 'CreateLaunchTemplate', created(ctx, 'launch-template', specs.get('launch-template'))),
    ...tagOnCreate(ctx, 'CreateLaunchTemplate', specs, ['launch-template']),
  ];
};

/** Actions on one launch template named by `LaunchTemplateId` or `LaunchTemplateName`. */
const TEMPLATE_ACTIONS = [
  'CreateLaunchTemplateVersion',
  'ModifyLaunchTemplate',
  'DeleteLaunchTemplate',
  'DeleteLaunchTemplateVersions',
] as const;

const onTemplate =
  (action: string): Mapper =>
  (params, ctx) => [check(ctx, action, templateTarget(ctx, params))];

const each = (actions: readonly string[], mapper: (action: string) => Mapper): Record<string, Mapper> =>
  Object.fromEntries(actions.map((action) => [action, mapper(action)]));

export const ec2Authz: Readonly<Record<string, Mapper>> = {
  RunInstances: runInstances,
  CreateImage: createImage,
  CopyImage: copyImage,
  ...each(IMAGE_ACTIONS, onImage),
  ...each(INSTANCE_ACTIONS, onInstances),
  DeleteSnapshot: deleteSnapshot,
  CreateTags: onTagged('CreateTags'),
  DeleteTags: onTagged('DeleteTags'),
  CreateLaunchTemplate: createLaunchTemplate,
  ...each(TEMPLATE_ACTIONS, onTemplate),
};
