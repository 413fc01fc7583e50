/**
 * Time-driven EC2 state on the sandbox clock: instances boot, stop and terminate; new images and
 * their snapshots become available; terminated instances disappear after a while, as on AWS.
 *
 * `tick` runs before every request, so it only looks at the ids it knows to be in transition
 * (collected once per store by one scan, then kept up to date by the actions that start a
 * transition), never at the whole tables.
 */
import type { ServiceContext } from '../../service';
import type { Store, Transaction } from '../../store';
import { Ec2Table, type ImageRecord, type InstanceRecord, type SnapshotRecord, type VolumeRecord } from './model';
import { recordRunStart } from './runs';

/** Seconds each transitional state lasts. */
export const TIMINGS = {
  pending: 30,
  stopping: 30,
  shuttingDown: 30,
  /** A terminated instance stays visible this long (AWS: about an hour). */
  terminatedVisible: 3600,
  /** CreateImage / CopyImage: pending → available. */
  imageAvailable: 300,
} as const;

interface Transitional {
  readonly images: Set<string>;
  readonly instances: Set<string>;
}

const transitionalByStore = new WeakMap<Store, Transitional>();

const transitional = (store: Store): Transitional => {
  let found = transitionalByStore.get(store);
  if (!found) {
    found = { images: new Set(), instances: new Set() };
    for (const [id, image] of store.table<ImageRecord>(Ec2Table.Images)) {
      if (image.state === 'pending') found.images.add(id);
    }
    for (const [id, instance] of store.table<InstanceRecord>(Ec2Table.Instances)) {
      if (instance.stateUntil !== undefined) found.instances.add(id);
    }
    transitionalByStore.set(store, found);
  }
  return found;
};

/** Called by actions after they commit a record that the clock must move along. */
export const trackImage = (ctx: ServiceContext, imageId: string): void => {
  transitional(ctx.store).images.add(imageId);
};

export const trackInstance = (ctx: ServiceContext, instanceId: string): void => {
  transitional(ctx.store).instances.add(instanceId);
};

export const secondsFrom = (ctx: ServiceContext, seconds: number): string =>
  new Date(ctx.clock.nowMs() + seconds * 1000).toISOString();

export const nowIso = (ctx: ServiceContext): string => ctx.clock.now().toISOString();

/** Emits AWS's `EC2 Instance State-change Notification` on the default bus (after the change commits). */
export const emitStateChange = (ctx: ServiceContext, instanceId: string, state: string): void => {
  ctx.runtime.emit(
    {
      source: 'aws.ec2',
      detailType: 'EC2 Instance State-change Notification',
      detail: { 'instance-id': instanceId, state },
      resources: [`arn:aws:ec2:${ctx.region}:${ctx.account}:instance/${instanceId}`],
      region: ctx.region,
    },
    ctx,
  );
};

export const tickEc2 = (ctx: ServiceContext): void => {
  const { images, instances } = transitional(ctx.store);
  if (images.size === 0 && instances.size === 0) return;
  const now = ctx.clock.nowMs();
  const dueImages = [...images].filter((id) =>
    isDue(ctx.store.get<ImageRecord>(Ec2Table.Images, id)?.availableAt, now),
  );
  const dueInstances = [...instances].filter((id) =>
    isDue(ctx.store.get<InstanceRecord>(Ec2Table.Instances, id)?.stateUntil, now),
  );
  forgetVanished(ctx.store, images, Ec2Table.Images);
  forgetVanished(ctx.store, instances, Ec2Table.Instances);
  if (dueImages.length === 0 && dueInstances.length === 0) return;
  const changes: [string, string][] = [];
  ctx.transact((tx) => {
    for (const id of dueImages) completeImage(tx, id, images);
    for (const id of dueInstances) {
      const state = advanceInstance(tx, id, now, instances);
      if (state) changes.push([id, state]);
    }
  });
  for (const [id, state] of changes) emitStateChange(ctx, id, state);
};

