/**
 * CloudWatch's records: the datapoints PutMetricData stored, and the per-image metric profiles of
 * the control endpoint. Synthesized instance metrics are not stored: they are computed at query
 * time from EC2's run history (synth.ts).
 */

export const CloudWatchTable = {
  /** One record per MetricDatum a PutMetricData call stored, keyed by a random id. */
  Datapoints: 'cloudwatch.datapoints',
  /** `imageId#metric` → MetricProfile. */
  Profiles: 'cloudwatch.profiles',
} as const;

export interface Dimension {
  readonly name: string;
  readonly value: string;
}

/** A metric's identity: namespace, name and its whole dimension set (sorted by name). */
export interface MetricIdentity {
  readonly namespace: string;
  readonly metricName: string;
  readonly dimensions: readonly Dimension[];
}

export const sortDimensions = (dimensions: readonly Dimension[]): Dimension[] =>
  [...dimensions].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));

/**
 * One key per metric: CloudWatch treats each unique combination of namespace, name and dimensions
 * as a separate metric (CloudWatch User Guide, "Metrics concepts", Dimensions).
 */
export const metricKey = (metric: MetricIdentity): string =>
  [metric.namespace, metric.metricName, ...sortDimensions(metric.dimensions).map((d) => `${d.name}=${d.value}`)].join(
    '\u0000',
  );

/**
 * What one datapoint contributes to a period: its values (with how often each occurred) when it
 * was sent as Value or Values/Counts, only the statistic set when sent as StatisticValues.
 */
export interface Sample {
  /** Epoch ms. */
  readonly t: number;
  readonly unit: string;
  readonly sampleCount: number;
  readonly sum: number;
  readonly minimum: number;
  readonly maximum: number;
  readonly values?: readonly { readonly value: number; readonly count: number }[];
}

export interface DatapointRecord extends Record<string, unknown> {
  readonly region: string;
  readonly namespace: string;
  readonly metricName: string;
  readonly dimensions: readonly Dimension[];
  readonly timestamp: string;
  readonly unit: string;
  readonly sampleCount: number;
  readonly sum: number;
  readonly minimum: number;
  readonly maximum: number;
  readonly values?: readonly { readonly value: number; readonly count: number }[];
}

export interface MetricProfile extends Record<string, unknown> {
  readonly imageId: string;
  /** A synthesized metric's MetricName, e.g. `Latency`. */
  readonly metric: string;
  readonly factor: number;
}

export const profileKey = (imageId: string, metric: string): string => `${imageId}#${metric}`;
