/**
 * The role an EventBridge Scheduler schedule invokes its function with: trusted by Scheduler only
 * for this account's schedules of one group (`aws:SourceAccount`, `aws:SourceArn`: the confused
 * deputy guard, "Using identity-based policies for EventBridge Scheduler"), allowed to invoke that
 * function and to dead-letter into its queue, nothing else. The family schedules, the janitor's and
 * the reaper's all use it, so the trust condition is written once.
 */

import type { Stack } from 'aws-cdk-lib';
import { Effect, PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import type { Arns } from './arns';

export interface SchedulerRoleProps {
  /** The schedule group its schedules are in (the trust names the group's ARN). */
  readonly group: string;
  /** The function the schedules invoke, and the statement id that allows it (`Invoke<Function>`). */
  readonly functionArn: string;
  readonly invokeSid: string;
  readonly deadLetterQueueArn: string;
  readonly description: string;
}

export const schedulerRole = (stack: Stack, arns: Arns, id: string, props: SchedulerRoleProps): Role => {
  const role = new Role(stack, id, {
    assumedBy: new ServicePrincipal('scheduler.amazonaws.com', {
      conditions: {
        StringEquals: { 'aws:SourceAccount': stack.account },
        ArnEquals: { 'aws:SourceArn': arns.scheduleGroup(props.group) },
      },
    }),
    description: props.description,
  });
  role.addToPolicy(
    new PolicyStatement({
      sid: props.invokeSid,
      effect: Effect.ALLOW,
      actions: ['lambda:InvokeFunction'],
      resources: [props.functionArn],
    }),
  );
  role.addToPolicy(
    new PolicyStatement({
      sid: 'DeadLetter',
      effect: Effect.ALLOW,
      actions: ['sqs:SendMessage'],
      resources: [props.deadLetterQueueArn],
    }),
  );
  return role;
};
