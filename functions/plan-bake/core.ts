/**
 * Plans one bake: validates the request, resolves the source image, computes the bake key and
 * decides between "skip" (an available image already has this key) and "bake" (with the family
 * lock held and every automation parameter filled in). The decision that a key is not yet baked is
 * made while this bake holds the family lock (state table, commons/state-table.ts): looked at
 * before, two concurrent requests for a never-baked key would both bake it.
 *
 * The bake key holds the *resolved* source AMI id, the document's content hash and the normalized
 * parameters, never a label such as "latest": a new upstream image or a changed document is a new
 * key (Spinnaker's Rosco cached by label and served stale images).
 *
 * The same holds for the Amazon Linux 2023 release a bake upgrades to. AL2023 locks every image to
 * one release (https://docs.aws.amazon.com/linux/al2023/ug/deterministic-upgrades-usage.html), so
 * a child family built on an unchanged parent would find nothing new unless it moves to a newer
 * release: the key holds the release the bake targets. A pinned release is its own target. For
 * `latest`, the target is the release of AWS's newest AL2023 AMI, read from the public parameter
 * AWS keeps for it (`/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-<arch>`,
 * https://docs.aws.amazon.com/linux/al2023/ug/ec2.html) and the release in that image's name
 * (`al2023-ami-2023.9.20261122.0-kernel-6.1-x86_64`): AWS publishes an AMI with every release, it
 * is what the PlanBake role may already read, and it needs no network path to the repository.
 * The builder itself runs `dnf upgrade --releasever=latest`, which takes the newest release in
 * the repository: never older than the target, newer only when the repository is ahead of the
 * AMIs, and the bake's report records the release the image really reached.
 */
import { DescribeImagesCommand, type EC2Client, type Image } from '@aws-sdk/client-ec2';
import { DescribeExecutionCommand, type SFNClient } from '@aws-sdk/client-sfn';
import { GetParameterCommand, type SSMClient } from '@aws-sdk/client-ssm';
import {
  type AwsTag,
  type BakePlan,
  type DocumentParameters,
  type ReleaseTarget,
  type SkipPlan,
  Tag,
} from '../commons/bake-plan';
import { describeImage } from '../commons/channels';
import {
  errorNameOf,
  FamilyBusyError,
  InvalidBakeRequestError,
  SourceImageNotFoundError,
  UnknownFamilyError,
} from '../commons/errors';
import { type BakeRequest, bakeRequestSchema, describeIssues, parseContract } from '../commons/events';
import type { BakehouseConfig, Family } from '../commons/families';
import { CANDIDATE_CHANNEL, channelParameterName, findFamily } from '../commons/family-lookup';
import { canonicalJson, sha256Hex, uuidFrom } from '../commons/hashing';
import { newestImage } from '../commons/newest-image';
import type { LogPort } from '../commons/powertools';
import { familyDocumentValues, releasePolicyOf, releaseVersionOf } from '../commons/render';
import { epochSeconds, type Lock, type Locks, lockKey as lockKeyOf, recordKey } from '../commons/state-table';

export interface DocumentRef {
  readonly name: string;
  readonly sha256: string;
}

export interface PlanBakeSettings {
  readonly region: string;
  readonly documents: { readonly linux: DocumentRef; readonly windows: DocumentRef };
  readonly automationRoleArn: string;
  readonly builderInstanceProfile: string;
  /** How long one WaitForAutomation period lasts (its TimeoutSeconds). */
  readonly automationWaitSeconds: number;
  /** Used to tell a live lock holder from a dead one. */
  readonly stateMachineArn: string;
}

export interface PlanBakeDeps {
  readonly config: BakehouseConfig;
  readonly settings: PlanBakeSettings;
  readonly ec2: Pick<EC2Client, 'send'>;
  readonly ssm: Pick<SSMClient, 'send'>;
  readonly sfn: Pick<SFNClient, 'send'>;
  /** The family lock, in the state table (commons/state-table.ts). */
  readonly locks: Pick<Locks, 'acquire' | 'takeOver' | 'release'>;
  /** The image a `record#baked#<bakeKey>` record names (a strongly consistent read), if one does. */
  readonly bakedKeyImage: (recordKey: string) => Promise<string | undefined>;
  readonly clock: () => Date;
  readonly logger: LogPort;
}

export interface PlanBakeInput {
  readonly bakeId: string;
  readonly request: unknown;
}

