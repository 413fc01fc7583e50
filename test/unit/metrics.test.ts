/**
 * The functions' own metrics as CloudWatch receives them: the EMF lines Powertools writes, read
 * back (support/emf.ts). The dashboard test (test/stacks/dashboard.test.ts) checks what it graphs
 * against the same emission.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  BakeMetric,
  BakeOutcome,
  bakeMetricsOf,
  createMetrics,
  JanitorMetric,
  recordJanitorRun,
} from '../../functions/commons/metrics';
import { captureEmf } from './support/emf';

beforeEach(() => {
  vi.stubEnv('POWERTOOLS_SERVICE_NAME', 'bakehouse');
  vi.stubEnv('POWERTOOLS_DEV', undefined);
  vi.stubEnv('POWERTOOLS_METRICS_DISABLED', undefined);
  vi.stubEnv('POWERTOOLS_METRICS_NAMESPACE', undefined);
});

afterEach(() => {
  vi.unstubAllEnvs();
});

const janitorReport = (overrides: Partial<Parameters<typeof recordJanitorRun>[1]> = {}) => ({
  dryRun: false,
  deregistered: ['ami-1', 'ami-2'],
  snapshotsDeleted: ['snap-1', 'snap-2', 'snap-3'],
  kept: { 'keep-latest': 4, 'channel:prod': 1 },
  errors: [{ resource: 'ami-3', error: 'UnauthorizedOperation' }],
  ...overrides,
});

describe('bake metrics', () => {
  it('writes one bake and its duration in namespace Bakehouse, dimensions Family and Outcome only', async () => {
    // Act
    const emitted = await captureEmf(() =>
      bakeMetricsOf(createMetrics()).bakeEnded(BakeOutcome.Baked, 'al2023-base', 1260),
    );

    // Assess
    expect(emitted).toEqual([
      {
        namespace: 'Bakehouse',
        name: BakeMetric.Bakes,
        unit: 'Count',
        value: 1,
        dimensions: { Family: 'al2023-base', Outcome: 'baked' },
      },
      {
        namespace: 'Bakehouse',
        name: BakeMetric.BakeDuration,
        unit: 'Seconds',
        value: 1260,
        dimensions: { Family: 'al2023-base', Outcome: 'baked' },
      },
    ]);
  });

  it('writes no duration when none is known, and each bake with its own dimensions', async () => {
    // Prepare
    const port = bakeMetricsOf(createMetrics());

    // Act
    const emitted = await captureEmf(() => {
      port.bakeEnded(BakeOutcome.Skipped, 'al2023-base');
      port.bakeEnded(BakeOutcome.Failed, 'windows-2022');
    });

    // Assess
    expect(emitted.map((m) => [m.name, m.dimensions])).toEqual([
      [BakeMetric.Bakes, { Family: 'al2023-base', Outcome: 'skipped' }],
      [BakeMetric.Bakes, { Family: 'windows-2022', Outcome: 'failed' }],
    ]);
  });

  it('takes the namespace from POWERTOOLS_METRICS_NAMESPACE', async () => {
    // Prepare
    vi.stubEnv('POWERTOOLS_METRICS_NAMESPACE', 'BakehouseStaging');

    // Act
    const emitted = await captureEmf(() => bakeMetricsOf(createMetrics()).bakeEnded(BakeOutcome.Failed, 'a'));

    // Assess
    expect(emitted.map((m) => m.namespace)).toEqual(['BakehouseStaging']);
  });
});

describe('janitor metrics', () => {
  it("writes a real run's deregistered images, deleted snapshots, kept images and errors, without dimensions", async () => {
    // Act
    const emitted = await captureEmf(() => recordJanitorRun(createMetrics(), janitorReport()));

    // Assess
    expect(emitted.map((m) => [m.name, m.unit, m.value, m.dimensions])).toEqual([
      [JanitorMetric.ImagesDeregistered, 'Count', 2, {}],
      [JanitorMetric.SnapshotsDeleted, 'Count', 3, {}],
      [JanitorMetric.ImagesKept, 'Count', 5, {}],
      [JanitorMetric.Errors, 'Count', 1, {}],
    ]);
  });

  it('writes nothing for a dry run (what it would have deleted was not deleted)', async () => {
    // Act
    const emitted = await captureEmf(() => recordJanitorRun(createMetrics(), janitorReport({ dryRun: true })));

    // Assess
    expect(emitted).toEqual([]);
  });
});
