/**
 * Auto Scaling (awsquery protocol, API version 2011-01-01): launch configurations, Auto Scaling
 * groups launched from a launch configuration, a launch template or a MixedInstancesPolicy, and
 * instance refreshes that move Pending → InProgress → Successful on the sandbox clock.
 *
 * Groups do not launch sandbox instances: they keep their capacity settings and launch source,
 * which is what callers (the janitor) read to know which AMIs are in use. AttachInstances puts
 * running EC2 instances in a group (its Instances list); a refresh does not replace them. A refresh that names a
 * DesiredConfiguration applies it to the group when it succeeds, as AWS does.
 */
import { randomUUID } from 'node:crypto';
import { AwsError } from '../errors';
import { decodeOffsetToken, type Page, pageOf } from '../pagination';
import { indexedStructs, memberList, type QueryParams, substruct, type XmlValue } from '../protocol/query';
import type { QueryAction, QueryService, ServiceContext } from '../service';
import type { Store } from '../store';
import { isWellFormedId } from './ec2/common';
import { resolveLaunchTemplateVersion } from './ec2/launch-templates';
import { Ec2Table, type ImageRecord, type InstanceRecord, type LaunchTemplateRecord } from './ec2/model';

export const AutoScalingTable = {
  Groups: 'autoscaling.groups',
  LaunchConfigurations: 'autoscaling.launchConfigurations',
  InstanceRefreshes: 'autoscaling.instanceRefreshes',
} as const;

const XMLNS = 'http://autoscaling.amazonaws.com/doc/2011-01-01/';
const DEFAULT_MAX_RECORDS = 50;
const MAX_RECORDS = 100;
/** A refresh waits this long in Pending before it starts replacing instances. */
const REFRESH_PENDING_SECONDS = 30;
/** Launching one batch of replacement instances, before their warm-up. */
const REFRESH_LAUNCH_SECONDS = 60;
const DEFAULT_WARMUP_SECONDS = 300;

// ---------------------------------------------------------------- records

export interface LaunchTemplateSpecificationRecord {
  readonly launchTemplateId: string;
  readonly launchTemplateName: string;
  readonly version: string;
}

export interface LaunchConfigurationRecord extends Record<string, unknown> {
  readonly launchConfigurationName: string;
  readonly launchConfigurationArn: string;
  readonly imageId: string;
  readonly instanceType: string;
  readonly keyName?: string;
  readonly securityGroups: readonly string[];
  readonly userData?: string;
  readonly iamInstanceProfile?: string;
  readonly blockDeviceMappings: readonly Record<string, unknown>[];
  readonly instanceMonitoring: boolean;
  readonly ebsOptimized: boolean;
  readonly associatePublicIpAddress?: boolean;
  readonly metadataOptions?: Record<string, unknown>;
  readonly createdTime: string;
}

export interface OverrideRecord {
  readonly instanceType?: string;
  readonly weightedCapacity?: string;
  readonly launchTemplateSpecification?: LaunchTemplateSpecificationRecord;
}

export interface MixedInstancesPolicyRecord {
  readonly launchTemplateSpecification: LaunchTemplateSpecificationRecord;
  readonly overrides: readonly OverrideRecord[];
  readonly instancesDistribution: {
    readonly onDemandAllocationStrategy: string;
    readonly onDemandBaseCapacity: number;
    readonly onDemandPercentageAboveBaseCapacity: number;
    readonly spotAllocationStrategy: string;
    readonly spotInstancePools?: number;
    readonly spotMaxPrice?: string;
  };
}

export interface GroupTag {
  readonly key: string;
  readonly value: string;
  readonly propagateAtLaunch: boolean;
}

/** Exactly one launch source is set. */
export interface LaunchSource {
  readonly launchConfigurationName?: string;
  readonly launchTemplate?: LaunchTemplateSpecificationRecord;
  readonly mixedInstancesPolicy?: MixedInstancesPolicyRecord;
}

export interface GroupRecord extends Record<string, unknown>, LaunchSource {
  readonly autoScalingGroupName: string;
  readonly autoScalingGroupArn: string;
  readonly minSize: number;
  readonly maxSize: number;
  readonly desiredCapacity: number;
  readonly defaultCooldown: number;
  readonly availabilityZones: readonly string[];
  readonly vpcZoneIdentifier?: string;
  readonly healthCheckType: string;
  readonly healthCheckGracePeriod: number;
  readonly defaultInstanceWarmup?: number;
  readonly terminationPolicies: readonly string[];
  readonly newInstancesProtectedFromScaleIn: boolean;
  readonly capacityRebalance: boolean;
  readonly maxInstanceLifetime?: number;
  readonly tags: readonly GroupTag[];
  readonly createdTime: string;
  /** EC2 instances put in the group with AttachInstances (groups launch none themselves). */
  readonly instanceIds?: readonly string[];
}

export type RefreshStatus = 'Pending' | 'InProgress' | 'Successful' | 'Failed' | 'Cancelling' | 'Cancelled';

export interface InstanceRefreshRecord extends Record<string, unknown> {
  readonly instanceRefreshId: string;
  readonly autoScalingGroupName: string;
  readonly status: RefreshStatus;
  readonly statusReason?: string;
  readonly startTime: string;
  /** When it leaves Pending and when it completes (sandbox clock, ISO). */
  readonly inProgressAt: string;
  readonly completesAt: string;
  readonly endTime?: string;
  readonly instancesToUpdate: number;
  readonly preferences: {
    readonly minHealthyPercentage: number;
    readonly maxHealthyPercentage?: number;
    readonly instanceWarmup?: number;
    readonly skipMatching: boolean;
    readonly autoRollback: boolean;
    readonly scaleInProtectedInstances: string;
    readonly standbyInstances: string;
  };
  readonly desiredConfiguration?: LaunchSource;
}

// ---------------------------------------------------------------- input

const validationError = (message: string): AwsError => new AwsError('ValidationError', message);

const nullMember = (member: string): AwsError =>
  validationError(
    `1 validation error detected: Value null at '${member}' failed to satisfy constraint: Member must not be null`,
  );

const requiredText = (params: QueryParams, key: string, member: string, max = 255): string => {
  const value = params.get(key);
  if (value === undefined) throw nullMember(member);
  return checkLength(value, member, max);
};