/** Values that differ on every bake and so must stay out of the bake key. */
const PER_BAKE_PARAMETERS = new Set([
  'AutomationAssumeRole',
  'BakeId',
  'BuilderExpiresAt',
  'ImageName',
  'ImageDescription',
]);

/**
 * How long the record that a bake key is baked is kept: it only has to outlast EC2's eventual
 * consistency for the image's tags (seconds to minutes); after that the tag finds the image.
 */
const BAKED_KEY_RECORD_DAYS = 7;

/** The lock stays valid this long after a bake's own timeout, in case its cleanup never ran. */
const LOCK_GRACE_MINUTES = 30;

/** How often a lock that vanished between a failed put and the read is tried again before waiting. */
const ACQUIRE_ATTEMPTS = 3;

/** The family lock's key in the state table. */
export const familyLockKey = (family: string): string => lockKeyOf('family', family);

/**
 * Gives the lock back when this bake turns out to have nothing to do. A lost condition (someone
 * took the lock over meanwhile) is logged by the lock module and changes nothing here: the skip
 * stands, and the lock is not this bake's to delete.
 */
const releaseFamilyLock = async (key: string, bakeId: string, deps: PlanBakeDeps): Promise<void> => {
  await deps.locks.release(key, bakeId);
};

interface ResolvedSource {
  readonly image: Image & { ImageId: string };
  readonly parentFamily: string | null;
  readonly description: string;
}

export const planBake = async (input: PlanBakeInput, deps: PlanBakeDeps): Promise<BakePlan> => {
  const request = parseRequest(input.request);
  const family = findFamily(deps.config, request.family);
  if (!family) {
    const known = deps.config.families.map((f) => f.name).join(', ');
    throw new UnknownFamilyError(`family: no family named '${request.family}'. Fix: use one of ${known}`);
  }
  const now = deps.clock();
  const source = await resolveSource(family, deps);
  const release = await resolveRelease(family, source, deps);
  const documentRef = deps.settings.documents[family.os];
  const parameters = documentParameters(family, source.image, input.bakeId, now, deps, release);
  const bakeKey = computeBakeKey(source.image.ImageId, documentRef, parameters, release?.target ?? null);
  const base = {
    bakeId: input.bakeId,
    family: family.name,
    os: family.os,
    region: deps.settings.region,
    request,
    sourceAmiId: source.image.ImageId,
    parentFamily: source.parentFamily,
    release,
    bakeKey,
    plannedAt: now.toISOString(),
  };

  // A cheap first look: a key already baked is skipped without waiting for the lock. It cannot
  // prove the key is *not* baked (another bake of it may be running), so the look that decides is
  // the one below, made while this bake holds the lock.
  const skip = (existingAmiId: string): SkipPlan => {
    deps.logger.info('bake key already baked; skipping', { bakeKey, existingAmiId });
    return { ...base, action: 'skip', existingAmiId };
  };
  if (!request.force) {
    const existing = await findBakedImage(bakeKey, deps);
    if (existing) return skip(existing);
  }

  const lockKey = familyLockKey(family.name);
  await acquireFamilyLock(lockKey, input.bakeId, family, now, deps);
  const bakedKeyRecord = recordKey('baked', bakeKey);
  if (!request.force) {
    // The bake that held the lock before may have just baked this key. It records that in the
    // state table before it releases the lock (bake.asl.json: RecordBakedKey, ReleaseFamilyLock),
    // and that read is consistent; its image's bake-key tag may not show in EC2's tag filter yet
    // (EC2 is eventually consistent), so the tag is only the fallback (a record that failed or expired).
    const existing = (await recordedImage(bakedKeyRecord, deps)) ?? (await findBakedImage(bakeKey, deps));
    if (existing) {
      await releaseFamilyLock(lockKey, input.bakeId, deps);
      return skip(existing);
    }
  }

  const imageName = parameters.ImageName?.[0] ?? '';
  return {
    ...base,
    action: 'bake',
    documentName: documentRef.name,
    documentParameters: parameters,
    clientToken: uuidFrom(`bakehouse:${input.bakeId}`),
    imageName,
    imageTags: imageTags(family, request, source, bakeKey, input.bakeId, imageName),
    candidateParameterName: channelParameterName(deps.config.settings, family.name, CANDIDATE_CHANNEL),
    lockKey,
    bakedKeyRecord,
    bakedKeyExpiresAt: String(epochSeconds(new Date(now.getTime() + BAKED_KEY_RECORD_DAYS * 86_400_000))),
    maxWaits: Math.max(1, Math.ceil((family.builder.timeoutMinutes * 60) / deps.settings.automationWaitSeconds)),
  };
};

