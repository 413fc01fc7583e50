/**
 * `bakehouse canary <family> [--abort]` against mocked Step Functions and EC2: which execution it
 * shows, what it reads from the history, how it stops one and waits for its instances.
 */
import { DescribeInstancesCommand, EC2Client } from '@aws-sdk/client-ec2';
import {
  DescribeExecutionCommand,
  type DescribeExecutionCommandOutput,
  GetExecutionHistoryCommand,
  type HistoryEvent,
  ListExecutionsCommand,
  ListStateMachinesCommand,
  SFNClient,
  StopExecutionCommand,
} from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import type { Clients } from '../../cli/context';
import { main } from '../../cli/main';
import { loadConfig } from '../../functions/commons/families';
import { configInput, linuxFamily } from './support/bake-factories';
import { cliRunner } from './support/cli';

const sfn = new SFNClient({ region: 'eu-west-1' });
const ec2 = new EC2Client({ region: 'eu-west-1' });
const sfnMock = mockClient(sfn);
const ec2Mock = mockClient(ec2);

const MACHINE = 'arn:aws:states:eu-west-1:111122223333:stateMachine:bakehouse-dev-canary';
const executionArn = (name: string) => `${MACHINE.replace(':stateMachine:', ':execution:')}:${name}`;
const CANARY_AMI = 'ami-0c0c0c0c0c0c0c0c1';
const BASELINE_AMI = 'ami-0b0b0b0b0b0b0b0b1';

const config = () =>
  loadConfig(
    configInput([
      linuxFamily({
        name: 'al2023-web',
        channels: [
          { name: 'dev', promoteOn: 'tested' },
          {
            name: 'prod',
            promoteOn: 'canary',
            canary: {
              autoScalingGroup: 'web-prod',
              metrics: [{ name: 'cpu', namespace: 'AWS/EC2', metricName: 'CPUUtilization', badDirection: 'increase' }],
            },
          },
        ],
      }),
      linuxFamily({ name: 'al2023-base' }),
    ]),
  );

const input = (family: string) =>
  JSON.stringify({
    version: '0',
    id: 'e-1',
    'detail-type': 'AMI Tested',
    source: 'bakehouse',
    detail: { version: '1.0', bakeId: `${family}-bake`, family, amiId: CANARY_AMI, passed: true, results: [] },
  });

const execution = (
  name: string,
  family: string,
  status: string,
  started: string,
  extra: Partial<DescribeExecutionCommandOutput> = {},
): DescribeExecutionCommandOutput => ({
  $metadata: {},
  executionArn: executionArn(name),
  stateMachineArn: MACHINE,
  name,
  status: status as DescribeExecutionCommandOutput['status'],
  startDate: new Date(started),
  input: input(family),
  ...extra,
});

const run = (name: string, judgement: unknown = null) => ({
  canaryId: name,
  executionArn: executionArn(name),
  family: 'al2023-web',
  amiId: CANARY_AMI,
  bakeId: 'al2023-web-bake',
  skip: false,
  channel: 'prod',
  baselineAmiId: BASELINE_AMI,
  autoScalingGroup: 'web-prod',
  instances: { baseline: ['i-0b0000000000000a1'], canary: ['i-0c0000000000000a1'] },
  intervalsJudged: judgement ? 3 : 0,
  judgement,
});

const JUDGEMENT = {
  score: 40,
  verdict: 'fail',
  failedCritical: ['latency'],
  metrics: [
    {
      name: 'latency',
      classification: 'High',
      passed: false,
      critical: true,
      weight: 2,
      baselineMedian: 120,
      canaryMedian: 168,
      change: 1.4,
      pValue: 0.0002,
      baselineCount: 30,
      canaryCount: 30,
    },
    {
      name: 'cpu',
      classification: 'Pass',
      passed: true,
      critical: false,
      weight: 1,
      baselineMedian: 35.2,
      canaryMedian: 36,
      change: 36 / 35.2,
      pValue: 0.41,
      baselineCount: 30,
      canaryCount: 30,
    },
  ],
};

