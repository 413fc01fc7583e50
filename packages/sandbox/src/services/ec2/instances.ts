/**
 * EC2 instances: RunInstances, DescribeInstances, StopInstances, StartInstances,
 * TerminateInstances. Root and extra volumes are created from the image's snapshots; states move
 * along the sandbox clock (lifecycle.ts).
 */
import { randomBytes } from 'node:crypto';
import { AwsError, invalidParameterValue, missingParameter } from '../../errors';
import { guestOfImage, removeInstanceGuest } from '../../guest';
import { filters, indexedStructs, optionalInt, type QueryParams, substruct, type XmlValue } from '../../protocol/query';
import type { QueryAction, ServiceContext } from '../../service';
import type { Transaction } from '../../store';
import {
  boolParam,
  checkId,
  compileFilters,
  idList,
  notFound,
  paginate,
  readPage,
  tagSet,
  tagSpecifications,
} from './common';
import { launchableImage, recordLaunch } from './images';
import { type KeyUse, useKeys } from './kms';
import {
  type LaunchDefaults,
  launchDefaultsOf,
  resolveLaunchTemplateVersion,
  resolveSsmImageId,
} from './launch-templates';
import { emitStateChange, nowIso, secondsFrom, TIMINGS, trackInstance } from './lifecycle';
import {
  type BlockDeviceMappingRecord,
  Ec2Table,
  type ImageRecord,
  type InstanceRecord,
  type InstanceState,
  newId,
  type Tags,
  type VolumeRecord,
} from './model';
import { recordRunEnd } from './runs';

const STATE_CODES: Record<InstanceState, number> = {
  pending: 0,
  running: 16,
  'shutting-down': 32,
  terminated: 48,
  stopping: 64,
  stopped: 80,
};

export const DEFAULT_VPC = 'vpc-0a0b0c0d0e0f00001';
export const DEFAULT_SUBNET = 'subnet-0a0b0c0d0e0f00001';
export const DEFAULT_GROUP = 'sg-0a0b0c0d0e0f00001';

// ---------------------------------------------------------------- RunInstances

/** What a launch needs, whoever asks (RunInstances here; Auto Scaling may reuse `launchInstances`). */
export interface LaunchSpec {
  readonly imageId: string;
  readonly count: number;
  readonly instanceType: string;
  readonly subnetId?: string;
  readonly securityGroupIds: readonly string[];
  readonly iamInstanceProfile?: string;
  readonly httpTokens: 'required' | 'optional';
  readonly httpEndpoint: 'enabled' | 'disabled';
  readonly blockDeviceMappings: readonly MappingRequest[];
  readonly instanceTags: Tags;
  readonly volumeTags: Tags;
  readonly clientToken?: string;
  readonly launchTemplate?: { readonly id: string; readonly version: string };
}

export interface MappingRequest {
  readonly deviceName: string;
  readonly noDevice: boolean;
  readonly snapshotId?: string;
  readonly volumeSize?: number;
  readonly volumeType?: string;
  readonly encrypted?: boolean;
  readonly kmsKeyId?: string;
  readonly deleteOnTermination?: boolean;
}

const VOLUME_TYPES = new Set(['gp2', 'gp3', 'io1', 'io2', 'st1', 'sc1', 'standard']);