const optionalText = (params: QueryParams, key: string, member: string, max = 255): string | undefined => {
  const value = params.get(key);
  return value === undefined ? undefined : checkLength(value, member, max);
};

const checkLength = (value: string, member: string, max: number): string => {
  if (value.length < 1 || value.length > max) {
    throw validationError(
      `1 validation error detected: Value '${value}' at '${member}' failed to satisfy constraint: Member must have length between 1 and ${max}`,
    );
  }
  return value;
};

const optionalInteger = (params: QueryParams, key: string, min = 0): number | undefined => {
  const value = params.get(key);
  if (value === undefined) return undefined;
  if (!/^-?\d+$/.test(value)) throw validationError(`Value '${value}' for ${key} must be an integer.`);
  const number = Number(value);
  if (number < min) {
    throw validationError(
      `1 validation error detected: Value '${value}' at '${lowerFirst(key)}' failed to satisfy constraint: Member must have value greater than or equal to ${min}`,
    );
  }
  return number;
};

const optionalFlag = (params: QueryParams, key: string): boolean | undefined => {
  const value = params.get(key);
  if (value === undefined) return undefined;
  if (value !== 'true' && value !== 'false')
    throw validationError(`Value '${value}' for ${key} must be true or false.`);
  return value === 'true';
};

const lowerFirst = (text: string): string => text.charAt(0).toLowerCase() + text.slice(1);

// ---------------------------------------------------------------- pagination

const readRecordsPage = (params: QueryParams): Page => {
  const maxRecords = optionalInteger(params, 'MaxRecords', Number.NEGATIVE_INFINITY);
  if (maxRecords !== undefined && (maxRecords < 1 || maxRecords > MAX_RECORDS)) {
    throw validationError(`MaxRecords must be between 1 and ${MAX_RECORDS}; it was ${maxRecords}.`);
  }
  const token = params.get('NextToken');
  const offset = token === undefined ? 0 : decodeOffsetToken(token);
  if (offset === undefined) throw new AwsError('InvalidNextToken', `The token '${token}' is invalid.`);
  return { offset, limit: maxRecords ?? DEFAULT_MAX_RECORDS };
};

// ---------------------------------------------------------------- launch sources

const LAUNCH_SOURCE_REQUIRED =
  'Valid requests must contain either LaunchTemplate, LaunchConfigurationName, InstanceId or MixedInstancesPolicy parameter.';

/** `LaunchTemplateId|LaunchTemplateName, Version` under `prefix`, checked against the EC2 templates. */
const readTemplateSpecification = (
  ctx: ServiceContext,
  params: QueryParams,
): LaunchTemplateSpecificationRecord | undefined => {
  const launchTemplateId = params.get('LaunchTemplateId');
  const launchTemplateName = params.get('LaunchTemplateName');
  const version = params.get('Version');
  if (launchTemplateId === undefined && launchTemplateName === undefined) {
    if (version === undefined) return undefined;
    throw validationError('You must specify either a launch template ID or a launch template name in the request.');
  }
  if (launchTemplateId !== undefined && launchTemplateName !== undefined) {
    throw validationError(
      'You must specify either a launch template ID or a launch template name in the request, but not both.',
    );
  }
  const template = findTemplate(ctx, launchTemplateId, launchTemplateName, version);
  return {
    launchTemplateId: template.launchTemplateId,
    launchTemplateName: template.launchTemplateName,
    version: version ?? '$Default',
  };
};

const findTemplate = (
  ctx: ServiceContext,
  launchTemplateId: string | undefined,
  launchTemplateName: string | undefined,
  version: string | undefined,
): LaunchTemplateRecord => {
  if (version !== undefined && !/^(\$Latest|\$Default|\d+)$/.test(version)) {
    throw validationError(
      `The launch template version '${version}' is not valid. Use a version number, $Latest or $Default.`,
    );
  }
  try {
    return resolveLaunchTemplateVersion(ctx, { launchTemplateId, launchTemplateName, version }).template;
  } catch (error) {
    if (!(error instanceof AwsError)) throw error;
    throw validationError(`You must use a valid fully-formed launch template. ${error.message}`);
  }
};

const readOverrides = (ctx: ServiceContext, params: QueryParams): OverrideRecord[] =>
  indexedStructs(params, 'Overrides.member').map((override) => {
    const specification = readTemplateSpecification(ctx, substruct(override, 'LaunchTemplateSpecification'));
    const instanceType = override.get('InstanceType');
    const weightedCapacity = override.get('WeightedCapacity');
    if (weightedCapacity !== undefined && !/^[1-9]\d{0,2}$/.test(weightedCapacity)) {
      throw validationError(`WeightedCapacity '${weightedCapacity}' must be a whole number from 1 to 999.`);
    }
    return {
      ...(instanceType === undefined ? {} : { instanceType }),
      ...(weightedCapacity === undefined ? {} : { weightedCapacity }),
      ...(specification === undefined ? {} : { launchTemplateSpecification: specification }),
    };
  });

const readMixedInstancesPolicy = (ctx: ServiceContext, params: QueryParams): MixedInstancesPolicyRecord | undefined => {
  if (![...params.keys()].some((key) => key.startsWith('MixedInstancesPolicy.'))) return undefined;
  const launchTemplate = substruct(params, 'MixedInstancesPolicy.LaunchTemplate');
  const specification = readTemplateSpecification(ctx, substruct(launchTemplate, 'LaunchTemplateSpecification'));
  if (!specification) throw nullMember('mixedInstancesPolicy.launchTemplate.launchTemplateSpecification');
  const distribution = substruct(params, 'MixedInstancesPolicy.InstancesDistribution');
  const percentage = optionalInteger(distribution, 'OnDemandPercentageAboveBaseCapacity') ?? 100;
  if (percentage > 100) throw validationError('OnDemandPercentageAboveBaseCapacity must be between 0 and 100.');
  const spotInstancePools = optionalInteger(distribution, 'SpotInstancePools', 1);
  const spotMaxPrice = distribution.get('SpotMaxPrice');
  return {
    launchTemplateSpecification: specification,
    overrides: readOverrides(ctx, launchTemplate),
    instancesDistribution: {
      onDemandAllocationStrategy: distribution.get('OnDemandAllocationStrategy') ?? 'prioritized',
      onDemandBaseCapacity: optionalInteger(distribution, 'OnDemandBaseCapacity') ?? 0,
      onDemandPercentageAboveBaseCapacity: percentage,
      spotAllocationStrategy: distribution.get('SpotAllocationStrategy') ?? 'lowest-price',
      ...(spotInstancePools === undefined ? {} : { spotInstancePools }),
      ...(spotMaxPrice === undefined ? {} : { spotMaxPrice }),
    },
  };
};