const exited = (output: unknown): HistoryEvent => ({
  id: 1,
  timestamp: new Date('2026-12-05T10:00:00Z'),
  type: 'TaskStateExited',
  stateExitedEventDetails: { name: 'Judge', output: JSON.stringify(output) },
});

const listing = (...items: DescribeExecutionCommandOutput[]) => {
  const asItems = (list: DescribeExecutionCommandOutput[]) =>
    list.map((e) => ({
      executionArn: e.executionArn,
      stateMachineArn: MACHINE,
      name: e.name,
      status: e.status,
      startDate: e.startDate,
    }));
  sfnMock.on(ListExecutionsCommand).resolves({ executions: asItems(items) as never });
  sfnMock
    .on(ListExecutionsCommand, { statusFilter: 'RUNNING' })
    .resolves({ executions: asItems(items.filter((e) => e.status === 'RUNNING')) as never });
  for (const item of items) {
    sfnMock.on(DescribeExecutionCommand, { executionArn: item.executionArn }).resolves(item);
  }
};

const cli = cliRunner(() => ({
  config: config(),
  clients: () => ({ sfn, ec2 }) as unknown as Clients,
  sleep: async () => undefined,
  pollMs: 1,
  now: () => new Date('2026-12-05T10:00:00Z'),
}));

beforeEach(() => {
  sfnMock.reset();
  ec2Mock.reset();
  sfnMock.on(ListStateMachinesCommand).resolves({
    stateMachines: [
      {
        name: 'bakehouse-dev-bake',
        stateMachineArn: MACHINE.replace('canary', 'bake'),
        type: 'STANDARD',
        creationDate: new Date(),
      },
      { name: 'bakehouse-dev-canary', stateMachineArn: MACHINE, type: 'STANDARD', creationDate: new Date() },
    ],
  });
  sfnMock.on(GetExecutionHistoryCommand).resolves({ events: [] });
  ec2Mock.on(DescribeInstancesCommand).resolves({ Reservations: [] });
});

