/**
 * CloudWatch through the pinned SDK and the AWS CLI: every running instance reports CPU, latency
 * and error rate per minute of sandbox time, a per-image profile multiplies one of them,
 * PutMetricData's datapoints merge with the synthesized ones, and ListMetrics lists both.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import {
  CloudWatchClient,
  GetMetricDataCommand,
  type GetMetricDataCommandInput,
  ListMetricsCommand,
  type MetricDataQuery,
  PutMetricDataCommand,
  paginateGetMetricData,
} from '@aws-sdk/client-cloudwatch';
import {
  type _InstanceType,
  EC2Client,
  RunInstancesCommand,
  StopInstancesCommand,
  TerminateInstancesCommand,
} from '@aws-sdk/client-ec2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AL2023_ARM, AL2023_X86, advance, errorOf, runningInstance } from '../../src/testing/ec2';
import { roleSession } from '../../src/testing/iam';
import { startTestSandbox, type TestSandbox } from '../../src/testing/sandbox';

let sandbox: TestSandbox;
let cloudwatch: CloudWatchClient;
let ec2: EC2Client;
/** Launched from AL2023_X86 and AL2023_ARM, both running since `runningSince`. */
let healthy: string;
let regressed: string;
let runningSince: number;

const MIN = 60_000;

const stat = (
  id: string,
  namespace: string,
  metricName: string,
  instanceId: string,
  statName = 'Average',
  period = 60,
): MetricDataQuery => ({
  Id: id,
  MetricStat: {
    Metric: { Namespace: namespace, MetricName: metricName, Dimensions: [{ Name: 'InstanceId', Value: instanceId }] },
    Period: period,
    Stat: statName,
  },
});

const now = async (): Promise<number> =>
  Date.parse(((await sandbox.control('GET', '/_sandbox/clock')).body as { now: string }).now);

const query = async (queries: MetricDataQuery[], extra: Partial<GetMetricDataCommandInput> = {}) => {
  const end = await now();
  return cloudwatch.send(
    new GetMetricDataCommand({
      MetricDataQueries: queries,
      StartTime: new Date(end - 3 * 3600_000),
      EndTime: new Date(end),
      ...extra,
    }),
  );
};

const mean = (values: readonly number[]): number => values.reduce((sum, v) => sum + v, 0) / values.length;

/**
 * `values` are a synthesized series around `center` (base × factor): each inside the noise band
 * (±10 %, services/cloudwatch/synth.ts NOISE), and their mean within 5 % of it. The noise is
 * random per instance id, so the bounds are ones no draw can miss: the band is exact, and on ~40
 * points the mean's spread is under 1 %, so 5 % is more than five of it (a median, with about
 * twice the spread, missed 5 % once in a few hundred runs).
 */
const expectAround = (values: readonly number[] | undefined, center: number): void => {
  expect(values?.length).toBeGreaterThan(0);
  for (const value of values ?? []) {
    expect(value).toBeGreaterThanOrEqual(center * 0.9);
    expect(value).toBeLessThan(center * 1.1);
  }
  expect(Math.abs(mean(values ?? []) / center - 1)).toBeLessThan(0.05);
};

beforeAll(async () => {
  sandbox = await startTestSandbox();
  cloudwatch = new CloudWatchClient(sandbox.clientConfig);
  ec2 = new EC2Client(sandbox.clientConfig);
  const profile = await sandbox.control('POST', '/_sandbox/metrics/profiles', {
    imageId: AL2023_ARM,
    metric: 'Latency',
    factor: 1.5,
  });
  expect(profile.status).toBe(200);
  const launch = async (imageId: string, instanceType: _InstanceType) =>
    (
      await ec2.send(
        new RunInstancesCommand({ ImageId: imageId, InstanceType: instanceType, MinCount: 1, MaxCount: 1 }),
      )
    ).Instances?.[0]?.InstanceId as string;
  healthy = await launch(AL2023_X86, 't3.micro');
  regressed = await launch(AL2023_ARM, 't4g.micro');
  await advance(sandbox, 60);
  runningSince = await now();
  await advance(sandbox, 40 * 60);
});
afterAll(async () => sandbox.stop());

