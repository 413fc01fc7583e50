import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type CanaryJudgeConfig,
  type CanaryMetricConfig,
  erfc,
  InvalidCanaryConfigError,
  InvalidCanarySampleError,
  judgeCanary,
  judgeMetric,
  mannWhitneyU,
  median,
} from '../../functions/commons/canary-judge';

/**
 * Exact two-sided p-value by brute force: every way to pick which nx of the ranks 1..nx+ny belong
 * to x, equally likely under the null. Independent of the recurrence in the module.
 */
const enumeratedPValue = (nx: number, ny: number, u: number): number => {
  const n = nx + ny;
  const counts = new Map<number, number>();
  let total = 0;
  const pick = (next: number, left: number, rankSum: number): void => {
    if (left === 0) {
      const uHere = rankSum - (nx * (nx + 1)) / 2;
      counts.set(uHere, (counts.get(uHere) ?? 0) + 1);
      total += 1;
      return;
    }
    for (let r = next; r <= n - left + 1; r += 1) pick(r + 1, left - 1, rankSum + r);
  };
  pick(1, nx, 0);
  let lower = 0;
  let upper = 0;
  for (const [value, count] of counts) {
    if (value <= u) lower += count;
    if (value >= u) upper += count;
  }
  return Math.min(1, (2 * (u > (nx * ny) / 2 ? upper : lower)) / total);
};

describe('mannWhitneyU against published reference values', () => {
  it('matches the SciPy documentation example, exact and asymptotic', () => {
    // Prepare: scipy.stats.mannwhitneyu docs, Examples (docs.scipy.org/doc/scipy/reference/generated/
    // scipy.stats.mannwhitneyu.html): males vs females, U1 = 17, exact p = 0.1111111111111111,
    // method="asymptotic" (continuity-corrected) p = 0.11134688653314041.
    const males = [19, 22, 16, 29, 24];
    const females = [20, 11, 17, 12];

    // Act
    const exact = mannWhitneyU(males, females);
    const asymptotic = mannWhitneyU(males, females, { exact: false });

    // Assess
    expect(exact).toEqual({ u: 17, pValue: expect.closeTo(0.1111111111111111, 14), method: 'exact' });
    expect(asymptotic.method).toBe('normal');
    expect(asymptotic.pValue).toBeCloseTo(0.11134688653314041, 13);
  });

  it("matches R's ?wilcox.test two-sample example (exact, no ties)", () => {
    // R's help page example (Hollander & Wolfe 1973, 69f.), output as published in R Markdown
    // renderings of it: wilcox.test(x, y, alternative = "g") gives W = 35, p-value = 0.1272; W is
    // above nx·ny/2 = 25, so the two-sided p-value is twice that one-sided tail.
    const x = [0.8, 0.83, 1.89, 1.04, 1.45, 1.38, 1.91, 1.64, 0.73, 1.46];
    const y = [1.15, 0.88, 0.9, 0.74, 1.21];

    const result = mannWhitneyU(x, y);

    expect(result.u).toBe(35);
    expect(result.method).toBe('exact');
    expect(result.pValue / 2).toBeCloseTo(0.1272, 4);
    expect(result.pValue).toBeCloseTo(enumeratedPValue(10, 5, 35), 14);
  });

  it('matches R with ties: normal approximation with tie and continuity corrections', () => {
    // R output published at endmemo.com/r/wilcoxon.php ("Wilcoxon rank sum test with continuity
    // correction ... cannot compute exact p-value with ties"):
    //   x vs y  → W = 51.5, p-value = 0.5966;   x vs y2 → W = 0, p-value = 0.001364
    const x = [1, 5, 9, 24, 56, 21, 3, 7, 21, 4];
    const y = [12, 15, 5, 9, 9, 14, 56, 22, 3, 7, 32, 5];
    const y2 = [1233, 4356, 987, 39999, 1111, 200000];

    const first = mannWhitneyU(x, y);
    const second = mannWhitneyU(x, y2);

    expect(first).toMatchObject({ u: 51.5, method: 'normal' });
    expect(first.pValue).toBeCloseTo(0.5966, 4);
    expect(second).toMatchObject({ u: 0, method: 'normal' });
    expect(second.pValue).toBeCloseTo(0.001364, 6);
  });

  it('matches a second published R run with ties', () => {
    // R session published at pastebin.com/1J1nivKv: x = c(1,2,2,4,5,3,0), y = c(4,6,3,8,11,11):
    // "Wilcoxon rank sum test with continuity correction ... W = 4, p-value = 0.01778".
    const result = mannWhitneyU([1, 2, 2, 4, 5, 3, 0], [4, 6, 3, 8, 11, 11]);

    expect(result).toMatchObject({ u: 4, method: 'normal' });
    expect(result.pValue).toBeCloseTo(0.01778, 5);
  });

  it('equals full enumeration of the exact distribution for small samples', () => {
    for (const [nx, ny] of [
      [1, 1],
      [2, 3],
      [3, 3],
      [4, 6],
      [7, 5],
    ] as const) {
      for (let u = 0; u <= nx * ny; u += 1) {
        // Tie-free samples whose U is u: y = 1..ny, and the x values exceed u of them in all
        // (each x lands between two y values; the i/100 keeps the x values apart).
        const x: number[] = [];
        let rest = u;
        for (let i = 0; i < nx; i += 1) {
          const beats = Math.min(ny, rest);
          rest -= beats;
          x.push(beats + 0.5 + i / 100);
        }
        const y = Array.from({ length: ny }, (_, j) => j + 1);
        const result = mannWhitneyU(x, y);
        expect(result.u).toBe(u);
        expect(result.pValue).toBeCloseTo(enumeratedPValue(nx, ny, u), 13);
      }
    }
  });

  it('uses the exact distribution below 50 values a sample and the normal one from 50', () => {
    const ys = Array.from({ length: 49 }, (_, i) => i * 2);
    expect(mannWhitneyU([1, 3, 5], ys).method).toBe('exact');
    expect(mannWhitneyU([1, 3, 5], [...ys, 1000]).method).toBe('normal');
  });

  it('gives p = 1 for identical and for all-equal samples', () => {
    expect(mannWhitneyU([5, 5, 5], [5, 5, 5, 5]).pValue).toBe(1);
    expect(mannWhitneyU([1, 2, 3], [1, 2, 3]).pValue).toBe(1);
  });

  it('erfc agrees with known values', () => {
    // erfc(1) = 0.157299207050285..., erfc(3.5) = 7.430983723414128e-7 (standard tables).
    expect(erfc(0)).toBe(1);
    expect(erfc(1)).toBeCloseTo(0.1572992070502851, 15);
    expect(erfc(3.5) / 7.430983723414128e-7).toBeCloseTo(1, 12);
    expect(erfc(-1)).toBeCloseTo(2 - 0.1572992070502851, 15);
  });
});