describe('bakehouse canary <family>', () => {
  it("shows the family's running canary over a newer one of another family, with its images and scorecard", async () => {
    // Prepare
    listing(
      execution('c-other', 'al2023-base', 'RUNNING', '2026-12-05T09:50:00Z'),
      execution('c-web-old', 'al2023-web', 'SUCCEEDED', '2026-12-04T09:00:00Z'),
      execution('c-web', 'al2023-web', 'RUNNING', '2026-12-05T09:00:00Z'),
    );
    sfnMock
      .on(GetExecutionHistoryCommand, { executionArn: executionArn('c-web') })
      .resolves({ events: [exited(run('c-web')), exited({ state: run('c-web', JUDGEMENT) })] });

    // Act
    const { code, out } = await cli(['canary', 'al2023-web', '--json']);

    // Assess
    expect(code).toBe(0);
    const { canary } = JSON.parse(out) as { canary: Record<string, unknown> };
    expect(canary).toMatchObject({
      canaryId: 'c-web',
      family: 'al2023-web',
      channel: 'prod',
      status: 'RUNNING',
      verdict: null,
      amiId: CANARY_AMI,
      baselineAmiId: BASELINE_AMI,
      autoScalingGroup: 'web-prod',
      instances: { baseline: ['i-0b0000000000000a1'], canary: ['i-0c0000000000000a1'] },
      intervalsJudged: 3,
      scorecard: { score: 40, verdict: 'fail', failedCritical: ['latency'] },
    });
    expect(sfnMock).toHaveReceivedCommandWith(ListExecutionsCommand, {
      stateMachineArn: MACHINE,
      statusFilter: 'RUNNING',
    });
  });

  it('shows the latest canary when none runs, with the verdict it finished with, as a table', async () => {
    // Prepare
    listing(
      execution('c-web-old', 'al2023-web', 'SUCCEEDED', '2026-12-04T09:00:00Z'),
      execution('c-web-new', 'al2023-web', 'SUCCEEDED', '2026-12-05T08:00:00Z'),
    );
    sfnMock.on(GetExecutionHistoryCommand, { executionArn: executionArn('c-web-new') }).resolves({
      events: [exited(run('c-web-new', JUDGEMENT)), exited({ verdict: 'fail', published: true })],
    });

    // Act
    const { code, out } = await cli(['canary', 'al2023-web']);

    // Assess
    expect(code).toBe(0);
    expect(out).toContain('c-web-new');
    expect(out).toContain('SUCCEEDED, verdict fail');
    expect(out).toContain('score 40/100 (fail) after 3 interval(s)');
    expect(out).toContain('critical metrics failed: latency');
    expect(out).toMatch(/latency \*\s+120\s+168\s+\+40\.0%\s+<0\.001\s+High/);
    expect(out).toMatch(/cpu\s+35\.2\s+36\s+\+2\.3%\s+0\.410\s+Pass/);
  });

  it('shows a canary that failed or timed out with verdict error and the cause', async () => {
    // Prepare
    listing(
      execution('c-web', 'al2023-web', 'FAILED', '2026-12-05T08:00:00Z', {
        error: 'CanaryFailed',
        cause: 'The canary failed; its Canary Judged (verdict error) names the reason.',
      }),
    );

    // Act
    const { code, out } = await cli(['canary', 'al2023-web', '--json']);

    // Assess
    expect(code).toBe(0);
    expect(JSON.parse(out)).toMatchObject({
      canary: {
        status: 'FAILED',
        verdict: 'error',
        cause: 'The canary failed; its Canary Judged (verdict error) names the reason.',
        scorecard: null,
      },
    });
  });

  it('names the fix when the family has no canary channel', async () => {
    // Act
    const { code, err } = await cli(['canary', 'al2023-base']);

    // Assess
    expect(code).toBe(2);
    expect(err).toContain("family 'al2023-base' has no canary channel");
    expect(err).toContain("Fix: give one of its channels promoteOn 'canary'");
    expect(err).toContain('(al2023-web)');
  });

  it('names the fix when no canary of the family ever ran', async () => {
    // Prepare
    listing(execution('c-other', 'al2023-base', 'SUCCEEDED', '2026-12-05T09:50:00Z'));

    // Act
    const { code, err } = await cli(['canary', 'al2023-web']);

    // Assess
    expect(code).toBe(1);
    expect(err).toContain("no canary of family 'al2023-web' has run in stage 'dev'");
    expect(err).toContain('Fix: bake it with `bakehouse bake al2023-web`');
  });

  it('names the fix when the canary state machine is not deployed', async () => {
    // Prepare
    sfnMock.on(ListStateMachinesCommand).resolves({ stateMachines: [] });

    // Act
    const { code, err } = await cli(['canary', 'al2023-web']);

    // Assess
    expect(code).toBe(1);
    expect(err).toContain('the canary state machine bakehouse-dev-canary does not exist. Fix: deploy stage');
  });
});

