/**
 * The fleet on one page: the CloudWatch dashboard `bakehouse-<stage>` (issue 18). Built after the
 * alarms, over every part: bakes per family and outcome and how long they took, the state
 * machine's executions, each janitor run's counts, the dead letters of every queue, and Slack
 * messages sent and dropped.
 *
 * The bake, janitor and Slack metrics are the functions' own, written as EMF by Powertools Metrics
 * (functions/commons/metrics.ts names them; test/stacks/dashboard.test.ts checks every metric
 * graphed here is one the code writes, or an AWS metric of a resource of this stack). A metric is
 * its namespace, name and whole dimension set, so each is graphed with exactly the dimensions
 * written.
 *
 * Dashboards are global to the account, not regional ("AWS::CloudWatch::Dashboard",
 * https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-cloudwatch-dashboard.html),
 * and each widget names its region (the stack's): one stage deployed in two regions of one account
 * would want the same name, and the second deployment fails on it.
 *
 * AWS pages this depends on:
 * - "Dashboard Body Structure and Syntax"
 *   (https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/CloudWatch-Dashboard-Body-Structure.html):
 *   the body CDK's `Dashboard`/`GraphWidget` write (a `widgets` array; each metric widget's
 *   `metrics` rows of namespace, name, dimension name/value pairs and options).
 * - "Available CloudWatch metrics for Amazon SQS"
 *   (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-available-cloudwatch-metrics.html):
 *   `AWS/SQS` `ApproximateNumberOfMessagesVisible`, dimension `QueueName`.
 * - "Monitoring Step Functions metrics using Amazon CloudWatch"
 *   (https://docs.aws.amazon.com/step-functions/latest/dg/procedure-cw-metrics.html): `AWS/States`
 *   `ExecutionTime` (milliseconds), `ExecutionsSucceeded`/`Failed`/`TimedOut`/`Aborted`, dimension
 *   `StateMachineArn`.
 */
import { Duration } from 'aws-cdk-lib';
import {
  type ConcreteWidget,
  Dashboard,
  GraphWidget,
  type IMetric,
  type IWidget,
  Metric,
  TextWidget,
} from 'aws-cdk-lib/aws-cloudwatch';
import type { StateMachine } from 'aws-cdk-lib/aws-stepfunctions';
import type { Stack } from 'sst/constructs';
import {
  BakeMetric,
  BakeOutcome,
  DEFAULT_METRICS_NAMESPACE,
  JanitorMetric,
  SlackMetric,
} from '../functions/commons/metrics';
import type { PipelineContext } from './pipeline-context';

/** Powertools' service name when POWERTOOLS_SERVICE_NAME is not set. */
const POWERTOOLS_DEFAULT_SERVICE = 'service_undefined';

/**
 * The POWERTOOLS_SERVICE_NAME the stack's functions get (sst.config.ts LAMBDA_DEFAULTS, through the
 * stack's default function props): Notify's Slack metrics carry it as their `service` dimension.
 */
export const serviceNameOf = (stack: Stack): string =>
  stack.defaultFunctionProps
    .map((props) => props.environment?.POWERTOOLS_SERVICE_NAME)
    .filter((name): name is string => typeof name === 'string')
    .at(-1) ?? POWERTOOLS_DEFAULT_SERVICE;

const HOUR = Duration.hours(1);
const DAY = Duration.days(1);
const WIDTH = 12;
const HEIGHT = 6;

/**
 * A row of widgets. CDK declares `IWidget.warnings` as `string[]` but its widgets as
 * `string[] | undefined`, which `exactOptionalPropertyTypes` refuses; they are the same objects.
 */
const row = (...widgets: ConcreteWidget[]): IWidget[] => widgets as unknown as IWidget[];

const OUTCOME_TITLES: Record<BakeOutcome, string> = {
  [BakeOutcome.Baked]: 'Bakes baked, per family',
  [BakeOutcome.Skipped]: 'Bakes skipped (already baked), per family',
  [BakeOutcome.Failed]: 'Bakes failed, per family',
};