const parseRequest = (raw: unknown): BakeRequest => {
  const parsed = parseContract(bakeRequestSchema, raw);
  if (!parsed.success) throw new InvalidBakeRequestError(`invalid bake request: ${describeIssues(parsed.error)}`);
  return parsed.data;
};

const resolveSource = async (family: Family, deps: PlanBakeDeps): Promise<ResolvedSource> => {
  const { source } = family;
  if ('ssmParameter' in source) {
    const amiId = await readParameter(source.ssmParameter, deps);
    if (!amiId) {
      throw new SourceImageNotFoundError(
        `family '${family.name}': source.ssmParameter '${source.ssmParameter}' does not exist in ${deps.settings.region}. Fix: check the parameter path and the region`,
      );
    }
    return {
      image: await describeSourceImage(amiId, family, deps),
      parentFamily: null,
      description: source.ssmParameter,
    };
  }
  if ('amiFilter' in source) {
    const newest = await newestImage(deps.ec2, source.amiFilter.owners, source.amiFilter.filters);
    if (!newest) {
      throw new SourceImageNotFoundError(
        `family '${family.name}': source.amiFilter matches no available image. Fix: check the owners and filters`,
      );
    }
    checkArchitecture(newest, family);
    return { image: newest, parentFamily: null, description: `filter ${canonicalJson(source.amiFilter)}` };
  }
  const parameterName = channelParameterName(deps.config.settings, source.family, source.channel);
  const amiId = await readParameter(parameterName, deps);
  if (!amiId) {
    throw new SourceImageNotFoundError(
      `family '${family.name}': its parent '${source.family}' has no image in channel '${source.channel}' yet. Fix: bake and promote '${source.family}' first`,
    );
  }
  return {
    image: await describeSourceImage(amiId, family, deps),
    parentFamily: source.family,
    description: `${source.family}/${source.channel}`,
  };
};

/** The public parameter that names AWS's newest Amazon Linux 2023 AMI for an architecture. */
export const latestAl2023Parameter = (architecture: string): string =>
  `/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-${architecture}`;

/** The release in an AL2023 AMI's name: `al2023-ami-2023.9.20261122.0-kernel-6.1-x86_64` → `2023.9.20261122`. */
export const releaseInImageName = (name: string | undefined): string | undefined => {
  const version = /^al2023-ami-(?:minimal-)?(\d{4}\.\d+\.\d{8}(?:\.\d+)?)-/.exec(name ?? '')?.[1];
  return version === undefined ? undefined : releaseVersionOf(version);
};

const resolveRelease = async (
  family: Family,
  source: ResolvedSource,
  deps: PlanBakeDeps,
): Promise<ReleaseTarget | null> => {
  const policy = releasePolicyOf(family, deps.config.families);
  if (policy === null) return null;
  if (policy !== 'latest') return { policy: 'pinned', target: policy };
  const parameter = latestAl2023Parameter(family.architecture);
  const sameAsSource = 'ssmParameter' in family.source && family.source.ssmParameter === parameter;
  let name = sameAsSource ? source.image.Name : undefined;
  if (!sameAsSource) {
    const amiId = await readParameter(parameter, deps);
    if (amiId) name = (await describeSourceImage(amiId, family, deps)).Name;
  }
  const target = releaseInImageName(name);
  if (!target) {
    throw new SourceImageNotFoundError(
      `family '${family.name}': patch.release is 'latest', but the newest Amazon Linux 2023 release could not be read from ${parameter} (image name '${name ?? 'none'}'). Fix: pin patch.release to a release version such as '2023.9.20261122.0', or check that the parameter exists in ${deps.settings.region}`,
    );
  }
  return { policy: 'latest', target };
};

const readParameter = async (name: string, deps: PlanBakeDeps): Promise<string | undefined> => {
  try {
    const result = await deps.ssm.send(new GetParameterCommand({ Name: name }));
    return result.Parameter?.Value;
  } catch (error) {
    if (errorNameOf(error) === 'ParameterNotFound') return undefined;
    throw error;
  }
};

