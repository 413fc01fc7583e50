/**
 * GetMetricData's arithmetic, pure: statistics over one period's datapoints, periods aligned to
 * the start time, datapoint order and pagination (CloudWatch API Reference, "GetMetricData",
 * "MetricStat", "MetricDataResult"; CloudWatch User Guide, "CloudWatch statistics definitions").
 *
 * - StartTime is inclusive and rounded down to the whole minute (to the period when the period is
 *   under a minute); EndTime is exclusive. Periods start at the rounded StartTime, one datapoint
 *   per period that has data, timestamped at the period's start.
 * - ScanBy `TimestampDescending` (the default) gives the newest datapoint first.
 * - MaxDatapoints (default 100,800) bounds the datapoints of one answer across its results; a
 *   result that did not fit says `PartialData` and NextToken continues it; otherwise `Complete`.
 * - Percentiles (`p90`, `p99.9`) are the nearest-rank percentile of the values sent (Value or
 *   Values/Counts); datapoints sent as StatisticValues alone carry no values for them.
 */
import { AwsError } from '../../errors';
import type { Sample } from './model';

export type Statistic =
  | { readonly kind: 'Average' | 'Sum' | 'Minimum' | 'Maximum' | 'SampleCount' }
  | { readonly kind: 'percentile'; readonly p: number };

export const validationError = (message: string): AwsError => new AwsError('ValidationError', message);

const SIMPLE = ['Average', 'Sum', 'Minimum', 'Maximum', 'SampleCount'] as const;

/**
 * The statistic `stat` names (MetricStat.Stat: a statistic or an extended statistic). Trimmed
 * means and the other extended statistics CloudWatch computes (`tm90`, `IQM`, `wm`, `tc`, `ts`,
 * `PR`) are refused by name: the sandbox does not compute them.
 */
export const parseStatistic = (stat: string, member: string): Statistic => {
  if ((SIMPLE as readonly string[]).includes(stat)) return { kind: stat as (typeof SIMPLE)[number] };
  const percentile = /^p(\d{1,3}(?:\.\d{1,10})?)$/.exec(stat);
  if (percentile) {
    const p = Number(percentile[1]);
    if (p >= 0 && p <= 100) return { kind: 'percentile', p };
  }
  if (/^(tm|wm|tc|ts|PR|TM|WM|TC|TS)|^IQM$/.test(stat)) {
    throw validationError(
      `The sandbox does not compute the statistic ${stat} at ${member}: use Average, Sum, Minimum, Maximum, SampleCount or a percentile such as p90`,
    );
  }
  throw validationError(
    `The value ${stat} for parameter ${member} is not a valid statistic: use Average, Sum, Minimum, Maximum, SampleCount or a percentile such as p99.9`,
  );
};

/** The statistic of one period's samples; undefined when they give none (a percentile of sets alone). */
export const aggregate = (samples: readonly Sample[], statistic: Statistic): number | undefined => {
  if (samples.length === 0) return undefined;
  switch (statistic.kind) {
    case 'Sum':
      return samples.reduce((sum, s) => sum + s.sum, 0);
    case 'SampleCount':
      return samples.reduce((sum, s) => sum + s.sampleCount, 0);
    case 'Minimum':
      return Math.min(...samples.map((s) => s.minimum));
    case 'Maximum':
      return Math.max(...samples.map((s) => s.maximum));
    case 'Average': {
      const count = samples.reduce((sum, s) => sum + s.sampleCount, 0);
      return count === 0 ? undefined : samples.reduce((sum, s) => sum + s.sum, 0) / count;
    }
    case 'percentile':
      return percentile(
        samples.flatMap((s) => s.values ?? []),
        statistic.p,
      );
  }
};

/** Nearest rank: the smallest value at or below which p % of the (weighted) values lie. */
export const percentile = (
  values: readonly { readonly value: number; readonly count: number }[],
  p: number,
): number | undefined => {
  const sorted = values.filter((v) => v.count > 0).sort((a, b) => a.value - b.value);
  const total = sorted.reduce((sum, v) => sum + v.count, 0);
  if (total === 0) return undefined;
  const rank = Math.max(1, Math.ceil((p / 100) * total));
  let seen = 0;
  for (const entry of sorted) {
    seen += entry.count;
    if (seen >= rank) return entry.value;
  }
  return sorted[sorted.length - 1]?.value;
};

