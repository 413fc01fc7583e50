/**
 * Applies a janitor plan's actions in stages: mark (tags) → deprecate → disable → deregister with
 * its snapshots, and unmark (the way back), and deletes orphan snapshots. Before every destructive
 * step the image is checked again with cheap targeted calls; one that came back into use is
 * unmarked and re-enabled instead. Deregister and delete calls are paced like EC2's bucket (100
 * burst, 5 per second) by the client (pacing.ts) or by `bucket`, on top of the SDK's adaptive retry. One item's error is
 * reported and does not stop the others.
 */
import {
  CreateTagsCommand,
  DeleteSnapshotCommand,
  DeleteTagsCommand,
  DeregisterImageCommand,
  DescribeImagesCommand,
  DescribeInstancesCommand,
  DescribeLaunchTemplateVersionsCommand,
  DisableImageCommand,
  DisableImageDeprecationCommand,
  type EC2Client,
  EnableImageCommand,
  EnableImageDeprecationCommand,
  type Image,
} from '@aws-sdk/client-ec2';
import { GetParametersByPathCommand, type SSMClient } from '@aws-sdk/client-ssm';
import { DeleteCommand } from '@aws-sdk/lib-dynamodb';
import { Tag } from '../commons/bake-plan';
import { tagOf } from '../commons/channels';
import { errorNameOf, messageOf } from '../commons/errors';
import type { JanitorItem } from '../commons/events';
import { eachPage } from '../commons/pages';
import type { LogPort } from '../commons/powertools';
import { imageKey, type StateTableDeps } from '../commons/state-table';
import { mapLimit } from './inventory';
import type { Plan, PlannedAction, Stage } from './model';

/** Tags the janitor writes on an image it is retiring: the stage reached and when (ISO 8601). */
export const JanitorTag = { Stage: Tag.JanitorStage, Since: Tag.JanitorSince } as const;

/** The value of `bakehouse:janitor-stage` after each step. */
export const StageTagValue = { mark: 'marked', deprecate: 'deprecated', disable: 'disabled' } as const;

/**
 * A token bucket: `capacity` tokens, refilled at `perSecond`, on a clock that can be injected.
 * It keeps `margin` tokens in hand (default 1, 200 ms at 5/s): EC2's bucket sees a call when it
 * arrives, a little after this one lets it go, and the margin absorbs that jitter.
 */
export class TokenBucket {
  private tokens: number;
  private last: number;
  readonly capacity: number;
  readonly perSecond: number;
  readonly margin: number;
  private readonly now: () => number;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(
    options: {
      capacity?: number;
      perSecond?: number;
      margin?: number;
      now?: () => number;
      sleep?: (ms: number) => Promise<void>;
    } = {},
  ) {
    this.capacity = options.capacity ?? 100;
    this.perSecond = options.perSecond ?? 5;
    this.margin = options.margin ?? 1;
    // Paced on a monotonic clock, as EC2's own buckets refill in real time: `Date` may jump (NTP),
    // and in the sandbox it follows the accelerated clock, which would refill 1,200 times too fast.
    this.now = options.now ?? (() => performance.now());
    this.sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
    this.tokens = this.capacity;
    this.last = this.now();
  }

  private refill(): void {
    const now = this.now();
    this.tokens = Math.min(this.capacity, this.tokens + ((now - this.last) / 1000) * this.perSecond);
    this.last = now;
  }

  /** Waits until a token (beyond the margin) is free, then takes it. */
  async take(): Promise<void> {
    const needed = 1 + this.margin;
    for (;;) {
      this.refill();
      if (this.tokens >= needed) {
        this.tokens -= 1;
        return;
      }
      await this.sleep(Math.ceil(((needed - this.tokens) / this.perSecond) * 1000));
    }
  }
}

export interface ApplyDeps {
  readonly ec2: Pick<EC2Client, 'send'>;
  readonly ssm: Pick<SSMClient, 'send'>;
  readonly parameterPrefix: string;
  readonly clock: () => Date;
  /**
   * Paces DeregisterImage and DeleteSnapshot, for a client that is not paced already. The
   * handler's client is (pacing.ts paces every EC2 call at its action's bucket), so it passes none.
   */
  readonly bucket?: TokenBucket;
  readonly logger: Pick<LogPort, 'info' | 'warn'>;
  /** Items worked on at once (default 4). */
  readonly concurrency?: number;
  /**
   * The run's time budget, checked before each action starts: once false, the actions left are not
   * started (kept `deferred`, `ApplyOutcome.notStarted`), and the ones under way finish. So a run
   * cut short by its invocation leaves no stage half done. Absent: no limit.
   */
  readonly keepApplying?: () => boolean;
  /**
   * The state table, where each baked image's package inventory is kept (`image#<ami-id>#inventory`,
   * functions/commons/automation-wait.ts; `bakehouse diff` reads it): a deregistered image's goes
   * with it. Absent: nothing is deleted there.
   */
  readonly inventories?: Pick<StateTableDeps, 'client' | 'tableName'>;
}

