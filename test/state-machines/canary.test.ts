/**
 * The canary state machine, path by path: the real definition (state-machines/canary.asl.json,
 * substituted as the deployment substitutes it) run by aws-local-stepfunctions, every Task
 * overridden by state name with a stand-in for the canary function's answer.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { StateMachine } from 'aws-local-stepfunctions';
import { describe, expect, it } from 'vitest';
import { CANARY_FAILED_ERROR } from '../../functions/canary/core';
import {
  CANARY_STATE_MACHINE_FILE,
  CANARY_SUBSTITUTIONS,
  CANARY_TASK_ACTIONS,
  CanaryState,
  type CanaryStateName,
  type CanarySubstitution,
  loadCanaryDefinition,
  loadCanaryDefinitionForLocalEngine,
  MAX_INSTANCE_CHECKS,
} from '../../state-machines/canary';

// asl-validator 4 ships no type declarations.
type AslValidator = (
  definition: unknown,
  options?: { checkPaths?: boolean; checkArn?: boolean },
) => { isValid: boolean; errorsText: (separator?: string) => string };
const aslValidator = createRequire(import.meta.url)('asl-validator') as AslValidator;

type Json = Record<string, unknown>;
type JSONValue = Parameters<StateMachine['run']>[0];
type Handler = (input: Json) => unknown;

const CANARY_ID = 'al2023-web-bake-123';
const EXECUTION_ARN = `arn:aws:states:eu-west-1:111122223333:execution:bakehouse-test-canary:${CANARY_ID}`;
const FUNCTION_ARN = 'arn:aws:lambda:eu-west-1:111122223333:function:bakehouse-test-canary';

const substitutions = (): Record<CanarySubstitution, string> => ({
  CanaryFunctionArn: FUNCTION_ARN,
  EventBusName: 'bakehouse-test',
  EventSource: 'bakehouse',
});

const amiTested = {
  id: 'evt-1',
  source: 'bakehouse',
  'detail-type': 'AMI Tested',
  detail: {
    version: '1.0',
    bakeId: 'bake-123',
    family: 'al2023-web',
    amiId: 'ami-0aaaaaaaaaaaaaaa1',
    passed: true,
    results: [],
    testExecutionId: null,
  },
};

const launched = {
  skip: false,
  canaryId: CANARY_ID,
  family: 'al2023-web',
  channel: 'prod',
  amiId: 'ami-0aaaaaaaaaaaaaaa1',
  baselineAmiId: 'ami-0bbbbbbbbbbbbbbb2',
  instances: { baseline: ['i-0b0000000000000b1'], canary: ['i-0c0000000000000c1'] },
  checks: 0,
  allRunning: false,
  failed: false,
  warmupSeconds: 600,
  intervalSeconds: 600,
  intervalsJudged: 0,
  decision: null,
  judgement: null,
};

/** The canary function as the machine meets it on a healthy canary: running on the second check, three intervals. */
const healthy = (): Partial<Record<CanaryStateName, Handler>> => ({
  [CanaryState.StartCanary]: () => launched,
  [CanaryState.CheckInstances]: ({ state }) => {
    const s = state as Json;
    const checks = (s.checks as number) + 1;
    return { ...s, checks, allRunning: checks >= 2 };
  },
  [CanaryState.JudgeCanary]: ({ state }) => {
    const s = state as Json;
    const intervalsJudged = (s.intervalsJudged as number) + 1;
    return {
      ...s,
      intervalsJudged,
      decision: intervalsJudged < 3 ? 'continue' : 'end',
      judgement: { verdict: 'pass', score: 100 },
    };
  },
  [CanaryState.CleanupCanary]: () => ({ errors: [], instancesTerminated: 2 }),
  [CanaryState.PublishCanaryJudged]: () => ({ verdict: 'pass', published: true }),
  [CanaryState.PublishCanarySkipped]: () => ({ verdict: 'skipped', published: true }),
  [CanaryState.CleanupAfterError]: () => ({ errors: [], instancesTerminated: 2, published: 'error' }),
});

const TASKS = Object.keys(CANARY_TASK_ACTIONS) as CanaryStateName[];
const NO_PAUSE = Object.fromEntries(Object.values(CanaryState).map((state) => [state, 0]));

const lambdaError = (name: string, message = `${name} (test)`): Error => Object.assign(new Error(message), { name });