const launchConfigurationNotFound = (name: string): AwsError =>
  validationError(`Launch configuration name not found - Launch configuration ${name} not found`);

/** Reads the one launch source of a request; `undefined` when the request names none. */
const readLaunchSource = (ctx: ServiceContext, params: QueryParams, prefix = ''): LaunchSource | undefined => {
  const scoped = prefix === '' ? params : substruct(params, prefix);
  const launchConfigurationName = scoped.get('LaunchConfigurationName');
  const launchTemplate = readTemplateSpecification(ctx, substruct(scoped, 'LaunchTemplate'));
  const mixedInstancesPolicy = readMixedInstancesPolicy(ctx, scoped);
  const given = [launchConfigurationName, launchTemplate, mixedInstancesPolicy].filter((value) => value !== undefined);
  if (given.length === 0) return undefined;
  if (given.length > 1) throw validationError(LAUNCH_SOURCE_REQUIRED);
  if (launchConfigurationName !== undefined) {
    if (!ctx.store.get(AutoScalingTable.LaunchConfigurations, launchConfigurationName)) {
      throw launchConfigurationNotFound(launchConfigurationName);
    }
    return { launchConfigurationName };
  }
  return launchTemplate
    ? { launchTemplate }
    : { mixedInstancesPolicy: mixedInstancesPolicy as MixedInstancesPolicyRecord };
};

// ---------------------------------------------------------------- XML shapes

const specificationXml = (spec: LaunchTemplateSpecificationRecord | undefined): XmlValue =>
  spec === undefined
    ? undefined
    : { LaunchTemplateId: spec.launchTemplateId, LaunchTemplateName: spec.launchTemplateName, Version: spec.version };

const mixedInstancesPolicyXml = (policy: MixedInstancesPolicyRecord | undefined): XmlValue => {
  if (!policy) return undefined;
  const distribution = policy.instancesDistribution;
  return {
    LaunchTemplate: {
      LaunchTemplateSpecification: specificationXml(policy.launchTemplateSpecification),
      Overrides: policy.overrides.map((override) => ({
        InstanceType: override.instanceType,
        WeightedCapacity: override.weightedCapacity,
        LaunchTemplateSpecification: specificationXml(override.launchTemplateSpecification),
      })),
    },
    InstancesDistribution: {
      OnDemandAllocationStrategy: distribution.onDemandAllocationStrategy,
      OnDemandBaseCapacity: distribution.onDemandBaseCapacity,
      OnDemandPercentageAboveBaseCapacity: distribution.onDemandPercentageAboveBaseCapacity,
      SpotAllocationStrategy: distribution.spotAllocationStrategy,
      SpotInstancePools: distribution.spotInstancePools,
      SpotMaxPrice: distribution.spotMaxPrice,
    },
  };
};

/** The group's attached instances EC2 still has (terminated ones leave the group). */
const instancesOf = (ctx: ServiceContext, group: GroupRecord): InstanceRecord[] =>
  (group.instanceIds ?? []).flatMap((id) => {
    const instance = ctx.store.get<InstanceRecord>(Ec2Table.Instances, id);
    return instance && instance.state !== 'terminated' && instance.state !== 'shutting-down' ? [instance] : [];
  });

const instanceXml = (group: GroupRecord, instance: InstanceRecord): XmlValue => ({
  InstanceId: instance.instanceId,
  InstanceType: instance.instanceType,
  AvailabilityZone: group.availabilityZones[0],
  LifecycleState: 'InService',
  HealthStatus: 'Healthy',
  LaunchTemplate: specificationXml(group.launchTemplate),
  LaunchConfigurationName: group.launchConfigurationName,
  ProtectedFromScaleIn: group.newInstancesProtectedFromScaleIn,
});

const groupXml = (ctx: ServiceContext, group: GroupRecord): Record<string, XmlValue> => ({
  AutoScalingGroupName: group.autoScalingGroupName,
  AutoScalingGroupARN: group.autoScalingGroupArn,
  LaunchConfigurationName: group.launchConfigurationName,
  LaunchTemplate: specificationXml(group.launchTemplate),
  MixedInstancesPolicy: mixedInstancesPolicyXml(group.mixedInstancesPolicy),
  MinSize: group.minSize,
  MaxSize: group.maxSize,
  DesiredCapacity: group.desiredCapacity,
  DefaultCooldown: group.defaultCooldown,
  AvailabilityZones: [...group.availabilityZones],
  LoadBalancerNames: [],
  TargetGroupARNs: [],
  HealthCheckType: group.healthCheckType,
  HealthCheckGracePeriod: group.healthCheckGracePeriod,
  Instances: instancesOf(ctx, group).map((instance) => instanceXml(group, instance)),
  CreatedTime: group.createdTime,
  SuspendedProcesses: [],
  VPCZoneIdentifier: group.vpcZoneIdentifier,
  EnabledMetrics: [],
  Tags: group.tags.map((tag) => ({
    ResourceId: group.autoScalingGroupName,
    ResourceType: 'auto-scaling-group',
    Key: tag.key,
    Value: tag.value,
    PropagateAtLaunch: tag.propagateAtLaunch,
  })),
  TerminationPolicies: [...group.terminationPolicies],
  NewInstancesProtectedFromScaleIn: group.newInstancesProtectedFromScaleIn,
  ServiceLinkedRoleARN: serviceLinkedRole(group.autoScalingGroupArn),
  MaxInstanceLifetime: group.maxInstanceLifetime,
  CapacityRebalance: group.capacityRebalance,
  DefaultInstanceWarmup: group.defaultInstanceWarmup,
});

const serviceLinkedRole = (groupArn: string): string =>
  `arn:aws:iam::${groupArn.split(':')[4] ?? ''}:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling`;