export interface ApplyOutcome {
  readonly items: readonly JanitorItem[];
  readonly errors: readonly { readonly resource: string; readonly error: string }[];
  readonly deregistered: readonly string[];
  readonly snapshotsDeleted: readonly string[];
  /** Actions not started because `keepApplying` turned false. */
  readonly notStarted?: number;
}

/** The reason an action left for the next run carries. */
export const NOT_STARTED = "deferred: the run's time ran out before this action started";

const DONE: Record<Stage, JanitorItem['action']> = {
  mark: 'marked',
  deprecate: 'deprecated',
  disable: 'disabled',
  deregister: 'deregistered',
  unmark: 'unmarked',
  'delete-snapshot': 'deleted',
};

/** What a dry run reports for a planned action. */
export const itemOfAction = (action: PlannedAction): JanitorItem => ({
  kind: action.kind,
  id: action.id,
  family: action.family,
  action: DONE[action.stage],
  reason: action.reason,
});

const LIVE_STATES = ['pending', 'running', 'shutting-down', 'stopping', 'stopped'];

/** The image as EC2 sees it now (disabled and deprecated included), or undefined when gone. */
const describeOne = async (ec2: ApplyDeps['ec2'], imageId: string): Promise<Image | undefined> => {
  try {
    const { Images } = await ec2.send(
      new DescribeImagesCommand({ ImageIds: [imageId], IncludeDisabled: true, IncludeDeprecated: true }),
    );
    return Images?.[0];
  } catch (error) {
    if (errorNameOf(error) === 'InvalidAMIID.NotFound') return undefined;
    throw error;
  }
};

/**
 * Why the image must stay, checked again right before a destructive step; null when it is still
 * unused. Cheap and targeted: the image itself (tags, protection), instances launched from it,
 * the `$Latest`/`$Default` versions of every template, and the family's channels.
 */
export const recheckInUse = async (
  image: Image,
  family: string | null,
  deps: Pick<ApplyDeps, 'ec2' | 'ssm' | 'parameterPrefix'>,
): Promise<string | null> => {
  const imageId = image.ImageId ?? '';
  if (tagOf(image, Tag.Managed) !== 'true') return 'not-managed';
  if (tagOf(image, Tag.Keep) === 'true') return 'keep-tag';
  if (image.DeregistrationProtection !== undefined && !image.DeregistrationProtection.startsWith('disabled')) {
    return 'deregistration-protection';
  }
  const instances = await deps.ec2.send(
    new DescribeInstancesCommand({
      Filters: [
        { Name: 'image-id', Values: [imageId] },
        { Name: 'instance-state-name', Values: LIVE_STATES },
      ],
      MaxResults: 5,
    }),
  );
  if ((instances.Reservations ?? []).some((r) => (r.Instances ?? []).length > 0)) return 'instance';
  const versions = await deps.ec2.send(
    new DescribeLaunchTemplateVersionsCommand({
      Versions: ['$Latest', '$Default'],
      Filters: [{ Name: 'image-id', Values: [imageId] }],
      MaxResults: 5,
    }),
  );
  if ((versions.LaunchTemplateVersions ?? []).length > 0) return 'launch-template';
  if (family) {
    const pages = eachPage((NextToken) =>
      deps.ssm.send(
        new GetParametersByPathCommand({
          Path: `${deps.parameterPrefix}/${family}`,
          Recursive: true,
          MaxResults: 10,
          NextToken,
        }),
      ),
    );
    for await (const page of pages) {
      if ((page.Parameters ?? []).some((p) => p.Value === imageId)) return 'channel';
    }
  }
  return null;
};

/** Is any registered image (disabled and deprecated included) still built on this snapshot? */
const snapshotInUse = async (ec2: ApplyDeps['ec2'], snapshotId: string): Promise<boolean> => {
  const { Images } = await ec2.send(
    new DescribeImagesCommand({
      Owners: ['self'],
      IncludeDisabled: true,
      IncludeDeprecated: true,
      Filters: [{ Name: 'block-device-mapping.snapshot-id', Values: [snapshotId] }],
    }),
  );
  return (Images ?? []).length > 0;
};

const stageTags = (stage: keyof typeof StageTagValue, at: Date) => [
  { Key: JanitorTag.Stage, Value: StageTagValue[stage] },
  { Key: JanitorTag.Since, Value: at.toISOString() },
];

