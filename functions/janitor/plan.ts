/**
 * The janitor's planner: a pure function from the inventory (`World`) to the actions of one run.
 * No AWS, no clock of its own (`world.now`), no I/O: the same world always gives the same plan.
 *
 * Safety first. An image is a candidate only when the account owns it and it carries
 * `bakehouse:managed=true`; any one rule below protects it, and the first that does is reported:
 *
 *   instance → launch-template → launch-configuration → auto-scaling-group → channel →
 *   rollback-target → parameter → recently-launched → launch-time-unknown → newest →
 *   too-young → keep-tag → deregistration-protection → shared
 *
 * (`channel` and `rollback-target` are checked before the generic `parameter` rule, so a channel's
 * AMI reads as a channel, not as "some parameter". `shared` comes last because launch permissions
 * cost one DescribeImageAttribute call per image: the inventory reads them only for the images no
 * other rule protects, `imagesWhereLaunchPermissionsDecide`.)
 *
 * Choices, documented:
 * - Launch templates: every version of every template protects its image, whatever version the
 *   groups use. `resolve:ssm:<name>` reads the parameter's current value; with a pinned version or
 *   label (`resolve:ssm:<name>:<v>`) every value the parameter ever held (value + history) counts.
 * - Parameters: any parameter whose value holds an image's id protects it, the whole value or an id
 *   anywhere inside it (text, StringList items, JSON at any depth: `amiIdsIn`); the report names the
 *   parameter. Channels (`<prefix>/<family>/<channel>` holding one id) read as `channel`.
 * - Groups: every version of each template a group (or a MixedInstancesPolicy override) names, by
 *   id or name, whatever its version spec (`$Latest`, `$Default`, a number): conservative.
 * - LastLaunchedTime missing means unknown, not never: it protects images younger than
 *   max(90 days, recentLaunchDays) (`launch-time-unknown`). Older ones with no record were not
 *   launched in that time as far as EC2 knows, and the other rules still apply to them.
 * - Shared: a launch permission for any account other than our own protects, unless the account is
 *   in `confirmedUnusedShares`; a public image (`all`) is always protected.
 * - Keep-N: the newest `keepNewest` per family (`bakehouse:family`, or one group for images
 *   without it) among candidate images that are not failed, disabled and deprecated ones included;
 *   images as new as the N-th are kept too (an image is kept when fewer than N are strictly newer).
 * - A staged image that any rule protects again (not-managed included) is `unmark`ed. Unmarks
 *   restore: they come first and are never capped (a cap would leave an in-use image disabled).
 * - An unreadable stage or start date restarts the image at `mark`.
 * - Snapshots: candidates are the account's snapshots tagged managed that no existing image uses
 *   (its block device mappings, or the AMI its description names). A description alone never makes
 *   a snapshot a candidate. The apply side tags an image's snapshots `bakehouse:managed=true` before
 *   deregistering it, so a crash between deregistering and deleting leaves orphans this repairs.
 *   Orphans younger than `minAgeDays` or tagged `bakehouse:keep=true` are kept.
 * - The cap counts stage changes and snapshot deletions: deregistrations (oldest image first), then
 *   snapshot deletions (oldest first), then disable, deprecate and mark (oldest image first).
 * - In use (`Plan.inUse`, compared between runs): every AMI id referenced by an instance, template,
 *   launch configuration, group, parameter, channel or rollback target, owned by us or not.
 */
import { Tag } from '../commons/bake-plan';
import type {
  JanitorSettings,
  KeepReason,
  Plan,
  PlannedAction,
  PlannedKeep,
  World,
  WorldImage,
  WorldLaunchTemplateVersion,
  WorldParameter,
} from './model';

/** Values of `bakehouse:janitor-stage`. */
export const JanitorStage = ['marked', 'deprecated', 'disabled'] as const;
export type JanitorStageValue = (typeof JanitorStage)[number];

/** An image with no LastLaunchedTime is protected while younger than this (or the recent-launch window). */
export const UNKNOWN_LAUNCH_PROTECT_DAYS = 90;