const launchConfigurationXml = (config: LaunchConfigurationRecord): Record<string, XmlValue> => ({
  LaunchConfigurationName: config.launchConfigurationName,
  LaunchConfigurationARN: config.launchConfigurationArn,
  ImageId: config.imageId,
  KeyName: config.keyName ?? '',
  SecurityGroups: [...config.securityGroups],
  ClassicLinkVPCSecurityGroups: [],
  UserData: config.userData ?? '',
  InstanceType: config.instanceType,
  KernelId: '',
  RamdiskId: '',
  BlockDeviceMappings: config.blockDeviceMappings.map(pascalCase),
  InstanceMonitoring: { Enabled: config.instanceMonitoring },
  IamInstanceProfile: config.iamInstanceProfile,
  CreatedTime: config.createdTime,
  EbsOptimized: config.ebsOptimized,
  AssociatePublicIpAddress: config.associatePublicIpAddress,
  MetadataOptions: config.metadataOptions === undefined ? undefined : pascalCase(config.metadataOptions),
});

const pascalCase = (value: Record<string, unknown>): Record<string, XmlValue> =>
  Object.fromEntries(
    Object.entries(value).map(([key, child]) => [
      key.charAt(0).toUpperCase() + key.slice(1),
      typeof child === 'object' && child !== null && !Array.isArray(child)
        ? pascalCase(child as Record<string, unknown>)
        : (child as XmlValue),
    ]),
  );

// ---------------------------------------------------------------- launch configurations

const camelStruct = (params: QueryParams): Record<string, unknown> => {
  const out: Record<string, unknown> = {};
  for (const [key, value] of params) {
    const path = key.split('.').map(lowerFirst);
    let node = out;
    for (const segment of path.slice(0, -1)) {
      node[segment] = (node[segment] ?? {}) as Record<string, unknown>;
      node = node[segment] as Record<string, unknown>;
    }
    const leaf = path[path.length - 1] as string;
    node[leaf] =
      value === 'true' || value === 'false'
        ? value === 'true'
        : /^\d{1,9}$/.test(value) && leaf !== 'deviceName'
          ? Number(value)
          : value;
  }
  return out;
};

const checkImage = (ctx: ServiceContext, imageId: string): void => {
  if (!isWellFormedId('ami', imageId) || !ctx.store.get<ImageRecord>(Ec2Table.Images, imageId)) {
    throw validationError(`The image id '[${imageId}]' does not exist`);
  }
};

const createLaunchConfiguration: QueryAction = (params, ctx) => {
  const name = requiredText(params, 'LaunchConfigurationName', 'launchConfigurationName');
  if (params.get('InstanceId') !== undefined) {
    throw validationError('The sandbox creates launch configurations from ImageId and InstanceType, not InstanceId.');
  }
  const imageId = params.get('ImageId');
  if (imageId === undefined)
    throw validationError('Valid requests must contain either the ImageId or the InstanceId parameter.');
  const instanceType = params.get('InstanceType');
  if (instanceType === undefined) {
    throw validationError('Valid requests must contain either the InstanceType or the InstanceId parameter.');
  }
  checkImage(ctx, imageId);
  if (ctx.store.get(AutoScalingTable.LaunchConfigurations, name)) {
    throw new AwsError(
      'AlreadyExists',
      `Launch Configuration by this name already exists - A launch configuration already exists with the name ${name}`,
    );
  }
  const keyName = optionalText(params, 'KeyName', 'keyName');
  const userData = optionalText(params, 'UserData', 'userData', 21_847);
  const iamInstanceProfile = optionalText(params, 'IamInstanceProfile', 'iamInstanceProfile', 1600);
  const associatePublicIpAddress = optionalFlag(params, 'AssociatePublicIpAddress');
  const metadata = substruct(params, 'MetadataOptions');
  const record: LaunchConfigurationRecord = {
    launchConfigurationName: name,
    launchConfigurationArn: `arn:aws:autoscaling:${ctx.region}:${ctx.account}:launchConfiguration:${randomUUID()}:launchConfigurationName/${name}`,
    imageId,
    instanceType,
    ...(keyName === undefined ? {} : { keyName }),
    securityGroups: memberList(params, 'SecurityGroups'),
    ...(userData === undefined ? {} : { userData }),
    ...(iamInstanceProfile === undefined ? {} : { iamInstanceProfile }),
    blockDeviceMappings: indexedStructs(params, 'BlockDeviceMappings.member').map(camelStruct),
    instanceMonitoring: optionalFlag(params, 'InstanceMonitoring.Enabled') ?? true,
    ebsOptimized: optionalFlag(params, 'EbsOptimized') ?? false,
    ...(associatePublicIpAddress === undefined ? {} : { associatePublicIpAddress }),
    ...(metadata.size === 0 ? {} : { metadataOptions: camelStruct(metadata) }),
    createdTime: ctx.clock.now().toISOString(),
  };
  ctx.transact((tx) => tx.put(AutoScalingTable.LaunchConfigurations, name, record));
  return {};
};

const describeLaunchConfigurations: QueryAction = (params, ctx) => {
  const names = memberList(params, 'LaunchConfigurationNames');
  if (names.length > 50) throw validationError('LaunchConfigurationNames may contain at most 50 names.');
  const page = readRecordsPage(params);
  const table = ctx.store.table<LaunchConfigurationRecord>(AutoScalingTable.LaunchConfigurations);
  const candidates =
    names.length === 0
      ? table.values()
      : [...new Set(names)].flatMap((name) => {
          const record = table.get(name);
          return record ? [record] : [];
        });
  const { items, nextToken } = pageOf(candidates, () => true, page);
  return { LaunchConfigurations: items.map(launchConfigurationXml), NextToken: nextToken };
};

const groupUsing = (ctx: ServiceContext, launchConfigurationName: string): GroupRecord | undefined => {
  for (const group of ctx.store.table<GroupRecord>(AutoScalingTable.Groups).values()) {
    if (group.launchConfigurationName === launchConfigurationName) return group;
  }
  return undefined;
};

const deleteLaunchConfiguration: QueryAction = (params, ctx) => {
  const name = requiredText(params, 'LaunchConfigurationName', 'launchConfigurationName');
  if (!ctx.store.get(AutoScalingTable.LaunchConfigurations, name)) throw launchConfigurationNotFound(name);
  const user = groupUsing(ctx, name);
  if (user) {
    throw new AwsError(
      'ResourceInUse',
      `Cannot delete launch configuration ${name} because it is attached to AutoScalingGroup ${user.autoScalingGroupName}`,
    );
  }
  ctx.transact((tx) => tx.delete(AutoScalingTable.LaunchConfigurations, name));
  return {};
};