/** Back to normal: janitor tags off, enabled again, deprecation cleared. */
const unmark = async (image: Image, deps: ApplyDeps): Promise<void> => {
  const imageId = image.ImageId ?? '';
  if (image.State === 'disabled') await deps.ec2.send(new EnableImageCommand({ ImageId: imageId }));
  if (image.DeprecationTime) await deps.ec2.send(new DisableImageDeprecationCommand({ ImageId: imageId }));
  await deps.ec2.send(
    new DeleteTagsCommand({ Resources: [imageId], Tags: [{ Key: JanitorTag.Stage }, { Key: JanitorTag.Since }] }),
  );
};

/**
 * Tags an image's snapshots managed (and family) in one call; when the role is refused
 * (UnauthorizedOperation: a snapshot that is not managed already), tags them one by one and
 * returns those refused. Any other error propagates.
 */
const markSnapshots = async (
  snapshots: readonly string[],
  family: string | null,
  deps: ApplyDeps,
): Promise<string[]> => {
  const tag = (resources: string[]) =>
    deps.ec2.send(
      new CreateTagsCommand({
        Resources: resources,
        Tags: [{ Key: Tag.Managed, Value: 'true' }, ...(family ? [{ Key: Tag.Family, Value: family }] : [])],
      }),
    );
  if (snapshots.length === 0) return [];
  try {
    await tag([...snapshots]);
    return [];
  } catch (error) {
    if (errorNameOf(error) !== 'UnauthorizedOperation') throw error;
  }
  const refused: string[] = [];
  for (const snapshotId of snapshots) {
    try {
      await tag([snapshotId]);
    } catch (error) {
      if (errorNameOf(error) !== 'UnauthorizedOperation') throw error;
      refused.push(snapshotId);
    }
  }
  return refused;
};

interface Done {
  readonly item: JanitorItem;
  readonly deregistered?: string;
  readonly snapshotsDeleted?: readonly string[];
  readonly errors?: readonly { resource: string; error: string }[];
  readonly notStarted?: boolean;
}

const applyImage = async (action: PlannedAction, deps: ApplyDeps): Promise<Done> => {
  const base = { kind: 'image' as const, id: action.id, family: action.family };
  const image = await describeOne(deps.ec2, action.id);
  if (!image) return { item: { ...base, action: 'kept', reason: 'gone: the image no longer exists' } };
  const now = deps.clock();
  if (action.stage === 'unmark') {
    await unmark(image, deps);
    return { item: { ...base, action: 'unmarked', reason: action.reason } };
  }
  if (action.stage === 'mark') {
    await deps.ec2.send(new CreateTagsCommand({ Resources: [action.id], Tags: stageTags('mark', now) }));
    return { item: { ...base, action: 'marked', reason: action.reason } };
  }
  const inUse = await recheckInUse(image, action.family, deps);
  if (inUse) {
    await unmark(image, deps);
    deps.logger.warn('image came back into use: unmarked', { imageId: action.id, reason: inUse });
    return { item: { ...base, action: 'unmarked', reason: `back in use (${inUse})` } };
  }
  switch (action.stage) {
    case 'deprecate': {
      // EC2 takes only a future time, rounded to the minute (EnableImageDeprecation, DeprecateAt).
      // At least a minute ahead: `now` is learned from EC2's Date header (whole seconds), and the
      // request takes time on its way, so a second of margin can land in EC2's past.
      const at = new Date(Math.ceil((now.getTime() + 60_000) / 60_000) * 60_000);
      await deps.ec2.send(new EnableImageDeprecationCommand({ ImageId: action.id, DeprecateAt: at }));
      await deps.ec2.send(new CreateTagsCommand({ Resources: [action.id], Tags: stageTags('deprecate', now) }));
      return { item: { ...base, action: 'deprecated', reason: action.reason } };
    }
    case 'disable': {
      if (image.State !== 'disabled') await deps.ec2.send(new DisableImageCommand({ ImageId: action.id }));
      await deps.ec2.send(new CreateTagsCommand({ Resources: [action.id], Tags: stageTags('disable', now) }));
      return { item: { ...base, action: 'disabled', reason: action.reason } };
    }
    case 'deregister': {
      // Its snapshots carry the managed tag first: a crash after deregistering leaves orphans the
      // next run recognises and deletes. The role may tag only snapshots that are managed already
      // (stacks/janitor.ts), which Bakehouse's are from CreateImage and CopyImage; one that is not
      // is left alone, and then EC2 deletes none with the image (the managed ones become orphans).
      const snapshots = (image.BlockDeviceMappings ?? []).flatMap((m) => (m.Ebs?.SnapshotId ? [m.Ebs.SnapshotId] : []));
      const foreign = await markSnapshots(snapshots, action.family, deps);
      await deps.bucket?.take();
      const result = await deps.ec2.send(
        new DeregisterImageCommand({ ImageId: action.id, DeleteAssociatedSnapshots: foreign.length === 0 }),
      );
      const outcomes = result.DeleteSnapshotResults ?? [];
      const deleted = outcomes.filter((r) => r.ReturnCode === 'success').flatMap((r) => r.SnapshotId ?? []);
      // A snapshot EC2 could not delete stays an orphan: the next run deletes it.
      const errors = [
        ...outcomes
          .filter((r) => r.ReturnCode !== 'success')
          .map((r) => ({
            resource: r.SnapshotId ?? action.id,
            error: `not deleted with ${action.id}: ${r.ReturnCode}`,
          })),
        ...foreign.map((snapshotId) => ({
          resource: snapshotId,
          error: `not tagged ${Tag.Managed}=true, so not Bakehouse's: left in place with ${action.id} deregistered (delete it by hand if it is yours)`,
        })),
      ];
      if (foreign.length > 0) deps.logger.warn('snapshots not managed: left in place', { imageId: action.id, foreign });
      await forgetInventory(action.id, deps);
      return {
        item: { ...base, action: 'deregistered', reason: action.reason },
        deregistered: action.id,
        snapshotsDeleted: deleted,
        errors,
      };
    }
    default:
      throw new Error(`stage ${action.stage} does not apply to an image`);
  }
};