describe('mannWhitneyU properties', () => {
  const sample = fc.array(fc.integer({ min: 0, max: 20 }), { minLength: 1, maxLength: 12 });

  it('keeps the two-sided p-value when the samples swap, and stays in [0, 1]', () => {
    fc.assert(
      fc.property(sample, sample, (a, b) => {
        const ab = mannWhitneyU(a, b);
        const ba = mannWhitneyU(b, a);
        expect(ab.pValue).toBeGreaterThanOrEqual(0);
        expect(ab.pValue).toBeLessThanOrEqual(1);
        expect(ba.pValue).toBeCloseTo(ab.pValue, 12);
        expect(ab.u + ba.u).toBe(a.length * b.length);
      }),
    );
  });

  it('gives p = 1 and Pass for identical samples', () => {
    fc.assert(
      fc.property(fc.array(fc.double({ min: 0, max: 1e6, noNaN: true }), { minLength: 1, maxLength: 30 }), (a) => {
        expect(mannWhitneyU(a, [...a]).pValue).toBe(1);
        const result = judgeMetric(metric({ allowedEffectSize: 1 }), { baseline: a, canary: [...a] });
        expect(result.classification).toBe('Pass');
        expect(result.passed).toBe(true);
      }),
    );
  });
});

const metric = (overrides: Partial<CanaryMetricConfig> = {}): CanaryMetricConfig => ({
  name: 'latency',
  badDirection: 'increase',
  critical: false,
  weight: 1,
  allowedEffectSize: 1.2,
  ...overrides,
});

const baseline = [100, 102, 98, 101, 99, 103, 97, 100, 101, 99];
const doubled = baseline.map((v) => v * 2);
const halved = baseline.map((v) => v / 2);
const slightlyUp = baseline.map((v) => v * 1.05);

