/**
 * The seeded public world of EC2: public AMIs owned by Amazon's owner id, each with a completed
 * snapshot, under fixed ids the SSM public parameters point at. Idempotent: runs at every start
 * and only adds what is missing.
 */
import { AL2023_BASE_RELEASE, seededGuest } from '../../guest';
import type { GuestOs } from '../../guest/catalog';
import type { ServiceContext } from '../../service';
import { AMAZON_OWNER_ID, Ec2Table, type ImageRecord, type SnapshotRecord } from './model';

interface SeededPublicImage {
  /** A stable name for the image family, for the SSM seed. */
  readonly key: string;
  readonly imageId: string;
  readonly name: string;
  readonly architecture: 'x86_64' | 'arm64';
  readonly platform?: 'windows';
  readonly rootDeviceName: string;
  /**
   * Linux images: the guest their instances run Run Command scripts in (src/guest/catalog.ts has
   * its packages): Amazon Linux 2023 locked to the AMI's release, Ubuntu 24.04 noble.
   */
  readonly guest?: { readonly os: GuestOs; readonly release: string };
}

interface SeedSpec extends SeededPublicImage {
  readonly snapshotId: string;
  readonly description: string;
  readonly volumeSize: number;
  readonly creationDate: string;
  readonly deprecationTime: string;
}

const LINUX_CREATED = '2026-11-01T18:32:14.000Z';
const WINDOWS_CREATED = '2026-11-12T21:04:37.000Z';
const twoYearsLater = (iso: string): string => `${Number(iso.slice(0, 4)) + 2}${iso.slice(4, 16)}:00.000Z`;

const SPECS: readonly SeedSpec[] = [
  {
    key: 'al2023-x86_64',
    imageId: 'ami-0b5eed00000000001',
    snapshotId: 'snap-0b5eed00000000001',
    name: 'al2023-ami-2023.9.20261101.0-kernel-6.1-x86_64',
    description: 'Amazon Linux 2023 AMI 2023.9.20261101.0 x86_64 HVM kernel-6.1',
    architecture: 'x86_64',
    rootDeviceName: '/dev/xvda',
    guest: { os: 'al2023', release: AL2023_BASE_RELEASE },
    volumeSize: 8,
    creationDate: LINUX_CREATED,
    deprecationTime: twoYearsLater(LINUX_CREATED),
  },
  {
    key: 'al2023-arm64',
    imageId: 'ami-0b5eed00000000002',
    snapshotId: 'snap-0b5eed00000000002',
    name: 'al2023-ami-2023.9.20261101.0-kernel-6.1-arm64',
    description: 'Amazon Linux 2023 AMI 2023.9.20261101.0 arm64 HVM kernel-6.1',
    architecture: 'arm64',
    rootDeviceName: '/dev/xvda',
    guest: { os: 'al2023', release: AL2023_BASE_RELEASE },
    volumeSize: 8,
    creationDate: LINUX_CREATED,
    deprecationTime: twoYearsLater(LINUX_CREATED),
  },
  {
    key: 'ubuntu-24.04-amd64',
    imageId: 'ami-0b5eed00000000003',
    snapshotId: 'snap-0b5eed00000000003',
    name: 'ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-20261101',
    description: 'Canonical, Ubuntu, 24.04, amd64 noble image',
    architecture: 'x86_64',
    rootDeviceName: '/dev/sda1',
    guest: { os: 'ubuntu-noble', release: '24.04' },
    volumeSize: 8,
    creationDate: LINUX_CREATED,
    deprecationTime: twoYearsLater(LINUX_CREATED),
  },
  {
    key: 'windows-2022-english-full-base',
    imageId: 'ami-0b5eed00000000004',
    snapshotId: 'snap-0b5eed00000000004',
    name: 'Windows_Server-2022-English-Full-Base-2026.11.12',
    description: 'Microsoft Windows Server 2022 Full Locale English AMI provided by Amazon',
    architecture: 'x86_64',
    platform: 'windows',
    rootDeviceName: '/dev/sda1',
    volumeSize: 30,
    creationDate: WINDOWS_CREATED,
    deprecationTime: twoYearsLater(WINDOWS_CREATED),
  },
  {
    key: 'windows-2025-english-full-base',
    imageId: 'ami-0b5eed00000000005',
    snapshotId: 'snap-0b5eed00000000005',
    name: 'Windows_Server-2025-English-Full-Base-2026.11.12',
    description: 'Microsoft Windows Server 2025 Full Locale English AMI provided by Amazon',
    architecture: 'x86_64',
    platform: 'windows',
    rootDeviceName: '/dev/sda1',
    volumeSize: 30,
    creationDate: WINDOWS_CREATED,
    deprecationTime: twoYearsLater(WINDOWS_CREATED),
  },
];