/** Kept, but on its way: the grace period of its stage has not passed. */
export const GRACE_PERIOD = 'grace-period';
/** Would have changed, but the run's cap was reached. */
export const CAPPED = 'cap';
/** A snapshot an existing image uses: it goes with the image. */
export const IMAGE_EXISTS = 'image-exists';
/**
 * Kept this run because the run's time ran out before its launch permissions were read (fail
 * closed: an unread share must not be retired). Unlike a protection it never unmarks a staged
 * image: nothing is known to protect it, the next run reads it.
 */
export const DEFERRED = 'deferred';

const DAY_MS = 86_400_000;
const RESOLVE_SSM = 'resolve:ssm:';
const CREATED_FOR = /^Created by CreateImage\(i-[0-9a-zA-Z]+\) for (ami-[0-9a-zA-Z]+)/;
const COPIED_FOR = /^Copied for DestinationAmi (ami-[0-9a-zA-Z]+)/;

/** The AMI a snapshot's description says it was made for (CreateImage or CopyImage): a hint only. */
export const snapshotImageHint = (description: string): string | undefined =>
  (CREATED_FOR.exec(description) ?? COPIED_FOR.exec(description))?.[1];

const isAmiId = (value: string): boolean => value.startsWith('ami-');

/**
 * AMI ids anywhere in a text: `ami-` and 8 or 17 lowercase hex digits (EC2's shorter and longer
 * resource ids: Amazon EC2 User Guide, "Resource IDs"), bounded by non-word characters. One regex
 * over the whole value is the simplest thing that finds an id in every form a parameter holds it:
 * the whole value, a StringList item (`ami-a,ami-b`), a JSON string at any depth
 * (`{"ami":"ami-0123…","size":"m7g.large"}`), a line of YAML or shell. It needs no parsing, so a
 * value that is almost JSON still counts, and it can only find more ids than a parser, never fewer:
 * the safe direction for the janitor (an id it finds protects an image; one it missed would not).
 */
const AMI_IDS = /\bami-(?:[0-9a-f]{17}|[0-9a-f]{8})\b/g;

/** Every AMI id in `value` (see AMI_IDS), in order, repeats included. */
export const amiIdsIn = (value: string): string[] => value.match(AMI_IDS) ?? [];

/** The parameter name a `resolve:ssm:` reference reads, and whether it pins a version or label. */
export const parseResolveSsm = (ref: string): { name: string; pinned: boolean } | undefined => {
  if (!ref.startsWith(RESOLVE_SSM)) return undefined;
  let rest = ref.slice(RESOLVE_SSM.length);
  const arn = /^arn:[^:]+:ssm:[^:]*:[^:]*:parameter(\/.*)$/.exec(rest);
  if (arn?.[1]) rest = arn[1];
  const colon = rest.indexOf(':');
  return colon < 0 ? { name: rest, pinned: false } : { name: rest.slice(0, colon), pinned: true };
};

interface Staged {
  readonly stage: JanitorStageValue | 'invalid';
  readonly since: number;
}

/** The janitor stage an image is in, from its tags; undefined when it carries none. */
export const stageOf = (tags: Readonly<Record<string, string>>): Staged | undefined => {
  const stage = tags[Tag.JanitorStage];
  if (stage === undefined) return undefined;
  const since = Date.parse(tags[Tag.JanitorSince] ?? '');
  if (!(JanitorStage as readonly string[]).includes(stage) || Number.isNaN(since)) return { stage: 'invalid', since };
  return { stage: stage as JanitorStageValue, since };
};

const NEXT: Record<JanitorStageValue, 'deprecate' | 'disable' | 'deregister'> = {
  marked: 'deprecate',
  deprecated: 'disable',
  disabled: 'deregister',
};

const settingsProblem = (settings: JanitorSettings): string | undefined => {
  const whole = (n: number) => Number.isInteger(n) && n >= 0;
  if (!whole(settings.keepNewest)) return `keepNewest must be a whole number ≥ 0, got ${settings.keepNewest}`;
  for (const key of ['minAgeDays', 'recentLaunchDays', 'graceDays'] as const) {
    if (!(Number.isFinite(settings[key]) && settings[key] >= 0)) return `${key} must be ≥ 0, got ${settings[key]}`;
  }
  if (!whole(settings.maxActionsPerRun)) return `maxActionsPerRun must be a whole number ≥ 0`;
  if (!(settings.maxInUseShrink >= 0 && settings.maxInUseShrink <= 1)) return 'maxInUseShrink must be within 0..1';
  if (!settings.parameterPrefix.startsWith('/')) return `parameterPrefix must start with '/'`;
  return undefined;
};

