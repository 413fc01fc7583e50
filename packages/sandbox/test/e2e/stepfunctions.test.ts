/**
 * Step Functions in the sandbox, driven through @aws-sdk/client-sfn: state machines, executions
 * run on the sandbox clock (frozen here, moved with the control endpoint), aws-sdk and Lambda
 * tasks against the sandbox's own APIs, callbacks, Parallel and Map, stops and history.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CreateStateMachineCommand,
  DeleteStateMachineCommand,
  DescribeExecutionCommand,
  type DescribeExecutionCommandOutput,
  DescribeStateMachineCommand,
  GetExecutionHistoryCommand,
  type HistoryEvent,
  ListExecutionsCommand,
  ListStateMachinesCommand,
  SendTaskFailureCommand,
  SendTaskHeartbeatCommand,
  SendTaskSuccessCommand,
  SFNClient,
  StartExecutionCommand,
  StopExecutionCommand,
  UpdateStateMachineCommand,
} from '@aws-sdk/client-sfn';
import { GetParameterCommand, GetParametersByPathCommand, SSMClient } from '@aws-sdk/client-ssm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fakeEventBridge, fakeLambda } from '../../src/testing/fake-services';
import { failure, startTestSandbox, type TestSandbox } from '../../src/testing/sandbox';
import {
  callbackMachine,
  childMachine,
  contextMachine,
  ec2ErrorMachine,
  fanOutMachine,
  parentMachine,
  putEventsMachine,
  ROLE_ARN,
  sdkMachine,
  timeoutMachine,
  waitMachine,
} from '../fixtures/sandbox-sfn/machines';

const lambda = fakeLambda();
const events = fakeEventBridge();
let box: TestSandbox;
let sfn: SFNClient;
let ssm: SSMClient;

beforeAll(async () => {
  box = await startTestSandbox({ services: [lambda.service, events.service] });
  sfn = new SFNClient(box.clientConfig);
  ssm = new SSMClient(box.clientConfig);
});

afterAll(async () => {
  sfn.destroy();
  ssm.destroy();
  await box.stop();
});

let machineCount = 0;
const createMachine = async (definition: string, name = `machine-${++machineCount}`): Promise<string> => {
  const created = await sfn.send(new CreateStateMachineCommand({ name, definition, roleArn: ROLE_ARN }));
  return created.stateMachineArn ?? '';
};

const start = async (stateMachineArn: string, input: unknown, name?: string): Promise<string> => {
  const started = await sfn.send(
    new StartExecutionCommand({ stateMachineArn, input: JSON.stringify(input), ...(name ? { name } : {}) }),
  );
  return started.executionArn ?? '';
};

const describeExecution = (executionArn: string): Promise<DescribeExecutionCommandOutput> =>
  sfn.send(new DescribeExecutionCommand({ executionArn }));

/** Polls (real time) until `check` holds. */
const eventually = async <T>(check: () => Promise<T | undefined> | T | undefined, what: string): Promise<T> => {
  const deadline = Date.now() + 5000;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
};

const stopped = (executionArn: string): Promise<DescribeExecutionCommandOutput> =>
  eventually(async () => {
    const execution = await describeExecution(executionArn);
    return execution.status === 'RUNNING' ? undefined : execution;
  }, `${executionArn} to stop`);

const history = async (executionArn: string): Promise<HistoryEvent[]> =>
  (await sfn.send(new GetExecutionHistoryCommand({ executionArn, maxResults: 1000 }))).events ?? [];

const historyHas = (executionArn: string, type: string, count = 1): Promise<HistoryEvent[]> =>
  eventually(async () => {
    const events = await history(executionArn);
    return events.filter((event) => event.type === type).length >= count ? events : undefined;
  }, `${count} ${type} event(s)`);

const advance = (seconds: number) => box.control('POST', '/_sandbox/clock', { advanceSeconds: seconds });

/** Gives the execution real time to move (it must not, when it waits on the frozen clock). */
const settle = () => new Promise((resolve) => setTimeout(resolve, 100));

