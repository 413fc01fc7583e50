/**
 * EC2's eventual consistency after creates, as an optional layer over the EC2 actions (off unless
 * the sandbox is started with `eventualConsistency: { hideSeconds }`).
 *
 * "Eventual consistency in the Amazon EC2 API"
 * (https://docs.aws.amazon.com/ec2/latest/devguide/eventual-consistency.html): a resource just
 * created may not have propagated, so a command that describes or modifies it by id answers that it
 * does not exist; after RunInstances, DescribeInstances and TerminateInstances are named as
 * answering InvalidInstanceID.NotFound for an instance that does exist.
 *
 * So for `hideSeconds` of sandbox time after an instance's launch (RunInstances, and instances an
 * Auto Scaling group launches) or an image's creation (CreateImage, CopyImage):
 * - DescribeInstances / DescribeImages naming it by id answer the NotFound error in AWS's wording,
 *   listing every id it does not know (hidden or truly absent), as an unknown id is answered;
 * - DescribeInstances / DescribeImages with filters only simply leave it out;
 * - TerminateInstances (named on that page), and CreateTags, DescribeImageAttribute and
 *   ModifyImageAttribute (commands that describe or modify the resource by id: the page's general
 *   case) naming it answer NotFound.
 * Everything else sees it at once. The sandbox's own callers (automation steps, Step Functions
 * tasks, Lambda functions) go through the same API and see the same answers, as on AWS.
 *
 * Not emulated: DescribeInstanceStatus (the sandbox has no such action), DescribeTags and other
 * ids (volumes, snapshots, launch templates), and the other direction (a deleted resource still
 * visible for a while).
 */
import { AwsError } from '../../errors';
import type { QueryParams, XmlValue } from '../../protocol/query';
import type { EventualConsistency } from '../../runtime';
import type { QueryAction, ServiceContext } from '../../service';
import { idList, isWellFormedId } from './common';
import { visibleImage } from './images';
import { Ec2Table, type ImageRecord, type InstanceRecord } from './model';

/** One answer the layer changed: what a caller was not shown, and how. */
export interface HiddenAnswer {
  /** The EC2 action, e.g. `DescribeInstances`. */
  readonly action: string;
  /** The ids it hid. */
  readonly ids: readonly string[];
  /** The error code answered (`InvalidInstanceID.NotFound`), or `absent` when left out of a list. */
  readonly answer: string;
  /** Sandbox time of the answer (ms). */
  readonly atMs: number;
}

/** Answers kept per sandbox (the oldest are dropped). */
const MAX_KEPT = 1000;
const answersByRuntime = new WeakMap<object, HiddenAnswer[]>();

/** What the layer hid so far in the sandbox whose runtime is `runtime`, oldest first. */
export const hiddenAnswers = (runtime: object): readonly HiddenAnswer[] => answersByRuntime.get(runtime) ?? [];

const record = (ctx: ServiceContext, answer: Omit<HiddenAnswer, 'atMs'>): void => {
  let answers = answersByRuntime.get(ctx.runtime);
  if (!answers) {
    answers = [];
    answersByRuntime.set(ctx.runtime, answers);
  }
  answers.push({ ...answer, atMs: ctx.clock.nowMs() });
  if (answers.length > MAX_KEPT) answers.splice(0, answers.length - MAX_KEPT);
};

const settingsOf = (ctx: ServiceContext): EventualConsistency | undefined => {
  const settings = ctx.runtime?.eventualConsistency;
  return settings && settings.hideSeconds > 0 ? settings : undefined;
};

const hiddenSince = (ctx: ServiceContext, settings: EventualConsistency, createdIso: string): boolean => {
  const created = Date.parse(createdIso);
  return Number.isFinite(created) && ctx.clock.nowMs() < created + settings.hideSeconds * 1000;
};

const hiddenInstance = (ctx: ServiceContext, settings: EventualConsistency, id: string): boolean => {
  const instance = ctx.store.get<InstanceRecord>(Ec2Table.Instances, id);
  return instance !== undefined && hiddenSince(ctx, settings, instance.launchTime);
};

