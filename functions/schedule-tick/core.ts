/**
 * EventBridge Scheduler fires here for each family's schedule. Plain cron schedules are always
 * due; calendar rules such as "second Tuesday + 1 day" fire on the weekday and only the one
 * firing inside the day-of-month window becomes a `Bake Requested` event.
 */
import type { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { UnknownFamilyError } from '../commons/errors';
import { type BakeRequest, DetailType, EVENT_VERSION } from '../commons/events';
import type { BakehouseConfig } from '../commons/families';
import { findFamily } from '../commons/family-lookup';
import type { LogPort } from '../commons/powertools';
import { type EventTarget, publishEvent } from '../commons/publish';
import { compileSchedule, isDue } from '../commons/schedule';

export interface ScheduleTickInput {
  readonly family: string;
  /** Scheduler's `<aws.scheduler.scheduled-time>`, ISO 8601. */
  readonly scheduledTime: string;
}

export interface ScheduleTickDeps {
  readonly config: BakehouseConfig;
  readonly events: Pick<EventBridgeClient, 'send'>;
  readonly target: EventTarget;
  readonly logger: LogPort;
}

export type ScheduleTickResult =
  | { readonly status: 'requested'; readonly eventId: string; readonly idempotencyKey: string }
  | { readonly status: 'not-due'; readonly reason: string };

export const scheduleTick = async (input: ScheduleTickInput, deps: ScheduleTickDeps): Promise<ScheduleTickResult> => {
  const family = findFamily(deps.config, input.family);
  if (!family?.schedule) {
    throw new UnknownFamilyError(
      `schedule fired for '${input.family}', which has no schedule in this deployment. Fix: redeploy the stack so schedules match the config`,
    );
  }
  const at = new Date(input.scheduledTime);
  if (Number.isNaN(at.getTime())) {
    throw new TypeError(`scheduledTime '${input.scheduledTime}' is not an ISO 8601 time`);
  }
  const compiled = compileSchedule(family.schedule);
  if (!isDue(compiled, at)) {
    const reason = `not due: ${compiled.description}`;
    deps.logger.info('schedule fired outside its calendar window', { family: family.name, reason });
    return { status: 'not-due', reason };
  }
  // One key per family and tick: a retried firing cannot start a second bake.
  const idempotencyKey = `schedule:${family.name}:${at.toISOString()}`;
  const detail: BakeRequest = {
    version: EVENT_VERSION,
    family: family.name,
    reason: `scheduled: ${compiled.description}`,
    requestedBy: 'bakehouse:schedule',
    idempotencyKey,
    force: false,
  };
  const eventId = await publishEvent(deps.events, deps.target, DetailType.BakeRequested, detail);
  deps.logger.info('scheduled bake requested', { family: family.name, idempotencyKey, eventId });
  return { status: 'requested', eventId, idempotencyKey };
};
