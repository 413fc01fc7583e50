/**
 * EC2 images: DescribeImages, CreateImage, CopyImage, DeregisterImage, image attributes,
 * deprecation, disabling and deregistration protection, DescribeImageReferences.
 */
import { AwsError, invalidParameterValue, missingParameter } from '../../errors';
import { captureGuest } from '../../guest';
import {
  filters,
  indexedList,
  indexedStructs,
  type QueryParams,
  requireString,
  substruct,
  type XmlValue,
} from '../../protocol/query';
import type { QueryAction, ServiceContext } from '../../service';
import type { Transaction } from '../../store';
import { callerAccount } from '../events/model';
import {
  boolParam,
  checkId,
  compileFilters,
  idList,
  notFound,
  paginate,
  readPage,
  returnTrue,
  tagSet,
  tagSpecifications,
} from './common';
import { defaultEbsKeyArn, type KeyUse, useKeys } from './kms';
import { nowIso, secondsFrom, TIMINGS, trackImage } from './lifecycle';
import {
  type BlockDeviceMappingRecord,
  Ec2Table,
  type ImageRecord,
  type InstanceRecord,
  type LaunchTemplateVersionRecord,
  newId,
  type SnapshotRecord,
  type Tags,
  type VolumeRecord,
} from './model';

/** Deregistration protection disabled "with cooldown" keeps protecting until this time (ISO). */
type StoredImage = ImageRecord & { readonly deregistrationProtectionUntil?: string };

// ---------------------------------------------------------------- lookup and permissions

const canLaunch = (image: ImageRecord, account: string): boolean =>
  image.ownerId === account || image.isPublic || image.launchPermissions.includes(account);

/**
 * The account a request acts as: the one in a 12-digit access key id (credentials from STS
 * AssumeRole), otherwise the sandbox account. Images are created by the sandbox account only.
 */
export const imageViewer = (ctx: ServiceContext): string => callerAccount(ctx);

/** Images live in one region (seeded ones, with no region, are in all of them). */
export const inRegion = (image: ImageRecord, region: string): boolean =>
  image.region === undefined || image.region === region;

/** Whether the caller sees the image at all (its region, not deregistered, owned or shared with it). */
export const visibleImage = (ctx: ServiceContext, image: ImageRecord): boolean =>
  image.state !== 'deregistered' && inRegion(image, ctx.region) && canLaunch(image, imageViewer(ctx));

/**
 * The tags the caller sees on an image: the owner's (the sandbox account also sees the seeded
 * public images' tags), or, for another account an image is shared with, only that account's own.
 */
export const imageTagsFor = (ctx: ServiceContext, image: ImageRecord): Tags => {
  const viewer = imageViewer(ctx);
  return viewer === image.ownerId || viewer === ctx.account ? image.tags : (image.sharedTags?.[viewer] ?? {});
};

/** The image as the caller may see it, or the AWS error for a bad, unknown or invisible id. */
export const findImage = (ctx: ServiceContext, imageId: string): StoredImage => {
  checkId('ami', imageId);
  const image = ctx.store.get<StoredImage>(Ec2Table.Images, imageId);
  if (!image || !visibleImage(ctx, image)) throw notFound('ami', imageId);
  return image;
};

/** An image the caller owns (attribute changes, deregistration). */
const ownedImage = (ctx: ServiceContext, imageId: string): StoredImage => {
  const image = findImage(ctx, imageId);
  if (image.ownerId !== imageViewer(ctx)) {
    throw new AwsError('AuthFailure', `Not authorized for image:${imageId}`);
  }
  return image;
};

/** RunInstances' check: the image exists, is visible and is in a state instances launch from. */
export const launchableImage = (ctx: ServiceContext, imageId: string): StoredImage => {
  const image = findImage(ctx, imageId);
  if (image.state !== 'available') {
    throw new AwsError(
      'InvalidAMIID.Unavailable',
      `The image id '[${imageId}]' is not in a state from which you can launch an instance (${image.state})`,
    );
  }
  return image;
};

const isDeprecated = (image: ImageRecord, nowMs: number): boolean =>
  image.deprecationTime !== undefined && Date.parse(image.deprecationTime) <= nowMs;

// ---------------------------------------------------------------- rendering

export const renderBlockDeviceMappings = (mappings: readonly BlockDeviceMappingRecord[]): XmlValue =>
  mappings.map((mapping) => ({
    deviceName: mapping.deviceName,
    ebs: mapping.ebs && {
      snapshotId: mapping.ebs.snapshotId,
      volumeSize: mapping.ebs.volumeSize,
      deleteOnTermination: mapping.ebs.deleteOnTermination,
      volumeType: mapping.ebs.volumeType,
      encrypted: mapping.ebs.encrypted,
      kmsKeyId: mapping.ebs.kmsKeyId,
    },
  }));

