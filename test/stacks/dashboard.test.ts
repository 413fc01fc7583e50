/**
 * The dashboard as it deploys (shipped configuration): `bakehouse-<stage>` with its widgets, and
 * every metric it graphs is either one the product writes (read back from the EMF the code under
 * test prints, with the namespace and service name the stack gives the functions) or an AWS metric
 * of a resource of this stack. A renamed metric or dimension on either side fails here.
 */
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { describe, expect, it, vi } from 'vitest';
import shippedConfig from '../../bakehouse.config';
import { type ConfigInput, loadConfig } from '../../functions/commons/families';
import {
  BakeOutcome,
  bakeMetricsOf,
  createMetrics,
  DEFAULT_METRICS_NAMESPACE,
  recordJanitorRun,
  SlackMetric,
} from '../../functions/commons/metrics';
import { bakehouseNames } from '../../functions/commons/stage-names';
import type { NotifyDeps } from '../../functions/notify/core';
import { BakeFunction, JanitorFunction, NotificationFunction } from '../../stacks/names';
import { lambdaContext } from '../unit/support/bake-factories';
import { captureEmf, type EmittedMetric } from '../unit/support/emf';
import { events as notifyEvents } from '../unit/support/notify-events';
import { pipelineStack } from './support/pipeline';

const STAGE = 'shipped';
const ACCOUNT = '123456789012';
const REGION = 'eu-central-1';
const names = bakehouseNames(STAGE);
const families = loadConfig(structuredClone(shippedConfig) as ConfigInput).families.map((f) => f.name);

const stack = pipelineStack({
  stage: STAGE,
  account: ACCOUNT,
  region: REGION,
  config: structuredClone(shippedConfig) as ConfigInput,
});

/** A metric row of a metric widget: namespace, name, dimension pairs, then an options object. */
interface GraphedMetric {
  readonly widget: string;
  readonly namespace: string;
  readonly name: string;
  readonly dimensions: Record<string, string>;
}

interface Widget {
  readonly type: string;
  readonly properties: { readonly title?: string; readonly metrics?: unknown[][]; readonly markdown?: string };
}

/** A token of the body (`Ref`, `Fn::GetAtt`) as text: `{{Ref:Id}}`, `{{GetAtt:Id.Attr}}`. */
const tokenText = (part: unknown): string => {
  const token = part as { Ref?: string; 'Fn::GetAtt'?: [string, string] };
  if (token.Ref) return `{{Ref:${token.Ref}}}`;
  if (token['Fn::GetAtt']) return `{{GetAtt:${token['Fn::GetAtt'].join('.')}}}`;
  throw new Error(`unexpected token in the dashboard body: ${JSON.stringify(part)}`);
};

const dashboardResource = () => {
  const found = stack.ofType('AWS::CloudWatch::Dashboard');
  expect(found).toHaveLength(1);
  return (found[0] as [string, { Properties?: Record<string, unknown> }])[1];
};

/** The dashboard body with its tokens as text (they stand inside JSON strings). */
const body = (): { widgets: Widget[] } => {
  const raw = dashboardResource().Properties?.DashboardBody as string | { 'Fn::Join': [string, unknown[]] };
  const text =
    typeof raw === 'string'
      ? raw
      : raw['Fn::Join'][1].map((p) => (typeof p === 'string' ? p : tokenText(p))).join(raw['Fn::Join'][0]);
  return JSON.parse(text);
};

const graphed = (): GraphedMetric[] =>
  body().widgets.flatMap((w) =>
    (w.properties.metrics ?? []).map((row) => {
      const parts = row.filter((p): p is string => typeof p === 'string');
      const [namespace = '', name = '', ...pairs] = parts;
      const dimensions: Record<string, string> = {};
      for (let i = 0; i + 1 < pairs.length; i += 2) dimensions[pairs[i] as string] = pairs[i + 1] as string;
      return { widget: w.properties.title ?? '', namespace, name, dimensions };
    }),
  );