describe('judgeMetric properties', () => {
  const positive = fc.array(fc.integer({ min: 1, max: 1000 }), { minLength: 1, maxLength: 40 });
  const mirror = { High: 'Low', Low: 'High', Pass: 'Pass', NoData: 'NoData' } as const;

  it('mirrors High and Low when baseline and canary swap', () => {
    fc.assert(
      fc.property(positive, positive, fc.double({ min: 1, max: 3, noNaN: true }), (a, b, allowed) => {
        const config = metric({ badDirection: 'either', allowedEffectSize: allowed });
        const forward = judgeMetric(config, { baseline: a, canary: b });
        const backward = judgeMetric(config, { baseline: b, canary: a });
        expect(backward.classification).toBe(mirror[forward.classification]);
        expect(backward.pValue).toBeCloseTo(forward.pValue as number, 12);
      }),
    );
  });
});

describe('judgeMetric', () => {
  it('classifies a significant increase beyond the allowed effect as High', () => {
    const result = judgeMetric(metric(), { baseline, canary: doubled });

    expect(result).toMatchObject({
      classification: 'High',
      passed: false,
      baselineMedian: 100,
      canaryMedian: 200,
      change: 2,
      // 100, 101 and 99 repeat in the baseline: ties, so the normal approximation.
      method: 'normal',
    });
    expect(result.pValue).toBeLessThan(0.05);
  });

  it('classifies a significant decrease beyond the allowed effect as Low', () => {
    expect(judgeMetric(metric(), { baseline, canary: halved })).toMatchObject({
      classification: 'Low',
      change: 0.5,
    });
  });

  it('passes a significant change within the allowed effect size', () => {
    const result = judgeMetric(metric(), { baseline, canary: slightlyUp });

    expect(result.pValue).toBeLessThan(0.05);
    expect(result).toMatchObject({ classification: 'Pass', passed: true });
  });

  it('passes a large change that is not significant', () => {
    const result = judgeMetric(metric(), { baseline: [1, 50], canary: [2, 100] });

    expect(result.change).toBeCloseTo(2, 12);
    expect(result.pValue).toBeGreaterThan(0.05);
    expect(result.classification).toBe('Pass');
  });

  it('fails only the bad direction', () => {
    const cases = [
      ['increase', doubled, false],
      ['increase', halved, true],
      ['decrease', doubled, true],
      ['decrease', halved, false],
      ['either', doubled, false],
      ['either', halved, false],
    ] as const;
    for (const [badDirection, canary, passed] of cases) {
      expect(judgeMetric(metric({ badDirection }), { baseline, canary }).passed, `${badDirection}`).toBe(passed);
    }
  });

  it('gives NoData for missing or empty samples, and drops non-finite values', () => {
    expect(judgeMetric(metric(), undefined)).toMatchObject({ classification: 'NoData', passed: false, pValue: null });
    expect(judgeMetric(metric(), { baseline, canary: [] }).classification).toBe('NoData');
    expect(judgeMetric(metric(), { baseline: [Number.NaN], canary: baseline })).toMatchObject({
      classification: 'NoData',
      baselineCount: 0,
      canaryCount: 10,
    });
    expect(judgeMetric(metric(), { baseline: [...baseline, Number.NaN], canary: doubled }).baselineCount).toBe(10);
  });

  it('treats all-equal samples as no difference, and a rise over a zero baseline as unbounded', () => {
    expect(judgeMetric(metric(), { baseline: [0, 0, 0], canary: [0, 0, 0, 0] })).toMatchObject({
      classification: 'Pass',
      pValue: 1,
      change: 1,
    });
    const errors = judgeMetric(metric({ name: 'errors' }), {
      baseline: [0, 0, 0, 0, 0, 0],
      canary: [3, 4, 5, 6, 7, 8],
    });
    expect(errors).toMatchObject({ classification: 'High', change: null, passed: false });
  });

  it('rejects negative samples, naming the metric', () => {
    expect(() => judgeMetric(metric({ name: 'delta' }), { baseline: [-1, 2], canary: [1, 2] })).toThrow(
      InvalidCanarySampleError,
    );
    expect(() => judgeMetric(metric({ name: 'delta' }), { baseline: [-1, 2], canary: [1, 2] })).toThrow(/delta/);
  });

  it('computes medians of odd and even samples', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
  });
});

