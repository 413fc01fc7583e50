/**
 * Step Functions' "Step Functions Execution Status Change" events on the default bus: an execution
 * that is stopped (StopExecution), times out, fails in a Fail state or succeeds sends its status,
 * and so does one the restart recovery fails (Sandbox.Restarted), as AWS sends them
 * (https://docs.aws.amazon.com/step-functions/latest/dg/eventbridge-integration.html).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CreateStateMachineCommand,
  GetExecutionHistoryCommand,
  SFNClient,
  StartExecutionCommand,
  StopExecutionCommand,
} from '@aws-sdk/client-sfn';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestSandbox, type TestSandbox } from '../../src/testing/sandbox';
import { ROLE_ARN, timeoutMachine, waitMachine } from '../fixtures/sandbox-sfn/machines';

interface Logged {
  readonly bus: string;
  readonly event: { source: string; 'detail-type': string; resources: string[]; detail: Record<string, unknown> };
}

const failMachine = (): string =>
  JSON.stringify({
    StartAt: 'GiveUp',
    States: { GiveUp: { Type: 'Fail', Error: 'BakeFailed', Cause: 'yum exited with 1' } },
  });

const passMachine = (): string =>
  JSON.stringify({ StartAt: 'Done', States: { Done: { Type: 'Pass', Result: 'ok', End: true } } });

const statusChanges = async (box: TestSandbox, executionArn: string): Promise<Logged[]> => {
  const log = (await box.control('GET', '/_sandbox/events')).body as Logged[];
  return log.filter(
    (entry) =>
      entry.event.source === 'aws.states' &&
      entry.event['detail-type'] === 'Step Functions Execution Status Change' &&
      entry.event.detail.executionArn === executionArn,
  );
};

const eventually = async <T>(check: () => Promise<T | undefined>, what: string): Promise<T> => {
  const deadline = Date.now() + 5000;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
};

const statusChange = (box: TestSandbox, executionArn: string, status: string): Promise<Logged> =>
  eventually(
    async () => (await statusChanges(box, executionArn)).find((entry) => entry.event.detail.status === status),
    `${status} of ${executionArn}`,
  );

describe('execution status changes on the default bus', () => {
  let box: TestSandbox;
  let sfn: SFNClient;
  let count = 0;

  beforeAll(async () => {
    box = await startTestSandbox({});
    sfn = new SFNClient(box.clientConfig);
  });

  afterAll(async () => {
    sfn.destroy();
    await box.stop();
  });

  const startIn = async (definition: string, input: object = {}): Promise<string> => {
    count += 1;
    const machine = await sfn.send(
      new CreateStateMachineCommand({ name: `status-${count}`, definition, roleArn: ROLE_ARN }),
    );
    const started = await sfn.send(
      new StartExecutionCommand({
        stateMachineArn: machine.stateMachineArn,
        name: `run-${count}`,
        input: JSON.stringify(input),
      }),
    );
    return started.executionArn ?? '';
  };

  it('sends ABORTED with the error and cause given to StopExecution', async () => {
    // Prepare
    const executionArn = await startIn(waitMachine(), { bake: 'b-1' });

    // Act
    await sfn.send(new StopExecutionCommand({ executionArn, error: 'Operator', cause: 'stopped by alice' }));

    // Assess
    const { bus, event } = await statusChange(box, executionArn, 'ABORTED');
    expect(bus).toMatch(/:event-bus\/default$/);
    expect(event.resources).toEqual([executionArn]);
    expect(event.detail).toMatchObject({
      executionArn,
      stateMachineArn: executionArn.replace(':execution:', ':stateMachine:').replace(/:[^:]+$/, ''),
      name: `run-${count}`,
      input: JSON.stringify({ bake: 'b-1' }),
      output: null,
      error: 'Operator',
      cause: 'stopped by alice',
    });
    expect(typeof event.detail.startDate).toBe('number');
    expect(typeof event.detail.stopDate).toBe('number');
  });

  it('sends TIMED_OUT when the execution outlives TimeoutSeconds', async () => {
    // Prepare
    const executionArn = await startIn(timeoutMachine());

    // Act
    await box.control('POST', '/_sandbox/clock', { advanceSeconds: 101 });

    // Assess
    const { event } = await statusChange(box, executionArn, 'TIMED_OUT');
    expect(event.detail.error).toBe('States.Timeout');
  });

  it("sends FAILED with the Fail state's error, and SUCCEEDED with the output", async () => {
    // Act
    const failed = await startIn(failMachine());
    const succeeded = await startIn(passMachine());

    // Assess
    expect((await statusChange(box, failed, 'FAILED')).event.detail).toMatchObject({
      error: 'BakeFailed',
      cause: 'yum exited with 1',
    });
    expect((await statusChange(box, succeeded, 'SUCCEEDED')).event.detail).toMatchObject({
      output: '"ok"',
      error: null,
    });
  });

  it('sends one status change per execution', async () => {
    // Prepare
    const executionArn = await startIn(failMachine());
    await statusChange(box, executionArn, 'FAILED');

    // Act
    await new Promise((resolve) => setTimeout(resolve, 100));

    // Assess
    expect(await statusChanges(box, executionArn)).toHaveLength(1);
  });
});

describe('a restart', () => {
  it('sends FAILED (Sandbox.Restarted) for the executions it fails, so rules on it run', async () => {
    const stateDir = mkdtempSync(join(tmpdir(), 'bakehouse-sfn-status-'));
    try {
      // Prepare
      const first = await startTestSandbox({ stateDir });
      const before = new SFNClient(first.clientConfig);
      const machine = await before.send(
        new CreateStateMachineCommand({ name: 'survivor', definition: waitMachine(), roleArn: ROLE_ARN }),
      );
      const started = await before.send(new StartExecutionCommand({ stateMachineArn: machine.stateMachineArn }));
      const executionArn = started.executionArn ?? '';
      await eventually(async () => {
        const events = (await before.send(new GetExecutionHistoryCommand({ executionArn }))).events ?? [];
        return events.some((event) => event.type === 'WaitStateEntered') || undefined;
      }, 'the wait to start');
      expect(await statusChanges(first, executionArn)).toEqual([]);
      before.destroy();
      await first.stop();

      // Act
      const second = await startTestSandbox({ stateDir });

      // Assess
      try {
        const { event } = await statusChange(second, executionArn, 'FAILED');
        expect(event.detail).toMatchObject({ error: 'Sandbox.Restarted', executionArn });
      } finally {
        await second.stop();
      }
    } finally {
      rmSync(stateDir, { recursive: true, force: true });
    }
  });
});
