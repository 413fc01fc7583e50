/**
 * The canary's samples: one GetMetricData query per configured metric and per baseline or canary
 * instance (the configured dimensions plus `InstanceId`), pooled per side.
 *
 * CloudWatch API Reference, "GetMetricData"
 * (https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_GetMetricData.html):
 * - one call takes at most 500 MetricDataQuery structures, so the queries go in chunks of 500;
 * - a call answers in pages (`NextToken`), each page holding part of the values of any query, so
 *   values are appended per query id across pages;
 * - a query's `Id` starts with a lower-case letter and holds letters, digits and underscores.
 * StartTime is rounded down to the whole minute for data younger than 15 days, and 60-second
 * datapoints are kept for 15 days: Period 60 over a canary (at most a day) is always available.
 */
import { type CloudWatchClient, GetMetricDataCommand, type MetricDataQuery } from '@aws-sdk/client-cloudwatch';
import type { MetricSamples } from '../commons/canary-judge';
import type { CanaryMetricSettings } from '../commons/families';
import { eachPage } from '../commons/pages';

/** GetMetricData's limit of MetricDataQuery structures per call. */
export const MAX_QUERIES_PER_CALL = 500;
/** One datapoint per minute: CloudWatch's standard resolution. */
export const PERIOD_SECONDS = 60;

export type Side = 'baseline' | 'canary';

export interface SampleQuery {
  readonly id: string;
  readonly metric: string;
  readonly side: Side;
  readonly query: MetricDataQuery;
}

/** The queries for every metric × instance; ids are `m<metric>_<b|c><instance>`. */
export const sampleQueries = (
  metrics: readonly CanaryMetricSettings[],
  instances: { readonly baseline: readonly string[]; readonly canary: readonly string[] },
): SampleQuery[] => {
  const queries: SampleQuery[] = [];
  metrics.forEach((metric, m) => {
    for (const side of ['baseline', 'canary'] as const) {
      instances[side].forEach((instanceId, i) => {
        const id = `m${m}_${side === 'baseline' ? 'b' : 'c'}${i}`;
        queries.push({
          id,
          metric: metric.name,
          side,
          query: {
            Id: id,
            ReturnData: true,
            MetricStat: {
              Metric: {
                Namespace: metric.namespace,
                MetricName: metric.metricName,
                Dimensions: [
                  ...Object.entries(metric.dimensions).map(([Name, Value]) => ({ Name, Value })),
                  { Name: 'InstanceId', Value: instanceId },
                ],
              },
              Period: PERIOD_SECONDS,
              Stat: metric.statistic,
            },
          },
        });
      });
    }
  });
  return queries;
};

const chunks = <T>(items: readonly T[], size: number): T[][] => {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
};

/**
 * Fetches every query's values between `start` and `end` and pools them per metric and side. A
 * metric with no datapoints has empty samples (the judge classifies it NoData).
 */
export const fetchSamples = async (
  cloudWatch: Pick<CloudWatchClient, 'send'>,
  metrics: readonly CanaryMetricSettings[],
  instances: { readonly baseline: readonly string[]; readonly canary: readonly string[] },
  window: { readonly start: Date; readonly end: Date },
): Promise<Record<string, MetricSamples>> => {
  const queries = sampleQueries(metrics, instances);
  const values = new Map<string, number[]>(queries.map((q) => [q.id, []]));
  for (const chunk of chunks(queries, MAX_QUERIES_PER_CALL)) {
    for await (const page of eachPage((NextToken) =>
      cloudWatch.send(
        new GetMetricDataCommand({
          MetricDataQueries: chunk.map((q) => q.query),
          StartTime: window.start,
          EndTime: window.end,
          NextToken,
        }),
      ),
    )) {
      for (const result of page.MetricDataResults ?? []) {
        const into = result.Id === undefined ? undefined : values.get(result.Id);
        if (into) into.push(...(result.Values ?? []));
      }
    }
  }
  const samples: Record<string, { baseline: number[]; canary: number[] }> = {};
  for (const metric of metrics) samples[metric.name] = { baseline: [], canary: [] };
  for (const q of queries) samples[q.metric]?.[q.side].push(...(values.get(q.id) ?? []));
  return samples;
};
