/** EC2 snapshots: DescribeSnapshots and DeleteSnapshot (refused while a registered AMI uses it). */
import { AwsError } from '../../errors';
import { filters, requireString, type XmlValue } from '../../protocol/query';
import type { QueryAction, ServiceContext } from '../../service';
import { checkId, compileFilters, idList, notFound, paginate, readPage, returnTrue, tagSet } from './common';
import { AMAZON_OWNER_ID, Ec2Table, type ImageRecord, type SnapshotRecord } from './model';

const SNAPSHOT_FILTERS: Record<string, (snapshot: SnapshotRecord) => readonly (string | undefined)[]> = {
  description: (s) => [s.description],
  encrypted: (s) => [String(s.encrypted)],
  'kms-key-id': (s) => [s.kmsKeyId],
  'owner-alias': (s) => [s.ownerId === AMAZON_OWNER_ID ? 'amazon' : undefined],
  'owner-id': (s) => [s.ownerId],
  progress: (s) => [s.progress],
  'snapshot-id': (s) => [s.snapshotId],
  'start-time': (s) => [s.startTime],
  status: (s) => [s.state],
  'volume-id': (s) => [s.volumeId],
  'volume-size': (s) => [String(s.volumeSize)],
};

/** The caller sees its own snapshots and those of the seeded public images. */
const isVisible = (snapshot: SnapshotRecord, account: string): boolean =>
  snapshot.ownerId === account || snapshot.ownerId === AMAZON_OWNER_ID;

const ownerMatcher = (owners: readonly string[], account: string): ((snapshot: SnapshotRecord) => boolean) => {
  for (const owner of owners) {
    if (!/^(?:self|amazon|\d{12})$/.test(owner))
      throw new AwsError('InvalidUserID.Malformed', `Invalid user id: '${owner}'`);
  }
  const ids = new Set(
    owners.map((owner) => (owner === 'self' ? account : owner === 'amazon' ? AMAZON_OWNER_ID : owner)),
  );
  return (snapshot) => ids.has(snapshot.ownerId);
};

const renderSnapshot = (snapshot: SnapshotRecord): XmlValue => ({
  snapshotId: snapshot.snapshotId,
  volumeId: snapshot.volumeId,
  status: snapshot.state,
  startTime: snapshot.startTime,
  progress: snapshot.progress,
  ownerId: snapshot.ownerId,
  ownerAlias: snapshot.ownerId === AMAZON_OWNER_ID ? 'amazon' : undefined,
  volumeSize: snapshot.volumeSize,
  description: snapshot.description,
  encrypted: snapshot.encrypted,
  kmsKeyId: snapshot.kmsKeyId,
  storageTier: 'standard',
  tagSet: tagSet(snapshot.tags),
});

const findSnapshot = (ctx: ServiceContext, snapshotId: string): SnapshotRecord => {
  checkId('snap', snapshotId);
  const snapshot = ctx.store.get<SnapshotRecord>(Ec2Table.Snapshots, snapshotId);
  if (!snapshot || !isVisible(snapshot, ctx.account)) throw notFound('snap', snapshotId);
  return snapshot;
};

const describeSnapshots: QueryAction = (params, ctx) => {
  const snapshotIds = idList(params, 'SnapshotId');
  const page = readPage(params, 'snapshotIdSet', snapshotIds.length);
  const owners = idList(params, 'Owner');
  const ownedBy = owners.length > 0 ? ownerMatcher(owners, ctx.account) : undefined;
  const matchesFilters = compileFilters<SnapshotRecord>(
    filters(params),
    (snapshot, name) => SNAPSHOT_FILTERS[name]?.(snapshot),
    (name) => name in SNAPSHOT_FILTERS,
  );
  const matches = (snapshot: SnapshotRecord): boolean =>
    isVisible(snapshot, ctx.account) && (ownedBy === undefined || ownedBy(snapshot)) && matchesFilters(snapshot);
  const source =
    snapshotIds.length > 0
      ? [...new Set(snapshotIds)].map((id) => findSnapshot(ctx, id))
      : ctx.store.table<SnapshotRecord>(Ec2Table.Snapshots).values();
  const { items, nextToken } = paginate(source, matches, page);
  return { snapshotSet: items.map(renderSnapshot), nextToken };
};

/** The registered image using the snapshot, if any. */
const imageUsing = (ctx: ServiceContext, snapshotId: string): ImageRecord | undefined => {
  for (const image of ctx.store.table<ImageRecord>(Ec2Table.Images).values()) {
    if (image.state === 'deregistered') continue;
    if (image.blockDeviceMappings.some((mapping) => mapping.ebs?.snapshotId === snapshotId)) return image;
  }
  return undefined;
};

const deleteSnapshot: QueryAction = (params, ctx) => {
  const snapshot = findSnapshot(ctx, requireString(params, 'SnapshotId'));
  if (snapshot.ownerId !== ctx.account) {
    throw new AwsError('UnauthorizedOperation', `You are not authorized to delete snapshot ${snapshot.snapshotId}.`);
  }
  const image = imageUsing(ctx, snapshot.snapshotId);
  if (image) {
    throw new AwsError(
      'InvalidSnapshot.InUse',
      `The snapshot ${snapshot.snapshotId} is currently in use by ${image.imageId}`,
    );
  }
  ctx.transact((tx) => tx.delete(Ec2Table.Snapshots, snapshot.snapshotId));
  return returnTrue();
};

export const snapshotActions: Readonly<Record<string, QueryAction>> = {
  DescribeSnapshots: describeSnapshots,
  DeleteSnapshot: deleteSnapshot,
};