describe('synthesized instance metrics', () => {
  it('gives one datapoint per running minute, newest first, around each base, complete and labelled by metric name', async () => {
    // Act
    const result = await query([
      stat('cpu', 'AWS/EC2', 'CPUUtilization', healthy),
      stat('latency', 'Bakehouse/ExampleApp', 'Latency', healthy),
      stat('errors', 'Bakehouse/ExampleApp', 'ErrorRate', healthy),
    ]);

    // Assess
    const [cpu, latency, errors] = result.MetricDataResults ?? [];
    expect(result.NextToken).toBeUndefined();
    for (const [series, base] of [
      [cpu, 35],
      [latency, 120],
      [errors, 0.5],
    ] as const) {
      expect(series?.StatusCode).toBe('Complete');
      // Running 30 s after launch; the clock is 41 min past launch, the minute still going on not over.
      expect(series?.Values?.length).toBeGreaterThanOrEqual(39);
      expect(series?.Values?.length).toBeLessThanOrEqual(41);
      expectAround(series?.Values, base);
      const times = (series?.Timestamps ?? []).map((t) => t.getTime());
      expect(times).toEqual([...times].sort((a, b) => b - a));
      expect(times.every((t) => t % MIN === 0)).toBe(true);
    }
    expect([cpu?.Label, latency?.Label, errors?.Label]).toEqual(['CPUUtilization', 'Latency', 'ErrorRate']);
  });

  it("multiplies the metric of a profiled image's instances and leaves the others as they were", async () => {
    // Act
    const result = await query([
      stat('healthy', 'Bakehouse/ExampleApp', 'Latency', healthy),
      stat('regressed', 'Bakehouse/ExampleApp', 'Latency', regressed),
      stat('cpu', 'AWS/EC2', 'CPUUtilization', regressed),
    ]);

    // Assess
    const [plain, profiled, cpu] = result.MetricDataResults ?? [];
    expectAround(plain?.Values, 120);
    expectAround(profiled?.Values, 120 * 1.5);
    expectAround(cpu?.Values, 35);
  });

  it('aggregates periods from the start rounded down to the minute, oldest first on request', async () => {
    // Act: 10-minute periods over the first 30 minutes of the run, started 30 s past a minute
    const start = Math.ceil(runningSince / MIN) * MIN;
    const result = await cloudwatch.send(
      new GetMetricDataCommand({
        MetricDataQueries: [stat('count', 'AWS/EC2', 'CPUUtilization', healthy, 'SampleCount', 600)],
        StartTime: new Date(start + 30_000),
        EndTime: new Date(start + 30 * MIN),
        ScanBy: 'TimestampAscending',
      }),
    );

    // Assess
    const series = result.MetricDataResults?.[0];
    expect(series?.Timestamps?.map((t) => t.getTime())).toEqual([start, start + 10 * MIN, start + 20 * MIN]);
    expect(series?.Values).toEqual([10, 10, 10]);
  });

  it('pages by MaxDatapoints with PartialData and a NextToken, and the pages add up to the whole', async () => {
    // Prepare
    const end = await now();
    const input: GetMetricDataCommandInput = {
      MetricDataQueries: [stat('cpu', 'AWS/EC2', 'CPUUtilization', healthy)],
      StartTime: new Date(end - 3 * 3600_000),
      EndTime: new Date(end),
    };
    const whole = (await cloudwatch.send(new GetMetricDataCommand(input))).MetricDataResults?.[0]?.Values ?? [];

    // Act
    const first = await cloudwatch.send(new GetMetricDataCommand({ ...input, MaxDatapoints: 15 }));
    const paged: number[] = [];
    for await (const page of paginateGetMetricData({ client: cloudwatch }, { ...input, MaxDatapoints: 15 })) {
      paged.push(...(page.MetricDataResults?.[0]?.Values ?? []));
    }

    // Assess
    expect(first.MetricDataResults?.[0]?.StatusCode).toBe('PartialData');
    expect(first.MetricDataResults?.[0]?.Values).toHaveLength(15);
    expect(first.NextToken).toBeDefined();
    expect(paged).toEqual(whole);
  });

  it('reports no minute after an instance stops, and keeps the minutes of a terminated instance EC2 forgot', async () => {
    // Prepare
    const stopped = await runningInstance(sandbox, ec2, AL2023_X86);
    await advance(sandbox, 10 * 60);
    await ec2.send(new StopInstancesCommand({ InstanceIds: [stopped] }));
    const gone = await runningInstance(sandbox, ec2, AL2023_X86);
    await advance(sandbox, 10 * 60);
    await ec2.send(new TerminateInstancesCommand({ InstanceIds: [gone] }));
    const before = await query([stat('gone', 'AWS/EC2', 'CPUUtilization', gone)]);
    // EC2 forgets a terminated instance after about an hour.
    await advance(sandbox, 2 * 3600);

    // Act
    const result = await query([stat('stopped', 'AWS/EC2', 'CPUUtilization', stopped)], {
      StartTime: new Date((await now()) - 4 * 3600_000),
    });
    const after = await query([stat('gone', 'AWS/EC2', 'CPUUtilization', gone)], {
      StartTime: new Date((await now()) - 4 * 3600_000),
    });

    // Assess
    expect(result.MetricDataResults?.[0]?.Values?.length).toBeGreaterThanOrEqual(9);
    expect(result.MetricDataResults?.[0]?.Values?.length).toBeLessThanOrEqual(10);
    expect(after.MetricDataResults?.[0]?.Values).toEqual(before.MetricDataResults?.[0]?.Values);
    expect(after.MetricDataResults?.[0]?.Values?.length).toBeGreaterThanOrEqual(9);
  });
});

