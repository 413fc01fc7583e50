import { describe, expect, it } from 'vitest';
import type { TestSpecification } from 'vitest/node';
import { longestFirst } from '../sequencer';

/** A file of `project` as the sequencer sees it. */
const spec = (project: string, moduleId: string, groupOrder = 0) =>
  ({ moduleId, project: { name: project, config: { sequence: { groupOrder } } } }) as unknown as TestSpecification;

const lastRun = (results: Record<string, { duration: number; failed?: boolean }>) => ({
  getTestSpecificationResult: (s: TestSpecification) => {
    const result = results[s.moduleId];
    return result ? { duration: result.duration, failed: result.failed ?? false } : undefined;
  },
});

describe('the longest-first sequencer', () => {
  it("starts a later project's long file before an earlier project's short ones", () => {
    // Prepare: Vitest's own order keeps each project together, by name
    const files = [spec('product', 'lifecycle'), spec('product', 'schedule'), spec('sandbox', 'ssm-guests')];
    const last = lastRun({
      lifecycle: { duration: 8_000 },
      schedule: { duration: 200 },
      'ssm-guests': { duration: 20_000 },
    });

    // Act
    const order = longestFirst(files, last).map((s) => s.moduleId);

    // Assess
    expect(order).toEqual(['ssm-guests', 'lifecycle', 'schedule']);
  });

  it('starts files that failed last time or have no result before the rest, in the order given', () => {
    // Prepare
    const files = [spec('product', 'long'), spec('product', 'new'), spec('sandbox', 'failed')];
    const last = lastRun({ long: { duration: 30_000 }, failed: { duration: 10, failed: true } });

    // Act
    const order = longestFirst(files, last).map((s) => s.moduleId);

    // Assess
    expect(order).toEqual(['new', 'failed', 'long']);
  });

  it('runs the short files a project at a time, after every long one, so that workers are reused', () => {
    // Prepare: sorted by duration alone these would alternate between the projects
    const files = [
      spec('product', 'p-long'),
      spec('product', 'p-3s'),
      spec('product', 'p-1s'),
      spec('sandbox', 's-long'),
      spec('sandbox', 's-4s'),
      spec('sandbox', 's-2s'),
    ];
    const last = lastRun({
      'p-long': { duration: 9_000 },
      'p-3s': { duration: 3_000 },
      'p-1s': { duration: 1_000 },
      's-long': { duration: 20_000 },
      's-4s': { duration: 4_000 },
      's-2s': { duration: 2_000 },
    });

    // Act
    const order = longestFirst(files, last).map((s) => s.moduleId);

    // Assess
    expect(order).toEqual(['s-long', 'p-long', 'p-3s', 'p-1s', 's-4s', 's-2s']);
  });

  it('keeps groups in their group order', () => {
    // Prepare
    const files = [spec('first', 'short', 0), spec('later', 'long', 1)];
    const last = lastRun({ short: { duration: 1 }, long: { duration: 99_000 } });

    // Act
    const order = longestFirst(files, last).map((s) => s.moduleId);

    // Assess
    expect(order).toEqual(['short', 'long']);
  });
});
