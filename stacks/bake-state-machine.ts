/**
 * The bake state machine: state-machines/bake.asl.json deployed as it is, with a substitution for
 * each placeholder, a role that may call what its states call and nothing else, and logs that
 * keep execution data out.
 */
import { RemovalPolicy } from 'aws-cdk-lib';
import { Effect, PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { LogGroup } from 'aws-cdk-lib/aws-logs';
import { DefinitionBody, LogLevel, StateMachine } from 'aws-cdk-lib/aws-stepfunctions';
import { Tag } from '../functions/commons/bake-plan';
import { lockKeyPattern, recordKeyPattern } from '../functions/commons/state-table';
import { BAKE_STATE_MACHINE_FILE, type BakeSubstitution } from '../state-machines/bake';
import { startAutomationStatements } from './automation-role';
import type { BakeAutomation } from './bake-automation';
import type { BakeTaskFunctions } from './bake-functions';
import { suppress, wildcardFindings } from './nag';
import { AUTOMATION_WAIT_SECONDS } from './names';
import type { PipelineContext } from './pipeline-context';

export const addBakeStateMachine = (
  context: PipelineContext,
  automation: BakeAutomation,
  tasks: BakeTaskFunctions,
): StateMachine => {
  const { stack, config, names, arns } = context;

  const logs = new LogGroup(stack, 'BakeStateMachineLogs', {
    logGroupName: `/aws/vendedlogs/states/${names.stateMachine}`,
    retention: context.logRetention,
    removalPolicy: RemovalPolicy.DESTROY,
  });
  const role = new Role(stack, 'BakeStateMachineRole', {
    assumedBy: new ServicePrincipal('states.amazonaws.com', {
      conditions: { StringEquals: { 'aws:SourceAccount': stack.account } },
    }),
    description: 'Bakehouse bake state machine',
  });
  const statements = [
    new PolicyStatement({
      sid: 'InvokeBakeFunctions',
      effect: Effect.ALLOW,
      actions: ['lambda:InvokeFunction'],
      resources: [tasks.planBake.functionArn, tasks.waitForAutomation.functionArn, tasks.cleanUpFailedBake.functionArn],
    }),
    ...startAutomationStatements({
      arns,
      documentNames: automation.documentNames,
      roleArn: automation.role.roleArn,
      sids: { start: 'StartBakeAutomation', tag: 'TagBakeAutomation', pass: 'PassAutomationRole' },
    }),
    new PolicyStatement({
      sid: 'TagBakedImage',
      effect: Effect.ALLOW,
      actions: ['ec2:CreateTags'],
      resources: [arns.ec2Unowned('image/*')],
      conditions: { StringEquals: { [`aws:ResourceTag/${Tag.Managed}`]: 'true' } },
    }),
    new PolicyStatement({
      sid: 'WriteCandidateChannel',
      effect: Effect.ALLOW,
      actions: ['ssm:PutParameter'],
      resources: config.families.map((f) => context.parameter(`${f.name}/candidate`)),
    }),
    // PutParameter with DataType aws:ec2:image has SSM check the AMI with the caller's rights.
    new PolicyStatement({
      sid: 'ValidateCandidateImage',
      effect: Effect.ALLOW,
      actions: ['ec2:DescribeImages'],
      resources: ['*'],
    }),
    // ReleaseFamilyLock: a DeleteItem conditional on this execution owning the family lock.
    context.stateTableAccess('ReleaseFamilyLock', ['dynamodb:DeleteItem'], [lockKeyPattern('family')]),
    // RecordBakedKey: the record that the bake key is baked, which the next planner reads.
    context.stateTableAccess('RecordBakedKey', ['dynamodb:PutItem'], [recordKeyPattern('baked')]),
    context.publishEvents,
  ];
  for (const statement of statements) role.addToPolicy(statement);

  const substitutions: Record<BakeSubstitution, string> = {
    PlanBakeFunctionArn: tasks.planBake.functionArn,
    WaitForAutomationFunctionArn: tasks.waitForAutomation.functionArn,
    CleanUpFailedBakeFunctionArn: tasks.cleanUpFailedBake.functionArn,
    EventBusName: context.bus.eventBusName,
    EventSource: config.settings.eventSource,
    AutomationWaitSeconds: String(AUTOMATION_WAIT_SECONDS),
    StateTableName: context.stateTable.tableName,
  };
  const machine = new StateMachine(stack, 'BakeStateMachine', {
    stateMachineName: names.stateMachine,
    definitionBody: DefinitionBody.fromFile(BAKE_STATE_MACHINE_FILE),
    definitionSubstitutions: substitutions,
    role,
    // Execution data stays out of the logs: it carries task tokens (anyone holding one can
    // settle the wait) and the families' build scripts. Transitions, errors and causes are
    // logged; the console's execution history keeps the data for those allowed to read it.
    logs: { destination: logs, level: LogLevel.ALL, includeExecutionData: false },
    tracingEnabled: true,
  });
  suppress(role, [
    {
      id: 'AwsSolutions-IAM5',
      reason:
        'Vended log delivery (logs:*LogDelivery, Describe*) and X-Ray segments require Resource *; images to tag are only known at run time and must carry bakehouse:managed=true; automation executions get their ids at start; ec2:DescribeImages (for the aws:ec2:image parameter check) supports no resource-level permissions; an automation definition ARN ends in its version (:$DEFAULT, :$LATEST, :n), all of which run the same deployed document.',
      appliesTo: wildcardFindings(stack, [
        '*',
        arns.ec2Unowned('image/*'),
        arns.automationExecutions(),
        ...automation.documentNames.map((name) => arns.automationDefinition(name)),
      ]),
    },
  ]);
  return machine;
};