const key = (m: { namespace: string; name: string; dimensions: Readonly<Record<string, string>> }) =>
  JSON.stringify([m.namespace, m.name, Object.entries(m.dimensions).sort(([a], [b]) => a.localeCompare(b))]);

const envOf = (id: string) => stack.environmentOf(id) as Record<string, string | undefined>;

/** The names Notify's core counts (a rename there fails type-checking here). */
const SLACK_NAMES: readonly Parameters<NotifyDeps['metrics']['count']>[0][] = [SlackMetric.Sent, SlackMetric.Dropped];

/** Everything the product writes, with the environment the stack gives each writer. */
const emitted = async (): Promise<EmittedMetric[]> => {
  const withEnv = async (env: Record<string, string | undefined>, act: () => unknown) => {
    for (const [k, v] of Object.entries(env)) vi.stubEnv(k, v);
    vi.stubEnv('POWERTOOLS_DEV', undefined);
    vi.stubEnv('POWERTOOLS_METRICS_DISABLED', undefined);
    try {
      return await captureEmf(act);
    } finally {
      vi.unstubAllEnvs();
    }
  };
  const writers = [BakeFunction.PlanBake, BakeFunction.CleanUpFailedBake, BakeFunction.AutomationEvents];
  const bakes = (
    await Promise.all(
      writers.map((id) =>
        withEnv({ POWERTOOLS_METRICS_NAMESPACE: envOf(id).POWERTOOLS_METRICS_NAMESPACE }, () => {
          const port = bakeMetricsOf(createMetrics());
          for (const family of families)
            for (const outcome of Object.values(BakeOutcome)) port.bakeEnded(outcome, family, 60);
        }),
      ),
    )
  ).flat();
  const janitor = await withEnv(
    { POWERTOOLS_METRICS_NAMESPACE: envOf(JanitorFunction.Janitor).POWERTOOLS_METRICS_NAMESPACE },
    () =>
      recordJanitorRun(createMetrics(), {
        dryRun: false,
        deregistered: ['ami-1'],
        snapshotsDeleted: ['snap-1'],
        kept: { rule: 1 },
        errors: [],
      }),
  );
  const notify = envOf(NotificationFunction.Notify);
  const notifyEnv = {
    POWERTOOLS_METRICS_NAMESPACE: notify.POWERTOOLS_METRICS_NAMESPACE,
    POWERTOOLS_SERVICE_NAME: notify.POWERTOOLS_SERVICE_NAME,
    POWERTOOLS_LOG_LEVEL: 'SILENT',
  };
  // The real handler, with the secret still the stack's placeholder: Slack is not configured, and
  // Notify counts the message it drops (functions/notify/core.ts).
  const dropped = await withEnv(
    {
      ...notifyEnv,
      SLACK_SECRET_ID: 'bakehouse-shipped-slack',
      STATE_MACHINE_ARN: `arn:aws:states:${REGION}:${ACCOUNT}:stateMachine:${names.stateMachine}`,
      AWS_REGION: REGION,
      STATE_TABLE_NAME: 'bakehouse-shipped-StateTable',
    },
    async () => {
      vi.resetModules();
      const secrets = mockClient(SecretsManagerClient);
      secrets
        .on(GetSecretValueCommand)
        .resolves({ SecretString: JSON.stringify({ configure: 'x', placeholder: 'y' }) });
      try {
        const { handler } = await import('../../functions/notify/handler');
        await handler(notifyEvents.failed() as never, lambdaContext('Notify'));
      } finally {
        secrets.restore();
      }
    },
  );
  expect(dropped.map((m) => m.name)).toEqual([SlackMetric.Dropped]);
  // Sent takes a Slack that answers; it is counted by the same Metrics instance, built as here.
  const sent = await withEnv(notifyEnv, async () => {
    const { Metrics, MetricUnit } = await import('@aws-lambda-powertools/metrics');
    const metrics = new Metrics({ namespace: notify.POWERTOOLS_METRICS_NAMESPACE ?? DEFAULT_METRICS_NAMESPACE });
    for (const name of SLACK_NAMES) metrics.addMetric(name, MetricUnit.Count, 1);
    metrics.publishStoredMetrics();
  });
  // The handler-built instance is the one rebuilt here: same namespace and dimensions.
  expect(sent.find((m) => m.name === SlackMetric.Dropped)?.dimensions).toEqual(dropped[0]?.dimensions);
  expect(sent.find((m) => m.name === SlackMetric.Dropped)?.namespace).toEqual(dropped[0]?.namespace);
  const slack = [...dropped, ...sent.filter((m) => m.name === SlackMetric.Sent)];
  return [...bakes, ...janitor, ...slack];
};