const describeSourceImage = async (
  amiId: string,
  family: Family,
  deps: PlanBakeDeps,
): Promise<Image & { ImageId: string }> => {
  let image: Image | undefined;
  try {
    const result = await deps.ec2.send(new DescribeImagesCommand({ ImageIds: [amiId] }));
    image = result.Images?.[0];
  } catch (error) {
    const name = errorNameOf(error);
    if (name !== 'InvalidAMIID.NotFound' && name !== 'InvalidAMIID.Unavailable' && name !== 'InvalidAMIID.Malformed') {
      throw error;
    }
  }
  if (!image?.ImageId || image.State !== 'available') {
    throw new SourceImageNotFoundError(
      `family '${family.name}': source image ${amiId} is ${image?.State ?? 'not found'}, not available. Fix: point the source at an available image`,
    );
  }
  checkArchitecture(image, family);
  return image as Image & { ImageId: string };
};

const checkArchitecture = (image: Image, family: Family): void => {
  if (image.Architecture && image.Architecture !== family.architecture) {
    throw new SourceImageNotFoundError(
      `family '${family.name}': source image ${image.ImageId} is ${image.Architecture} but the family is ${family.architecture}. Fix: set architecture or pick a matching source`,
    );
  }
};

/**
 * The image a baked-key record names, when it still exists and is available: a record of an image
 * since deregistered (the janitor) or failed does not stop a new bake.
 */
const recordedImage = async (key: string, deps: PlanBakeDeps): Promise<string | undefined> => {
  const amiId = await deps.bakedKeyImage(key);
  if (!amiId) return undefined;
  return (await describeImage(amiId, deps.ec2))?.State === 'available' ? amiId : undefined;
};

const findBakedImage = async (bakeKey: string, deps: PlanBakeDeps): Promise<string | undefined> => {
  const found = await newestImage(deps.ec2, ['self'], { [`tag:${Tag.BakeKey}`]: [bakeKey] });
  return found?.ImageId;
};

const compactTimestamp = (date: Date): string =>
  date
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');

export const documentParameters = (
  family: Family,
  image: Image & { ImageId: string },
  bakeId: string,
  now: Date,
  deps: Pick<PlanBakeDeps, 'settings' | 'config'>,
  release: ReleaseTarget | null = null,
): DocumentParameters => {
  const { builder } = family;
  const expiresAt = new Date(now.getTime() + deps.config.settings.builderExpiryHours * 3_600_000);
  const values: Record<string, string> = {
    AutomationAssumeRole: deps.settings.automationRoleArn,
    SourceAmiId: image.ImageId,
    InstanceType: builder.instanceType,
    SubnetId: builder.subnetId,
    IamInstanceProfileName: builder.instanceProfile ?? deps.settings.builderInstanceProfile,
    RootDeviceName: image.RootDeviceName ?? (family.os === 'windows' ? '/dev/sda1' : '/dev/xvda'),
    VolumeSize: String(builder.volumeSizeGiB ?? rootVolumeSize(image) ?? (family.os === 'windows' ? 50 : 8)),
    Encrypted: 'true',
    KmsKeyId: builder.kmsKeyId,
    HttpTokens: builder.requireImdsv2 ? 'required' : 'optional',
    BakeId: bakeId,
    Family: family.name,
    BuilderExpiresAt: expiresAt.toISOString(),
    ImageName: `bakehouse/${family.name}/${compactTimestamp(now)}-${sha256Hex(bakeId).slice(0, 6)}`,
    ImageDescription: `${family.name} baked by Bakehouse from ${image.ImageId}`.slice(0, 255),
    ...familyDocumentValues(family),
    // latest, or the pinned release; the bake key holds the resolved target (computeBakeKey).
    ReleaseVersion: releasePolicyOf(family, deps.config.families) ?? '',
    ReleaseTarget: release?.target ?? '',
  };
  // Empty values are left out: the documents default them to '' and SSM rejects some empty lists.
  const parameters: DocumentParameters = {
    SecurityGroupIds: [...builder.securityGroupIds],
  };
  for (const [key, value] of Object.entries(values)) {
    if (value !== '') parameters[key] = [value];
  }
  return parameters;
};

const rootVolumeSize = (image: Image): number | undefined =>
  image.BlockDeviceMappings?.find((m) => m.DeviceName === image.RootDeviceName)?.Ebs?.VolumeSize;

