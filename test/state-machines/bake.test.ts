/**
 * The bake state machine, path by path: the real definition (state-machines/bake.asl.json,
 * substituted by loadBakeDefinition as the deployment substitutes it) run by
 * aws-local-stepfunctions, every Task overridden by state name. Each test asserts what the
 * execution returned or how it failed, and which tasks were called with what.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { StateMachine } from 'aws-local-stepfunctions';
import { describe, expect, it } from 'vitest';
import { AutomationErrorName, type AutomationFailureCause } from '../../functions/commons/bake-plan';
import { DetailType, EVENT_VERSION } from '../../functions/commons/events';
import {
  BAKE_FAILED_ERROR,
  BAKE_STATE_MACHINE_FILE,
  BAKE_SUBSTITUTIONS,
  BakeState,
  type BakeStateName,
  type BakeSubstitution,
  type CleanUpTaskInput,
  countTransitions,
  loadBakeDefinition,
  loadBakeDefinitionForLocalEngine,
} from '../../state-machines/bake';
import {
  AUTOMATION_EXECUTION_ID,
  actionPlan,
  asJson,
  automationResult,
  BAKE_ID,
  BAKE_KEY,
  bakeContext,
  bakeRequest,
  bakeSubstitutions,
  FAMILY,
  type JsonValue,
  NEW_AMI_ID,
  SOURCE_AMI_ID,
  skipPlan,
  successHandlers,
  TASK_TOKEN,
  type TaskHandler,
  type TaskHandlers,
} from '../fixtures/state-machines/bake-machine';

// asl-validator 4 ships no type declarations.
type AslValidator = (
  definition: unknown,
  options?: { checkPaths?: boolean; checkArn?: boolean },
) => { isValid: boolean; errorsText: (separator?: string) => string };
const aslValidator = createRequire(import.meta.url)('asl-validator') as AslValidator;

type EventLogEntry = ReturnType<StateMachine['run']>['eventLogs'] extends AsyncGenerator<infer E> ? E : never;

const PUBLISHING_STATES: readonly BakeStateName[] = [
  BakeState.PublishBakeSkipped,
  BakeState.PublishBakeStarted,
  BakeState.PublishAmiBaked,
  BakeState.PublishBakeFailed,
];
const SUCCESS_PATH: readonly BakeStateName[] = [
  BakeState.PlanBake,
  BakeState.IsAlreadyBaked,
  BakeState.StartAutomation,
  BakeState.PublishBakeStarted,
  BakeState.WaitForAutomation,
  BakeState.TagAmi,
  BakeState.WriteCandidateChannel,
  BakeState.RecordBakedKey,
  BakeState.ReleaseFamilyLock,
  BakeState.PublishAmiBaked,
];
/** Retries pause for nothing here; the retriers' shapes are asserted on the definition. */
const NO_RETRY_PAUSE = Object.fromEntries(Object.values(BakeState).map((state) => [state, 0]));

interface Published {
  readonly state: string;
  readonly EventBusName: string;
  readonly Source: string;
  readonly DetailType: string;
  readonly Detail: Record<string, unknown>;
}

interface BakeRun {
  readonly output: unknown;
  readonly failure: { readonly Error: string; readonly Cause: unknown } | undefined;
  readonly events: readonly EventLogEntry[];
  readonly entered: readonly string[];
  readonly inputsOf: (state: BakeStateName) => Record<string, unknown>[];
  readonly published: () => Published[];
}

const runBake = async (
  options: {
    handlers?: TaskHandlers;
    input?: JsonValue;
    substitutions?: Partial<Record<BakeSubstitution, string>>;
  } = {},
): Promise<BakeRun> => {
  const definition = loadBakeDefinitionForLocalEngine(bakeSubstitutions(options.substitutions));
  const calls: { state: string; input: Record<string, unknown> }[] = [];
  const handlers = { ...successHandlers(), ...options.handlers };
  const recording = Object.fromEntries(
    Object.entries(handlers).map(([state, handler]): [string, TaskHandler] => [
      state,
      (input) => {
        calls.push({ state, input: structuredClone(input) as Record<string, unknown> });
        return handler(input);
      },
    ]),
  );
  const execution = new StateMachine(definition).run(options.input ?? asJson(bakeRequest()), {
    overrides: { taskResourceLocalHandlers: recording, retryIntervalOverrides: NO_RETRY_PAUSE },
    context: bakeContext(),
  });
  const output = await execution.result.catch(() => undefined);
  const events: EventLogEntry[] = [];
  for await (const event of execution.eventLogs) events.push(event);
  const failed = events.find((event) => event.type === 'ExecutionFailed');
  return {
    output,
    failure: failed && 'Error' in failed ? { Error: failed.Error, Cause: failed.Cause } : undefined,
    events,
    entered: events.flatMap((event) => (event.type === 'StateEntered' ? [event.state.name] : [])),
    inputsOf: (state) => calls.filter((call) => call.state === state).map((call) => call.input),
    published: () =>
      calls
        .filter((call) => PUBLISHING_STATES.includes(call.state as BakeStateName))
        .flatMap((call) =>
          (call.input.Entries as Omit<Published, 'state'>[]).map((e) => ({ state: call.state, ...e })),
        ),
  };
};