const isDue = (until: string | undefined, now: number): boolean => until === undefined || Date.parse(until) <= now;

const forgetVanished = (store: Store, ids: Set<string>, table: string): void => {
  for (const id of ids) if (!store.get(table, id)) ids.delete(id);
};

const completeImage = (tx: Transaction, imageId: string, images: Set<string>): void => {
  images.delete(imageId);
  const image = tx.get<ImageRecord>(Ec2Table.Images, imageId);
  if (image?.state !== 'pending') return;
  const { availableAt: _done, ...rest } = image;
  const failed = image.stateReason !== undefined;
  tx.put<ImageRecord>(Ec2Table.Images, imageId, { ...rest, state: failed ? 'failed' : 'available' });
  for (const mapping of image.blockDeviceMappings) {
    const snapshot = mapping.ebs ? tx.get<SnapshotRecord>(Ec2Table.Snapshots, mapping.ebs.snapshotId) : undefined;
    if (snapshot && snapshot.state === 'pending') {
      tx.put<SnapshotRecord>(Ec2Table.Snapshots, snapshot.snapshotId, {
        ...snapshot,
        state: failed ? 'error' : 'completed',
        progress: failed ? '0%' : '100%',
      });
    }
  }
};

/** Moves an instance along; returns the state it entered, if it entered one. */
const advanceInstance = (
  tx: Transaction,
  instanceId: string,
  now: number,
  instances: Set<string>,
): string | undefined => {
  const instance = tx.get<InstanceRecord>(Ec2Table.Instances, instanceId);
  if (!instance) {
    instances.delete(instanceId);
    return undefined;
  }
  const at = (seconds: number) => new Date(now + seconds * 1000).toISOString();
  const { stateUntil: _done, ...rest } = instance;
  switch (instance.state) {
    case 'pending':
      if (instance.launchFailure) {
        tx.put<InstanceRecord>(Ec2Table.Instances, instanceId, {
          ...rest,
          state: 'shutting-down',
          stateUntil: at(TIMINGS.shuttingDown),
        });
        return 'shutting-down';
      }
      tx.put<InstanceRecord>(Ec2Table.Instances, instanceId, { ...rest, state: 'running' });
      // Running from when its boot was due, however late the tick that noticed it (runs.ts).
      recordRunStart(tx, instance, instance.stateUntil ?? new Date(now).toISOString());
      instances.delete(instanceId);
      return 'running';
    case 'stopping':
      tx.put<InstanceRecord>(Ec2Table.Instances, instanceId, { ...rest, state: 'stopped' });
      instances.delete(instanceId);
      return 'stopped';
    case 'shutting-down':
      releaseVolumes(tx, instance);
      tx.put<InstanceRecord>(Ec2Table.Instances, instanceId, {
        ...rest,
        state: 'terminated',
        terminatedAt: new Date(now).toISOString(),
        stateUntil: at(TIMINGS.terminatedVisible),
      });
      return 'terminated';
    case 'terminated':
      tx.delete(Ec2Table.Instances, instanceId);
      instances.delete(instanceId);
      return undefined;
    default:
      tx.put<InstanceRecord>(Ec2Table.Instances, instanceId, rest);
      instances.delete(instanceId);
      return undefined;
  }
};

/** On termination: volumes marked DeleteOnTermination go away, the others are detached. */
const releaseVolumes = (tx: Transaction, instance: InstanceRecord): void => {
  for (const { volumeId } of instance.volumes) {
    const volume = tx.get<VolumeRecord>(Ec2Table.Volumes, volumeId);
    if (!volume) continue;
    if (volume.attachedTo?.deleteOnTermination) tx.delete(Ec2Table.Volumes, volumeId);
    else {
      const { attachedTo: _gone, ...detached } = volume;
      tx.put<VolumeRecord>(Ec2Table.Volumes, volumeId, { ...detached, state: 'available' });
    }
  }
};
