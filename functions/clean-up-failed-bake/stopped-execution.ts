/**
 * The failure path for bakes that ended outside the state machine's own paths: an execution that
 * was stopped (StopExecution: ABORTED), outlived its TimeoutSeconds (TIMED_OUT), or failed without
 * reaching its `BakeFailed` Fail state (FAILED with another error: a runtime error, or the
 * sandbox's restart recovery). Step Functions runs no Catch for those, so nothing in the execution
 * stops the automation, terminates the builder or releases the family lock. Step Functions sends
 * every status change to the default bus as "Step Functions Execution Status Change"
 * (https://docs.aws.amazon.com/step-functions/latest/dg/eventbridge-integration.html, detail as
 * DescribeExecution: executionArn, name, status, input, error, cause); a rule on it
 * (stacks/stopped-bakes.ts) invokes CleanUpFailedBake with the event, and this module runs the
 * same cleanup as the state machine's failure path and publishes `Bake Failed` itself.
 *
 * What the bake knew comes from the execution's history (GetExecutionHistory, newest first): the
 * input of the last state entered holds the bake record `{ plan, automation, failure? }`.
 *
 * Idempotent: a bake whose history shows `Bake Failed` or `AMI Baked` published (the publish
 * state exited) is not announced again, and every cleanup step is safe to repeat (a stopped
 * automation, a terminated builder, a released lock stay so).
 */
