/**
 * The reaper (issue 15): the Reaper function on an hourly EventBridge Scheduler schedule, a
 * dead-letter queue for failed invocations, and a role that may terminate only Bakehouse's builder,
 * tester, canary and baseline instances (and detach the last two from the canary groups): TerminateInstances on `instance` takes `aws:ResourceTag/${TagKey}`
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
import { canaryChannelOf } from '../functions/commons/canary-channel';
import type { BakehouseConfig } from '../functions/commons/families';
import { REAPED_ROLES } from '../functions/commons/reaper';
import type { Arns } from './arns';
import { REAPER_SCHEDULE, ReaperFunction } from './names';
import type { PipelineContext } from './pipeline-context';
import { schedulerRole } from './scheduler-role';

/** Like the janitor's: the account's `default` group, which exists without family schedules. */
const REAPER_SCHEDULE_GROUP = 'default';

/**
 * The Auto Scaling groups canary and baseline instances join: each family's canary channel's group
 * (functions/commons/canary-channel.ts), as ARNs, sorted and without duplicates.
 */
export const canaryGroupArnsOf = (config: BakehouseConfig, arns: Arns): string[] =>
  [
    ...new Set(
      config.families.flatMap((family) => {
        const canary = canaryChannelOf(family);
        return canary ? [canary.canary.autoScalingGroup] : [];
      }),
    ),
  ]
    .sort()
    .map((name) => arns.autoScalingGroup(name));

/**
 * What `reapExpiredInstances` (functions/commons/reaper.ts) needs: find instances, read automations,
 * detach expired canary and baseline instances from the canary groups, terminate only managed
 * builders, testers, canaries and baselines. Exported for any function that runs the reaper's core
 * (the nightly janitor, for its report). Without canary groups there is nothing to detach, and no
 * Auto Scaling grant.
 */
export const reaperStatements = (arns: Arns, canaryGroupArns: readonly string[] = []): PolicyStatement[] => {
  const instances = arns.ec2('instance/*');
  const detach =
    canaryGroupArns.length === 0
      ? []
      : [
          // DescribeAutoScalingInstances has no resource-level permissions; DetachInstances takes the
          // autoScalingGroup resource (Service Authorization Reference, Amazon EC2 Auto Scaling).
          new PolicyStatement({
            sid: 'FindCanaryGroups',
            effect: Effect.ALLOW,
            actions: ['autoscaling:DescribeAutoScalingInstances'],
            resources: ['*'],
          }),
          new PolicyStatement({
            sid: 'DetachExpiredCanaries',
            effect: Effect.ALLOW,
            actions: ['autoscaling:DetachInstances'],
            resources: [...canaryGroupArns],
          }),
        ];
  return [
    ...detach,
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
  const { stack, arns, names, config } = context;
  const instances = arns.ec2('instance/*');
  const canaryGroups = canaryGroupArnsOf(config, arns);

  const reaper = context.addFunction(ReaperFunction.Reaper, {
    handler: 'functions/reaper/handler.handler',
    description:
      'Hourly reaper: terminates expired Bakehouse builders and testers whose automation ended, and expired canaries and baselines',
    timeout: '5 minutes',
    statements: reaperStatements(arns, canaryGroups),
    wildcards: {
      resources: [instances, arns.automationExecutions(), ...canaryGroups],
      reason:
        "Expired builders, testers, canaries and baselines, and the automations that launched them, are only known at run time: termination requires bakehouse:managed=true and bakehouse:role builder, tester, canary or baseline on the instance; DescribeInstances and DescribeAutoScalingInstances support no resource-level permissions; a group's ARN carries its id, unknown at synth, so DetachInstances names each canary group by name with the id as *.",
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
