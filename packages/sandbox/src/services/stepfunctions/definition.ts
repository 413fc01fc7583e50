/**
 * State machine definitions: validation as CreateStateMachine does it (asl-validator, whose
 * messages InvalidDefinition reports), and the rewrite that lets aws-local-stepfunctions run a
 * definition as deployed while the sandbox keeps what that engine does not do the AWS way:
 *
 * - every Task runs through the sandbox's own handler (keyed by state name), which does the
 *   integration, Retry, TimeoutSeconds(Path) and HeartbeatSeconds(Path) on the sandbox clock,
 *   and picks the catcher by Step Functions' rules (`States.TaskFailed` never matches a
 *   timeout). The engine keeps InputPath, Parameters, ResultSelector, ResultPath, OutputPath and
 *   follows the catcher it is told: each rewritten catcher starts with no error names and
 *   learns the names the handler routes to it;
 * - a Wait state becomes a Task whose handler sleeps on the sandbox clock;
 * - `$$.Execution` is read from a context member the engine does not overwrite (it replaces
 *   `Execution.Input` and `StartTime` with its own, wrong inside Map and Parallel);
 * - `$$.Task.Token` and `$$.State.*` in a Task's Parameters become markers its handler fills;
 * - the top-level TimeoutSeconds is left to the sandbox (the engine would use real time).
 */
import { createRequire } from 'node:module';
import type { StateMachineDefinition } from 'aws-local-stepfunctions';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };
export type { Json };

// asl-validator 4 ships no type declarations.
type AslValidator = (
  definition: unknown,
  options?: { checkPaths?: boolean; checkArn?: boolean },
) => { isValid: boolean; errorsText: (separator?: string) => string };
const aslValidator = createRequire(import.meta.url)('asl-validator') as AslValidator;

/** The context member `$$.Execution` is rewritten to. */
export const EXECUTION_CONTEXT_KEY = 'SandboxExecution';
/** Marks a value a Task handler fills in: `{ [CONTEXT_MARKER]: 'Task.Token' }`. */
export const CONTEXT_MARKER = '__sandboxContext';
/** The members of a rewritten Task's Parameters. */
export const PAYLOAD = {
  parameters: '__parameters',
  timeoutSeconds: '__timeoutSeconds',
  heartbeatSeconds: '__heartbeatSeconds',
  input: '__input',
  seconds: '__seconds',
  timestamp: '__timestamp',
} as const;
/** The resource a Wait state is rewritten to. */
export const SANDBOX_WAIT_RESOURCE = 'arn:aws:states:::sandbox:wait';

/**
 * asl-validator builds a new Ajv and compiles its fifteen schemas on every call: about a third of a
 * second each time, and the same definitions come back again and again (a sandbox provisions the
 * same stacks; a test worker starts one sandbox after another). Its answer depends on nothing but
 * the definition, so the answers for the most recent definitions are kept, keyed by their JSON.
 */
const REMEMBERED_DEFINITIONS = 32;
const answers = new Map<string, readonly string[]>();

/** Returns the problems asl-validator finds (empty when the definition is valid). */
export const definitionProblems = (definition: unknown): string[] => {
  const key = JSON.stringify(definition) ?? 'undefined';
  let problems = answers.get(key);
  if (problems) answers.delete(key);
  else problems = validate(definition);
  // Most recently used last; the oldest goes first.
  answers.set(key, problems);
  if (answers.size > REMEMBERED_DEFINITIONS) answers.delete(answers.keys().next().value as string);
  return [...problems];
};

const validate = (definition: unknown): readonly string[] => {
  // The validator writes QueryLanguage into the object it checks.
  const { isValid, errorsText } = aslValidator(structuredClone(definition), { checkPaths: true, checkArn: true });
  if (isValid) return [];
  return errorsText('\n')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '');
};

export interface StateInfo {
  readonly name: string;
  readonly type: string;
  /** The state as deployed. */
  readonly original: JsonObject;
  /** The object the engine runs (its Catch is filled in at run time). */
  readonly engine: JsonObject;
}

