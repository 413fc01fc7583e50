/**
 * A structural checker for SSM Automation documents (schemaVersion 0.3), pure and without I/O.
 *
 * Besides the shape (known actions, unique step names, existing jump targets, resolvable
 * `{{ }}` references), it enforces the builder-leak rule: once a step has launched an instance,
 * every way the automation can end must first pass through a step that terminates it. AWS's own
 * AMI documents end with `onFailure: Abort` after launching and leave the builder running.
 *
 * Every problem names the step (or section) and the field, so a failing test reads as a fix.
 */

/** The actions SSM Automation runs (Systems Manager user guide, "Automation actions reference"). */
export const AUTOMATION_ACTIONS: readonly string[] = [
  'aws:approve',
  'aws:assertAwsResourceProperty',
  'aws:branch',
  'aws:changeInstanceState',
  'aws:copyImage',
  'aws:createImage',
  'aws:createStack',
  'aws:createTags',
  'aws:deleteImage',
  'aws:deleteStack',
  'aws:executeAutomation',
  'aws:executeAwsApi',
  'aws:executeScript',
  'aws:executeStateMachine',
  'aws:invokeLambdaFunction',
  'aws:invokeWebhook',
  'aws:loop',
  'aws:pause',
  'aws:runCommand',
  'aws:runInstances',
  'aws:sleep',
  'aws:updateVariable',
  'aws:waitForAwsResourceProperty',
];

export const PARAMETER_TYPES: readonly string[] = [
  'String',
  'StringList',
  'Integer',
  'Boolean',
  'MapList',
  'StringMap',
];

/**
 * Outputs an action provides without an `outputs` section. Actions missing here either have
 * none or (marked `undefined`) were not pinned down, and any output name is accepted for them.
 */
const BUILT_IN_OUTPUTS: Readonly<Record<string, readonly string[] | undefined>> = {
  'aws:approve': ['ApprovalStatus', 'ApproverDecisions', 'Approvers'],
  'aws:copyImage': ['ImageId', 'ImageState'],
  'aws:createImage': ['ImageId', 'ImageState'],
  'aws:createStack': ['StackId', 'StackStatus', 'StackStatusReason'],
  'aws:executeAutomation': ['Output', 'ExecutionId', 'Status'],
  'aws:executeScript': ['Payload'],
  'aws:executeStateMachine': undefined,
  'aws:invokeLambdaFunction': ['StatusCode', 'FunctionError', 'LogResult', 'Payload'],
  'aws:invokeWebhook': ['Response', 'ResponseCode'],
  'aws:loop': undefined,
  'aws:runCommand': ['CommandId', 'Status', 'ResponseCode', 'Output'],
  'aws:runInstances': ['InstanceIds', 'InstanceStates'],
};

type Mapping = Record<string, unknown>;

interface Step {
  readonly name: string;
  readonly index: number;
  readonly action: string;
  readonly raw: Mapping;
}

/** One way out of a step: to another step, or (`to: null`) the end of the automation. */
interface Exit {
  readonly kind: 'success' | 'failure' | 'cancel';
  readonly label: string;
  readonly to: string | null;
}

const REFERENCE = /\{\{\s*([^{}]*?)\s*\}\}/g;

const isMapping = (value: unknown): value is Mapping =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

const str = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);

const same = (a: unknown, b: string): boolean => typeof a === 'string' && a.toLowerCase() === b.toLowerCase();

/** Returns the problems of an Automation document; an empty list means it passed every check. */
export const checkAutomationDocument = (doc: unknown): string[] => {
  if (!isMapping(doc)) return ['document: expected a mapping with schemaVersion, parameters and mainSteps'];
  const problems: string[] = [];

  if (doc.schemaVersion !== '0.3') {
    problems.push(`schemaVersion: expected '0.3' (a string), got ${JSON.stringify(doc.schemaVersion)}`);
  }

  const parameters = checkParameters(doc.parameters, problems);
  const variables = new Set(isMapping(doc.variables) ? Object.keys(doc.variables) : []);

  const steps = readSteps(doc.mainSteps, problems);
  const byName = new Map<string, Step>();
  for (const step of steps) {
    if (byName.has(step.name)) {
      problems.push(
        `step '${step.name}': name: more than one step is called '${step.name}'; step names must be unique`,
      );
    } else {
      byName.set(step.name, step);
    }
  }

  const context: ReferenceContext = { parameters, variables, byName };
  if (doc.assumeRole !== undefined) {
    checkReferences(doc.assumeRole, 'assumeRole', Number.POSITIVE_INFINITY, context, problems);
  }
  for (const step of steps) {
    checkStep(step, byName, problems);
    checkReferences(step.raw.inputs, `step '${step.name}': inputs`, step.index, context, problems);
  }
  checkOutputs(doc.outputs, context, problems);
  problems.push(...findBuilderLeaks(steps, byName));
  return problems;
};

