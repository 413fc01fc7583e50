/**
 * The canary judge's numbers for `npm run bench` (issue 16): judging 20 metrics of 1,440 points a
 * side (a day of one-minute datapoints, the most one analysis can read per metric and side) with
 * `judgeCanary`, as the Judge step does at the end of a long canary. Goal: ≤ 20 ms a judgement.
 *
 * The samples are fixed pseudo-random draws (a seeded generator, so every run judges the same
 * data) with ties, as CloudWatch values rounded to a few digits have: the tie-corrected normal
 * approximation is the path a sample this size takes, and the one whose cost matters.
 */
import { type CanaryJudgeConfig, judgeCanary, type MetricSamples } from '../functions/commons/canary-judge';

const METRICS = 20;
const POINTS = 1440;
const GOAL_MS = 20;

/** A small deterministic generator (mulberry32), so that every run judges the same samples. */
const seeded = (seed: number) => {
  let state = seed >>> 0;
  return (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
};

const samplesFor = (random: () => number, base: number, factor: number): number[] =>
  Array.from({ length: POINTS }, () => Math.round(base * factor * (0.9 + 0.2 * random()) * 100) / 100);

const median = (xs: readonly number[]): number => {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
};

export const canaryBench = (options: { runs?: number } = {}) => {
  const runs = options.runs ?? 25;
  const random = seeded(16);
  const config: CanaryJudgeConfig = {
    metrics: Array.from({ length: METRICS }, (_, i) => ({
      name: `metric-${i}`,
      badDirection: i % 3 === 0 ? 'either' : 'increase',
      critical: i < 2,
      weight: 1 + (i % 4),
      allowedEffectSize: 1.2,
    })),
    thresholds: { pass: 75, marginal: 50 },
  };
  // One metric in five regresses by 30 %, so the run classifies High as well as Pass.
  const samples: Record<string, MetricSamples> = Object.fromEntries(
    config.metrics.map((metric, i) => [
      metric.name,
      { baseline: samplesFor(random, 100 + i, 1), canary: samplesFor(random, 100 + i, i % 5 === 4 ? 1.3 : 1) },
    ]),
  );
  judgeCanary(config, samples); // warm-up: the first call pays for compilation
  const times: number[] = [];
  let verdict = '';
  for (let i = 0; i < runs; i++) {
    const started = performance.now();
    verdict = judgeCanary(config, samples).verdict;
    times.push(performance.now() - started);
  }
  const round = (n: number) => Math.round(n * 100) / 100;
  return {
    judge: {
      metrics: METRICS,
      pointsPerSide: POINTS,
      runs,
      msMedian: round(median(times)),
      msMax: round(Math.max(...times)),
      goalMs: GOAL_MS,
      verdict,
    },
  };
};

// `tsx scripts/bench-canary.ts`: these numbers alone, without the rest of `npm run bench`.
if (import.meta.filename === process.argv[1]) {
  process.stdout.write(`${JSON.stringify(canaryBench(), null, 2)}\n`);
}