const readMappings = (params: QueryParams): MappingRequest[] =>
  indexedStructs(params, 'BlockDeviceMapping').map((struct) => {
    const deviceName = struct.get('DeviceName');
    if (!deviceName) throw missingParameter('BlockDeviceMapping.N.DeviceName');
    const ebs = substruct(struct, 'Ebs');
    const volumeSize = optionalInt(ebs, 'VolumeSize');
    const volumeType = ebs.get('VolumeType');
    if (volumeType !== undefined && !VOLUME_TYPES.has(volumeType)) {
      throw invalidParameterValue(`Value (${volumeType}) for parameter volumeType is invalid.`);
    }
    if (volumeSize !== undefined && (volumeSize < 1 || volumeSize > 65536)) {
      throw invalidParameterValue(`Volume size ${volumeSize} is out of range (1-65536 GiB)`);
    }
    const encrypted = boolParam(ebs, 'Encrypted');
    const deleteOnTermination = boolParam(ebs, 'DeleteOnTermination');
    const snapshotId = ebs.get('SnapshotId');
    const kmsKeyId = ebs.get('KmsKeyId');
    return {
      deviceName,
      noDevice: struct.has('NoDevice'),
      ...(snapshotId === undefined ? {} : { snapshotId: checkId('snap', snapshotId) }),
      ...(volumeSize === undefined ? {} : { volumeSize }),
      ...(volumeType === undefined ? {} : { volumeType }),
      ...(encrypted === undefined ? {} : { encrypted }),
      ...(kmsKeyId === undefined ? {} : { kmsKeyId }),
      ...(deleteOnTermination === undefined ? {} : { deleteOnTermination }),
    };
  });

const INSTANCE_TYPE = /^[a-z][a-z0-9-]*\.[a-z0-9-]+$/;

/** Graviton families (t4g, m7g, c6gn, r8gd, a1…) are arm64; the rest x86_64. */
export const instanceTypeArchitecture = (instanceType: string): 'x86_64' | 'arm64' => {
  const family = instanceType.split('.')[0] ?? '';
  return /^a1$|^[a-z]+\d+[a-z]*g[a-z]*$/.test(family) ? 'arm64' : 'x86_64';
};

/**
 * What a launch template's version gives a launch the request does not say itself: "Any
 * parameters that you specify in the request override the same parameters in the launch
 * template" (EC2 API Reference, RunInstances, LaunchTemplate). An unknown template or version is
 * refused as EC2 refuses it (InvalidLaunchTemplateId.NotFound / InvalidLaunchTemplateName.
 * NotFoundException / InvalidLaunchTemplateId.VersionNotFound).
 */
const templateDefaults = (params: QueryParams, ctx: ServiceContext): LaunchDefaults => {
  const launchTemplateId = params.get('LaunchTemplate.LaunchTemplateId');
  const launchTemplateName = params.get('LaunchTemplate.LaunchTemplateName');
  if (launchTemplateId === undefined && launchTemplateName === undefined) return { securityGroupIds: [] };
  const { version } = resolveLaunchTemplateVersion(ctx, {
    launchTemplateId,
    launchTemplateName,
    version: params.get('LaunchTemplate.Version'),
  });
  const defaults = launchDefaultsOf(version.data);
  return defaults.imageId === undefined ? defaults : { ...defaults, imageId: resolveSsmImageId(ctx, defaults.imageId) };
};