const checkParameters = (value: unknown, problems: string[]): Set<string> => {
  if (value === undefined) return new Set();
  if (!isMapping(value)) {
    problems.push('parameters: expected a mapping of parameter name to { type, description }');
    return new Set();
  }
  for (const [name, definition] of Object.entries(value)) {
    const type = isMapping(definition) ? definition.type : undefined;
    if (typeof type !== 'string' || !PARAMETER_TYPES.includes(type)) {
      problems.push(`parameters.${name}: type ${JSON.stringify(type)} is not one of ${PARAMETER_TYPES.join(', ')}`);
    }
  }
  return new Set(Object.keys(value));
};

const readSteps = (value: unknown, problems: string[]): Step[] => {
  if (!Array.isArray(value) || value.length === 0) {
    problems.push('mainSteps: expected a non-empty list of steps');
    return [];
  }
  const steps: Step[] = [];
  value.forEach((raw: unknown, index) => {
    const name = isMapping(raw) ? str(raw.name) : undefined;
    if (!isMapping(raw) || !name) {
      problems.push(`mainSteps[${index}]: name: every step needs a string name`);
      return;
    }
    steps.push({ name, index, action: str(raw.action) ?? '', raw });
  });
  return steps;
};

const checkStep = (step: Step, byName: ReadonlyMap<string, Step>, problems: string[]): void => {
  const at = `step '${step.name}'`;
  const { raw } = step;
  if (!AUTOMATION_ACTIONS.includes(step.action)) {
    problems.push(`${at}: action: ${JSON.stringify(raw.action)} is not an SSM Automation action`);
  }
  if (!isMapping(raw.inputs)) problems.push(`${at}: inputs: expected a mapping`);
  for (const field of ['maxAttempts', 'timeoutSeconds'] as const) {
    const value = raw[field];
    if (value !== undefined && !(Number.isInteger(value) && (value as number) > 0)) {
      problems.push(`${at}: ${field}: expected a positive integer, got ${JSON.stringify(value)}`);
    }
  }
  if (raw.isEnd !== undefined && typeof raw.isEnd !== 'boolean') {
    problems.push(`${at}: isEnd: expected true or false`);
  }

  const target = (field: string, name: string): void => {
    if (!byName.has(name)) problems.push(`${at}: ${field}: '${name}' names no step`);
  };
  if (raw.nextStep !== undefined) {
    const next = str(raw.nextStep);
    if (next) target('nextStep', next);
    else problems.push(`${at}: nextStep: expected a step name`);
  }
  for (const field of ['onFailure', 'onCancel'] as const) {
    const value = raw[field];
    if (value === undefined) continue;
    const allowed = field === 'onFailure' ? ['Abort', 'Continue'] : ['Abort'];
    if (typeof value === 'string' && value.startsWith('step:')) target(field, value.slice('step:'.length));
    else if (typeof value !== 'string' || !allowed.includes(value)) {
      problems.push(`${at}: ${field}: ${JSON.stringify(value)} is not ${[...allowed, 'step:<name>'].join(', ')}`);
    }
  }
  if (step.action === 'aws:branch') {
    const inputs = isMapping(raw.inputs) ? raw.inputs : {};
    const choices = inputs.Choices;
    if (!Array.isArray(choices) || choices.length === 0) {
      problems.push(`${at}: inputs.Choices: an aws:branch step needs at least one choice`);
    } else {
      choices.forEach((choice: unknown, i) => {
        const next = isMapping(choice) ? str(choice.NextStep) : undefined;
        if (next) target(`inputs.Choices[${i}].NextStep`, next);
        else problems.push(`${at}: inputs.Choices[${i}].NextStep: every choice needs a step name`);
      });
    }
    if (inputs.Default !== undefined) {
      const fallback = str(inputs.Default);
      if (fallback) target('inputs.Default', fallback);
      else problems.push(`${at}: inputs.Default: expected a step name`);
    }
  }
};