/** StartTime rounded down: to the period under a minute (5, 10, 20, 30 s), else to the minute. */
export const alignedStart = (startMs: number, periodSeconds: number): number => {
  const step = periodSeconds < 60 ? periodSeconds * 1000 : 60_000;
  return Math.floor(startMs / step) * step;
};

/** Regular periods are multiples of 60 s; high-resolution ones 1, 5, 10, 20 or 30 s. */
export const checkPeriod = (period: number, member: string): void => {
  if (
    !Number.isInteger(period) ||
    period < 1 ||
    (period >= 60 ? period % 60 !== 0 : ![1, 5, 10, 20, 30].includes(period))
  ) {
    throw validationError(
      `The parameter ${member} must be 1, 5, 10, 20, 30, or a multiple of 60 seconds, not ${period}`,
    );
  }
};

export interface Series {
  /** Ascending, epoch ms. */
  readonly timestamps: number[];
  readonly values: number[];
}

/** One datapoint per period of [start, end) with data, ascending. */
export const periodSeries = (
  samples: readonly Sample[],
  statistic: Statistic,
  startMs: number,
  endMs: number,
  periodSeconds: number,
): Series => {
  const periodMs = periodSeconds * 1000;
  const byPeriod = new Map<number, Sample[]>();
  for (const sample of samples) {
    if (sample.t < startMs || sample.t >= endMs) continue;
    const bucket = startMs + Math.floor((sample.t - startMs) / periodMs) * periodMs;
    const list = byPeriod.get(bucket);
    if (list) list.push(sample);
    else byPeriod.set(bucket, [sample]);
  }
  const timestamps: number[] = [];
  const values: number[] = [];
  for (const bucket of [...byPeriod.keys()].sort((a, b) => a - b)) {
    const value = aggregate(byPeriod.get(bucket) ?? [], statistic);
    if (value === undefined) continue;
    timestamps.push(bucket);
    values.push(value);
  }
  return { timestamps, values };
};

export interface PageResult {
  readonly timestamps: number[];
  readonly values: number[];
  readonly status: 'Complete' | 'PartialData';
}

const TOKEN_PREFIX = 'gmd:';

export const encodeDataToken = (offsets: readonly number[]): string =>
  Buffer.from(`${TOKEN_PREFIX}${offsets.join(',')}`, 'utf8').toString('base64url');

/** The offsets a token carries (one per result), or undefined when it is not one of ours for them. */
export const decodeDataToken = (token: string, results: number): number[] | undefined => {
  const text = Buffer.from(token, 'base64url').toString('utf8');
  if (!text.startsWith(TOKEN_PREFIX)) return undefined;
  const offsets = text.slice(TOKEN_PREFIX.length).split(',').map(Number);
  if (offsets.length !== results || offsets.some((o) => !Number.isInteger(o) || o < 0)) return undefined;
  return offsets;
};

/**
 * One page of every series: datapoints in ScanBy order from each series' offset, results filled in
 * query order until `maxDatapoints` are given. The token carries where each series goes on.
 */
export const pageSeries = (
  series: readonly Series[],
  scanBy: 'TimestampDescending' | 'TimestampAscending',
  maxDatapoints: number,
  offsets: readonly number[],
): { results: PageResult[]; nextToken?: string } => {
  let budget = maxDatapoints;
  const next: number[] = [];
  const results = series.map((one, index) => {
    const order = one.timestamps.map((_, i) => i);
    if (scanBy === 'TimestampDescending') order.reverse();
    const offset = Math.min(offsets[index] ?? 0, order.length);
    const taken = order.slice(offset, offset + budget);
    budget -= taken.length;
    next.push(offset + taken.length);
    return {
      timestamps: taken.map((i) => one.timestamps[i] as number),
      values: taken.map((i) => one.values[i] as number),
      status: offset + taken.length < order.length ? ('PartialData' as const) : ('Complete' as const),
    };
  });
  const more = results.some((r) => r.status === 'PartialData');
  return more ? { results, nextToken: encodeDataToken(next) } : { results };
};