/** Only images created in the sandbox (they have a region); seeded public images are long propagated. */
const hiddenImage = (ctx: ServiceContext, settings: EventualConsistency, id: string): boolean => {
  const image = ctx.store.get<ImageRecord>(Ec2Table.Images, id);
  return image?.region !== undefined && hiddenSince(ctx, settings, image.creationDate);
};

const unique = (ids: readonly string[]): string[] => [...new Set(ids)];

/** AWS's wording for unknown instance ids (the same as for an id that never existed). */
export const instancesNotFound = (ids: readonly string[]): AwsError =>
  new AwsError(
    'InvalidInstanceID.NotFound',
    ids.length > 1
      ? `The instance IDs '${ids.join(', ')}' do not exist`
      : `The instance ID '${ids[0] ?? ''}' does not exist`,
  );

/** AWS's wording for unknown image ids: `The image id '[ami-…]' does not exist`, plural for several. */
export const imagesNotFound = (ids: readonly string[]): AwsError =>
  new AwsError(
    'InvalidAMIID.NotFound',
    ids.length > 1
      ? `The image ids '[${ids.join(', ')}]' do not exist`
      : `The image id '[${ids[0] ?? ''}]' does not exist`,
  );

interface Kind {
  readonly prefix: 'i' | 'ami';
  readonly hidden: (ctx: ServiceContext, settings: EventualConsistency, id: string) => boolean;
  /** Whether the caller would be told the id does not exist even without the layer. */
  readonly unknown: (ctx: ServiceContext, id: string) => boolean;
  readonly notFound: (ids: readonly string[]) => AwsError;
}

const INSTANCES: Kind = {
  prefix: 'i',
  hidden: hiddenInstance,
  unknown: (ctx, id) => ctx.store.get(Ec2Table.Instances, id) === undefined,
  notFound: instancesNotFound,
};

const IMAGES: Kind = {
  prefix: 'ami',
  hidden: hiddenImage,
  unknown: (ctx, id) => {
    const image = ctx.store.get<ImageRecord>(Ec2Table.Images, id);
    return image === undefined || !visibleImage(ctx, image);
  },
  notFound: imagesNotFound,
};

/**
 * Ids named in the request that are hidden: throws the NotFound error naming every id the caller
 * is not shown. Malformed ids are left to the action (it answers `…Malformed` first, as AWS does).
 */
const refuseHiddenIds = (
  action: string,
  kind: Kind,
  ids: readonly string[],
  ctx: ServiceContext,
  settings: EventualConsistency,
): void => {
  if (ids.length === 0 || !ids.every((id) => isWellFormedId(kind.prefix, id))) return;
  const hidden = unique(ids.filter((id) => kind.hidden(ctx, settings, id)));
  if (hidden.length === 0) return;
  const missing = unique(ids.filter((id) => hidden.includes(id) || kind.unknown(ctx, id)));
  record(ctx, { action, ids: hidden, answer: kind.notFound(missing).code });
  throw kind.notFound(missing);
};

const isObject = (value: XmlValue): value is { [key: string]: XmlValue } =>
  typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Date);

const listOf = (value: XmlValue): XmlValue[] => (Array.isArray(value) ? value : []);

/** DescribeInstances' reservations without hidden instances (a reservation left empty goes too). */
const withoutHiddenInstances = (
  result: Record<string, XmlValue>,
  isHidden: (id: string) => boolean,
): { result: Record<string, XmlValue>; dropped: string[] } => {
  const dropped: string[] = [];
  const reservations = listOf(result.reservationSet).flatMap<XmlValue>((reservation) => {
    if (!isObject(reservation)) return [reservation];
    const instances = listOf(reservation.instancesSet).filter((instance) => {
      const id = isObject(instance) ? instance.instanceId : undefined;
      if (typeof id === 'string' && isHidden(id)) {
        dropped.push(id);
        return false;
      }
      return true;
    });
    return instances.length === 0 ? [] : [{ ...reservation, instancesSet: instances }];
  });
  return { result: { ...result, reservationSet: reservations }, dropped };
};