describe('the dashboard', () => {
  it(`is named bakehouse-<stage> (${names.dashboard})`, () => {
    // Assess
    expect(dashboardResource().Properties?.DashboardName).toBe(`bakehouse-${STAGE}`);
    expect(names.dashboard).toBe(`bakehouse-${STAGE}`);
  });

  it('has the bakes per outcome, duration, executions, janitor, dead letters and Slack widgets', () => {
    // Assess
    expect(body().widgets.map((w) => w.properties.title ?? w.type)).toEqual([
      'text',
      'Bakes baked, per family',
      'Bakes failed, per family',
      'Bakes skipped (already baked), per family',
      'Bake duration to the AMI (seconds, longest per hour), per family',
      'Bake executions (state machine)',
      'Janitor runs (per day; real runs only)',
      'Dead letters (messages waiting, per queue)',
      'Slack messages',
    ]);
  });

  it('graphs every family under each outcome', () => {
    // Assess
    for (const outcome of Object.values(BakeOutcome)) {
      const rows = graphed().filter((m) => m.name === 'Bakes' && m.dimensions.Outcome === outcome);
      expect(rows.map((m) => m.dimensions.Family).sort()).toEqual([...families].sort());
    }
  });

  it("graphs every dead-letter queue's ApproximateNumberOfMessagesVisible", () => {
    // Assess
    const queues = stack.ofType('AWS::SQS::Queue').map(([id]) => `{{GetAtt:${id}.QueueName}}`);
    const rows = graphed().filter((m) => m.namespace === 'AWS/SQS');
    expect(rows.every((m) => m.name === 'ApproximateNumberOfMessagesVisible')).toBe(true);
    expect(rows.map((m) => m.dimensions.QueueName).sort()).toEqual(queues.sort());
  });

  it("graphs only the product's own metrics, exactly as written, and AWS metrics of this stack's resources", async () => {
    // Prepare
    const written = new Set((await emitted()).map(key));
    const queues = new Set(stack.ofType('AWS::SQS::Queue').map(([id]) => `{{GetAtt:${id}.QueueName}}`));
    const machine = stack
      .ofType('AWS::StepFunctions::StateMachine')
      .find(([, r]) => r.Properties?.StateMachineName === names.stateMachine);
    expect(machine).toBeDefined();

    // Act
    const strangers = graphed().filter((m) => {
      if (m.namespace === 'AWS/SQS')
        return !(Object.keys(m.dimensions).join() === 'QueueName' && queues.has(m.dimensions.QueueName ?? ''));
      if (m.namespace === 'AWS/States') return m.dimensions.StateMachineArn !== `{{Ref:${machine?.[0]}}}`;
      return !written.has(key(m));
    });

    // Assess
    expect(strangers).toEqual([]);
    expect(graphed().filter((m) => m.namespace === DEFAULT_METRICS_NAMESPACE).length).toBeGreaterThan(0);
  });

  it('leaves no unsuppressed cdk-nag finding', () => {
    // Assess
    expect(stack.nagMessages('error')).toEqual([]);
    expect(stack.nagMessages('warning')).toEqual([]);
  });
});