/** Reference rules in the order they are reported. */
type ReferenceRule = Extract<
  KeepReason,
  | 'instance'
  | 'launch-template'
  | 'launch-configuration'
  | 'auto-scaling-group'
  | 'channel'
  | 'rollback-target'
  | 'parameter'
>;

/**
 * Every referenced image id with the first rule (in report order) that references it: one map,
 * so an image costs one lookup whatever the number of rules.
 */
interface References {
  /** Image id → the first rule (in report order) that references it. */
  readonly rules: Map<string, ReferenceRule>;
  /** Image id → the parameter behind that rule, for `channel`, `rollback-target` and `parameter`. */
  readonly by: Map<string, string>;
}

const references = (world: World, settings: JanitorSettings): References => {
  const parameters = new Map<string, WorldParameter>();
  for (const p of world.parameters) parameters.set(p.name, p);
  const referenced = new Map<string, ReferenceRule>();
  const by = new Map<string, string>();
  const add = (id: string, rule: ReferenceRule, parameter?: string): void => {
    if (referenced.has(id)) return;
    referenced.set(id, rule);
    if (parameter !== undefined) by.set(id, parameter);
  };
  const resolve = (ref: string | undefined, rule: ReferenceRule): void => {
    if (!ref) return;
    const ssm = parseResolveSsm(ref);
    if (!ssm) {
      add(ref, rule);
      return;
    }
    const parameter = parameters.get(ssm.name);
    if (!parameter) return;
    // The value as it is (what EC2 launches), and any id inside it (conservative).
    for (const value of [parameter.value, ...(ssm.pinned ? (parameter.history ?? []) : [])]) {
      add(value, rule);
      for (const id of amiIdsIn(value)) add(id, rule);
    }
  };

  for (const i of world.instances) if (i.state !== 'terminated') add(i.imageId, 'instance');

  const versionsByTemplate = new Map<string, WorldLaunchTemplateVersion[]>();
  const templateIdByName = new Map<string, string>();
  for (const v of world.launchTemplateVersions) {
    resolve(v.imageId, 'launch-template');
    const list = versionsByTemplate.get(v.templateId);
    if (list) list.push(v);
    else versionsByTemplate.set(v.templateId, [v]);
    templateIdByName.set(v.templateName, v.templateId);
  }

  const lcImage = new Map<string, string>();
  for (const lc of world.launchConfigurations) {
    resolve(lc.imageId, 'launch-configuration');
    lcImage.set(lc.name, lc.imageId);
  }

  const seenTemplates = new Set<string>();
  for (const group of world.autoScalingGroups) {
    for (const ref of group.launchTemplates) {
      const id = ref.id ?? (ref.name === undefined ? undefined : templateIdByName.get(ref.name));
      if (id === undefined || seenTemplates.has(id)) continue;
      seenTemplates.add(id);
      for (const v of versionsByTemplate.get(id) ?? []) resolve(v.imageId, 'auto-scaling-group');
    }
    if (group.launchConfigurationName !== undefined) {
      resolve(lcImage.get(group.launchConfigurationName), 'auto-scaling-group');
    }
  }

  const prefix = `${settings.parameterPrefix.replace(/\/+$/, '')}/`;
  const channels: WorldParameter[] = [];
  const others: WorldParameter[] = [];
  for (const p of world.parameters) {
    if (!isAmiId(p.value)) {
      others.push(p);
      continue;
    }
    const rest = p.name.startsWith(prefix) ? p.name.slice(prefix.length) : undefined;
    const slash = rest === undefined ? -1 : rest.indexOf('/');
    const isChannel = rest !== undefined && slash > 0 && slash < rest.length - 1 && rest.indexOf('/', slash + 1) < 0;
    (isChannel ? channels : others).push(p);
  }
  for (const p of channels) add(p.value, 'channel', p.name);
  for (const p of channels) {
    const previous = (p.history ?? []).find((old) => old !== p.value && isAmiId(old));
    if (previous !== undefined) add(previous, 'rollback-target', p.name);
  }
  // Any parameter holding an id protects it: the whole value, or an id anywhere inside it (a
  // channel's value too: one that is not a single id still holds the ids in it).
  for (const p of others) if (isAmiId(p.value)) add(p.value, 'parameter', p.name);
  for (const p of world.parameters) for (const id of amiIdsIn(p.value)) add(id, 'parameter', p.name);
  return { rules: referenced, by };
};

