/** EC2 volumes (basic): DescribeVolumes. Volumes are created and deleted with instances. */
import { filters, type XmlValue } from '../../protocol/query';
import type { QueryAction, ServiceContext } from '../../service';
import { checkId, compileFilters, idList, notFound, paginate, readPage, tagSet } from './common';
import { Ec2Table, type VolumeRecord } from './model';

/** Volumes also carry when and where they were created. */
type StoredVolume = VolumeRecord & { readonly createTime?: string; readonly availabilityZone?: string };

const VOLUME_FILTERS: Record<string, (volume: StoredVolume) => readonly (string | undefined)[]> = {
  'attachment.device': (v) => [v.attachedTo?.device],
  'attachment.instance-id': (v) => [v.attachedTo?.instanceId],
  'attachment.delete-on-termination': (v) => [v.attachedTo && String(v.attachedTo.deleteOnTermination)],
  'attachment.status': (v) => [v.attachedTo && 'attached'],
  'availability-zone': (v) => [v.availabilityZone],
  'create-time': (v) => [v.createTime],
  encrypted: (v) => [String(v.encrypted)],
  size: (v) => [String(v.size)],
  'snapshot-id': (v) => [v.snapshotId],
  status: (v) => [v.state],
  'volume-id': (v) => [v.volumeId],
  'volume-type': (v) => [v.volumeType],
};

const renderVolume = (ctx: ServiceContext, volume: StoredVolume): XmlValue => ({
  volumeId: volume.volumeId,
  size: volume.size,
  snapshotId: volume.snapshotId ?? '',
  availabilityZone: volume.availabilityZone ?? `${ctx.region}a`,
  status: volume.state,
  createTime: volume.createTime,
  attachmentSet: volume.attachedTo
    ? [
        {
          volumeId: volume.volumeId,
          instanceId: volume.attachedTo.instanceId,
          device: volume.attachedTo.device,
          status: 'attached',
          attachTime: volume.createTime,
          deleteOnTermination: volume.attachedTo.deleteOnTermination,
        },
      ]
    : [],
  volumeType: volume.volumeType,
  iops: volume.volumeType === 'gp3' ? 3000 : undefined,
  throughput: volume.volumeType === 'gp3' ? 125 : undefined,
  encrypted: volume.encrypted,
  kmsKeyId: volume.kmsKeyId,
  multiAttachEnabled: false,
  tagSet: tagSet(volume.tags),
});

const findVolume = (ctx: ServiceContext, volumeId: string): StoredVolume => {
  checkId('vol', volumeId);
  const volume = ctx.store.get<StoredVolume>(Ec2Table.Volumes, volumeId);
  if (!volume) throw notFound('vol', volumeId);
  return volume;
};

const describeVolumes: QueryAction = (params, ctx) => {
  const volumeIds = idList(params, 'VolumeId');
  const page = readPage(params, 'volumeIdSet', volumeIds.length);
  const matches = compileFilters<StoredVolume>(
    filters(params),
    (volume, name) => VOLUME_FILTERS[name]?.(volume),
    (name) => name in VOLUME_FILTERS,
  );
  const source =
    volumeIds.length > 0
      ? [...new Set(volumeIds)].map((id) => findVolume(ctx, id))
      : ctx.store.table<StoredVolume>(Ec2Table.Volumes).values();
  const { items, nextToken } = paginate(source, matches, page);
  return { volumeSet: items.map((volume) => renderVolume(ctx, volume)), nextToken };
};

export const volumeActions: Readonly<Record<string, QueryAction>> = {
  DescribeVolumes: describeVolumes,
};
