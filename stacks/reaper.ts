/**
 * The reaper (issue 15): the Reaper function on an hourly EventBridge Scheduler schedule, a
 * dead-letter queue for failed invocations, and a role that may terminate only Bakehouse's builder
 * and tester instances: TerminateInstances on `instance` takes `aws:ResourceTag/${TagKey}`
 * (Service Authorization Reference, "Actions, resources, and condition keys for Amazon EC2"), so
 * the statement requires `bakehouse:managed=true` and `bakehouse:role` builder or tester on the
 * instance itself; an untagged or foreign instance is refused by IAM even if the code asked.
 *
 * The schedule's role is assumed by Scheduler with `aws:SourceArn` = the schedule GROUP's ARN
 * (EventBridge Scheduler User Guide, "Confused deputy prevention"; test/stacks/scheduler-trust.test.ts).
 */

import { Effect, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { SqsDestination } from 'aws-cdk-lib/aws-lambda-destinations';
import { CfnSchedule } from 'aws-cdk-lib/aws-scheduler';
import { Tag } from '../functions/commons/bake-plan';
import { REAPED_ROLES } from '../functions/commons/reaper';
import type { Arns } from './arns';
import type { PipelineContext } from './pipeline-context';
import { schedulerRole } from './scheduler-role';

export const ReaperFunction = { Reaper: 'Reaper' } as const;
/** Like the janitor's: the account's `default` group, which exists without family schedules. */
const REAPER_SCHEDULE_GROUP = 'default';
/** Hourly: a builder outlives its expiry by at most an hour. */
export const REAPER_SCHEDULE = 'rate(1 hour)';

/**
 * What `reapExpiredInstances` (functions/commons/reaper.ts) needs: find instances, read automations,
 * terminate only managed builders and testers. Exported for any function that runs the reaper's
 * core (the nightly janitor, for its report).
 */
export const reaperStatements = (arns: Arns): PolicyStatement[] => {
  const instances = arns.ec2('instance/*');
  return [
    new PolicyStatement({
      sid: 'FindExpiredInstances',
      effect: Effect.ALLOW,
      actions: ['ec2:DescribeInstances'],
      resources: ['*'],
    }),
    new PolicyStatement({
      sid: 'CheckAutomations',
      effect: Effect.ALLOW,
      actions: ['ssm:GetAutomationExecution'],
      resources: [arns.automationExecutions()],
    }),
    new PolicyStatement({
      sid: 'TerminateExpiredInstances',
      effect: Effect.ALLOW,
      actions: ['ec2:TerminateInstances'],
      resources: [instances],
      // Both keys must match; the role matches either value (IAM ORs a condition's values).
      conditions: {
        StringEquals: {
          [`aws:ResourceTag/${Tag.Managed}`]: 'true',
          [`aws:ResourceTag/${Tag.Role}`]: [...REAPED_ROLES],
        },
      },
    }),
  ];
};

export const addReaper = (context: PipelineContext): void => {
  const { stack, arns, names } = context;
  const instances = arns.ec2('instance/*');

  const reaper = context.addFunction(ReaperFunction.Reaper, {
    handler: 'functions/reaper/handler.handler',
    description: 'Hourly reaper: terminates expired Bakehouse builders and testers whose automation ended',
    timeout: '5 minutes',
    statements: reaperStatements(arns),
    wildcards: {
      resources: [instances, arns.automationExecutions()],
      reason:
        'Expired builders and testers, and the automations that launched them, are only known at run time: termination requires bakehouse:managed=true and bakehouse:role builder or tester on the instance; DescribeInstances supports no resource-level permissions.',
    },
  });

  const dlq = context.addDeadLetterQueue('ReaperDlq');
  // A failed run is not retried: the next hour's run starts from a fresh listing.
  reaper.configureAsyncInvoke({ retryAttempts: 0, onFailure: new SqsDestination(dlq) });

  const role = schedulerRole(stack, arns, 'ReaperSchedulerRole', {
    group: REAPER_SCHEDULE_GROUP,
    functionArn: reaper.functionArn,
    invokeSid: 'InvokeReaper',
    deadLetterQueueArn: dlq.queueArn,
    description: 'Bakehouse reaper schedule: invoke the Reaper, dead-letter what fails',
  });
  new CfnSchedule(stack, 'ReaperSchedule', {
    name: names.function(ReaperFunction.Reaper),
    groupName: REAPER_SCHEDULE_GROUP,
    description: 'Bakehouse reaper: expired builders and testers, hourly',
    scheduleExpression: REAPER_SCHEDULE,
    flexibleTimeWindow: { mode: 'OFF' },
    state: 'ENABLED',
    target: {
      arn: reaper.functionArn,
      roleArn: role.roleArn,
      retryPolicy: { maximumRetryAttempts: 2, maximumEventAgeInSeconds: 3600 },
      deadLetterConfig: { arn: dlq.queueArn },
    },
  });
};