import type { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { type HistoryEvent, paginateGetExecutionHistory, type SFNClient } from '@aws-sdk/client-sfn';
import type { BakeFailure, BakeFailureInput } from '../commons/bake-plan';
import { messageOf } from '../commons/errors';
import { DetailType, EVENT_VERSION } from '../commons/events';
import { type EventTarget, publishEvent } from '../commons/publish';
import { type CleanUpFailedBakeDeps, cleanUpFailedBake } from './core';

export const STATES_EVENT_SOURCE = 'aws.states';
export const EXECUTION_STATUS_CHANGE = 'Step Functions Execution Status Change';

/**
 * The error of the bake machine's own Fail state (state-machines/bake.ts BAKE_FAILED_ERROR): an
 * execution that failed with it ran its failure path and published `Bake Failed` already.
 */
export const OWN_FAILURE_ERROR = 'BakeFailed';
/** The states whose exit means the bake's outcome was published (state-machines/bake.ts BakeState). */
export const PUBLISHING_STATES = { PublishBakeFailed: 'Bake Failed', PublishAmiBaked: 'AMI Baked' } as const;

/** The statuses that end an execution outside its own failure path (FAILED only with another error). */
export const STOPPED_STATUSES = ['ABORTED', 'TIMED_OUT', 'FAILED'] as const;
type StoppedStatus = (typeof STOPPED_STATUSES)[number];

export interface ExecutionStatusChange {
  readonly source?: string;
  readonly 'detail-type'?: string;
  readonly detail?: {
    readonly executionArn?: string;
    readonly name?: string;
    readonly status?: string;
    readonly input?: string | null;
    readonly error?: string | null;
    readonly cause?: string | null;
  };
}

export interface StoppedExecutionDeps extends CleanUpFailedBakeDeps {
  readonly sfn: Pick<SFNClient, 'send'>;
  readonly events: Pick<EventBridgeClient, 'send'>;
  readonly target: EventTarget;
}

export type StoppedExecutionResult =
  | { readonly outcome: 'ignored'; readonly reason: string }
  | { readonly outcome: 'already-announced'; readonly detailType: string }
  | { readonly outcome: 'announced'; readonly failure: BakeFailure; readonly eventId: string };

export const isExecutionStatusChange = (event: unknown): event is ExecutionStatusChange =>
  !!event &&
  typeof event === 'object' &&
  (event as ExecutionStatusChange).source === STATES_EVENT_SOURCE &&
  (event as ExecutionStatusChange)['detail-type'] === EXECUTION_STATUS_CHANGE;

const isStopped = (status: string | undefined): status is StoppedStatus =>
  (STOPPED_STATUSES as readonly string[]).includes(status ?? '');

const STOP_WORDS: Record<StoppedStatus, { error: string; what: string }> = {
  ABORTED: { error: 'ExecutionAborted', what: 'the execution was stopped (StopExecution)' },
  TIMED_OUT: { error: 'States.Timeout', what: "the execution ran longer than the state machine's TimeoutSeconds" },
  FAILED: { error: 'ExecutionFailed', what: 'the execution failed outside its failure path' },
};

const parseJson = (text: string | null | undefined): unknown => {
  if (!text) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
};

interface BakeRecord {
  readonly plan?: BakeFailureInput['plan'];
  readonly automation?: BakeFailureInput['automation'];
  readonly failure?: BakeFailureInput['failure'];
}

/** What the history says: the last state entered, its bake record, and an outcome already published. */
export interface ExecutionStory {
  readonly lastState: string | null;
  readonly record: BakeRecord | null;
  readonly published: string | null;
}

const enteredName = (event: HistoryEvent): string | undefined =>
  event.type?.endsWith('StateEntered') ? event.stateEnteredEventDetails?.name : undefined;

/** Reads the history newest first until it knows the last state entered (and any publish). */
export const readStory = async (sfn: Pick<SFNClient, 'send'>, executionArn: string): Promise<ExecutionStory> => {
  let lastState: string | null = null;
  let record: BakeRecord | null = null;
  let published: string | null = null;
  const pages = paginateGetExecutionHistory(
    { client: sfn as SFNClient },
    { executionArn, reverseOrder: true, includeExecutionData: true, maxResults: 1000 },
  );
  for await (const page of pages) {
    for (const event of page.events ?? []) {
      const exited = event.type?.endsWith('StateExited') ? event.stateExitedEventDetails?.name : undefined;
      if (exited && exited in PUBLISHING_STATES) {
        published ??= PUBLISHING_STATES[exited as keyof typeof PUBLISHING_STATES];
      }
      const entered = enteredName(event);
      if (entered && lastState === null) lastState = entered;
      if (entered && record === null) {
        const input = parseJson(event.stateEnteredEventDetails?.input);
        if (input && typeof input === 'object' && 'plan' in input) record = input as BakeRecord;
      }
    }
  }
  return { lastState, record, published };
};

/** The failure-path input for a stopped execution: the bake record, and a failure naming the stop. */
export const stoppedBakeInput = (
  detail: NonNullable<ExecutionStatusChange['detail']> & { status: StoppedStatus },
  story: ExecutionStory,
): BakeFailureInput => {
  const words = STOP_WORDS[detail.status];
  const state = story.lastState ?? 'Unknown';
  const cause = `${words.what} in state ${state}${detail.cause ? `: ${detail.cause}` : ''}`;
  const failure = story.record?.failure ?? { [state]: { Error: detail.error ?? words.error, Cause: cause } };
  return {
    bakeId: detail.name ?? detail.executionArn?.split(':').at(-1) ?? 'unknown',
    request: parseJson(detail.input),
    plan: story.record?.plan ?? null,
    automation: story.record?.automation ?? null,
    failure,
  };
};

export const cleanUpStoppedExecution = async (
  event: ExecutionStatusChange,
  deps: StoppedExecutionDeps,
): Promise<StoppedExecutionResult> => {
  const detail = event.detail ?? {};
  const status = detail.status;
  if (!detail.executionArn || !isStopped(status)) {
    return { outcome: 'ignored', reason: `status ${status ?? '(none)'} needs no cleanup` };
  }
  if (status === 'FAILED' && detail.error === OWN_FAILURE_ERROR) {
    return { outcome: 'ignored', reason: 'the execution ran its own failure path' };
  }
  const story = await readStory(deps.sfn, detail.executionArn);
  if (story.published) {
    deps.logger.info('the bake already announced its outcome; nothing to clean up', {
      executionArn: detail.executionArn,
      published: story.published,
    });
    return { outcome: 'already-announced', detailType: story.published };
  }
  const input = stoppedBakeInput({ ...detail, status }, story);
  const failure = await cleanUpFailedBake(input, deps);
  try {
    const eventId = await publishEvent(deps.events, deps.target, DetailType.BakeFailed, {
      version: EVENT_VERSION,
      bakeId: failure.bakeId,
      family: failure.family,
      failedStep: failure.failedStep,
      reason: failure.reason,
      automationExecutionId: failure.automationExecutionId,
      ...(failure.cleanup ? { cleanup: failure.cleanup } : {}),
    });
    return { outcome: 'announced', failure, eventId };
  } catch (error) {
    deps.logger.error('could not publish Bake Failed for a stopped execution', { error: messageOf(error) });
    throw error;
  }
};