const readLaunchSpec = (params: QueryParams, ctx: ServiceContext): LaunchSpec & { minCount: number } => {
  const fromTemplate = templateDefaults(params, ctx);
  const imageId = params.get('ImageId') ?? fromTemplate.imageId;
  if (!imageId) throw missingParameter('ImageId');
  const minCount = optionalInt(params, 'MinCount');
  const maxCount = optionalInt(params, 'MaxCount');
  if (minCount === undefined) throw missingParameter('MinCount');
  if (maxCount === undefined) throw missingParameter('MaxCount');
  if (minCount < 1)
    throw invalidParameterValue(`Value (${minCount}) for parameter minCount is invalid. Expected a positive integer.`);
  if (maxCount < minCount) {
    throw invalidParameterValue(`Value (${maxCount}) for parameter maxCount is invalid. maxCount must be >= minCount.`);
  }
  const instanceType = params.get('InstanceType') ?? fromTemplate.instanceType ?? 'm1.small';
  if (!INSTANCE_TYPE.test(instanceType))
    throw invalidParameterValue(`Invalid value '${instanceType}' for InstanceType.`);
  const subnetId = params.get('SubnetId') ?? fromTemplate.subnetId;
  if (subnetId !== undefined && !/^subnet-[0-9a-f]{8,17}$/.test(subnetId)) {
    throw new AwsError('InvalidSubnetID.Malformed', `Invalid id: "${subnetId}"`);
  }
  const requestedGroups = idList(params, 'SecurityGroupId');
  const securityGroupIds = requestedGroups.length > 0 ? requestedGroups : fromTemplate.securityGroupIds;
  for (const group of securityGroupIds) {
    if (!/^sg-[0-9a-f]{8,17}$/.test(group)) throw new AwsError('InvalidGroupId.Malformed', `Invalid id: "${group}"`);
  }
  const requestsProfile = params.has('IamInstanceProfile.Arn') || params.has('IamInstanceProfile.Name');
  const profileArn = requestsProfile ? params.get('IamInstanceProfile.Arn') : fromTemplate.profileArn;
  const profileName = requestsProfile ? params.get('IamInstanceProfile.Name') : fromTemplate.profileName;
  if (profileArn !== undefined && profileName !== undefined) {
    throw new AwsError(
      'InvalidParameterCombination',
      'The parameter iamInstanceProfile.name may not be used in combination with iamInstanceProfile.arn',
    );
  }
  if (profileArn !== undefined && !/^arn:aws[a-z-]*:iam::\d{12}:instance-profile\/.+$/.test(profileArn)) {
    throw invalidParameterValue(`Value (${profileArn}) for parameter iamInstanceProfile.arn is invalid.`);
  }
  const httpTokens = params.get('MetadataOptions.HttpTokens') ?? 'required';
  const httpEndpoint = params.get('MetadataOptions.HttpEndpoint') ?? 'enabled';
  if (httpTokens !== 'required' && httpTokens !== 'optional') {
    throw invalidParameterValue(`Value (${httpTokens}) for parameter metadataOptions.httpTokens is invalid.`);
  }
  if (httpEndpoint !== 'enabled' && httpEndpoint !== 'disabled') {
    throw invalidParameterValue(`Value (${httpEndpoint}) for parameter metadataOptions.httpEndpoint is invalid.`);
  }
  const tags = tagSpecifications(params, ['instance', 'volume']);
  const clientToken = params.get('ClientToken');
  if (clientToken !== undefined && clientToken.length > 64) {
    throw invalidParameterValue('The client token must be 64 characters or fewer');
  }
  const iamInstanceProfile =
    profileArn ?? (profileName && `arn:aws:iam::${ctx.account}:instance-profile/${profileName}`);
  return {
    imageId,
    minCount,
    count: maxCount,
    instanceType,
    ...(subnetId === undefined ? {} : { subnetId }),
    securityGroupIds,
    ...(iamInstanceProfile ? { iamInstanceProfile } : {}),
    httpTokens,
    httpEndpoint,
    blockDeviceMappings: readMappings(params),
    instanceTags: tags.get('instance') ?? {},
    volumeTags: tags.get('volume') ?? {},
    ...(clientToken === undefined ? {} : { clientToken }),
  };
};

