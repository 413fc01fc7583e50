/**
 * The Automation API (JSON 1.1, `AmazonSSM.*`): StartAutomationExecution,
 * GetAutomationExecution, DescribeAutomationExecutions, DescribeAutomationStepExecutions and
 * StopAutomationExecution, in the SDK's shapes and with AWS's error codes.
 */
import { createHash, randomUUID } from 'node:crypto';
import { parse as parseYaml } from 'yaml';
import { RoleTrustError } from '../../../authz/sessions';
import { AwsError } from '../../../errors';
import {
  compact,
  epochSeconds,
  type Input,
  maxResults,
  optionalBoolean,
  optionalObject,
  optionalObjectList,
  optionalString,
  optionalStringList,
  page,
  pageStart,
  requiredString,
  validationError,
} from '../../../protocol/json';
import type { JsonAction, ServiceContext } from '../../../service';
import { findDocument, selectDocumentVersion } from '../documents';
import { automationCredentials, builtinValue, DOCUMENT_SNAPSHOTS_TABLE, engineFor } from './engine';
import { interpolate, referencesIn } from './interpolate';
import { EXECUTION_STATUSES, EXECUTIONS_TABLE, type ExecutionRecord, isTerminalStatus, type StepRecord } from './model';
import { ParameterError, parameterSpecs, resolveParameters } from './parameters';
import { toStringList } from './values';

const notFound = (id: string): AwsError =>
  new AwsError('AutomationExecutionNotFoundException', `Automation execution ${id} does not exist.`);

const invalidParameters = (message: string): AwsError =>
  new AwsError('InvalidAutomationExecutionParametersException', message);

const executionIn = (ctx: ServiceContext, id: string): ExecutionRecord => {
  const record = ctx.store.get<ExecutionRecord>(EXECUTIONS_TABLE, id);
  if (!record || record.region !== ctx.region) throw notFound(id);
  return record;
};

const readParameters = (input: Input): Record<string, string[]> => {
  const given = optionalObject(input, 'Parameters') ?? {};
  const parameters: Record<string, string[]> = {};
  for (const [name, values] of Object.entries(given)) {
    if (!Array.isArray(values) || values.some((value) => typeof value !== 'string')) {
      throw new AwsError('SerializationException', `Parameters.${name} must be a list of strings`);
    }
    parameters[name] = values as string[];
  }
  return parameters;
};

const parseDocument = (content: string, format: string): Record<string, unknown> =>
  (format === 'YAML' ? parseYaml(content) : JSON.parse(content)) as Record<string, unknown>;

/** Parameter values that are themselves `{{ }}` templates (defaults such as `Image_{{ global:DATE }}`). */
const expandTemplates = (ctx: ServiceContext, executionId: string, values: Record<string, unknown>): void => {
  const lookup = (name: string) => {
    const builtin = builtinValue(name, {
      executionId,
      account: ctx.account,
      region: ctx.region,
      nowMs: ctx.clock.nowMs(),
    });
    if (builtin.found) return builtin;
    if (name in values && referencesIn(values[name]).length === 0) return { found: true as const, value: values[name] };
    return { found: false as const };
  };
  for (const [name, value] of Object.entries(values)) {
    if (referencesIn(value).length === 0) continue;
    try {
      values[name] = interpolate(value, lookup);
    } catch (error) {
      throw invalidParameters(`Parameter "${name}": ${error instanceof Error ? error.message : String(error)}`);
    }
  }
};

/**
 * The role the document names in `assumeRole` (usually `{{ AutomationAssumeRole }}`), or
 * undefined when it names none or the parameter is empty: then the automation acts as its caller.
 */
const assumeRoleOf = (document: Record<string, unknown>, parameters: Record<string, unknown>): string | undefined => {
  if (typeof document.assumeRole !== 'string') return undefined;
  let role: unknown;
  try {
    role = interpolate(document.assumeRole, (name) =>
      name in parameters ? { found: true, value: parameters[name] } : { found: false },
    );
  } catch (error) {
    throw invalidParameters(`assumeRole: ${error instanceof Error ? error.message : String(error)}`);
  }
  return typeof role === 'string' && role.trim() !== '' ? role.trim() : undefined;
};

/**
 * What SSM answers when it cannot assume the automation's role (Systems Manager User Guide,
 * "Troubleshooting Systems Manager Automation", "Automation execution failed to start" → "Invalid
 * assume role").
 */
const ROLE_NOT_ASSUMABLE = 'The defined assume role is unable to be assumed.';

