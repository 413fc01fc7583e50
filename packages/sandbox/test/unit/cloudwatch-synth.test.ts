import { describe, expect, it } from 'vitest';
import {
  aggregate,
  alignedStart,
  checkPeriod,
  decodeDataToken,
  pageSeries,
  parseStatistic,
  percentile,
  periodSeries,
} from '../../src/services/cloudwatch/metric-data';
import type { Sample } from '../../src/services/cloudwatch/model';
import { parseProfile } from '../../src/services/cloudwatch/profiles';
import {
  NOISE,
  noise,
  runningMinutes,
  SYNTHESIZED_METRICS,
  synthesizedSamples,
} from '../../src/services/cloudwatch/synth';
import type { InstanceRunsRecord } from '../../src/services/ec2/runs';

const T0 = Date.parse('2026-12-01T10:00:00.000Z');
const MIN = 60_000;
const iso = (ms: number) => new Date(ms).toISOString();
const latency = SYNTHESIZED_METRICS.find((m) => m.metricName === 'Latency');
if (!latency) throw new Error('Latency is synthesized');

const runsOf = (instanceId: string, imageId: string, from: number, to?: number): InstanceRunsRecord => ({
  instanceId,
  imageId,
  runs: [to === undefined ? { from: iso(from) } : { from: iso(from), to: iso(to) }],
});

/**
 * Mann-Whitney's z (normal approximation, no ties: the values are continuous): |z| > 1.96 is a
 * difference at the 5 % level, two-sided. Written here because the sandbox imports no Bakehouse
 * code, the canary judge included.
 */
const mannWhitneyZ = (x: readonly number[], y: readonly number[]): number => {
  const ranked = [...x.map((v) => ({ v, x: true })), ...y.map((v) => ({ v, x: false }))].sort((a, b) => a.v - b.v);
  const rankSumX = ranked.reduce((sum, entry, index) => sum + (entry.x ? index + 1 : 0), 0);
  const u = rankSumX - (x.length * (x.length + 1)) / 2;
  const n = x.length * y.length;
  return (u - n / 2) / Math.sqrt((n * (x.length + y.length + 1)) / 12);
};

const sample = (t: number, value: number): Sample => ({
  t,
  unit: 'None',
  sampleCount: 1,
  sum: value,
  minimum: value,
  maximum: value,
  values: [{ value, count: 1 }],
});

describe('running minutes', () => {
  it('counts only whole minutes inside the run that are over by now', () => {
    // Prepare: running from 10:00:30 to 10:05:10, asked at 10:10
    const runs = runsOf('i-1', 'ami-1', T0 + 30_000, T0 + 5 * MIN + 10_000).runs;

    // Act
    const minutes = runningMinutes(runs, T0, T0 + 60 * MIN, T0 + 10 * MIN);

    // Assess: 10:01 … 10:04 (10:00 started before the run; 10:05 ends after it)
    expect(minutes).toEqual([1, 2, 3, 4].map((m) => T0 + m * MIN));
  });

  it('ends an open run at now, leaving out the minute still going on', () => {
    const minutes = runningMinutes(runsOf('i-1', 'ami-1', T0).runs, T0, T0 + 60 * MIN, T0 + 3 * MIN + 59_000);
    expect(minutes).toEqual([T0, T0 + MIN, T0 + 2 * MIN]);
  });

  it('keeps to the asked range, start inclusive and end exclusive', () => {
    const minutes = runningMinutes(runsOf('i-1', 'ami-1', T0).runs, T0 + 2 * MIN, T0 + 4 * MIN, T0 + 60 * MIN);
    expect(minutes).toEqual([T0 + 2 * MIN, T0 + 3 * MIN]);
  });
});

