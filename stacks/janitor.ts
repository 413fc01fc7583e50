/**
 * The janitor (issue 7): the Janitor function, its nightly EventBridge Scheduler schedule (no
 * payload: the configured mode applies), a dead-letter queue for failed invocations, and a role
 * that reads everywhere (the Describe and List calls support no resource-level permissions) but changes only
 * images and snapshots tagged `bakehouse:managed=true`, and only the janitor's own tag keys. No statement
 * lets it tag a resource that is not managed already: tagging is how a resource would become deletable.
 */

import { Duration } from 'aws-cdk-lib';
import { EventField, Rule, RuleTargetInput } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import { Effect, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { SqsDestination } from 'aws-cdk-lib/aws-lambda-destinations';
import { CfnSchedule } from 'aws-cdk-lib/aws-scheduler';
import { Tag } from '../functions/commons/bake-plan';
import { STATE_TABLE_NAME_KEY } from '../functions/commons/env';
import { DetailType } from '../functions/commons/events';
import { compileSchedule } from '../functions/commons/schedule';
import { imageKeyPattern, recordKeyPattern } from '../functions/commons/state-table';
import { statePath } from '../functions/janitor/core';
import { JanitorFunction } from './names';
import type { PipelineContext } from './pipeline-context';
import { canaryGroupArnsOf, reaperStatements } from './reaper';
import { schedulerRole } from './scheduler-role';

/** The schedule lives in the account's `default` group: the pipeline's own group exists only with family schedules. */
const JANITOR_SCHEDULE_GROUP = 'default';

const managed = { StringEquals: { [`aws:ResourceTag/${Tag.Managed}`]: 'true' } };

export const addJanitor = (context: PipelineContext): void => {
  const { stack, arns, config, names } = context;
  const prefix = config.settings.parameterPrefix;
  const settings = config.settings.janitor;
  const images = arns.ec2Unowned('image/*');
  const snapshots = arns.ec2Unowned('snapshot/*');
  const anyParameter = arns.parameter('*');
  const publicParameters = arns.publicParameter('/aws/service/*');
  const prefixed = context.parameter('*');
  const state = arns.parameter(statePath(prefix));

  const janitor = context.addFunction(JanitorFunction.Janitor, {
    handler: 'functions/janitor/handler.handler',
    description: 'Nightly janitor: retires unused managed AMIs in stages and deletes orphaned snapshots',
    timeout: '15 minutes',
    environment: { [STATE_TABLE_NAME_KEY]: context.stateTable.tableName },
    statements: [
      // A run's parts keep their launch permission reads (functions/janitor/checkpoint.ts), only there.
      context.stateTableAccess(
        'JanitorCheckpoint',
        ['dynamodb:GetItem', 'dynamodb:PutItem'],
        [recordKeyPattern('janitor-reads')],
      ),
      // A deregistered image's inventory item (functions/janitor/apply.ts), only those.
      context.stateTableAccess('JanitorForgetInventories', ['dynamodb:DeleteItem'], [imageKeyPattern('inventory')]),
      new PolicyStatement({
        sid: 'ReadInventory',
        effect: Effect.ALLOW,
        actions: [
          'ec2:DescribeImages',
          'ec2:DescribeImageAttribute',
          'ec2:DescribeSnapshots',
          'ec2:DescribeInstances',
          'ec2:DescribeLaunchTemplates',
          'ec2:DescribeLaunchTemplateVersions',
          'autoscaling:DescribeAutoScalingGroups',
          'autoscaling:DescribeLaunchConfigurations',
          'ssm:DescribeParameters',
        ],
        resources: ['*'],
      }),
      new PolicyStatement({
        sid: 'ReadChannels',
        effect: Effect.ALLOW,
        actions: ['ssm:GetParametersByPath', 'ssm:GetParameter', 'ssm:GetParameters', 'ssm:GetParameterHistory'],
        resources: [arns.parameter(prefix), prefixed],
      }),
      // Any parameter of the account may hold an AMI id (another team's `/team/web/ami-id`, a JSON
      // value): the inventory lists them all (ssm:DescribeParameters, above: no resource-level
      // permissions) and reads their values with GetParameters, without decryption. No kms:Decrypt
      // anywhere: SecureStrings are skipped, never read (functions/janitor/inventory.ts). A name
      // this role may not read is reported, and stops the run unless
      // settings.janitor.unreadableParameters is 'continue'.
      new PolicyStatement({
        sid: 'ReadAllParameters',
        effect: Effect.ALLOW,
        actions: ['ssm:GetParameters', 'ssm:GetParameterHistory'],
        resources: [anyParameter, publicParameters],
      }),
      new PolicyStatement({
        sid: 'WriteState',
        effect: Effect.ALLOW,
        actions: ['ssm:PutParameter'],
        resources: [state],
      }),
      new PolicyStatement({
        sid: 'RetireManagedImages',
        effect: Effect.ALLOW,
        actions: [
          'ec2:EnableImageDeprecation',
          'ec2:DisableImageDeprecation',
          'ec2:DisableImage',
          'ec2:EnableImage',
          'ec2:DeregisterImage',
        ],
        resources: [images],
        conditions: managed,
      }),
      // CreateTags and DeleteTags on `image` take aws:ResourceTag and aws:TagKeys (Service
      // Authorization Reference, Amazon EC2): managed images only, the two stage keys only.
      new PolicyStatement({
        sid: 'StageTagsOnManagedImages',
        effect: Effect.ALLOW,
        actions: ['ec2:CreateTags', 'ec2:DeleteTags'],
        resources: [images],
        conditions: {
          ...managed,
          'ForAllValues:StringEquals': { 'aws:TagKeys': [Tag.JanitorStage, Tag.JanitorSince] },
        },
      }),
      // Before deregistering, the image's snapshots are tagged managed (and family) so a crash
      // leaves orphans the next run recognises; only these two keys can be written, and only on
      // a snapshot that is Bakehouse's already. Without that condition the janitor could tag any
      // snapshot managed and then delete it (DeleteManagedSnapshots). Bakehouse's snapshots carry
      // the tag from birth: the bake documents' CreateImage and Promote's CopyImage tag them in
      // TagSpecifications. EC2 evaluates aws:ResourceTag on CreateTags against the tags the
      // snapshot has before the call (Service Authorization Reference, "Actions, resources, and
      // condition keys for Amazon EC2": CreateTags on `snapshot` takes aws:ResourceTag/${TagKey},
      // ec2:ResourceTag/${TagKey}, aws:RequestTag/${TagKey}, aws:TagKeys and ec2:CreateAction).
      new PolicyStatement({
        sid: 'MarkSnapshotsOfRetiredImages',
        effect: Effect.ALLOW,
        actions: ['ec2:CreateTags'],
        resources: [snapshots],
        conditions: {
          ...managed,
          'ForAllValues:StringEquals': { 'aws:TagKeys': [Tag.Managed, Tag.Family] },
        },
      }),
      new PolicyStatement({
        sid: 'DeleteManagedSnapshots',
        effect: Effect.ALLOW,
        actions: ['ec2:DeleteSnapshot'],
        resources: [snapshots],
        conditions: managed,
      }),
      context.publishEvents,
      // The nightly report includes the reaper's work (functions/commons/reaper.ts), with its grants.
      ...reaperStatements(arns, canaryGroupArnsOf(config, arns)),
    ],
    wildcards: {
      resources: [
        images,
        snapshots,
        anyParameter,
        publicParameters,
        prefixed,
        arns.ec2('instance/*'),
        arns.automationExecutions(),
        ...canaryGroupArnsOf(config, arns),
      ],
      reason:
        'The janitor reads the whole account: Describe* and ssm:DescribeParameters support no resource-level permissions, and it reads every parameter of the account and region (ssm:GetParameters on parameter/*, never decrypted: no kms:Decrypt) because any of them may hold an AMI id, as its value, a StringList item or inside JSON, or be resolved by a launch template with resolve:ssm:. It changes images and snapshots only known at run time: every change requires the bakehouse:managed=true tag, and tag writes are limited to the janitor keys. Like the hourly reaper, it terminates expired builders, testers, canaries and baselines, only known at run time: termination requires bakehouse:managed=true and bakehouse:role builder, tester, canary or baseline; canaries are detached from the canary groups first (named by name, their id unknown at synth).',
    },
  });

  const dlq = context.addDeadLetterQueue('JanitorDlq');
  // A failed run is not retried by Lambda: the next night's run starts from a fresh inventory.
  janitor.configureAsyncInvoke({ retryAttempts: 0, onFailure: new SqsDestination(dlq) });

  const role = schedulerRole(stack, arns, 'JanitorSchedulerRole', {
    group: JANITOR_SCHEDULE_GROUP,
    functionArn: janitor.functionArn,
    invokeSid: 'InvokeJanitor',
    deadLetterQueueArn: dlq.queueArn,
    description: 'Bakehouse janitor schedule: invoke the Janitor, dead-letter what fails',
  });
  const compiled = compileSchedule(settings.schedule);
  new CfnSchedule(stack, 'JanitorSchedule', {
    name: names.function(JanitorFunction.Janitor),
    groupName: JANITOR_SCHEDULE_GROUP,
    description: `Bakehouse janitor: ${compiled.description}`.slice(0, 512),
    scheduleExpression: compiled.expression,
    scheduleExpressionTimezone: compiled.timezone,
    flexibleTimeWindow: { mode: 'OFF' },
    state: 'ENABLED',
    target: {
      arn: janitor.functionArn,
      roleArn: role.roleArn,
      // No input: the configured mode (dry run by default) applies.
      retryPolicy: { maximumRetryAttempts: 2, maximumEventAgeInSeconds: 3600 },
      deadLetterConfig: { arn: dlq.queueArn },
    },
  });

  // A run that ran out of time names its next part in its report (functions/janitor/core.ts,
  // MAX_PARTS at most): the bus invokes the Janitor with it. Parts run one after another, as each
  // is published when its invocation ends; a duplicate delivery re-plans from the images' stage
  // tags, which the first part already moved, so no destructive step is repeated.
  new Rule(stack, 'JanitorContinues', {
    eventBus: context.bus,
    description: 'Janitor Reports that name a next part: invoke the Janitor to continue the run',
    eventPattern: {
      source: [config.settings.eventSource],
      detailType: [DetailType.JanitorReport],
      detail: { dryRun: [false], deferred: { nextPart: [{ exists: true }] } },
    },
    targets: [
      new LambdaFunction(janitor, {
        deadLetterQueue: dlq,
        retryAttempts: 2,
        maxEventAge: Duration.hours(1),
        // As the first part ran: a real run (the pattern), with its unreadable-parameters mode.
        event: RuleTargetInput.fromObject({
          continueRun: EventField.fromPath('$.detail.part.of'),
          part: EventField.fromPath('$.detail.deferred.nextPart'),
          actionsDone: EventField.fromPath('$.detail.deferred.actionsDone'),
          dryRun: false,
          unreadableParameters: EventField.fromPath('$.detail.parameters.unreadableMode'),
        }),
      }),
    ],
  });
};
