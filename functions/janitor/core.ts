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
import { type ApplyDeps, type ApplyOutcome, itemOfAction } from './apply';
import { InventoryError } from './errors';
import type { Inventory, InventoryDeps } from './inventory';
import type { JanitorSettings, Plan, World } from './model';

/** Items an event carries at most (an event holds 256 KB). */
export const MAX_EVENT_ITEMS = 500;

/** Where the last run's in-use count lives, for the shrink check. */
export const statePath = (prefix: string): string => `${prefix}/_janitor/state`;

/** What the shrink check compares with. */
export interface PreviousRun {
  readonly inUseCount: number;
}

export interface JanitorPayload {
  readonly dryRun?: boolean;
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
}

/** The full report the function returns; the event carries the same with items cut at 500. */
export type JanitorRunReport = JanitorReport & {
  /** Describe/Get calls the inventory made, per action. */
  readonly inventoryCalls: Readonly<Record<string, number>>;
};

/** `{}`, `null` or nothing (the schedule) or `{ dryRun: boolean }`; anything else is refused. */
export const parsePayload = (event: unknown): JanitorPayload => {
  if (event === undefined || event === null) return {};
  if (typeof event !== 'object' || Array.isArray(event)) {
    throw new InvalidEventError('the janitor payload must be an object such as {"dryRun": true}');
  }
  const { dryRun, ...rest } = event as Record<string, unknown>;
  const unknown = Object.keys(rest);
  if (unknown.length > 0) {
    throw new InvalidEventError(`unknown field(s) ${unknown.join(', ')}. Fix: send only {"dryRun": true|false}`);
  }
  if (dryRun !== undefined && typeof dryRun !== 'boolean') {
    throw new InvalidEventError('dryRun: must be true or false. Fix: send {"dryRun": true} or {"dryRun": false}');
  }
  return dryRun === undefined ? {} : { dryRun };
};

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

/** Runs the janitor once; never throws for a stopped run (the report says why), only for a bad payload. */
export const runJanitor = async (event: unknown, runId: string, deps: JanitorDeps): Promise<JanitorRunReport> => {
  const payload = parsePayload(event);
  const started = deps.clock();
  const dryRun = payload.dryRun ?? deps.settings.janitor.dryRun;
  let calls: Readonly<Record<string, number>> = {};
  let stoppedBecause: string | null = null;
  let items: JanitorItem[] = [];
  let keptImages: JanitorItem[] = [];
  let errors: { resource: string; error: string }[] = [];
  let deregistered: string[] = [];
  let snapshotsDeleted: string[] = [];

  try {
    const inventory = await deps.readInventory(deps.inventoryDeps);
    calls = inventory.calls;
    const previous = await readPrevious(deps);
    const planned = deps.plan(inventory.world, janitorSettingsOf(deps.settings, deps.retention), previous);
    if ('stop' in planned) {
      stoppedBecause = planned.stop;
    } else {
      const kept = planned.kept.map(
        (k): JanitorItem => ({ kind: k.kind, id: k.id, family: k.family, action: 'kept', reason: k.reason }),
      );
      keptImages = kept.filter((k) => k.kind === 'image');
      if (dryRun) {
        const imageSnapshots = new Map(inventory.world.images.map((i) => [i.id, i.snapshotIds]));
        items = [...planned.actions.map(itemOfAction), ...kept];
        deregistered = planned.actions.filter((a) => a.stage === 'deregister').map((a) => a.id);
        snapshotsDeleted = [
          ...deregistered.flatMap((id) => imageSnapshots.get(id) ?? []),
          ...planned.actions.filter((a) => a.stage === 'delete-snapshot').map((a) => a.id),
        ];
      } else {
        const outcome = await deps.apply(planned, deps.applyDeps);
        items = [...outcome.items, ...kept];
        errors = [...outcome.errors];
        deregistered = [...outcome.deregistered];
        snapshotsDeleted = [...outcome.snapshotsDeleted];
      }
      await writeState(deps, runId, planned.inUse.length, started);
    }
  } catch (error) {
    if (error instanceof InventoryError) {
      stoppedBecause = `inventory incomplete: ${error.message}`;
      errors.push({ resource: error.call, error: error.message });
    } else {
      stoppedBecause = `unexpected error: ${errorNameOf(error) ?? 'Error'}: ${messageOf(error)}`;
      errors.push({ resource: 'janitor', error: messageOf(error) });
    }
  }
  if (stoppedBecause) deps.logger.warn('janitor run stopped before changing anything', { stoppedBecause });

  const report: JanitorRunReport = {
    version: EVENT_VERSION,
    runId,
    dryRun,
    completed: stoppedBecause === null,
    stoppedBecause,
    deregistered,
    snapshotsDeleted,
    kept: countBy(keptImages, (k) => k.reason),
    counts: countBy(items, (i) => `${i.kind}:${i.action}`),
    items,
    itemsTruncated: false,
    errors,
    durationSeconds: Math.max(0, (deps.clock().getTime() - started.getTime()) / 1000),
    inventoryCalls: calls,
  };
  const { inventoryCalls: _calls, ...detail } = report;
  try {
    await publishEvent(deps.events, deps.eventTarget, DetailType.JanitorReport, {
      ...detail,
      items: items.slice(0, MAX_EVENT_ITEMS),
      itemsTruncated: items.length > MAX_EVENT_ITEMS,
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
