/**
 * Family schedules: one EventBridge Scheduler schedule per family with a `schedule`, in the
 * stage's schedule group, each invoking ScheduleTick (which puts Bake Requested when the family is
 * due) with a role that may do that and dead-letter, nothing else. ScheduleTick exists without
 * schedules too; the group and the role only with at least one.
 */
import { CfnSchedule, CfnScheduleGroup } from 'aws-cdk-lib/aws-scheduler';
import { compileSchedule } from '../functions/commons/schedule';
import { BakeFunction } from './names';
import { type PipelineContext, pascal, retryAsyncInto } from './pipeline-context';
import { schedulerRole } from './scheduler-role';

export const addSchedules = (context: PipelineContext): void => {
  const { stack, config, names, arns } = context;

  const scheduleDlq = context.addDeadLetterQueue('ScheduleDlq', 'Schedules');
  const scheduleTick = context.addFunction(BakeFunction.ScheduleTick, {
    handler: 'functions/schedule-tick/handler.handler',
    description: 'EventBridge Scheduler target: puts Bake Requested when a family is due',
    statements: [context.publishEvents],
  });
  retryAsyncInto(scheduleTick, scheduleDlq);

  const scheduled = config.families.flatMap((family) =>
    family.schedule ? [{ family: family.name, compiled: compileSchedule(family.schedule) }] : [],
  );
  if (scheduled.length === 0) return;

  const group = new CfnScheduleGroup(stack, 'ScheduleGroup', { name: names.scheduleGroup });
  const role = schedulerRole(stack, arns, 'SchedulerRole', {
    group: names.scheduleGroup,
    functionArn: scheduleTick.functionArn,
    invokeSid: 'InvokeScheduleTick',
    deadLetterQueueArn: scheduleDlq.queueArn,
    description: 'Bakehouse family schedules: invoke ScheduleTick, dead-letter what fails',
  });
  for (const { family, compiled } of scheduled) {
    new CfnSchedule(stack, `Schedule${pascal(family)}`, {
      name: family,
      groupName: group.ref,
      description: `Bake ${family}: ${compiled.description}`.slice(0, 512),
      scheduleExpression: compiled.expression,
      scheduleExpressionTimezone: compiled.timezone,
      flexibleTimeWindow: { mode: 'OFF' },
      state: 'ENABLED',
      target: {
        arn: scheduleTick.functionArn,
        roleArn: role.roleArn,
        input: JSON.stringify({ family, scheduledTime: '<aws.scheduler.scheduled-time>' }),
        retryPolicy: { maximumRetryAttempts: 8, maximumEventAgeInSeconds: 3600 },
        deadLetterConfig: { arn: scheduleDlq.queueArn },
      },
    });
  }
};