const awsError = (name: string, message = `${name} (test)`): Error => Object.assign(new Error(message), { name });

/** Fails the first `times` calls with `error`, then answers as `then` does. */
const failing =
  (times: number, error: () => Error, then: TaskHandler): TaskHandler =>
  (input) => {
    if (times > 0) {
      times -= 1;
      throw error();
    }
    return then(input);
  };

/** Every EC2 error through the aws-sdk integration: EC2 models none, so the code is only in the Cause. */
const EC2_EXCEPTION = 'Ec2.Ec2Exception';

/** EC2 throttling as the aws-sdk integration reports it (HTTP 503, code RequestLimitExceeded). */
const ec2Throttled = (): Error =>
  awsError(
    EC2_EXCEPTION,
    'Request limit exceeded. (Service: Ec2, Status Code: 503, Error Code: RequestLimitExceeded, Request ID: 5ee0d3b1-test)',
  );

/** A callback that never comes: the wait task times out (TimeoutSecondsPath). */
const neverCalledBack: TaskHandler = () => new Promise<JsonValue>(() => undefined);

const automationCause = (overrides: Partial<AutomationFailureCause> = {}): string =>
  JSON.stringify({
    automationExecutionId: AUTOMATION_EXECUTION_ID,
    status: 'Failed',
    failedStep: 'patchInstance',
    reason: 'Step fails when it is Executing. Fail message: yum exited with 1',
    ...overrides,
  } satisfies AutomationFailureCause);

const startedAutomation = { automationExecutionId: AUTOMATION_EXECUTION_ID, waits: 0, waitSeconds: 600 };

describe('bake state machine definition', () => {
  it('is valid ASL for asl-validator once substituted, and valid JSON and ASL before', () => {
    // Prepare
    const substituted = loadBakeDefinition(bakeSubstitutions());
    const raw: unknown = JSON.parse(readFileSync(BAKE_STATE_MACHINE_FILE, 'utf8'));

    // Act (the validator adds fields to what it checks: give it copies)
    const afterSubstitution = aslValidator(structuredClone(substituted), { checkPaths: true, checkArn: true });
    const beforeSubstitution = aslValidator(structuredClone(raw), { checkPaths: true, checkArn: true });

    // Assess
    expect(afterSubstitution.errorsText('\n')).toBe('');
    expect(afterSubstitution.isValid).toBe(true);
    expect(beforeSubstitution.errorsText('\n')).toBe('');
    expect(beforeSubstitution.isValid).toBe(true);
  });

  it('uses every substitution, and no placeholder the loader does not know', () => {
    // Prepare
    const text = readFileSync(BAKE_STATE_MACHINE_FILE, 'utf8');

    // Act
    const placeholders = new Set([...text.matchAll(/\$\{([^}]*)\}/g)].map((match) => match[1]));

    // Assess
    expect([...placeholders].sort()).toEqual([...BAKE_SUBSTITUTIONS].sort());
  });

  it('substitutes the wait as a number that WaitForAutomation reads as its timeout', () => {
    // Prepare
    const definition = loadBakeDefinition(bakeSubstitutions({ AutomationWaitSeconds: '900' })) as {
      States: Record<string, Record<string, unknown>>;
    };

    // Act
    const start = definition.States[BakeState.StartAutomation];
    const wait = definition.States[BakeState.WaitForAutomation];

    // Assess
    expect(start?.ResultSelector).toMatchObject({ 'waitSeconds.$': "States.StringToJson('900')" });
    expect(wait?.TimeoutSecondsPath).toBe('$.automation.waitSeconds');
  });

  it('has state names that match BakeState exactly', () => {
    // Prepare
    const definition = loadBakeDefinition(bakeSubstitutions()) as { States: Record<string, unknown> };

    // Act
    const names = Object.keys(definition.States).sort();

    // Assess
    expect(names).toEqual(Object.values(BakeState).sort());
  });

  it('catches every failure of a task into $.failure.<its name>', () => {
    // Prepare: ReleaseFamilyLock is the exception, tested on its own: the bake has succeeded by then.
    const definition = loadBakeDefinition(bakeSubstitutions()) as {
      States: Record<string, { Type: string; Catch?: { ErrorEquals: string[]; ResultPath?: string | null }[] }>;
    };
    const pathTasks = Object.entries(definition.States).filter(
      ([name, state]) =>
        state.Type === 'Task' &&
        name !== BakeState.CleanUpFailedBake &&
        name !== BakeState.PublishBakeFailed &&
        name !== BakeState.RecordBakedKey &&
        name !== BakeState.ReleaseFamilyLock,
    );

    // Act
    const catchAll = pathTasks.map(([name, state]) => [
      name,
      state.Catch?.find((c) => c.ErrorEquals.includes('States.ALL'))?.ResultPath,
    ]);

    // Assess
    expect(pathTasks.length).toBeGreaterThan(7);
    expect(catchAll).toEqual(pathTasks.map(([name]) => [name, `$.failure.${name}`]));
  });

  it('sends every failure to record the baked key on to the lock release, recorded in $.bakedKeyRecord', () => {
    // Prepare
    const definition = loadBakeDefinition(bakeSubstitutions()) as {
      States: Record<string, { Catch?: { ErrorEquals: string[]; ResultPath?: string | null; Next: string }[] }>;
    };

    // Act
    const catches = definition.States[BakeState.RecordBakedKey]?.Catch ?? [];

    // Assess: the image is made; the planner still finds it by its tag
    expect(catches).toEqual([
      { ErrorEquals: ['States.ALL'], ResultPath: '$.bakedKeyRecord', Next: BakeState.ReleaseFamilyLock },
    ]);
  });

  it('sends every failure of the lock release on to PublishAmiBaked, recorded in $.lockRelease', () => {
    // Prepare
    const definition = loadBakeDefinition(bakeSubstitutions()) as {
      States: Record<string, { Catch?: { ErrorEquals: string[]; ResultPath?: string | null; Next: string }[] }>;
    };

    // Act
    const catches = definition.States[BakeState.ReleaseFamilyLock]?.Catch ?? [];

    // Assess
    expect(catches.map((c) => c.ErrorEquals)).toEqual([['DynamoDb.ConditionalCheckFailedException'], ['States.ALL']]);
    expect(new Set(catches.map((c) => `${c.ResultPath} -> ${c.Next}`))).toEqual(
      new Set([`$.lockRelease -> ${BakeState.PublishAmiBaked}`]),
    );
  });

  it('names in its EC2 tasks only the error the aws-sdk integration raises for EC2 (Ec2.Ec2Exception)', () => {
    // Prepare: EC2's API models no errors, so its aws-sdk integration reports every EC2 error
    // (RequestLimitExceeded, InternalError, InvalidAMIID.NotFound…) as Ec2.Ec2Exception, the code
    // only in the Cause; a name like Ec2.RequestLimitExceededException never matches.
    const definition = loadBakeDefinition(bakeSubstitutions()) as {
      States: Record<
        string,
        { Resource?: string; Retry?: { ErrorEquals: string[] }[]; Catch?: { ErrorEquals: string[] }[] }
      >;
    };
    const ec2Tasks = Object.entries(definition.States).filter(([, state]) =>
      state.Resource?.startsWith('arn:aws:states:::aws-sdk:ec2:'),
    );

    // Act
    const named = ec2Tasks.flatMap(([name, state]) =>
      [...(state.Retry ?? []), ...(state.Catch ?? [])].flatMap((rule) =>
        rule.ErrorEquals.filter((error) => !error.startsWith('States.')).map((error) => [name, error]),
      ),
    );

    // Assess
    expect(ec2Tasks.map(([name]) => name)).toContain(BakeState.TagAmi);
    expect(named.length).toBeGreaterThan(0);
    expect(named.filter(([, error]) => error !== EC2_EXCEPTION)).toEqual([]);
  });

  it('retries a busy family for minutes, with backoff and a cap', () => {
    // Prepare
    const definition = loadBakeDefinition(bakeSubstitutions()) as {
      States: Record<string, { Retry?: { ErrorEquals: string[] }[] }>;
    };

    // Act
    const busy = definition.States[BakeState.PlanBake]?.Retry?.find((r) => r.ErrorEquals.includes('FamilyBusyError'));

    // Assess
    expect(busy).toEqual({
      ErrorEquals: ['FamilyBusyError'],
      IntervalSeconds: 60,
      BackoffRate: 1.5,
      MaxAttempts: 30,
      MaxDelaySeconds: 300,
      JitterStrategy: 'FULL',
    });
  });
});

