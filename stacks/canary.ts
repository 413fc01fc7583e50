/**
 * The canary stage (issue 16): the Canary function (functions/canary/index.ts, every task of the
 * canary state machine and the cleanup of stopped canaries), the canary state machine
 * (state-machines/canary.asl.json, `bakehouse-<stage>-canary`), a rule that starts it on `AMI Tested`
 * (passed) of the families with a canary channel, and a rule that cleans up after executions that end
 * outside the machine's own failure path.
 *
 * The function's role is written against the Service Authorization Reference ("Actions, resources,
 * and condition keys for Amazon EC2", "… for Amazon EC2 Auto Scaling", "… for Amazon CloudWatch",
 * "… for AWS Identity and Access Management"):
 * - RunInstances authorizes every resource of the launch: the instance and (here) its volumes and
 *   network interfaces being created, and the image, launch template, subnet, security groups and
 *   key pair it uses. The instance may be created only with `bakehouse:managed=true` and
 *   `bakehouse:role` canary or baseline (aws:RequestTag on `instance`), so nothing else launches;
 *   the image must be a Bakehouse image (aws:ResourceTag/bakehouse:managed on `image`). Volumes and
 *   network interfaces exist only as parts of such an instance, so they need no condition of their
 *   own; the template, subnets and groups are the Auto Scaling group's, only known at run time.
 * - CreateTags only as part of RunInstances (`ec2:CreateAction`), so no existing resource can be
 *   tagged into the TerminateInstances condition.
 * - TerminateInstances only on instances tagged managed with role canary or baseline.
 * - AttachInstances/DetachInstances on the canary channels' groups, by name; the group's id in its
 *   ARN is unknown at synth, hence `autoScalingGroup:*:autoScalingGroupName/<name>`.
 * - DescribeInstances, DescribeAutoScalingGroups and GetMetricData support no resource-level
 *   permissions (GetMetricData's optional `dataset` aside) and are on `*`. The function reads the
 *   group's launch template from DescribeAutoScalingGroups and launches with it by reference, so it
 *   never calls DescribeLaunchTemplateVersions (test/e2e/iam-grants-used.test.ts refuses unused grants).
 * - PassRole: a launch template with an instance profile needs iam:PassRole on the profile's role
 *   (EC2 User Guide, "IAM roles for Amazon EC2"); the group's template is not known at synth, so any
 *   role of the account, only to EC2 (iam:PassedToService).
 */
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import { EventField, Rule, RuleTargetInput } from 'aws-cdk-lib/aws-events';
import { LambdaFunction, SfnStateMachine } from 'aws-cdk-lib/aws-events-targets';
import { Effect, PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { LogGroup } from 'aws-cdk-lib/aws-logs';
import { DefinitionBody, LogLevel, StateMachine } from 'aws-cdk-lib/aws-stepfunctions';
import type { Function as SstFunction } from 'sst/constructs';
import { CANARY_FAILED_ERROR } from '../functions/canary/core';
import { EXECUTION_STATUS_CHANGE, STATES_EVENT_SOURCE } from '../functions/clean-up-failed-bake/stopped-execution';
import { Tag } from '../functions/commons/bake-plan';
import { canaryChannelOf } from '../functions/commons/canary-channel';
import { DetailType } from '../functions/commons/events';
import { CANARY_ROLES } from '../functions/commons/reaper';
import { CANARY_STATE_MACHINE_FILE, type CanarySubstitution } from '../state-machines/canary';
import { suppress, wildcardFindings } from './nag';
import { CanaryFunction } from './names';
import { type PipelineContext, retryAsyncInto } from './pipeline-context';
import { canaryGroupArnsOf } from './reaper';

export interface CanaryStage {
  readonly function: SstFunction;
  readonly machine: StateMachine;
  /** The AMI Tested rule; undefined when no family has a canary channel. */
  readonly testedRule: Rule | undefined;
  readonly stoppedRule: Rule;
}

/** The families with a canary channel, and that channel: what the AMI Tested rule and the grants cover. */
export const canaryChannelsOf = (config: PipelineContext['config']) =>
  config.families.flatMap((family) => {
    const found = canaryChannelOf(family);
    return found ? [{ family: family.name, ...found }] : [];
  });

/** The Canary function's statements. */
const canaryStatements = (context: PipelineContext, groupArns: readonly string[]): PolicyStatement[] => {
  const { arns, config } = context;
  const channels = canaryChannelsOf(config);
  const instances = arns.ec2('instance/*');
  const statements = [
    new PolicyStatement({
      sid: 'LaunchTaggedCanaries',
      effect: Effect.ALLOW,
      actions: ['ec2:RunInstances'],
      resources: [instances],
      conditions: {
        StringEquals: {
          [`aws:RequestTag/${Tag.Managed}`]: 'true',
          [`aws:RequestTag/${Tag.Role}`]: [...CANARY_ROLES],
        },
      },
    }),
    new PolicyStatement({
      sid: 'LaunchBakehouseImages',
      effect: Effect.ALLOW,
      actions: ['ec2:RunInstances'],
      resources: [arns.ec2Unowned('image/*')],
      conditions: { StringEquals: { [`aws:ResourceTag/${Tag.Managed}`]: 'true' } },
    }),
    new PolicyStatement({
      sid: 'LaunchFromGroupTemplate',
      effect: Effect.ALLOW,
      actions: ['ec2:RunInstances'],
      resources: [
        arns.ec2('launch-template/*'),
        arns.ec2('subnet/*'),
        arns.ec2('security-group/*'),
        arns.ec2('network-interface/*'),
        arns.ec2('volume/*'),
        arns.ec2('key-pair/*'),
      ],
    }),
    new PolicyStatement({
      sid: 'TagOnlyWhileLaunching',
      effect: Effect.ALLOW,
      actions: ['ec2:CreateTags'],
      resources: [instances, arns.ec2('volume/*'), arns.ec2('network-interface/*')],
      conditions: { StringEquals: { 'ec2:CreateAction': 'RunInstances' } },
    }),
    new PolicyStatement({
      sid: 'TerminateCanaries',
      effect: Effect.ALLOW,
      actions: ['ec2:TerminateInstances'],
      resources: [instances],
      conditions: {
        StringEquals: {
          [`aws:ResourceTag/${Tag.Managed}`]: 'true',
          [`aws:ResourceTag/${Tag.Role}`]: [...CANARY_ROLES],
        },
      },
    }),
    new PolicyStatement({
      sid: 'PassInstanceProfileRole',
      effect: Effect.ALLOW,
      actions: ['iam:PassRole'],
      resources: [arns.role('*')],
      conditions: { StringEquals: { 'iam:PassedToService': 'ec2.amazonaws.com' } },
    }),
    new PolicyStatement({
      sid: 'ReadInstancesAndGroups',
      effect: Effect.ALLOW,
      actions: ['ec2:DescribeInstances', 'autoscaling:DescribeAutoScalingGroups', 'cloudwatch:GetMetricData'],
      resources: ['*'],
    }),
    context.publishEvents,
  ];
  if (groupArns.length > 0) {
    statements.push(
      new PolicyStatement({
        sid: 'JoinCanaryGroups',
        effect: Effect.ALLOW,
        actions: ['autoscaling:AttachInstances', 'autoscaling:DetachInstances'],
        resources: [...groupArns],
      }),
    );
  }
  if (channels.length > 0) {
    statements.push(
      new PolicyStatement({
        sid: 'ReadCanaryChannels',
        effect: Effect.ALLOW,
        actions: ['ssm:GetParameter'],
        resources: channels.map((c) => context.parameter(`${c.family}/${c.channel}`)),
      }),
    );
  }
  return statements;
};

export const addCanary = (context: PipelineContext): CanaryStage => {
  const { stack, config, names, arns } = context;
  const stateMachineName = names.canaryStateMachine;
  const groupArns = canaryGroupArnsOf(config, arns);
  const channels = canaryChannelsOf(config);

  // --- the function --------------------------------------------------------------------------------
  const canary = context.addFunction(CanaryFunction.Canary, {
    handler: 'functions/canary/index.handler',
    description: 'Canary stage: launches, checks, judges and cleans up baseline and canary pairs',
    timeout: '5 minutes',
    environment: { EVENT_SOURCE: config.settings.eventSource },
    statements: canaryStatements(context, groupArns),
    wildcards: {
      resources: [
        arns.ec2('instance/*'),
        arns.ec2Unowned('image/*'),
        arns.ec2('launch-template/*'),
        arns.ec2('subnet/*'),
        arns.ec2('security-group/*'),
        arns.ec2('network-interface/*'),
        arns.ec2('volume/*'),
        arns.ec2('key-pair/*'),
        arns.role('*'),
        ...groupArns,
      ],
      reason:
        "Canary and baseline instances are launched from the Auto Scaling group's launch template, whose template, subnets, security groups, key pair and instance profile are only known at run time: the instance must be created tagged bakehouse:managed=true with role canary or baseline, images must carry bakehouse:managed=true, tags are written only while launching, termination requires those tags, PassRole only to EC2. A group's ARN carries its id, unknown at synth: the groups are named by name. Describe*, DescribeAutoScalingGroups and GetMetricData support no resource-level permissions.",
    },
  });

  // --- the state machine ---------------------------------------------------------------------------
  const logs = new LogGroup(stack, 'CanaryStateMachineLogs', {
    logGroupName: `/aws/vendedlogs/states/${stateMachineName}`,
    retention: context.logRetention,
    removalPolicy: RemovalPolicy.DESTROY,
  });
  const role = new Role(stack, 'CanaryStateMachineRole', {
    assumedBy: new ServicePrincipal('states.amazonaws.com', {
      conditions: { StringEquals: { 'aws:SourceAccount': stack.account } },
    }),
    description: 'Bakehouse canary state machine',
  });
  // Its tasks call the function (Task Resource = the function ARN); the function publishes the events.
  role.addToPolicy(
    new PolicyStatement({
      sid: 'InvokeCanaryFunction',
      effect: Effect.ALLOW,
      actions: ['lambda:InvokeFunction'],
      resources: [canary.functionArn],
    }),
  );
  const substitutions: Record<CanarySubstitution, string> = {
    CanaryFunctionArn: canary.functionArn,
    EventBusName: context.bus.eventBusName,
    EventSource: config.settings.eventSource,
  };
  const machine = new StateMachine(stack, 'CanaryStateMachine', {
    stateMachineName,
    definitionBody: DefinitionBody.fromFile(CANARY_STATE_MACHINE_FILE),
    definitionSubstitutions: substitutions,
    role,
    // Transitions, errors and causes are logged; the data (instance ids, scorecards) stays in the
    // execution history for those allowed to read it.
    logs: { destination: logs, level: LogLevel.ALL, includeExecutionData: false },
    tracingEnabled: true,
  });
  suppress(role, [
    {
      id: 'AwsSolutions-IAM5',
      reason: 'Vended log delivery (logs:*LogDelivery, Describe*) and X-Ray segments require Resource *.',
      appliesTo: wildcardFindings(stack, ['*']),
    },
  ]);

  // --- AMI Tested (passed) of a family with a canary channel → a canary ----------------------------
  const testedDlq = context.addDeadLetterQueue('CanaryTestedDlq', 'CanaryTested');
  const testedRule =
    channels.length === 0
      ? undefined
      : new Rule(stack, 'CanaryOnTested', {
          eventBus: context.bus,
          description: 'Tested images of families with a canary channel: start a canary (the event is the input)',
          eventPattern: {
            source: [config.settings.eventSource],
            detailType: [DetailType.AmiTested],
            detail: { passed: [true], family: channels.map((c) => c.family) },
          },
          targets: [
            new SfnStateMachine(machine, {
              deadLetterQueue: testedDlq,
              retryAttempts: 8,
              maxEventAge: Duration.hours(2),
            }),
          ],
        });

  // --- executions that end outside the failure path → cleanupStopped -------------------------------
  // Step Functions sends its status changes to the default bus
  // (https://docs.aws.amazon.com/step-functions/latest/dg/eventbridge-integration.html). The
  // machine's own Fail state (CanaryFailed) comes after its cleanup and Canary Judged: not matched.
  const stoppedDlq = context.addDeadLetterQueue('StoppedCanariesDlq', 'StoppedCanaries');
  retryAsyncInto(canary, stoppedDlq);
  const stoppedRule = new Rule(stack, 'CanaryExecutionStopped', {
    description: 'Canary executions stopped, timed out or failed outside their failure path: clean up, Canary Judged',
    eventPattern: {
      source: [STATES_EVENT_SOURCE],
      detailType: [EXECUTION_STATUS_CHANGE],
      detail: {
        stateMachineArn: [machine.stateMachineArn],
        $or: [
          { status: ['ABORTED', 'TIMED_OUT'] },
          { status: ['FAILED'], error: [{ 'anything-but': CANARY_FAILED_ERROR }] },
        ],
      },
    },
    targets: [
      // lambdaTarget's retries and DLQ, with the input the function dispatches on.
      new LambdaFunction(canary, {
        deadLetterQueue: stoppedDlq,
        retryAttempts: 8,
        maxEventAge: Duration.hours(2),
        event: RuleTargetInput.fromObject({ action: 'cleanupStopped', event: EventField.fromPath('$') }),
      }),
    ],
  });

  return { function: canary, machine, testedRule, stoppedRule };
};