const runCanary = async (handlers: Partial<Record<CanaryStateName, Handler>> = {}) => {
  const all = { ...healthy(), ...handlers };
  const calls: { state: string; input: Json }[] = [];
  const recording = Object.fromEntries(
    Object.entries(all).map(([state, handler]) => [
      state,
      async (input: JSONValue): Promise<JSONValue> => {
        calls.push({ state, input: structuredClone(input) as Json });
        return handler(input as Json) as JSONValue;
      },
    ]),
  );
  const execution = new StateMachine(loadCanaryDefinitionForLocalEngine(substitutions())).run(amiTested, {
    overrides: { taskResourceLocalHandlers: recording, waitTimeOverrides: NO_PAUSE, retryIntervalOverrides: NO_PAUSE },
    context: { Execution: { Name: CANARY_ID, Id: EXECUTION_ARN } },
  });
  const output = (await execution.result.catch(() => undefined)) as Json | undefined;
  const events: { type: string; state?: { name: string }; Error?: string; Cause?: string }[] = [];
  for await (const event of execution.eventLogs) events.push(event as (typeof events)[number]);
  const failed = events.find((e) => e.type === 'ExecutionFailed');
  return {
    output,
    failure: failed ? { Error: failed.Error, Cause: failed.Cause } : undefined,
    entered: events.flatMap((e) => (e.type === 'StateEntered' && e.state ? [e.state.name] : [])),
    inputsOf: (state: CanaryStateName) => calls.filter((c) => c.state === state).map((c) => c.input),
  };
};

describe('the canary definition', () => {
  it('is valid ASL before and after substitution', () => {
    // Prepare
    const substituted = loadCanaryDefinition(substitutions());
    const raw: unknown = JSON.parse(readFileSync(CANARY_STATE_MACHINE_FILE, 'utf8'));

    // Act (the validator adds fields to what it checks: give it copies)
    const after = aslValidator(structuredClone(substituted), { checkPaths: true, checkArn: true });
    const before = aslValidator(structuredClone(raw), { checkPaths: true, checkArn: true });

    // Assess
    expect(after.errorsText('\n')).toBe('');
    expect(after.isValid).toBe(true);
    expect(before.errorsText('\n')).toBe('');
    expect(before.isValid).toBe(true);
  });

  it('names exactly the states CanaryState lists, and uses only the known placeholders', () => {
    // Prepare
    const text = readFileSync(CANARY_STATE_MACHINE_FILE, 'utf8');
    const definition = JSON.parse(text) as { States: Record<string, unknown> };

    // Act
    const placeholders = [...new Set([...text.matchAll(/\$\{([^}]*)\}/g)].map((m) => m[1]))].sort();

    // Assess
    expect(Object.keys(definition.States).sort()).toEqual(Object.values(CanaryState).sort());
    expect(placeholders).toEqual([...CANARY_SUBSTITUTIONS].sort());
  });

  it('invokes the canary function from every Task with its action, retries Lambda service errors, and catches into CleanupAfterError', () => {
    // Prepare
    const definition = loadCanaryDefinition(substitutions()) as {
      States: Record<string, { Type: string; Resource?: string; Parameters?: Json; Retry?: Json[]; Catch?: Json[] }>;
    };

    // Act
    const tasks = Object.entries(definition.States).filter(([, s]) => s.Type === 'Task');

    // Assess
    expect(tasks.map(([name]) => name).sort()).toEqual([...TASKS].sort());
    for (const [name, state] of tasks) {
      expect(state.Resource, name).toBe(FUNCTION_ARN);
      expect(state.Parameters?.action, name).toBe(CANARY_TASK_ACTIONS[name as CanaryStateName]);
      expect(state.Retry?.[0]?.ErrorEquals, name).toEqual(
        expect.arrayContaining(['Lambda.ServiceException', 'Lambda.TooManyRequestsException']),
      );
      const next = name === CanaryState.CleanupAfterError ? CanaryState.CanaryFailed : CanaryState.CleanupAfterError;
      expect(state.Catch, name).toEqual([expect.objectContaining({ ErrorEquals: ['States.ALL'], Next: next })]);
    }
  });

  it('waits out the warm-up and every interval with Wait states reading the canary state', () => {
    // Prepare
    const definition = loadCanaryDefinition(substitutions()) as { States: Record<string, Json> };

    // Assess
    expect(definition.States[CanaryState.WaitForWarmup]).toMatchObject({
      Type: 'Wait',
      SecondsPath: '$.warmupSeconds',
    });
    expect(definition.States[CanaryState.WaitForInterval]).toMatchObject({
      Type: 'Wait',
      SecondsPath: '$.intervalSeconds',
    });
    expect(definition.States[CanaryState.CanaryFailed]).toMatchObject({ Type: 'Fail', Error: CANARY_FAILED_ERROR });
  });

  it.each([
    ['an unknown key', { ...substitutions(), Extra: 'x' }, /unknown canary substitution\(s\): Extra/],
    [
      'a missing key',
      { CanaryFunctionArn: FUNCTION_ARN, EventBusName: 'b' },
      /missing canary substitution\(s\): EventSource/,
    ],
    ['a quote in a value', { ...substitutions(), EventSource: 'a"b' }, /EventSource must not contain quotes/],
  ])('refuses %s', (_what, given, message) => {
    // Act / Assess
    expect(() => loadCanaryDefinition(given as Record<CanarySubstitution, string>)).toThrow(message);
  });
});

