/** `bakehouse images <family>` and `bakehouse lineage <ami-id>`: what the image tags remember. */
import { DescribeImagesCommand, type Image } from '@aws-sdk/client-ec2';
import { Tag } from '../../functions/commons/bake-plan';
import { describeImage, tagOf } from '../../functions/commons/channels';
import { CANDIDATE_CHANNEL } from '../../functions/commons/family-lookup';
import { eachPage } from '../../functions/commons/pages';
import { type CommandContext, say, sayJson } from '../context';
import { CliError } from '../errors';
import { localTime, orDash, type TreeNode, table, tree } from '../format';
import { channelsOf, requireAmiId, requireFamily } from './shared';

export interface ImageView {
  readonly amiId: string;
  readonly name: string | null;
  readonly family: string | null;
  readonly state: string | null;
  readonly createdAt: string | null;
  readonly sourceAmiId: string | null;
  readonly bakeId: string | null;
  /** passed | failed | running, or null when not tested. */
  readonly tested: string | null;
  readonly revoked: boolean;
  readonly revokedReason: string | null;
  /** Channels of its family pointing at it now. */
  readonly channels: string[];
  readonly tags: Record<string, string>;
}

const viewOf = (image: Image, channels: string[]): ImageView => ({
  amiId: image.ImageId ?? '',
  name: image.Name ?? null,
  family: tagOf(image, Tag.Family) ?? null,
  state: image.State ?? null,
  createdAt: image.CreationDate ?? null,
  sourceAmiId: tagOf(image, Tag.SourceAmi) ?? null,
  bakeId: tagOf(image, Tag.BakeId) ?? null,
  tested: tagOf(image, Tag.Tested) ?? null,
  revoked: tagOf(image, Tag.Revoked) === 'true',
  revokedReason: tagOf(image, Tag.RevokedReason) ?? null,
  channels,
  tags: Object.fromEntries((image.Tags ?? []).map((t) => [t.Key ?? '', t.Value ?? ''])),
});

const managedImages = async (ctx: CommandContext, filters: { Name: string; Values: string[] }[]): Promise<Image[]> => {
  const images: Image[] = [];
  for await (const page of eachPage((NextToken) =>
    ctx.clients.ec2.send(
      new DescribeImagesCommand({
        Owners: ['self'],
        Filters: filters,
        IncludeDeprecated: true,
        IncludeDisabled: true,
        NextToken,
      }),
    ),
  )) {
    images.push(...(page.Images ?? []));
  }
  return images;
};

/** Channel → AMI of every channel of a family (candidate included). */
const channelMap = async (ctx: CommandContext, family: string): Promise<Map<string, string[]>> => {
  const known = ctx.config.families.find((f) => f.name === family);
  const byAmi = new Map<string, string[]>();
  if (!known) return byAmi;
  const channels = channelsOf(ctx);
  for (const channel of [CANDIDATE_CHANNEL, ...known.channels.map((c) => c.name)]) {
    const ami = await channels.readChannel(family, channel);
    if (ami) byAmi.set(ami, [...(byAmi.get(ami) ?? []), channel]);
  }
  return byAmi;
};

export const renderImages = (images: readonly ImageView[]): string =>
  images.length === 0
    ? 'no images'
    : table(images, [
        { header: 'AMI', value: (i) => i.amiId },
        { header: 'CREATED (LOCAL)', value: (i) => localTime(i.createdAt) },
        { header: 'STATE', value: (i) => orDash(i.state) },
        { header: 'TESTED', value: (i) => orDash(i.tested) },
        { header: 'CHANNELS', value: (i) => orDash(i.channels.join(',')) },
        { header: 'REVOKED', value: (i) => (i.revoked ? `yes: ${i.revokedReason ?? ''}`.trim() : 'no') },
        { header: 'SOURCE', value: (i) => orDash(i.sourceAmiId) },
      ]);

