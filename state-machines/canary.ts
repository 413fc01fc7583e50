/**
 * The canary state machine (issue 16): where its definition lives, the names of its states, the
 * substitutions it needs, and the shape of its data at every point.
 *
 * `canary.asl.json` is the single source of truth (JSONPath ASL). The stack deploys it with
 * `DefinitionBody.fromFile(CANARY_STATE_MACHINE_FILE)` and `definitionSubstitutions`;
 * `loadCanaryDefinition` does what the deployment does (replaces every `${Name}` with its text).
 * Every Task is the one canary function (functions/canary/index.ts), told what to do by `action`.
 *
 * Data shape (the canary id is always the execution name, `$$.Execution.Name`, and the AMI Tested
 * event always `$$.Execution.Input`):
 *
 *   execution input    the AMI Tested event, as the rule delivers it               AmiTested envelope
 *   after StartCanary  a skip { skip: true, reason, channel, … }                   SkippedCanary
 *                      or the canary { skip: false, instances, settings, … }       CanaryRun
 *   after Check…       checks + 1, allRunning, failed; once all run: attachedAt,   CanaryRun
 *                      analysisStartsAt, analysisEndsAt
 *   after JudgeCanary  intervalsJudged + 1, decision, judgement (the scorecard,    CanaryRun
 *                      no samples: a state holds at most 256 KiB)
 *   after Cleanup…     cleanup = { errors, instancesTerminated }
 *   failure path       the state above plus error = { Error, Cause } (a Catch, or MarkInstances…)
 *
 * Times are Wait states (`SecondsPath` $.warmupSeconds and $.intervalSeconds), never a polling
 * function. Waiting for the instances to run is bounded: 20 checks 30 seconds apart.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { StateMachineDefinition } from 'aws-local-stepfunctions';
import type { CanaryRun, CleanupResult, ErrorRecord, SkippedCanary } from '../functions/canary/core';

const FILE_NAME = 'canary.asl.json';

/** The definition file, beside this module (source tree) or under the working directory (bundles). */
export const CANARY_STATE_MACHINE_FILE: string = ((): string => {
  const besideModule = join(dirname(fileURLToPath(import.meta.url)), FILE_NAME);
  return existsSync(besideModule) ? besideModule : resolve(process.cwd(), 'state-machines', FILE_NAME);
})();

/** The `${Name}` placeholders of the definition; the stack passes each as a definition substitution. */
export const CANARY_SUBSTITUTIONS = ['CanaryFunctionArn', 'EventBusName', 'EventSource'] as const;
export type CanarySubstitution = (typeof CANARY_SUBSTITUTIONS)[number];

/** State names, in the order a canary meets them. Task overrides and the console use these. */
export const CanaryState = {
  StartCanary: 'StartCanary',
  IsCanarySkipped: 'IsCanarySkipped',
  PublishCanarySkipped: 'PublishCanarySkipped',
  CanarySkipped: 'CanarySkipped',
  WaitForInstances: 'WaitForInstances',
  CheckInstances: 'CheckInstances',
  AreInstancesRunning: 'AreInstancesRunning',
  MarkInstancesFailed: 'MarkInstancesFailed',
  MarkInstancesNotRunning: 'MarkInstancesNotRunning',
  WaitForWarmup: 'WaitForWarmup',
  WaitForInterval: 'WaitForInterval',
  JudgeCanary: 'JudgeCanary',
  IsAnalysisOver: 'IsAnalysisOver',
  CleanupCanary: 'CleanupCanary',
  PublishCanaryJudged: 'PublishCanaryJudged',
  CanaryFinished: 'CanaryFinished',
  CleanupAfterError: 'CleanupAfterError',
  CanaryFailed: 'CanaryFailed',
} as const;
export type CanaryStateName = (typeof CanaryState)[keyof typeof CanaryState];

/** The Task states: each invokes the canary function with this action. */
export const CANARY_TASK_ACTIONS: Readonly<Partial<Record<CanaryStateName, string>>> = {
  [CanaryState.StartCanary]: 'start',
  [CanaryState.PublishCanarySkipped]: 'finish',
  [CanaryState.CheckInstances]: 'check',
  [CanaryState.JudgeCanary]: 'judge',
  [CanaryState.CleanupCanary]: 'cleanup',
  [CanaryState.PublishCanaryJudged]: 'finish',
  [CanaryState.CleanupAfterError]: 'cleanup',
};

/** How many times CheckInstances runs before the canary gives up on its instances. */
export const MAX_INSTANCE_CHECKS = 20;

// --- data shape -------------------------------------------------------------------------------

/** The state after StartCanary. */
export type CanaryMachineState = SkippedCanary | CanaryRun;

/** The state on the way out of a successful canary. */
export type FinishedCanary = CanaryRun & { readonly cleanup: CleanupResult };

/** The state on the failure path. */
export type FailingCanary = Record<string, unknown> & { readonly error: ErrorRecord };

// --- loading ----------------------------------------------------------------------------------

const PLACEHOLDER = /\$\{([^}]*)\}/g;
const isSubstitution = (name: string): name is CanarySubstitution =>
  (CANARY_SUBSTITUTIONS as readonly string[]).includes(name);

const problemWith = (value: string): string | undefined => {
  if (value.length === 0) return 'must not be empty';
  // Substitution is plain text, as in CloudFormation: a value must not need JSON escaping.
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it rejects
  return /["\\\u0000-\u001f]/.test(value) ? 'must not contain quotes, backslashes or control characters' : undefined;
};

/**
 * Reads the definition and replaces every `${Key}` with its substitution, as the deployment does.
 * Throws when a key is missing, unknown or has a value the definition cannot take.
 */
export const loadCanaryDefinition = (substitutions: Record<CanarySubstitution, string>): object => {
  const unknown = Object.keys(substitutions).filter((key) => !isSubstitution(key));
  if (unknown.length > 0) {
    throw new Error(`unknown canary substitution(s): ${unknown.join(', ')}. Known: ${CANARY_SUBSTITUTIONS.join(', ')}`);
  }
  const missing = CANARY_SUBSTITUTIONS.filter((key) => typeof substitutions[key] !== 'string');
  if (missing.length > 0) throw new Error(`missing canary substitution(s): ${missing.join(', ')}`);
  for (const key of CANARY_SUBSTITUTIONS) {
    const problem = problemWith(substitutions[key]);
    if (problem) throw new Error(`canary substitution ${key} ${problem}`);
  }
  const text = readFileSync(CANARY_STATE_MACHINE_FILE, 'utf8');
  const substituted = text.replace(PLACEHOLDER, (_match, name: string) => {
    if (!isSubstitution(name)) throw new Error(`${CANARY_STATE_MACHINE_FILE} uses an unknown placeholder \${${name}}`);
    return substitutions[name];
  });
  return JSON.parse(substituted) as object;
};

/**
 * The definition as aws-local-stepfunctions runs it (tests, sandbox). The canary machine needs no
 * engine bridge today (unlike the bake machine's TimeoutSecondsPath); this is the one entry point
 * for the local engine so that one can be added in one place.
 */
export const loadCanaryDefinitionForLocalEngine = (
  substitutions: Record<CanarySubstitution, string>,
): StateMachineDefinition => loadCanaryDefinition(substitutions) as StateMachineDefinition;
