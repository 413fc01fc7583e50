/**
 * The canary judge (issue 16): Kayenta-style automated canary analysis over samples already
 * fetched. Pure: no AWS, no clock, no I/O — the canary stage's handler fetches the baseline's and
 * the canary's samples per metric and hands them here; what comes back is the scorecard.
 *
 * Per metric, in order:
 * 1. Non-finite values (NaN, ±Infinity: gaps in a series) are dropped. An empty sample on either
 *    side → `NoData`.
 * 2. A two-sided Mann-Whitney U test (Wilcoxon rank-sum) between baseline and canary, computed as
 *    R's `wilcox.test(x, y)` does by default (R's `stats::wilcox.test` help page, Details, and
 *    `wilcox.test.default`'s two-sample branch, `exact <- (n.x < 50) && (n.y < 50)`:
 *    "an exact p-value is computed if the samples contain less than 50 finite values and there
 *    are no ties. Otherwise, a normal approximation is used", with `correct = TRUE`):
 *    - exact when both samples have fewer than 50 values and there are no ties: the null
 *      distribution of U by the standard recurrence (`pwilcox`'s), carried as probabilities so it
 *      stays accurate past 2^53 arrangements; two-sided p = min(1, 2·min(P(U ≤ u), P(U ≥ u)));
 *    - otherwise the normal approximation with mid-ranks, the tie correction of the variance and
 *      the continuity correction of 1/2 towards the mean — the same p-value SciPy's
 *      `scipy.stats.mannwhitneyu(..., method="asymptotic")` documents.
 *    Both samples all equal (the variance is 0) → p = 1: nothing tells them apart.
 * 3. The effect size: the ratio of medians canary / baseline, against the allowed one
 *    (`allowedEffectSize` ≥ 1): a significant change (p < `significance`) whose ratio is above
 *    `allowedEffectSize` is `High`, below 1 / `allowedEffectSize` is `Low`, anything else `Pass`.
 *    Kayenta's classifier bounds its test by an allowed effect size too: a tiny but significant shift on a
 *    busy metric is noise for a rollout, and a large but insignificant one is not evidence.
 *    The ratio needs non-negative samples (latencies, counts, rates, utilisation); a negative
 *    value is an error that names the metric. A zero baseline median with a non-zero canary
 *    median is an unbounded increase (`change` is null: JSON has no Infinity).
 * 4. The direction that is bad (`increase` → `High` fails, `decrease` → `Low` fails, `either` →
 *    both fail); the other direction passes.
 *
 * Score = 100 × (weight of passing metrics) / (weight of judged metrics). `NoData` metrics are left
 * out of both, except a critical one: a critical metric that cannot be judged fails, as does any
 * failing critical metric, and either sets the score to 0. Nothing judged at all → score 0: no
 * evidence, no promotion. The verdict: score ≥ `pass` → `pass`, ≥ `marginal` → `marginal`, else
 * `fail`.
 *
 * Why hand-written: no maintained npm package gives the two-sided Mann-Whitney p-value with the
 * exact small-sample distribution and the tie correction (`mann-whitney-utest`, one release, returns
 * only the U values; `@stdlib/stats-wilcoxon` is the signed-rank test; `simple-statistics`'
 * `wilcoxonRankSum` returns only the rank sum, no p-value; `jstat` has distributions, not this
 * test). The test is one function, `mannWhitneyU`, with a small result
 * type: swapping in a library later touches only it. The tests check it against R's and SciPy's
 * published values and against full enumeration.
 */
import { BakehouseError } from './errors';

export type BadDirection = 'increase' | 'decrease' | 'either';

export interface CanaryMetricConfig {
  /** Unique within the config; the scorecard and the notification name it. */
  readonly name: string;
  /** Which way of moving is a regression: `increase` for latency and errors, `decrease` for throughput. */
  readonly badDirection: BadDirection;
  /** A critical metric that fails (or has no data) fails the whole canary: score 0. */
  readonly critical: boolean;
  /** Its share of the score; > 0. */
  readonly weight: number;
  /** The largest accepted ratio of medians (≥ 1): 1.2 accepts canary/baseline within [1/1.2, 1.2]. */
  readonly allowedEffectSize: number;
}

export interface CanaryJudgeConfig {
  readonly metrics: readonly CanaryMetricConfig[];
  /** Score thresholds, 0 ≤ marginal ≤ pass ≤ 100. */
  readonly thresholds: { readonly pass: number; readonly marginal: number };
  /** The test's significance level; Kayenta's default confidence of 95 % → 0.05. */
  readonly significance?: number;
}

/** The samples of one metric: the baseline's and the canary's values over the same window. */
export interface MetricSamples {
  readonly baseline: readonly number[];
  readonly canary: readonly number[];
}