describe('bakehouse canary <family> --abort', () => {
  it('stops the running canary naming the operator, waits until its instances are terminated, and exits 0', async () => {
    // Prepare
    const running = execution('c-web', 'al2023-web', 'RUNNING', '2026-12-05T09:00:00Z');
    listing(running);
    sfnMock
      .on(GetExecutionHistoryCommand, { executionArn: executionArn('c-web') })
      .resolves({ events: [exited(run('c-web'))] });
    sfnMock.on(StopExecutionCommand).callsFake(() => {
      sfnMock
        .on(DescribeExecutionCommand, { executionArn: executionArn('c-web') })
        .resolves({ ...running, status: 'ABORTED', stopDate: new Date('2026-12-05T10:00:00Z') });
      return { stopDate: new Date('2026-12-05T10:00:00Z') };
    });
    const instance = (id: string, state: string) => ({ InstanceId: id, State: { Name: state as never } });
    ec2Mock
      .on(DescribeInstancesCommand)
      .resolvesOnce({
        Reservations: [
          { Instances: [instance('i-0b0000000000000a1', 'running'), instance('i-0c0000000000000a1', 'running')] },
        ],
      })
      .resolvesOnce({ Reservations: [{ Instances: [instance('i-0c0000000000000a1', 'shutting-down')] }] })
      .resolves({ Reservations: [] });

    // Act
    const { code, out } = await cli(['canary', 'al2023-web', '--abort', '--json']);

    // Assess
    expect(code).toBe(0);
    expect(sfnMock).toHaveReceivedCommandWith(StopExecutionCommand, {
      executionArn: executionArn('c-web'),
      error: 'CanaryAborted',
      cause: expect.stringContaining('aborted by'),
    });
    expect(ec2Mock).toHaveReceivedCommandTimes(DescribeInstancesCommand, 3);
    expect(ec2Mock).toHaveReceivedCommandWith(DescribeInstancesCommand, {
      Filters: [
        { Name: 'tag:bakehouse:canary-id', Values: ['c-web'] },
        { Name: 'instance-state-name', Values: ['pending', 'running', 'stopping', 'stopped', 'shutting-down'] },
      ],
    });
    const result = JSON.parse(out) as Record<string, unknown>;
    expect(result).toMatchObject({
      aborted: true,
      instancesTerminated: ['i-0b0000000000000a1', 'i-0c0000000000000a1'],
      canary: { canaryId: 'c-web', status: 'ABORTED', verdict: 'aborted' },
    });
  });

  it('names the operator in the stop cause', async () => {
    // Prepare
    listing(execution('c-web', 'al2023-web', 'RUNNING', '2026-12-05T09:00:00Z'));
    sfnMock.on(StopExecutionCommand).resolves({ stopDate: new Date() });
    const out: string[] = [];

    // Act
    const code = await main(
      ['canary', 'al2023-web', '--abort'],
      {
        stdout: { write: (t: string) => out.push(t) },
        stderr: { write: () => true },
        env: { BAKEHOUSE_USER: 'alice' },
      },
      {
        config: config(),
        clients: () => ({ sfn, ec2 }) as unknown as Clients,
        sleep: async () => undefined,
        pollMs: 1,
      },
    );

    // Assess
    expect(code).toBe(0);
    expect(sfnMock).toHaveReceivedCommandWith(StopExecutionCommand, {
      cause: 'aborted by alice with bakehouse canary --abort',
    });
    expect(out.join('')).toContain('canary c-web aborted by alice');
  });

  it('says there is nothing to abort when the latest canary already ended, and stops nothing', async () => {
    // Prepare
    listing(execution('c-web', 'al2023-web', 'SUCCEEDED', '2026-12-05T09:00:00Z'));

    // Act
    const { code, err } = await cli(['canary', 'al2023-web', '--abort']);

    // Assess
    expect(code).toBe(1);
    expect(err).toContain("no canary of family 'al2023-web' is running: the latest, c-web, ended SUCCEEDED");
    expect(sfnMock).not.toHaveReceivedCommand(StopExecutionCommand);
  });

  it('fails naming the instances left when they outlive the timeout', async () => {
    // Prepare
    listing(execution('c-web', 'al2023-web', 'RUNNING', '2026-12-05T09:00:00Z'));
    sfnMock.on(StopExecutionCommand).resolves({ stopDate: new Date() });
    ec2Mock
      .on(DescribeInstancesCommand)
      .resolves({ Reservations: [{ Instances: [{ InstanceId: 'i-0c0000000000000a1', State: { Name: 'running' } }] }] });
    let clock = Date.parse('2026-12-05T10:00:00Z');
    const err: string[] = [];

    // Act
    const code = await main(
      ['canary', 'al2023-web', '--abort', '--timeout', '30'],
      { stdout: { write: () => true }, stderr: { write: (t: string) => err.push(t) }, env: {} },
      {
        config: config(),
        clients: () => ({ sfn, ec2 }) as unknown as Clients,
        sleep: async () => {
          clock += 10_000;
        },
        now: () => new Date(clock),
        pollMs: 10_000,
      },
    );

    // Assess
    expect(code).toBe(1);
    expect(err.join('')).toContain('1 of its instance(s) are still there after 30s: i-0c0000000000000a1');
  });
});