// ---------------------------------------------------------------- groups

const groupNotFound = (name: string): AwsError =>
  validationError(`AutoScalingGroup name not found - AutoScalingGroup ${name} not found`);

const findGroup = (ctx: ServiceContext, name: string): GroupRecord => {
  const group = ctx.store.get<GroupRecord>(AutoScalingTable.Groups, name);
  if (!group) throw groupNotFound(name);
  return group;
};

const readTags = (params: QueryParams): GroupTag[] => {
  const tags = new Map<string, GroupTag>();
  for (const tag of indexedStructs(params, 'Tags.member')) {
    const key = tag.get('Key');
    if (key === undefined || key === '') throw nullMember('tags.member.key');
    if (key.length > 128 || key.toLowerCase().startsWith('aws:'))
      throw validationError(`Tag key '${key}' is not valid.`);
    const value = tag.get('Value') ?? '';
    if (value.length > 256) throw validationError(`Tag value for key '${key}' is longer than 256 characters.`);
    tags.set(key, { key, value, propagateAtLaunch: optionalFlag(tag, 'PropagateAtLaunch') ?? false });
  }
  if (tags.size > 50)
    throw new AwsError('LimitExceeded', 'The number of tags on an Auto Scaling group cannot exceed 50.');
  return [...tags.values()];
};

/** min ≤ desired ≤ max, with the messages Auto Scaling answers. */
const checkSizes = (min: number, max: number, desired: number): void => {
  if (min > max) throw validationError(`Max bound, ${max}, must be greater than or equal to min bound, ${min}`);
  if (desired < min || desired > max) {
    throw validationError(
      `Desired capacity:${desired} must be between the specified min size:${min} and max size:${max}`,
    );
  }
};

const availabilityZonesOf = (ctx: ServiceContext, zones: readonly string[], vpcZoneIdentifier: string | undefined) => {
  if (zones.length > 0) return zones;
  if (vpcZoneIdentifier === undefined || vpcZoneIdentifier.trim() === '') {
    throw validationError('At least one Availability Zone or VPC Subnet is required.');
  }
  for (const subnet of vpcZoneIdentifier.split(',')) {
    if (!isWellFormedId('subnet', subnet.trim()))
      throw validationError(`The subnet ID '${subnet.trim()}' is not valid`);
  }
  return [`${ctx.region}a`];
};

const createAutoScalingGroup: QueryAction = (params, ctx) => {
  const name = requiredText(params, 'AutoScalingGroupName', 'autoScalingGroupName');
  const minSize = optionalInteger(params, 'MinSize');
  if (minSize === undefined) throw nullMember('minSize');
  const maxSize = optionalInteger(params, 'MaxSize');
  if (maxSize === undefined) throw nullMember('maxSize');
  const desiredCapacity = optionalInteger(params, 'DesiredCapacity') ?? minSize;
  checkSizes(minSize, maxSize, desiredCapacity);
  if (params.get('InstanceId') !== undefined) {
    throw validationError('The sandbox creates groups from a launch configuration or template, not from InstanceId.');
  }
  const source = readLaunchSource(ctx, params);
  if (!source) throw validationError(LAUNCH_SOURCE_REQUIRED);
  const vpcZoneIdentifier = optionalText(params, 'VPCZoneIdentifier', 'vPCZoneIdentifier', 5000);
  const availabilityZones = availabilityZonesOf(ctx, memberList(params, 'AvailabilityZones'), vpcZoneIdentifier);
  const tags = readTags(params);
  if (ctx.store.get(AutoScalingTable.Groups, name)) {
    throw new AwsError(
      'AlreadyExists',
      `AutoScalingGroup by this name already exists - A group with the name ${name} already exists`,
    );
  }
  const terminationPolicies = memberList(params, 'TerminationPolicies');
  const maxInstanceLifetime = optionalInteger(params, 'MaxInstanceLifetime');
  const defaultInstanceWarmup = optionalInteger(params, 'DefaultInstanceWarmup');
  const group: GroupRecord = {
    autoScalingGroupName: name,
    autoScalingGroupArn: `arn:aws:autoscaling:${ctx.region}:${ctx.account}:autoScalingGroup:${randomUUID()}:autoScalingGroupName/${name}`,
    ...source,
    minSize,
    maxSize,
    desiredCapacity,
    defaultCooldown: optionalInteger(params, 'DefaultCooldown') ?? 300,
    availabilityZones,
    ...(vpcZoneIdentifier === undefined ? {} : { vpcZoneIdentifier }),
    healthCheckType: params.get('HealthCheckType') ?? 'EC2',
    healthCheckGracePeriod: optionalInteger(params, 'HealthCheckGracePeriod') ?? 0,
    ...(defaultInstanceWarmup === undefined ? {} : { defaultInstanceWarmup }),
    terminationPolicies: terminationPolicies.length > 0 ? terminationPolicies : ['Default'],
    newInstancesProtectedFromScaleIn: optionalFlag(params, 'NewInstancesProtectedFromScaleIn') ?? false,
    capacityRebalance: optionalFlag(params, 'CapacityRebalance') ?? false,
    ...(maxInstanceLifetime === undefined ? {} : { maxInstanceLifetime }),
    tags,
    createdTime: ctx.clock.now().toISOString(),
  };
  ctx.transact((tx) => tx.put(AutoScalingTable.Groups, name, group));
  return {};
};

interface GroupFilter {
  readonly name: string;
  readonly values: readonly string[];
}

const GROUP_FILTERS = ['tag-key', 'tag-value'];

const groupFilters = (params: QueryParams): ((group: GroupRecord) => boolean) => {
  const list: GroupFilter[] = indexedStructs(params, 'Filters.member').map((filter) => {
    const name = filter.get('Name');
    if (name === undefined) throw nullMember('filters.member.name');
    if (!name.startsWith('tag:') && !GROUP_FILTERS.includes(name)) {
      throw validationError(`Filter name '${name}' is not valid. Valid filters: tag:<key>, tag-key, tag-value.`);
    }
    return { name, values: memberList(filter, 'Values') };
  });
  return (group) =>
    list.every((filter) =>
      group.tags.some((tag) => {
        if (filter.name === 'tag-key') return filter.values.includes(tag.key);
        if (filter.name === 'tag-value') return filter.values.includes(tag.value);
        return tag.key === filter.name.slice(4) && filter.values.includes(tag.value);
      }),
    );
};