export const addDashboard = (context: PipelineContext, machine: StateMachine): Dashboard => {
  const { stack, config, names } = context;
  const namespace = DEFAULT_METRICS_NAMESPACE;
  const families = config.families.map((family) => family.name);

  const bakes = (outcome: BakeOutcome): IMetric[] =>
    families.map(
      (family) =>
        new Metric({
          namespace,
          metricName: BakeMetric.Bakes,
          dimensionsMap: { Family: family, Outcome: outcome },
          statistic: 'Sum',
          period: HOUR,
          label: family,
        }),
    );
  const durations = families.map(
    (family) =>
      new Metric({
        namespace,
        metricName: BakeMetric.BakeDuration,
        dimensionsMap: { Family: family, Outcome: BakeOutcome.Baked },
        statistic: 'Maximum',
        period: HOUR,
        label: family,
      }),
  );
  const janitor = (metricName: string, label: string) =>
    new Metric({ namespace, metricName, statistic: 'Sum', period: DAY, label });
  const service = serviceNameOf(stack);
  const slack = (metricName: string, label: string) =>
    new Metric({ namespace, metricName, dimensionsMap: { service }, statistic: 'Sum', period: HOUR, label });

  const widget = (title: string, left: IMetric[], extra: Partial<ConstructorParameters<typeof GraphWidget>[0]> = {}) =>
    new GraphWidget({ title, left, width: WIDTH, height: HEIGHT, ...extra });

  return new Dashboard(stack, 'Dashboard', {
    dashboardName: names.dashboard,
    widgets: [
      row(
        new TextWidget({
          markdown: `# Bakehouse ${context.app.stage}\nBakes per family and outcome, bake duration, janitor runs, dead letters and Slack drops. Bake and janitor counts are written by the functions (EMF, namespace \`${namespace}\`).`,
          width: 2 * WIDTH,
          height: 2,
        }),
      ),
      row(
        widget(OUTCOME_TITLES.baked, bakes(BakeOutcome.Baked)),
        widget(OUTCOME_TITLES.failed, bakes(BakeOutcome.Failed)),
      ),
      row(
        widget(OUTCOME_TITLES.skipped, bakes(BakeOutcome.Skipped)),
        widget('Bake duration to the AMI (seconds, longest per hour), per family', durations),
      ),
      row(
        widget(
          'Bake executions (state machine)',
          [
            machine.metricSucceeded({ period: HOUR, statistic: 'Sum', label: 'succeeded' }),
            machine.metricFailed({ period: HOUR, statistic: 'Sum', label: 'failed' }),
            machine.metricTimedOut({ period: HOUR, statistic: 'Sum', label: 'timed out' }),
            machine.metricAborted({ period: HOUR, statistic: 'Sum', label: 'aborted' }),
          ],
          {
            right: [machine.metricTime({ period: HOUR, statistic: 'Maximum', label: 'longest execution (ms)' })],
          },
        ),
        widget('Janitor runs (per day; real runs only)', [
          janitor(JanitorMetric.ImagesDeregistered, 'images deregistered'),
          janitor(JanitorMetric.SnapshotsDeleted, 'snapshots deleted'),
          janitor(JanitorMetric.ImagesKept, 'images kept'),
          janitor(JanitorMetric.Errors, 'errors'),
        ]),
      ),
      row(
        widget(
          'Dead letters (messages waiting, per queue)',
          context.deadLetterQueues.map(({ queue }) =>
            queue.metricApproximateNumberOfMessagesVisible({
              period: Duration.minutes(5),
              statistic: 'Maximum',
              label: queue.node.id,
            }),
          ),
        ),
        widget('Slack messages', [slack(SlackMetric.Sent, 'sent'), slack(SlackMetric.Dropped, 'dropped')]),
      ),
    ],
  });
};
