/**
 * The metrics Bakehouse's functions emit, and the names the dashboard (stacks/dashboard.ts) graphs:
 * one source for both, and a test (test/unit/metrics.test.ts, test/stacks/dashboard.test.ts) that
 * fails when what the dashboard graphs is not what the functions write.
 *
 * Emitted with Powertools Metrics as CloudWatch embedded metric format (EMF): a JSON line in the
 * function's log that CloudWatch Logs turns into metrics, no PutMetricData call and no IAM
 * permission ("Specification: Embedded metric format",
 * https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html).
 * A metric is identified by its namespace, name and its whole set of dimensions, so the dashboard
 * must name exactly the dimensions written ("Dimensions", CloudWatch concepts,
 * https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/cloudwatch_concepts.html#Dimension).
 * Powertools adds a `service` dimension to every metric by default; these metrics clear it, so
 * their dimensions are only the ones named here (Notify's Slack metrics keep it: `SlackMetric`).
 */
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';

/** The namespace when POWERTOOLS_METRICS_NAMESPACE is not set (Notify uses the same default). */
export const DEFAULT_METRICS_NAMESPACE = 'Bakehouse';

/** How a bake ended, as the `Outcome` dimension says it. */
export const BakeOutcome = { Baked: 'baked', Skipped: 'skipped', Failed: 'failed' } as const;
export type BakeOutcome = (typeof BakeOutcome)[keyof typeof BakeOutcome];

export const BakeMetric = {
  /** One per bake that ended, dimensions Family and Outcome. */
  Bakes: 'Bakes',
  /** Seconds from the execution's start to the AMI (baked bakes), dimensions Family and Outcome. */
  BakeDuration: 'BakeDuration',
} as const;
export const BAKE_DIMENSIONS = ['Family', 'Outcome'] as const;

/** One set per real (not dry) janitor run, no dimensions. */
export const JanitorMetric = {
  ImagesDeregistered: 'JanitorImagesDeregistered',
  SnapshotsDeleted: 'JanitorSnapshotsDeleted',
  ImagesKept: 'JanitorImagesKept',
  Errors: 'JanitorErrors',
} as const;

/**
 * What Notify emits (functions/notify/core.ts `metrics.count`, functions/notify/handler.ts): with
 * Powertools' default `service` dimension, the functions' POWERTOOLS_SERVICE_NAME.
 */
export const SlackMetric = { Sent: 'SlackMessagesSent', Dropped: 'SlackMessagesDropped' } as const;

/** A Metrics instance for the functions' own metrics: namespace from the environment, no `service` dimension. */
export const createMetrics = (): Metrics => {
  const metrics = new Metrics({ namespace: process.env.POWERTOOLS_METRICS_NAMESPACE ?? DEFAULT_METRICS_NAMESPACE });
  metrics.clearDefaultDimensions();
  return metrics;
};

/** What the bake's functions record; tests pass a recorder. */
export interface BakeMetricsPort {
  bakeEnded(outcome: BakeOutcome, family: string, durationSeconds?: number): void;
}

/** Records at once, one EMF line per bake (its own dimensions, so never batched with another bake's). */
export const bakeMetricsOf = (metrics: Metrics): BakeMetricsPort => ({
  bakeEnded: function bakeEnded(outcome, family, durationSeconds) {
    metrics.addDimensions({ Family: family, Outcome: outcome });
    metrics.addMetric(BakeMetric.Bakes, MetricUnit.Count, 1);
    if (durationSeconds !== undefined) {
      metrics.addMetric(BakeMetric.BakeDuration, MetricUnit.Seconds, durationSeconds);
    }
    metrics.publishStoredMetrics();
  },
});

/** The counts of a janitor run, as its report has them. */
export interface JanitorRunCounts {
  readonly dryRun: boolean;
  readonly deregistered: readonly string[];
  readonly snapshotsDeleted: readonly string[];
  readonly kept: Readonly<Record<string, number>>;
  readonly errors: readonly unknown[];
}

/**
 * Records a janitor run's counts. A dry run records nothing: its lists are what it would have
 * done, and graphing them as done would say images were deleted that were not.
 */
export const recordJanitorRun = (metrics: Metrics, report: JanitorRunCounts): void => {
  if (report.dryRun) return;
  const kept = Object.values(report.kept).reduce((sum, n) => sum + n, 0);
  metrics.addMetric(JanitorMetric.ImagesDeregistered, MetricUnit.Count, report.deregistered.length);
  metrics.addMetric(JanitorMetric.SnapshotsDeleted, MetricUnit.Count, report.snapshotsDeleted.length);
  metrics.addMetric(JanitorMetric.ImagesKept, MetricUnit.Count, kept);
  metrics.addMetric(JanitorMetric.Errors, MetricUnit.Count, report.errors.length);
  metrics.publishStoredMetrics();
};