export type Classification = 'High' | 'Low' | 'Pass' | 'NoData';

export interface MetricResult {
  readonly name: string;
  readonly classification: Classification;
  /** Whether the metric counts as passing: `Pass`, or the direction that is not bad. */
  readonly passed: boolean;
  readonly critical: boolean;
  readonly weight: number;
  /** Medians of the finite values; null without data. */
  readonly baselineMedian: number | null;
  readonly canaryMedian: number | null;
  /** canaryMedian / baselineMedian; 1 when both are 0; null without data or over a zero baseline. */
  readonly change: number | null;
  /** Two-sided Mann-Whitney p-value; null without data. */
  readonly pValue: number | null;
  /** How the p-value was computed; null without data. */
  readonly method: MannWhitneyMethod | null;
  readonly baselineCount: number;
  readonly canaryCount: number;
}

export type Verdict = 'pass' | 'marginal' | 'fail';

export interface CanaryScorecard {
  /** 0–100. */
  readonly score: number;
  readonly verdict: Verdict;
  /** Names of the critical metrics that failed or had no data (any one sets the score to 0). */
  readonly failedCritical: readonly string[];
  readonly metrics: readonly MetricResult[];
}

export class InvalidCanaryConfigError extends BakehouseError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'InvalidCanaryConfigError';
  }
}

export class InvalidCanarySampleError extends BakehouseError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'InvalidCanarySampleError';
  }
}

export const DEFAULT_SIGNIFICANCE = 0.05;

// ---------------------------------------------------------------------------------------------
// Mann-Whitney U
// ---------------------------------------------------------------------------------------------

export type MannWhitneyMethod = 'exact' | 'normal';

export interface MannWhitneyResult {
  /** U of the first sample: pairs (x, y) with x > y, plus half the ties (R's W). */
  readonly u: number;
  /** Two-sided p-value in [0, 1]. */
  readonly pValue: number;
  readonly method: MannWhitneyMethod;
}

/** R's default: the exact distribution while each sample has fewer than this many values. */
export const EXACT_LIMIT = 50;

/**
 * Two-sided Mann-Whitney U test of `x` against `y` (both non-empty, finite), as R's
 * `wilcox.test(x, y)` with its defaults (`exact = NULL`, `correct = TRUE`). `exact: false` forces
 * the normal approximation, as R's `exact = FALSE` and SciPy's `method="asymptotic"` do; ties
 * always force it.
 */
export const mannWhitneyU = (
  x: readonly number[],
  y: readonly number[],
  options: { readonly exact?: boolean } = {},
): MannWhitneyResult => {
  const nx = x.length;
  const ny = y.length;
  if (nx === 0 || ny === 0) {
    throw new InvalidCanarySampleError('mannWhitneyU needs at least one value in each sample');
  }
  const { rankSumX, tieGroups } = rankSumOfFirst(x, y);
  const u = rankSumX - (nx * (nx + 1)) / 2;
  const hasTies = tieGroups.some((t) => t > 1);

  const exact = options.exact ?? (nx < EXACT_LIMIT && ny < EXACT_LIMIT);
  if (exact && !hasTies) {
    const dist = uDistribution(nx, ny);
    // R: p <- if (W > nx*ny/2) pwilcox(W - 1, lower.tail = FALSE) else pwilcox(W); min(2p, 1).
    let tail = 0;
    if (u > (nx * ny) / 2) {
      for (let k = u; k < dist.length; k += 1) tail += dist[k] as number;
    } else {
      for (let k = 0; k <= u; k += 1) tail += dist[k] as number;
    }
    return { u, pValue: clamp01(Math.min(1, 2 * tail)), method: 'exact' };
  }

  const n = nx + ny;
  const tieTerm = tieGroups.reduce((sum, t) => sum + (t * t * t - t), 0);
  const variance = ((nx * ny) / 12) * (n + 1 - tieTerm / (n * (n - 1)));
  const shift = u - (nx * ny) / 2;
  if (!(variance > 0)) {
    // Every value equal: no ordering at all, so no evidence of a difference (R gives NaN here).
    return { u, pValue: 1, method: 'normal' };
  }
  const z = (shift - Math.sign(shift) * 0.5) / Math.sqrt(variance);
  return { u, pValue: clamp01(erfc(Math.abs(z) / Math.SQRT2)), method: 'normal' };
};

const clamp01 = (p: number): number => Math.min(1, Math.max(0, p));

/**
 * The sum of the first sample's mid-ranks (1-based; tied values share their average rank) in the
 * pooled samples, and the sizes of the groups of equal values. Each sample is sorted on its own
 * (a typed array's numeric sort, native) and the two are merged by walking them together, which
 * is several times faster than sorting an index array with a comparator: a day of one-minute
 * points a side, 20 metrics, judges in a few milliseconds (`npm run bench`).
 */
