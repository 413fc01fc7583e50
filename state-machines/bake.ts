/**
 * The bake state machine: where its definition lives, the names of its states, the
 * substitutions it needs, and the shape of its data at every point.
 *
 * `bake.asl.json` is the single source of truth (JSONPath ASL). The stack deploys it with
 * `DefinitionBody.fromFile(BAKE_STATE_MACHINE_FILE)` and `definitionSubstitutions`.
 * `loadBakeDefinition` does what the deployment does: replaces every `${Name}` placeholder with its
 * text. Runs on aws-local-stepfunctions (tests, bench, sandbox) take
 * `loadBakeDefinitionForLocalEngine`: the same, with one engine difference bridged (see there).
 *
 * Data shape (the bake id is always the execution name, `$$.Execution.Name`, and the request
 * always `$$.Execution.Input`, so neither is copied into the state):
 *
 *   execution input   the validated bake request (StartBake)                     BakeExecutionInput
 *   after PlanBake    { plan, automation: null }                                 PlannedBake
 *   after Start...    { plan, automation: { automationExecutionId, waits: 0,     StartedBake
 *                       waitSeconds } }
 *   after WaitFor...  automation.result = the callback's AutomationResult        FinishedBake
 *   failure path      the record above plus { failure: { <StateName>: { Error,   FailingBake
 *                       Cause } } }, then `failed` (clean-up-failed-bake's BakeFailure)
 *
 * The top-level `TimeoutSeconds` (24 h, above the longest builder timeout plus the wait for a busy
 * family) is a last resort: an execution that times out skips the cleanup path. The bake's real
 * deadline is `plan.maxWaits` wait periods, after which MarkBakeTimedOut fails it through cleanup.
 *
 * `AutomationWaitSeconds` sits inside an intrinsic's string literal,
 * `States.StringToJson('${AutomationWaitSeconds}')`, and WaitForAutomation reads it back with
 * `TimeoutSecondsPath`: the file is valid JSON (and valid ASL) before substitution, and the
 * timeout a number after it, with plain text substitution as CloudFormation does it.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { StateMachineDefinition } from 'aws-local-stepfunctions';
import type {
  AutomationResult,
  BakeActionPlan,
  BakeFailure,
  BakeFailureInput,
  BakePlan,
  SkipPlan,
} from '../functions/commons/bake-plan';
import type { BakeRequest } from '../functions/commons/events';

const FILE_NAME = 'bake.asl.json';

/**
 * Absolute path of the definition. Next to this module when it runs from source; from the
 * project root when a bundler (SST builds the stacks with esbuild) moved the module away.
 */
export const BAKE_STATE_MACHINE_FILE: string = ((): string => {
  const besideModule = join(dirname(fileURLToPath(import.meta.url)), FILE_NAME);
  return existsSync(besideModule) ? besideModule : resolve(process.cwd(), 'state-machines', FILE_NAME);
})();

/** The `${Name}` placeholders of the definition; the stack passes each as a definition substitution. */
export const BAKE_SUBSTITUTIONS = [
  'PlanBakeFunctionArn',
  'WaitForAutomationFunctionArn',
  'CleanUpFailedBakeFunctionArn',
  'EventBusName',
  'EventSource',
  'AutomationWaitSeconds',
  'StateTableName',
] as const;
export type BakeSubstitution = (typeof BAKE_SUBSTITUTIONS)[number];