const describeAutoScalingGroups: QueryAction = (params, ctx) => {
  const names = memberList(params, 'AutoScalingGroupNames');
  const page = readRecordsPage(params);
  const matches = groupFilters(params);
  const table = ctx.store.table<GroupRecord>(AutoScalingTable.Groups);
  const candidates =
    names.length === 0
      ? table.values()
      : [...new Set(names)].flatMap((name) => {
          const group = table.get(name);
          return group ? [group] : [];
        });
  const { items, nextToken } = pageOf(candidates, matches, page);
  return { AutoScalingGroups: items.map((group) => groupXml(ctx, group)), NextToken: nextToken };
};

/** New sizes as UpdateAutoScalingGroup sets them: a min above or max below the capacity moves it. */
const updatedSizes = (group: GroupRecord, params: QueryParams) => {
  const minSize = optionalInteger(params, 'MinSize') ?? group.minSize;
  const maxSize = optionalInteger(params, 'MaxSize') ?? group.maxSize;
  const requested = optionalInteger(params, 'DesiredCapacity');
  const desiredCapacity = requested ?? Math.min(Math.max(group.desiredCapacity, minSize), maxSize);
  checkSizes(minSize, maxSize, desiredCapacity);
  return { minSize, maxSize, desiredCapacity };
};

/** Switching launch source clears the others. */
const withoutLaunchSource = (group: GroupRecord): GroupRecord => {
  const { launchConfigurationName: _lc, launchTemplate: _lt, mixedInstancesPolicy: _mip, ...rest } = group;
  return rest as GroupRecord;
};

const updateAutoScalingGroup: QueryAction = (params, ctx) => {
  const name = requiredText(params, 'AutoScalingGroupName', 'autoScalingGroupName');
  const group = findGroup(ctx, name);
  const sizes = updatedSizes(group, params);
  const source = readLaunchSource(ctx, params);
  const vpcZoneIdentifier =
    optionalText(params, 'VPCZoneIdentifier', 'vPCZoneIdentifier', 5000) ?? group.vpcZoneIdentifier;
  const zones = memberList(params, 'AvailabilityZones');
  const healthCheckType = params.get('HealthCheckType');
  const healthCheckGracePeriod = optionalInteger(params, 'HealthCheckGracePeriod');
  const defaultCooldown = optionalInteger(params, 'DefaultCooldown');
  const terminationPolicies = memberList(params, 'TerminationPolicies');
  const capacityRebalance = optionalFlag(params, 'CapacityRebalance');
  const protect = optionalFlag(params, 'NewInstancesProtectedFromScaleIn');
  const updated: GroupRecord = {
    ...(source ? withoutLaunchSource(group) : group),
    ...source,
    ...sizes,
    ...(vpcZoneIdentifier === undefined ? {} : { vpcZoneIdentifier }),
    ...(zones.length > 0 || params.has('VPCZoneIdentifier')
      ? { availabilityZones: availabilityZonesOf(ctx, zones, vpcZoneIdentifier) }
      : {}),
    ...(healthCheckType === undefined ? {} : { healthCheckType }),
    ...(healthCheckGracePeriod === undefined ? {} : { healthCheckGracePeriod }),
    ...(defaultCooldown === undefined ? {} : { defaultCooldown }),
    ...(terminationPolicies.length === 0 ? {} : { terminationPolicies }),
    ...(capacityRebalance === undefined ? {} : { capacityRebalance }),
    ...(protect === undefined ? {} : { newInstancesProtectedFromScaleIn: protect }),
  };
  ctx.transact((tx) => tx.put(AutoScalingTable.Groups, name, updated));
  return {};
};

const deleteAutoScalingGroup: QueryAction = (params, ctx) => {
  const name = requiredText(params, 'AutoScalingGroupName', 'autoScalingGroupName');
  const group = findGroup(ctx, name);
  const force = optionalFlag(params, 'ForceDelete') ?? false;
  if (!force && group.desiredCapacity > 0) {
    throw new AwsError(
      'ResourceInUse',
      'You cannot delete an AutoScalingGroup while there are instances or pending Spot instance request(s) still in the group.',
    );
  }
  if (!force && activeRefresh(ctx, name)) {
    throw new AwsError('ScalingActivityInProgress', 'An instance refresh is in progress for this group.');
  }
  ctx.transact((tx) => {
    tx.delete(AutoScalingTable.Groups, name);
    for (const refresh of refreshesOf(ctx, name))
      tx.delete(AutoScalingTable.InstanceRefreshes, refresh.instanceRefreshId);
  });
  active(ctx.store).forEach((id) => {
    if (!ctx.store.get(AutoScalingTable.InstanceRefreshes, id)) active(ctx.store).delete(id);
  });
  return {};
};

/** AttachInstances: running instances join the group, whose desired capacity grows by as many. */
const attachInstances: QueryAction = (params, ctx) => {
  const name = requiredText(params, 'AutoScalingGroupName', 'autoScalingGroupName');
  const group = findGroup(ctx, name);
  const ids = [...new Set(memberList(params, 'InstanceIds'))];
  if (ids.length > 20) throw validationError('The number of instances must be 20 or fewer.');
  const current = new Set(group.instanceIds ?? []);
  const others = [...ctx.store.table<GroupRecord>(AutoScalingTable.Groups).values()].filter(
    (other) => other.autoScalingGroupName !== name,
  );
  for (const id of ids) {
    const instance = isWellFormedId('i', id) ? ctx.store.get<InstanceRecord>(Ec2Table.Instances, id) : undefined;
    if (!instance) throw validationError(`Instance Id not found - No instance(s) found for ${id}`);
    if (instance.state !== 'running') {
      throw validationError(
        `Instance ${id} is not in correct state (${instance.state}); only running instances can be attached.`,
      );
    }
    if (others.some((other) => other.instanceIds?.includes(id))) {
      throw validationError(`The instance ${id} is already part of another Auto Scaling group.`);
    }
  }
  const added = ids.filter((id) => !current.has(id));
  const desiredCapacity = group.desiredCapacity + added.length;
  if (desiredCapacity > group.maxSize) {
    throw validationError(
      `AutoScalingGroup ${name} has min-size=${group.minSize}, max-size=${group.maxSize}, and desired-size=${group.desiredCapacity}. ` +
        `Attaching ${added.length} instance(s) would exceed the max size.`,
    );
  }
  ctx.transact((tx) =>
    tx.put<GroupRecord>(AutoScalingTable.Groups, name, {
      ...group,
      desiredCapacity,
      instanceIds: [...current, ...added],
    }),
  );
  return {};
};