const rankSumOfFirst = (x: readonly number[], y: readonly number[]): { rankSumX: number; tieGroups: number[] } => {
  const xs = Float64Array.from(x).sort();
  const ys = Float64Array.from(y).sort();
  const tieGroups: number[] = [];
  let i = 0;
  let j = 0;
  let placed = 0;
  let rankSumX = 0;
  while (i < xs.length || j < ys.length) {
    const value =
      j >= ys.length || (i < xs.length && (xs[i] as number) <= (ys[j] as number))
        ? (xs[i] as number)
        : (ys[j] as number);
    let inX = 0;
    while (i < xs.length && xs[i] === value) {
      i += 1;
      inX += 1;
    }
    let inY = 0;
    while (j < ys.length && ys[j] === value) {
      j += 1;
      inY += 1;
    }
    const group = inX + inY;
    // The group takes ranks placed+1 … placed+group; each member gets their average.
    rankSumX += inX * (placed + (group + 1) / 2);
    placed += group;
    tieGroups.push(group);
  }
  return { rankSumX, tieGroups };
};

/**
 * P(U = u) for u = 0..m·n under the null, without ties. The recurrence behind R's `pwilcox`: the
 * largest of the m + n values is one of the m with probability m/(m+n), and then it exceeds all n
 * of the others (U grows by n); otherwise it adds nothing:
 *   P(u; m, n) = m/(m+n) · P(u − n; m − 1, n) + n/(m+n) · P(u; m, n − 1).
 * Rows over m are kept two at a time: O(m·n·m·n) time, O(n·m·n) memory; at 49 × 49 a few ms.
 */
const uDistribution = (m: number, n: number): Float64Array => {
  // prev[j] = distribution for (i − 1, j); cur[j] = for (i, j).
  let prev: Float64Array[] = [];
  for (let j = 0; j <= n; j += 1) prev.push(Float64Array.of(1)); // i = 0: U = 0 surely
  for (let i = 1; i <= m; i += 1) {
    const cur: Float64Array[] = [Float64Array.of(1)]; // j = 0: U = 0 surely
    for (let j = 1; j <= n; j += 1) {
      const dist = new Float64Array(i * j + 1);
      const withX = prev[j] as Float64Array; // (i − 1, j), shifted by j
      const withY = cur[j - 1] as Float64Array; // (i, j − 1)
      const a = i / (i + j);
      const b = j / (i + j);
      for (let u = 0; u < withX.length; u += 1) dist[u + j] = (dist[u + j] as number) + a * (withX[u] as number);
      for (let u = 0; u < withY.length; u += 1) dist[u] = (dist[u] as number) + b * (withY[u] as number);
      cur.push(dist);
    }
    prev = cur;
  }
  return prev[n] as Float64Array;
};

/**
 * The complementary error function, to ~1e-15 absolute: below 3 the everywhere-positive series
 * erf(x) = 2/√π · e^(−x²) · Σ (2x²)^k · x / (1·3·…·(2k+1)) (no cancellation), above it the
 * continued fraction erfc(x) = e^(−x²)/√π · 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + …)))).
 */
export const erfc = (x: number): number => {
  if (x < 0) return 2 - erfc(-x);
  if (x < 3) {
    let term = x;
    let sum = x;
    for (let k = 1; k < 200 && term > 1e-17 * sum; k += 1) {
      term *= (2 * x * x) / (2 * k + 1);
      sum += term;
    }
    return 1 - (2 / Math.sqrt(Math.PI)) * Math.exp(-x * x) * sum;
  }
  let fraction = x;
  for (let k = 60; k >= 1; k -= 1) fraction = x + k / 2 / fraction;
  return Math.exp(-x * x) / Math.sqrt(Math.PI) / fraction;
};

// ---------------------------------------------------------------------------------------------
// The judge
// ---------------------------------------------------------------------------------------------

export const median = (values: readonly number[]): number => {
  const sorted = Float64Array.from(values).sort();
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
};