/** State names, in the order a bake meets them. Task overrides and the console use these. */
export const BakeState = {
  PlanBake: 'PlanBake',
  IsAlreadyBaked: 'IsAlreadyBaked',
  PublishBakeSkipped: 'PublishBakeSkipped',
  StartAutomation: 'StartAutomation',
  PublishBakeStarted: 'PublishBakeStarted',
  WaitForAutomation: 'WaitForAutomation',
  CountAutomationWait: 'CountAutomationWait',
  IsBakeOverdue: 'IsBakeOverdue',
  MarkBakeTimedOut: 'MarkBakeTimedOut',
  TagAmi: 'TagAmi',
  WriteCandidateChannel: 'WriteCandidateChannel',
  RecordBakedKey: 'RecordBakedKey',
  ReleaseFamilyLock: 'ReleaseFamilyLock',
  PublishAmiBaked: 'PublishAmiBaked',
  PrepareCleanUpWithoutPlan: 'PrepareCleanUpWithoutPlan',
  CleanUpFailedBake: 'CleanUpFailedBake',
  DescribeFailedCleanUp: 'DescribeFailedCleanUp',
  PublishBakeFailed: 'PublishBakeFailed',
  BakeFailed: 'BakeFailed',
} as const;
export type BakeStateName = (typeof BakeState)[keyof typeof BakeState];

/** The error the execution fails with; its cause is the failure's reason. */
export const BAKE_FAILED_ERROR = 'BakeFailed';

// --- data shape -------------------------------------------------------------------------------

/** What StartBake starts the execution with: the validated request, its idempotency key filled in. */
export type BakeExecutionInput = BakeRequest;

/** `$.automation` once the automation started. `waits` counts wait periods that timed out. */
export interface AutomationRecord {
  readonly automationExecutionId: string;
  readonly waits: number;
  readonly waitSeconds: number;
  /** Set by WaitForAutomation: the callback's SendTaskSuccess output. */
  readonly result?: AutomationResult;
}

/** The bake record every state after PlanBake reads and extends. */
export interface BakeRecord {
  readonly plan: BakePlan;
  readonly automation: AutomationRecord | null;
}

export interface PlannedBake extends BakeRecord {
  readonly automation: null;
}

export interface SkippedBake extends PlannedBake {
  readonly plan: SkipPlan;
}

export interface StartedBake extends BakeRecord {
  readonly plan: BakeActionPlan;
  readonly automation: AutomationRecord;
}

/** The execution's output when the bake succeeded. */
export interface FinishedBake extends StartedBake {
  readonly automation: AutomationRecord & { readonly result: AutomationResult };
  /**
   * Set when ReleaseFamilyLock did not delete the lock: `DynamoDb.ConditionalCheckFailedException`
   * when another bake had taken it over (or it was gone), or an error that outlasted the retries.
   * The bake still succeeds; the lock, if left, is taken over as stale once this execution ends.
   */
  readonly lockRelease?: ErrorRecord;
}

/** Step Functions' error record, as a Catch writes it. */
export interface ErrorRecord {
  readonly Error: string;
  readonly Cause: string;
}

/** The state on the failure path: `failure` has one key, the name of the state that failed. */
export interface FailingBake {
  readonly plan: BakePlan | null;
  readonly automation: AutomationRecord | null;
  readonly failure: Partial<Record<BakeStateName, ErrorRecord>>;
  /** CleanUpFailedBake's result, or what DescribeFailedCleanUp made of a failed cleanup. */
  readonly failed?: BakeFailure;
  readonly cleanupFailure?: ErrorRecord;
}

// --- what each task receives ------------------------------------------------------------------

/** PlanBake's payload (plan-bake's `PlanBakeInput`); it returns a `BakePlan`. */
export interface PlanBakeTaskInput {
  readonly bakeId: string;
  readonly request: BakeExecutionInput;
}

/** WaitForAutomation's payload (wait-for-automation's `RegisterInput`). */
export interface WaitForAutomationTaskInput {
  readonly taskToken: string;
  readonly automationExecutionId: string;
  readonly bakeId: string;
  readonly family: string;
  readonly bakeStartedAt: string;
}

/** CleanUpFailedBake's payload (clean-up-failed-bake's `BakeFailureInput`); it returns a `BakeFailure`. */
export interface CleanUpTaskInput extends BakeFailureInput {
  readonly request: BakeExecutionInput;
  readonly plan: BakePlan | null;
  readonly automation: AutomationRecord | null;
  readonly failure: Partial<Record<BakeStateName, ErrorRecord>>;
}

// --- loading ----------------------------------------------------------------------------------