const renderImage = (ctx: ServiceContext, image: StoredImage): XmlValue => ({
  imageId: image.imageId,
  imageLocation: `${image.imageOwnerAlias ?? image.ownerId}/${image.name}`,
  imageState: image.state,
  imageOwnerId: image.ownerId,
  creationDate: image.creationDate,
  isPublic: image.isPublic,
  architecture: image.architecture,
  imageType: 'machine',
  platform: image.platform,
  platformDetails: image.platformDetails,
  usageOperation: image.platform === 'windows' ? 'RunInstances:0002' : 'RunInstances',
  imageOwnerAlias: image.imageOwnerAlias,
  name: image.name,
  description: image.description,
  rootDeviceType: image.rootDeviceType,
  rootDeviceName: image.rootDeviceName,
  blockDeviceMapping: renderBlockDeviceMappings(image.blockDeviceMappings),
  virtualizationType: image.virtualizationType,
  hypervisor: 'xen',
  enaSupport: image.enaSupport,
  tagSet: tagSet(imageTagsFor(ctx, image)),
  deprecationTime: image.deprecationTime,
  sourceInstanceId: image.sourceInstanceId,
  deregistrationProtection: protectionState(image),
  lastLaunchedTime: image.lastLaunchedTime,
  sourceImageId: image.sourceImageId,
  sourceImageRegion: image.sourceRegion,
  stateReason: image.state === 'failed' ? image.stateReason : undefined,
});

const protectionState = (image: StoredImage): string => {
  if (image.deregistrationProtection === 'enabled' || image.deregistrationProtection === 'enabled-with-cooldown') {
    return image.deregistrationProtection === 'enabled' ? 'enabled-without-cooldown' : 'enabled-with-cooldown';
  }
  return image.deregistrationProtectionUntil ? `disabled-until-${image.deregistrationProtectionUntil}` : 'disabled';
};

// ---------------------------------------------------------------- DescribeImages

const IMAGE_FILTERS: Record<string, (image: ImageRecord) => readonly (string | undefined)[]> = {
  architecture: (i) => [i.architecture],
  'block-device-mapping.delete-on-termination': (i) =>
    i.blockDeviceMappings.map((m) => bool(m.ebs?.deleteOnTermination)),
  'block-device-mapping.device-name': (i) => i.blockDeviceMappings.map((m) => m.deviceName),
  'block-device-mapping.snapshot-id': (i) => i.blockDeviceMappings.map((m) => m.ebs?.snapshotId),
  'block-device-mapping.volume-size': (i) => i.blockDeviceMappings.map((m) => m.ebs && String(m.ebs.volumeSize)),
  'block-device-mapping.volume-type': (i) => i.blockDeviceMappings.map((m) => m.ebs?.volumeType),
  'block-device-mapping.encrypted': (i) => i.blockDeviceMappings.map((m) => bool(m.ebs?.encrypted)),
  'creation-date': (i) => [i.creationDate],
  description: (i) => [i.description],
  'ena-support': (i) => [String(i.enaSupport)],
  hypervisor: () => ['xen'],
  'image-id': (i) => [i.imageId],
  'image-type': () => ['machine'],
  'is-public': (i) => [String(i.isPublic)],
  manifest_location: (i) => [`${i.imageOwnerAlias ?? i.ownerId}/${i.name}`],
  name: (i) => [i.name],
  'owner-alias': (i) => [i.imageOwnerAlias],
  'owner-id': (i) => [i.ownerId],
  platform: (i) => [i.platform],
  'platform-details': (i) => [i.platformDetails],
  'root-device-name': (i) => [i.rootDeviceName],
  'root-device-type': (i) => [i.rootDeviceType],
  'source-instance-id': (i) => [i.sourceInstanceId],
  'source-image-id': (i) => [i.sourceImageId],
  state: (i) => [i.state],
  'virtualization-type': (i) => [i.virtualizationType],
};

const bool = (value: boolean | undefined): string | undefined => (value === undefined ? undefined : String(value));

const OWNER_PATTERN = /^(?:self|amazon|aws-marketplace|aws-backup-vault|\d{12})$/;

const ownerMatcher = (owners: readonly string[], account: string): ((image: ImageRecord) => boolean) => {
  for (const owner of owners) {
    if (!OWNER_PATTERN.test(owner)) throw new AwsError('InvalidUserID.Malformed', `Invalid user id: '${owner}'`);
  }
  return (image) =>
    owners.some((owner) =>
      owner === 'self'
        ? image.ownerId === account
        : /^\d{12}$/.test(owner)
          ? image.ownerId === owner
          : image.imageOwnerAlias === owner,
    );
};