/** An old Amazon Linux 2023 release, past its deprecation time: hidden unless asked for. */
const DEPRECATED: SeedSpec = {
  key: 'al2023-x86_64-2023.1',
  imageId: 'ami-0b5eed00000000006',
  snapshotId: 'snap-0b5eed00000000006',
  name: 'al2023-ami-2023.1.20230705.0-kernel-6.1-x86_64',
  description: 'Amazon Linux 2023 AMI 2023.1.20230705.0 x86_64 HVM kernel-6.1',
  architecture: 'x86_64',
  rootDeviceName: '/dev/xvda',
  // An old release: its guest is the oldest the sandbox has (the catalog knows two releases).
  guest: { os: 'al2023', release: AL2023_BASE_RELEASE },
  volumeSize: 8,
  creationDate: '2023-07-05T20:11:41.000Z',
  deprecationTime: '2025-07-05T20:11:00.000Z',
};

const imageRecord = (spec: SeedSpec): ImageRecord => ({
  imageId: spec.imageId,
  ownerId: AMAZON_OWNER_ID,
  imageOwnerAlias: 'amazon',
  name: spec.name,
  description: spec.description,
  state: 'available',
  creationDate: spec.creationDate,
  architecture: spec.architecture,
  ...(spec.platform === undefined ? {} : { platform: spec.platform }),
  platformDetails: spec.platform === 'windows' ? 'Windows' : 'Linux/UNIX',
  rootDeviceName: spec.rootDeviceName,
  rootDeviceType: 'ebs',
  virtualizationType: 'hvm',
  enaSupport: true,
  blockDeviceMappings: [
    {
      deviceName: spec.rootDeviceName,
      ebs: {
        snapshotId: spec.snapshotId,
        volumeSize: spec.volumeSize,
        volumeType: spec.platform === 'windows' ? 'gp2' : 'gp3',
        deleteOnTermination: true,
        encrypted: false,
      },
    },
  ],
  isPublic: true,
  launchPermissions: [],
  deprecationTime: spec.deprecationTime,
  deregistrationProtection: 'disabled',
  tags: {},
  ...(spec.guest === undefined ? {} : { guest: seededGuest(spec.guest.os, spec.guest.release, spec.architecture) }),
});

const snapshotRecord = (spec: SeedSpec): SnapshotRecord => ({
  snapshotId: spec.snapshotId,
  ownerId: AMAZON_OWNER_ID,
  volumeId: 'vol-ffffffff',
  volumeSize: spec.volumeSize,
  state: 'completed',
  startTime: spec.creationDate,
  progress: '100%',
  description: `Created by CreateImage for ${spec.imageId}`,
  encrypted: false,
  tags: {},
});

export const seedEc2 = (ctx: ServiceContext): void => {
  const missing = [...SPECS, DEPRECATED].filter(
    (spec) => !ctx.store.get(Ec2Table.Images, spec.imageId) || !ctx.store.get(Ec2Table.Snapshots, spec.snapshotId),
  );
  // Images seeded before they carried a guest get theirs (state kept from an older sandbox).
  const guestless = [...SPECS, DEPRECATED].filter((spec) => {
    const image = ctx.store.get<ImageRecord>(Ec2Table.Images, spec.imageId);
    return spec.guest !== undefined && image !== undefined && image.guest === undefined;
  });
  if (missing.length === 0 && guestless.length === 0) return;
  ctx.transact((tx) => {
    for (const spec of missing) {
      tx.put(Ec2Table.Images, spec.imageId, imageRecord(spec));
      tx.put(Ec2Table.Snapshots, spec.snapshotId, snapshotRecord(spec));
    }
    for (const spec of guestless) {
      const image = tx.get<ImageRecord>(Ec2Table.Images, spec.imageId);
      if (image && spec.guest) {
        tx.put<ImageRecord>(Ec2Table.Images, spec.imageId, {
          ...image,
          guest: seededGuest(spec.guest.os, spec.guest.release, spec.architecture),
        });
      }
    }
  });
};