describe('judgeCanary', () => {
  const config = (metrics: CanaryMetricConfig[], thresholds = { pass: 90, marginal: 60 }): CanaryJudgeConfig => ({
    metrics,
    thresholds,
  });

  it('scores 100 and passes when every metric passes', () => {
    const scorecard = judgeCanary(config([metric(), metric({ name: 'cpu' })]), {
      latency: { baseline, canary: slightlyUp },
      cpu: { baseline, canary: baseline },
    });

    expect(scorecard).toMatchObject({ score: 100, verdict: 'pass', failedCritical: [] });
  });

  it('weights the share of passing metrics', () => {
    const scorecard = judgeCanary(
      config([metric({ weight: 3 }), metric({ name: 'cpu', weight: 1 })], { pass: 90, marginal: 70 }),
      { latency: { baseline, canary: baseline }, cpu: { baseline, canary: doubled } },
    );

    expect(scorecard.score).toBe(75);
    expect(scorecard.verdict).toBe('marginal');
  });

  it('gives the verdict by the thresholds, inclusive', () => {
    const metrics = [metric({ name: 'a' }), metric({ name: 'b' }), metric({ name: 'c' }), metric({ name: 'd' })];
    const samples = {
      a: { baseline, canary: baseline },
      b: { baseline, canary: baseline },
      c: { baseline, canary: baseline },
      d: { baseline, canary: doubled },
    };

    expect(judgeCanary(config(metrics, { pass: 75, marginal: 50 }), samples).verdict).toBe('pass');
    expect(judgeCanary(config(metrics, { pass: 80, marginal: 75 }), samples).verdict).toBe('marginal');
    expect(judgeCanary(config(metrics, { pass: 90, marginal: 80 }), samples).verdict).toBe('fail');
  });

  it('scores 0 when a critical metric fails, whatever the others do', () => {
    const scorecard = judgeCanary(
      config([metric({ weight: 10 }), metric({ name: 'errors', critical: true, weight: 1 })], { pass: 0, marginal: 0 }),
      { latency: { baseline, canary: baseline }, errors: { baseline, canary: doubled } },
    );

    expect(scorecard).toMatchObject({ score: 0, failedCritical: ['errors'] });
    // With pass = 0 even a 0 score passes: the thresholds decide; a platform sets pass above 0.
    expect(scorecard.verdict).toBe('pass');
  });

  it('leaves NoData out of the score, but fails a critical metric without data', () => {
    const plain = judgeCanary(config([metric(), metric({ name: 'cpu' })]), { latency: { baseline, canary: baseline } });
    expect(plain).toMatchObject({ score: 100, verdict: 'pass' });
    expect(plain.metrics[1]?.classification).toBe('NoData');

    const critical = judgeCanary(config([metric(), metric({ name: 'cpu', critical: true })]), {
      latency: { baseline, canary: baseline },
    });
    expect(critical).toMatchObject({ score: 0, verdict: 'fail', failedCritical: ['cpu'] });
  });

  it('fails when nothing could be judged', () => {
    expect(judgeCanary(config([metric()]), {})).toMatchObject({ score: 0, verdict: 'fail' });
  });

  it('honours a configured significance level', () => {
    // Two values each side, fully separated: exact two-sided p = 2 / C(4, 2) = 1/3.
    const samples = { latency: { baseline: [1, 2], canary: [10, 20] } };
    expect(judgeCanary(config([metric()]), samples).metrics[0]?.classification).toBe('Pass');
    expect(judgeCanary({ ...config([metric()]), significance: 0.4 }, samples).metrics[0]?.classification).toBe('High');
  });

  it('rejects a bad config, naming the field and the fix', () => {
    const bad: [CanaryJudgeConfig, RegExp][] = [
      [config([]), /metrics is empty/],
      [config([metric(), metric()]), /metrics\[1\]\.name "latency" is used twice/],
      [config([metric({ weight: 0 })]), /metrics\[0\]\.weight is 0; use a positive number/],
      [config([metric({ allowedEffectSize: 0.8 })]), /allowedEffectSize is 0.8; use a ratio of at least 1/],
      [config([metric({ badDirection: 'up' as never })]), /badDirection is "up"/],
      [config([metric()], { pass: 50, marginal: 60 }), /0 ≤ marginal ≤ pass ≤ 100/],
      [{ ...config([metric()]), significance: 1 }, /significance is 1/],
    ];
    for (const [cfg, message] of bad) {
      expect(() => judgeCanary(cfg, {})).toThrow(InvalidCanaryConfigError);
      expect(() => judgeCanary(cfg, {})).toThrow(message);
    }
  });
});