const PLACEHOLDER = /\$\{([^}]*)\}/g;
const isSubstitution = (name: string): name is BakeSubstitution =>
  (BAKE_SUBSTITUTIONS as readonly string[]).includes(name);

const problemWith = (key: BakeSubstitution, value: string): string | undefined => {
  if (key === 'AutomationWaitSeconds') {
    return /^[1-9]\d{0,7}$/.test(value) ? undefined : `must be a whole number of seconds, got '${value}'`;
  }
  if (value.length === 0) return 'must not be empty';
  // Substitution is plain text, as in CloudFormation: a value must not need JSON escaping.
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it rejects
  return /["\\\u0000-\u001f]/.test(value) ? 'must not contain quotes, backslashes or control characters' : undefined;
};

/**
 * Reads the definition and replaces every `${Key}` with its substitution, as the deployment does.
 * Throws when a key is missing, unknown (given, or in the file, but not a `BakeSubstitution`) or
 * has a value the definition cannot take.
 */
export const loadBakeDefinition = (substitutions: Record<BakeSubstitution, string>): object => {
  const given = Object.keys(substitutions);
  const unknown = given.filter((key) => !isSubstitution(key));
  if (unknown.length > 0) {
    throw new Error(`unknown bake substitution(s): ${unknown.join(', ')}. Known: ${BAKE_SUBSTITUTIONS.join(', ')}`);
  }
  const missing = BAKE_SUBSTITUTIONS.filter((key) => typeof substitutions[key] !== 'string');
  if (missing.length > 0) throw new Error(`missing bake substitution(s): ${missing.join(', ')}`);
  for (const key of BAKE_SUBSTITUTIONS) {
    const problem = problemWith(key, substitutions[key]);
    if (problem) throw new Error(`bake substitution ${key} ${problem}`);
  }

  const text = readFileSync(BAKE_STATE_MACHINE_FILE, 'utf8');
  const substituted = text.replace(PLACEHOLDER, (_match, name: string) => {
    if (!isSubstitution(name)) throw new Error(`${BAKE_STATE_MACHINE_FILE} uses an unknown placeholder \${${name}}`);
    return substitutions[name];
  });
  return JSON.parse(substituted) as object;
};

/**
 * The definition as aws-local-stepfunctions 3.0 runs it the way Step Functions does. That engine
 * resolves a Task's `TimeoutSecondsPath` against the task's Parameters output, where Step
 * Functions resolves it against the state input; WaitForAutomation's path
 * (`$.automation.waitSeconds`) would not resolve there. Every value that path can take is the
 * AutomationWaitSeconds substitution (StartAutomation sets it, CountAutomationWait copies it), so
 * the equivalent `TimeoutSeconds` replaces it. Use this for the local engine only (tests, bench,
 * sandbox); deployments use the file as it is.
 */
export const loadBakeDefinitionForLocalEngine = (
  substitutions: Record<BakeSubstitution, string>,
): StateMachineDefinition => {
  const definition = loadBakeDefinition(substitutions) as StateMachineDefinition;
  const wait = definition.States[BakeState.WaitForAutomation];
  if (wait?.Type !== 'Task' || wait.TimeoutSecondsPath !== '$.automation.waitSeconds') {
    throw new Error(`${BakeState.WaitForAutomation} no longer reads its timeout from $.automation.waitSeconds`);
  }
  delete wait.TimeoutSecondsPath;
  wait.TimeoutSeconds = Number(substitutions.AutomationWaitSeconds);
  return definition;
};

// --- measuring --------------------------------------------------------------------------------

/** The part of an aws-local-stepfunctions event log entry `countTransitions` looks at. */
export interface EventLogEntry {
  readonly type: string;
  readonly state?: { readonly name: string };
}

/**
 * State transitions of an execution, as aws-local-stepfunctions logs it: its StateEntered events.
 * (Step Functions also bills a retry as a transition; the local log has no StateEntered for it.)
 */
export const countTransitions = (eventLogs: Iterable<EventLogEntry>): number => {
  let count = 0;
  for (const event of eventLogs) if (event.type === 'StateEntered') count += 1;
  return count;
};