/** The image's mappings with the request's overrides applied; new devices need a size. */
const effectiveMappings = (image: ImageRecord, requests: readonly MappingRequest[]): BlockDeviceMappingRecord[] => {
  const byDevice = new Map(requests.map((request) => [request.deviceName, request]));
  const result: BlockDeviceMappingRecord[] = [];
  for (const mapping of image.blockDeviceMappings) {
    const request = byDevice.get(mapping.deviceName);
    byDevice.delete(mapping.deviceName);
    if (request?.noDevice || !mapping.ebs) continue;
    const size = request?.volumeSize ?? mapping.ebs.volumeSize;
    if (size < mapping.ebs.volumeSize) {
      throw new AwsError(
        'InvalidBlockDeviceMapping',
        `Volume of size ${size}GB is smaller than snapshot '${mapping.ebs.snapshotId}', expect size >= ${mapping.ebs.volumeSize}GB`,
      );
    }
    const encrypted = request?.encrypted ?? mapping.ebs.encrypted;
    const kmsKeyId = request?.kmsKeyId ?? mapping.ebs.kmsKeyId;
    result.push({
      deviceName: mapping.deviceName,
      ebs: {
        snapshotId: mapping.ebs.snapshotId,
        volumeSize: size,
        volumeType: request?.volumeType ?? mapping.ebs.volumeType,
        deleteOnTermination: request?.deleteOnTermination ?? mapping.ebs.deleteOnTermination,
        encrypted: encrypted || mapping.ebs.encrypted,
        ...(kmsKeyId === undefined ? {} : { kmsKeyId }),
      },
    });
  }
  for (const request of byDevice.values()) {
    if (request.noDevice) continue;
    if (request.volumeSize === undefined && request.snapshotId === undefined) {
      throw missingParameter(`BlockDeviceMapping (${request.deviceName}).Ebs.VolumeSize`);
    }
    result.push({
      deviceName: request.deviceName,
      ebs: {
        snapshotId: request.snapshotId ?? '',
        volumeSize: request.volumeSize ?? 8,
        volumeType: request.volumeType ?? 'gp3',
        deleteOnTermination: request.deleteOnTermination ?? true,
        encrypted: request.encrypted ?? false,
        ...(request.kmsKeyId === undefined ? {} : { kmsKeyId: request.kmsKeyId }),
      },
    });
  }
  return result;
};

/** The keys each encrypted volume uses: the one it is encrypted with, and its snapshot's (if encrypted). */
const volumeKeyUses = (image: ImageRecord, mappings: readonly BlockDeviceMappingRecord[]): KeyUse[] =>
  mappings.flatMap((mapping) => {
    const ebs = mapping.ebs;
    if (!ebs?.encrypted || ebs.kmsKeyId === undefined) return [];
    const source = image.blockDeviceMappings.find((candidate) => candidate.deviceName === mapping.deviceName)?.ebs;
    const from = source?.snapshotId === ebs.snapshotId && source.encrypted ? source.kmsKeyId : undefined;
    return [{ from, to: ebs.kmsKeyId }];
  });

/** A mapping whose key id named a customer managed key carries the key's ARN, as EC2 shows it. */
export const withKeyArn = (
  mapping: BlockDeviceMappingRecord,
  arns: ReadonlyMap<string, string>,
): BlockDeviceMappingRecord => {
  const arn = mapping.ebs?.kmsKeyId === undefined ? undefined : arns.get(mapping.ebs.kmsKeyId);
  return arn === undefined || !mapping.ebs ? mapping : { ...mapping, ebs: { ...mapping.ebs, kmsKeyId: arn } };
};

const privateIp = (): string => {
  const [a = 0, b = 0] = randomBytes(2);
  return `172.31.${a}.${Math.max(b, 4)}`;
};

