/**
 * The metrics every sandbox instance reports while it runs, computed when they are asked for,
 * never written by a background job: the sandbox clock can run at 1,200× and a writer would have
 * to keep up with it, while a computed series is the same whenever it is read.
 *
 * For each whole minute of sandbox time an instance was `running` (EC2's run history,
 * services/ec2/runs.ts), it has one datapoint per metric below, with the `InstanceId` dimension
 * and timestamped at the start of the minute, as EC2's detailed monitoring reports one-minute
 * data (EC2 User Guide, "List the available CloudWatch metrics for your instances"). A minute is
 * reported once it is over.
 *
 * Values are `base × factor × (1 + 0.1·u)`, u uniform in [-1, 1) from a hash of (instance,
 * metric, minute): deterministic, independent per minute, and moderate, so that a ×1.5 profile is
 * plain to a Mann-Whitney test on ~40 points a side while two healthy sides are alike. The factor
 * is the profile of the instance's image for that metric (1 without one).
 */
import type { InstanceRunsRecord } from '../ec2/runs';
import type { MetricIdentity, MetricProfile, Sample } from './model';

export interface SynthesizedMetric {
  readonly namespace: string;
  readonly metricName: string;
  readonly base: number;
  readonly unit: string;
}

export const SYNTHESIZED_METRICS: readonly SynthesizedMetric[] = [
  { namespace: 'AWS/EC2', metricName: 'CPUUtilization', base: 35, unit: 'Percent' },
  { namespace: 'Bakehouse/ExampleApp', metricName: 'Latency', base: 120, unit: 'Milliseconds' },
  { namespace: 'Bakehouse/ExampleApp', metricName: 'ErrorRate', base: 0.5, unit: 'Percent' },
];

/** Relative half-width of the uniform noise. */
export const NOISE = 0.1;

const MINUTE_MS = 60_000;

/** FNV-1a over the text, then Murmur3's finalizer: a well-spread 32-bit hash. */
const hash32 = (text: string): number => {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i += 1) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
};

/** Uniform in [-1, 1), the same for the same instance, metric and minute. */
export const noise = (instanceId: string, metricName: string, minuteMs: number): number =>
  (hash32(`${instanceId}|${metricName}|${minuteMs}`) / 2 ** 32) * 2 - 1;

export const synthesizedValue = (
  metric: SynthesizedMetric,
  instanceId: string,
  minuteMs: number,
  factor: number,
): number => metric.base * factor * (1 + NOISE * noise(instanceId, metric.metricName, minuteMs));

/**
 * Starts of the whole minutes inside a run, over by `nowMs`, with `fromMs <= start < toMs`,
 * ascending.
 */
export const runningMinutes = (
  runs: InstanceRunsRecord['runs'],
  fromMs: number,
  toMs: number,
  nowMs: number,
): number[] => {
  const minutes: number[] = [];
  for (const run of runs) {
    const runFrom = Date.parse(run.from);
    const runTo = Math.min(run.to === undefined ? nowMs : Date.parse(run.to), nowMs);
    const first = Math.max(Math.ceil(runFrom / MINUTE_MS), Math.ceil(fromMs / MINUTE_MS)) * MINUTE_MS;
    for (let t = first; t + MINUTE_MS <= runTo && t < toMs; t += MINUTE_MS) minutes.push(t);
  }
  return minutes.sort((a, b) => a - b);
};

export const synthesizedIdentity = (metric: SynthesizedMetric, instanceId: string): MetricIdentity => ({
  namespace: metric.namespace,
  metricName: metric.metricName,
  dimensions: [{ name: 'InstanceId', value: instanceId }],
});

/** The synthesized metric `identity` names, and the instance it is of; undefined when it is none. */
export const synthesizedOf = (
  identity: MetricIdentity,
): { metric: SynthesizedMetric; instanceId: string } | undefined => {
  const [dimension, ...others] = identity.dimensions;
  if (!dimension || others.length > 0 || dimension.name !== 'InstanceId') return undefined;
  const metric = SYNTHESIZED_METRICS.find(
    (m) => m.namespace === identity.namespace && m.metricName === identity.metricName,
  );
  return metric ? { metric, instanceId: dimension.value } : undefined;
};

export const factorOf = (profiles: readonly MetricProfile[], imageId: string, metricName: string): number =>
  profiles.find((p) => p.imageId === imageId && p.metric === metricName)?.factor ?? 1;

/** The instance's datapoints of `metric` in [fromMs, toMs), one a minute. */
export const synthesizedSamples = (
  metric: SynthesizedMetric,
  record: InstanceRunsRecord,
  profiles: readonly MetricProfile[],
  fromMs: number,
  toMs: number,
  nowMs: number,
): Sample[] => {
  const factor = factorOf(profiles, record.imageId, metric.metricName);
  return runningMinutes(record.runs, fromMs, toMs, nowMs).map((t) => {
    const value = synthesizedValue(metric, record.instanceId, t, factor);
    return {
      t,
      unit: metric.unit,
      sampleCount: 1,
      sum: value,
      minimum: value,
      maximum: value,
      values: [{ value, count: 1 }],
    };
  });
};