const familyOf = (image: WorldImage): string | null => image.tags[Tag.Family] ?? null;

const isCandidate = (world: World, image: WorldImage): boolean =>
  image.ownerId === world.account && image.tags[Tag.Managed] === 'true';

/** Creation times (ms) by image index; an unreadable date counts as now: young, so kept. */
const creationTimes = (images: readonly WorldImage[], now: number): Float64Array => {
  const created = new Float64Array(images.length);
  for (let i = 0; i < images.length; i++) {
    const t = Date.parse((images[i] as WorldImage).creationDate);
    created[i] = Number.isNaN(t) ? now : t;
  }
  return created;
};

/**
 * The images (by index) the newest-N rule keeps: per family, by creation date, among candidate
 * images that did not fail. Ties with the N-th newest are kept too (an image is kept when fewer
 * than N are strictly newer): which of two equally new images goes must not be chance.
 */
const newestPerFamily = (
  world: World,
  images: readonly WorldImage[],
  created: Float64Array,
  settings: JanitorSettings,
): Uint8Array => {
  const newest = new Uint8Array(images.length);
  const byFamily = new Map<string | null, number[]>();
  for (let i = 0; i < images.length; i++) {
    const image = images[i] as WorldImage;
    if (image.state === 'failed' || !isCandidate(world, image)) continue;
    const family = familyOf(image);
    const list = byFamily.get(family);
    if (list) list.push(i);
    else byFamily.set(family, [i]);
  }
  for (const [family, list] of byFamily) {
    const keep = (family === null ? undefined : settings.families?.[family]?.keepNewest) ?? settings.keepNewest;
    if (keep === 0) continue;
    list.sort((a, b) => (created[b] as number) - (created[a] as number));
    const threshold = created[list[Math.min(keep, list.length) - 1] as number] as number;
    for (const i of list) {
      if ((created[i] as number) < threshold) break;
      newest[i] = 1;
    }
  }
  return newest;
};

/** The first rule that protects an image, or undefined when none does. */
const protectionOf = (
  world: World,
  settings: JanitorSettings,
  referenced: Map<string, ReferenceRule>,
  isNewest: boolean,
  ageDays: number,
  now: number,
  image: WorldImage,
): KeepReason | undefined => {
  if (!isCandidate(world, image)) return 'not-managed';
  const reference = referenced.get(image.id);
  if (reference !== undefined) return reference;
  if (image.lastLaunchedTime !== undefined) {
    const launched = Date.parse(image.lastLaunchedTime);
    if (Number.isNaN(launched) || (now - launched) / DAY_MS < settings.recentLaunchDays) return 'recently-launched';
  } else if (ageDays < Math.max(UNKNOWN_LAUNCH_PROTECT_DAYS, settings.recentLaunchDays)) {
    return 'launch-time-unknown';
  }
  if (isNewest) return 'newest';
  const family = familyOf(image);
  const minAgeDays = (family === null ? undefined : settings.families?.[family]?.minAgeDays) ?? settings.minAgeDays;
  if (ageDays < minAgeDays) return 'too-young';
  if (image.tags[Tag.Keep] === 'true') return 'keep-tag';
  if (image.deregistrationProtection) return 'deregistration-protection';
  // Last, and the only rule that reads launch permissions: see imagesWhereLaunchPermissionsDecide.
  if (image.launchPermissionsUnread) return DEFERRED;
  return sharesProtect(world, image.launchPermissions) ? 'shared' : undefined;
};

/** Does a launch permission protect the image: public, or any other account not confirmed unused. */
export const sharesProtect = (
  world: Pick<World, 'account' | 'confirmedUnusedShares'>,
  permissions: readonly string[],
) =>
  permissions.some(
    (account) => account !== world.account && (account === 'all' || !world.confirmedUnusedShares.includes(account)),
  );

/** An action with what the cap needs to order it. */
interface Pending {
  readonly action: PlannedAction;
  readonly rank: number;
  readonly time: number;
  /** The image's index, for a deregistration. */
  readonly index: number;
}