export const imagesCommand = async (ctx: CommandContext, familyName: string): Promise<number> => {
  const family = requireFamily(ctx, familyName);
  const [images, channels] = await Promise.all([
    managedImages(ctx, [{ Name: `tag:${Tag.Family}`, Values: [family.name] }]),
    channelMap(ctx, family.name),
  ]);
  const views = images
    .map((image) => viewOf(image, channels.get(image.ImageId ?? '') ?? []))
    .sort((a, b) => (b.createdAt ?? '').localeCompare(a.createdAt ?? ''));
  if (ctx.json) sayJson(ctx, { family: family.name, images: views });
  else say(ctx, renderImages(views));
  return 0;
};

export interface LineageNode {
  readonly amiId: string;
  readonly name: string | null;
  readonly family: string | null;
  readonly channels: string[];
  readonly revoked: boolean;
  /** True for the image the command was asked about. */
  readonly selected: boolean;
  readonly children: LineageNode[];
}

const lineageLabel = (node: LineageNode): string =>
  [
    node.amiId,
    node.family ? `[${node.family}]` : '(source)',
    node.name ?? '',
    node.channels.length > 0 ? `channels: ${node.channels.join(',')}` : '',
    node.revoked ? 'REVOKED' : '',
    node.selected ? '◀' : '',
  ]
    .filter(Boolean)
    .join('  ');

export const renderLineage = (root: LineageNode): string => {
  const toTree = (node: LineageNode): TreeNode => ({ label: lineageLabel(node), children: node.children.map(toTree) });
  return tree(toTree(root));
};

export const lineageCommand = async (ctx: CommandContext, amiIdArg: string): Promise<number> => {
  const amiId = requireAmiId(amiIdArg);
  const channelCache = new Map<string, Map<string, string[]>>();
  const channelsFor = async (image: Image): Promise<string[]> => {
    const family = tagOf(image, Tag.Family);
    if (!family) return [];
    if (!channelCache.has(family)) channelCache.set(family, await channelMap(ctx, family));
    return channelCache.get(family)?.get(image.ImageId ?? '') ?? [];
  };
  const node = async (image: Image, selected: boolean, children: LineageNode[]): Promise<LineageNode> => ({
    amiId: image.ImageId ?? '',
    name: image.Name ?? null,
    family: tagOf(image, Tag.Family) ?? null,
    channels: await channelsFor(image),
    revoked: tagOf(image, Tag.Revoked) === 'true',
    selected,
    children,
  });
  const image = await describeImage(amiId, ctx.clients.ec2);
  if (!image)
    throw new CliError(
      `no image ${amiId} (it may be deregistered). Fix: check the id with \`bakehouse images <family>\``,
    );
  // Down: every image built on this one, and theirs (the source-ami tag is the link).
  const descendants = async (parent: Image, depth: number): Promise<LineageNode[]> => {
    if (depth > 10) return [];
    const children = await managedImages(ctx, [{ Name: `tag:${Tag.SourceAmi}`, Values: [parent.ImageId ?? ''] }]);
    children.sort((a, b) => (a.CreationDate ?? '').localeCompare(b.CreationDate ?? ''));
    return Promise.all(children.map(async (c) => node(c, false, await descendants(c, depth + 1))));
  };
  let current = await node(image, true, await descendants(image, 0));
  // Up: the chain of sources, nearest first, to the public image everything started from.
  let cursor: Image | undefined = image;
  for (let depth = 0; depth < 10 && cursor; depth++) {
    const source = tagOf(cursor, Tag.SourceAmi);
    if (!source) break;
    const parent = await describeImage(source, ctx.clients.ec2);
    if (!parent) {
      current = {
        amiId: source,
        name: '(no longer exists)',
        family: null,
        channels: [],
        revoked: false,
        selected: false,
        children: [current],
      };
      break;
    }
    current = await node(parent, false, [current]);
    cursor = parent;
  }
  if (ctx.json) sayJson(ctx, { amiId, lineage: current });
  else say(ctx, renderLineage(current));
  return 0;
};