describe('state machines', () => {
  it('creates, describes, lists, updates and deletes a state machine', async () => {
    const arn = await createMachine(waitMachine(), 'crud-machine');
    expect(arn).toBe('arn:aws:states:us-east-1:000000000000:stateMachine:crud-machine');

    const described = await sfn.send(new DescribeStateMachineCommand({ stateMachineArn: arn }));
    expect(described).toMatchObject({ name: 'crud-machine', status: 'ACTIVE', type: 'STANDARD', roleArn: ROLE_ARN });
    expect(JSON.parse(described.definition ?? '')).toEqual(JSON.parse(waitMachine()));
    expect(described.creationDate).toBeInstanceOf(Date);

    const listed = await sfn.send(new ListStateMachinesCommand({}));
    expect(listed.stateMachines?.map((machine) => machine.name)).toContain('crud-machine');

    await sfn.send(new UpdateStateMachineCommand({ stateMachineArn: arn, definition: sdkMachine() }));
    const updated = await sfn.send(new DescribeStateMachineCommand({ stateMachineArn: arn }));
    expect(JSON.parse(updated.definition ?? '')).toEqual(JSON.parse(sdkMachine()));

    await sfn.send(new DeleteStateMachineCommand({ stateMachineArn: arn }));
    const gone = await failure(sfn.send(new DescribeStateMachineCommand({ stateMachineArn: arn })));
    expect(gone.name).toBe('StateMachineDoesNotExist');
  });

  it('creating the same machine again returns it; a different definition under its name is refused', async () => {
    const arn = await createMachine(waitMachine(), 'twice');
    expect(await createMachine(waitMachine(), 'twice')).toBe(arn);
    const error = await failure(createMachine(sdkMachine(), 'twice'));
    expect(error.name).toBe('StateMachineAlreadyExists');
  });

  it('reports asl-validator messages for an invalid definition', async () => {
    const definition = JSON.stringify({ StartAt: 'Nowhere', States: { Here: { Type: 'Pass', End: true } } });
    const error = await failure(createMachine(definition));
    expect(error.name).toBe('InvalidDefinition');
    expect(error.message).toMatch(/Invalid State Machine Definition: '.*Nowhere/);
    expect((await failure(createMachine('{ not json'))).name).toBe('InvalidDefinition');
  });

  it('refuses bad names and ARNs, and machines that do not exist', async () => {
    expect((await failure(createMachine(waitMachine(), 'has space'))).name).toBe('InvalidName');
    expect((await failure(sfn.send(new DescribeStateMachineCommand({ stateMachineArn: 'nope' })))).name).toBe(
      'InvalidArn',
    );
    const missing = 'arn:aws:states:us-east-1:000000000000:stateMachine:missing';
    expect((await failure(start(missing, {}))).name).toBe('StateMachineDoesNotExist');
    const executionArn = 'arn:aws:states:us-east-1:000000000000:execution:missing:run';
    expect((await failure(describeExecution(executionArn))).name).toBe('ExecutionDoesNotExist');
  });
});

describe('executions', () => {
  it('runs aws-sdk tasks against the sandbox and catches a modeled error by its Step Functions name', async () => {
    const arn = await createMachine(sdkMachine());
    const executionArn = await start(arn, { name: '/sfn-test/colour', value: 'blue' });
    const execution = await stopped(executionArn);
    expect(execution.status).toBe('SUCCEEDED');
    const output = JSON.parse(execution.output ?? '');
    expect(output.put).toMatchObject({ Version: 1, Tier: 'Standard' });
    expect(output.got).toEqual({ value: 'blue' });
    expect(output.wrongCatcher).toBeUndefined();
    expect(output.missing.Error).toBe('Ssm.ParameterNotFoundException');
    expect(output.missing.Cause).toContain('Service: Ssm');
    const stored = await ssm.send(new GetParameterCommand({ Name: '/sfn-test/colour' }));
    expect(stored.Parameter?.Value).toBe('blue');
  });

  it('names errors the SDK does not model <Service>.<Service>Exception', async () => {
    const arn = await createMachine(ec2ErrorMachine());
    const execution = await stopped(await start(arn, {}));
    const output = JSON.parse(execution.output ?? '');
    expect(output.Error).toBe('Ec2.Ec2Exception');
    expect(output.Cause).toContain('InvalidAMIID.NotFound');
  });

  it('publishes events with events:putEvents and fails the task on a failed entry', async () => {
    const arn = await createMachine(putEventsMachine());
    const published = await stopped(await start(arn, { detailType: 'Fine' }, 'publish-ok'));
    expect(published.status).toBe('SUCCEEDED');
    expect(JSON.parse(published.output ?? '')).toMatchObject({
      FailedEntryCount: 0,
      Entries: [{ EventId: expect.any(String) }],
    });
    expect(events.entries.at(-1)).toMatchObject({
      Source: 'sfn-test',
      DetailType: 'Fine',
      Detail: '{"id":"publish-ok"}',
    });
    events.failDetailType = 'Broken';
    const failed = await stopped(await start(arn, { detailType: 'Broken' }));
    events.failDetailType = undefined;
    expect(failed).toMatchObject({ status: 'FAILED', error: 'EventBridge.FailedEntry' });
  });

  it('retries on the sandbox clock, and writes every attempt to the history', async () => {
    const arn = await createMachine(sdkMachine());
    await box.control('POST', '/_sandbox/faults', {
      service: 'ssm',
      action: 'GetParameter',
      error: 'ThrottlingException',
      times: 2,
    });
    const executionArn = await start(arn, { name: '/sfn-test/retry', value: 'x' });
    await historyHas(executionArn, 'TaskFailed');
    await settle();
    expect((await describeExecution(executionArn)).status).toBe('RUNNING');
    await advance(10);
    await historyHas(executionArn, 'TaskFailed', 2);
    await advance(10);
    const execution = await stopped(executionArn);
    expect(execution.status).toBe('SUCCEEDED');
    const failed = (await history(executionArn)).filter((event) => event.type === 'TaskFailed');
    expect(failed.map((event) => event.taskFailedEventDetails?.error)).toEqual([
      'Ssm.ThrottlingException',
      'Ssm.ThrottlingException',
      'Ssm.ParameterNotFoundException',
    ]);
    expect(failed[0]?.taskFailedEventDetails?.cause).toContain('ThrottlingException');
  });

  it('waits on the sandbox clock, and follows the clock when it is moved', async () => {
    const arn = await createMachine(waitMachine());
    const startedAt = Date.parse(((await box.control('GET', '/_sandbox/clock')).body as { now: string }).now);
    const until = new Date(startedAt + 2 * 3600_000).toISOString();
    const executionArn = await start(arn, { until });
    await settle();
    await advance(3599);
    await settle();
    expect((await describeExecution(executionArn)).status).toBe('RUNNING');
    await advance(1);
    await historyHas(executionArn, 'WaitStateEntered', 2);
    expect((await describeExecution(executionArn)).status).toBe('RUNNING');
    await advance(3600);
    const execution = await stopped(executionArn);
    expect(execution.status).toBe('SUCCEEDED');
    expect(JSON.parse(execution.output ?? '')).toEqual({ until, result: 'waited' });
  });

  it('gives back the running execution for the same name and input, and refuses anything else', async () => {
    const arn = await createMachine(waitMachine());
    const first = await sfn.send(new StartExecutionCommand({ stateMachineArn: arn, name: 'once', input: '{"a":1}' }));
    await advance(5);
    const again = await sfn.send(new StartExecutionCommand({ stateMachineArn: arn, name: 'once', input: '{"a":1}' }));
    expect(again.executionArn).toBe(first.executionArn);
    expect(again.startDate).toEqual(first.startDate);
    const otherInput = await failure(
      sfn.send(new StartExecutionCommand({ stateMachineArn: arn, name: 'once', input: '{"a":2}' })),
    );
    expect(otherInput.name).toBe('ExecutionAlreadyExists');
    await advance(3600);
    await stopped(first.executionArn ?? '');
    const closed = await failure(
      sfn.send(new StartExecutionCommand({ stateMachineArn: arn, name: 'once', input: '{"a":1}' })),
    );
    expect(closed.name).toBe('ExecutionAlreadyExists');
    const listed = await sfn.send(new ListExecutionsCommand({ stateMachineArn: arn }));
    expect(listed.executions?.map((execution) => execution.name)).toEqual(['once']);
  });

  it('stops an execution with the given error and cause', async () => {
    const arn = await createMachine(waitMachine());
    const executionArn = await start(arn, {});
    await historyHas(executionArn, 'WaitStateEntered');
    await sfn.send(new StopExecutionCommand({ executionArn, error: 'Operator.Stop', cause: 'changed my mind' }));
    const execution = await describeExecution(executionArn);
    expect(execution).toMatchObject({ status: 'ABORTED', error: 'Operator.Stop', cause: 'changed my mind' });
    expect(execution.stopDate).toBeInstanceOf(Date);
    const events = await history(executionArn);
    expect(events.at(-1)).toMatchObject({
      type: 'ExecutionAborted',
      executionAbortedEventDetails: { error: 'Operator.Stop', cause: 'changed my mind' },
    });
    await advance(7200);
    await settle();
    expect((await history(executionArn)).length).toBe(events.length);
  });

  it('times an execution out after its TimeoutSeconds on the sandbox clock', async () => {
    const arn = await createMachine(timeoutMachine());
    const executionArn = await start(arn, {});
    await historyHas(executionArn, 'WaitStateEntered');
    await advance(99);
    await settle();
    expect((await describeExecution(executionArn)).status).toBe('RUNNING');
    await advance(1);
    const execution = await stopped(executionArn);
    expect(execution).toMatchObject({ status: 'TIMED_OUT', error: 'States.Timeout' });
  });

  it('writes the history as GetExecutionHistory shapes it', async () => {
    const arn = await createMachine(sdkMachine());
    const executionArn = await start(arn, { name: '/sfn-test/history', value: 'h' });
    await stopped(executionArn);
    const events = await history(executionArn);
    expect(events.map((event) => event.type)).toEqual([
      'ExecutionStarted',
      'TaskStateEntered',
      'TaskScheduled',
      'TaskStarted',
      'TaskSucceeded',
      'TaskStateExited',
      'TaskStateEntered',
      'TaskScheduled',
      'TaskStarted',
      'TaskSucceeded',
      'TaskStateExited',
      'TaskStateEntered',
      'TaskScheduled',
      'TaskStarted',
      'TaskFailed',
      'TaskStateExited',
      'PassStateEntered',
      'PassStateExited',
      'ExecutionSucceeded',
    ]);
    expect(events.map((event) => event.id)).toEqual(events.map((_event, index) => index + 1));
    expect(events.map((event) => event.previousEventId)).toEqual(events.map((_event, index) => index));
    expect(events[0]?.executionStartedEventDetails).toMatchObject({ roleArn: ROLE_ARN });
    expect(events[1]?.stateEnteredEventDetails?.name).toBe('PutParam');
    expect(events[2]?.taskScheduledEventDetails).toMatchObject({
      resourceType: 'aws-sdk:ssm',
      resource: 'putParameter',
      region: 'us-east-1',
    });
    expect(JSON.parse(events[2]?.taskScheduledEventDetails?.parameters ?? '')).toMatchObject({
      Name: '/sfn-test/history',
    });
    expect(events[14]?.taskFailedEventDetails?.error).toBe('Ssm.ParameterNotFoundException');
    expect(events.every((event) => event.timestamp instanceof Date)).toBe(true);
    const reversed = await sfn.send(
      new GetExecutionHistoryCommand({ executionArn, reverseOrder: true, maxResults: 2 }),
    );
    expect(reversed.events?.map((event) => event.type)).toEqual(['ExecutionSucceeded', 'PassStateExited']);
    expect(reversed.nextToken).toBeDefined();
  });

  it('gives the context object as AWS does: at the top, inside a Map, and in a Task', async () => {
    lambda.functions.set('echo', (payload) => ({ payload }));
    const arn = await createMachine(contextMachine(), 'context-machine');
    const executionArn = await start(arn, { items: [1, 2] }, 'ctx-run');
    const execution = await stopped(executionArn);
    expect(execution.status).toBe('SUCCEEDED');
    const output = JSON.parse(execution.output ?? '');
    const startTime = execution.startDate?.toISOString();
    expect(output.top).toEqual({
      name: 'ctx-run',
      id: executionArn,
      input: { items: [1, 2] },
      startTime,
      machineName: 'context-machine',
      machineId: arn,
      stateName: 'ReadContext',
    });
    expect(output.inMap).toEqual([
      { input: { items: [1, 2] }, startTime },
      { input: { items: [1, 2] }, startTime },
    ]);
    expect(output.inTask).toEqual({
      stateName: 'InTask',
      enteredTime: startTime,
      retryCount: 0,
      executionName: 'ctx-run',
    });
  });

  it('starts a child execution with states:startExecution.sync:2 and outputs its result', async () => {
    const childArn = await createMachine(childMachine());
    const parentArn = await createMachine(parentMachine(childArn));
    const executionArn = await start(parentArn, {}, 'parent-run');
    const children = await eventually(async () => {
      const listed = await sfn.send(new ListExecutionsCommand({ stateMachineArn: childArn }));
      return listed.executions?.length ? listed.executions : undefined;
    }, 'the child execution');
    await settle();
    expect((await describeExecution(executionArn)).status).toBe('RUNNING');
    await advance(5);
    const execution = await stopped(executionArn);
    expect(execution.status).toBe('SUCCEEDED');
    expect(JSON.parse(execution.output ?? '')).toEqual({ status: 'SUCCEEDED', output: { from: 'parent-run' } });
    expect((await describeExecution(children[0]?.executionArn ?? '')).status).toBe('SUCCEEDED');
  });

  it('runs tasks inside Parallel branches and Map iterations', async () => {
    lambda.functions.set('double', (payload) => ({ payload: { doubled: (payload as { n: number }).n * 2 } }));
    const arn = await createMachine(fanOutMachine());
    const executionArn = await start(arn, { n: 21, names: ['a', 'b', 'c'] });
    const execution = await stopped(executionArn);
    expect(execution.status).toBe('SUCCEEDED');
    expect(JSON.parse(execution.output ?? '')).toEqual([
      { doubled: 42 },
      [{ version: 1 }, { version: 1 }, { version: 1 }],
    ]);
    const written = await ssm.send(new GetParametersByPathCommand({ Path: '/fan' }));
    expect(written.Parameters?.map((parameter) => [parameter.Name, parameter.Value]).sort()).toEqual([
      ['/fan/a', '0'],
      ['/fan/b', '1'],
      ['/fan/c', '2'],
    ]);
    const types = (await history(executionArn)).map((event) => event.type);
    expect(types).toEqual(
      expect.arrayContaining([
        'ParallelStateEntered',
        'MapStateEntered',
        'MapIterationStarted',
        'LambdaFunctionSucceeded',
      ]),
    );
    expect(types.filter((type) => type === 'TaskSucceeded')).toHaveLength(3);
  });
});

describe('callbacks', () => {
  let token: string | undefined;
  beforeAll(() => {
    lambda.functions.set('approver', (payload) => {
      token = (payload as { token: string }).token;
      return { payload: { registered: true } };
    });
  });

  const startCallback = async (timeout: number): Promise<{ executionArn: string; taskToken: string }> => {
    token = undefined;
    const arn = await createMachine(callbackMachine());
    const executionArn = await start(arn, { who: 'ops', timeout });
    const taskToken = await eventually(() => token, 'the task token');
    await historyHas(executionArn, 'TaskSubmitted');
    return { executionArn, taskToken };
  };

  it('waits for SendTaskSuccess and outputs what it sent', async () => {
    const { executionArn, taskToken } = await startCallback(600);
    await settle();
    expect((await describeExecution(executionArn)).status).toBe('RUNNING');
    await sfn.send(new SendTaskSuccessCommand({ taskToken, output: '{"approved":true}' }));
    const execution = await stopped(executionArn);
    expect(execution.status).toBe('SUCCEEDED');
    expect(JSON.parse(execution.output ?? '')).toEqual({ who: 'ops', timeout: 600, answer: { approved: true } });
    const again = await failure(sfn.send(new SendTaskSuccessCommand({ taskToken, output: '{}' })));
    expect(again.name).toBe('TaskTimedOut');
  });

  it('routes SendTaskFailure to the Catch', async () => {
    const { executionArn, taskToken } = await startCallback(600);
    await sfn.send(new SendTaskFailureCommand({ taskToken, error: 'Rejected', cause: 'not today' }));
    const execution = await stopped(executionArn);
    expect(execution.status).toBe('SUCCEEDED');
    expect(JSON.parse(execution.output ?? '').failed).toEqual({ Error: 'Rejected', Cause: 'not today' });
  });

  it('times the task out after TimeoutSecondsPath seconds of the sandbox clock (not caught by States.TaskFailed)', async () => {
    const { executionArn } = await startCallback(50);
    await advance(49);
    await settle();
    expect((await describeExecution(executionArn)).status).toBe('RUNNING');
    await advance(1);
    const execution = await stopped(executionArn);
    const output = JSON.parse(execution.output ?? '');
    expect(output.failed).toBeUndefined();
    expect(output.timedOut.Error).toBe('States.Timeout');
    expect((await history(executionArn)).some((event) => event.type === 'TaskTimedOut')).toBe(true);
  });

  it('keeps the task alive while heartbeats arrive, and times it out when they stop', async () => {
    const { executionArn, taskToken } = await startCallback(1000);
    await advance(60);
    await sfn.send(new SendTaskHeartbeatCommand({ taskToken }));
    await advance(60);
    await settle();
    expect((await describeExecution(executionArn)).status).toBe('RUNNING');
    await advance(50);
    const execution = await stopped(executionArn);
    expect(JSON.parse(execution.output ?? '').timedOut.Error).toBe('States.HeartbeatTimeout');
  });

  it('answers unknown and malformed tokens as Step Functions does', async () => {
    const unknown = `SBX1${'A'.repeat(86)}`;
    expect((await failure(sfn.send(new SendTaskSuccessCommand({ taskToken: unknown, output: '{}' })))).name).toBe(
      'TaskDoesNotExist',
    );
    expect((await failure(sfn.send(new SendTaskHeartbeatCommand({ taskToken: 'garbage' })))).name).toBe('InvalidToken');
  });
});

describe('a restart', () => {
  it('fails the executions a previous process left running with Sandbox.Restarted', async () => {
    const stateDir = mkdtempSync(join(tmpdir(), 'bakehouse-sfn-restart-'));
    try {
      const first = await startTestSandbox({ stateDir });
      const before = new SFNClient(first.clientConfig);
      const created = await before.send(
        new CreateStateMachineCommand({ name: 'survivor', definition: waitMachine(), roleArn: ROLE_ARN }),
      );
      const started = await before.send(new StartExecutionCommand({ stateMachineArn: created.stateMachineArn }));
      const executionArn = started.executionArn ?? '';
      await eventually(async () => {
        const events = (await before.send(new GetExecutionHistoryCommand({ executionArn }))).events ?? [];
        return events.some((event) => event.type === 'WaitStateEntered') || undefined;
      }, 'the wait to start');
      before.destroy();
      await first.stop();

      const second = await startTestSandbox({ stateDir });
      const after = new SFNClient(second.clientConfig);
      try {
        const execution = await after.send(new DescribeExecutionCommand({ executionArn }));
        expect(execution).toMatchObject({ status: 'FAILED', error: 'Sandbox.Restarted' });
        expect(execution.stopDate).toBeInstanceOf(Date);
        const events = (await after.send(new GetExecutionHistoryCommand({ executionArn }))).events ?? [];
        expect(events.map((event) => event.type)).toEqual(['ExecutionStarted', 'WaitStateEntered', 'ExecutionFailed']);
        expect(
          (await after.send(new DescribeStateMachineCommand({ stateMachineArn: created.stateMachineArn }))).name,
        ).toBe('survivor');
      } finally {
        after.destroy();
        await second.stop();
      }
    } finally {
      rmSync(stateDir, { recursive: true, force: true });
    }
  });
});