describe('loadBakeDefinition', () => {
  it('rejects a missing substitution', () => {
    // Prepare
    const { EventBusName: _left, ...withoutBus } = bakeSubstitutions();

    // Act
    const load = () => loadBakeDefinition(withoutBus as Record<BakeSubstitution, string>);

    // Assess
    expect(load).toThrow('missing bake substitution(s): EventBusName');
  });

  it('rejects an unknown substitution', () => {
    // Prepare
    const substitutions = { ...bakeSubstitutions(), TopicArn: 'arn:aws:sns:us-east-1:123456789012:t' };

    // Act
    const load = () => loadBakeDefinition(substitutions);

    // Assess
    expect(load).toThrow('unknown bake substitution(s): TopicArn');
  });

  it('rejects a wait that is not a whole number of seconds', () => {
    // Prepare
    const substitutions = bakeSubstitutions({ AutomationWaitSeconds: '10m' });

    // Act
    const load = () => loadBakeDefinition(substitutions);

    // Assess
    expect(load).toThrow("AutomationWaitSeconds must be a whole number of seconds, got '10m'");
  });

  it('rejects a value that would break the JSON', () => {
    // Prepare
    const substitutions = bakeSubstitutions({ EventSource: 'bake"house' });

    // Act
    const load = () => loadBakeDefinition(substitutions);

    // Assess
    expect(load).toThrow('EventSource must not contain quotes');
  });
});