const startAutomationExecution: JsonAction = (input, ctx) => {
  const documentName = requiredString(input, 'DocumentName');
  const documentVersion = optionalString(input, 'DocumentVersion');
  const given = readParameters(input);
  const clientToken = optionalString(input, 'ClientToken');
  const mode = optionalString(input, 'Mode') ?? 'Auto';
  if (mode !== 'Auto') {
    throw validationError(`Mode ${mode} is not supported by the sandbox; it runs automations in Auto mode.`);
  }
  for (const member of ['Targets', 'TargetMaps', 'TargetLocations', 'TargetParameterName']) {
    if (input[member] !== undefined) {
      throw validationError(`${member} (rate control and multi-account runs) is not supported by the sandbox.`);
    }
  }
  const fingerprint = createHash('sha256')
    .update(JSON.stringify([documentName, documentVersion ?? '', given]))
    .digest('hex');
  if (clientToken !== undefined) {
    const earlier = [...ctx.store.table<ExecutionRecord>(EXECUTIONS_TABLE).values()].find(
      (record) => record.clientToken === clientToken && record.region === ctx.region,
    );
    if (earlier) {
      if (earlier.requestFingerprint !== fingerprint) {
        throw new AwsError(
          'IdempotentParameterMismatch',
          'The ClientToken was already used with different parameters.',
        );
      }
      return { AutomationExecutionId: earlier.executionId };
    }
  }

  const document = findDocument(ctx, documentName);
  if (document?.documentType !== 'Automation') {
    throw new AwsError(
      'AutomationDefinitionNotFoundException',
      document
        ? `Document ${documentName} is a ${document.documentType} document, not an Automation runbook.`
        : `Automation definition ${documentName} does not exist.`,
    );
  }
  let version: ReturnType<typeof selectDocumentVersion>;
  try {
    version = selectDocumentVersion(document, documentVersion);
  } catch {
    throw new AwsError(
      'AutomationDefinitionVersionNotFoundException',
      `Version ${documentVersion ?? '$DEFAULT'} of automation definition ${documentName} does not exist.`,
    );
  }
  const parsed = parseDocument(version.content, version.format);
  const executionId = randomUUID();
  let parameters: Record<string, unknown>;
  try {
    parameters = resolveParameters(parameterSpecs(parsed), given);
  } catch (error) {
    if (error instanceof ParameterError) throw invalidParameters(error.message);
    throw error;
  }
  expandTemplates(ctx, executionId, parameters);
  const assumeRole = assumeRoleOf(parsed, parameters);
  if (assumeRole !== undefined) {
    try {
      automationCredentials(ctx, { executionId, region: ctx.region, assumeRole });
    } catch (error) {
      if (error instanceof RoleTrustError) throw invalidParameters(ROLE_NOT_ASSUMABLE);
      throw error;
    }
  }

  const tags = Object.fromEntries(
    (optionalObjectList(input, 'Tags') ?? []).map((tag) => [requiredString(tag, 'Key'), requiredString(tag, 'Value')]),
  );
  const record: ExecutionRecord = {
    executionId,
    region: ctx.region,
    documentName: document.name,
    documentVersion: version.documentVersion,
    parameters,
    // A role session shows as itself; the sandbox administrator as it always has.
    executedBy:
      ctx.caller.kind === 'role-session'
        ? ctx.caller.principal.arn
        : `arn:aws:sts::${ctx.account}:assumed-role/sandbox/sandbox`,
    ...(assumeRole === undefined ? {} : { assumeRole }),
    ...(assumeRole !== undefined || ctx.accessKeyId === undefined ? {} : { startedWithKey: ctx.accessKeyId }),
    mode: 'Auto',
    ...(clientToken === undefined ? {} : { clientToken }),
    requestFingerprint: fingerprint,
    tags,
    status: 'Pending',
    startTime: ctx.clock.now().toISOString(),
    steps: [],
  };
  ctx.transact((tx) => {
    tx.put(DOCUMENT_SNAPSHOTS_TABLE, executionId, parsed);
    tx.put(EXECUTIONS_TABLE, executionId, record);
  });
  engineFor(ctx).launch(structuredClone(record), parsed);
  return { AutomationExecutionId: executionId };
};

// ---------- views ----------

