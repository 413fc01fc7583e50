/**
 * The bake pipeline, declared in one place: the Bakehouse bus and who may put bake requests on
 * it, the rules and schedules that start bakes, the bake automation documents and the roles
 * they run with, the bake state machine and the functions it calls, their dead-letter queues and
 * the alarms on all of them.
 *
 * `createBakePipeline(config)` validates the configuration before it builds anything, so a bad
 * family fails `sst deploy` and `npm run synth` with the family, the field and the fix.
 */
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import { Alarm, ComparisonOperator, type IMetric, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import { EventBus, Rule } from 'aws-cdk-lib/aws-events';
import {
  CfnInstanceProfile,
  Effect,
  ManagedPolicy,
  PolicyStatement,
  Role,
  ServicePrincipal,
} from 'aws-cdk-lib/aws-iam';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { CfnSchedule, CfnScheduleGroup } from 'aws-cdk-lib/aws-scheduler';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import { CfnDocument } from 'aws-cdk-lib/aws-ssm';
import { DefinitionBody, LogLevel, StateMachine } from 'aws-cdk-lib/aws-stepfunctions';
import type { IConstruct } from 'constructs';
import { type FunctionProps, Function as SstFunction, type StackContext } from 'sst/constructs';
import { type BakeOs, loadBakeDocument } from '../automation/documents';
import rawConfig from '../bakehouse.config';
import { TERMINAL_STATUSES } from '../functions/commons/automation-status';
import { Tag } from '../functions/commons/bake-plan';
import { DetailType, SSM_AUTOMATION_STATUS_DETAIL_TYPE, SSM_EVENT_SOURCE } from '../functions/commons/events';
import { type BakehouseConfig, type ConfigInput, loadConfig } from '../functions/commons/families';
import { compileSchedule } from '../functions/commons/schedule';
import { BAKE_STATE_MACHINE_FILE, type BakeSubstitution } from '../state-machines/bake';
import { addAmiTests } from './ami-tests';
import { arnsOf } from './arns';
import { automationRoleStatements, kmsKeysOf, startAutomationStatements } from './automation-role';
import { bakeRequestPolicyStatements } from './bus-policy';
import { addEventContract } from './event-contract';
import { addJanitor } from './janitor';
import { suppress, wildcardFindings } from './nag';
import { addNotifications } from './notifications';
import { type FunctionSpec, lambdaTarget, type PipelineContext, retryAsyncInto } from './pipeline-context';
import { addPromotion } from './promotion';

/** Built in this order on the pipeline; each adds its functions, rules and queues. */
const PIPELINE_PARTS: readonly ((context: PipelineContext) => void)[] = [
  addEventContract,
  addAmiTests,
  addPromotion,
  addJanitor,
  addNotifications,
];

/** How long WaitForAutomation waits for the callback before it re-checks the automation itself. */
export const AUTOMATION_WAIT_SECONDS = 600;

/** The functions' construct ids, as the shared contract names them. */
export const BakeFunction = {
  ScheduleTick: 'ScheduleTick',
  StartBake: 'StartBake',
  PlanBake: 'PlanBake',
  AwaitAutomation: 'AwaitAutomation',
  AutomationEvents: 'AutomationEvents',
  FailBake: 'FailBake',
} as const;
export type BakeFunctionId = (typeof BakeFunction)[keyof typeof BakeFunction];

export interface BakePipelineOptions {
  /** Retention of every log group the stack creates (functions and state machine). */
  readonly logRetention?: FunctionProps['logRetention'];
}

/** The names resources of a stage carry; exported so tests and the sandbox use the same ones. */
export const bakehouseNames = (stage: string) => ({
  bus: `bakehouse-${stage}`,
  scheduleGroup: `bakehouse-${stage}`,
  stateMachine: `bakehouse-${stage}-bake`,
  document: (name: string) => `bakehouse-${stage}-${name}`,
  function: (id: string) => `bakehouse-${stage}-${id}`,
});

const pascal = (kebab: string): string =>
  kebab
    .split(/[^A-Za-z0-9]+/)
    .filter(Boolean)
    .map((part) => part.charAt(0).toUpperCase() + part.slice(1))
    .join('');

const retentionOf = (logRetention: FunctionProps['logRetention']): RetentionDays =>
  RetentionDays[(logRetention ?? 'one_month').toUpperCase() as keyof typeof RetentionDays];

const CALLBACK_WILDCARD_REASON =
  'Task tokens are kept under <prefix>/_callbacks/<automationExecutionId>, and automation execution ids are only known at run time: the ARNs end in a wildcard scoped to that path and to automation executions.';

const X_RAY_REASON =
  'X-Ray tracing (active) writes segments with xray:PutTraceSegments/PutTelemetryRecords, which support no resource-level permissions: AWS requires Resource *.';

/**
 * The bake pipeline stack over a configuration. The configuration is validated here, before any
 * construct exists: a bad one throws `ConfigError` naming the family, the field and the fix.
 */
export const createBakePipeline = (input: ConfigInput | BakehouseConfig, options: BakePipelineOptions = {}) => {
  const config = loadConfig(input);
  return function BakePipeline({ stack, app }: StackContext) {
    const names = bakehouseNames(app.stage);
    const arns = arnsOf(stack);
    const { settings } = config;
    const retention = retentionOf(options.logRetention);
    const prefix = settings.parameterPrefix;

    // --- dead-letter queues ------------------------------------------------------------------
    const deadLetterQueue = (id: string) =>
      new Queue(stack, id, {
        encryption: QueueEncryption.SQS_MANAGED,
        enforceSSL: true,
        retentionPeriod: Duration.days(14),
      });
    const queues = {
      bakeRequested: deadLetterQueue('BakeRequestedDlq'),
      rejectedRequests: deadLetterQueue('RejectedBakeRequests'),
      automationEvents: deadLetterQueue('AutomationEventsDlq'),
      schedules: deadLetterQueue('ScheduleDlq'),
    };
    /** Queues of the parts built on the pipeline (PipelineContext.addDeadLetterQueue). */
    const moreQueues: Record<string, Queue> = {};
    const suppressDlq = (queue: Queue) =>
      suppress(queue, [
        {
          id: 'AwsSolutions-SQS3',
          reason:
            'This queue is itself a dead-letter queue (EventBridge rule target, Scheduler or Lambda on-failure destination); a DLQ of a DLQ only moves the problem.',
        },
      ]);
    for (const queue of Object.values(queues)) suppressDlq(queue);

    // --- the bus -----------------------------------------------------------------------------
    const bus = new EventBus(stack, 'Bus', { eventBusName: names.bus });
    for (const statement of bakeRequestPolicyStatements(settings, bus.eventBusArn)) {
      bus.addToResourcePolicy(statement);
    }

    // --- automation documents and the roles they run with -------------------------------------
    const documents = Object.fromEntries(
      (['linux', 'windows'] as const).map((os) => {
        const file = loadBakeDocument(os);
        const name = names.document(file.name);
        new CfnDocument(stack, `Bake${pascal(os)}Document`, {
          name,
          documentType: 'Automation',
          documentFormat: 'YAML',
          content: file.document,
          updateMethod: 'NewVersion',
        });
        return [os, { ...file, deployedName: name }];
      }),
    ) as Record<BakeOs, ReturnType<typeof loadBakeDocument> & { deployedName: string }>;
    const documentNames = [documents.linux.deployedName, documents.windows.deployedName];

    const builderRole = new Role(stack, 'BuilderRole', {
      assumedBy: new ServicePrincipal('ec2.amazonaws.com'),
      description: 'Bakehouse builder instances: SSM agent only',
      managedPolicies: [ManagedPolicy.fromAwsManagedPolicyName('AmazonSSMManagedInstanceCore')],
    });
    suppress(builderRole, [
      {
        id: 'AwsSolutions-IAM4',
        reason:
          'AmazonSSMManagedInstanceCore is the AWS-maintained minimum for the SSM agent on the builder (Run Command, Session Manager); the builder gets nothing else.',
        appliesTo: ['Policy::arn:<AWS::Partition>:iam::aws:policy/AmazonSSMManagedInstanceCore'],
      },
    ]);
    const builderProfile = new CfnInstanceProfile(stack, 'BuilderInstanceProfile', { roles: [builderRole.roleName] });
    // Families may launch with their own profile; its role is assumed to carry the profile's name.
    const customProfileRoles = [
      ...new Set(config.families.flatMap((f) => (f.builder.instanceProfile ? [f.builder.instanceProfile] : []))),
    ].map((name) => arns.role(name));

    const automationRole = new Role(stack, 'AutomationRole', {
      assumedBy: new ServicePrincipal('ssm.amazonaws.com', {
        conditions: {
          StringEquals: { 'aws:SourceAccount': stack.account },
          ArnLike: { 'aws:SourceArn': arns.automationExecutions() },
        },
      }),
      description: 'Bakehouse bake automations: launch, patch, image and terminate tagged builders',
    });
    for (const statement of automationRoleStatements({
      arns,
      config,
      documents: [documents.linux.document, documents.windows.document],
      builderRoleArns: [builderRole.roleArn, ...customProfileRoles],
      region: stack.region,
    })) {
      automationRole.addToPolicy(statement);
    }
    suppress(automationRole, [
      {
        id: 'AwsSolutions-IAM5',
        reason:
          'Builder instances, volumes, network interfaces, images and snapshots get their ids at launch, and source AMIs change with every patch release: these ARNs cannot be named ahead. Instance actions require the bakehouse:role=builder tag, creation requires the request tags, CreateTags only works while creating (ec2:CreateAction), and Describe*/List*/GetCommandInvocation support no resource-level permissions.',
        appliesTo: wildcardFindings(stack, [
          '*',
          arns.ec2('instance/*'),
          arns.ec2('volume/*'),
          arns.ec2('network-interface/*'),
          arns.ec2Unowned('image/*'),
          arns.ec2Unowned('snapshot/*'),
          ...(kmsKeysOf(config, arns).aliases.length > 0 ? [arns.kmsKey('*')] : []),
        ]),
      },
    ]);

    // --- state machine name and ARN, known before the machine exists ---------------------------
    const stateMachineArn = arns.stateMachine(names.stateMachine);

    // --- functions ---------------------------------------------------------------------------
    const functions = {} as Record<string, SstFunction>;
    const addFunction = (id: string, spec: FunctionSpec): SstFunction => {
      const functionName = names.function(id);
      const logGroup = new LogGroup(stack, `${id}Logs`, {
        logGroupName: `/aws/lambda/${functionName}`,
        retention,
        removalPolicy: RemovalPolicy.DESTROY,
      });
      const role = new Role(stack, `${id}Role`, {
        assumedBy: new ServicePrincipal('lambda.amazonaws.com'),
        description: `Bakehouse ${id} function`,
      });
      logGroup.grantWrite(role);
      for (const statement of spec.statements) role.addToPolicy(statement);
      const fn = new SstFunction(stack, id, {
        functionName,
        handler: spec.handler,
        description: spec.description,
        role,
        logGroup,
        environment: { EVENT_BUS_NAME: bus.eventBusName, ...spec.environment },
        ...(spec.timeout ? { timeout: spec.timeout } : {}),
      });
      suppress(role, [
        {
          id: 'AwsSolutions-IAM5',
          reason: spec.wildcards ? `${X_RAY_REASON} ${spec.wildcards.reason}` : X_RAY_REASON,
          appliesTo: wildcardFindings(stack, ['*', ...(spec.wildcards?.resources ?? [])]),
        },
      ]);
      functions[id] = fn;
      return fn;
    };

    const parameter = (path: string) => arns.parameter(`${prefix}/${path}`);
    const locks = parameter('_locks/*');
    const callbacks = parameter('_callbacks/*');
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
    const publishEvents = new PolicyStatement({
      sid: 'PublishEvents',
      effect: Effect.ALLOW,
      actions: ['events:PutEvents'],
      resources: [bus.eventBusArn],
    });

    const scheduleTick = addFunction(BakeFunction.ScheduleTick, {
      handler: 'functions/schedule-tick/handler.handler',
      description: 'EventBridge Scheduler target: puts Bake Requested when a family is due',
      statements: [publishEvents],
    });
    const startBake = addFunction(BakeFunction.StartBake, {
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
      ],
    });
    const planBake = addFunction(BakeFunction.PlanBake, {
      handler: 'functions/plan-bake/handler.handler',
      description: 'First task of the bake: resolves the source, computes the bake key, takes the family lock',
      timeout: '2 minutes',
      wildcards: {
        resources: [arns.publicParameter('/aws/service/*'), parameter('*'), locks, planBakeExecutions],
        reason:
          'PlanBake reads the public /aws/service/* source parameters and the prefix channels (paths unknown until a family names them), takes per-family locks under <prefix>/_locks/*, checks executions of this one state machine, and DescribeImages supports no resource-level permissions.',
      },
      environment: {
        STATE_MACHINE_ARN: stateMachineArn,
        BAKE_DOCUMENT_LINUX_NAME: documents.linux.deployedName,
        BAKE_DOCUMENT_LINUX_SHA256: documents.linux.sha256,
        BAKE_DOCUMENT_WINDOWS_NAME: documents.windows.deployedName,
        BAKE_DOCUMENT_WINDOWS_SHA256: documents.windows.sha256,
        AUTOMATION_ROLE_ARN: automationRole.roleArn,
        AUTOMATION_WAIT_SECONDS: String(AUTOMATION_WAIT_SECONDS),
        BUILDER_INSTANCE_PROFILE: builderProfile.ref,
      },
      statements: [
        new PolicyStatement({
          sid: 'ReadSourceAndChannelParameters',
          effect: Effect.ALLOW,
          actions: ['ssm:GetParameter', 'ssm:GetParameters'],
          resources: [arns.publicParameter('/aws/service/*'), parameter('*'), ...sourceParameters],
        }),
        new PolicyStatement({
          sid: 'HoldFamilyLock',
          effect: Effect.ALLOW,
          actions: ['ssm:PutParameter', 'ssm:DeleteParameter'],
          resources: [locks],
        }),
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
    const callbackStatements = () => [
      new PolicyStatement({
        sid: 'KeepTaskTokens',
        effect: Effect.ALLOW,
        actions: ['ssm:DeleteParameter', 'ssm:GetParameter', 'ssm:PutParameter'],
        resources: [callbacks],
      }),
      new PolicyStatement({
        sid: 'ReadAutomation',
        effect: Effect.ALLOW,
        actions: ['ssm:GetAutomationExecution'],
        resources: [arns.automationExecutions()],
      }),
      new PolicyStatement({
        sid: 'SettleWait',
        effect: Effect.ALLOW,
        actions: ['states:SendTaskFailure', 'states:SendTaskHeartbeat', 'states:SendTaskSuccess'],
        resources: [stateMachineArn],
      }),
    ];
    const callbackEnvironment = { CALLBACK_PARAMETER_PREFIX: `${prefix}/_callbacks` };
    const awaitAutomation = addFunction(BakeFunction.AwaitAutomation, {
      handler: 'functions/automation-callback/handler.register',
      description: 'WaitForAutomation task: keeps the task token, settles at once when the automation already ended',
      environment: callbackEnvironment,
      statements: callbackStatements(),
      wildcards: { resources: [callbacks, arns.automationExecutions()], reason: CALLBACK_WILDCARD_REASON },
    });
    const automationEvents = addFunction(BakeFunction.AutomationEvents, {
      handler: 'functions/automation-callback/handler.resume',
      description: 'SSM automation status-change target: settles the waiting bake',
      environment: callbackEnvironment,
      statements: callbackStatements(),
      wildcards: { resources: [callbacks, arns.automationExecutions()], reason: CALLBACK_WILDCARD_REASON },
    });
    const failBake = addFunction(BakeFunction.FailBake, {
      handler: 'functions/fail-bake/handler.handler',
      description: 'Failure path: stops the automation, terminates builders, discards images, releases the lock',
      timeout: '5 minutes',
      wildcards: {
        resources: [
          arns.automationExecutions(),
          arns.ec2('instance/*'),
          arns.ec2Unowned('image/*'),
          arns.ec2Unowned('snapshot/*'),
          locks,
        ],
        reason:
          'A failed bake leaves instances, images and snapshots whose ids are only known at run time: termination needs bakehouse:role=builder and deregistration bakehouse:managed=true on the resource; Describe* supports no resource-level permissions; automation executions and family locks are scoped to their ARN prefixes.',
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
        new PolicyStatement({
          sid: 'ReleaseFamilyLock',
          effect: Effect.ALLOW,
          actions: ['ssm:DeleteParameter', 'ssm:GetParameter'],
          resources: [locks],
        }),
      ],
    });

    // StartBake is invoked asynchronously by the rule: after two retries a request it cannot
    // start lands in a queue with the reason (the function's error).
    retryAsyncInto(startBake, queues.rejectedRequests);
    retryAsyncInto(automationEvents, queues.automationEvents);
    retryAsyncInto(scheduleTick, queues.schedules);

    // --- rules -------------------------------------------------------------------------------
    new Rule(stack, 'BakeRequested', {
      eventBus: bus,
      description: 'Bake requests from schedules, the CLI and other teams (StartBake validates them)',
      eventPattern: { detailType: [DetailType.BakeRequested] },
      targets: [lambdaTarget(startBake, queues.bakeRequested)],
    });
    new Rule(stack, 'AutomationStatusChanged', {
      description: 'SSM bake automations that ended: resumes the waiting bake',
      eventPattern: {
        source: [SSM_EVENT_SOURCE],
        detailType: [SSM_AUTOMATION_STATUS_DETAIL_TYPE],
        detail: { Definition: documentNames, Status: [...TERMINAL_STATUSES] },
      },
      targets: [lambdaTarget(automationEvents, queues.automationEvents)],
    });

    // --- schedules ---------------------------------------------------------------------------
    const scheduled = config.families.flatMap((family) =>
      family.schedule ? [{ family: family.name, compiled: compileSchedule(family.schedule) }] : [],
    );
    if (scheduled.length > 0) {
      const group = new CfnScheduleGroup(stack, 'ScheduleGroup', { name: names.scheduleGroup });
      const schedulerRole = new Role(stack, 'SchedulerRole', {
        assumedBy: new ServicePrincipal('scheduler.amazonaws.com', {
          conditions: {
            StringEquals: { 'aws:SourceAccount': stack.account },
            ArnLike: { 'aws:SourceArn': arns.schedules(names.scheduleGroup) },
          },
        }),
        description: 'Bakehouse family schedules: invoke ScheduleTick, dead-letter what fails',
      });
      schedulerRole.addToPolicy(
        new PolicyStatement({
          sid: 'InvokeScheduleTick',
          effect: Effect.ALLOW,
          actions: ['lambda:InvokeFunction'],
          resources: [scheduleTick.functionArn],
        }),
      );
      schedulerRole.addToPolicy(
        new PolicyStatement({
          sid: 'DeadLetter',
          effect: Effect.ALLOW,
          actions: ['sqs:SendMessage'],
          resources: [queues.schedules.queueArn],
        }),
      );
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
            roleArn: schedulerRole.roleArn,
            input: JSON.stringify({ family, scheduledTime: '<aws.scheduler.scheduled-time>' }),
            retryPolicy: { maximumRetryAttempts: 8, maximumEventAgeInSeconds: 3600 },
            deadLetterConfig: { arn: queues.schedules.queueArn },
          },
        });
      }
    }

    // --- the state machine -------------------------------------------------------------------
    const machineLogs = new LogGroup(stack, 'BakeStateMachineLogs', {
      logGroupName: `/aws/vendedlogs/states/${names.stateMachine}`,
      retention,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    const machineRole = new Role(stack, 'BakeStateMachineRole', {
      assumedBy: new ServicePrincipal('states.amazonaws.com', {
        conditions: { StringEquals: { 'aws:SourceAccount': stack.account } },
      }),
      description: 'Bakehouse bake state machine',
    });
    const machineStatements = [
      new PolicyStatement({
        sid: 'InvokeBakeFunctions',
        effect: Effect.ALLOW,
        actions: ['lambda:InvokeFunction'],
        resources: [planBake.functionArn, awaitAutomation.functionArn, failBake.functionArn],
      }),
      ...startAutomationStatements({
        arns,
        documentNames,
        roleArn: automationRole.roleArn,
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
        resources: config.families.map((f) => parameter(`${f.name}/candidate`)),
      }),
      // PutParameter with DataType aws:ec2:image has SSM check the AMI with the caller's rights.
      new PolicyStatement({
        sid: 'ValidateCandidateImage',
        effect: Effect.ALLOW,
        actions: ['ec2:DescribeImages'],
        resources: ['*'],
      }),
      new PolicyStatement({
        sid: 'ReleaseFamilyLock',
        effect: Effect.ALLOW,
        actions: ['ssm:DeleteParameter'],
        resources: [locks],
      }),
      publishEvents,
    ];
    for (const statement of machineStatements) machineRole.addToPolicy(statement);

    const substitutions: Record<BakeSubstitution, string> = {
      PlanBakeFunctionArn: planBake.functionArn,
      AwaitAutomationFunctionArn: awaitAutomation.functionArn,
      FailBakeFunctionArn: failBake.functionArn,
      EventBusName: bus.eventBusName,
      EventSource: settings.eventSource,
      AutomationWaitSeconds: String(AUTOMATION_WAIT_SECONDS),
    };
    const machine = new StateMachine(stack, 'BakeStateMachine', {
      stateMachineName: names.stateMachine,
      definitionBody: DefinitionBody.fromFile(BAKE_STATE_MACHINE_FILE),
      definitionSubstitutions: substitutions,
      role: machineRole,
      // Execution data stays out of the logs: it carries task tokens (anyone holding one can
      // settle the wait) and the families' build scripts. Transitions, errors and causes are
      // logged; the console's execution history keeps the data for those allowed to read it.
      logs: { destination: machineLogs, level: LogLevel.ALL, includeExecutionData: false },
      tracingEnabled: true,
    });
    suppress(machineRole, [
      {
        id: 'AwsSolutions-IAM5',
        reason:
          'Vended log delivery (logs:*LogDelivery, Describe*) and X-Ray segments require Resource *; images to tag are only known at run time and must carry bakehouse:managed=true; automation executions get their ids at start; family locks are per family under <prefix>/_locks/*; ec2:DescribeImages (for the aws:ec2:image parameter check) supports no resource-level permissions; an automation definition ARN ends in its version (:$DEFAULT, :$LATEST, :n), all of which run the same deployed document.',
        appliesTo: wildcardFindings(stack, [
          '*',
          arns.ec2Unowned('image/*'),
          arns.automationExecutions(),
          locks,
          ...documentNames.map((name) => arns.automationDefinition(name)),
        ]),
      },
    ]);

    // --- the parts built on the pipeline: event contract, AMI tests, promotion -----------------
    const context: PipelineContext = {
      stack,
      app,
      config,
      names,
      arns,
      bus,
      publishEvents,
      addFunction,
      addDeadLetterQueue: (id) => {
        const queue = deadLetterQueue(id);
        suppressDlq(queue);
        moreQueues[id] = queue;
        return queue;
      },
      parameter,
      bakeDocumentNames: documentNames,
      builderRole,
      builderProfileName: builderProfile.ref,
    };
    for (const extend of PIPELINE_PARTS) extend(context);

    // --- alarms ------------------------------------------------------------------------------
    const alarmOn = (id: string, metric: IMetric, description: string) =>
      new Alarm(stack, id, {
        alarmName: `bakehouse-${app.stage}-${id}`,
        alarmDescription: description,
        metric,
        threshold: 0,
        evaluationPeriods: 1,
        comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
        treatMissingData: TreatMissingData.NOT_BREACHING,
      });
    for (const [key, queue] of [...Object.entries(queues), ...Object.entries(moreQueues)]) {
      alarmOn(
        `${pascal(key)}QueueNotEmpty`,
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
    for (const [id, fn] of Object.entries(functions)) {
      alarmOn(
        `${id}Errors`,
        fn.metricErrors({ period: Duration.minutes(5), statistic: 'Sum' }),
        `The ${id} function failed`,
      );
    }

    // --- SST's own custom-resource function --------------------------------------------------
    suppressSstInternals(stack.customResourceHandler);

    stack.addOutputs({
      EventBusName: bus.eventBusName,
      EventBusArn: bus.eventBusArn,
      StateMachineArn: machine.stateMachineArn,
      BakeDocumentLinux: documents.linux.deployedName,
      BakeDocumentWindows: documents.windows.deployedName,
    });

    return { bus, machine, functions, automationRole, builderRole };
  };
};

/** SST adds a custom-resource function to every stack (stack metadata, uploads); it is SST's, not ours. */
const suppressSstInternals = (handler: IConstruct): void => {
  suppress(handler, [
    {
      id: 'AwsSolutions-IAM4',
      reason:
        "SST's own custom-resource handler (sst/constructs Stack) is created with CDK's default Lambda role and AWSLambdaBasicExecutionRole; Bakehouse does not own or configure it.",
      appliesTo: ['Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole'],
    },
    {
      id: 'AwsSolutions-L1',
      reason:
        "SST pins the runtime of its own custom-resource handler (nodejs22.x in sst 2.49.8); Bakehouse's functions run the latest Node.js (nodejs24.x).",
    },
  ]);
};

/** The pipeline over bakehouse.config.ts, validated when SST builds the stack. */
export function BakePipeline(context: StackContext) {
  return createBakePipeline(rawConfig)(context);
}