describe('a healthy canary', () => {
  it('launches, waits until the instances run, judges every interval until the end, cleans up and publishes', async () => {
    // Act
    const run = await runCanary();

    // Assess
    expect(run.failure).toBeUndefined();
    expect(run.entered).toEqual([
      CanaryState.StartCanary,
      CanaryState.IsCanarySkipped,
      CanaryState.WaitForInstances,
      CanaryState.CheckInstances,
      CanaryState.AreInstancesRunning,
      CanaryState.WaitForInstances,
      CanaryState.CheckInstances,
      CanaryState.AreInstancesRunning,
      CanaryState.WaitForWarmup,
      CanaryState.WaitForInterval,
      CanaryState.JudgeCanary,
      CanaryState.IsAnalysisOver,
      CanaryState.WaitForInterval,
      CanaryState.JudgeCanary,
      CanaryState.IsAnalysisOver,
      CanaryState.WaitForInterval,
      CanaryState.JudgeCanary,
      CanaryState.IsAnalysisOver,
      CanaryState.CleanupCanary,
      CanaryState.PublishCanaryJudged,
      CanaryState.CanaryFinished,
    ]);
    expect(run.inputsOf(CanaryState.StartCanary)).toEqual([
      { action: 'start', canaryId: CANARY_ID, executionArn: EXECUTION_ARN, event: amiTested },
    ]);
    expect(run.inputsOf(CanaryState.CleanupCanary)).toEqual([
      {
        action: 'cleanup',
        canaryId: CANARY_ID,
        executionArn: EXECUTION_ARN,
        input: amiTested,
        state: expect.objectContaining({ intervalsJudged: 3, decision: 'end' }),
      },
    ]);
    expect(run.inputsOf(CanaryState.PublishCanaryJudged)).toEqual([
      {
        action: 'finish',
        state: expect.objectContaining({
          judgement: { verdict: 'pass', score: 100 },
          cleanup: { errors: [], instancesTerminated: 2 },
        }),
      },
    ]);
    expect(run.inputsOf(CanaryState.CleanupAfterError)).toEqual([]);
    expect(run.output).toMatchObject({ finish: { verdict: 'pass' }, cleanup: { instancesTerminated: 2 } });
  });

  it('retries a Lambda service error', async () => {
    // Prepare
    let calls = 0;
    const judge = healthy()[CanaryState.JudgeCanary] as Handler;

    // Act
    const run = await runCanary({
      [CanaryState.JudgeCanary]: (input) => {
        calls += 1;
        if (calls === 1) throw lambdaError('Lambda.TooManyRequestsException');
        return judge(input);
      },
    });

    // Assess
    expect(run.failure).toBeUndefined();
    expect(run.inputsOf(CanaryState.CleanupAfterError)).toEqual([]);
    expect(run.output).toMatchObject({ finish: { verdict: 'pass' } });
  });
});

describe('a skipped canary', () => {
  it('publishes the skip through finish and succeeds without checking anything', async () => {
    // Prepare
    const skipped = { skip: true, reason: "channel 'prod' has no image yet", channel: 'prod', canaryId: CANARY_ID };

    // Act
    const run = await runCanary({ [CanaryState.StartCanary]: () => skipped });

    // Assess
    expect(run.failure).toBeUndefined();
    expect(run.entered).toEqual([
      CanaryState.StartCanary,
      CanaryState.IsCanarySkipped,
      CanaryState.PublishCanarySkipped,
      CanaryState.CanarySkipped,
    ]);
    expect(run.inputsOf(CanaryState.PublishCanarySkipped)).toEqual([{ action: 'finish', state: skipped }]);
    expect(run.inputsOf(CanaryState.CheckInstances)).toEqual([]);
  });
});