/**
 * Deletes a deregistered image's inventory item. The image is gone whatever happens here, so a
 * failure is a warning naming the item (a leftover item only takes room: no image answers to it),
 * never an error of the run.
 */
const forgetInventory = async (imageId: string, deps: ApplyDeps): Promise<void> => {
  if (!deps.inventories) return;
  const key = imageKey(imageId, 'inventory');
  try {
    await deps.inventories.client.send(new DeleteCommand({ TableName: deps.inventories.tableName, Key: { pk: key } }));
  } catch (error) {
    deps.logger.warn('inventory item of a deregistered image not deleted: it stays in the state table', {
      imageId,
      item: key,
      error: `${errorNameOf(error) ?? 'Error'}: ${messageOf(error)}`,
    });
  }
};

const applySnapshot = async (action: PlannedAction, deps: ApplyDeps): Promise<Done> => {
  const base = { kind: 'snapshot' as const, id: action.id, family: action.family };
  if (action.stage !== 'delete-snapshot') throw new Error(`stage ${action.stage} does not apply to a snapshot`);
  if (await snapshotInUse(deps.ec2, action.id)) {
    return { item: { ...base, action: 'kept', reason: 'image: a registered image uses it again' } };
  }
  await deps.bucket?.take();
  try {
    await deps.ec2.send(new DeleteSnapshotCommand({ SnapshotId: action.id }));
  } catch (error) {
    if (errorNameOf(error) !== 'InvalidSnapshot.NotFound') throw error;
  }
  return { item: { ...base, action: 'deleted', reason: action.reason }, snapshotsDeleted: [action.id] };
};

/** Applies every action of the plan; errors are per item. Images first, then snapshots. */
export const applyPlan = async (plan: Pick<Plan, 'actions'>, deps: ApplyDeps): Promise<ApplyOutcome> => {
  const ordered = [
    ...plan.actions.filter((a) => a.kind === 'image'),
    ...plan.actions.filter((a) => a.kind === 'snapshot'),
  ];
  const done = await mapLimit(ordered, deps.concurrency ?? 4, async (action): Promise<Done> => {
    if (deps.keepApplying && !deps.keepApplying()) {
      const item = { kind: action.kind, id: action.id, family: action.family, action: 'kept' as const };
      return { item: { ...item, reason: NOT_STARTED }, notStarted: true };
    }
    try {
      return await (action.kind === 'image' ? applyImage(action, deps) : applySnapshot(action, deps));
    } catch (error) {
      const text = `${errorNameOf(error) ?? 'Error'}: ${messageOf(error)}`;
      deps.logger.warn('janitor action failed', { id: action.id, stage: action.stage, error: text });
      return {
        item: { kind: action.kind, id: action.id, family: action.family, action: 'failed', reason: text },
        errors: [{ resource: action.id, error: `${action.stage}: ${text}` }],
      };
    }
  });
  return {
    items: done.map((d) => d.item),
    errors: done.flatMap((d) => d.errors ?? []),
    deregistered: done.flatMap((d) => (d.deregistered ? [d.deregistered] : [])),
    snapshotsDeleted: done.flatMap((d) => d.snapshotsDeleted ?? []),
    notStarted: done.filter((d) => d.notStarted).length,
  };
};
