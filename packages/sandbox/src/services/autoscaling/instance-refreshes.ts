/**
 * Instance refreshes, moved Pending → InProgress → Successful on the sandbox clock by the
 * service's tick; a successful one applies its DesiredConfiguration to the group.
 */
import { randomUUID } from 'node:crypto';
import { AwsError } from '../../errors';
import { pageOf } from '../../pagination';
import { memberList, type QueryParams, substruct, validationError, type XmlValue } from '../../protocol/query';
import type { QueryAction, ServiceContext } from '../../service';
import type { Store } from '../../store';
import {
  findGroup,
  mixedInstancesPolicyXml,
  optionalFlag,
  optionalInteger,
  readLaunchSource,
  readRecordsPage,
  requiredText,
  specificationXml,
  withoutLaunchSource,
} from './common';
import {
  AutoScalingTable,
  DEFAULT_WARMUP_SECONDS,
  type GroupRecord,
  type InstanceRefreshRecord,
  REFRESH_LAUNCH_SECONDS,
  REFRESH_PENDING_SECONDS,
  type RefreshStatus,
} from './model';

const ACTIVE_STATUSES: ReadonlySet<RefreshStatus> = new Set(['Pending', 'InProgress', 'Cancelling']);

/** Ids of refreshes not yet finished, per store, so the tick never scans the table. */
const activeByStore = new WeakMap<Store, Set<string>>();

export const active = (store: Store): Set<string> => {
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

export const refreshesOf = (ctx: ServiceContext, groupName: string): InstanceRefreshRecord[] =>
  [...ctx.store.table<InstanceRefreshRecord>(AutoScalingTable.InstanceRefreshes).values()].filter(
    (refresh) => refresh.autoScalingGroupName === groupName,
  );

export const activeRefresh = (ctx: ServiceContext, groupName: string): InstanceRefreshRecord | undefined => {
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

export const startInstanceRefresh: QueryAction = (params, ctx) => {
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

export const cancelInstanceRefresh: QueryAction = (params, ctx) => {
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

export const describeInstanceRefreshes: QueryAction = (params, ctx) => {
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
export const tickAutoScaling = (ctx: ServiceContext): void => {
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