/** Creates the instances and their volumes; returns the reservation id and instance ids. */
export const launchInstances = (
  ctx: ServiceContext,
  spec: LaunchSpec,
): { reservationId: string; instanceIds: string[] } => {
  const image = launchableImage(ctx, spec.imageId);
  const architecture = instanceTypeArchitecture(spec.instanceType);
  if (architecture !== image.architecture) {
    throw invalidParameterValue(
      `The architecture '${architecture}' of the specified instance type does not match the architecture '${image.architecture}' of the specified AMI. Specify an instance type and an AMI that have matching architectures, and try again.`,
    );
  }
  const requested = effectiveMappings(image, spec.blockDeviceMappings);
  // EC2 uses the volumes' KMS keys for the caller; a refusal fails the launch, not the request (kms.ts).
  const keys = useKeys(ctx, volumeKeyUses(image, requested));
  const mappings = requested.map((mapping) => withKeyArn(mapping, keys.arns));
  const reservationId = newId('r');
  const now = nowIso(ctx);
  const instanceIds: string[] = [];
  // Linux instances get their image's guest (its root is copied at the first Run Command: src/guest).
  const guest = guestOfImage(image);
  ctx.transact((tx) => {
    for (let index = 0; index < spec.count; index += 1) {
      const instanceId = newId('i');
      instanceIds.push(instanceId);
      const volumes = mappings.map((mapping) => createVolume(tx, ctx, instanceId, mapping, spec.volumeTags, now));
      tx.put<InstanceRecord>(Ec2Table.Instances, instanceId, {
        instanceId,
        reservationId,
        imageId: image.imageId,
        instanceType: spec.instanceType,
        state: 'pending',
        stateUntil: secondsFrom(ctx, TIMINGS.pending),
        launchTime: now,
        subnetId: spec.subnetId ?? DEFAULT_SUBNET,
        securityGroupIds: spec.securityGroupIds.length > 0 ? spec.securityGroupIds : [DEFAULT_GROUP],
        ...(spec.iamInstanceProfile === undefined ? {} : { iamInstanceProfile: spec.iamInstanceProfile }),
        ...(image.platform === undefined ? {} : { platform: image.platform }),
        architecture: image.architecture,
        rootDeviceName: image.rootDeviceName,
        metadataOptions: { httpTokens: spec.httpTokens, httpEndpoint: spec.httpEndpoint },
        volumes,
        privateIpAddress: privateIp(),
        ...(spec.launchTemplate === undefined ? {} : { launchTemplate: spec.launchTemplate }),
        ...(spec.clientToken === undefined ? {} : { clientToken: spec.clientToken }),
        ...(keys.failure === undefined ? {} : { launchFailure: keys.failure }),
        tags: spec.instanceTags,
        ...(guest === undefined ? {} : { guest }),
      });
    }
    recordLaunch(tx, image.imageId, now);
  });
  for (const id of instanceIds) trackInstance(ctx, id);
  for (const id of instanceIds) emitStateChange(ctx, id, 'pending');
  return { reservationId, instanceIds };
};

const createVolume = (
  tx: Transaction,
  ctx: ServiceContext,
  instanceId: string,
  mapping: BlockDeviceMappingRecord,
  tags: Tags,
  now: string,
): { device: string; volumeId: string } => {
  const ebs = mapping.ebs;
  const volumeId = newId('vol');
  tx.put<VolumeRecord & { createTime: string; availabilityZone: string }>(Ec2Table.Volumes, volumeId, {
    volumeId,
    size: ebs?.volumeSize ?? 8,
    ...(ebs?.snapshotId ? { snapshotId: ebs.snapshotId } : {}),
    volumeType: ebs?.volumeType ?? 'gp3',
    encrypted: ebs?.encrypted ?? false,
    ...(ebs?.kmsKeyId === undefined ? {} : { kmsKeyId: ebs.kmsKeyId }),
    state: 'in-use',
    attachedTo: { instanceId, device: mapping.deviceName, deleteOnTermination: ebs?.deleteOnTermination ?? true },
    createTime: now,
    availabilityZone: `${ctx.region}a`,
    tags,
  });
  return { device: mapping.deviceName, volumeId };
};

const findByClientToken = (ctx: ServiceContext, token: string): InstanceRecord[] => {
  const found: InstanceRecord[] = [];
  for (const instance of ctx.store.table<InstanceRecord>(Ec2Table.Instances).values()) {
    if (instance.clientToken === token) found.push(instance);
  }
  return found;
};