export interface PreparedDefinition {
  readonly engineDefinition: StateMachineDefinition;
  /** Every state, including those in Parallel branches and Map iterators, by name. */
  readonly states: ReadonlyMap<string, StateInfo>;
  readonly timeoutSeconds?: number;
}

const isObject = (value: unknown): value is JsonObject =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

const CONTEXT_VALUES = new Set(['$$.Task.Token', '$$.State.Name', '$$.State.EnteredTime', '$$.State.RetryCount']);

/** `$$.Execution…` → `$$.SandboxExecution…` in a path or intrinsic. */
const rewriteContextPath = (path: string): string =>
  path.replace(/\$\$\.Execution\b/g, `$$$$.${EXECUTION_CONTEXT_KEY}`);

/**
 * Rewrites a payload template (Parameters, ResultSelector, ItemSelector): context paths, and in a
 * Task's Parameters the values only its handler knows become markers.
 */
const rewriteTemplate = (template: Json, stateName: string, inTaskParameters: boolean): Json => {
  if (Array.isArray(template)) return template.map((item) => rewriteTemplate(item, stateName, inTaskParameters));
  if (!isObject(template)) return template;
  const result: JsonObject = {};
  for (const [key, value] of Object.entries(template)) {
    if (key.endsWith('.$') && typeof value === 'string') {
      if (inTaskParameters && CONTEXT_VALUES.has(value)) {
        result[key.slice(0, -2)] = { [CONTEXT_MARKER]: value.slice(3) };
      } else if (value === '$$.State.Name') {
        result[key.slice(0, -2)] = stateName;
      } else {
        result[key] = rewriteContextPath(value);
      }
    } else {
      result[key] = rewriteTemplate(value, stateName, inTaskParameters);
    }
  }
  return result;
};

const PATH_FIELDS = new Set(['InputPath', 'OutputPath', 'ItemsPath', 'ErrorPath', 'CausePath', 'MaxConcurrencyPath']);

/** Choice rules: `Variable` and every `…Path` comparison may read the context. */
const rewriteChoiceRule = (rule: Json): Json => {
  if (!isObject(rule)) return rule;
  const result: JsonObject = {};
  for (const [key, value] of Object.entries(rule)) {
    if (typeof value === 'string' && (key === 'Variable' || key.endsWith('Path'))) {
      result[key] = rewriteContextPath(value);
    } else if (key === 'And' || key === 'Or') {
      result[key] = Array.isArray(value) ? value.map(rewriteChoiceRule) : value;
    } else if (key === 'Not') {
      result[key] = rewriteChoiceRule(value);
    } else {
      result[key] = value;
    }
  }
  return result;
};

/** Copies the fields every state keeps, with context paths rewritten. */
const commonFields = (state: JsonObject, name: string): JsonObject => {
  const result: JsonObject = {};
  for (const [key, value] of Object.entries(state)) {
    if (PATH_FIELDS.has(key) && typeof value === 'string') result[key] = rewriteContextPath(value);
    else if (key === 'ResultSelector' || key === 'ItemSelector') result[key] = rewriteTemplate(value, name, false);
    else if (key === 'Choices' && Array.isArray(value)) result[key] = value.map(rewriteChoiceRule);
    else result[key] = value;
  }
  return result;
};

/** A timeout far above any sandbox run, below what setTimeout can hold (the engine's own timer). */
const ENGINE_TASK_TIMEOUT_SECONDS = 2_000_000;

const rewriteTask = (state: JsonObject, name: string): JsonObject => {
  const {
    Parameters,
    Retry: _retry,
    TimeoutSeconds: _timeout,
    TimeoutSecondsPath,
    HeartbeatSeconds: _heartbeat,
    HeartbeatSecondsPath,
    Catch,
    ...rest
  } = state;
  const payload: JsonObject = {
    ...(Parameters === undefined
      ? { [`${PAYLOAD.parameters}.$`]: '$' }
      : { [PAYLOAD.parameters]: rewriteTemplate(Parameters, name, true) }),
    ...(typeof TimeoutSecondsPath === 'string'
      ? { [`${PAYLOAD.timeoutSeconds}.$`]: rewriteContextPath(TimeoutSecondsPath) }
      : {}),
    ...(typeof HeartbeatSecondsPath === 'string'
      ? { [`${PAYLOAD.heartbeatSeconds}.$`]: rewriteContextPath(HeartbeatSecondsPath) }
      : {}),
  };
  return {
    ...commonFields(rest, name),
    Parameters: payload,
    TimeoutSeconds: ENGINE_TASK_TIMEOUT_SECONDS,
    ...(Array.isArray(Catch) ? { Catch: Catch.map((c) => (isObject(c) ? { ...c, ErrorEquals: [] } : c)) } : {}),
  };
};