const renderStep = (step: StepRecord) =>
  compact({
    StepName: step.stepName,
    Action: step.action,
    TimeoutSeconds: step.timeoutSeconds,
    OnFailure: step.onFailure,
    MaxAttempts: step.maxAttempts,
    ExecutionStartTime: step.startTime === undefined ? undefined : epochSeconds(step.startTime),
    ExecutionEndTime: step.endTime === undefined ? undefined : epochSeconds(step.endTime),
    StepStatus: step.status,
    ResponseCode: step.responseCode,
    Inputs: Object.fromEntries(Object.entries(step.inputs).map(([key, value]) => [key, JSON.stringify(value)])),
    Outputs:
      Object.keys(step.outputs).length === 0
        ? undefined
        : Object.fromEntries(Object.entries(step.outputs).map(([key, output]) => [key, toStringList(output.value)])),
    Response: step.response,
    FailureMessage: step.failureMessage,
    FailureDetails: step.failureDetails,
    StepExecutionId: step.stepExecutionId,
    OverriddenParameters: {},
    IsEnd: step.isEnd,
    NextStep: step.nextStep,
    IsCritical: step.isCritical,
    ValidNextSteps: step.validNextSteps,
  });

const parametersView = (record: ExecutionRecord): Record<string, string[]> =>
  Object.fromEntries(Object.entries(record.parameters).map(([name, value]) => [name, toStringList(value)]));

const progress = (record: ExecutionRecord) => ({
  TotalSteps: record.steps.length,
  SuccessSteps: record.steps.filter((step) => step.status === 'Success').length,
  FailedSteps: record.steps.filter((step) => step.status === 'Failed').length,
  CancelledSteps: record.steps.filter((step) => step.status === 'Cancelled').length,
  TimedOutSteps: record.steps.filter((step) => step.status === 'TimedOut').length,
});

const getAutomationExecution: JsonAction = (input, ctx) => {
  const record = executionIn(ctx, requiredString(input, 'AutomationExecutionId'));
  return {
    AutomationExecution: compact({
      AutomationExecutionId: record.executionId,
      DocumentName: record.documentName,
      DocumentVersion: record.documentVersion,
      ExecutionStartTime: epochSeconds(record.startTime),
      ExecutionEndTime: record.endTime === undefined ? undefined : epochSeconds(record.endTime),
      AutomationExecutionStatus: record.status,
      StepExecutions: record.steps.map(renderStep),
      StepExecutionsTruncated: false,
      Parameters: parametersView(record),
      Outputs: record.outputs ?? {},
      FailureMessage: record.failureMessage,
      Mode: record.mode,
      ExecutedBy: record.executedBy,
      CurrentStepName: record.currentStepName,
      CurrentAction: record.currentAction,
      ProgressCounters: progress(record),
    }),
  };
};

const metadata = (record: ExecutionRecord) =>
  compact({
    AutomationExecutionId: record.executionId,
    DocumentName: record.documentName,
    DocumentVersion: record.documentVersion,
    AutomationExecutionStatus: record.status,
    ExecutionStartTime: epochSeconds(record.startTime),
    ExecutionEndTime: record.endTime === undefined ? undefined : epochSeconds(record.endTime),
    ExecutedBy: record.executedBy,
    LogFile: '',
    Outputs: record.outputs ?? {},
    Mode: record.mode,
    CurrentStepName: record.currentStepName,
    CurrentAction: record.currentAction,
    FailureMessage: record.failureMessage,
    AutomationType: 'Local',
  });

// ---------- filters ----------

interface Filter {
  readonly key: string;
  readonly values: readonly string[];
}

const readFilters = (input: Input, keys: readonly string[]): Filter[] =>
  (optionalObjectList(input, 'Filters') ?? []).map((filter) => {
    const key = requiredString(filter, 'Key');
    const values = optionalStringList(filter, 'Values') ?? [];
    if (!keys.includes(key)) throw new AwsError('InvalidFilterKey', `The filter key ${key} is not valid.`);
    if (values.length < 1 || values.length > 10) {
      throw new AwsError('InvalidFilterValue', `The filter ${key} takes between 1 and 10 values.`);
    }
    return { key, values };
  });

const timeFilter = (filter: Filter): number => {
  const ms = Date.parse(filter.values[0] as string);
  if (Number.isNaN(ms)) {
    throw new AwsError('InvalidFilterValue', `The ${filter.key} value ${filter.values[0]} is not a valid time.`);
  }
  return ms;
};

const EXECUTION_FILTER_KEYS = [
  'DocumentNamePrefix',
  'ExecutionStatus',
  'ExecutionId',
  'ParentExecutionId',
  'CurrentAction',
  'StartTimeBefore',
  'StartTimeAfter',
  'AutomationType',
  'TagKey',
  'TargetResourceGroup',
  'AutomationSubtype',
  'OpsItemId',
];