const withoutHiddenImages = (
  result: Record<string, XmlValue>,
  isHidden: (id: string) => boolean,
): { result: Record<string, XmlValue>; dropped: string[] } => {
  const dropped: string[] = [];
  const images = listOf(result.imagesSet).filter((image) => {
    const id = isObject(image) ? image.imageId : undefined;
    if (typeof id === 'string' && isHidden(id)) {
      dropped.push(id);
      return false;
    }
    return true;
  });
  return { result: { ...result, imagesSet: images }, dropped };
};

type Filtering = (
  result: Record<string, XmlValue>,
  isHidden: (id: string) => boolean,
) => { result: Record<string, XmlValue>; dropped: string[] };

/** A Describe action: by id, hidden ids are NotFound; otherwise hidden resources are left out. */
const describing =
  (action: string, inner: QueryAction, kind: Kind, idPrefix: string, filtering: Filtering): QueryAction =>
  (params: QueryParams, ctx: ServiceContext) => {
    const settings = settingsOf(ctx);
    if (!settings) return inner(params, ctx);
    const ids = idList(params, idPrefix);
    if (ids.length > 0) {
      refuseHiddenIds(action, kind, ids, ctx, settings);
      return inner(params, ctx);
    }
    const { result, dropped } = filtering(inner(params, ctx), (id) => kind.hidden(ctx, settings, id));
    if (dropped.length > 0) record(ctx, { action, ids: dropped, answer: 'absent' });
    return result;
  };

/** The ids a request names: `Name.N` lists, or a single `Name`. */
const namedIds = (params: QueryParams, name: string): string[] => {
  const listed = idList(params, name);
  const single = params.get(name);
  return single === undefined ? listed : [...listed, single];
};

/** An action that reads or changes resources named by id: a hidden one is NotFound. */
const modifying =
  (action: string, inner: QueryAction, idParameter: string, kinds: readonly Kind[]): QueryAction =>
  (params: QueryParams, ctx: ServiceContext) => {
    const settings = settingsOf(ctx);
    if (!settings) return inner(params, ctx);
    const ids = namedIds(params, idParameter);
    for (const kind of kinds) {
      const own = ids.filter((id) => id.startsWith(`${kind.prefix}-`));
      // Only TerminateInstances names every unknown id; the others name the first, as they do themselves.
      const first = own.find((id) => isWellFormedId(kind.prefix, id) && kind.hidden(ctx, settings, id));
      if (first === undefined) continue;
      refuseHiddenIds(action, kind, action === 'TerminateInstances' ? own : [first], ctx, settings);
    }
    return inner(params, ctx);
  };

/**
 * The EC2 action map with the layer around the actions it concerns; the others are as given.
 * Off (every action unchanged in behaviour) unless the runtime carries `eventualConsistency`.
 */
export const withEventualConsistency = (
  actions: Readonly<Record<string, QueryAction>>,
): Readonly<Record<string, QueryAction>> => {
  const wrapped: Record<string, QueryAction> = { ...actions };
  const wrap = (action: string, make: (inner: QueryAction) => QueryAction): void => {
    const inner = actions[action];
    if (inner) wrapped[action] = make(inner);
  };
  wrap('DescribeInstances', (inner) =>
    describing('DescribeInstances', inner, INSTANCES, 'InstanceId', withoutHiddenInstances),
  );
  wrap('DescribeImages', (inner) => describing('DescribeImages', inner, IMAGES, 'ImageId', withoutHiddenImages));
  wrap('TerminateInstances', (inner) => modifying('TerminateInstances', inner, 'InstanceId', [INSTANCES]));
  wrap('CreateTags', (inner) => modifying('CreateTags', inner, 'ResourceId', [INSTANCES, IMAGES]));
  // Sharing a new copy (CopyImage, then launch permissions) describes and modifies it by id.
  wrap('DescribeImageAttribute', (inner) => modifying('DescribeImageAttribute', inner, 'ImageId', [IMAGES]));
  wrap('ModifyImageAttribute', (inner) => modifying('ModifyImageAttribute', inner, 'ImageId', [IMAGES]));
  return wrapped;
};