// ---------------------------------------------------------------- instance refreshes

const ACTIVE_STATUSES: ReadonlySet<RefreshStatus> = new Set(['Pending', 'InProgress', 'Cancelling']);

/** Ids of refreshes not yet finished, per store, so the tick never scans the table. */
const activeByStore = new WeakMap<Store, Set<string>>();

const active = (store: Store): Set<string> => {
  let ids = activeByStore.get(store);
  if (!ids) {
    ids = new Set();
    for (const refresh of store.table<InstanceRefreshRecord>(AutoScalingTable.InstanceRefreshes).values()) {
      if (ACTIVE_STATUSES.has(refresh.status)) ids.add(refresh.instanceRefreshId);
    }
    activeByStore.set(store, ids);
  }
  return ids;
};

const refreshesOf = (ctx: ServiceContext, groupName: string): InstanceRefreshRecord[] =>
  [...ctx.store.table<InstanceRefreshRecord>(AutoScalingTable.InstanceRefreshes).values()].filter(
    (refresh) => refresh.autoScalingGroupName === groupName,
  );

const activeRefresh = (ctx: ServiceContext, groupName: string): InstanceRefreshRecord | undefined => {
  for (const id of active(ctx.store)) {
    const refresh = ctx.store.get<InstanceRefreshRecord>(AutoScalingTable.InstanceRefreshes, id);
    if (refresh && refresh.autoScalingGroupName === groupName && ACTIVE_STATUSES.has(refresh.status)) return refresh;
  }
  return undefined;
};

const readPreferences = (params: QueryParams): InstanceRefreshRecord['preferences'] => {
  const preferences = substruct(params, 'Preferences');
  const minHealthyPercentage = optionalInteger(preferences, 'MinHealthyPercentage') ?? 90;
  const maxHealthyPercentage = optionalInteger(preferences, 'MaxHealthyPercentage');
  const instanceWarmup = optionalInteger(preferences, 'InstanceWarmup');
  if (minHealthyPercentage > 100) throw validationError('MinHealthyPercentage must be between 0 and 100.');
  if (maxHealthyPercentage !== undefined && (maxHealthyPercentage < 100 || maxHealthyPercentage > 200)) {
    throw validationError('MaxHealthyPercentage must be between 100 and 200.');
  }
  return {
    minHealthyPercentage,
    ...(maxHealthyPercentage === undefined ? {} : { maxHealthyPercentage }),
    ...(instanceWarmup === undefined ? {} : { instanceWarmup }),
    skipMatching: optionalFlag(preferences, 'SkipMatching') ?? false,
    autoRollback: optionalFlag(preferences, 'AutoRollback') ?? false,
    scaleInProtectedInstances: preferences.get('ScaleInProtectedInstances') ?? 'Ignore',
    standbyInstances: preferences.get('StandbyInstances') ?? 'Ignore',
  };
};

/** Seconds of replacing `instances` in batches that keep `minHealthyPercentage` in service. */
const refreshSeconds = (instances: number, preferences: InstanceRefreshRecord['preferences'], group: GroupRecord) => {
  if (instances === 0) return 0;
  const batch = Math.max(1, Math.floor((instances * (100 - preferences.minHealthyPercentage)) / 100));
  const warmup = preferences.instanceWarmup ?? group.defaultInstanceWarmup ?? DEFAULT_WARMUP_SECONDS;
  return Math.ceil(instances / batch) * (REFRESH_LAUNCH_SECONDS + warmup);
};

const plusSeconds = (iso: string, seconds: number): string => new Date(Date.parse(iso) + seconds * 1000).toISOString();

const startInstanceRefresh: QueryAction = (params, ctx) => {
  const name = requiredText(params, 'AutoScalingGroupName', 'autoScalingGroupName');
  const group = findGroup(ctx, name);
  const strategy = params.get('Strategy') ?? 'Rolling';
  if (strategy !== 'Rolling' && strategy !== 'ReplaceRootVolume') {
    throw validationError(
      `Value '${strategy}' at 'strategy' failed to satisfy constraint: Member must satisfy enum value set: [Rolling, ReplaceRootVolume]`,
    );
  }
  const preferences = readPreferences(params);
  const desiredConfiguration = readLaunchSource(ctx, params, 'DesiredConfiguration');
  if (desiredConfiguration?.launchConfigurationName !== undefined) {
    throw validationError('A desired configuration can name a launch template or a mixed instances policy only.');
  }
  if (activeRefresh(ctx, name)) {
    throw new AwsError(
      'InstanceRefreshInProgress',
      'An Instance Refresh is already in progress and blocks the execution of this Instance Refresh.',
    );
  }
  const startTime = ctx.clock.now().toISOString();
  const inProgressAt = plusSeconds(startTime, REFRESH_PENDING_SECONDS);
  const refresh: InstanceRefreshRecord = {
    instanceRefreshId: randomUUID(),
    autoScalingGroupName: name,
    status: 'Pending',
    startTime,
    inProgressAt,
    completesAt: plusSeconds(inProgressAt, refreshSeconds(group.desiredCapacity, preferences, group)),
    instancesToUpdate: group.desiredCapacity,
    preferences,
    ...(desiredConfiguration === undefined ? {} : { desiredConfiguration }),
  };
  ctx.transact((tx) => tx.put(AutoScalingTable.InstanceRefreshes, refresh.instanceRefreshId, refresh));
  active(ctx.store).add(refresh.instanceRefreshId);
  return { InstanceRefreshId: refresh.instanceRefreshId };
};

