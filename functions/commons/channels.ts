/**
 * Promotion channels: one SSM parameter per family and channel, `<prefix>/<family>/<channel>`,
 * of data type `aws:ec2:image`. The parameter's own version history is the channel's history:
 * every move writes the new AMI with a compact JSON `Description` saying who moved it, why, from
 * which bake, and which AMI it replaced, so a rollback can find the previous good image without
 * any other store.
 */
import { DescribeImagesCommand, type EC2Client, type Image } from '@aws-sdk/client-ec2';
import {
  GetParameterCommand,
  GetParameterHistoryCommand,
  PutParameterCommand,
  type SSMClient,
} from '@aws-sdk/client-ssm';
import { Tag } from './bake-plan';
import { errorNameOf } from './errors';
import { PromotionCause } from './events';
import { eachPage } from './pages';

export type ChannelCause = (typeof PromotionCause)[number];

export interface ChannelDeps {
  readonly ssm: Pick<SSMClient, 'send'>;
  readonly ec2: Pick<EC2Client, 'send'>;
  /** `settings.parameterPrefix`, for example `/bakehouse`. */
  readonly parameterPrefix: string;
}

/** One version of a channel, as its history records it. */
export interface ChannelEntry {
  readonly amiId: string;
  readonly version: number;
  /** When the version was written (ISO 8601). */
  readonly at: string;
  /** Who moved the channel; the IAM identity that wrote the parameter when no record says. */
  readonly by: string;
  /** Why; `unknown` for a version Bakehouse did not write (a hand edit in the console). */
  readonly cause: ChannelCause | 'unknown';
  readonly bakeId: string | null;
  readonly previousAmiId: string | null;
}

export interface MoveRequest {
  readonly family: string;
  readonly channel: string;
  readonly amiId: string;
  readonly by: string;
  readonly cause: ChannelCause;
  readonly bakeId: string | null;
}

export interface MoveResult {
  /** False when the channel already pointed at the AMI: nothing was written. */
  readonly changed: boolean;
  /** What the channel held before this call (the AMI itself when unchanged; null when new). */
  readonly previousAmiId: string | null;
}

/** SSM takes at most 1024 characters of description per parameter version. */
export const MAX_DESCRIPTION = 1024;
const AMI_ID = /^ami-[0-9a-f]{8,17}$/;

/** The record a version's description carries. `ami` lets a reader spot a hand edit that kept it. */
interface MoveRecord {
  readonly ami: string;
  readonly by: string;
  readonly cause: ChannelCause;
  readonly bakeId: string | null;
  readonly prev: string | null;
}

export const channelName = (parameterPrefix: string, family: string, channel: string): string =>
  `${parameterPrefix}/${family}/${channel}`;

/** The description of one move: compact JSON that always fits SSM's limit (`by` is cut first). */
export const describeMove = (record: MoveRecord): string => {
  const text = JSON.stringify(record);
  if (text.length <= MAX_DESCRIPTION) return text;
  const excess = text.length - MAX_DESCRIPTION;
  const by = record.by.slice(0, Math.max(1, record.by.length - excess - 1));
  const shorter = JSON.stringify({ ...record, by: `${by}…` });
  return shorter.length <= MAX_DESCRIPTION ? shorter : JSON.stringify({ ...record, by: '…', bakeId: null });
};

/** Every cause AMI Promoted has: a record of a newer cause must not read as a hand edit. */
const CAUSES: readonly string[] = PromotionCause;

/** Reads a version's record; undefined when the description is not one of ours or names another AMI. */
export const readMoveRecord = (description: string | undefined, value: string | undefined): MoveRecord | undefined => {
  if (!description?.startsWith('{')) return undefined;
  try {
    const parsed = JSON.parse(description) as Partial<MoveRecord>;
    if (
      typeof parsed.ami !== 'string' ||
      parsed.ami !== value ||
      typeof parsed.by !== 'string' ||
      !CAUSES.includes(String(parsed.cause))
    ) {
      return undefined;
    }
    return {
      ami: parsed.ami,
      by: parsed.by,
      cause: parsed.cause as ChannelCause,
      bakeId: typeof parsed.bakeId === 'string' ? parsed.bakeId : null,
      prev: typeof parsed.prev === 'string' ? parsed.prev : null,
    };
  } catch {
    return undefined;
  }
};

/** The AMI a channel points at, or null when the channel has never been written. */
export const readChannel = async (family: string, channel: string, deps: ChannelDeps): Promise<string | null> => {
  try {
    const { Parameter } = await deps.ssm.send(
      new GetParameterCommand({ Name: channelName(deps.parameterPrefix, family, channel) }),
    );
    return Parameter?.Value ?? null;
  } catch (error) {
    if (errorNameOf(error) === 'ParameterNotFound') return null;
    throw error;
  }
};

/** Every version of the channel, newest first (SSM keeps the last 100). Empty for a new channel. */
export const channelHistory = async (family: string, channel: string, deps: ChannelDeps): Promise<ChannelEntry[]> => {
  const name = channelName(deps.parameterPrefix, family, channel);
  const versions: { value: string; version: number; at: string; user: string; description?: string }[] = [];
  try {
    for await (const page of eachPage((NextToken) =>
      deps.ssm.send(new GetParameterHistoryCommand({ Name: name, MaxResults: 50, NextToken })),
    )) {
      for (const p of page.Parameters ?? []) {
        if (p.Value === undefined || p.Version === undefined) continue;
        versions.push({
          value: p.Value,
          version: p.Version,
          at: p.LastModifiedDate ? new Date(p.LastModifiedDate).toISOString() : '',
          user: p.LastModifiedUser ?? 'unknown',
          ...(p.Description === undefined ? {} : { description: p.Description }),
        });
      }
    }
  } catch (error) {
    if (errorNameOf(error) === 'ParameterNotFound') return [];
    throw error;
  }
  versions.sort((a, b) => a.version - b.version);
  const entries = versions.map((v, i): ChannelEntry => {
    const record = readMoveRecord(v.description, v.value);
    const before = versions[i - 1]?.value ?? null;
    return {
      amiId: v.value,
      version: v.version,
      at: v.at,
      by: record?.by ?? v.user,
      cause: record?.cause ?? 'unknown',
      bakeId: record?.bakeId ?? null,
      // The record says what the writer replaced; the version before says it for a hand edit.
      previousAmiId: record ? record.prev : before,
    };
  });
  return entries.reverse();
};