interface ReferenceContext {
  readonly parameters: ReadonlySet<string>;
  readonly variables: ReadonlySet<string>;
  readonly byName: ReadonlyMap<string, Step>;
}

/** Why a `{{ reference }}` seen before step `index` cannot resolve, or undefined when it can. */
const unresolved = (reference: string, index: number, context: ReferenceContext): string | undefined => {
  const colon = reference.indexOf(':');
  if (colon > 0) {
    const [scope, name] = [reference.slice(0, colon), reference.slice(colon + 1)];
    if (scope === 'global' && name !== '') return undefined;
    if (scope === 'automation' && name === 'EXECUTION_ID') return undefined;
    if (scope === 'variable' && context.variables.has(name)) return undefined;
    return 'is not a known system variable (automation:EXECUTION_ID, global:*) or declared variable';
  }
  const dot = reference.indexOf('.');
  if (dot < 0) {
    return context.parameters.has(reference) ? undefined : 'is not a declared parameter';
  }
  const [stepName, output] = [reference.slice(0, dot), reference.slice(dot + 1)];
  const step = context.byName.get(stepName);
  if (!step) return `names no step '${stepName}' (and is not a declared parameter)`;
  if (step.index >= index) return `uses the output of '${stepName}', which does not run earlier`;
  const declared = Array.isArray(step.raw.outputs)
    ? step.raw.outputs.map((o: unknown) => (isMapping(o) ? str(o.Name) : undefined))
    : [];
  const builtIn = BUILT_IN_OUTPUTS[step.action];
  if (step.action in BUILT_IN_OUTPUTS && builtIn === undefined) return undefined;
  if (declared.includes(output) || builtIn?.includes(output)) return undefined;
  return `names no output '${output}' of step '${stepName}'`;
};

const checkReferences = (
  value: unknown,
  path: string,
  index: number,
  context: ReferenceContext,
  problems: string[],
): void => {
  if (typeof value === 'string') {
    for (const match of value.matchAll(REFERENCE)) {
      const reference = match[1] ?? '';
      const why = reference === '' ? 'is empty' : unresolved(reference, index, context);
      if (why) problems.push(`${path}: {{ ${reference} }} ${why}`);
    }
  } else if (Array.isArray(value)) {
    value.forEach((item: unknown, i) => {
      checkReferences(item, `${path}[${i}]`, index, context, problems);
    });
  } else if (isMapping(value)) {
    for (const [key, item] of Object.entries(value)) checkReferences(item, `${path}.${key}`, index, context, problems);
  }
};

const checkOutputs = (value: unknown, context: ReferenceContext, problems: string[]): void => {
  if (value === undefined) return;
  if (!Array.isArray(value)) {
    problems.push("outputs: expected a list of '<step>.<output>' names");
    return;
  }
  value.forEach((entry: unknown, i) => {
    const reference = str(entry);
    const why =
      reference?.includes('.') === true
        ? unresolved(reference, Number.POSITIVE_INFINITY, context)
        : "is not of the form '<step>.<output>'";
    if (why) problems.push(`outputs[${i}]: ${JSON.stringify(entry)} ${why}`);
  });
};

/** The step that launches an instance: aws:runInstances, or executeAwsApi ec2 RunInstances. */
export const isLaunchStep = (step: { readonly action?: unknown; readonly inputs?: unknown }): boolean => {
  if (step.action === 'aws:runInstances') return true;
  const inputs = isMapping(step.inputs) ? step.inputs : {};
  return step.action === 'aws:executeAwsApi' && same(inputs.Service, 'ec2') && same(inputs.Api, 'RunInstances');
};

