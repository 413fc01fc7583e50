/**
 * The Bakehouse stack, composed: the configuration validated once, the context every part builds
 * on (pipeline-context.ts: the bus, the builder identity, the helpers), then the parts in order,
 * the alarms over all of them last.
 *
 * `createBakePipeline(input)` validates the configuration before it builds anything, so a bad
 * family fails `sst deploy` and `npm run synth` with the family, the field and the fix.
 */
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { IConstruct } from 'constructs';
import type { FunctionProps, StackContext } from 'sst/constructs';
import { encodeDeployedConfig } from '../functions/commons/deployed-config';
import { ConfigError } from '../functions/commons/errors';
import { bundleDefines, loadConfig } from '../functions/commons/families';
import { shellProblems } from '../functions/commons/shellcheck';
import { bakehouseNames } from '../functions/commons/stage-names';
import { addAlarms } from './alarms';
import { addAmiTests } from './ami-tests';
import { addBakeAutomation } from './bake-automation';
import { addBakeFunctions } from './bake-functions';
import { addBakeStateMachine } from './bake-state-machine';
import { addCanary } from './canary';
import { addDashboard } from './dashboard';
import { addDeployedConfig } from './deployed-config';
import { addEventContract } from './event-contract';
import { addJanitor } from './janitor';
import { suppress } from './nag';
import { addNotifications } from './notifications';
import { createPipelineContext, type PipelineContext } from './pipeline-context';
import { addPromotion } from './promotion';
import { addReaper } from './reaper';
import { addSchedules } from './schedules';
import { addStoppedBakes } from './stopped-bakes';

/** Built on the bake, in this order; each adds its functions, rules and queues. */
const PIPELINE_PARTS: readonly ((context: PipelineContext) => void)[] = [
  addEventContract,
  addAmiTests,
  addPromotion,
  addJanitor,
  addReaper,
  addCanary,
  addNotifications,
  addDeployedConfig,
];

export interface BakePipelineOptions {
  /**
   * Every Lambda default (sst.config.ts `LAMBDA_DEFAULTS`). `logRetention` goes to the log groups
   * the stack creates (a log group per function, no LogRetention custom resource); the rest to the
   * stack's functions.
   */
  readonly lambdaDefaults?: FunctionProps;
}

const retentionOf = (logRetention: FunctionProps['logRetention']): RetentionDays =>
  RetentionDays[(logRetention ?? 'one_month').toUpperCase() as keyof typeof RetentionDays];

/**
 * The bake pipeline stack over a raw configuration. The configuration is validated here, once,
 * before any construct exists: a bad one throws `ConfigError` naming the family, the field and the
 * fix. Everything after receives the validated result.
 */
export const createBakePipeline = (input: unknown, options: BakePipelineOptions = {}) => {
  const config = loadConfig(input);
  // ShellCheck over the Linux families' scripts: here, where the configuration is validated outside
  // Lambda (cold starts never run it). Without ShellCheck installed it warns once and checks nothing.
  const shell = shellProblems(config);
  if (shell.length > 0) throw new ConfigError(shell);
  // The configuration the stack publishes for the CLI must fit an SSM parameter (8 KB compressed,
  // stacks/deployed-config.ts): too large, it fails here like any other config mistake.
  encodeDeployedConfig(config);
  const { logRetention, ...functionDefaults } = options.lambdaDefaults ?? {};
  return function BakePipeline({ stack, app }: StackContext): void {
    // Functions get the validated configuration compiled in as data (commons/config.ts), so they
    // never parse it at cold start and cannot run with one that failed validation.
    stack.setDefaultFunctionProps({
      ...functionDefaults,
      nodejs: {
        ...functionDefaults.nodejs,
        esbuild: { ...functionDefaults.nodejs?.esbuild, define: bundleDefines(config) },
      },
    });
    const context = createPipelineContext({
      stack,
      app,
      config,
      names: bakehouseNames(app.stage),
      logRetention: retentionOf(logRetention),
    });
    const automation = addBakeAutomation(context);
    addSchedules(context);
    const tasks = addBakeFunctions(context, automation);
    const machine = addBakeStateMachine(context, automation, tasks);
    addStoppedBakes(context, machine, tasks);
    for (const extend of PIPELINE_PARTS) extend(context);
    addAlarms(context, machine);
    addDashboard(context, machine);
    suppressSstInternals(stack.customResourceHandler);

    stack.addOutputs({
      EventBusName: context.bus.eventBusName,
      EventBusArn: context.bus.eventBusArn,
      StateMachineArn: machine.stateMachineArn,
      BakeDocumentLinux: automation.documents.linux.deployedName,
      BakeDocumentWindows: automation.documents.windows.deployedName,
    });
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
