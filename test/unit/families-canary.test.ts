/**
 * The canary block of a channel (issue 16): `promoteOn: 'canary'` channels carry the settings of
 * the canary stage, with defaults, and every mistake names the family, the field and the fix.
 */
import { describe, expect, it } from 'vitest';
import shippedConfig from '../../bakehouse.config';
import { ConfigError } from '../../functions/commons/errors';
import { canaryChannelOf, type FamilyInput, findFamily, loadConfig } from '../../functions/commons/families';
import { configInput, linuxFamily } from './support/bake-factories';

const problemsOf = (input: unknown): readonly string[] => {
  try {
    loadConfig(input);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  throw new Error('expected the configuration to be rejected');
};

const canaryBlock = (overrides: Record<string, unknown> = {}) => ({
  autoScalingGroup: 'web-prod',
  metrics: [{ name: 'latency', namespace: 'MyApp', metricName: 'Latency', badDirection: 'increase' }],
  ...overrides,
});

const familyWith = (channels: unknown[]): FamilyInput =>
  linuxFamily({ channels: [{ name: 'dev', promoteOn: 'baked' }, ...channels] as FamilyInput['channels'] });

const configWith = (channels: unknown[]) => configInput([familyWith(channels)]);

describe('the canary block of a channel', () => {
  it('fills in the defaults of the contract', () => {
    // Act
    const [family] = loadConfig(configWith([{ name: 'prod', promoteOn: 'canary', canary: canaryBlock() }])).families;

    // Assess
    expect(family && canaryChannelOf(family)).toEqual({
      channel: 'prod',
      canary: {
        autoScalingGroup: 'web-prod',
        pairs: 1,
        warmupMinutes: 10,
        analysisMinutes: 60,
        intervalMinutes: 10,
        thresholds: { pass: 75, marginal: 50 },
        metrics: [
          {
            name: 'latency',
            namespace: 'MyApp',
            metricName: 'Latency',
            dimensions: {},
            statistic: 'Average',
            badDirection: 'increase',
            critical: false,
            weight: 1,
            allowedEffectSize: 1.2,
          },
        ],
      },
    });
  });

  it('finds no canary channel in a family without one', () => {
    // Act
    const [family] = loadConfig(configInput([linuxFamily()])).families;

    // Assess
    expect(family && canaryChannelOf(family)).toBeUndefined();
  });

  it('accepts percentiles and dimensions other than InstanceId', () => {
    // Prepare
    const metric = {
      name: 'p99',
      namespace: 'MyApp',
      metricName: 'Latency',
      statistic: 'p99.9',
      dimensions: { Service: 'web' },
      badDirection: 'either',
    };

    // Act
    const [family] = loadConfig(
      configWith([{ name: 'prod', promoteOn: 'canary', canary: canaryBlock({ metrics: [metric] }) }]),
    ).families;

    // Assess
    expect(family && canaryChannelOf(family)?.canary.metrics[0]).toMatchObject({
      statistic: 'p99.9',
      dimensions: { Service: 'web' },
    });
  });

  const cases: [string, unknown[], RegExp][] = [
    [
      "promoteOn 'canary' without a canary block",
      [{ name: 'prod', promoteOn: 'canary' }],
      /^family 'al2023-base': channels\.1\.canary: .*Fix: add canary: \{ autoScalingGroup, metrics/,
    ],
    [
      'a canary block on a channel promoted on tested',
      [{ name: 'prod', promoteOn: 'tested', canary: canaryBlock() }],
      /^family 'al2023-base': channels\.1\.canary: .*Fix: set promoteOn to 'canary', or remove canary/,
    ],
    [
      'two canary channels',
      [
        { name: 'prod', promoteOn: 'canary', canary: canaryBlock() },
        { name: 'prod-eu', promoteOn: 'canary', canary: canaryBlock() },
      ],
      /^family 'al2023-base': channels: 'prod' and 'prod-eu' .*Fix: keep promoteOn 'canary' on one channel only/,
    ],
    [
      'an interval longer than the analysis',
      [{ name: 'prod', promoteOn: 'canary', canary: canaryBlock({ analysisMinutes: 5, intervalMinutes: 10 }) }],
      /^family 'al2023-base': channels\.1\.canary\.intervalMinutes: .*Fix: set intervalMinutes at or below analysisMinutes/,
    ],
    [
      'a marginal threshold above pass',
      [{ name: 'prod', promoteOn: 'canary', canary: canaryBlock({ thresholds: { pass: 60, marginal: 70 } }) }],
      /^family 'al2023-base': channels\.1\.canary\.thresholds\.marginal: .*Fix: keep 0 <= marginal <= pass <= 100/,
    ],
    [
      'two metrics of one name',
      [
        {
          name: 'prod',
          promoteOn: 'canary',
          canary: canaryBlock({
            metrics: [
              { name: 'cpu', namespace: 'AWS/EC2', metricName: 'CPUUtilization', badDirection: 'increase' },
              { name: 'cpu', namespace: 'MyApp', metricName: 'Latency', badDirection: 'increase' },
            ],
          }),
        },
      ],
      /^family 'al2023-base': channels\.1\.canary\.metrics\.1\.name: 'cpu' names two metrics.*Fix: give each metric a unique name/,
    ],
    [
      'InstanceId as a dimension',
      [
        {
          name: 'prod',
          promoteOn: 'canary',
          canary: canaryBlock({
            metrics: [
              {
                name: 'cpu',
                namespace: 'AWS/EC2',
                metricName: 'CPUUtilization',
                dimensions: { InstanceId: 'i-0123456789abcdef0' },
                badDirection: 'increase',
              },
            ],
          }),
        },
      ],
      /^family 'al2023-base': channels\.1\.canary\.metrics\.0\.dimensions\.InstanceId: .*Fix: remove InstanceId from dimensions/,
    ],
    [
      'no metrics',
      [{ name: 'prod', promoteOn: 'canary', canary: canaryBlock({ metrics: [] }) }],
      /^family 'al2023-base': channels\.1\.canary\.metrics: .*Fix: list at least one metric/,
    ],
    [
      'an unknown statistic',
      [
        {
          name: 'prod',
          promoteOn: 'canary',
          canary: canaryBlock({
            metrics: [{ name: 'x', namespace: 'A', metricName: 'B', statistic: 'Median', badDirection: 'increase' }],
          }),
        },
      ],
      /^family 'al2023-base': channels\.1\.canary\.metrics\.0\.statistic: Fix: use Average, Sum, Minimum, Maximum, SampleCount or a percentile/,
    ],
    [
      'an allowed effect size below 1',
      [
        {
          name: 'prod',
          promoteOn: 'canary',
          canary: canaryBlock({
            metrics: [{ name: 'x', namespace: 'A', metricName: 'B', allowedEffectSize: 0.8, badDirection: 'increase' }],
          }),
        },
      ],
      /^family 'al2023-base': channels\.1\.canary\.metrics\.0\.allowedEffectSize: .*Fix: use 1 or more/,
    ],
    [
      'more than ten pairs',
      [{ name: 'prod', promoteOn: 'canary', canary: canaryBlock({ pairs: 11 }) }],
      /^family 'al2023-base': channels\.1\.canary\.pairs: .*Fix: use 10 or less/,
    ],
    [
      'a zero weight',
      [
        {
          name: 'prod',
          promoteOn: 'canary',
          canary: canaryBlock({
            metrics: [{ name: 'x', namespace: 'A', metricName: 'B', weight: 0, badDirection: 'increase' }],
          }),
        },
      ],
      /^family 'al2023-base': channels\.1\.canary\.metrics\.0\.weight: /,
    ],
  ];

  it.each(cases)('rejects %s, naming the field and the fix', (_what, channels, message) => {
    // Act
    const problems = problemsOf(configWith(channels));

    // Assess
    expect(problems).toContainEqual(expect.stringMatching(message));
  });
});

describe('the shipped example canary', () => {
  it("gives al2023-web a 'prod' channel judged by a canary on bakehouse-example-web", () => {
    // Prepare
    const config = loadConfig(structuredClone(shippedConfig));
    const web = findFamily(config, 'al2023-web');

    // Act
    const canary = web && canaryChannelOf(web);

    // Assess
    expect(canary?.channel).toBe('prod');
    expect(canary?.canary).toMatchObject({
      autoScalingGroup: 'bakehouse-example-web',
      pairs: 2,
      warmupMinutes: 10,
      analysisMinutes: 30,
      intervalMinutes: 10,
    });
    expect(canary?.canary.metrics.map((m) => [m.name, m.namespace, m.metricName, m.critical, m.weight])).toEqual([
      ['cpu', 'AWS/EC2', 'CPUUtilization', false, 1],
      ['latency', 'Bakehouse/ExampleApp', 'Latency', true, 2],
      ['errors', 'Bakehouse/ExampleApp', 'ErrorRate', true, 2],
    ]);
  });

  it('has no other canary channel in any family', () => {
    // Act
    const config = loadConfig(structuredClone(shippedConfig));

    // Assess
    expect(config.families.filter((f) => canaryChannelOf(f)).map((f) => f.name)).toEqual(['al2023-web']);
  });
});
