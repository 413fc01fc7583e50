/**
 * `bakehouse diff <a> <b>` (issue 18): what changed between two images, from the inventories their
 * bakes captured. Each side is an AMI id or `<family>:<channel>` (the image the channel points at,
 * `candidate` included). Prints the release move, the packages added, removed, upgraded (old → new),
 * downgraded and otherwise changed, and on Windows the hotfixes added and removed.
 *
 * The inventories are items of the state table (`image#<ami-id>#inventory`, written when a bake is
 * settled: functions/commons/automation-wait.ts `recordInventory`). The table's name is generated
 * by CloudFormation, so it is read from the environment of the function that writes them
 * (`bakehouse-<stage>-WaitForAutomation`, `STATE_TABLE_NAME`). The operator's role needs
 * `lambda:GetFunctionConfiguration` on that function and `dynamodb:GetItem` on the table (items
 * `image#*#inventory`), and `ec2:DescribeImages` to say why an image has no inventory.
 */
import { GetFunctionConfigurationCommand } from '@aws-sdk/client-lambda';
import { DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import { Tag } from '../../functions/commons/bake-plan';
import { describeImage, tagOf } from '../../functions/commons/channels';
import { STATE_TABLE_NAME_KEY } from '../../functions/commons/env';
import { errorNameOf } from '../../functions/commons/errors';
import { CANDIDATE_CHANNEL } from '../../functions/commons/family-lookup';
import {
  diffInventories,
  type InventoryDiff,
  type InventoryRecord,
  inventoryRecordOf,
  type PackageChange,
} from '../../functions/commons/inventory';
import { imageKey } from '../../functions/commons/state-table';
import { type CommandContext, say, sayJson } from '../context';
import { CliError, UsageError } from '../errors';
import { channelsOf, requireAmiId, requireChannel, requireFamily } from './shared';

/** The function whose environment names the state table: the one that records the inventories. */
const INVENTORY_WRITER = 'WaitForAutomation';

/** One side of the diff, as the operator named it. */
export type ImageRef =
  | { readonly kind: 'ami'; readonly text: string; readonly amiId: string }
  | { readonly kind: 'channel'; readonly text: string; readonly family: string; readonly channel: string };

/** `ami-…` or `<family>:<channel>`; anything else is a usage error (exit 2) naming both forms. */
export const parseImageRef = (ctx: Pick<CommandContext, 'config'>, text: string): ImageRef => {
  if (text.startsWith('ami-')) return { kind: 'ami', text, amiId: requireAmiId(text) };
  const at = text.indexOf(':');
  if (at <= 0 || at === text.length - 1)
    throw new UsageError(
      `'${text}' is neither an AMI id nor <family>:<channel>. Fix: give an AMI id (ami-0123456789abcdef0) or a family's channel (al2023-base:stable)`,
    );
  const family = requireFamily(ctx, text.slice(0, at));
  const channel = text.slice(at + 1);
  if (channel !== CANDIDATE_CHANNEL) requireChannel(family, channel);
  return { kind: 'channel', text, family: family.name, channel };
};

export interface DiffSide {
  readonly ref: string;
  readonly imageId: string;
  readonly family: string;
  readonly bakeId: string;
  readonly os: 'linux' | 'windows';
  readonly release: string | null;
  readonly recordedAt: string;
}

const resolve = async (ctx: CommandContext, ref: ImageRef): Promise<string> => {
  if (ref.kind === 'ami') return ref.amiId;
  const amiId = await channelsOf(ctx).readChannel(ref.family, ref.channel);
  if (!amiId)
    throw new CliError(
      `channel ${ref.family}/${ref.channel} points at no image yet. Fix: bake the family and promote an image (bakehouse bake ${ref.family}, bakehouse images ${ref.family})`,
      { details: { family: ref.family, channel: ref.channel } },
    );
  return amiId;
};

/** The state table's name, from the environment of the function that writes the inventories. */
const stateTableName = async (ctx: CommandContext): Promise<string> => {
  const functionName = ctx.names.function(INVENTORY_WRITER);
  try {
    const configuration = await ctx.clients.lambda.send(
      new GetFunctionConfigurationCommand({ FunctionName: functionName }),
    );
    const name = configuration.Environment?.Variables?.[STATE_TABLE_NAME_KEY];
    if (name) return name;
  } catch (error) {
    if (errorNameOf(error) !== 'ResourceNotFoundException') throw error;
    throw new CliError(
      `stage '${ctx.stage}' has no function ${functionName}: it is not deployed. Fix: deploy it (npx sst deploy --stage ${ctx.stage}) or pass the right --stage`,
      { cause: error },
    );
  }
  throw new CliError(
    `${functionName} has no ${STATE_TABLE_NAME_KEY}: stage '${ctx.stage}' was deployed by a Bakehouse from before image inventories were kept. Fix: deploy this version (npx sst deploy --stage ${ctx.stage}), then bake the images to compare`,
  );
};

/** Why an image has no inventory record, from its tags: a message that names the image and the fix. */
const noInventory = async (ctx: CommandContext, ref: string, amiId: string): Promise<CliError> => {
  const named = ref === amiId ? amiId : `${amiId} (${ref})`;
  const image = await describeImage(amiId, ctx.clients.ec2);
  if (!image)
    return new CliError(
      `no image ${named} in this account and region (deregistered, or never existed), and no inventory of it. Fix: check the id with bakehouse images <family>`,
      { details: { imageId: amiId, reason: 'no-image' } },
    );
  if (tagOf(image, Tag.Managed) !== 'true')
    return new CliError(
      `${named} is not a Bakehouse image (it has no ${Tag.Managed} tag), so no bake captured its packages. Fix: compare images Bakehouse baked (bakehouse images <family> lists them)`,
      { details: { imageId: amiId, reason: 'not-bakehouse' } },
    );
  const family = tagOf(image, Tag.Family) ?? '<family>';
  return new CliError(
    `${named} (family ${family}, bake ${tagOf(image, Tag.BakeId) ?? 'unknown'}) has no inventory record: it was baked before inventories were kept, or its inventory could not be read when the bake ended (the WaitForAutomation and AutomationEvents logs say why). Fix: bake the family again (bakehouse bake ${family}) and compare the new image`,
    { details: { imageId: amiId, reason: 'no-inventory' } },
  );
};

const readInventory = async (
  ctx: CommandContext,
  table: { client: DynamoDBDocumentClient; name: string },
  ref: string,
  amiId: string,
): Promise<InventoryRecord> => {
  // Strongly consistent: a bake that just ended wrote it moments ago
  // (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/HowItWorks.ReadConsistency.html).
  const { Item } = await table.client.send(
    new GetCommand({ TableName: table.name, Key: { pk: imageKey(amiId, 'inventory') }, ConsistentRead: true }),
  );
  const record = inventoryRecordOf(Item);
  if (!record) throw await noInventory(ctx, ref, amiId);
  if (record.tooLarge)
    throw new CliError(
      `${amiId} (${record.family}) has no package list on record: its bake found it too large to keep (${record.tooLarge.bytes.toLocaleString('en-US')} characters compressed, more than Run Command returns). Fix: read it on an instance of the image (/var/lib/bakehouse/packages-after.txt on Linux, Get-HotFix and Programs and Features on Windows)`,
      { details: { imageId: amiId, reason: 'too-large', bytes: record.tooLarge.bytes } },
    );
  return record;
};

const sideOf = (ref: string, record: InventoryRecord): DiffSide => ({
  ref,
  imageId: record.imageId,
  family: record.family,
  bakeId: record.bakeId,
  os: record.os,
  release: record.release,
  recordedAt: record.recordedAt,
});

const versions = (list: readonly string[]): string => list.join(', ');

const section = (title: string, changes: readonly PackageChange[], line: (c: PackageChange) => string): string[] => {
  if (changes.length === 0) return [];
  const width = Math.max(...changes.map((c) => [...c.name].length));
  return [`${title} (${changes.length}):`, ...changes.map((c) => `  ${c.name.padEnd(width)}  ${line(c)}`)];
};

/** The diff as text: what each side is, then each kind of change with what it changed from and to. */
export const renderDiff = (a: DiffSide, b: DiffSide, diff: InventoryDiff): string => {
  const label = (side: DiffSide) =>
    `${side.imageId}${side.ref === side.imageId ? '' : ` (${side.ref})`}  ${side.family}, bake ${side.bakeId || '-'}`;
  const what = diff.os === 'linux' ? 'packages' : 'programs';
  const { packages, kbs } = diff;
  const lines = [
    `from ${label(a)}`,
    `to   ${label(b)}`,
    '',
    ...(diff.release ? [`release: ${diff.release.from ?? '-'} → ${diff.release.to ?? '-'}`] : []),
    ...section(`${what} upgraded`, packages.upgraded, (c) => `${versions(c.from)} → ${versions(c.to)}`),
    ...section(`${what} downgraded`, packages.downgraded, (c) => `${versions(c.from)} → ${versions(c.to)}`),
    ...section(`${what} added`, packages.added, (c) => versions(c.to)),
    ...section(`${what} removed`, packages.removed, (c) => versions(c.from)),
    ...section(`${what} changed`, packages.changed, (c) => `${versions(c.from)} → ${versions(c.to)}`),
    ...(kbs.added.length > 0 ? [`hotfixes added (${kbs.added.length}): ${kbs.added.join(' ')}`] : []),
    ...(kbs.removed.length > 0 ? [`hotfixes removed (${kbs.removed.length}): ${kbs.removed.join(' ')}`] : []),
  ];
  if (lines.length === 3)
    lines.push(`no differences: the same ${diff.os === 'linux' ? 'release and packages' : 'hotfixes and programs'}`);
  return lines.join('\n');
};

export const diffCommand = async (ctx: CommandContext, first: string, second: string): Promise<number> => {
  const refs = [parseImageRef(ctx, first), parseImageRef(ctx, second)] as const;
  const [amiA, amiB] = await Promise.all(refs.map((ref) => resolve(ctx, ref)));
  const table = { client: DynamoDBDocumentClient.from(ctx.clients.dynamodb), name: await stateTableName(ctx) };
  // One after the other: when neither has an inventory, the error names the first.
  const a = await readInventory(ctx, table, first, amiA as string);
  const b = await readInventory(ctx, table, second, amiB as string);
  if (a.os !== b.os)
    throw new CliError(
      `${a.imageId} (${a.family}) is a ${a.os} image and ${b.imageId} (${b.family}) a ${b.os} one: packages and hotfixes do not compare. Fix: compare two ${a.os} images, or two ${b.os} ones`,
      { details: { os: [a.os, b.os] } },
    );
  const diff = diffInventories(a, b);
  const [from, to] = [sideOf(first, a), sideOf(second, b)];
  if (ctx.json) sayJson(ctx, { from, to, ...diff });
  else say(ctx, renderDiff(from, to, diff));
  return 0;
};