const rewriteWait = (state: JsonObject, name: string): JsonObject => {
  const { Seconds: _s, SecondsPath, Timestamp: _t, TimestampPath, Type: _type, ...rest } = state;
  return {
    ...commonFields(rest, name),
    Type: 'Task',
    Resource: SANDBOX_WAIT_RESOURCE,
    Parameters: {
      [`${PAYLOAD.input}.$`]: '$',
      ...(typeof SecondsPath === 'string' ? { [`${PAYLOAD.seconds}.$`]: rewriteContextPath(SecondsPath) } : {}),
      ...(typeof TimestampPath === 'string' ? { [`${PAYLOAD.timestamp}.$`]: rewriteContextPath(TimestampPath) } : {}),
    },
    TimeoutSeconds: ENGINE_TASK_TIMEOUT_SECONDS,
  };
};

const rewriteStates = (machine: JsonObject, states: Map<string, StateInfo>): JsonObject => {
  const result: JsonObject = {};
  const original = isObject(machine.States) ? machine.States : {};
  for (const [name, state] of Object.entries(original)) {
    if (!isObject(state)) continue;
    const type = String(state.Type);
    let engine: JsonObject;
    if (type === 'Task') engine = rewriteTask(state, name);
    else if (type === 'Wait') engine = rewriteWait(state, name);
    else if (type === 'Pass' || type === 'Parallel') {
      engine = commonFields(state, name);
      if (state.Parameters !== undefined) engine.Parameters = rewriteTemplate(state.Parameters, name, false);
      if (type === 'Parallel' && Array.isArray(state.Branches)) {
        engine.Branches = state.Branches.map((branch) => (isObject(branch) ? rewriteMachine(branch, states) : branch));
      }
    } else if (type === 'Map') {
      engine = commonFields(state, name);
      if (state.Parameters !== undefined) engine.Parameters = rewriteTemplate(state.Parameters, name, false);
      for (const key of ['Iterator', 'ItemProcessor'] as const) {
        const inner = state[key];
        if (isObject(inner)) engine[key] = rewriteMachine(inner, states);
      }
    } else {
      engine = commonFields(state, name);
    }
    states.set(name, { name, type, original: state, engine });
    result[name] = engine;
  }
  return result;
};

const rewriteMachine = (machine: JsonObject, states: Map<string, StateInfo>): JsonObject => {
  const { TimeoutSeconds: _timeout, States: _states, ...rest } = machine;
  return { ...rest, States: rewriteStates(machine, states) };
};

/** The definition as the engine runs it in the sandbox (a fresh copy per execution). */
export const prepareDefinition = (definition: JsonObject): PreparedDefinition => {
  const states = new Map<string, StateInfo>();
  const engineDefinition = rewriteMachine(structuredClone(definition), states) as unknown as StateMachineDefinition;
  const timeoutSeconds = definition.TimeoutSeconds;
  return {
    engineDefinition,
    states,
    ...(typeof timeoutSeconds === 'number' ? { timeoutSeconds } : {}),
  };
};

/** Replaces every context marker in a Task's resolved Parameters with its value. */
export const fillContextMarkers = (value: Json, context: Readonly<Record<string, Json>>): Json => {
  if (Array.isArray(value)) return value.map((item) => fillContextMarkers(item, context));
  if (!isObject(value)) return value;
  const marker = value[CONTEXT_MARKER];
  if (typeof marker === 'string' && Object.keys(value).length === 1) return context[marker] ?? null;
  return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, fillContextMarkers(item, context)]));
};