/** A step that terminates instances (assert-only changeInstanceState does not count). */
export const isTerminateStep = (step: { readonly action?: unknown; readonly inputs?: unknown }): boolean => {
  const inputs = isMapping(step.inputs) ? step.inputs : {};
  if (step.action === 'aws:changeInstanceState') {
    return same(inputs.DesiredState, 'terminated') && inputs.CheckStateOnly !== true;
  }
  return step.action === 'aws:executeAwsApi' && same(inputs.Service, 'ec2') && same(inputs.Api, 'TerminateInstances');
};

/** Where a step goes when it does not jump: its nextStep, the step after it, or the end. */
const onward = (step: Step, steps: readonly Step[], how: string): { to: string } | { end: string } => {
  if (step.raw.isEnd === true) return { end: `${how} isEnd: true` };
  const next = str(step.raw.nextStep);
  if (next) return { to: next };
  const following = steps[step.index + 1];
  return following ? { to: following.name } : { end: `${how} it falls off the last step` };
};

const exitsOf = (step: Step, steps: readonly Step[]): Exit[] => {
  const exits: Exit[] = [];
  const add = (kind: Exit['kind'], route: { to: string } | { end: string }): void => {
    exits.push('to' in route ? { kind, label: route.to, to: route.to } : { kind, label: route.end, to: null });
  };

  const inputs = isMapping(step.raw.inputs) ? step.raw.inputs : {};
  if (step.action === 'aws:branch') {
    const choices = Array.isArray(inputs.Choices) ? inputs.Choices : [];
    for (const choice of choices) {
      const next = isMapping(choice) ? str(choice.NextStep) : undefined;
      if (next) add('success', { to: next });
    }
    const fallback = str(inputs.Default);
    add('success', fallback ? { to: fallback } : onward(step, steps, 'when no choice matches (no Default),'));
  } else {
    add('success', onward(step, steps, 'on success'));
  }

  const onFailure = step.raw.onFailure;
  if (onFailure === undefined) add('failure', { end: 'onFailure is unset, so a failure aborts' });
  else if (onFailure === 'Abort') add('failure', { end: 'onFailure: Abort' });
  else if (onFailure === 'Continue') add('failure', onward(step, steps, 'onFailure: Continue, then'));
  else if (typeof onFailure === 'string' && onFailure.startsWith('step:')) {
    add('failure', { to: onFailure.slice('step:'.length) });
  }

  const onCancel = step.raw.onCancel;
  if (onCancel === undefined) add('cancel', { end: 'onCancel is unset, so a cancel aborts' });
  else if (onCancel === 'Abort') add('cancel', { end: 'onCancel: Abort' });
  else if (typeof onCancel === 'string' && onCancel.startsWith('step:')) {
    add('cancel', { to: onCancel.slice('step:'.length) });
  }
  return exits;
};

/**
 * Breadth-first over every step reachable after each launch (success, failure, cancel and branch
 * edges), stopping at terminating steps: any exit that ends the automation from a step on the
 * way is a path that leaves the builder running.
 */
const findBuilderLeaks = (steps: readonly Step[], byName: ReadonlyMap<string, Step>): string[] => {
  const problems = new Set<string>();
  for (const launch of steps.filter((s) => isLaunchStep(s.raw))) {
    const leak = (step: Step, exit: Exit): void => {
      problems.add(
        `step '${step.name}': ${exit.label}, which ends the automation without terminating the instance launched by '${launch.name}'. Fix: route this exit through a step that terminates it`,
      );
    };
    const queue: Step[] = [];
    const seen = new Set<string>();
    const visit = (name: string): void => {
      const step = byName.get(name);
      if (step && !seen.has(name)) {
        seen.add(name);
        queue.push(step);
      }
    };
    // The launch itself: only what happens after it succeeded matters; a failed launch made nothing.
    for (const exit of exitsOf(launch, steps).filter((e) => e.kind === 'success')) {
      if (exit.to === null) leak(launch, exit);
      else visit(exit.to);
    }
    for (let step = queue.shift(); step; step = queue.shift()) {
      if (isTerminateStep(step.raw)) continue;
      for (const exit of exitsOf(step, steps)) {
        if (exit.to === null) leak(step, exit);
        else visit(exit.to);
      }
    }
  }
  return [...problems];
};