describe('PutMetricData', () => {
  it('stores datapoints that merge with the synthesized ones of the same metric', async () => {
    // Prepare: one more latency value in the newest whole minute of the healthy instance
    const minute = Math.floor((await now()) / MIN) * MIN - MIN;
    await cloudwatch.send(
      new PutMetricDataCommand({
        Namespace: 'Bakehouse/ExampleApp',
        MetricData: [
          {
            MetricName: 'Latency',
            Dimensions: [{ Name: 'InstanceId', Value: healthy }],
            Timestamp: new Date(minute + 10_000),
            Values: [1000, 2000],
            Counts: [1, 2],
            Unit: 'Milliseconds',
          },
        ],
      }),
    );

    // Act
    const result = await cloudwatch.send(
      new GetMetricDataCommand({
        MetricDataQueries: [
          stat('n', 'Bakehouse/ExampleApp', 'Latency', healthy, 'SampleCount'),
          stat('top', 'Bakehouse/ExampleApp', 'Latency', healthy, 'Maximum'),
          stat('p50', 'Bakehouse/ExampleApp', 'Latency', healthy, 'p50'),
        ],
        StartTime: new Date(minute),
        EndTime: new Date(minute + MIN),
      }),
    );

    // Assess: the synthesized value and the three sent
    const [count, top, p50] = result.MetricDataResults ?? [];
    expect(count?.Values).toEqual([4]);
    expect(top?.Values).toEqual([2000]);
    expect(p50?.Values).toEqual([1000]);
  });

  it('refuses a namespace of AWS and a datum with both Value and Values, storing nothing', async () => {
    // Act
    const reserved = await errorOf(
      cloudwatch.send(
        new PutMetricDataCommand({ Namespace: 'AWS/EC2', MetricData: [{ MetricName: 'CPUUtilization', Value: 1 }] }),
      ),
    );
    const both = await errorOf(
      cloudwatch.send(
        new PutMetricDataCommand({
          Namespace: 'Mine',
          MetricData: [
            { MetricName: 'Good', Value: 1 },
            { MetricName: 'Bad', Value: 1, Values: [1] },
          ],
        }),
      ),
    );
    const listed = await cloudwatch.send(new ListMetricsCommand({ Namespace: 'Mine' }));

    // Assess: the SDK names them by the query error code's shape (awsQueryCompatible)
    expect(reserved).toEqual({ name: 'InvalidParameterValueException', status: 400 });
    expect(both).toEqual({ name: 'InvalidParameterCombinationException', status: 400 });
    expect(listed.Metrics).toEqual([]);
  });
});

describe('GetMetricData input', () => {
  it('refuses a math expression by name, and a token it did not issue', async () => {
    // Act
    const expression = await cloudwatch
      .send(
        new GetMetricDataCommand({
          MetricDataQueries: [stat('m1', 'AWS/EC2', 'CPUUtilization', healthy), { Id: 'e1', Expression: 'm1 * 2' }],
          StartTime: new Date(0),
          EndTime: new Date(),
        }),
      )
      .catch((error: Error) => error);
    const token = await errorOf(
      query([stat('m1', 'AWS/EC2', 'CPUUtilization', healthy)], { NextToken: 'bm90LW91cnM' }),
    );

    // Assess
    expect((expression as Error).name).toBe('ValidationException');
    expect((expression as Error).message).toMatch(/does not evaluate metric math .*'m1 \* 2'.*use MetricStat/);
    expect(token).toEqual({ name: 'InvalidNextToken', status: 400 });
  });
});