describe('the failure path', () => {
  it('cleans up with the error when JudgeCanary fails, and fails the execution', async () => {
    // Act
    const run = await runCanary({
      [CanaryState.JudgeCanary]: () => {
        throw lambdaError('InvalidCanarySampleError', 'metric latency: sample value -1 is negative');
      },
    });

    // Assess
    expect(run.failure?.Error).toBe(CANARY_FAILED_ERROR);
    expect(run.entered.slice(-3)).toEqual([
      CanaryState.JudgeCanary,
      CanaryState.CleanupAfterError,
      CanaryState.CanaryFailed,
    ]);
    const [cleanup] = run.inputsOf(CanaryState.CleanupAfterError);
    expect(cleanup).toMatchObject({
      action: 'cleanup',
      canaryId: CANARY_ID,
      executionArn: EXECUTION_ARN,
      input: amiTested,
      error: { Error: 'InvalidCanarySampleError' },
      state: expect.objectContaining({ instances: launched.instances, allRunning: true }),
    });
    expect(run.inputsOf(CanaryState.CleanupCanary)).toEqual([]);
    expect(run.inputsOf(CanaryState.PublishCanaryJudged)).toEqual([]);
  });

  it(`gives up after ${MAX_INSTANCE_CHECKS} checks of instances that never run, and cleans up`, async () => {
    // Act
    const run = await runCanary({
      [CanaryState.CheckInstances]: ({ state }) => ({
        ...(state as Json),
        checks: ((state as Json).checks as number) + 1,
      }),
    });

    // Assess
    expect(run.failure?.Error).toBe(CANARY_FAILED_ERROR);
    expect(run.inputsOf(CanaryState.CheckInstances)).toHaveLength(MAX_INSTANCE_CHECKS);
    expect(run.entered.slice(-3)).toEqual([
      CanaryState.MarkInstancesNotRunning,
      CanaryState.CleanupAfterError,
      CanaryState.CanaryFailed,
    ]);
    expect(run.inputsOf(CanaryState.CleanupAfterError)[0]).toMatchObject({
      error: { Error: 'CanaryInstancesNotRunning' },
      state: expect.objectContaining({ instances: launched.instances }),
    });
    expect(run.inputsOf(CanaryState.JudgeCanary)).toEqual([]);
  });

  it('cleans up at once when an instance stopped or terminated', async () => {
    // Act
    const run = await runCanary({
      [CanaryState.CheckInstances]: ({ state }) => ({ ...(state as Json), checks: 1, failed: true }),
    });

    // Assess
    expect(run.failure?.Error).toBe(CANARY_FAILED_ERROR);
    expect(run.entered.slice(-3)).toEqual([
      CanaryState.MarkInstancesFailed,
      CanaryState.CleanupAfterError,
      CanaryState.CanaryFailed,
    ]);
    expect(run.inputsOf(CanaryState.CleanupAfterError)[0]).toMatchObject({ error: { Error: 'CanaryInstancesFailed' } });
  });

  it('cleans up when StartCanary fails, with the execution input to say who the canary is', async () => {
    // Act
    const run = await runCanary({
      [CanaryState.StartCanary]: () => {
        throw lambdaError('CanaryLaunchError', 'canary: could not launch');
      },
    });

    // Assess
    expect(run.failure?.Error).toBe(CANARY_FAILED_ERROR);
    expect(run.inputsOf(CanaryState.CleanupAfterError)[0]).toMatchObject({
      input: amiTested,
      error: { Error: 'CanaryLaunchError' },
    });
  });

  it('still fails (without a second cleanup) when CleanupAfterError itself fails', async () => {
    // Act
    const run = await runCanary({
      [CanaryState.JudgeCanary]: () => {
        throw lambdaError('Error', 'boom');
      },
      [CanaryState.CleanupAfterError]: () => {
        throw lambdaError('PublishError', 'bus gone');
      },
    });

    // Assess
    expect(run.failure?.Error).toBe(CANARY_FAILED_ERROR);
    expect(run.inputsOf(CanaryState.CleanupAfterError)).toHaveLength(1);
  });
});
