/**
 * One janitor run: inventory → plan → apply (or, in a dry run, only report) → `Janitor Report`.
 *
 * Fail closed: an incomplete inventory, an unreadable last-run state, or a planner stop (an in-use
 * set that shrank implausibly since the last run) ends the run before anything changes, with
 * `completed: false` and the reason. The report is published on the bus (items cut at 500 to fit
 * an event) and returned whole.
 */

import type { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { GetParameterCommand, PutParameterCommand, type SSMClient } from '@aws-sdk/client-ssm';
import { errorNameOf, InvalidEventError, messageOf } from '../commons/errors';
import { DetailType, EVENT_VERSION, type JanitorItem, type JanitorReport } from '../commons/events';
import type { Settings } from '../commons/families';
import type { LogPort } from '../commons/powertools';
import { type EventTarget, publishEvent } from '../commons/publish';
import type { ReaperReport } from '../commons/reaper';
import { type ApplyDeps, type ApplyOutcome, itemOfAction } from './apply';
import type { Checkpoint } from './checkpoint';
import { InventoryError, UnreadableParametersStop } from './errors';
import type { Inventory, InventoryDeps } from './inventory';
import type { JanitorSettings, Plan, World } from './model';
import { launchPermissionReads } from './plan';

/** Items an event carries at most (an event holds 256 KB). */
export const MAX_EVENT_ITEMS = 500;
/** Parameter names (skipped SecureStrings, unreadable ones) an event carries at most, each list. */
export const MAX_EVENT_PARAMETERS = 100;

export const UnreadableParameters = ['stop', 'continue'] as const;
export type UnreadableParametersMode = (typeof UnreadableParameters)[number];

/** Where the last run's in-use count lives, for the shrink check. */
export const statePath = (prefix: string): string => `${prefix}/_janitor/state`;

/** What the shrink check compares with. */
export interface PreviousRun {
  readonly inUseCount: number;
}

/**
 * Parts a run may have (the first included). Each part is an invocation: at the default 15 minutes
 * that is two hours, far more than 100k images need. It also bounds the chain of invocations the
 * bus makes (JanitorContinues), well under the 16 of Lambda's recursive loop detection (AWS Lambda
 * Developer Guide, "Use Lambda recursive loop detection to prevent infinite loops").
 */
export const MAX_PARTS = 8;
/**
 * Time an invocation keeps back. Launch permission reads stop with READ_RESERVE_MS left, so the
 * plan and its actions have the rest; actions stop starting with APPLY_RESERVE_MS left, so the
 * ones under way finish and the report is published before Lambda's timeout.
 */
export const READ_RESERVE_MS = 5 * 60_000;
export const APPLY_RESERVE_MS = 60_000;

export interface JanitorPayload {
  readonly dryRun?: boolean;
  /** A later part of a run (the bus's JanitorContinues rule): the first part's run id, and this part's number. */
  readonly continueRun?: string;
  readonly part?: number;
  /** Capped actions the run's earlier parts took: the cap is the run's, not each part's. */
  readonly actionsDone?: number;
  /** Overrides `settings.janitor.unreadableParameters` for one run (an operator who checked the names). */
  readonly unreadableParameters?: UnreadableParametersMode;
}

export interface JanitorDeps {
  readonly settings: Pick<Settings, 'parameterPrefix' | 'janitor'>;
  /** The families' retention (keep, minAgeDays), which overrides the janitor's defaults per family. */
  readonly retention?: readonly { readonly name: string; readonly retention: { keep: number; minAgeDays: number } }[];
  readonly readInventory: (deps: InventoryDeps) => Promise<Inventory>;
  readonly inventoryDeps: InventoryDeps;
  readonly plan: (world: World, settings: JanitorSettings, previous?: PreviousRun) => Plan | { readonly stop: string };
  readonly apply: (plan: Pick<Plan, 'actions'>, deps: ApplyDeps) => Promise<ApplyOutcome>;
  readonly applyDeps: ApplyDeps;
  readonly ssm: Pick<SSMClient, 'send'>;
  readonly events: Pick<EventBridgeClient, 'send'>;
  readonly eventTarget: EventTarget;
  readonly clock: () => Date;
  readonly logger: LogPort;
  /**
   * Terminates expired builders and testers whose automation no longer runs (commons/reaper.ts),
   * so the nightly report shows them too; none when absent.
   */
  readonly reap?: (options: { readonly dryRun: boolean }) => Promise<ReaperReport>;
  /** Milliseconds left in the invocation (Lambda's `getRemainingTimeInMillis`); no limit when absent. */
  readonly remainingMs?: () => number;
  /** Where a run's parts keep their launch permission reads (checkpoint.ts); none kept when absent. */
  readonly checkpoint?: Checkpoint;
}

/** The instances the reaper reported, as the Janitor Report carries them. */
const reaperSummary = (reaped: ReaperReport): NonNullable<JanitorReport['reaper']> => ({
  reaped: reaped.reaped.slice(0, MAX_EVENT_PARAMETERS).map(({ instanceId, role, bakeId, family, expiresAt }) => ({
    instanceId,
    role,
    bakeId,
    family,
    expiresAt,
  })),
  reapedCount: reaped.reaped.length,
  keptCount: reaped.kept.length,
  errors: [...reaped.errors],
});

/**
 * What the report says about Parameter Store (`parameters`, a 1.x addition to the contract): the
 * SecureStrings the janitor skipped (it never decrypts) and the parameters it could not read, by
 * name, never by value. The event carries at most MAX_EVENT_PARAMETERS names per list; the counts
 * are whole.
 */
export type ParameterReport = NonNullable<JanitorReport['parameters']>;

/** The full report the function returns; the event carries the same with items cut at 500. */
export type JanitorRunReport = JanitorReport & {
  /** Describe/Get calls the inventory made, per action. */
  readonly inventoryCalls: Readonly<Record<string, number>>;
};

/**
 * `{}`, `null` or nothing (the schedule), or `{ dryRun?: boolean, unreadableParameters?: 'stop' |
 * 'continue' }`; anything else is refused.
 */
export const parsePayload = (event: unknown): JanitorPayload => {
  if (event === undefined || event === null) return {};
  if (typeof event !== 'object' || Array.isArray(event)) {
    throw new InvalidEventError('the janitor payload must be an object such as {"dryRun": true}');
  }
  const { dryRun, unreadableParameters, continueRun, part, actionsDone, ...rest } = event as Record<string, unknown>;
  const unknown = Object.keys(rest);
  if (unknown.length > 0) {
    throw new InvalidEventError(
      `unknown field(s) ${unknown.join(', ')}. Fix: send only {"dryRun": true|false, "unreadableParameters": "stop"|"continue"}`,
    );
  }
  if ((continueRun === undefined) !== (part === undefined)) {
    throw new InvalidEventError(
      'continueRun and part go together: the bus sends both to continue a run. Fix: send neither to start a run',
    );
  }
  if (continueRun !== undefined && (typeof continueRun !== 'string' || continueRun.length === 0)) {
    throw new InvalidEventError('continueRun: must be the run id of the first part. Fix: send neither to start a run');
  }
  if (
    actionsDone !== undefined &&
    (continueRun === undefined || !(Number.isInteger(actionsDone) && (actionsDone as number) >= 0))
  ) {
    throw new InvalidEventError(
      'actionsDone: a whole number ≥ 0, only with continueRun and part (the bus sends it). Fix: send none of them to start a run',
    );
  }
  if (part !== undefined && !(Number.isInteger(part) && (part as number) >= 2 && (part as number) <= MAX_PARTS)) {
    throw new InvalidEventError(`part: must be an integer from 2 to ${MAX_PARTS}. Fix: send neither to start a run`);
  }
  if (dryRun !== undefined && typeof dryRun !== 'boolean') {
    throw new InvalidEventError('dryRun: must be true or false. Fix: send {"dryRun": true} or {"dryRun": false}');
  }
  if (
    unreadableParameters !== undefined &&
    !(UnreadableParameters as readonly unknown[]).includes(unreadableParameters)
  ) {
    throw new InvalidEventError(
      `unreadableParameters: must be 'stop' or 'continue'. Fix: send {"unreadableParameters": "continue"} to run once without the parameters the janitor cannot read, or leave it out`,
    );
  }
  return {
    ...(continueRun === undefined ? {} : { continueRun: continueRun as string, part: part as number }),
    ...(actionsDone === undefined ? {} : { actionsDone: actionsDone as number }),
    ...(dryRun === undefined ? {} : { dryRun: dryRun as boolean }),
    ...(unreadableParameters === undefined
      ? {}
      : { unreadableParameters: unreadableParameters as UnreadableParametersMode }),
  };
};

/** Names in a message: the first `max`, then how many more. */
const someNames = (names: readonly string[], max = 10): string =>
  names.slice(0, max).join(', ') + (names.length > max ? ` and ${names.length - max} more` : '');

/** Why the run stops on unreadable parameters, with the fix. */
export const unreadableStop = (unreadable: readonly { name: string; error: string }[]): string =>
  `${unreadable.length} SSM parameter(s) could not be read, so the images they may hold cannot be protected: ` +
  `${someNames(unreadable.map((u) => `${u.name} (${u.error.split(':')[0]})`))}. ` +
  'Fix: grant the janitor role ssm:GetParameters on them (and delete names SSM calls invalid), ' +
  "or set settings.janitor.unreadableParameters to 'continue' to run without them " +
  '(once: invoke with {"unreadableParameters": "continue"})';

export const janitorSettingsOf = (
  settings: JanitorDeps['settings'],
  families: JanitorDeps['retention'] = [],
): JanitorSettings => ({
  keepNewest: settings.janitor.keepNewest,
  minAgeDays: settings.janitor.minAgeDays,
  recentLaunchDays: settings.janitor.recentLaunchDays,
  graceDays: settings.janitor.graceDays,
  maxActionsPerRun: settings.janitor.maxActionsPerRun,
  maxInUseShrink: settings.janitor.maxInUseShrink,
  parameterPrefix: settings.parameterPrefix,
  families: Object.fromEntries(
    families.map((f) => [f.name, { keepNewest: f.retention.keep, minAgeDays: f.retention.minAgeDays }]),
  ),
});

/** The last run's state, undefined on the first run; any other error stops the run (fail closed). */
const readPrevious = async (deps: JanitorDeps): Promise<PreviousRun | undefined> => {
  try {
    const { Parameter } = await deps.ssm.send(
      new GetParameterCommand({ Name: statePath(deps.settings.parameterPrefix) }),
    );
    const parsed = JSON.parse(Parameter?.Value ?? '{}') as { inUseCount?: unknown };
    if (typeof parsed.inUseCount !== 'number') return undefined;
    return { inUseCount: parsed.inUseCount };
  } catch (error) {
    if (errorNameOf(error) === 'ParameterNotFound') return undefined;
    throw new InventoryError('GetParameter', `${errorNameOf(error) ?? 'Error'}: ${messageOf(error)}`, {
      cause: error,
    });
  }
};

const writeState = async (deps: JanitorDeps, runId: string, inUseCount: number, at: Date): Promise<void> => {
  await deps.ssm.send(
    new PutParameterCommand({
      Name: statePath(deps.settings.parameterPrefix),
      Type: 'String',
      Overwrite: true,
      Value: JSON.stringify({ inUseCount, runId, at: at.toISOString() }),
      Description: 'Bakehouse janitor: the last run, for the fail-closed shrink check',
    }),
  );
};

const countBy = <T>(items: readonly T[], key: (item: T) => string): Record<string, number> => {
  const counts: Record<string, number> = {};
  for (const item of items) counts[key(item)] = (counts[key(item)] ?? 0) + 1;
  return counts;
};

/**
 * Image actions (other than unmark) on images whose launch permissions the inventory did not read:
 * none, by plan.ts `imagesWhereLaunchPermissionsDecide`. Checked anyway, so that a planner change
 * that broke its argument stops the run instead of retiring an image a share should have kept.
 */
export const actionsWithUnreadPermissions = (plan: Pick<Plan, 'actions'>, read: readonly string[]): string[] => {
  const known = new Set(read);
  return plan.actions.filter((a) => a.kind === 'image' && a.stage !== 'unmark' && !known.has(a.id)).map((a) => a.id);
};

/**
 * The report's `part` and `deferred`: a part that left work for lack of time names the next part,
 * which the bus's JanitorContinues rule invokes, up to MAX_PARTS; a dry run changes nothing, so
 * it has no next part (its report lists what it deferred).
 */
const partOf = (
  runId: string,
  payload: JanitorPayload,
  dryRun: boolean,
  launchPermissionsUnread: number,
  actionsNotStarted: number,
  actionsTaken: number,
  progressed: boolean,
): Pick<JanitorReport, 'part' | 'deferred'> => {
  const number = payload.part ?? 1;
  const deferred = launchPermissionsUnread + actionsNotStarted > 0;
  if (!deferred && number === 1) return {};
  const part = { of: payload.continueRun ?? runId, number };
  if (!deferred) return { part };
  // A part that read nothing and started nothing would be followed by one that does the same.
  const next = !dryRun && progressed && number < MAX_PARTS ? { nextPart: number + 1 } : {};
  const actionsDone = (payload.actionsDone ?? 0) + actionsTaken;
  return { part, deferred: { launchPermissionsUnread, actionsNotStarted, actionsDone, ...next } };
};

/** Runs the janitor once; never throws for a stopped run (the report says why), only for a bad payload. */
export const runJanitor = async (event: unknown, runId: string, deps: JanitorDeps): Promise<JanitorRunReport> => {
  const payload = parsePayload(event);
  const started = deps.clock();
  const dryRun = payload.dryRun ?? deps.settings.janitor.dryRun;
  let calls: Readonly<Record<string, number>> = {};
  let stoppedBecause: string | null = null;
  let items: JanitorItem[] = [];
  let keptImageRules: string[] = [];
  let errors: { resource: string; error: string }[] = [];
  let deregistered: string[] = [];
  let snapshotsDeleted: string[] = [];
  let parameters: ParameterReport | undefined;
  let launchPermissionsRead: number | undefined;
  let launchPermissionsUnread = 0;
  let actionsNotStarted = 0;
  /** Capped actions this part took (stage changes and snapshot deletions: not unmarks), or would. */
  let actionsTaken = 0;
  /** Actions this part started, unmarks included. */
  let actionsStarted = 0;
  const remaining = deps.remainingMs;
  const unreadableMode = payload.unreadableParameters ?? deps.settings.janitor.unreadableParameters ?? 'stop';

  try {
    const configured = janitorSettingsOf(deps.settings, deps.retention);
    // A later part has what the earlier parts left of the run's cap.
    const settings = {
      ...configured,
      maxActionsPerRun: Math.max(0, configured.maxActionsPerRun - (payload.actionsDone ?? 0)),
    };
    // Launch permissions only where they decide: the pre-pass runs on the inventory's world.
    // A later part starts from the permissions the run's earlier parts read.
    const known =
      payload.continueRun && payload.part && deps.checkpoint
        ? await deps.checkpoint.load(payload.continueRun, payload.part)
        : undefined;
    const inventory = await deps.readInventory({
      ...deps.inventoryDeps,
      ...(known ? { knownLaunchPermissions: known } : {}),
      launchPermissionsFor: (world) => launchPermissionReads(world, settings),
      ...(remaining ? { keepReading: () => remaining() > READ_RESERVE_MS } : {}),
    });
    calls = inventory.calls;
    launchPermissionsRead = inventory.launchPermissionsRead.length;
    launchPermissionsUnread = inventory.launchPermissionsDeferred?.length ?? 0;
    // A part that leaves reads for the next keeps its own (a dry run has no next part).
    if (launchPermissionsUnread > 0 && !dryRun && deps.checkpoint && inventory.launchPermissionsByImage) {
      await deps.checkpoint.save(payload.continueRun ?? runId, payload.part ?? 1, inventory.launchPermissionsByImage);
    }
    const coverage = inventory.parameters;
    parameters = {
      listed: coverage.listed,
      read: coverage.read,
      secureStringsSkipped: [...coverage.secureStrings],
      secureStringsSkippedCount: coverage.secureStrings.length,
      unreadable: [...coverage.unreadable],
      unreadableCount: coverage.unreadable.length,
      unreadableMode,
    };
    if (coverage.secureStrings.length > 0) {
      deps.logger.info('SecureString parameters skipped: the janitor never decrypts', {
        count: coverage.secureStrings.length,
        names: coverage.secureStrings.slice(0, MAX_EVENT_PARAMETERS),
      });
    }
    if (coverage.unreadable.length > 0) {
      deps.logger.warn('SSM parameters the janitor cannot read', {
        mode: unreadableMode,
        unreadable: coverage.unreadable.slice(0, MAX_EVENT_PARAMETERS),
      });
      errors.push(...coverage.unreadable.map((u) => ({ resource: u.name, error: u.error })));
      if (unreadableMode === 'stop') throw new UnreadableParametersStop(unreadableStop(coverage.unreadable));
    }
    const previous = await readPrevious(deps);
    const planned = deps.plan(inventory.world, settings, previous);
    const unread =
      'stop' in planned
        ? []
        : actionsWithUnreadPermissions(planned, [
            ...inventory.launchPermissionsRead,
            ...(inventory.launchPermissionsKnown ?? []),
          ]);
    if ('stop' in planned) {
      stoppedBecause = planned.stop;
    } else if (unread.length > 0) {
      stoppedBecause =
        `the plan would change ${unread.length} image(s) whose launch permissions were not read ` +
        `(${someNames(unread)}), so a share could not protect them: the permission pre-pass and the plan ` +
        'disagree. Nothing was changed. Fix: a janitor defect; report it with this message';
    } else {
      // The item names the parameter behind a parameter or channel rule; the counts stay by rule.
      const kept = planned.kept.map(
        (k): JanitorItem => ({
          kind: k.kind,
          id: k.id,
          family: k.family,
          action: 'kept',
          reason: k.by === undefined ? k.reason : `${k.reason} ${k.by}`,
        }),
      );
      keptImageRules = planned.kept.filter((k) => k.kind === 'image').map((k) => k.reason);
      if (dryRun) {
        const imageSnapshots = new Map(inventory.world.images.map((i) => [i.id, i.snapshotIds]));
        items = [...planned.actions.map(itemOfAction), ...kept];
        deregistered = planned.actions.filter((a) => a.stage === 'deregister').map((a) => a.id);
        snapshotsDeleted = [
          ...deregistered.flatMap((id) => imageSnapshots.get(id) ?? []),
          ...planned.actions.filter((a) => a.stage === 'delete-snapshot').map((a) => a.id),
        ];
      } else {
        const outcome = await deps.apply(planned, {
          ...deps.applyDeps,
          ...(remaining ? { keepApplying: () => remaining() > APPLY_RESERVE_MS } : {}),
        });
        actionsNotStarted = outcome.notStarted ?? 0;
        actionsTaken = Math.max(0, planned.actions.filter((a) => a.stage !== 'unmark').length - actionsNotStarted);
        actionsStarted = planned.actions.length - actionsNotStarted;
        items = [...outcome.items, ...kept];
        errors = [...errors, ...outcome.errors];
        deregistered = [...outcome.deregistered];
        snapshotsDeleted = [...outcome.snapshotsDeleted];
      }
      await writeState(deps, runId, planned.inUse.length, started);
    }
  } catch (error) {
    if (error instanceof UnreadableParametersStop) {
      stoppedBecause = error.message;
    } else if (error instanceof InventoryError) {
      stoppedBecause = `inventory incomplete: ${error.message}`;
      errors.push({ resource: error.call, error: error.message });
    } else {
      stoppedBecause = `unexpected error: ${errorNameOf(error) ?? 'Error'}: ${messageOf(error)}`;
      errors.push({ resource: 'janitor', error: messageOf(error) });
    }
  }
  if (stoppedBecause) deps.logger.warn('janitor run stopped before changing anything', { stoppedBecause });
  // Independent of the images: an expired builder is reaped even when the image plan stopped.
  let reaper: NonNullable<JanitorReport['reaper']> | undefined;
  if (deps.reap) {
    try {
      reaper = reaperSummary(await deps.reap({ dryRun }));
      errors.push(...reaper.errors.map((e) => ({ resource: e.instanceId, error: `reap: ${e.error}` })));
    } catch (error) {
      errors.push({ resource: 'reaper', error: messageOf(error) });
    }
  }

  const progressed = (launchPermissionsRead ?? 0) > 0 || actionsStarted > 0;
  if (!progressed && launchPermissionsUnread + actionsNotStarted > 0) {
    errors.push({
      resource: 'janitor',
      error:
        "out of time before any launch permission was read or any action started: listing the account took this invocation's time, " +
        "and another part would do the same, so none follows; the next night's run tries again. Fix: give the Janitor function its " +
        'full 15-minute timeout if it has less',
    });
  }
  const report: JanitorRunReport = {
    version: EVENT_VERSION,
    runId,
    dryRun,
    completed: stoppedBecause === null,
    stoppedBecause,
    deregistered,
    snapshotsDeleted,
    kept: countBy(keptImageRules, (rule) => rule),
    // Counts per action, and how many launch permissions the inventory read (DescribeImageAttribute).
    counts: {
      ...countBy(items, (i) => `${i.kind}:${i.action}`),
      ...(launchPermissionsRead === undefined ? {} : { launchPermissionsRead }),
    },
    items,
    itemsTruncated: false,
    errors,
    durationSeconds: Math.max(0, (deps.clock().getTime() - started.getTime()) / 1000),
    inventoryCalls: calls,
    ...partOf(runId, payload, dryRun, launchPermissionsUnread, actionsNotStarted, actionsTaken, progressed),
    ...(parameters === undefined ? {} : { parameters }),
    ...(reaper === undefined ? {} : { reaper }),
  };
  const { inventoryCalls: _calls, ...detail } = report;
  try {
    await publishEvent(deps.events, deps.eventTarget, DetailType.JanitorReport, {
      ...detail,
      items: items.slice(0, MAX_EVENT_ITEMS),
      itemsTruncated: items.length > MAX_EVENT_ITEMS,
      ...(parameters === undefined
        ? {}
        : {
            parameters: {
              ...parameters,
              secureStringsSkipped: parameters.secureStringsSkipped.slice(0, MAX_EVENT_PARAMETERS),
              unreadable: parameters.unreadable.slice(0, MAX_EVENT_PARAMETERS),
            },
          }),
    });
  } catch (error) {
    deps.logger.error('could not publish the Janitor Report', { error: messageOf(error) });
    return { ...report, errors: [...report.errors, { resource: 'events', error: messageOf(error) }] };
  }
  deps.logger.info('janitor run ended', {
    runId,
    dryRun,
    completed: report.completed,
    counts: report.counts,
    errors: errors.length,
  });
  return report;
};