describe('synthesized values', () => {
  it('are the same for the same instance, metric and minute, and differ between minutes', () => {
    expect(noise('i-1', 'Latency', T0)).toBe(noise('i-1', 'Latency', T0));
    expect(noise('i-1', 'Latency', T0)).not.toBe(noise('i-1', 'Latency', T0 + MIN));
    expect(noise('i-1', 'Latency', T0)).not.toBe(noise('i-2', 'Latency', T0));
  });

  it('stay within the noise band around the base and spread across it', () => {
    const values = synthesizedSamples(latency, runsOf('i-1', 'ami-1', T0), [], T0, T0 + 600 * MIN, T0 + 600 * MIN).map(
      (s) => s.sum,
    );
    expect(values).toHaveLength(600);
    expect(Math.min(...values)).toBeGreaterThanOrEqual(120 * (1 - NOISE));
    expect(Math.max(...values)).toBeLessThan(120 * (1 + NOISE));
    const mean = values.reduce((a, b) => a + b, 0) / values.length;
    expect(mean).toBeGreaterThan(118);
    expect(mean).toBeLessThan(122);
  });

  it("multiply by the profile of the instance's image for that metric only", () => {
    const profiles = [{ imageId: 'ami-bad', metric: 'Latency', factor: 1.5 }];
    const profiled = synthesizedSamples(
      latency,
      runsOf('i-1', 'ami-bad', T0),
      profiles,
      T0,
      T0 + 5 * MIN,
      T0 + 5 * MIN,
    );
    const plain = synthesizedSamples(latency, runsOf('i-1', 'ami-good', T0), profiles, T0, T0 + 5 * MIN, T0 + 5 * MIN);
    expect(profiled.map((s) => s.sum)).toEqual(plain.map((s) => s.sum * 1.5));
  });

  it('make a ×1.5 latency profile plain to a Mann-Whitney test on 40 points a side, and two healthy sides alike', () => {
    // Prepare: 40 minutes a side, baseline and canary instances as a canary of 2 pairs would have
    const profiles = [{ imageId: 'ami-canary', metric: 'Latency', factor: 1.5 }];
    const side = (imageId: string, ids: string[]) =>
      ids.flatMap((id) =>
        synthesizedSamples(latency, runsOf(id, imageId, T0), profiles, T0, T0 + 20 * MIN, T0 + 20 * MIN).map(
          (s) => s.sum,
        ),
      );
    const baseline = side('ami-base', ['i-b1', 'i-b2']);
    const canary = side('ami-canary', ['i-c1', 'i-c2']);
    const healthy = side('ami-base', ['i-h1', 'i-h2']);

    // Act
    const regression = mannWhitneyZ(baseline, canary);
    const alike = mannWhitneyZ(baseline, healthy);

    // Assess: the canary's latency all above the baseline's; the healthy pair within chance
    expect(baseline).toHaveLength(40);
    expect(Math.abs(regression)).toBeGreaterThan(5);
    expect(Math.abs(alike)).toBeLessThan(1.96);
  });

  it('leave two healthy sides different at the 5 % level about as rarely as chance does', () => {
    // Prepare: 200 healthy comparisons of 40 minutes a side, on different instances and hours
    const side = (id: string, from: number) =>
      synthesizedSamples(latency, runsOf(id, 'ami-base', from), [], from, from + 40 * MIN, from + 40 * MIN).map(
        (s) => s.sum,
      );

    // Act
    const significant = Array.from({ length: 200 }, (_, k) =>
      Math.abs(mannWhitneyZ(side(`i-a${k}`, T0 + k * 3600_000), side(`i-b${k}`, T0 + k * 3600_000))),
    ).filter((z) => z > 1.96).length;

    // Assess: 5 % expected (10 of 200); 20 would be far beyond chance
    expect(significant).toBeLessThan(20);
  });
});

