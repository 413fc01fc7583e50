/**
 * The EC2 records the sandbox keeps, shared by its EC2 actions and by the services that look at
 * EC2 (SSM validates `aws:ec2:image` parameters against images and lists instances launched with
 * an instance profile as managed instances). Store tables are named by `Ec2Table`.
 *
 * Records are plain JSON: times are ISO strings on the sandbox clock.
 */
import { randomBytes } from 'node:crypto';
import type { GuestOs } from '../../guest/catalog';

export const Ec2Table = {
  Images: 'ec2.images',
  Snapshots: 'ec2.snapshots',
  Volumes: 'ec2.volumes',
  Instances: 'ec2.instances',
  LaunchTemplates: 'ec2.launchTemplates',
  LaunchTemplateVersions: 'ec2.launchTemplateVersions',
} as const;

/** The owner id of the seeded public images ("amazon"). */
export const AMAZON_OWNER_ID = '137112412989';

export type Tags = Record<string, string>;

/** `ami-` + 17 hex, as AWS ids look. */
export const newId = (prefix: 'ami' | 'snap' | 'vol' | 'i' | 'lt' | 'r' | 'eni'): string =>
  `${prefix}-${randomBytes(9).toString('hex').slice(0, 17)}`;

/**
 * The Linux guest an image or instance carries (src/guest): its OS, release and package
 * architecture, and where its root comes from: the root CreateImage captured for `rootImageId`,
 * or (absent) the seeded root of the OS and release.
 */
export interface GuestRef {
  readonly os: GuestOs;
  readonly release: string;
  readonly arch: string;
  readonly rootImageId?: string;
}

export interface BlockDeviceMappingRecord {
  readonly deviceName: string;
  readonly ebs?: {
    readonly snapshotId: string;
    readonly volumeSize: number;
    readonly volumeType: string;
    readonly deleteOnTermination: boolean;
    readonly encrypted: boolean;
    readonly kmsKeyId?: string;
  };
}

export interface ImageRecord extends Record<string, unknown> {
  readonly imageId: string;
  readonly ownerId: string;
  /** Alias for public images owned by Amazon ('amazon'); absent for account-owned images. */
  readonly imageOwnerAlias?: string;
  readonly name: string;
  readonly description?: string;
  readonly state: 'pending' | 'available' | 'failed' | 'disabled' | 'deregistered';
  /** When a pending image becomes available (sandbox clock, ISO). */
  readonly availableAt?: string;
  readonly creationDate: string;
  readonly architecture: 'x86_64' | 'arm64';
  readonly platform?: 'windows';
  readonly platformDetails: string;
  readonly rootDeviceName: string;
  readonly rootDeviceType: 'ebs';
  readonly virtualizationType: 'hvm';
  readonly enaSupport: boolean;
  readonly blockDeviceMappings: readonly BlockDeviceMappingRecord[];
  readonly isPublic: boolean;
  /** Account ids with launch permission (besides the owner). */
  readonly launchPermissions: readonly string[];
  readonly deprecationTime?: string;
  readonly deregistrationProtection?: 'enabled' | 'enabled-with-cooldown' | 'disabled';
  readonly lastLaunchedTime?: string;
  /** The instance an image was created from, for DescribeImageReferences and lineage. */
  readonly sourceInstanceId?: string;
  readonly sourceImageId?: string;
  readonly sourceRegion?: string;
  /** The region the image lives in (CreateImage, CopyImage); absent: seeded, seen in every region. */
  readonly region?: string;
  /** CopyImage's ClientToken: the same token gives back the same copy. */
  readonly clientToken?: string;
  readonly tags: Tags;
  /** Why a pending image will end `failed` (a KMS key the creator may not use: `kms.ts`). */
  readonly stateReason?: { readonly code: string; readonly message: string };
  /** Tags other accounts put on the image shared with them, by account (each sees only its own). */
  readonly sharedTags?: Readonly<Record<string, Tags>>;
  /** Linux images: the guest whose root instances launched from it start with. */
  readonly guest?: GuestRef;
}