describe('ListMetrics', () => {
  it('lists the synthesized metrics of instances that ran, filtered by namespace, name and dimension', async () => {
    // Act
    const ec2Metrics = await cloudwatch.send(
      new ListMetricsCommand({ Namespace: 'AWS/EC2', MetricName: 'CPUUtilization' }),
    );
    const ofHealthy = await cloudwatch.send(
      new ListMetricsCommand({ Dimensions: [{ Name: 'InstanceId', Value: healthy }] }),
    );

    // Assess
    const instances = (ec2Metrics.Metrics ?? []).map((m) => m.Dimensions?.[0]?.Value);
    expect(instances).toContain(healthy);
    expect(instances).toContain(regressed);
    expect((ofHealthy.Metrics ?? []).map((m) => `${m.Namespace} ${m.MetricName}`).sort()).toEqual([
      'AWS/EC2 CPUUtilization',
      'Bakehouse/ExampleApp ErrorRate',
      'Bakehouse/ExampleApp Latency',
    ]);
  });

  it('lists a metric PutMetricData created', async () => {
    // Prepare
    await cloudwatch.send(
      new PutMetricDataCommand({
        Namespace: 'Bakehouse/Custom',
        MetricData: [{ MetricName: 'Baked', Dimensions: [{ Name: 'Family', Value: 'web' }], Value: 1 }],
      }),
    );

    // Act
    const listed = await cloudwatch.send(new ListMetricsCommand({ Namespace: 'Bakehouse/Custom' }));

    // Assess
    expect(listed.Metrics).toEqual([
      { Namespace: 'Bakehouse/Custom', MetricName: 'Baked', Dimensions: [{ Name: 'Family', Value: 'web' }] },
    ]);
  });
});

describe('CloudWatch through the AWS CLI', () => {
  it('reads metric data and lists metrics as a second, independent client', async () => {
    // The sandbox runs in this process: the CLI must not block its event loop (no execFileSync).
    const aws = async (...args: string[]) => {
      const { stdout } = await promisify(execFile)(
        'aws',
        [...args, '--endpoint-url', sandbox.sandbox.url, '--region', 'us-east-1', '--output', 'json'],
        { env: { ...process.env, AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test' }, timeout: 20_000 },
      );
      return JSON.parse(stdout);
    };
    const end = await now();

    // Act
    const data = await aws(
      'cloudwatch',
      'get-metric-data',
      '--metric-data-queries',
      JSON.stringify([stat('cpu', 'AWS/EC2', 'CPUUtilization', healthy)]),
      '--start-time',
      new Date(end - 3 * 3600_000).toISOString(),
      '--end-time',
      new Date(end).toISOString(),
    );
    const listed = await aws(
      'cloudwatch',
      'list-metrics',
      '--namespace',
      'Bakehouse/ExampleApp',
      '--metric-name',
      'Latency',
    );

    // Assess
    const sdk = (await query([stat('cpu', 'AWS/EC2', 'CPUUtilization', healthy)])).MetricDataResults?.[0];
    expect(data.MetricDataResults[0].Values).toEqual(sdk?.Values);
    expect(data.MetricDataResults[0].StatusCode).toBe('Complete');
    expect(listed.Metrics.map((m: { Dimensions: { Value: string }[] }) => m.Dimensions[0]?.Value)).toContain(healthy);
  });
});

describe('CloudWatch authorization', () => {
  it('lets a role read metric data it is granted and refuses ListMetrics it is not', async () => {
    // Prepare
    const session = await roleSession(sandbox, {
      roleName: 'metrics-reader',
      policy: {
        Version: '2012-10-17',
        Statement: [{ Effect: 'Allow', Action: 'cloudwatch:GetMetricData', Resource: '*' }],
      },
    });
    const reader = new CloudWatchClient(session.clientConfig);
    const end = await now();

    // Act
    const read = await reader.send(
      new GetMetricDataCommand({
        MetricDataQueries: [stat('cpu', 'AWS/EC2', 'CPUUtilization', healthy)],
        StartTime: new Date(end - 3600_000),
        EndTime: new Date(end),
      }),
    );
    const list = await errorOf(reader.send(new ListMetricsCommand({})));

    // Assess
    expect(read.MetricDataResults?.[0]?.Values?.length).toBeGreaterThan(0);
    expect(list.name).toBe('AccessDeniedException');
  });

  it('checks cloudwatch:namespace for PutMetricData', async () => {
    // Prepare
    const session = await roleSession(sandbox, {
      roleName: 'metrics-writer',
      policy: {
        Version: '2012-10-17',
        Statement: [
          {
            Effect: 'Allow',
            Action: 'cloudwatch:PutMetricData',
            Resource: '*',
            Condition: { StringEquals: { 'cloudwatch:namespace': 'Bakehouse/ExampleApp' } },
          },
        ],
      },
    });
    const writer = new CloudWatchClient(session.clientConfig);

    // Act
    const allowed = await errorOf(
      writer.send(
        new PutMetricDataCommand({ Namespace: 'Bakehouse/ExampleApp', MetricData: [{ MetricName: 'Ok', Value: 1 }] }),
      ),
    );
    const refused = await errorOf(
      writer.send(new PutMetricDataCommand({ Namespace: 'Other', MetricData: [{ MetricName: 'No', Value: 1 }] })),
    );

    // Assess
    expect(allowed.name).toBe('no error');
    expect(refused.name).toBe('AccessDeniedException');
  });
});