const executableByMatcher = (users: readonly string[], account: string): ((image: ImageRecord) => boolean) => {
  for (const user of users) {
    if (!/^(?:self|all|\d{12})$/.test(user))
      throw new AwsError('InvalidUserID.Malformed', `Invalid user id: '${user}'`);
  }
  return (image) =>
    users.some((user) => {
      if (user === 'all') return image.isPublic;
      const id = user === 'self' ? account : user;
      return image.ownerId === id || image.launchPermissions.includes(id);
    });
};

const describeImages: QueryAction = (params, ctx) => {
  const imageIds = idList(params, 'ImageId');
  const page = readPage(params, 'imageIdsSet', imageIds.length);
  const owners = idList(params, 'Owner');
  const executableBy = idList(params, 'ExecutableBy');
  const includeDeprecated = boolParam(params, 'IncludeDeprecated') ?? false;
  const includeDisabled = boolParam(params, 'IncludeDisabled') ?? false;
  const matchesFilters = compileFilters<ImageRecord>(
    filters(params),
    (image, name) => IMAGE_FILTERS[name]?.(image),
    (name) => name in IMAGE_FILTERS,
  );
  const viewer = imageViewer(ctx);
  const ownedBy = owners.length > 0 ? ownerMatcher(owners, viewer) : undefined;
  const executable = executableBy.length > 0 ? executableByMatcher(executableBy, viewer) : undefined;
  const now = ctx.clock.nowMs();
  const byId = imageIds.length > 0;
  const matches = (image: StoredImage): boolean =>
    visibleImage(ctx, image) &&
    (image.state !== 'disabled' || (includeDisabled && image.ownerId === viewer)) &&
    (byId || includeDeprecated || image.ownerId === viewer || !isDeprecated(image, now)) &&
    (ownedBy === undefined || ownedBy(image)) &&
    (executable === undefined || executable(image)) &&
    matchesFilters(image.ownerId === viewer ? image : { ...image, tags: imageTagsFor(ctx, image) });
  const source: Iterable<StoredImage> = byId
    ? [...new Set(imageIds)].map((id) => findImage(ctx, id))
    : ctx.store.table<StoredImage>(Ec2Table.Images).values();
  const { items, nextToken } = paginate(source, matches, page);
  return { imagesSet: items.map((image) => renderImage(ctx, image)), nextToken };
};

// ---------------------------------------------------------------- CreateImage / CopyImage