export const computeBakeKey = (
  sourceAmiId: string,
  document: DocumentRef,
  parameters: DocumentParameters,
  release: string | null = null,
): string => {
  const normalized = Object.fromEntries(Object.entries(parameters).filter(([key]) => !PER_BAKE_PARAMETERS.has(key)));
  const key = { sourceAmiId, document: { name: document.name, sha256: document.sha256 }, normalized };
  // Families without a release keep the key they had: the release is added only where there is one.
  return sha256Hex(canonicalJson(release === null ? key : { ...key, release }));
};

/**
 * Takes the family lock in the state table (commons/state-table.ts): one conditional PutItem, so of
 * any number of concurrent planners exactly one holds it. A lock that is held by a stale bake
 * (expired, or its execution no longer running) is taken over with a PutItem conditional on that
 * very holder, so of several planners that judged it stale, one wins and the others wait. A lock
 * that vanished between the failed put and the read is simply tried again: it was released, not
 * abandoned, and is never taken over blindly.
 */
const acquireFamilyLock = async (key: string, bakeId: string, family: Family, now: Date, deps: PlanBakeDeps) => {
  const expiresAt = new Date(now.getTime() + (family.builder.timeoutMinutes + LOCK_GRACE_MINUTES) * 60_000);
  for (let attempt = 1; ; attempt++) {
    const result = await deps.locks.acquire(key, bakeId, expiresAt);
    if (result.acquired) return;
    const { holder } = result;
    if (holder === undefined) {
      if (attempt < ACQUIRE_ATTEMPTS) continue;
      throw new FamilyBusyError(
        `family '${family.name}': its lock changed hands ${ACQUIRE_ATTEMPTS} times while this bake tried to take it; this bake waits`,
      );
    }
    if (!(await isStale(holder, now, deps))) {
      throw new FamilyBusyError(
        `family '${family.name}' is being baked by ${holder.owner} (since ${holder.acquiredAt}); this bake waits for it`,
      );
    }
    deps.logger.warn('taking over a stale family lock', {
      family: family.name,
      previous: { owner: holder.owner, acquiredAt: holder.acquiredAt, expiresAt: holder.expiresAt.toISOString() },
    });
    const takeOver = await deps.locks.takeOver(key, holder.owner, bakeId, expiresAt);
    if (takeOver.acquired) return;
    throw new FamilyBusyError(
      `family '${family.name}': another bake (${takeOver.holder?.owner ?? 'since released'}) took over the stale lock of ${holder.owner} first; this bake waits`,
    );
  }
};

/** A lock is stale when it expired, or when the execution that took it is no longer running. */
const isStale = async (holder: Lock, now: Date, deps: PlanBakeDeps): Promise<boolean> => {
  if (holder.expired || holder.expiresAt.getTime() <= now.getTime()) return true;
  const executionArn = `${deps.settings.stateMachineArn.replace(':stateMachine:', ':execution:')}:${holder.owner}`;
  try {
    const execution = await deps.sfn.send(new DescribeExecutionCommand({ executionArn }));
    return execution.status !== 'RUNNING';
  } catch (error) {
    if (errorNameOf(error) === 'ExecutionDoesNotExist') return true;
    throw error;
  }
};

const imageTags = (
  family: Family,
  request: BakeRequest,
  source: ResolvedSource,
  bakeKey: string,
  bakeId: string,
  imageName: string,
): AwsTag[] => {
  const tags: AwsTag[] = [
    { Key: 'Name', Value: imageName },
    { Key: Tag.Managed, Value: 'true' },
    { Key: Tag.Family, Value: family.name },
    { Key: Tag.BakeId, Value: bakeId },
    { Key: Tag.BakeKey, Value: bakeKey },
    { Key: Tag.SourceAmi, Value: source.image.ImageId },
    { Key: Tag.Os, Value: family.os },
    { Key: Tag.RequestedBy, Value: request.requestedBy.slice(0, 256) },
  ];
  if (source.parentFamily) tags.push({ Key: Tag.ParentFamily, Value: source.parentFamily });
  // A family's own tag cannot repeat a key Bakehouse writes (EC2 refuses duplicate keys, and the
  // lineage tags are what the janitor trusts), so the system's value wins.
  const written = new Set(tags.map((t) => t.Key));
  const own = Object.entries(family.tags)
    .filter(([Key]) => !written.has(Key))
    .map(([Key, Value]) => ({ Key, Value }));
  return [...own, ...tags];
};