const runInstances: QueryAction = (params, ctx) => {
  const spec = readLaunchSpec(params, ctx);
  if (spec.clientToken !== undefined) {
    const earlier = findByClientToken(ctx, spec.clientToken);
    const first = earlier[0];
    if (first) {
      if (first.imageId !== spec.imageId || first.instanceType !== spec.instanceType) {
        throw new AwsError(
          'IdempotentParameterMismatch',
          `Arguments on this idempotent request are inconsistent with arguments used in previous request(s).`,
        );
      }
      return renderReservation(ctx, first.reservationId, earlier);
    }
  }
  const { reservationId, instanceIds } = launchInstances(ctx, spec);
  const launched = instanceIds.flatMap((id) => ctx.store.get<InstanceRecord>(Ec2Table.Instances, id) ?? []);
  return renderReservation(ctx, reservationId, launched);
};

// ---------------------------------------------------------------- rendering

const renderState = (state: InstanceState): XmlValue => ({ code: STATE_CODES[state], name: state });

const renderInstance = (ctx: ServiceContext, instance: InstanceRecord, index: number): XmlValue => {
  const dnsName = `ip-${instance.privateIpAddress.replaceAll('.', '-')}.ec2.internal`;
  const stopped = instance.state === 'stopped' || instance.state === 'stopping';
  const ending = instance.state === 'terminated' || instance.state === 'shutting-down';
  return {
    instanceId: instance.instanceId,
    imageId: instance.imageId,
    instanceState: renderState(instance.state),
    privateDnsName: instance.state === 'terminated' ? '' : dnsName,
    dnsName: '',
    reason: stopped ? 'User initiated' : ending ? 'User initiated' : '',
    amiLaunchIndex: index,
    productCodes: [],
    instanceType: instance.instanceType,
    launchTime: instance.launchTime,
    placement: { availabilityZone: `${ctx.region}a`, groupName: '', tenancy: 'default' },
    platform: instance.platform,
    monitoring: { state: 'disabled' },
    subnetId: instance.state === 'terminated' ? undefined : instance.subnetId,
    vpcId: instance.state === 'terminated' ? undefined : DEFAULT_VPC,
    privateIpAddress: instance.state === 'terminated' ? undefined : instance.privateIpAddress,
    groupSet: instance.securityGroupIds.map((groupId) => ({
      groupId,
      groupName: groupId === DEFAULT_GROUP ? 'default' : groupId,
    })),
    stateReason:
      instance.launchFailure && instance.state !== 'pending'
        ? instance.launchFailure
        : stopped || ending
          ? { code: 'Client.UserInitiatedShutdown', message: 'Client.UserInitiatedShutdown: User initiated shutdown' }
          : undefined,
    architecture: instance.architecture,
    rootDeviceType: 'ebs',
    rootDeviceName: instance.rootDeviceName,
    blockDeviceMapping:
      instance.state === 'terminated'
        ? []
        : instance.volumes.map((volume) => renderAttachment(ctx, volume.device, volume.volumeId, instance.launchTime)),
    virtualizationType: 'hvm',
    clientToken: instance.clientToken,
    tagSet: tagSet(instance.tags),
    hypervisor: 'xen',
    iamInstanceProfile: instance.iamInstanceProfile && {
      arn: instance.iamInstanceProfile,
      id: `AIPA${Buffer.from(instance.iamInstanceProfile).toString('hex').slice(-17).toUpperCase()}`,
    },
    ebsOptimized: false,
    enaSupport: true,
    sourceDestCheck: true,
    metadataOptions: {
      state: 'applied',
      httpTokens: instance.metadataOptions.httpTokens,
      httpPutResponseHopLimit: 2,
      httpEndpoint: instance.metadataOptions.httpEndpoint,
      httpProtocolIpv6: 'disabled',
      instanceMetadataTags: 'disabled',
    },
    platformDetails: instance.platform === 'windows' ? 'Windows' : 'Linux/UNIX',
    usageOperation: instance.platform === 'windows' ? 'RunInstances:0002' : 'RunInstances',
    currentInstanceBootMode: 'legacy-bios',
  };
};