const NAME_PATTERN = /^[A-Za-z0-9()[\] ./\-'@_]{3,128}$/;

const checkImageName = (ctx: ServiceContext, name: string): void => {
  if (!NAME_PATTERN.test(name)) {
    throw new AwsError(
      'InvalidAMIName.Malformed',
      `AMI names must be between 3 and 128 characters long, and may contain letters, numbers, '(', ')', '.', '-', '/' and '_'`,
    );
  }
  for (const image of ctx.store.table<ImageRecord>(Ec2Table.Images).values()) {
    if (
      image.ownerId === ctx.account &&
      image.name === name &&
      image.state !== 'deregistered' &&
      inRegion(image, ctx.region)
    ) {
      throw new AwsError('InvalidAMIName.Duplicate', `AMI name ${name} is already in use by AMI ${image.imageId}`);
    }
  }
};

const checkDescription = (description: string | undefined): void => {
  if (description !== undefined && description.length > 255) {
    throw invalidParameterValue('The description must be 255 characters or fewer');
  }
};

interface MappingOverride {
  readonly noDevice: boolean;
  readonly volumeSize?: number;
  readonly volumeType?: string;
  readonly deleteOnTermination?: boolean;
}

const mappingOverrides = (params: QueryParams): Map<string, MappingOverride> => {
  const overrides = new Map<string, MappingOverride>();
  for (const struct of indexedStructs(params, 'BlockDeviceMapping')) {
    const device = struct.get('DeviceName');
    if (!device) throw missingParameter('BlockDeviceMapping.N.DeviceName');
    const ebs = substruct(struct, 'Ebs');
    const size = ebs.get('VolumeSize');
    if (size !== undefined && !/^\d+$/.test(size))
      throw invalidParameterValue(`Invalid value '${size}' for VolumeSize`);
    const deleteOnTermination = boolParam(ebs, 'DeleteOnTermination');
    const volumeType = ebs.get('VolumeType');
    overrides.set(device, {
      noDevice: struct.has('NoDevice'),
      ...(size === undefined ? {} : { volumeSize: Number(size) }),
      ...(volumeType === undefined ? {} : { volumeType }),
      ...(deleteOnTermination === undefined ? {} : { deleteOnTermination }),
    });
  }
  return overrides;
};

/** What CreateImage and CopyImage decide; everything else of a new image is the same. */
type NewImage = Pick<
  ImageRecord,
  | 'imageId'
  | 'name'
  | 'creationDate'
  | 'architecture'
  | 'platform'
  | 'platformDetails'
  | 'rootDeviceName'
  | 'enaSupport'
  | 'blockDeviceMappings'
  | 'sourceInstanceId'
  | 'sourceImageId'
  | 'sourceRegion'
  | 'clientToken'
  | 'tags'
  | 'stateReason'
  | 'guest'
> & { readonly description: string | undefined };

/** A new account-owned image, pending until the sandbox clock says it is available. */
const pendingImage = (ctx: ServiceContext, fields: NewImage): ImageRecord => {
  const { description, ...rest } = fields;
  return {
    ...rest,
    ownerId: ctx.account,
    region: ctx.region,
    ...(description === undefined ? {} : { description }),
    state: 'pending',
    availableAt: secondsFrom(ctx, TIMINGS.imageAvailable),
    rootDeviceType: 'ebs',
    virtualizationType: 'hvm',
    isPublic: false,
    launchPermissions: [],
    deregistrationProtection: 'disabled',
  };
};

const createImage: QueryAction = (params, ctx) => {
  const instanceId = checkId('i', requireString(params, 'InstanceId'));
  const name = requireString(params, 'Name');
  const description = params.get('Description');
  checkDescription(description);
  const instance = ctx.store.get<InstanceRecord>(Ec2Table.Instances, instanceId);
  if (!instance) throw notFound('i', instanceId);
  if (instance.state !== 'running' && instance.state !== 'stopped') {
    throw new AwsError(
      'IncorrectInstanceState',
      `The instance '${instanceId}' is not in a state from which it can be imaged (${instance.state}).`,
    );
  }
  checkImageName(ctx, name);
  const tags = tagSpecifications(params, ['image', 'snapshot']);
  const overrides = mappingOverrides(params);
  const source = ctx.store.get<ImageRecord>(Ec2Table.Images, instance.imageId);
  // Snapshots of encrypted volumes are encrypted with the volume's key, which EC2 uses for the caller (kms.ts).
  const keys = useKeys(ctx, keyUsesOfVolumes(ctx, instance));
  const imageId = newId('ami');
  const now = nowIso(ctx);
  // The guest's root as the instance has it now: instances launched from the image start from it.
  const guest = captureGuest(ctx.store.dir, instance, imageId);
  ctx.transact((tx) => {
    const mappings: BlockDeviceMappingRecord[] = [];
    for (const attached of instance.volumes) {
      const override = overrides.get(attached.device);
      if (override?.noDevice) continue;
      const volume = tx.get<VolumeRecord>(Ec2Table.Volumes, attached.volumeId);
      if (!volume) continue;
      if (override?.volumeSize !== undefined && override.volumeSize < volume.size) {
        throw new AwsError(
          'InvalidBlockDeviceMapping',
          `Volume of size ${override.volumeSize} is smaller than the source volume ${volume.volumeId}, expect size >= ${volume.size}`,
        );
      }
      const snapshotId = newId('snap');
      tx.put<SnapshotRecord>(Ec2Table.Snapshots, snapshotId, {
        snapshotId,
        ownerId: ctx.account,
        volumeId: volume.volumeId,
        volumeSize: volume.size,
        state: 'pending',
        startTime: now,
        progress: '0%',
        description: `Created by CreateImage(${instanceId}) for ${imageId} from ${volume.volumeId}`,
        encrypted: volume.encrypted,
        ...(volume.kmsKeyId === undefined ? {} : { kmsKeyId: volume.kmsKeyId }),
        tags: tags.get('snapshot') ?? {},
      });
      mappings.push({
        deviceName: attached.device,
        ebs: {
          snapshotId,
          volumeSize: override?.volumeSize ?? volume.size,
          volumeType: override?.volumeType ?? volume.volumeType,
          deleteOnTermination: override?.deleteOnTermination ?? volume.attachedTo?.deleteOnTermination ?? true,
          encrypted: volume.encrypted,
          ...(volume.kmsKeyId === undefined ? {} : { kmsKeyId: volume.kmsKeyId }),
        },
      });
    }
    tx.put<ImageRecord>(
      Ec2Table.Images,
      imageId,
      pendingImage(ctx, {
        imageId,
        name,
        description,
        creationDate: now,
        architecture: instance.architecture,
        ...(instance.platform === undefined ? {} : { platform: instance.platform }),
        platformDetails: source?.platformDetails ?? (instance.platform === 'windows' ? 'Windows' : 'Linux/UNIX'),
        rootDeviceName: instance.rootDeviceName,
        enaSupport: true,
        blockDeviceMappings: mappings,
        sourceInstanceId: instanceId,
        tags: tags.get('image') ?? {},
        ...(keys.failure === undefined ? {} : { stateReason: keys.failure }),
        ...(guest === undefined ? {} : { guest }),
      }),
    );
  });
  trackImage(ctx, imageId);
  return { imageId };
};

/** The keys an instance's encrypted volumes use; their snapshots are encrypted with the same ones. */
const keyUsesOfVolumes = (ctx: ServiceContext, instance: InstanceRecord): KeyUse[] =>
  instance.volumes.flatMap(({ volumeId }) => {
    const volume = ctx.store.get<VolumeRecord>(Ec2Table.Volumes, volumeId);
    return volume?.encrypted && volume.kmsKeyId !== undefined ? [{ from: volume.kmsKeyId, to: volume.kmsKeyId }] : [];
  });

const copyImage: QueryAction = (params, ctx) => {
  const sourceImageId = requireString(params, 'SourceImageId');
  const sourceRegion = requireString(params, 'SourceRegion');
  const name = requireString(params, 'Name');
  const description = params.get('Description');
  checkDescription(description);
  const encrypted = boolParam(params, 'Encrypted') ?? false;
  const kmsKeyId = params.get('KmsKeyId');
  if (kmsKeyId !== undefined && !encrypted) {
    throw new AwsError(
      'InvalidParameterDependency',
      'The parameter KmsKeyId requires the parameter Encrypted to be set.',
    );
  }
  const clientToken = params.get('ClientToken');
  if (clientToken !== undefined && clientToken.length > 64) {
    throw invalidParameterValue('The client token must be 64 characters or fewer');
  }
  // The copy is made in the request's region; the source is looked up in SourceRegion.
  const source = launchableImage({ ...ctx, region: sourceRegion }, sourceImageId);
  if (clientToken !== undefined) {
    for (const image of ctx.store.table<ImageRecord>(Ec2Table.Images).values()) {
      if (
        image.clientToken === clientToken &&
        image.ownerId === ctx.account &&
        image.region === ctx.region &&
        image.state !== 'deregistered'
      ) {
        return { imageId: image.imageId };
      }
    }
  }
  checkImageName(ctx, name);
  const tags = tagSpecifications(params, ['image', 'snapshot']);
  const copyTags = boolParam(params, 'CopyImageTags') ?? false;
  const copyKey = (ebs: NonNullable<BlockDeviceMappingRecord['ebs']>): string | undefined =>
    encrypted || ebs.encrypted ? (kmsKeyId ?? ebs.kmsKeyId ?? defaultEbsKeyArn(ctx)) : undefined;
  // EC2 uses the source snapshots' keys and the copy's key for the caller (kms.ts).
  const keys = useKeys(
    ctx,
    source.blockDeviceMappings.flatMap((mapping) => {
      const to = mapping.ebs && copyKey(mapping.ebs);
      return mapping.ebs && to !== undefined
        ? [{ from: mapping.ebs.encrypted ? mapping.ebs.kmsKeyId : undefined, to }]
        : [];
    }),
  );
  const imageId = newId('ami');
  const now = nowIso(ctx);
  ctx.transact((tx) => {
    const mappings = source.blockDeviceMappings.map((mapping) => {
      if (!mapping.ebs) return mapping;
      const snapshotId = newId('snap');
      const sourceSnapshot = tx.get<SnapshotRecord>(Ec2Table.Snapshots, mapping.ebs.snapshotId);
      const isEncrypted = encrypted || mapping.ebs.encrypted;
      const named = copyKey(mapping.ebs);
      const key = named === undefined ? undefined : (keys.arns.get(named) ?? named);
      tx.put<SnapshotRecord>(Ec2Table.Snapshots, snapshotId, {
        snapshotId,
        ownerId: ctx.account,
        volumeId: sourceSnapshot?.volumeId ?? 'vol-ffffffff',
        volumeSize: mapping.ebs.volumeSize,
        state: 'pending',
        startTime: now,
        progress: '0%',
        description: `Copied for DestinationAmi ${imageId} from SourceAmi ${source.imageId} for SourceSnapshot ${mapping.ebs.snapshotId}. Task created on ${ctx.clock.nowMs()}.`,
        encrypted: isEncrypted,
        ...(key === undefined ? {} : { kmsKeyId: key }),
        tags: tags.get('snapshot') ?? {},
      });
      const { kmsKeyId: _old, ...ebs } = mapping.ebs;
      return {
        ...mapping,
        ebs: { ...ebs, snapshotId, encrypted: isEncrypted, ...(key === undefined ? {} : { kmsKeyId: key }) },
      };
    });
    tx.put<ImageRecord>(
      Ec2Table.Images,
      imageId,
      pendingImage(ctx, {
        imageId,
        name,
        description,
        creationDate: now,
        architecture: source.architecture,
        ...(source.platform === undefined ? {} : { platform: source.platform }),
        platformDetails: source.platformDetails,
        rootDeviceName: source.rootDeviceName,
        enaSupport: source.enaSupport,
        blockDeviceMappings: mappings,
        sourceImageId: source.imageId,
        sourceRegion,
        // A copy holds the same disk: it shares the source's guest root.
        ...(source.guest === undefined ? {} : { guest: source.guest }),
        tags: { ...(copyTags && source.ownerId === ctx.account ? source.tags : {}), ...tags.get('image') },
        ...(clientToken === undefined ? {} : { clientToken }),
        ...(keys.failure === undefined ? {} : { stateReason: keys.failure }),
      }),
    );
  });
  trackImage(ctx, imageId);
  return { imageId };
};

// ---------------------------------------------------------------- DeregisterImage

const isProtected = (image: StoredImage, nowMs: number): boolean =>
  image.deregistrationProtection === 'enabled' ||
  image.deregistrationProtection === 'enabled-with-cooldown' ||
  (image.deregistrationProtectionUntil !== undefined && Date.parse(image.deregistrationProtectionUntil) > nowMs);

const snapshotsInUse = (ctx: ServiceContext, exceptImageId: string): Set<string> => {
  const used = new Set<string>();
  for (const image of ctx.store.table<ImageRecord>(Ec2Table.Images).values()) {
    if (image.imageId === exceptImageId || image.state === 'deregistered') continue;
    for (const mapping of image.blockDeviceMappings) if (mapping.ebs) used.add(mapping.ebs.snapshotId);
  }
  return used;
};

const deregisterImage: QueryAction = (params, ctx) => {
  const image = ownedImage(ctx, requireString(params, 'ImageId'));
  if (isProtected(image, ctx.clock.nowMs())) {
    throw new AwsError(
      'OperationNotPermitted',
      `Image ${image.imageId} has deregistration protection enabled; disable it before deregistering the image.`,
    );
  }
  const deleteSnapshots = boolParam(params, 'DeleteAssociatedSnapshots') ?? false;
  const used = deleteSnapshots ? snapshotsInUse(ctx, image.imageId) : new Set<string>();
  const results = ctx.transact((tx) => {
    tx.delete(Ec2Table.Images, image.imageId);
    if (!deleteSnapshots) return undefined;
    return image.blockDeviceMappings.flatMap((mapping) =>
      mapping.ebs ? [deleteAssociated(tx, ctx, mapping.ebs.snapshotId, used)] : [],
    );
  });
  return { return: true, deleteSnapshotResultSet: results };
};

const deleteAssociated = (
  tx: Transaction,
  ctx: ServiceContext,
  snapshotId: string,
  used: ReadonlySet<string>,
): Record<string, XmlValue> => {
  const snapshot = tx.get<SnapshotRecord>(Ec2Table.Snapshots, snapshotId);
  if (!snapshot) return { snapshotId, returnCode: 'success' };
  if (snapshot.ownerId !== ctx.account) return { snapshotId, returnCode: 'missing-permissions' };
  if (used.has(snapshotId)) return { snapshotId, returnCode: 'client-error' };
  tx.delete(Ec2Table.Snapshots, snapshotId);
  return { snapshotId, returnCode: 'success' };
};

// ---------------------------------------------------------------- attributes

const putImage = (ctx: ServiceContext, image: StoredImage): void => {
  ctx.transact((tx) => tx.put<StoredImage>(Ec2Table.Images, image.imageId, image));
};

const ACCOUNT_PATTERN = /^\d{12}$/;

const launchPermissionChanges = (
  params: QueryParams,
): { add: string[]; remove: string[]; addAll: boolean; removeAll: boolean } => {
  const change = { add: [] as string[], remove: [] as string[], addAll: false, removeAll: false };
  const collect = (struct: QueryParams, kind: 'add' | 'remove') => {
    const user = struct.get('UserId');
    const group = struct.get('Group');
    if (user !== undefined) change[kind].push(user);
    if (group !== undefined) {
      if (group !== 'all')
        throw new AwsError('InvalidAMIAttributeItemValue', `Invalid attribute item value "${group}" for group`);
      if (kind === 'add') change.addAll = true;
      else change.removeAll = true;
    }
  };
  for (const struct of indexedStructs(params, 'LaunchPermission.Add')) collect(struct, 'add');
  for (const struct of indexedStructs(params, 'LaunchPermission.Remove')) collect(struct, 'remove');
  const operation = params.get('OperationType');
  if (operation !== undefined) {
    if (operation !== 'add' && operation !== 'remove') {
      throw invalidParameterValue(`Value (${operation}) for parameter operationType is invalid.`);
    }
    for (const user of indexedList(params, 'UserId')) change[operation].push(user);
    for (const group of indexedList(params, 'UserGroup')) {
      const struct = new Map([['Group', group]]);
      collect(struct, operation);
    }
  }
  for (const user of [...change.add, ...change.remove]) {
    if (!ACCOUNT_PATTERN.test(user)) {
      throw new AwsError(
        'InvalidAMIAttributeItemValue',
        `Invalid attribute item value "${user}" for userId item type.`,
      );
    }
  }
  return change;
};

const modifyImageAttribute: QueryAction = (params, ctx) => {
  const image = ownedImage(ctx, requireString(params, 'ImageId'));
  const attribute = params.get('Attribute');
  const description =
    params.get('Description.Value') ?? (attribute === 'description' ? params.get('Value') : undefined);
  if (description !== undefined) {
    checkDescription(description);
    putImage(ctx, { ...image, description });
    return returnTrue();
  }
  if (attribute !== undefined && attribute !== 'launchPermission') {
    throw invalidParameterValue(
      `Value (${attribute}) for parameter attribute is invalid. Unknown or unmodifiable attribute.`,
    );
  }
  const change = launchPermissionChanges(params);
  if (change.add.length + change.remove.length === 0 && !change.addAll && !change.removeAll) {
    throw missingParameter('LaunchPermission or Description');
  }
  if (image.state === 'disabled' && (change.add.length > 0 || change.addAll)) {
    throw new AwsError('InvalidAMIID.Unavailable', `Image ${image.imageId} is disabled; enable it before sharing it.`);
  }
  const permissions = new Set(image.launchPermissions);
  for (const user of change.add) permissions.add(user);
  for (const user of change.remove) permissions.delete(user);
  const isPublic = change.addAll ? true : change.removeAll ? false : image.isPublic;
  putImage(ctx, { ...image, launchPermissions: [...permissions], isPublic });
  return returnTrue();
};

const describeImageAttribute: QueryAction = (params, ctx) => {
  const attribute = requireString(params, 'Attribute');
  const image = ownedImage(ctx, requireString(params, 'ImageId'));
  const value = (text: string | undefined): XmlValue => (text === undefined ? {} : { value: text });
  const answers: Record<string, () => XmlValue> = {
    description: () => value(image.description),
    launchPermission: () => [
      ...(image.isPublic ? [{ group: 'all' }] : []),
      ...image.launchPermissions.map((userId) => ({ userId })),
    ],
    lastLaunchedTime: () => value(image.lastLaunchedTime),
    deregistrationProtection: () => value(protectionState(image)),
    blockDeviceMapping: () => renderBlockDeviceMappings(image.blockDeviceMappings),
    productCodes: () => [],
    kernel: () => ({}),
    ramdisk: () => ({}),
    sriovNetSupport: () => value('simple'),
    bootMode: () => ({}),
    tpmSupport: () => ({}),
    uefiData: () => ({}),
    imdsSupport: () => ({}),
  };
  const answer = answers[attribute];
  if (!answer)
    throw invalidParameterValue(`Value (${attribute}) for parameter attribute is invalid. Unknown attribute.`);
  return { imageId: image.imageId, [attribute]: answer() };
};

// ---------------------------------------------------------------- deprecation, disabling, protection

const MAX_DEPRECATION_MS = 10 * 365 * 24 * 3600 * 1000;

const enableImageDeprecation: QueryAction = (params, ctx) => {
  const image = ownedImage(ctx, requireString(params, 'ImageId'));
  const deprecateAt = requireString(params, 'DeprecateAt');
  const at = Date.parse(deprecateAt);
  const now = ctx.clock.nowMs();
  if (Number.isNaN(at)) throw invalidParameterValue(`Invalid value '${deprecateAt}' for DeprecateAt`);
  if (at < now) throw invalidParameterValue('The deprecation time must be in the future');
  if (at > now + MAX_DEPRECATION_MS) throw invalidParameterValue('The deprecation time can be at most 10 years away');
  // AWS rounds the time to the nearest minute.
  const rounded = new Date(Math.round(at / 60_000) * 60_000).toISOString().replace('.000Z', 'Z');
  putImage(ctx, { ...image, deprecationTime: rounded });
  return returnTrue();
};

const disableImageDeprecation: QueryAction = (params, ctx) => {
  const { deprecationTime: _gone, ...image } = ownedImage(ctx, requireString(params, 'ImageId'));
  putImage(ctx, image);
  return returnTrue();
};

const disableImage: QueryAction = (params, ctx) => {
  const image = ownedImage(ctx, requireString(params, 'ImageId'));
  if (image.state !== 'available' && image.state !== 'disabled') {
    throw new AwsError(
      'InvalidAMIID.Unavailable',
      `Image ${image.imageId} is ${image.state}; only available images can be disabled.`,
    );
  }
  // Disabling takes the image private and drops its shares, as AWS does.
  putImage(ctx, { ...image, state: 'disabled', isPublic: false, launchPermissions: [] });
  return returnTrue();
};

const enableImage: QueryAction = (params, ctx) => {
  const image = ownedImage(ctx, requireString(params, 'ImageId'));
  if (image.state !== 'disabled' && image.state !== 'available') {
    throw new AwsError(
      'InvalidAMIID.Unavailable',
      `Image ${image.imageId} is ${image.state}; only disabled images can be enabled.`,
    );
  }
  putImage(ctx, { ...image, state: 'available' });
  return returnTrue();
};

const COOLDOWN_SECONDS = 24 * 3600;

const enableImageDeregistrationProtection: QueryAction = (params, ctx) => {
  const { deregistrationProtectionUntil: _gone, ...image } = ownedImage(ctx, requireString(params, 'ImageId'));
  const withCooldown = boolParam(params, 'WithCooldown') ?? false;
  putImage(ctx, { ...image, deregistrationProtection: withCooldown ? 'enabled-with-cooldown' : 'enabled' });
  return { return: withCooldown ? 'enabled-with-cooldown' : 'enabled-without-cooldown' };
};

const disableImageDeregistrationProtection: QueryAction = (params, ctx) => {
  const image = ownedImage(ctx, requireString(params, 'ImageId'));
  const cooldown = image.deregistrationProtection === 'enabled-with-cooldown';
  const until = cooldown ? secondsFrom(ctx, COOLDOWN_SECONDS) : undefined;
  const { deregistrationProtectionUntil: _gone, ...rest } = image;
  putImage(ctx, {
    ...rest,
    deregistrationProtection: 'disabled',
    ...(until === undefined ? {} : { deregistrationProtectionUntil: until }),
  });
  return { return: until === undefined ? 'disabled' : `disabled-until-${until}` };
};

// ---------------------------------------------------------------- DescribeImageReferences

const REFERENCE_TYPES = ['ec2:Instance', 'ec2:LaunchTemplate'] as const;

const describeImageReferences: QueryAction = (params, ctx) => {
  const imageIds = idList(params, 'ImageId');
  if (imageIds.length === 0) throw missingParameter('ImageId');
  for (const id of imageIds) findImage(ctx, id);
  const wanted = new Set(imageIds);
  const requested = indexedStructs(params, 'ResourceType').map((struct) => struct.get('ResourceType') ?? '');
  for (const type of requested) {
    if (!(REFERENCE_TYPES as readonly string[]).includes(type)) {
      throw invalidParameterValue(`Value (${type}) for parameter resourceType is invalid.`);
    }
  }
  const types = new Set(
    requested.length > 0 || !(boolParam(params, 'IncludeAllResourceTypes') ?? true) ? requested : REFERENCE_TYPES,
  );
  const page = readPage(params, '', 0);
  const references = imageReferences(ctx, wanted, types);
  const { items, nextToken } = paginate(references, () => true, page);
  return { imageReferenceSet: items, nextToken };
};

function* imageReferences(
  ctx: ServiceContext,
  wanted: ReadonlySet<string>,
  types: ReadonlySet<string>,
): Generator<Record<string, XmlValue>> {
  if (types.has('ec2:Instance')) {
    for (const instance of ctx.store.table<InstanceRecord>(Ec2Table.Instances).values()) {
      if (!wanted.has(instance.imageId) || instance.state === 'terminated') continue;
      yield {
        imageId: instance.imageId,
        resourceType: 'ec2:Instance',
        arn: `arn:aws:ec2:${ctx.region}:${ctx.account}:instance/${instance.instanceId}`,
      };
    }
  }
  if (types.has('ec2:LaunchTemplate')) {
    for (const version of ctx.store.table<LaunchTemplateVersionRecord>(Ec2Table.LaunchTemplateVersions).values()) {
      const imageId = version.data.imageId;
      if (typeof imageId !== 'string' || !wanted.has(imageId)) continue;
      yield {
        imageId,
        resourceType: 'ec2:LaunchTemplate',
        arn: `arn:aws:ec2:${ctx.region}:${ctx.account}:launch-template/${version.launchTemplateId}`,
      };
    }
  }
}

// ---------------------------------------------------------------- launches

/** RunInstances records the launch on the image (AWS updates it within hours; the sandbox at once). */
export const recordLaunch = (tx: Transaction, imageId: string, at: string): void => {
  const image = tx.get<ImageRecord>(Ec2Table.Images, imageId);
  if (image) tx.put<ImageRecord>(Ec2Table.Images, imageId, { ...image, lastLaunchedTime: at });
};

export type { Tags };

export const imageActions: Readonly<Record<string, QueryAction>> = {
  DescribeImages: describeImages,
  CreateImage: createImage,
  CopyImage: copyImage,
  DeregisterImage: deregisterImage,
  ModifyImageAttribute: modifyImageAttribute,
  DescribeImageAttribute: describeImageAttribute,
  EnableImageDeprecation: enableImageDeprecation,
  DisableImageDeprecation: disableImageDeprecation,
  DisableImage: disableImage,
  EnableImage: enableImage,
  EnableImageDeregistrationProtection: enableImageDeregistrationProtection,
  DisableImageDeregistrationProtection: disableImageDeregistrationProtection,
  DescribeImageReferences: describeImageReferences,
};
