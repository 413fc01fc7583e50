/**
 * Auto Scaling groups: create, describe (with tag filters), update (sizes and launch source),
 * delete, AttachInstances, which puts running EC2 instances in a group, and DetachInstances, which
 * takes them out.
 */
import { randomUUID } from 'node:crypto';
import { AwsError } from '../../errors';
import { pageOf } from '../../pagination';
import { indexedStructs, memberList, type QueryParams, validationError } from '../../protocol/query';
import type { QueryAction, ServiceContext } from '../../service';
import { isWellFormedId } from '../ec2/common';
import { Ec2Table, type InstanceRecord } from '../ec2/model';
import {
  findGroup,
  groupXml,
  instancesOf,
  instanceXml,
  LAUNCH_SOURCE_REQUIRED,
  nullMember,
  optionalFlag,
  optionalInteger,
  optionalText,
  readLaunchSource,
  readRecordsPage,
  requiredText,
  withoutLaunchSource,
} from './common';
import { active, activeRefresh, refreshesOf } from './instance-refreshes';
import { AutoScalingTable, type GroupRecord, type GroupTag } from './model';

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

export const createAutoScalingGroup: QueryAction = (params, ctx) => {
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

export const describeAutoScalingGroups: QueryAction = (params, ctx) => {
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

export const updateAutoScalingGroup: QueryAction = (params, ctx) => {
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

export const deleteAutoScalingGroup: QueryAction = (params, ctx) => {
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

/**
 * AttachInstances (API reference "AttachInstances"; Auto Scaling User Guide, "Detach or attach
 * instances"): running instances that are in no other group join this one, whose desired capacity
 * grows by as many (the call fails when that passes the maximum size). Instances already attached
 * are not counted twice, and terminated ones, which have left the group, are dropped from it.
 */
export const attachInstances: QueryAction = (params, ctx) => {
  const name = requiredText(params, 'AutoScalingGroupName', 'autoScalingGroupName');
  const group = findGroup(ctx, name);
  const ids = [...new Set(memberList(params, 'InstanceIds'))];
  if (ids.length > 20) throw validationError('The number of instances must be 20 or fewer.');
  // Terminated instances have left the group: they are neither counted nor kept.
  const current = new Set((group.instanceIds ?? []).filter((id) => isMember(ctx, id)));
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

/** Still in the group: not terminated and still known to EC2 (terminated instances leave the group). */
const isMember = (ctx: ServiceContext, id: string): boolean => {
  const state = ctx.store.get<InstanceRecord>(Ec2Table.Instances, id)?.state;
  return state !== undefined && state !== 'terminated';
};

/**
 * DetachInstances (API reference "DetachInstances"): up to 20 instances of the group leave it;
 * with ShouldDecrementDesiredCapacity (required) the desired capacity goes down by as many, else
 * it stays (AWS would launch replacements; the sandbox launches none). An instance that is not in
 * the group is refused as AWS refuses it (ValidationError "The instance … is not part of Auto
 * Scaling group …"), one shutting down as not InService, and nothing changes.
 */
export const detachInstances: QueryAction = (params, ctx) => {
  const name = requiredText(params, 'AutoScalingGroupName', 'autoScalingGroupName');
  const decrement = optionalFlag(params, 'ShouldDecrementDesiredCapacity');
  if (decrement === undefined) throw nullMember('shouldDecrementDesiredCapacity');
  const group = findGroup(ctx, name);
  const ids = [...new Set(memberList(params, 'InstanceIds'))];
  if (ids.length > 20) {
    throw validationError(
      'List exceeds the maximum number of instances to detach. Please retry your request with fewer instances.',
    );
  }
  const members = (group.instanceIds ?? []).filter((id) => isMember(ctx, id));
  for (const id of ids) {
    if (!members.includes(id)) throw validationError(`The instance ${id} is not part of Auto Scaling group ${name}.`);
    if (ctx.store.get<InstanceRecord>(Ec2Table.Instances, id)?.state === 'shutting-down') {
      throw validationError(`The instance ${id} is not in InService or Standby.`);
    }
  }
  const desiredCapacity = decrement ? group.desiredCapacity - ids.length : group.desiredCapacity;
  if (desiredCapacity < group.minSize) {
    throw validationError(
      `Currently, desiredSize equals minSize (${group.minSize}). Detaching ${ids.length} instance(s) with ShouldDecrementDesiredCapacity would reduce desiredSize below minSize: lower the group's MinSize first.`,
    );
  }
  ctx.transact((tx) =>
    tx.put<GroupRecord>(AutoScalingTable.Groups, name, {
      ...group,
      desiredCapacity,
      instanceIds: members.filter((id) => !ids.includes(id)),
    }),
  );
  return {
    Activities: ids.map((id) => ({
      ActivityId: randomUUID(),
      AutoScalingGroupName: name,
      Description: `Detaching EC2 instance: ${id}`,
      Cause: `At ${ctx.clock.now().toISOString()} instance ${id} was detached in response to a user request${decrement ? `, shrinking the capacity from ${group.desiredCapacity} to ${desiredCapacity}` : ''}.`,
      StartTime: ctx.clock.now().toISOString(),
      StatusCode: 'InProgress',
      Progress: 50,
    })),
  };
};

/**
 * DescribeAutoScalingInstances (API reference "DescribeAutoScalingInstances"): the instances in
 * groups, each with its group's name; up to 50 InstanceIds, ids that are in no group (or do not
 * exist) ignored without an error; MaxRecords default and maximum 50, NextToken pages.
 */
export const describeAutoScalingInstances: QueryAction = (params, ctx) => {
  const ids = memberList(params, 'InstanceIds');
  if (ids.length > 50) {
    throw validationError(
      `1 validation error detected: Value at 'instanceIds' failed to satisfy constraint: Member must have length less than or equal to 50`,
    );
  }
  const page = readRecordsPage(params, { max: 50, default: 50 });
  const wanted = ids.length === 0 ? undefined : new Set(ids);
  const members = [...ctx.store.table<GroupRecord>(AutoScalingTable.Groups).values()].flatMap((group) =>
    instancesOf(ctx, group).map((instance) => ({ group, instance })),
  );
  const { items, nextToken } = pageOf(members, ({ instance }) => !wanted || wanted.has(instance.instanceId), page);
  return {
    AutoScalingInstances: items.map(({ group, instance }) => ({
      ...instanceXml(group, instance),
      AutoScalingGroupName: group.autoScalingGroupName,
    })),
    NextToken: nextToken,
  };
};
