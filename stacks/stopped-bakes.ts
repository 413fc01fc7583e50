/**
 * Bakes that end outside the state machine's own failure path (issue 15): an execution stopped
 * with StopExecution (ABORTED), past the machine's TimeoutSeconds (TIMED_OUT), or failed with an
 * error other than its `BakeFailed` Fail state's (FAILED: a runtime error, a restart of the
 * sandbox). Step Functions runs no Catch for those, so the automation would run on, the builder
 * stay and the family lock stay held.
 *
 * Step Functions sends "Step Functions Execution Status Change" (source `aws.states`) to the
 * account's default bus for every status change of a Standard workflow
 * (https://docs.aws.amazon.com/step-functions/latest/dg/eventbridge-integration.html,
 * https://docs.aws.amazon.com/eventbridge/latest/ref/events-ref-states.html). A rule on it, for
 * this state machine only, invokes CleanUpFailedBake with the event: the same cleanup as the
 * failure path (stop the automation, terminate the builder, discard unpublished images, release
 * the lock), then `Bake Failed` (functions/clean-up-failed-bake/stopped-execution.ts). Using the
 * same function keeps one set of cleanup grants; this part adds what the event path needs more:
 * reading the execution's history and publishing on the Bakehouse bus.
 */
import { Rule } from 'aws-cdk-lib/aws-events';
import { Effect, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import type { StateMachine } from 'aws-cdk-lib/aws-stepfunctions';
import {
  EXECUTION_STATUS_CHANGE,
  OWN_FAILURE_ERROR,
  STATES_EVENT_SOURCE,
} from '../functions/clean-up-failed-bake/stopped-execution';
import type { BakeTaskFunctions } from './bake-functions';
import { suppress, wildcardFindings } from './nag';
import { lambdaTarget, type PipelineContext, retryAsyncInto } from './pipeline-context';

export const addStoppedBakes = (context: PipelineContext, machine: StateMachine, tasks: BakeTaskFunctions): Rule => {
  const { stack, arns, names } = context;
  const cleanUp = tasks.cleanUpFailedBake;
  const executions = arns.stateMachineExecutions(names.stateMachine);

  // GetExecutionHistory takes the `execution` resource type (Service Authorization Reference,
  // "Actions, resources, and condition keys for AWS Step Functions").
  cleanUp.addToRolePolicy(
    new PolicyStatement({
      sid: 'ReadStoppedBakeHistory',
      effect: Effect.ALLOW,
      actions: ['states:GetExecutionHistory'],
      resources: [executions],
    }),
  );
  cleanUp.addToRolePolicy(context.publishEvents);
  if (cleanUp.role) {
    suppress(cleanUp.role, [
      {
        id: 'AwsSolutions-IAM5',
        reason:
          "A stopped bake's execution is only known from the event: history reads are scoped to this state machine's executions.",
        appliesTo: wildcardFindings(stack, [executions]),
      },
    ]);
  }

  const dlq = context.addDeadLetterQueue('StoppedBakesDlq', 'StoppedBakes');
  retryAsyncInto(cleanUp, dlq);
  return new Rule(stack, 'BakeExecutionStopped', {
    description: 'Bake executions stopped, timed out or failed outside their failure path: clean up, Bake Failed',
    eventPattern: {
      source: [STATES_EVENT_SOURCE],
      detailType: [EXECUTION_STATUS_CHANGE],
      detail: {
        stateMachineArn: [machine.stateMachineArn],
        // The machine's own Fail state fails with BakeFailed after publishing Bake Failed.
        $or: [
          { status: ['ABORTED', 'TIMED_OUT'] },
          { status: ['FAILED'], error: [{ 'anything-but': OWN_FAILURE_ERROR }] },
        ],
      },
    },
    targets: [lambdaTarget(cleanUp, dlq)],
  });
};