describe('countTransitions', () => {
  it('counts the StateEntered events of a log', () => {
    // Prepare
    const log = [
      { type: 'ExecutionStarted' },
      { type: 'StateEntered', state: { name: 'A' } },
      { type: 'StateRetried', state: { name: 'A' } },
      { type: 'StateExited', state: { name: 'A' } },
      { type: 'StateEntered', state: { name: 'B' } },
      { type: 'ExecutionSucceeded' },
    ];

    // Act
    const transitions = countTransitions(log);

    // Assess
    expect(transitions).toBe(2);
  });
});

describe('bake state machine paths', () => {
  it('bakes: plans, starts the automation, waits, tags, moves candidate, releases the lock, publishes', async () => {
    // Act
    const run = await runBake();

    // Assess: the output is the finished bake record
    expect(run.failure).toBeUndefined();
    expect(run.output).toEqual({
      plan: actionPlan(),
      automation: { ...startedAutomation, result: automationResult() },
    });
    // Assess: each task got what it needs
    expect(run.inputsOf(BakeState.PlanBake)).toEqual([{ bakeId: BAKE_ID, request: bakeRequest() }]);
    expect(run.inputsOf(BakeState.StartAutomation)).toEqual([
      {
        DocumentName: actionPlan().documentName,
        Parameters: actionPlan().documentParameters,
        ClientToken: actionPlan().clientToken,
        Tags: [
          { Key: 'bakehouse:managed', Value: 'true' },
          { Key: 'bakehouse:bake-id', Value: BAKE_ID },
          { Key: 'bakehouse:family', Value: FAMILY },
        ],
      },
    ]);
    const [wait] = run.inputsOf(BakeState.WaitForAutomation);
    expect(wait).toEqual({
      FunctionName: 'arn:aws:lambda:us-east-1:123456789012:function:bakehouse-wait-for-automation',
      Payload: {
        taskToken: TASK_TOKEN,
        automationExecutionId: AUTOMATION_EXECUTION_ID,
        bakeId: BAKE_ID,
        family: FAMILY,
        bakeStartedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
      },
    });
    expect(run.inputsOf(BakeState.TagAmi)).toEqual([{ Resources: [NEW_AMI_ID], Tags: actionPlan().imageTags }]);
    expect(run.inputsOf(BakeState.WriteCandidateChannel)).toEqual([
      {
        Name: '/bakehouse/al2023-base/candidate',
        Value: NEW_AMI_ID,
        Type: 'String',
        DataType: 'aws:ec2:image',
        Overwrite: true,
      },
    ]);
    // The key is recorded as baked, with the image, before the lock goes (the next planner reads it).
    expect(run.inputsOf(BakeState.RecordBakedKey)).toEqual([
      {
        TableName: 'bakehouse-test-StateTable',
        Item: {
          pk: { S: actionPlan().bakedKeyRecord },
          data: { M: { amiId: { S: NEW_AMI_ID }, bakeId: { S: BAKE_ID } } },
          version: { N: '1' },
          expiresAt: { N: actionPlan().bakedKeyExpiresAt },
        },
      },
    ]);
    // Only this execution's own lock goes: the delete is conditional on the owner.
    expect(run.inputsOf(BakeState.ReleaseFamilyLock)).toEqual([
      {
        TableName: 'bakehouse-test-StateTable',
        Key: { pk: { S: 'lock#family#al2023-base' } },
        ConditionExpression: '#owner = :owner',
        ExpressionAttributeNames: { '#owner': 'owner' },
        ExpressionAttributeValues: { ':owner': { S: BAKE_ID } },
      },
    ]);
    expect(run.inputsOf(BakeState.CleanUpFailedBake)).toEqual([]);
    // Assess: Bake Started, then AMI Baked
    expect(run.published()).toEqual([
      {
        state: BakeState.PublishBakeStarted,
        EventBusName: 'bakehouse-test',
        Source: 'bakehouse',
        DetailType: DetailType.BakeStarted,
        Detail: {
          version: EVENT_VERSION,
          bakeId: BAKE_ID,
          family: FAMILY,
          sourceAmiId: SOURCE_AMI_ID,
          bakeKey: BAKE_KEY,
          automationExecutionId: AUTOMATION_EXECUTION_ID,
        },
      },
      {
        state: BakeState.PublishAmiBaked,
        EventBusName: 'bakehouse-test',
        Source: 'bakehouse',
        DetailType: DetailType.AmiBaked,
        Detail: {
          version: EVENT_VERSION,
          bakeId: BAKE_ID,
          family: FAMILY,
          os: 'linux',
          amiId: NEW_AMI_ID,
          region: 'us-east-1',
          name: actionPlan().imageName,
          sourceAmiId: SOURCE_AMI_ID,
          bakeKey: BAKE_KEY,
          parentFamily: null,
          durationSeconds: 1_260,
          automationExecutionId: AUTOMATION_EXECUTION_ID,
          outputs: automationResult().outputs,
          release: null,
        },
      },
    ]);
    // Assess: the success path stays within its budget of transitions
    expect(run.entered).toEqual(SUCCESS_PATH);
    expect(countTransitions(run.events)).toBe(SUCCESS_PATH.length);
    expect(countTransitions(run.events)).toBeLessThanOrEqual(15);
  });

  it('publishes AMI Baked with the release the automation result carries', async () => {
    // Prepare
    const release = {
      policy: 'latest' as const,
      target: '2023.9.20261122',
      before: '2023.9.20261101',
      after: '2023.9.20261122',
    };
    const handlers: TaskHandlers = {
      [BakeState.WaitForAutomation]: () => asJson(automationResult({ release })),
    };

    // Act
    const run = await runBake({ handlers });

    // Assess
    expect(run.failure).toBeUndefined();
    const baked = run.published().find((event) => event.DetailType === DetailType.AmiBaked);
    expect(baked?.Detail).toMatchObject({ amiId: NEW_AMI_ID, release });
  });

  it('gives WaitForAutomation the substituted wait as its timeout, resolved from the state input', async () => {
    // Prepare: the deployed definition's path, resolved as Step Functions resolves it
    const deployed = loadBakeDefinition(bakeSubstitutions({ AutomationWaitSeconds: '900' })) as {
      States: Record<string, { TimeoutSecondsPath?: string }>;
    };
    const path = deployed.States[BakeState.WaitForAutomation]?.TimeoutSecondsPath ?? '';
    const resolve = (input: unknown): unknown =>
      path
        .replace(/^\$\./, '')
        .split('.')
        .reduce<unknown>((node, key) => (node as Record<string, unknown> | undefined)?.[key], input);

    // Act
    const run = await runBake({ substitutions: { AutomationWaitSeconds: '900' } });

    // Assess
    const entered = run.events.find(
      (event) => event.type === 'StateEntered' && event.state.name === BakeState.WaitForAutomation,
    );
    expect(path).toBe('$.automation.waitSeconds');
    expect(entered && 'state' in entered ? resolve(entered.state.input) : undefined).toBe(900);
  });

  it('runs on the local engine with the timeout the path would resolve to, and nothing else changed', () => {
    // Prepare
    const substitutions = bakeSubstitutions({ AutomationWaitSeconds: '45' });

    // Act
    const deployed = loadBakeDefinition(substitutions) as { States: Record<string, Record<string, unknown>> };
    const local = loadBakeDefinitionForLocalEngine(substitutions);

    // Assess
    const { TimeoutSecondsPath, ...rest } = deployed.States[BakeState.WaitForAutomation] ?? {};
    expect(TimeoutSecondsPath).toBe('$.automation.waitSeconds');
    expect(local.States[BakeState.WaitForAutomation]).toEqual({ ...rest, TimeoutSeconds: 45 });
    expect({ ...local.States, [BakeState.WaitForAutomation]: null }).toEqual({
      ...deployed.States,
      [BakeState.WaitForAutomation]: null,
    });
  });

  it('skips a bake whose key already produced an image: Bake Skipped, no automation', async () => {
    // Prepare
    const handlers: TaskHandlers = { [BakeState.PlanBake]: () => asJson(skipPlan()) };

    // Act
    const run = await runBake({ handlers });

    // Assess
    expect(run.failure).toBeUndefined();
    expect(run.output).toEqual({ plan: skipPlan(), automation: null });
    expect(run.inputsOf(BakeState.StartAutomation)).toEqual([]);
    expect(run.inputsOf(BakeState.WaitForAutomation)).toEqual([]);
    expect(run.published()).toEqual([
      {
        state: BakeState.PublishBakeSkipped,
        EventBusName: 'bakehouse-test',
        Source: 'bakehouse',
        DetailType: DetailType.BakeSkipped,
        Detail: {
          version: EVENT_VERSION,
          bakeId: BAKE_ID,
          family: FAMILY,
          amiId: 'ami-0123456789abcdef0',
          bakeKey: BAKE_KEY,
          sourceAmiId: SOURCE_AMI_ID,
        },
      },
    ]);
    expect(run.entered).toEqual([BakeState.PlanBake, BakeState.IsAlreadyBaked, BakeState.PublishBakeSkipped]);
  });

  it('fails the bake when the automation failed: cleanup, Bake Failed with the automation step, BakeFailed', async () => {
    // Prepare
    const cause = automationCause();
    const handlers: TaskHandlers = {
      [BakeState.WaitForAutomation]: () => {
        throw awsError(AutomationErrorName.Failed, cause);
      },
    };

    // Act
    const run = await runBake({ handlers });

    // Assess: the cleanup got the failure record under the failed state's name
    expect(run.inputsOf(BakeState.CleanUpFailedBake)).toEqual([
      {
        bakeId: BAKE_ID,
        request: bakeRequest(),
        plan: actionPlan(),
        automation: startedAutomation,
        failure: { [BakeState.WaitForAutomation]: { Error: AutomationErrorName.Failed, Cause: cause } },
      } satisfies CleanUpTaskInput,
    ]);
    expect(run.inputsOf(BakeState.TagAmi)).toEqual([]);
    expect(run.inputsOf(BakeState.WriteCandidateChannel)).toEqual([]);
    const reason = 'AutomationFailed: Step fails when it is Executing. Fail message: yum exited with 1';
    expect(run.published().map((event) => [event.DetailType, event.Detail])).toEqual([
      [DetailType.BakeStarted, expect.anything()],
      [
        DetailType.BakeFailed,
        {
          version: EVENT_VERSION,
          bakeId: BAKE_ID,
          family: FAMILY,
          failedStep: 'WaitForAutomation/patchInstance',
          reason,
          automationExecutionId: AUTOMATION_EXECUTION_ID,
          cleanup: { errors: [], builderTerminated: true },
        },
      ],
    ]);
    expect(run.output).toBeUndefined();
    expect(run.failure).toEqual({ Error: BAKE_FAILED_ERROR, Cause: reason });
  });

  it('fails the bake when the automation was cancelled', async () => {
    // Prepare
    const cause = automationCause({ status: 'Cancelled', failedStep: null, reason: 'cancelled by alice' });
    const handlers: TaskHandlers = {
      [BakeState.WaitForAutomation]: () => {
        throw awsError(AutomationErrorName.Cancelled, cause);
      },
    };

    // Act
    const run = await runBake({ handlers });

    // Assess
    const [cleanUp] = run.inputsOf(BakeState.CleanUpFailedBake);
    expect(cleanUp?.failure).toEqual({
      [BakeState.WaitForAutomation]: { Error: AutomationErrorName.Cancelled, Cause: cause },
    });
    expect(run.published().at(-1)).toMatchObject({
      DetailType: DetailType.BakeFailed,
      Detail: { failedStep: 'WaitForAutomation', reason: 'AutomationCancelled: cancelled by alice' },
    });
    expect(run.failure).toEqual({ Error: BAKE_FAILED_ERROR, Cause: 'AutomationCancelled: cancelled by alice' });
  });

  it('times the bake out when no callback comes within maxWaits wait periods', async () => {
    // Prepare: one-second wait periods, two of them
    const handlers: TaskHandlers = {
      [BakeState.PlanBake]: () => asJson(actionPlan({ maxWaits: 2 })),
      [BakeState.WaitForAutomation]: neverCalledBack,
    };

    // Act
    const run = await runBake({ handlers, substitutions: { AutomationWaitSeconds: '1' } });

    // Assess: it waited twice, then gave up through the failure path
    expect(run.inputsOf(BakeState.WaitForAutomation)).toHaveLength(2);
    expect(run.entered.slice(4)).toEqual([
      BakeState.WaitForAutomation,
      BakeState.CountAutomationWait,
      BakeState.IsBakeOverdue,
      BakeState.WaitForAutomation,
      BakeState.CountAutomationWait,
      BakeState.IsBakeOverdue,
      BakeState.MarkBakeTimedOut,
      BakeState.CleanUpFailedBake,
      BakeState.PublishBakeFailed,
      BakeState.BakeFailed,
    ]);
    const cause = `automation ${AUTOMATION_EXECUTION_ID} was not finished after 2 waits of 1 seconds`;
    expect(run.inputsOf(BakeState.CleanUpFailedBake)).toEqual([
      {
        bakeId: BAKE_ID,
        request: bakeRequest(),
        plan: actionPlan({ maxWaits: 2 }),
        automation: { automationExecutionId: AUTOMATION_EXECUTION_ID, waits: 2, waitSeconds: 1 },
        failure: { [BakeState.WaitForAutomation]: { Error: AutomationErrorName.BakeTimedOut, Cause: cause } },
      },
    ]);
    expect(run.published().at(-1)).toMatchObject({
      DetailType: DetailType.BakeFailed,
      Detail: {
        failedStep: BakeState.WaitForAutomation,
        reason: `BakeTimedOut: ${cause}`,
        automationExecutionId: AUTOMATION_EXECUTION_ID,
      },
    });
    expect(run.failure?.Error).toBe(BAKE_FAILED_ERROR);
  });

  it('bakes when a wait period timed out and the re-registration settles it', async () => {
    // Prepare: the first wait's callback is lost; registering again finds the automation done
    let registered = 0;
    const handlers: TaskHandlers = {
      [BakeState.WaitForAutomation]: (input) => {
        registered += 1;
        return registered === 1 ? neverCalledBack(input) : asJson(automationResult());
      },
    };

    // Act
    const run = await runBake({ handlers, substitutions: { AutomationWaitSeconds: '1' } });

    // Assess
    expect(run.failure).toBeUndefined();
    const registrations = run.inputsOf(BakeState.WaitForAutomation);
    expect(registrations).toHaveLength(2);
    expect(registrations[1]).toEqual(registrations[0]);
    expect(run.output).toEqual({
      plan: actionPlan(),
      automation: {
        automationExecutionId: AUTOMATION_EXECUTION_ID,
        waits: 1,
        waitSeconds: 1,
        result: automationResult(),
      },
    });
    expect(run.published().map((event) => event.DetailType)).toEqual([DetailType.BakeStarted, DetailType.AmiBaked]);
    expect(run.inputsOf(BakeState.CleanUpFailedBake)).toEqual([]);
  });

  it('retries a throttled StartAutomation and bakes', async () => {
    // Prepare
    const handlers: TaskHandlers = {
      [BakeState.StartAutomation]: failing(
        1,
        () => awsError('Ssm.ThrottlingException', 'Rate exceeded'),
        () => ({ AutomationExecutionId: AUTOMATION_EXECUTION_ID }),
      ),
    };

    // Act
    const run = await runBake({ handlers });

    // Assess
    expect(run.failure).toBeUndefined();
    const starts = run.inputsOf(BakeState.StartAutomation);
    expect(starts).toHaveLength(2);
    expect(starts[1]).toEqual(starts[0]);
    expect(run.events.filter((event) => event.type === 'StateRetried').map((event) => event.state.name)).toEqual([
      BakeState.StartAutomation,
    ]);
    expect(run.published().map((event) => event.DetailType)).toEqual([DetailType.BakeStarted, DetailType.AmiBaked]);
  });

  it('waits for a busy family: PlanBake retried until the lock is free, then bakes', async () => {
    // Prepare
    const handlers: TaskHandlers = {
      [BakeState.PlanBake]: failing(
        2,
        () => awsError('FamilyBusyError', "family 'al2023-base' is being baked by another bake"),
        () => asJson(actionPlan()),
      ),
    };

    // Act
    const run = await runBake({ handlers });

    // Assess
    expect(run.failure).toBeUndefined();
    expect(run.inputsOf(BakeState.PlanBake)).toHaveLength(3);
    const retries = run.events.filter((event) => event.type === 'StateRetried');
    expect(retries.map((event) => ('retry' in event ? event.retry.retrier.ErrorEquals : []))).toEqual([
      ['FamilyBusyError'],
      ['FamilyBusyError'],
    ]);
    expect(run.output).toMatchObject({ plan: actionPlan() });
    expect(run.published().map((event) => event.DetailType)).toEqual([DetailType.BakeStarted, DetailType.AmiBaked]);
  });

  it('fails at once when the plan rejects the request: cleanup without a plan, Bake Failed at PlanBake', async () => {
    // Prepare
    const request = bakeRequest({ family: 'no-such-family' });
    const message = "family: no family named 'no-such-family'. Fix: use one of al2023-base";
    const handlers: TaskHandlers = {
      [BakeState.PlanBake]: () => {
        throw awsError('UnknownFamilyError', message);
      },
    };

    // Act
    const run = await runBake({ handlers, input: asJson(request) });

    // Assess
    expect(run.inputsOf(BakeState.PlanBake)).toHaveLength(1);
    expect(run.inputsOf(BakeState.StartAutomation)).toEqual([]);
    expect(run.inputsOf(BakeState.CleanUpFailedBake)).toEqual([
      {
        bakeId: BAKE_ID,
        request,
        plan: null,
        automation: null,
        failure: { [BakeState.PlanBake]: { Error: 'UnknownFamilyError', Cause: message } },
      },
    ]);
    expect(run.published()).toEqual([
      expect.objectContaining({
        DetailType: DetailType.BakeFailed,
        Detail: {
          version: EVENT_VERSION,
          bakeId: BAKE_ID,
          family: 'no-such-family',
          failedStep: BakeState.PlanBake,
          reason: `UnknownFamilyError: ${message}`,
          automationExecutionId: null,
          cleanup: { errors: [], builderTerminated: true },
        },
      }),
    ]);
    expect(run.failure).toEqual({ Error: BAKE_FAILED_ERROR, Cause: `UnknownFamilyError: ${message}` });
  });

  it('still publishes Bake Failed when the cleanup itself fails', async () => {
    // Prepare
    const cause = automationCause();
    const handlers: TaskHandlers = {
      [BakeState.WaitForAutomation]: () => {
        throw awsError(AutomationErrorName.Failed, cause);
      },
      [BakeState.CleanUpFailedBake]: () => {
        throw awsError('Lambda.Unknown', 'The function timed out');
      },
    };

    // Act
    const run = await runBake({ handlers });

    // Assess
    expect(run.inputsOf(BakeState.CleanUpFailedBake)).toHaveLength(1);
    expect(run.entered.slice(-4)).toEqual([
      BakeState.CleanUpFailedBake,
      BakeState.DescribeFailedCleanUp,
      BakeState.PublishBakeFailed,
      BakeState.BakeFailed,
    ]);
    const [bakeFailed] = run.published().filter((event) => event.DetailType === DetailType.BakeFailed);
    expect(bakeFailed?.Detail).toEqual({
      version: EVENT_VERSION,
      bakeId: BAKE_ID,
      family: FAMILY,
      failedStep: BakeState.CleanUpFailedBake,
      reason: expect.stringMatching(
        /^Lambda\.Unknown: The function timed out; the bake had failed with .*WaitForAutomation.*AutomationFailed/,
      ),
      automationExecutionId: null,
      // Which steps failed is unknown, and a builder may still run: the reaper ends it at its expiry.
      cleanup: { errors: [], builderTerminated: false },
    });
    expect(run.failure?.Error).toBe(BAKE_FAILED_ERROR);
    expect(run.failure?.Cause).toBe(bakeFailed?.Detail.reason);
  });

  it('cleans up when TagAmi fails after the automation succeeded, keeping the automation result', async () => {
    // Prepare
    const imageNotFound = `The image id '[${NEW_AMI_ID}]' does not exist (Service: Ec2, Status Code: 400, Error Code: InvalidAMIID.NotFound, Request ID: 5ee0d3b1-test)`;
    const handlers: TaskHandlers = {
      [BakeState.TagAmi]: () => {
        throw awsError(EC2_EXCEPTION, imageNotFound);
      },
    };

    // Act
    const run = await runBake({ handlers });

    // Assess
    expect(run.inputsOf(BakeState.TagAmi)).toHaveLength(7);
    expect(run.inputsOf(BakeState.WriteCandidateChannel)).toEqual([]);
    expect(run.inputsOf(BakeState.ReleaseFamilyLock)).toEqual([]);
    const [cleanUp] = run.inputsOf(BakeState.CleanUpFailedBake);
    expect(cleanUp).toMatchObject({
      plan: actionPlan(),
      automation: { ...startedAutomation, result: automationResult() },
      failure: {
        [BakeState.TagAmi]: { Error: EC2_EXCEPTION, Cause: imageNotFound },
      },
    });
    expect(Object.keys(cleanUp?.failure as object)).toEqual([BakeState.TagAmi]);
    expect(run.published().map((event) => [event.DetailType, event.Detail.failedStep])).toEqual([
      [DetailType.BakeStarted, undefined],
      [DetailType.BakeFailed, BakeState.TagAmi],
    ]);
    expect(run.failure?.Error).toBe(BAKE_FAILED_ERROR);
  });

  it.each([2, 4])(
    'retries TagAmi throttled by EC2 %i times (Ec2.Ec2Exception, RequestLimitExceeded) and bakes',
    async (throttles) => {
      // Prepare
      const handlers: TaskHandlers = { [BakeState.TagAmi]: failing(throttles, ec2Throttled, () => ({})) };

      // Act
      const run = await runBake({ handlers });

      // Assess
      expect(run.failure).toBeUndefined();
      const tags = run.inputsOf(BakeState.TagAmi);
      expect(tags).toHaveLength(throttles + 1);
      expect(new Set(tags.map((input) => JSON.stringify(input))).size).toBe(1);
      const retries = run.events.filter((event) => event.type === 'StateRetried');
      expect(retries.map((event) => event.state.name)).toEqual(Array(throttles).fill(BakeState.TagAmi));
      expect(run.inputsOf(BakeState.WriteCandidateChannel)).toHaveLength(1);
      expect(run.inputsOf(BakeState.CleanUpFailedBake)).toEqual([]);
      expect(run.published().map((event) => event.DetailType)).toEqual([DetailType.BakeStarted, DetailType.AmiBaked]);
    },
  );

  it('gives up on an EC2 error that outlasts the retries: TagAmi tried 7 times, then cleanup and Bake Failed', async () => {
    // Prepare
    const handlers: TaskHandlers = { [BakeState.TagAmi]: failing(Number.POSITIVE_INFINITY, ec2Throttled, () => ({})) };

    // Act
    const run = await runBake({ handlers });

    // Assess
    expect(run.inputsOf(BakeState.TagAmi)).toHaveLength(7);
    expect(run.inputsOf(BakeState.WriteCandidateChannel)).toEqual([]);
    const [cleanUp] = run.inputsOf(BakeState.CleanUpFailedBake);
    expect(cleanUp?.failure).toEqual({ [BakeState.TagAmi]: { Error: EC2_EXCEPTION, Cause: ec2Throttled().message } });
    expect(run.published().map((event) => [event.DetailType, event.Detail.failedStep])).toEqual([
      [DetailType.BakeStarted, undefined],
      [DetailType.BakeFailed, BakeState.TagAmi],
    ]);
    expect(run.failure?.Error).toBe(BAKE_FAILED_ERROR);
  });

  it.each([
    [
      'another bake took the lock over (or it is gone): the condition is lost',
      'DynamoDb.ConditionalCheckFailedException',
    ],
    ['DynamoDB keeps refusing after the retries', 'DynamoDb.InternalServerErrorException'],
    ['the role may not delete it', 'DynamoDb.AccessDeniedException'],
  ])('never fails a good bake over its lock: %s', async (_case, error) => {
    // Prepare
    const handlers: TaskHandlers = {
      [BakeState.ReleaseFamilyLock]: () => {
        throw awsError(error);
      },
    };

    // Act
    const run = await runBake({ handlers });

    // Assess: AMI Baked, no cleanup, and the lost release on record in the output
    expect(run.failure).toBeUndefined();
    expect(run.inputsOf(BakeState.CleanUpFailedBake)).toEqual([]);
    expect(run.output).not.toHaveProperty('failure');
    expect(run.output).toMatchObject({ lockRelease: { Error: error } });
    expect(run.published().map((event) => event.DetailType)).toEqual([DetailType.BakeStarted, DetailType.AmiBaked]);
  });

  it('retries a throttled lock release, then releases it', async () => {
    // Prepare
    const handlers: TaskHandlers = {
      [BakeState.ReleaseFamilyLock]: failing(
        2,
        () => awsError('DynamoDb.ThrottlingException'),
        () => ({}),
      ),
    };

    // Act
    const run = await runBake({ handlers });

    // Assess
    expect(run.inputsOf(BakeState.ReleaseFamilyLock)).toHaveLength(3);
    expect(run.output).not.toHaveProperty('lockRelease');
    expect(run.published().map((event) => event.DetailType)).toEqual([DetailType.BakeStarted, DetailType.AmiBaked]);
  });
});