/** Checks a config; throws `InvalidCanaryConfigError` naming the field and the fix. */
export const validateCanaryConfig = (config: CanaryJudgeConfig): void => {
  const fail = (message: string): never => {
    throw new InvalidCanaryConfigError(message);
  };
  if (config.metrics.length === 0) fail('canary config: metrics is empty; list at least one metric to judge');
  const seen = new Set<string>();
  for (const [i, metric] of config.metrics.entries()) {
    const at = `canary config: metrics[${i}]`;
    if (metric.name.trim() === '') fail(`${at}.name is empty; give the metric a name`);
    if (seen.has(metric.name)) fail(`${at}.name "${metric.name}" is used twice; metric names must be unique`);
    seen.add(metric.name);
    if (!['increase', 'decrease', 'either'].includes(metric.badDirection)) {
      fail(`${at}.badDirection is "${metric.badDirection}"; use increase, decrease or either`);
    }
    if (!(Number.isFinite(metric.weight) && metric.weight > 0)) {
      fail(`${at}.weight is ${metric.weight}; use a positive number`);
    }
    if (!(Number.isFinite(metric.allowedEffectSize) && metric.allowedEffectSize >= 1)) {
      fail(`${at}.allowedEffectSize is ${metric.allowedEffectSize}; use a ratio of at least 1 (1.2 = ±20 %)`);
    }
  }
  const { pass, marginal } = config.thresholds;
  if (!(Number.isFinite(pass) && Number.isFinite(marginal) && marginal >= 0 && marginal <= pass && pass <= 100)) {
    fail(`canary config: thresholds are pass ${pass}, marginal ${marginal}; use 0 ≤ marginal ≤ pass ≤ 100`);
  }
  const significance = config.significance ?? DEFAULT_SIGNIFICANCE;
  if (!(significance > 0 && significance < 1)) {
    fail(`canary config: significance is ${significance}; use a level between 0 and 1, such as 0.05`);
  }
};

const finite = (values: readonly number[]): number[] => values.filter((v) => Number.isFinite(v));

/** Judges one metric's samples; `samples` missing means no data. */
export const judgeMetric = (
  metric: CanaryMetricConfig,
  samples: MetricSamples | undefined,
  significance: number = DEFAULT_SIGNIFICANCE,
): MetricResult => {
  const baseline = finite(samples?.baseline ?? []);
  const canary = finite(samples?.canary ?? []);
  const common = {
    name: metric.name,
    critical: metric.critical,
    weight: metric.weight,
    baselineCount: baseline.length,
    canaryCount: canary.length,
  };
  if (baseline.length === 0 || canary.length === 0) {
    return {
      ...common,
      classification: 'NoData',
      passed: false,
      baselineMedian: null,
      canaryMedian: null,
      change: null,
      pValue: null,
      method: null,
    };
  }
  const negative = [...baseline, ...canary].find((v) => v < 0);
  if (negative !== undefined) {
    throw new InvalidCanarySampleError(
      `metric ${metric.name}: sample value ${negative} is negative; the effect size is a ratio of medians, so judge a non-negative statistic (latency, count, rate)`,
    );
  }
  const baselineMedian = median(baseline);
  const canaryMedian = median(canary);
  // Over a zero baseline median the ratio is 1 (both 0) or unbounded.
  const ratio =
    baselineMedian === 0 ? (canaryMedian === 0 ? 1 : Number.POSITIVE_INFINITY) : canaryMedian / baselineMedian;
  const test = mannWhitneyU(baseline, canary);
  const significant = test.pValue < significance;
  let classification: Classification = 'Pass';
  if (significant && ratio > metric.allowedEffectSize) classification = 'High';
  else if (significant && ratio < 1 / metric.allowedEffectSize) classification = 'Low';
  const failed =
    (classification === 'High' && metric.badDirection !== 'decrease') ||
    (classification === 'Low' && metric.badDirection !== 'increase');
  return {
    ...common,
    classification,
    passed: !failed,
    baselineMedian,
    canaryMedian,
    change: Number.isFinite(ratio) ? ratio : null,
    pValue: test.pValue,
    method: test.method,
  };
};

const verdictFor = (score: number, thresholds: CanaryJudgeConfig['thresholds']): Verdict =>
  score >= thresholds.pass ? 'pass' : score >= thresholds.marginal ? 'marginal' : 'fail';

/**
 * Judges every configured metric and scores the canary. `samples` is keyed by metric name; a
 * metric without an entry has no data. Samples for names not in the config are ignored.
 */
export const judgeCanary = (
  config: CanaryJudgeConfig,
  samples: Readonly<Record<string, MetricSamples | undefined>>,
): CanaryScorecard => {
  validateCanaryConfig(config);
  const significance = config.significance ?? DEFAULT_SIGNIFICANCE;
  const metrics = config.metrics.map((metric) =>
    judgeMetric(metric, Object.hasOwn(samples, metric.name) ? samples[metric.name] : undefined, significance),
  );
  const failedCritical = metrics.filter((m) => m.critical && !m.passed).map((m) => m.name);
  const judged = metrics.filter((m) => m.classification !== 'NoData');
  const totalWeight = judged.reduce((sum, m) => sum + m.weight, 0);
  const passingWeight = judged.filter((m) => m.passed).reduce((sum, m) => sum + m.weight, 0);
  const score = failedCritical.length > 0 || totalWeight === 0 ? 0 : (100 * passingWeight) / totalWeight;
  return { score, verdict: verdictFor(score, config.thresholds), failedCritical, metrics };
};
