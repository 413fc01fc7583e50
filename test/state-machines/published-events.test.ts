/**
 * What the bake state machine publishes is what the contract documents: the real definition runs
 * on aws-local-stepfunctions (as in bake.test.ts) along its success, skip and failure paths, and
 * every `events:putEvents` entry is checked against the schema file of its detail-type, with a
 * JSON Schema validator, and with `parseEvent` as consumers read it.
 */
import { StateMachine } from 'aws-local-stepfunctions';
import { describe, expect, it } from 'vitest';
import { AutomationErrorName } from '../../functions/commons/bake-plan';
import { parseEvent } from '../../functions/commons/contract';
import { DetailType } from '../../functions/commons/events';
import type { ContractDetailType } from '../../schemas/event-schemas';
import { createEventValidator } from '../../schemas/validator';
import { BakeState, type BakeStateName, loadBakeDefinitionForLocalEngine } from '../../state-machines/bake';
import {
  AUTOMATION_EXECUTION_ID,
  asJson,
  bakeContext,
  bakeRequest,
  bakeSubstitutions,
  successHandlers,
  type TaskHandler,
  type TaskHandlers,
} from '../fixtures/state-machines/bake-machine';

const PUBLISHING_STATES: readonly BakeStateName[] = [
  BakeState.PublishBakeSkipped,
  BakeState.PublishBakeStarted,
  BakeState.PublishAmiBaked,
  BakeState.PublishBakeFailed,
];
const NO_RETRY_PAUSE = Object.fromEntries(Object.values(BakeState).map((state) => [state, 0]));

interface Entry {
  readonly EventBusName: string;
  readonly Source: string;
  readonly DetailType: string;
  readonly Detail: unknown;
}

/** Runs the bake definition and returns every entry the publishing states were given. */
const publishedBy = async (handlers: TaskHandlers = {}): Promise<Entry[]> => {
  const entries: Entry[] = [];
  const recording = Object.fromEntries(
    Object.entries({ ...successHandlers(), ...handlers }).map(([state, handler]): [string, TaskHandler] => [
      state,
      (input) => {
        if (PUBLISHING_STATES.includes(state as BakeStateName)) {
          entries.push(...structuredClone((input as unknown as { Entries: Entry[] }).Entries));
        }
        return handler(input);
      },
    ]),
  );
  const execution = new StateMachine(loadBakeDefinitionForLocalEngine(bakeSubstitutions())).run(asJson(bakeRequest()), {
    overrides: { taskResourceLocalHandlers: recording, retryIntervalOverrides: NO_RETRY_PAUSE },
    context: bakeContext(),
  });
  await execution.result.catch(() => undefined);
  return entries;
};

/** The event EventBridge makes of an entry (PutEvents takes Detail as a JSON string or, from Step Functions, an object). */
const eventOf = (entry: Entry) => ({
  version: '0',
  id: '5b3c2f8e-93a1-4d0b-8e7f-1a2b3c4d5e6f',
  'detail-type': entry.DetailType,
  source: entry.Source,
  account: '123456789012',
  time: '2026-11-22T03:21:05Z',
  region: 'us-east-1',
  resources: [],
  detail: typeof entry.Detail === 'string' ? (JSON.parse(entry.Detail) as unknown) : entry.Detail,
});

const validate = createEventValidator();

const expectValid = (entries: readonly Entry[]) => {
  for (const entry of entries) {
    const type = entry.DetailType as ContractDetailType;
    const verdict = validate(type, eventOf(entry));
    expect(verdict.errors, `${type}: ${JSON.stringify(entry.Detail)}`).toEqual([]);
    expect(verdict.valid).toBe(true);
    expect(() => parseEvent(eventOf(entry), [type])).not.toThrow();
  }
};

const awsError = (name: string, message: string): Error => Object.assign(new Error(message), { name });

describe('events the bake state machine publishes', () => {
  it('on the success path, Bake Started and AMI Baked match their schema files', async () => {
    // Act
    const entries = await publishedBy();

    // Assess
    expect(entries.map((e) => e.DetailType)).toEqual([DetailType.BakeStarted, DetailType.AmiBaked]);
    expectValid(entries);
  });

  it('on the skip path, Bake Skipped matches its schema file', async () => {
    // Act
    const entries = await publishedBy(successHandlers('skip'));

    // Assess
    expect(entries.map((e) => e.DetailType)).toEqual([DetailType.BakeSkipped]);
    expectValid(entries);
  });

  it('when the automation fails, Bake Started and Bake Failed match their schema files', async () => {
    // Prepare
    const cause = JSON.stringify({
      automationExecutionId: AUTOMATION_EXECUTION_ID,
      status: 'Failed',
      failedStep: 'patchInstance',
      reason: 'yum exited with 1',
    });

    // Act
    const entries = await publishedBy({
      [BakeState.WaitForAutomation]: () => {
        throw awsError(AutomationErrorName.Failed, cause);
      },
    });

    // Assess
    expect(entries.map((e) => e.DetailType)).toEqual([DetailType.BakeStarted, DetailType.BakeFailed]);
    expectValid(entries);
  });

  it('when the plan rejects the request, Bake Failed (no automation, no step) matches its schema file', async () => {
    // Act
    const entries = await publishedBy({
      [BakeState.PlanBake]: () => {
        throw awsError('UnknownFamilyError', "no family named 'al2023-bsae'");
      },
    });

    // Assess
    expect(entries.map((e) => e.DetailType)).toEqual([DetailType.BakeFailed]);
    expect(eventOf(entries[0]!).detail).toMatchObject({ automationExecutionId: null });
    expectValid(entries);
  });

  it('a published detail that broke the contract would fail here', () => {
    // Prepare: AMI Baked without its amiId
    const entry: Entry = {
      EventBusName: 'bakehouse-test',
      Source: 'bakehouse',
      DetailType: DetailType.AmiBaked,
      Detail: { version: '1.0', bakeId: 'b', family: 'f' },
    };

    // Act
    const verdict = validate(DetailType.AmiBaked, eventOf(entry));

    // Assess
    expect(verdict.valid).toBe(false);
    expect(verdict.errors.join('; ')).toContain("must have required property 'amiId'");
  });
});