/**
 * Points the channel at `amiId`, recording who, why and what it replaced. Writes nothing when the
 * channel already points there, so a redelivered event moves nothing twice.
 */
export const moveChannel = async (request: MoveRequest, deps: ChannelDeps): Promise<MoveResult> => {
  const current = await readChannel(request.family, request.channel, deps);
  if (current === request.amiId) return { changed: false, previousAmiId: current };
  await deps.ssm.send(
    new PutParameterCommand({
      Name: channelName(deps.parameterPrefix, request.family, request.channel),
      Value: request.amiId,
      Type: 'String',
      DataType: 'aws:ec2:image',
      Overwrite: true,
      Description: describeMove({
        ami: request.amiId,
        by: request.by,
        cause: request.cause,
        bakeId: request.bakeId,
        prev: current,
      }),
    }),
  );
  return { changed: true, previousAmiId: current };
};

/** One image by id, disabled ones included; undefined when it does not exist (any more). */
export const describeImage = async (amiId: string, ec2: Pick<EC2Client, 'send'>): Promise<Image | undefined> => {
  if (!AMI_ID.test(amiId)) return undefined;
  try {
    const { Images } = await ec2.send(new DescribeImagesCommand({ ImageIds: [amiId], IncludeDisabled: true }));
    return Images?.find((image) => image.ImageId === amiId);
  } catch (error) {
    if (
      ['InvalidAMIID.NotFound', 'InvalidAMIID.Unavailable', 'InvalidAMIID.Malformed'].includes(errorNameOf(error) ?? '')
    ) {
      return undefined;
    }
    throw error;
  }
};

export const tagOf = (image: Pick<Image, 'Tags'> | undefined, key: string): string | undefined =>
  image?.Tags?.find((t) => t.Key === key)?.Value;

/** The test automation's verdict tag; `failed` keeps an image out of every channel. */
export const TESTED_TAG = 'bakehouse:tested';

/** Why an image may not be (or stay) in a channel, or undefined when it may. */
export const unfitReason = (image: Image | undefined): string | undefined => {
  if (!image) return 'it does not exist (any more)';
  if (tagOf(image, Tag.Revoked) === 'true') return `it is revoked (${tagOf(image, Tag.RevokedReason) ?? 'no reason'})`;
  if (tagOf(image, TESTED_TAG) === 'failed') return 'its tests failed';
  if (image.State !== 'available') return `it is ${image.State ?? 'in no known state'}, not available`;
  return undefined;
};

/**
 * The AMIs to go back to, best first, from a channel's history (newest first): every earlier AMI
 * but the current one, each once, leaving out any AMI a rollback moved the channel away from
 * (from that rollback back in time). So rollbacks walk back — a, b, c, rollback to b, rollback to
 * a — instead of toggling between the last two, and a revocation never moves a channel onto an
 * image an operator rolled back from. An image promoted again after such a rollback is offered
 * for the versions after it.
 */
export const rollbackCandidates = (history: readonly ChannelEntry[]): string[] => {
  const current = history[0]?.amiId;
  const left = new Set<string>();
  const seen = new Set<string>(current ? [current] : []);
  const candidates: string[] = [];
  for (const [index, entry] of history.entries()) {
    if (index > 0 && !seen.has(entry.amiId) && !left.has(entry.amiId)) candidates.push(entry.amiId);
    seen.add(entry.amiId);
    if (entry.cause === 'rollback' && entry.previousAmiId) left.add(entry.previousAmiId);
  }
  return candidates;
};

/**
 * The newest AMI the channel held before its current one that may be launched again
 * (`rollbackCandidates`): not in `exclude`, not revoked, not failed, still existing and
 * available. Null when there is none.
 */
export const previousGood = async (
  family: string,
  channel: string,
  options: { readonly exclude?: Iterable<string> },
  deps: ChannelDeps,
): Promise<string | null> => {
  const exclude = new Set(options.exclude ?? []);
  for (const amiId of rollbackCandidates(await channelHistory(family, channel, deps))) {
    if (exclude.has(amiId)) continue;
    if (!unfitReason(await describeImage(amiId, deps.ec2))) return amiId;
  }
  return null;
};

/** The channel functions over one set of clients: what the promote and revoke cores take. */
export interface Channels {
  readChannel(family: string, channel: string): Promise<string | null>;
  channelHistory(family: string, channel: string): Promise<ChannelEntry[]>;
  moveChannel(request: MoveRequest): Promise<MoveResult>;
  previousGood(
    family: string,
    channel: string,
    options?: { readonly exclude?: Iterable<string> },
  ): Promise<string | null>;
  parameterName(family: string, channel: string): string;
}

export const bindChannels = (deps: ChannelDeps): Channels => ({
  readChannel: (family, channel) => readChannel(family, channel, deps),
  channelHistory: (family, channel) => channelHistory(family, channel, deps),
  moveChannel: (request) => moveChannel(request, deps),
  previousGood: (family, channel, options = {}) => previousGood(family, channel, options, deps),
  parameterName: (family, channel) => channelName(deps.parameterPrefix, family, channel),
});