export interface SnapshotRecord extends Record<string, unknown> {
  readonly snapshotId: string;
  readonly ownerId: string;
  readonly volumeId: string;
  readonly volumeSize: number;
  readonly state: 'pending' | 'completed' | 'error';
  readonly startTime: string;
  readonly progress: string;
  /** As AWS writes it for CreateImage: `Created by CreateImage(i-…) for ami-… from vol-…`. */
  readonly description: string;
  readonly encrypted: boolean;
  readonly kmsKeyId?: string;
  readonly tags: Tags;
}

export interface VolumeRecord extends Record<string, unknown> {
  readonly volumeId: string;
  readonly size: number;
  readonly snapshotId?: string;
  readonly volumeType: string;
  readonly encrypted: boolean;
  readonly kmsKeyId?: string;
  readonly state: 'creating' | 'available' | 'in-use' | 'deleting' | 'deleted';
  readonly attachedTo?: { readonly instanceId: string; readonly device: string; readonly deleteOnTermination: boolean };
  readonly tags: Tags;
}

export type InstanceState = 'pending' | 'running' | 'stopping' | 'stopped' | 'shutting-down' | 'terminated';

export interface InstanceRecord extends Record<string, unknown> {
  readonly instanceId: string;
  readonly reservationId: string;
  readonly imageId: string;
  readonly instanceType: string;
  readonly state: InstanceState;
  /** When the current transitional state ends (sandbox clock, ISO). */
  readonly stateUntil?: string;
  readonly launchTime: string;
  readonly subnetId?: string;
  readonly securityGroupIds: readonly string[];
  /** Instance profile name or ARN it was launched with; SSM lists such instances as managed. */
  readonly iamInstanceProfile?: string;
  readonly platform?: 'windows';
  readonly architecture: 'x86_64' | 'arm64';
  readonly rootDeviceName: string;
  readonly metadataOptions: {
    readonly httpTokens: 'required' | 'optional';
    readonly httpEndpoint: 'enabled' | 'disabled';
  };
  /** Volumes attached, by device name. */
  readonly volumes: readonly { readonly device: string; readonly volumeId: string }[];
  readonly privateIpAddress: string;
  readonly launchTemplate?: { readonly id: string; readonly version: string };
  readonly clientToken?: string;
  readonly terminatedAt?: string;
  /**
   * Why a launch fails (a KMS key the caller may not use: `kms.ts`): the instance goes from pending
   * to shutting-down and terminated instead of running, and shows this as its state reason.
   */
  readonly launchFailure?: { readonly code: string; readonly message: string };
  readonly tags: Tags;
  /** Linux instances: the guest Run Command scripts run in (from the image at launch). */
  readonly guest?: GuestRef;
  /** When the instance was last started after a stop (its boot begins then); absent: launchTime. */
  readonly startedAt?: string;
}

export interface LaunchTemplateRecord extends Record<string, unknown> {
  readonly launchTemplateId: string;
  readonly launchTemplateName: string;
  readonly createTime: string;
  readonly createdBy: string;
  readonly defaultVersionNumber: number;
  readonly latestVersionNumber: number;
  readonly tags: Tags;
}

export interface LaunchTemplateVersionRecord extends Record<string, unknown> {
  readonly launchTemplateId: string;
  readonly versionNumber: number;
  readonly versionDescription?: string;
  readonly createTime: string;
  /**
   * The launch template data as sent (lowerCamel JSON of RequestLaunchTemplateData). `imageId`
   * may be `resolve:ssm:<parameter>`; DescribeLaunchTemplateVersions resolves it on request.
   */
  readonly data: Record<string, unknown>;
}

export const launchTemplateVersionKey = (launchTemplateId: string, version: number): string =>
  `${launchTemplateId}#${version}`;