const renderAttachment = (ctx: ServiceContext, device: string, volumeId: string, launchTime: string): XmlValue => {
  const volume = ctx.store.get<VolumeRecord>(Ec2Table.Volumes, volumeId);
  return {
    deviceName: device,
    ebs: {
      volumeId,
      status: 'attached',
      attachTime: launchTime,
      deleteOnTermination: volume?.attachedTo?.deleteOnTermination ?? true,
    },
  };
};

const renderReservation = (
  ctx: ServiceContext,
  reservationId: string,
  instances: readonly InstanceRecord[],
): Record<string, XmlValue> => ({
  reservationId,
  ownerId: ctx.account,
  groupSet: [],
  instancesSet: instances.map((instance, index) => renderInstance(ctx, instance, index)),
});

// ---------------------------------------------------------------- DescribeInstances

const INSTANCE_FILTERS: Record<string, (instance: InstanceRecord) => readonly (string | undefined)[]> = {
  architecture: (i) => [i.architecture],
  'client-token': (i) => [i.clientToken],
  'iam-instance-profile.arn': (i) => [i.iamInstanceProfile],
  'image-id': (i) => [i.imageId],
  'instance-id': (i) => [i.instanceId],
  'instance-state-code': (i) => [String(STATE_CODES[i.state])],
  'instance-state-name': (i) => [i.state],
  'instance-type': (i) => [i.instanceType],
  'launch-time': (i) => [i.launchTime],
  'metadata-options.http-tokens': (i) => [i.metadataOptions.httpTokens],
  'metadata-options.http-endpoint': (i) => [i.metadataOptions.httpEndpoint],
  platform: (i) => [i.platform],
  'private-ip-address': (i) => [i.privateIpAddress],
  'reservation-id': (i) => [i.reservationId],
  'root-device-name': (i) => [i.rootDeviceName],
  'root-device-type': () => ['ebs'],
  'subnet-id': (i) => [i.subnetId],
  'vpc-id': () => [DEFAULT_VPC],
  'instance.group-id': (i) => i.securityGroupIds,
  'block-device-mapping.volume-id': (i) => i.volumes.map((v) => v.volumeId),
  'block-device-mapping.device-name': (i) => i.volumes.map((v) => v.device),
};

const existingInstance = (ctx: ServiceContext, instanceId: string): InstanceRecord => {
  checkId('i', instanceId);
  const instance = ctx.store.get<InstanceRecord>(Ec2Table.Instances, instanceId);
  if (!instance) throw notFound('i', instanceId);
  return instance;
};

/** All ids must exist; AWS names every unknown id in one error. */
const existingInstances = (ctx: ServiceContext, instanceIds: readonly string[]): InstanceRecord[] => {
  for (const id of instanceIds) checkId('i', id);
  const missing = instanceIds.filter((id) => !ctx.store.get(Ec2Table.Instances, id));
  if (missing.length > 0) {
    throw new AwsError(
      'InvalidInstanceID.NotFound',
      `The instance ID${missing.length > 1 ? 's' : ''} '${missing.join(', ')}' ${missing.length > 1 ? 'do' : 'does'} not exist`,
    );
  }
  return [...new Set(instanceIds)].map((id) => existingInstance(ctx, id));
};

const describeInstances: QueryAction = (params, ctx) => {
  const instanceIds = idList(params, 'InstanceId');
  const page = readPage(params, 'instanceIdsSet', instanceIds.length);
  const matches = compileFilters<InstanceRecord>(
    filters(params),
    (instance, name) => INSTANCE_FILTERS[name]?.(instance),
    (name) => name in INSTANCE_FILTERS,
  );
  const source =
    instanceIds.length > 0
      ? existingInstances(ctx, instanceIds)
      : ctx.store.table<InstanceRecord>(Ec2Table.Instances).values();
  const { items, nextToken } = paginate(source, matches, page);
  const reservations = new Map<string, InstanceRecord[]>();
  for (const instance of items) {
    const group = reservations.get(instance.reservationId) ?? [];
    group.push(instance);
    reservations.set(instance.reservationId, group);
  }
  return {
    reservationSet: [...reservations].map(([reservationId, instances]) =>
      renderReservation(ctx, reservationId, instances),
    ),
    nextToken,
  };
};