const RANK: Record<string, number> = { deregister: 0, 'delete-snapshot': 1, disable: 2, deprecate: 3, mark: 4 };

export type JanitorPlanResult = Plan | { readonly stop: string };

export const isStop = (result: JanitorPlanResult): result is { readonly stop: string } => 'stop' in result;

/** Snapshot use: the index of the one existing image that uses it, or SHARED_SNAPSHOT when several do. */
const SHARED_SNAPSHOT = -1;

/**
 * Plans one janitor run. Returns `{ stop }` (and nothing to do) when the settings or the clock are
 * unreadable, or when the in-use set shrank by more than `maxInUseShrink` since `previous`.
 */
export const planJanitor = (
  world: World,
  settings: JanitorSettings,
  previous?: { inUseCount: number },
): JanitorPlanResult => {
  const now = Date.parse(world.now);
  if (Number.isNaN(now)) return { stop: `the inventory time is unreadable: ${world.now}` };
  const problem = settingsProblem(settings);
  if (problem) return { stop: `invalid janitor settings: ${problem}` };

  const { rules: referenced, by } = references(world, settings);
  const inUse: string[] = [];
  for (const id of referenced.keys()) if (isAmiId(id)) inUse.push(id);
  if (previous && previous.inUseCount > 0) {
    const shrink = (previous.inUseCount - inUse.length) / previous.inUseCount;
    if (shrink > settings.maxInUseShrink) {
      return {
        stop:
          `the in-use set shrank from ${previous.inUseCount} to ${inUse.length} images ` +
          `(${Math.round(shrink * 100)}% > ${Math.round(settings.maxInUseShrink * 100)}% allowed): ` +
          'an incomplete inventory is more likely than that much change',
      };
    }
  }

  const existing = world.images.filter((image) => image.state !== 'deregistered');
  const indexById = new Map<string, number>();
  for (let i = 0; i < existing.length; i++) indexById.set((existing[i] as WorldImage).id, i);
  const created = creationTimes(existing, now);
  const newest = newestPerFamily(world, existing, created, settings);
  const graceMs = settings.graceDays * DAY_MS;

  const unmarks: PlannedAction[] = [];
  const pending: Pending[] = [];
  const kept: PlannedKeep[] = [];

  for (let index = 0; index < existing.length; index++) {
    const image = existing[index] as WorldImage;
    const family = familyOf(image);
    const staged = stageOf(image.tags);
    const time = created[index] as number;
    const reason = protectionOf(world, settings, referenced, newest[index] === 1, (now - time) / DAY_MS, now, image);
    if (reason === DEFERRED) {
      kept.push({ kind: 'image', id: image.id, family, reason });
      continue;
    }
    if (reason !== undefined) {
      // The parameter behind a parameter, channel or rollback-target rule, named in the report.
      const parameter = referenced.get(image.id) === reason ? by.get(image.id) : undefined;
      if (staged && image.ownerId === world.account) {
        const why = parameter === undefined ? reason : `${reason} ${parameter}`;
        unmarks.push({ kind: 'image', id: image.id, family, stage: 'unmark', reason: why });
      } else {
        kept.push({
          kind: 'image',
          id: image.id,
          family,
          reason,
          ...(parameter === undefined ? {} : { by: parameter }),
        });
      }
      continue;
    }
    if (!staged || staged.stage === 'invalid') {
      const why = staged ? 'unused; its janitor stage tags were unreadable, restarting' : 'unused';
      const action: PlannedAction = { kind: 'image', id: image.id, family, stage: 'mark', reason: why };
      pending.push({ action, rank: RANK.mark as number, time, index });
    } else if (now - staged.since >= graceMs) {
      const stage = NEXT[staged.stage];
      const why = `unused; ${staged.stage} since ${new Date(staged.since).toISOString()}`;
      pending.push({
        action: { kind: 'image', id: image.id, family, stage, reason: why },
        rank: RANK[stage] as number,
        time,
        index,
      });
    } else {
      kept.push({ kind: 'image', id: image.id, family, reason: GRACE_PERIOD });
    }
  }

  // Snapshots: which existing image uses each (one map lookup per snapshot).
  const usedBy = new Map<string, number>();
  for (let i = 0; i < existing.length; i++) {
    for (const s of (existing[i] as WorldImage).snapshotIds) {
      usedBy.set(s, usedBy.has(s) ? SHARED_SNAPSHOT : i);
    }
  }
  const minAgeMs = settings.minAgeDays * DAY_MS;
  // Snapshots an existing image uses or names, with the image's index (or SHARED_SNAPSHOT): parallel
  // arrays rather than an object each, as most snapshots of a large account land here.
  const attachedIds: string[] = [];
  const attachedFamilies: (string | null)[] = [];
  const attachedUsers: number[] = [];
  for (const snapshot of world.snapshots) {
    const user = usedBy.get(snapshot.id);
    let hinted: number | undefined;
    let hint: string | undefined;
    if (user === undefined) {
      hint = snapshotImageHint(snapshot.description);
      hinted = hint === undefined ? undefined : indexById.get(hint);
    }
    const image =
      user !== undefined && user >= 0 ? existing[user] : hinted === undefined ? undefined : existing[hinted];
    const family = snapshot.tags[Tag.Family] ?? (image ? familyOf(image) : null);
    if (snapshot.ownerId !== world.account) {
      kept.push({ kind: 'snapshot', id: snapshot.id, family, reason: 'not-managed' });
    } else if (user !== undefined || hinted !== undefined) {
      attachedIds.push(snapshot.id);
      attachedFamilies.push(family);
      // Only a snapshot in exactly one image's block device mappings goes with that image.
      attachedUsers.push(user ?? SHARED_SNAPSHOT);
    } else if (snapshot.tags[Tag.Managed] !== 'true') {
      kept.push({ kind: 'snapshot', id: snapshot.id, family, reason: 'not-managed' });
    } else {
      const started = Date.parse(snapshot.startTime);
      if (Number.isNaN(started) || now - started < minAgeMs) {
        kept.push({ kind: 'snapshot', id: snapshot.id, family, reason: 'too-young' });
      } else if (snapshot.tags[Tag.Keep] === 'true') {
        kept.push({ kind: 'snapshot', id: snapshot.id, family, reason: 'keep-tag' });
      } else {
        const why = `orphan: ${hint === undefined ? 'no image uses it' : `its image ${hint} is gone`}`;
        const action: PlannedAction = {
          kind: 'snapshot',
          id: snapshot.id,
          family,
          stage: 'delete-snapshot',
          reason: why,
        };
        pending.push({ action, rank: RANK['delete-snapshot'] as number, time: started, index: -1 });
      }
    }
  }

  // The cap: unmarks always go; the rest by rank, oldest first.
  pending.sort((a, b) => a.rank - b.rank || a.time - b.time || (a.action.id < b.action.id ? -1 : 1));
  const actions: PlannedAction[] = [...unmarks];
  /** Per deregistered image (by index): its own snapshots, which go with it (DeleteAssociatedSnapshots). */
  const goingWith = new Map<number, string[]>();
  for (let i = 0; i < pending.length; i++) {
    const { action, index } = pending[i] as Pending;
    if (i >= settings.maxActionsPerRun) {
      kept.push({ kind: action.kind, id: action.id, family: action.family, reason: CAPPED });
    } else if (action.stage === 'deregister') {
      const snapshotIds: string[] = [];
      goingWith.set(index, snapshotIds);
      actions.push({ ...action, snapshotIds });
    } else {
      actions.push(action);
    }
  }
  for (let i = 0; i < attachedIds.length; i++) {
    const user = attachedUsers[i] as number;
    const going = user >= 0 ? goingWith.get(user) : undefined;
    if (going) going.push(attachedIds[i] as string);
    else
      kept.push({
        kind: 'snapshot',
        id: attachedIds[i] as string,
        family: attachedFamilies[i] ?? null,
        reason: IMAGE_EXISTS,
      });
  }
  return { actions, kept, inUse };
};

