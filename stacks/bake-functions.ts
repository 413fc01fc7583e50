/**
 * The functions of a bake and what reaches them: StartBake on every Bake Requested on the bus;
 * PlanBake, WaitForAutomation and CleanUpFailedBake as tasks of the bake state machine;
 * AutomationEvents on SSM's status-change events of the bake documents. Their least-privilege
 * statements, rules and dead-letter queues are declared here; ScheduleTick, the other bake
 * function, is in schedules.ts with the schedules that invoke it.
 */
import { Rule } from 'aws-cdk-lib/aws-events';
import { Effect, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import type { Function as SstFunction } from 'sst/constructs';
import { TERMINAL_STATUSES } from '../functions/commons/automation-status';
import { Tag } from '../functions/commons/bake-plan';
import { STATE_TABLE_NAME_KEY } from '../functions/commons/env';
import { DetailType, SSM_AUTOMATION_STATUS_DETAIL_TYPE, SSM_EVENT_SOURCE } from '../functions/commons/events';
import { imageKeyPattern, lockKeyPattern, recordKeyPattern } from '../functions/commons/state-table';
import type { BakeAutomation } from './bake-automation';
import { AUTOMATION_WAIT_SECONDS, BakeFunction } from './names';
import { lambdaTarget, type PipelineContext, retryAsyncInto } from './pipeline-context';

/** The functions the bake state machine calls. */
export interface BakeTaskFunctions {
  readonly planBake: SstFunction;
  readonly waitForAutomation: SstFunction;
  readonly cleanUpFailedBake: SstFunction;
}

const CALLBACK_WILDCARD_REASON =
  'Task tokens are kept under <prefix>/_callbacks/<automationExecutionId>, and automation execution ids are only known at run time: the ARNs end in a wildcard scoped to that path and to automation executions. states:SendTaskSuccess/Failure and ssm:GetCommandInvocation support no resource-level permissions and are granted on *.';

export const addBakeFunctions = (context: PipelineContext, automation: BakeAutomation): BakeTaskFunctions => {
  const { stack, config, names, arns } = context;
  const { documents } = automation;
  const prefix = config.settings.parameterPrefix;
  // The state machine's name and ARN are known before the machine exists (bake-state-machine.ts).
  const stateMachineArn = arns.stateMachine(names.stateMachine);
  const callbacks = context.parameter('_callbacks/*');
  // Sources named by a parameter outside /aws/service and the prefix are readable one by one.
  const sourceParameters = [
    ...new Set(
      config.families.flatMap((f) =>
        'ssmParameter' in f.source &&
        !f.source.ssmParameter.startsWith('/aws/service/') &&
        !f.source.ssmParameter.startsWith(`${prefix}/`)
          ? [f.source.ssmParameter]
          : [],
      ),
    ),
  ].map((path) => arns.parameter(path));
  const planBakeExecutions = arns.stateMachineExecutions(names.stateMachine);

  // --- StartBake: Bake Requested from anyone allowed on the bus ----------------------------------
  const bakeRequestedDlq = context.addDeadLetterQueue('BakeRequestedDlq', 'BakeRequested');
  const rejectedRequests = context.addDeadLetterQueue('RejectedBakeRequests', 'RejectedRequests');
  const startBake = context.addFunction(BakeFunction.StartBake, {
    handler: 'functions/start-bake/handler.handler',
    description: 'Bake Requested rule target: validates the request and starts the bake',
    environment: { STATE_MACHINE_ARN: stateMachineArn },
    statements: [
      new PolicyStatement({
        sid: 'StartBake',
        effect: Effect.ALLOW,
        actions: ['states:StartExecution'],
        resources: [stateMachineArn],
      }),
      // A request it refuses is answered with Bake Rejected, and StartBake puts nothing else:
      // events:detail-type holds one value per entry of the PutEvents call, so ForAllValues with
      // the key required limits every entry to it ("Using IAM policy conditions in Amazon
      // EventBridge", https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-use-conditions.html).
      new PolicyStatement({
        sid: 'PublishBakeRejected',
        effect: Effect.ALLOW,
        actions: ['events:PutEvents'],
        resources: [context.bus.eventBusArn],
        conditions: {
          'ForAllValues:StringEquals': { 'events:detail-type': [DetailType.BakeRejected] },
          Null: { 'events:detail-type': 'false' },
        },
      }),
    ],
  });
  // StartBake is invoked asynchronously by the rule: after two retries a request it cannot
  // start lands in a queue with the reason (the function's error).
  retryAsyncInto(startBake, rejectedRequests);
  new Rule(stack, 'BakeRequested', {
    eventBus: context.bus,
    description: 'Bake requests from schedules, the CLI and other teams (StartBake validates them)',
    eventPattern: { detailType: [DetailType.BakeRequested] },
    targets: [lambdaTarget(startBake, bakeRequestedDlq)],
  });

  // --- PlanBake: the first task of the bake -------------------------------------------------------
  const planBake = context.addFunction(BakeFunction.PlanBake, {
    handler: 'functions/plan-bake/handler.handler',
    description: 'First task of the bake: resolves the source, computes the bake key, takes the family lock',
    timeout: '2 minutes',
    wildcards: {
      resources: [arns.publicParameter('/aws/service/*'), context.parameter('*'), planBakeExecutions],
      reason:
        'PlanBake reads the public /aws/service/* source parameters and the prefix channels (paths unknown until a family names them), checks executions of this one state machine (the family lock holder), and DescribeImages supports no resource-level permissions.',
    },
    environment: {
      STATE_MACHINE_ARN: stateMachineArn,
      BAKE_DOCUMENT_LINUX_NAME: documents.linux.deployedName,
      BAKE_DOCUMENT_LINUX_SHA256: documents.linux.sha256,
      BAKE_DOCUMENT_WINDOWS_NAME: documents.windows.deployedName,
      BAKE_DOCUMENT_WINDOWS_SHA256: documents.windows.sha256,
      AUTOMATION_ROLE_ARN: automation.role.roleArn,
      AUTOMATION_WAIT_SECONDS: String(AUTOMATION_WAIT_SECONDS),
      BUILDER_INSTANCE_PROFILE: context.builderProfileName,
      [STATE_TABLE_NAME_KEY]: context.stateTable.tableName,
    },
    statements: [
      new PolicyStatement({
        sid: 'ReadSourceAndChannelParameters',
        effect: Effect.ALLOW,
        actions: ['ssm:GetParameter'],
        resources: [arns.publicParameter('/aws/service/*'), context.parameter('*'), ...sourceParameters],
      }),
      // Takes (PutItem), reads the holder of (GetItem) and, when the key turns out to be baked
      // already, gives back (DeleteItem) family locks, and no other item of the state table.
      context.stateTableAccess(
        'HoldFamilyLock',
        ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:DeleteItem'],
        [lockKeyPattern('family')],
      ),
      // Reads the record a finished bake wrote that its bake key is baked (RecordBakedKey).
      context.stateTableAccess('ReadBakedKeys', ['dynamodb:GetItem'], [recordKeyPattern('baked')]),
      new PolicyStatement({
        sid: 'DescribeImages',
        effect: Effect.ALLOW,
        actions: ['ec2:DescribeImages'],
        resources: ['*'],
      }),
      new PolicyStatement({
        sid: 'CheckLockHolder',
        effect: Effect.ALLOW,
        actions: ['states:DescribeExecution'],
        resources: [planBakeExecutions],
      }),
    ],
  });

  // --- the wait on the automation: the task keeps its token, SSM's status change settles it ------
  /** WaitForAutomation keeps a task token (PutParameter); both read and discard it once settled. */
  const callbackStatements = (keepsTokens: boolean) => [
    new PolicyStatement({
      sid: 'KeepTaskTokens',
      effect: Effect.ALLOW,
      actions: ['ssm:DeleteParameter', 'ssm:GetParameter', ...(keepsTokens ? ['ssm:PutParameter'] : [])],
      resources: [callbacks],
    }),
    new PolicyStatement({
      sid: 'ReadAutomation',
      effect: Effect.ALLOW,
      actions: ['ssm:GetAutomationExecution'],
      resources: [arns.automationExecutions()],
    }),
    // SendTaskSuccess/Failure support no resource-level permissions (Service Authorization Reference, "Actions,
    // resources, and condition keys for AWS Step Functions": no resource type), so only `*` grants
    // them; scoped to the state machine they were refused and every bake failed at its wait. The
    // task token names the execution, and only this function holds the tokens.
    new PolicyStatement({
      sid: 'SettleWait',
      effect: Effect.ALLOW,
      actions: ['states:SendTaskFailure', 'states:SendTaskSuccess'],
      resources: ['*'],
    }),
    // The image's inventory, before the wait is settled (commons/automation-wait.ts recordInventory):
    // captureInventory's command output, then one state-table item per image. GetCommandInvocation has
    // no resource types (Service Authorization Reference, "Actions, resources, and condition keys for
    // AWS Systems Manager": Read, no resource type, no condition key), so only `*` grants it; it reads
    // the output of a command, not the instance.
    new PolicyStatement({
      sid: 'ReadInventoryOutput',
      effect: Effect.ALLOW,
      actions: ['ssm:GetCommandInvocation'],
      resources: ['*'],
    }),
    context.stateTableAccess('RecordImageInventory', ['dynamodb:PutItem'], [imageKeyPattern('inventory')]),
  ];
  const callbackEnvironment = {
    CALLBACK_PARAMETER_PREFIX: `${prefix}/_callbacks`,
    [STATE_TABLE_NAME_KEY]: context.stateTable.tableName,
  };
  const waitForAutomation = context.addFunction(BakeFunction.WaitForAutomation, {
    handler: 'functions/wait-for-automation/handler.handler',
    description: 'WaitForAutomation task: keeps the task token, settles at once when the automation already ended',
    environment: callbackEnvironment,
    statements: callbackStatements(true),
    wildcards: { resources: [callbacks, arns.automationExecutions()], reason: CALLBACK_WILDCARD_REASON },
  });
  const automationEventsDlq = context.addDeadLetterQueue('AutomationEventsDlq', 'AutomationEvents');
  const automationEvents = context.addFunction(BakeFunction.AutomationEvents, {
    handler: 'functions/automation-events/handler.handler',
    description: 'SSM automation status-change target: settles the waiting bake',
    environment: callbackEnvironment,
    statements: callbackStatements(false),
    wildcards: { resources: [callbacks, arns.automationExecutions()], reason: CALLBACK_WILDCARD_REASON },
  });
  retryAsyncInto(automationEvents, automationEventsDlq);
  new Rule(stack, 'AutomationStatusChanged', {
    description: 'SSM bake automations that ended: resumes the waiting bake',
    eventPattern: {
      source: [SSM_EVENT_SOURCE],
      detailType: [SSM_AUTOMATION_STATUS_DETAIL_TYPE],
      detail: { Definition: [...automation.documentNames], Status: [...TERMINAL_STATUSES] },
    },
    targets: [lambdaTarget(automationEvents, automationEventsDlq)],
  });

  // --- CleanUpFailedBake: the failure path --------------------------------------------------------
  const cleanUpFailedBake = context.addFunction(BakeFunction.CleanUpFailedBake, {
    handler: 'functions/clean-up-failed-bake/handler.handler',
    description: 'Failure path: stops the automation, terminates builders, discards images, releases the lock',
    timeout: '5 minutes',
    environment: { [STATE_TABLE_NAME_KEY]: context.stateTable.tableName },
    wildcards: {
      resources: [
        arns.automationExecutions(),
        arns.ec2('instance/*'),
        arns.ec2Unowned('image/*'),
        arns.ec2Unowned('snapshot/*'),
      ],
      reason:
        'A failed bake leaves instances, images and snapshots whose ids are only known at run time: termination needs bakehouse:role=builder and deregistration bakehouse:managed=true on the resource; Describe* supports no resource-level permissions; automation executions are scoped to their ARN prefix.',
    },
    statements: [
      new PolicyStatement({
        sid: 'StopAutomation',
        effect: Effect.ALLOW,
        actions: ['ssm:GetAutomationExecution', 'ssm:StopAutomationExecution'],
        resources: [arns.automationExecutions()],
      }),
      new PolicyStatement({
        sid: 'FindLeftovers',
        effect: Effect.ALLOW,
        actions: ['ec2:DescribeImages', 'ec2:DescribeInstances'],
        resources: ['*'],
      }),
      new PolicyStatement({
        sid: 'TerminateBuilders',
        effect: Effect.ALLOW,
        actions: ['ec2:TerminateInstances'],
        resources: [arns.ec2('instance/*')],
        conditions: { StringEquals: { [`aws:ResourceTag/${Tag.Role}`]: 'builder' } },
      }),
      new PolicyStatement({
        sid: 'DiscardManagedImages',
        effect: Effect.ALLOW,
        actions: ['ec2:DeregisterImage', 'ec2:DeleteSnapshot'],
        resources: [arns.ec2Unowned('image/*'), arns.ec2Unowned('snapshot/*')],
        conditions: { StringEquals: { [`aws:ResourceTag/${Tag.Managed}`]: 'true' } },
      }),
      // Deletes the family lock only while this bake owns it (a conditional DeleteItem), and reads
      // who holds it when it does not.
      context.stateTableAccess(
        'ReleaseFamilyLock',
        ['dynamodb:DeleteItem', 'dynamodb:GetItem'],
        [lockKeyPattern('family')],
      ),
    ],
  });

  return { planBake, waitForAutomation, cleanUpFailedBake };
};