// ---------------------------------------------------------------- state changes

type Transition = (
  instance: InstanceRecord,
) => { state: InstanceState; seconds?: number; startedAt?: string } | 'unchanged';

const changeStates = (params: QueryParams, ctx: ServiceContext, transition: Transition): Record<string, XmlValue> => {
  const instanceIds = idList(params, 'InstanceId');
  if (instanceIds.length === 0) throw missingParameter('InstanceId');
  const instances = existingInstances(ctx, instanceIds);
  const changes = instances.map((instance) => ({ instance, next: transition(instance) }));
  const moving: string[] = [];
  ctx.transact((tx) => {
    for (const { instance, next } of changes) {
      if (next === 'unchanged') continue;
      const { stateUntil: _old, ...rest } = instance;
      if (instance.state === 'running' && next.state !== 'running') recordRunEnd(tx, instance, nowIso(ctx));
      tx.put<InstanceRecord>(Ec2Table.Instances, instance.instanceId, {
        ...rest,
        state: next.state,
        ...(next.seconds === undefined ? {} : { stateUntil: secondsFrom(ctx, next.seconds) }),
        ...(next.startedAt === undefined ? {} : { startedAt: next.startedAt }),
      });
      if (next.seconds !== undefined) moving.push(instance.instanceId);
    }
  });
  for (const id of moving) trackInstance(ctx, id);
  for (const { instance, next } of changes) {
    if (next !== 'unchanged') emitStateChange(ctx, instance.instanceId, next.state);
  }
  return {
    instancesSet: changes.map(({ instance, next }) => ({
      instanceId: instance.instanceId,
      currentState: renderState(next === 'unchanged' ? instance.state : next.state),
      previousState: renderState(instance.state),
    })),
  };
};

const incorrectState = (instance: InstanceRecord, verb: string): AwsError =>
  new AwsError(
    'IncorrectInstanceState',
    `This instance '${instance.instanceId}' is not in a state from which it can be ${verb}.`,
  );

const stopInstances: QueryAction = (params, ctx) =>
  changeStates(params, ctx, (instance) => {
    if (instance.state === 'running') return { state: 'stopping', seconds: TIMINGS.stopping };
    if (instance.state === 'stopping' || instance.state === 'stopped') return 'unchanged';
    throw incorrectState(instance, 'stopped');
  });

const startInstances: QueryAction = (params, ctx) =>
  changeStates(params, ctx, (instance) => {
    // A start is a new boot of the guest (cloud-init, apt's boot-time runs: src/guest).
    if (instance.state === 'stopped') return { state: 'pending', seconds: TIMINGS.pending, startedAt: nowIso(ctx) };
    if (instance.state === 'pending' || instance.state === 'running') return 'unchanged';
    throw incorrectState(instance, 'started');
  });

const terminateInstances: QueryAction = (params, ctx) => {
  const result = changeStates(params, ctx, (instance) => {
    if (instance.state === 'shutting-down' || instance.state === 'terminated') return 'unchanged';
    return { state: 'shutting-down', seconds: TIMINGS.shuttingDown };
  });
  // The root volume goes with the instance, and so does its guest (what runs there is stopped).
  for (const instanceId of idList(params, 'InstanceId')) removeInstanceGuest(ctx.store.dir, instanceId);
  return result;
};

export const instanceActions: Readonly<Record<string, QueryAction>> = {
  RunInstances: runInstances,
  DescribeInstances: describeInstances,
  StopInstances: stopInstances,
  StartInstances: startInstances,
  TerminateInstances: terminateInstances,
};