/**
 * The images whose launch permissions can change the plan: the only ones the inventory reads them
 * for (DescribeImageAttribute has no batch form, one call per image; at 100k images, one per image
 * is over an hour of EC2's request-rate bucket for a non-mutating action).
 *
 * The pre-pass plans the world with only public images known as shared (DescribeImages' `Public`)
 * and no cap, and names every image with no protection: those it would mark or advance a stage
 * (the cap ignored: once some read as shared, the cap can admit others) and the staged ones in
 * their grace period (a share unmarks them). Why the images it does not name need no read, so that
 * the plan of the world with only these read equals the plan with every image's read:
 *
 * 1. Launch permissions reach the plan through one rule only, `shared`, and it is the last rule of
 *    `protectionOf`: no rule before it, nor keep-N (`newestPerFamily`), nor the references, nor the
 *    snapshots read them. So permissions can only turn "no protection" into `shared`; an image that
 *    another rule (or its public flag) protects keeps that reason whatever its permissions, and its
 *    outcome with it (kept, or unmarked for that reason).
 * 2. An image with no protection is either pending (mark, deprecate, disable, deregister) or kept in
 *    its grace period; the pre-pass names both, uncapped. So with the named images' permissions read,
 *    the pending set, hence what the cap admits and which snapshots go with a deregistration, is the
 *    full read's.
 * 3. Both plans see the same world otherwise: the inventory plans the pre-pass and the final world
 *    on one clock reading (a later one could age an unread image past a window).
 *
 * The run checks it again (core.ts): an image action on an image whose permissions were not read
 * stops the run. Returns no image when the plan stops (the final plan stops for the same reason).
 */
