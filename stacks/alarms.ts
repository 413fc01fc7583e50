/**
 * The alarms, built last so they cover every part: one on any message in any dead-letter queue
 * (something Bakehouse was asked to do did not happen), one on failed and one on timed-out bakes,
 * one on the errors of every function. Their state changes go to Slack through the notifier
 * (`routeAlarmsToNotify`, by the alarms' names), so someone hears of them.
 */
import { Duration } from 'aws-cdk-lib';
import { Alarm, ComparisonOperator, type IMetric, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import type { StateMachine } from 'aws-cdk-lib/aws-stepfunctions';
import { routeAlarmsToNotify } from './notifications';
import { type PipelineContext, pascal } from './pipeline-context';

export const addAlarms = (context: PipelineContext, machine: StateMachine): void => {
  const { stack, app } = context;
  const alarmNames: string[] = [];
  const alarmOn = (id: string, metric: IMetric, description: string) => {
    const alarmName = `bakehouse-${app.stage}-${id}`;
    alarmNames.push(alarmName);
    return new Alarm(stack, id, {
      alarmName,
      alarmDescription: description,
      metric,
      threshold: 0,
      evaluationPeriods: 1,
      comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });
  };

  for (const { queue, alarmId } of context.deadLetterQueues) {
    alarmOn(
      `${pascal(alarmId)}QueueNotEmpty`,
      queue.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(5), statistic: 'Maximum' }),
      `Messages wait in ${queue.node.id}: something Bakehouse was asked to do did not happen`,
    );
  }
  alarmOn(
    'BakeExecutionsFailed',
    machine.metricFailed({ period: Duration.minutes(5), statistic: 'Sum' }),
    'A bake failed',
  );
  alarmOn(
    'BakeExecutionsTimedOut',
    machine.metricTimedOut({ period: Duration.minutes(5), statistic: 'Sum' }),
    'A bake timed out',
  );
  for (const [id, fn] of Object.entries(context.functions)) {
    alarmOn(
      `${id}Errors`,
      fn.metricErrors({ period: Duration.minutes(5), statistic: 'Sum' }),
      `The ${id} function failed`,
    );
  }
  routeAlarmsToNotify(context, alarmNames);
};