describe('statistics', () => {
  const samples = [1, 2, 3, 4, 10].map((v, i) => sample(T0 + i * 1000, v));

  it('computes Average, Sum, Minimum, Maximum and SampleCount', () => {
    expect(aggregate(samples, parseStatistic('Average', 's'))).toBe(4);
    expect(aggregate(samples, parseStatistic('Sum', 's'))).toBe(20);
    expect(aggregate(samples, parseStatistic('Minimum', 's'))).toBe(1);
    expect(aggregate(samples, parseStatistic('Maximum', 's'))).toBe(10);
    expect(aggregate(samples, parseStatistic('SampleCount', 's'))).toBe(5);
  });

  it('computes nearest-rank percentiles, weighted by counts', () => {
    expect(aggregate(samples, parseStatistic('p50', 's'))).toBe(3);
    expect(aggregate(samples, parseStatistic('p99.9', 's'))).toBe(10);
    expect(
      percentile(
        [
          { value: 5, count: 9 },
          { value: 100, count: 1 },
        ],
        90,
      ),
    ).toBe(5);
    expect(
      percentile(
        [
          { value: 5, count: 9 },
          { value: 100, count: 1 },
        ],
        91,
      ),
    ).toBe(100);
  });

  it('gives no percentile of datapoints sent as statistic sets alone', () => {
    const set: Sample = { t: T0, unit: 'None', sampleCount: 3, sum: 6, minimum: 1, maximum: 3 };
    expect(aggregate([set], parseStatistic('p90', 's'))).toBeUndefined();
    expect(aggregate([set], parseStatistic('Average', 's'))).toBe(2);
  });

  it('refuses statistics it does not compute, naming the member and what it takes', () => {
    expect(() => parseStatistic('tm90', 'MetricDataQueries.member.1.MetricStat.Stat')).toThrow(
      /does not compute the statistic tm90 at MetricDataQueries.member.1.MetricStat.Stat/,
    );
    expect(() => parseStatistic('Median', 'm')).toThrow(/not a valid statistic: use Average/);
    expect(() => parseStatistic('p101', 'm')).toThrow(/not a valid statistic/);
  });

  it('takes periods of 1, 5, 10, 20, 30 seconds or multiples of 60', () => {
    expect(() => checkPeriod(300, 'p')).not.toThrow();
    expect(() => checkPeriod(10, 'p')).not.toThrow();
    expect(() => checkPeriod(90, 'p')).toThrow(/multiple of 60/);
    expect(() => checkPeriod(0, 'p')).toThrow(/multiple of 60/);
  });
});

describe('periods and pages', () => {
  it('rounds the start down to the minute and buckets from there, one datapoint per period with data', () => {
    // Prepare: a minute's samples from 10:00 to 10:09, asked from 10:00:30 with 5-minute periods
    const samples = Array.from({ length: 10 }, (_, m) => sample(T0 + m * MIN, m));
    const start = alignedStart(T0 + 30_000, 300);

    // Act
    const series = periodSeries(samples, parseStatistic('Sum', 's'), start, T0 + 10 * MIN, 300);

    // Assess
    expect(start).toBe(T0);
    expect(series).toEqual({ timestamps: [T0, T0 + 5 * MIN], values: [0 + 1 + 2 + 3 + 4, 5 + 6 + 7 + 8 + 9] });
  });

  it('gives newest first by default, and pages across results with a token that carries on', () => {
    // Prepare
    const a = { timestamps: [1, 2, 3], values: [10, 20, 30] };
    const b = { timestamps: [1, 2], values: [1, 2] };

    // Act
    const first = pageSeries([a, b], 'TimestampDescending', 4, [0, 0]);
    const offsets = decodeDataToken(first.nextToken as string, 2);
    const second = pageSeries([a, b], 'TimestampDescending', 4, offsets as number[]);

    // Assess
    expect(first.results.map((r) => [r.values, r.status])).toEqual([
      [[30, 20, 10], 'Complete'],
      [[2], 'PartialData'],
    ]);
    expect(second.results.map((r) => [r.values, r.status])).toEqual([
      [[], 'Complete'],
      [[1], 'Complete'],
    ]);
    expect(second.nextToken).toBeUndefined();
    expect(decodeDataToken('bm90LW91cnM', 2)).toBeUndefined();
  });
});

describe('metric profiles', () => {
  it('takes an image, a synthesized metric and a factor', () => {
    expect(parseProfile('{"imageId":"ami-0123456789abcdef0","metric":"Latency","factor":1.5}')).toEqual({
      imageId: 'ami-0123456789abcdef0',
      metric: 'Latency',
      factor: 1.5,
    });
  });

  it.each([
    ['{"imageId":"i-123","metric":"Latency","factor":1.5}', /imageId must be an AMI id/],
    [
      '{"imageId":"ami-0123456789abcdef0","metric":"Latncy","factor":1.5}',
      /metric must be .*CPUUtilization, Latency, ErrorRate/,
    ],
    ['{"imageId":"ami-0123456789abcdef0","metric":"Latency","factor":0}', /factor must be a number greater than 0/],
    ['{"imageId":"ami-0123456789abcdef0","metric":"Latency","factor":"2"}', /factor must be a number/],
    ['{"imageId":"ami-0123456789abcdef0","metric":"Latency","factor":2,"x":1}', /unknown field x/],
    ['[1]', /body must be a JSON object/],
  ])('refuses %s naming the field and the fix', (body, message) => {
    expect(parseProfile(body)).toMatch(message);
  });
});