export const imagesWhereLaunchPermissionsDecide = (world: World, settings: JanitorSettings): string[] => [
  ...launchPermissionReads(world, settings).order,
];

/** The launch permission reads a run makes, in order, and when it has read enough. */
export interface LaunchPermissionReads {
  /**
   * The images of `imagesWhereLaunchPermissionsDecide`, in the order to read them: the staged ones
   * first, in their grace period or due (a share unmarks them, which restores a disabled image, and
   * unmarks are never capped), then the others in the order the cap admits them.
   */
  readonly order: readonly string[];
  /**
   * True once the reads so far settle the plan: every staged image read, and the pending
   * ones read up to where the cap fills (snapshot deletions and images not shared count; a shared
   * image does not). The images after that point would be capped whatever their permissions, so
   * their reads are not made: at 100k images with the default cap, a few hundred reads, not tens
   * of thousands. Called after each batch of reads; incremental, so a run is linear in the order.
   */
  readonly enough: (read: ReadonlyMap<string, readonly string[]>) => boolean;
}

/** The reads and their stopping point, from the pre-pass (see `imagesWhereLaunchPermissionsDecide`). */
export const launchPermissionReads = (world: World, settings: JanitorSettings): LaunchPermissionReads => {
  const publicOnly: World = {
    ...world,
    images: world.images.map((image) =>
      image.launchPermissions.every((p) => p === 'all')
        ? image
        : { ...image, launchPermissions: image.launchPermissions.filter((p) => p === 'all') },
    ),
  };
  const result = planJanitor(publicOnly, { ...settings, maxActionsPerRun: Number.MAX_SAFE_INTEGER });
  if (isStop(result)) return { order: [], enough: () => true };
  // Every staged image is read, whatever the cap: a share unmarks it, and unmarks are never capped.
  const staged = new Set(world.images.filter((i) => stageOf(i.tags) !== undefined).map((i) => i.id));
  const grace: string[] = [];
  for (const k of result.kept) if (k.kind === 'image' && k.reason === GRACE_PERIOD) grace.push(k.id);
  // Uncapped, the pending actions come in the cap's order (after the unmarks, which need no read).
  const pending = result.actions.filter((a) => a.stage !== 'unmark');
  for (const a of pending) if (a.kind === 'image' && staged.has(a.id)) grace.push(a.id);
  const order = [...new Set([...grace, ...pending.filter((a) => a.kind === 'image').map((a) => a.id)])];
  let graceRead = 0;
  let cursor = 0;
  let admitted = 0;
  const enough = (read: ReadonlyMap<string, readonly string[]>): boolean => {
    while (graceRead < grace.length && read.has(grace[graceRead] as string)) graceRead++;
    if (graceRead < grace.length) return false;
    while (admitted < settings.maxActionsPerRun && cursor < pending.length) {
      const action = pending[cursor] as PlannedAction;
      if (action.kind === 'image') {
        const shares = read.get(action.id);
        if (shares === undefined) return false;
        if (!sharesProtect(world, shares)) admitted++;
      } else {
        admitted++;
      }
      cursor++;
    }
    return true;
  };
  return { order, enough };
};