const matchesExecution = (record: ExecutionRecord, filter: Filter): boolean => {
  const { key, values } = filter;
  switch (key) {
    case 'DocumentNamePrefix':
      return values.some((value) => record.documentName.startsWith(value));
    case 'ExecutionStatus':
      return values.includes(record.status);
    case 'ExecutionId':
      return values.includes(record.executionId);
    case 'CurrentAction':
      return record.currentAction !== undefined && values.includes(record.currentAction);
    case 'StartTimeBefore':
      return Date.parse(record.startTime) <= timeFilter(filter);
    case 'StartTimeAfter':
      return Date.parse(record.startTime) >= timeFilter(filter);
    case 'AutomationType':
      return values.includes('Local');
    case 'TagKey':
      return values.some((value) => value in record.tags);
    default:
      return false;
  }
};

const describeAutomationExecutions: JsonAction = (input, ctx) => {
  const filters = readFilters(input, EXECUTION_FILTER_KEYS);
  for (const filter of filters) {
    if (filter.key === 'ExecutionStatus') {
      const bad = filter.values.find((value) => !EXECUTION_STATUSES.includes(value));
      if (bad) throw new AwsError('InvalidFilterValue', `The ExecutionStatus value ${bad} is not valid.`);
    }
    if (filter.key.startsWith('StartTime')) timeFilter(filter);
  }
  const size = maxResults(input, 1, 50, 50);
  const start = pageStart(input);
  const matching = [...ctx.store.table<ExecutionRecord>(EXECUTIONS_TABLE).values()]
    .filter((record) => record.region === ctx.region && filters.every((filter) => matchesExecution(record, filter)))
    .sort((a, b) => Date.parse(b.startTime) - Date.parse(a.startTime) || (a.executionId < b.executionId ? -1 : 1));
  const result = page(matching, start, size);
  return {
    AutomationExecutionMetadataList: result.items.map(metadata),
    ...(result.nextToken ? { NextToken: result.nextToken } : {}),
  };
};

const STEP_FILTER_KEYS = [
  'StartTimeBefore',
  'StartTimeAfter',
  'StepExecutionStatus',
  'StepExecutionId',
  'StepName',
  'Action',
  'ParentStepExecutionId',
  'ParentStepIteration',
  'ParentStepIteratorValue',
];

const matchesStep = (step: StepRecord, filter: Filter): boolean => {
  const { key, values } = filter;
  switch (key) {
    case 'StepExecutionStatus':
      return values.includes(step.status);
    case 'StepExecutionId':
      return values.includes(step.stepExecutionId);
    case 'StepName':
      return values.includes(step.stepName);
    case 'Action':
      return values.includes(step.action);
    case 'StartTimeBefore':
      return step.startTime !== undefined && Date.parse(step.startTime) <= timeFilter(filter);
    case 'StartTimeAfter':
      return step.startTime !== undefined && Date.parse(step.startTime) >= timeFilter(filter);
    default:
      return false;
  }
};

const describeAutomationStepExecutions: JsonAction = (input, ctx) => {
  const record = executionIn(ctx, requiredString(input, 'AutomationExecutionId'));
  const filters = readFilters(input, STEP_FILTER_KEYS);
  for (const filter of filters) if (filter.key.startsWith('StartTime')) timeFilter(filter);
  const size = maxResults(input, 1, 50, 50);
  const start = pageStart(input);
  const steps = record.steps.filter((step) => filters.every((filter) => matchesStep(step, filter)));
  if (optionalBoolean(input, 'ReverseOrder')) steps.reverse();
  const result = page(steps, start, size);
  return {
    StepExecutions: result.items.map(renderStep),
    ...(result.nextToken ? { NextToken: result.nextToken } : {}),
  };
};

const stopAutomationExecution: JsonAction = (input, ctx) => {
  const id = requiredString(input, 'AutomationExecutionId');
  const type = optionalString(input, 'Type') ?? 'Cancel';
  if (type !== 'Cancel' && type !== 'Complete') {
    throw validationError(
      `1 validation error detected: Value '${type}' at 'type' failed to satisfy constraint: Member must satisfy enum value set: [Complete, Cancel]`,
    );
  }
  const record = executionIn(ctx, id);
  if (isTerminalStatus(record.status) || !engineFor(ctx).requestStop(id, type)) {
    throw new AwsError(
      'InvalidAutomationStatusUpdateException',
      `Automation execution ${id} is ${record.status} and can no longer be stopped.`,
    );
  }
  return {};
};

export const automationActions: Readonly<Record<string, JsonAction>> = {
  StartAutomationExecution: startAutomationExecution,
  GetAutomationExecution: getAutomationExecution,
  DescribeAutomationExecutions: describeAutomationExecutions,
  DescribeAutomationStepExecutions: describeAutomationStepExecutions,
  StopAutomationExecution: stopAutomationExecution,
};
