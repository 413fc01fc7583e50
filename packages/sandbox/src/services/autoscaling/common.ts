import { AwsError } from '../../errors';
import { decodeOffsetToken, type Page } from '../../pagination';
import { indexedStructs, type QueryParams, substruct, validationError, type XmlValue } from '../../protocol/query';
import type { ServiceContext } from '../../service';
import { resolveLaunchTemplateVersion } from '../ec2/launch-templates';
import { Ec2Table, type InstanceRecord, type LaunchTemplateRecord } from '../ec2/model';
import {
  AutoScalingTable,
  DEFAULT_MAX_RECORDS,
  type GroupRecord,
  type LaunchConfigurationRecord,
  type LaunchSource,
  type LaunchTemplateSpecificationRecord,
  MAX_RECORDS,
  type MixedInstancesPolicyRecord,
  type OverrideRecord,
} from './model';

export const nullMember = (member: string): AwsError =>
  validationError(
    `1 validation error detected: Value null at '${member}' failed to satisfy constraint: Member must not be null`,
  );

export const requiredText = (params: QueryParams, key: string, member: string, max = 255): string => {
  const value = params.get(key);
  if (value === undefined) throw nullMember(member);
  return checkLength(value, member, max);
};

export const optionalText = (params: QueryParams, key: string, member: string, max = 255): string | undefined => {
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

export const optionalInteger = (params: QueryParams, key: string, min = 0): number | undefined => {
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

export const optionalFlag = (params: QueryParams, key: string): boolean | undefined => {
  const value = params.get(key);
  if (value === undefined) return undefined;
  if (value !== 'true' && value !== 'false')
    throw validationError(`Value '${value}' for ${key} must be true or false.`);
  return value === 'true';
};

export const lowerFirst = (text: string): string => text.charAt(0).toLowerCase() + text.slice(1);

// ---------------------------------------------------------------- pagination

export const readRecordsPage = (
  params: QueryParams,
  limits: { readonly max: number; readonly default: number } = { max: MAX_RECORDS, default: DEFAULT_MAX_RECORDS },
): Page => {
  const maxRecords = optionalInteger(params, 'MaxRecords', Number.NEGATIVE_INFINITY);
  if (maxRecords !== undefined && (maxRecords < 1 || maxRecords > limits.max)) {
    throw validationError(`MaxRecords must be between 1 and ${limits.max}; it was ${maxRecords}.`);
  }
  const token = params.get('NextToken');
  const offset = token === undefined ? 0 : decodeOffsetToken(token);
  if (offset === undefined) throw new AwsError('InvalidNextToken', `The token '${token}' is invalid.`);
  return { offset, limit: maxRecords ?? limits.default };
};

// ---------------------------------------------------------------- launch sources

export const LAUNCH_SOURCE_REQUIRED =
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

export const launchConfigurationNotFound = (name: string): AwsError =>
  validationError(`Launch configuration name not found - Launch configuration ${name} not found`);

/** Reads the one launch source of a request; `undefined` when the request names none. */
export const readLaunchSource = (ctx: ServiceContext, params: QueryParams, prefix = ''): LaunchSource | undefined => {
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

export const specificationXml = (spec: LaunchTemplateSpecificationRecord | undefined): XmlValue =>
  spec === undefined
    ? undefined
    : { LaunchTemplateId: spec.launchTemplateId, LaunchTemplateName: spec.launchTemplateName, Version: spec.version };

export const mixedInstancesPolicyXml = (policy: MixedInstancesPolicyRecord | undefined): XmlValue => {
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
export const instancesOf = (ctx: ServiceContext, group: GroupRecord): InstanceRecord[] =>
  (group.instanceIds ?? []).flatMap((id) => {
    const instance = ctx.store.get<InstanceRecord>(Ec2Table.Instances, id);
    return instance && instance.state !== 'terminated' && instance.state !== 'shutting-down' ? [instance] : [];
  });

export const instanceXml = (group: GroupRecord, instance: InstanceRecord): Record<string, XmlValue> => ({
  InstanceId: instance.instanceId,
  InstanceType: instance.instanceType,
  AvailabilityZone: group.availabilityZones[0],
  LifecycleState: 'InService',
  HealthStatus: 'Healthy',
  LaunchTemplate: specificationXml(group.launchTemplate),
  LaunchConfigurationName: group.launchConfigurationName,
  ProtectedFromScaleIn: group.newInstancesProtectedFromScaleIn,
});

export const groupXml = (ctx: ServiceContext, group: GroupRecord): Record<string, XmlValue> => ({
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

export const launchConfigurationXml = (config: LaunchConfigurationRecord): Record<string, XmlValue> => ({
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

export const groupNotFound = (name: string): AwsError =>
  validationError(`AutoScalingGroup name not found - AutoScalingGroup ${name} not found`);

export const findGroup = (ctx: ServiceContext, name: string): GroupRecord => {
  const group = ctx.store.get<GroupRecord>(AutoScalingTable.Groups, name);
  if (!group) throw groupNotFound(name);
  return group;
};

/** Switching launch source clears the others. */
export const withoutLaunchSource = (group: GroupRecord): GroupRecord => {
  const { launchConfigurationName: _lc, launchTemplate: _lt, mixedInstancesPolicy: _mip, ...rest } = group;
  return rest as GroupRecord;
};
