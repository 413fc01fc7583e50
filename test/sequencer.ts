/**
 * The order `npm test` starts its files in: the longest first across every project. Vitest's own
 * sequencer orders them that way within a project but keeps each project's files together, by
 * project name, so the sandbox package's long files (ssm-guests, ~20 s, most of it waiting on
 * guests) started last and ran on their own at the end of the run while the cores idled. Files
 * that failed last time, and files with no result yet, still come first.
 *
 * Only the long files are mixed across projects. Test files share their worker (`isolate: false`),
 * but a worker is handed the next file only when that file is of its own project; otherwise it is
 * stopped and a new one starts, loading everything again. Sorted by duration alone, the queue
 * changed project 89 times in 206 files. The short files (under {@link LONG_FILE_MS} last time)
 * therefore come after every long one, a project at a time, each project's longest first.
 */
import { BaseSequencer, type TestSpecification } from 'vitest/node';

/** What the sequencer needs of Vitest's cache of the last run's results. */
export interface LastResults {
  getTestSpecificationResult(
    spec: TestSpecification,
  ): { readonly duration: number; readonly failed: boolean } | undefined;
}

/** A file that took at least this long last time is started by duration alone, whatever its project. */
export const LONG_FILE_MS = 5_000;

/**
 * Orders `files` (already in Vitest's order) by group order, then failed or unknown first, then
 * the long files longest first, then the short ones project by project, longest first.
 */
export const longestFirst = (files: readonly TestSpecification[], last: LastResults): TestSpecification[] => {
  const key = (spec: TestSpecification) => {
    const result = last.getTestSpecificationResult(spec);
    const first = result === undefined || result.failed;
    // Failed and unknown files keep Vitest's order among themselves (it puts failed ones first).
    const duration = first ? 0 : result.duration;
    const long = first || duration >= LONG_FILE_MS;
    return {
      group: spec.project.config.sequence.groupOrder,
      first: first ? 0 : 1,
      long: long ? 0 : 1,
      // The long files are not grouped by project; the short ones are.
      project: long ? '' : spec.project.name,
      duration,
    };
  };
  const keys = new Map(files.map((spec) => [spec, key(spec)]));
  // Array.prototype.sort is stable: files that tie keep Vitest's order.
  return [...files].sort((a, b) => {
    const ka = keys.get(a) as ReturnType<typeof key>;
    const kb = keys.get(b) as ReturnType<typeof key>;
    return (
      ka.group - kb.group ||
      ka.first - kb.first ||
      ka.long - kb.long ||
      (ka.project < kb.project ? -1 : ka.project > kb.project ? 1 : 0) ||
      kb.duration - ka.duration
    );
  });
};

export class LongestFirstSequencer extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    return longestFirst(await super.sort(files), this.ctx.cache);
  }
}