const cancelInstanceRefresh: QueryAction = (params, ctx) => {
  const name = requiredText(params, 'AutoScalingGroupName', 'autoScalingGroupName');
  findGroup(ctx, name);
  const refresh = activeRefresh(ctx, name);
  if (!refresh)
    throw new AwsError(
      'ActiveInstanceRefreshNotFound',
      'No in progress or pending Instance Refresh found for this group.',
    );
  const now = ctx.clock.now().toISOString();
  ctx.transact((tx) =>
    tx.put<InstanceRefreshRecord>(AutoScalingTable.InstanceRefreshes, refresh.instanceRefreshId, {
      ...refresh,
      status: 'Cancelled',
      statusReason: 'Instance refresh was cancelled.',
      endTime: now,
    }),
  );
  active(ctx.store).delete(refresh.instanceRefreshId);
  return { InstanceRefreshId: refresh.instanceRefreshId };
};

const percentageComplete = (refresh: InstanceRefreshRecord, nowMs: number): number => {
  if (refresh.status === 'Successful') return 100;
  if (refresh.status !== 'InProgress') return 0;
  const start = Date.parse(refresh.inProgressAt);
  const end = Date.parse(refresh.completesAt);
  if (end <= start) return 100;
  return Math.min(99, Math.floor(((nowMs - start) / (end - start)) * 100));
};

const refreshXml = (refresh: InstanceRefreshRecord, nowMs: number): Record<string, XmlValue> => {
  const percentage = percentageComplete(refresh, nowMs);
  const remaining = Math.ceil(refresh.instancesToUpdate * (1 - percentage / 100));
  const preferences = refresh.preferences;
  return {
    InstanceRefreshId: refresh.instanceRefreshId,
    AutoScalingGroupName: refresh.autoScalingGroupName,
    Status: refresh.status,
    StatusReason: refresh.statusReason,
    StartTime: refresh.startTime,
    EndTime: refresh.endTime,
    PercentageComplete: percentage,
    InstancesToUpdate: remaining,
    ProgressDetails: { LivePoolProgress: { PercentageComplete: percentage, InstancesToUpdate: remaining } },
    Preferences: {
      MinHealthyPercentage: preferences.minHealthyPercentage,
      MaxHealthyPercentage: preferences.maxHealthyPercentage,
      InstanceWarmup: preferences.instanceWarmup,
      SkipMatching: preferences.skipMatching,
      AutoRollback: preferences.autoRollback,
      ScaleInProtectedInstances: preferences.scaleInProtectedInstances,
      StandbyInstances: preferences.standbyInstances,
    },
    DesiredConfiguration:
      refresh.desiredConfiguration === undefined
        ? undefined
        : {
            LaunchTemplate: specificationXml(refresh.desiredConfiguration.launchTemplate),
            MixedInstancesPolicy: mixedInstancesPolicyXml(refresh.desiredConfiguration.mixedInstancesPolicy),
          },
  };
};

const describeInstanceRefreshes: QueryAction = (params, ctx) => {
  const name = requiredText(params, 'AutoScalingGroupName', 'autoScalingGroupName');
  const ids = new Set(memberList(params, 'InstanceRefreshIds'));
  const page = readRecordsPage(params);
  const newestFirst = refreshesOf(ctx, name).sort((a, b) => b.startTime.localeCompare(a.startTime));
  const { items, nextToken } = pageOf(
    newestFirst,
    (refresh) => ids.size === 0 || ids.has(refresh.instanceRefreshId),
    page,
  );
  const nowMs = ctx.clock.nowMs();
  return { InstanceRefreshes: items.map((refresh) => refreshXml(refresh, nowMs)), NextToken: nextToken };
};

/** Moves active refreshes along the clock; a successful one applies its desired configuration. */
const tickAutoScaling = (ctx: ServiceContext): void => {
  const ids = active(ctx.store);
  if (ids.size === 0) return;
  const nowMs = ctx.clock.nowMs();
  for (const id of [...ids]) {
    const refresh = ctx.store.get<InstanceRefreshRecord>(AutoScalingTable.InstanceRefreshes, id);
    if (!refresh || !ACTIVE_STATUSES.has(refresh.status)) {
      ids.delete(id);
      continue;
    }
    if (nowMs >= Date.parse(refresh.completesAt)) {
      completeRefresh(ctx, refresh);
      ids.delete(id);
    } else if (refresh.status === 'Pending' && nowMs >= Date.parse(refresh.inProgressAt)) {
      ctx.transact((tx) =>
        tx.put<InstanceRefreshRecord>(AutoScalingTable.InstanceRefreshes, id, { ...refresh, status: 'InProgress' }),
      );
    }
  }
};

const completeRefresh = (ctx: ServiceContext, refresh: InstanceRefreshRecord): void => {
  ctx.transact((tx) => {
    tx.put<InstanceRefreshRecord>(AutoScalingTable.InstanceRefreshes, refresh.instanceRefreshId, {
      ...refresh,
      status: 'Successful',
      endTime: refresh.completesAt,
    });
    const group = tx.get<GroupRecord>(AutoScalingTable.Groups, refresh.autoScalingGroupName);
    if (group && refresh.desiredConfiguration) {
      tx.put<GroupRecord>(AutoScalingTable.Groups, group.autoScalingGroupName, {
        ...withoutLaunchSource(group),
        ...refresh.desiredConfiguration,
      });
    }
  });
};

export const autoScaling: QueryService = {
  signingName: 'autoscaling',
  protocol: 'awsquery',
  xmlns: XMLNS,
  actions: {
    CreateLaunchConfiguration: createLaunchConfiguration,
    DescribeLaunchConfigurations: describeLaunchConfigurations,
    DeleteLaunchConfiguration: deleteLaunchConfiguration,
    CreateAutoScalingGroup: createAutoScalingGroup,
    DescribeAutoScalingGroups: describeAutoScalingGroups,
    UpdateAutoScalingGroup: updateAutoScalingGroup,
    DeleteAutoScalingGroup: deleteAutoScalingGroup,
    AttachInstances: attachInstances,
    StartInstanceRefresh: startInstanceRefresh,
    CancelInstanceRefresh: cancelInstanceRefresh,
    DescribeInstanceRefreshes: describeInstanceRefreshes,
  },
  tick: tickAutoScaling,
};
