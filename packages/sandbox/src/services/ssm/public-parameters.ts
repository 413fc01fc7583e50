/**
 * The public `/aws/service/...` parameters Bakehouse's example families read, pointing at the
 * seeded public AMIs (owned by Amazon) that the EC2 service seeds first. Each parameter follows
 * the newest available Amazon-owned image whose name matches it, so re-seeding is idempotent and
 * a newer public image moves the parameter to a new version.
 */
import type { ServiceContext } from '../../service';
import { AMAZON_OWNER_ID, Ec2Table, type ImageRecord } from '../ec2/model';
import { PARAMETERS_TABLE, type ParameterRecord, type ParameterVersion } from './parameters';

interface PublicParameter {
  readonly name: string;
  readonly matches: (image: ImageRecord) => boolean;
}

const isLinux = (image: ImageRecord): boolean => image.platform !== 'windows';

export const PUBLIC_PARAMETERS: readonly PublicParameter[] = [
  {
    name: '/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64',
    matches: (image) => isLinux(image) && image.name.startsWith('al2023-ami-') && image.architecture === 'x86_64',
  },
  {
    name: '/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64',
    matches: (image) => isLinux(image) && image.name.startsWith('al2023-ami-') && image.architecture === 'arm64',
  },
  {
    name: '/aws/service/canonical/ubuntu/server/24.04/stable/current/amd64/hvm/ebs-gp3/ami-id',
    matches: (image) => isLinux(image) && /ubuntu.*(noble|24\.04)/i.test(image.name) && image.architecture === 'x86_64',
  },
  {
    name: '/aws/service/ami-windows-latest/Windows_Server-2022-English-Full-Base',
    matches: (image) => image.platform === 'windows' && image.name.startsWith('Windows_Server-2022-English-Full-Base'),
  },
  {
    name: '/aws/service/ami-windows-latest/Windows_Server-2025-English-Full-Base',
    matches: (image) => image.platform === 'windows' && image.name.startsWith('Windows_Server-2025-English-Full-Base'),
  },
];

const newestMatching = (images: readonly ImageRecord[], parameter: PublicParameter): ImageRecord | undefined =>
  images
    .filter(parameter.matches)
    .reduce<ImageRecord | undefined>(
      (newest, image) => (!newest || image.creationDate > newest.creationDate ? image : newest),
      undefined,
    );

const publicVersion = (ctx: ServiceContext, image: ImageRecord, version: number): ParameterVersion => ({
  version,
  value: image.imageId,
  type: 'String',
  dataType: 'aws:ec2:image',
  tier: 'Standard',
  lastModifiedDate: ctx.clock.now().toISOString(),
  lastModifiedUser: 'arn:aws:iam::aws:root',
});

/** Creates or moves the public parameters; writes nothing when they already point at the right images. */
export const seedPublicParameters = (ctx: ServiceContext): void => {
  const amazonImages: ImageRecord[] = [];
  for (const image of ctx.store.table<ImageRecord>(Ec2Table.Images).values()) {
    if (image.ownerId === AMAZON_OWNER_ID && image.state === 'available') amazonImages.push(image);
  }
  const changes: ParameterRecord[] = [];
  for (const parameter of PUBLIC_PARAMETERS) {
    const image = newestMatching(amazonImages, parameter);
    const existing = ctx.store.get<ParameterRecord>(PARAMETERS_TABLE, parameter.name);
    if (!image || existing?.value === image.imageId) continue;
    const version = publicVersion(ctx, image, (existing?.version ?? 0) + 1);
    changes.push({
      ...version,
      name: parameter.name,
      public: true,
      tags: {},
      history: [...(existing?.history ?? []), version].slice(-100),
    });
  }
  if (changes.length === 0) return;
  ctx.transact((tx) => {
    for (const record of changes) tx.put(PARAMETERS_TABLE, record.name, record);
  });
};
