/**
 * Step Functions (JSON 1.0, `AWSStepFunctions.<Action>`, signing name `states`): state machines
 * validated with asl-validator, STANDARD executions run by aws-local-stepfunctions on the sandbox
 * clock (see runner.ts), their history, and task-token callbacks.
 */
import { randomUUID } from 'node:crypto';
import { RoleTrustError } from '../../authz/sessions';
import { AwsError } from '../../errors';
import {
  type Input,
  maxResults,
  optionalBoolean,
  optionalObjectList,
  optionalString,
  page,
  pageStart,
  requiredString,
} from '../../protocol/json';
import { callableServices } from '../../runtime';
import type { JsonAction, JsonService, ServiceContext } from '../../service';
import { definitionProblems, type JsonObject } from './definition';
import { parseResource } from './integrations';
import {
  EXECUTIONS_TABLE,
  type ExecutionRecord,
  epochSeconds,
  executionArn,
  HISTORY_TABLE,
  type HistoryEvent,
  historyId,
  MACHINES_TABLE,
  type MachineRecord,
  machineArn,
  machineCredentials,
  ROLE_NOT_ASSUMABLE,
  requireExecution,
  requireMachine,
  requireMachineArn,
  requireValidName,
  TASKS_TABLE,
  type TaskRecord,
} from './model';
import { engineFor, isSandboxToken, stopClosedEngines } from './runner';
import { TaskError } from './task-errors';

const MAX_PAYLOAD_BYTES = 256 * 1024;

const invalidDefinition = (problems: readonly string[]): AwsError =>
  new AwsError('InvalidDefinition', `Invalid State Machine Definition: '${problems.join(', ')}'`);

const collectResources = (machine: unknown, found: string[] = []): string[] => {
  if (Array.isArray(machine)) {
    for (const item of machine) collectResources(item, found);
  } else if (machine && typeof machine === 'object') {
    const record = machine as Record<string, unknown>;
    if (record.Type === 'Task' && typeof record.Resource === 'string') found.push(record.Resource);
    for (const value of Object.values(record)) collectResources(value, found);
  }
  return found;
};

/** Parses and validates a definition as CreateStateMachine does; returns it parsed. */
const readDefinition = (text: string): JsonObject => {
  let definition: unknown;
  try {
    definition = JSON.parse(text);
  } catch (error) {
    throw invalidDefinition([`INVALID_JSON_DESCRIPTION: ${(error as Error).message}`]);
  }
  if (!definition || typeof definition !== 'object' || Array.isArray(definition)) {
    throw invalidDefinition(['SCHEMA_VALIDATION_FAILED: the definition must be a JSON object']);
  }
  const problems = definitionProblems(definition);
  if (problems.length > 0) throw invalidDefinition(problems);
  const services = new Set(callableServices());
  for (const resource of collectResources((definition as JsonObject).States)) {
    const parsed = parseResource(resource);
    const sdkService = parsed?.integration.kind === 'aws-sdk' ? parsed.integration.service : undefined;
    if (!parsed || (sdkService !== undefined && !services.has(sdkService))) {
      throw invalidDefinition([`SCHEMA_VALIDATION_FAILED: The resource provided ${resource} is not recognized.`]);
    }
  }
  return definition as JsonObject;
};

const requireJson = (text: string, code: string, what: string): void => {
  if (Buffer.byteLength(text, 'utf8') > MAX_PAYLOAD_BYTES) {
    throw new AwsError(code, `${what} exceeds the maximum size of ${MAX_PAYLOAD_BYTES} bytes`);
  }
  try {
    JSON.parse(text);
  } catch {
    throw new AwsError(code, `Invalid ${what}: the value is not valid JSON`);
  }
};

const tagsOf = (input: Input): { key: string; value: string }[] =>
  (optionalObjectList(input, 'tags') ?? []).map((tag) => ({
    key: requiredString(tag, 'key'),
    value: optionalString(tag, 'value') ?? '',
  }));

/** Step Functions checks when a role is given that it may assume it (AccessDeniedException otherwise). */
const requireAssumable = (ctx: ServiceContext, arn: string, roleArn: string): void => {
  try {
    machineCredentials(ctx, { arn, roleArn });
  } catch (error) {
    if (error instanceof RoleTrustError) throw new AwsError('AccessDeniedException', ROLE_NOT_ASSUMABLE);
    throw error;
  }
};

const createStateMachine: JsonAction = (input, ctx) => {
  const name = requiredString(input, 'name');
  const definition = requiredString(input, 'definition');
  const roleArn = requiredString(input, 'roleArn');
  const type = optionalString(input, 'type') ?? 'STANDARD';
  requireValidName(name);
  if (type !== 'STANDARD' && type !== 'EXPRESS') {
    throw new AwsError('ValidationException', `Value '${type}' at 'type' failed to satisfy constraint`);
  }
  if (!roleArn.startsWith('arn:')) throw new AwsError('InvalidArn', `Invalid Arn: '${roleArn}'`);
  readDefinition(definition);
  const arn = machineArn(ctx, name);
  const existing = ctx.store.get<MachineRecord>(MACHINES_TABLE, arn);
  if (existing) {
    if (existing.definition === definition && existing.roleArn === roleArn && existing.type === type) {
      return { stateMachineArn: arn, creationDate: epochSeconds(existing.creationDate) };
    }
    throw new AwsError('StateMachineAlreadyExists', `State Machine Already Exists: '${arn}'`);
  }
  requireAssumable(ctx, arn, roleArn);
  const machine: MachineRecord = {
    arn,
    name,
    type,
    definition,
    roleArn,
    creationDate: ctx.clock.now().toISOString(),
    tags: tagsOf(input),
  };
  ctx.transact((tx) => tx.put(MACHINES_TABLE, arn, machine));
  return { stateMachineArn: arn, creationDate: epochSeconds(machine.creationDate) };
};

const updateStateMachine: JsonAction = (input, ctx) => {
  const machine = requireMachine(ctx, requiredString(input, 'stateMachineArn'));
  const definition = optionalString(input, 'definition');
  const roleArn = optionalString(input, 'roleArn');
  if (definition === undefined && roleArn === undefined) {
    throw new AwsError('MissingRequiredParameter', 'Either the definition or the roleArn must be specified');
  }
  if (definition !== undefined) readDefinition(definition);
  if (roleArn !== undefined && !roleArn.startsWith('arn:'))
    throw new AwsError('InvalidArn', `Invalid Arn: '${roleArn}'`);
  if (roleArn !== undefined) requireAssumable(ctx, machine.arn, roleArn);
  const updateDate = ctx.clock.now().toISOString();
  ctx.transact((tx) =>
    tx.put(MACHINES_TABLE, machine.arn, {
      ...machine,
      ...(definition === undefined ? {} : { definition }),
      ...(roleArn === undefined ? {} : { roleArn }),
      updateDate,
    }),
  );
  return { updateDate: epochSeconds(updateDate), revisionId: randomUUID() };
};

const describeStateMachine: JsonAction = (input, ctx) => {
  const machine = requireMachine(ctx, requiredString(input, 'stateMachineArn'));
  return {
    stateMachineArn: machine.arn,
    name: machine.name,
    status: 'ACTIVE',
    definition: machine.definition,
    roleArn: machine.roleArn,
    type: machine.type,
    creationDate: epochSeconds(machine.creationDate),
    loggingConfiguration: { level: 'OFF', includeExecutionData: false },
    tracingConfiguration: { enabled: false },
  };
};

const listStateMachines: JsonAction = (input, ctx) => {
  const size = maxResults({ MaxResults: input.maxResults }, 1, 1000, 100);
  const start = pageStart({ NextToken: input.nextToken }, 'InvalidToken');
  const machines = [...ctx.store.table<MachineRecord>(MACHINES_TABLE).values()]
    .filter((machine) => machine.arn.split(':')[3] === ctx.region)
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const result = page(machines, start, size);
  return {
    stateMachines: result.items.map((machine) => ({
      stateMachineArn: machine.arn,
      name: machine.name,
      type: machine.type,
      creationDate: epochSeconds(machine.creationDate),
    })),
    ...(result.nextToken ? { nextToken: result.nextToken } : {}),
  };
};

const deleteStateMachine: JsonAction = (input, ctx) => {
  // Deleting a machine that does not exist succeeds, as on AWS; its executions stay describable.
  const arn = requiredString(input, 'stateMachineArn');
  requireMachineArn(arn);
  if (ctx.store.get<MachineRecord>(MACHINES_TABLE, arn)) ctx.transact((tx) => tx.delete(MACHINES_TABLE, arn));
  return {};
};

const startExecution: JsonAction = (input, ctx) => {
  const machine = requireMachine(ctx, requiredString(input, 'stateMachineArn'));
  const name = optionalString(input, 'name') ?? randomUUID();
  requireValidName(name);
  const executionInput = optionalString(input, 'input') ?? '{}';
  requireJson(executionInput, 'InvalidExecutionInput', 'execution input');
  const arn = executionArn(machine, name);
  const existing = ctx.store.get<ExecutionRecord>(EXECUTIONS_TABLE, arn);
  if (existing) {
    // STANDARD: the same name and input while the execution runs gives it again.
    if (existing.status === 'RUNNING' && existing.input === executionInput) {
      return { executionArn: arn, startDate: epochSeconds(existing.startDate) };
    }
    throw new AwsError('ExecutionAlreadyExists', `Execution Already Exists: '${arn}'`);
  }
  const startDate = ctx.clock.now().toISOString();
  const record: ExecutionRecord = {
    arn,
    stateMachineArn: machine.arn,
    stateMachineName: machine.name,
    name,
    status: 'RUNNING',
    input: executionInput,
    startDate,
    roleArn: machine.roleArn,
    region: ctx.region,
  };
  const started: HistoryEvent = {
    id: 1,
    previousEventId: 0,
    timestamp: epochSeconds(startDate),
    type: 'ExecutionStarted',
    executionStartedEventDetails: {
      input: executionInput,
      inputDetails: { truncated: false },
      roleArn: machine.roleArn,
      stateMachineArn: machine.arn,
    },
  };
  ctx.transact((tx) => {
    tx.put(EXECUTIONS_TABLE, arn, record);
    tx.put(HISTORY_TABLE, historyId(arn, 1), started);
  });
  engineFor(ctx.runtime).launch(record, JSON.parse(machine.definition) as JsonObject);
  return { executionArn: arn, startDate: epochSeconds(startDate) };
};

const describeExecution: JsonAction = (input, ctx) => {
  const execution = requireExecution(ctx, requiredString(input, 'executionArn'));
  return {
    executionArn: execution.arn,
    stateMachineArn: execution.stateMachineArn,
    name: execution.name,
    status: execution.status,
    startDate: epochSeconds(execution.startDate),
    ...(execution.stopDate === undefined ? {} : { stopDate: epochSeconds(execution.stopDate) }),
    input: execution.input,
    inputDetails: { included: true },
    ...(execution.output === undefined ? {} : { output: execution.output, outputDetails: { included: true } }),
    ...(execution.error === undefined ? {} : { error: execution.error }),
    ...(execution.cause === undefined ? {} : { cause: execution.cause }),
    redriveCount: 0,
    redriveStatus: 'NOT_REDRIVABLE',
  };
};

const STATUSES = new Set(['RUNNING', 'SUCCEEDED', 'FAILED', 'TIMED_OUT', 'ABORTED', 'PENDING_REDRIVE']);

const listExecutions: JsonAction = (input, ctx) => {
  const machine = requireMachine(ctx, requiredString(input, 'stateMachineArn'));
  const statusFilter = optionalString(input, 'statusFilter');
  if (statusFilter !== undefined && !STATUSES.has(statusFilter)) {
    throw new AwsError('ValidationException', `Value '${statusFilter}' at 'statusFilter' failed to satisfy constraint`);
  }
  const size = maxResults({ MaxResults: input.maxResults }, 1, 1000, 100);
  const start = pageStart({ NextToken: input.nextToken }, 'InvalidToken');
  const executions = [...ctx.store.table<ExecutionRecord>(EXECUTIONS_TABLE).values()]
    .filter((execution) => execution.stateMachineArn === machine.arn)
    .filter((execution) => statusFilter === undefined || execution.status === statusFilter)
    .reverse();
  const result = page(executions, start, size);
  return {
    executions: result.items.map((execution) => ({
      executionArn: execution.arn,
      stateMachineArn: execution.stateMachineArn,
      name: execution.name,
      status: execution.status,
      startDate: epochSeconds(execution.startDate),
      ...(execution.stopDate === undefined ? {} : { stopDate: epochSeconds(execution.stopDate) }),
    })),
    ...(result.nextToken ? { nextToken: result.nextToken } : {}),
  };
};

const withoutData = (event: HistoryEvent): HistoryEvent => {
  const DATA = new Set(['input', 'output', 'parameters']);
  return Object.fromEntries(
    Object.entries(event).map(([key, value]) =>
      key.endsWith('EventDetails') && value && typeof value === 'object'
        ? [key, Object.fromEntries(Object.entries(value).filter(([member]) => !DATA.has(member)))]
        : [key, value],
    ),
  ) as HistoryEvent;
};

const getExecutionHistory: JsonAction = (input, ctx) => {
  const execution = requireExecution(ctx, requiredString(input, 'executionArn'));
  const size = maxResults({ MaxResults: input.maxResults }, 1, 1000, 100);
  const start = pageStart({ NextToken: input.nextToken }, 'InvalidToken');
  const reverse = optionalBoolean(input, 'reverseOrder') ?? false;
  const includeData = optionalBoolean(input, 'includeExecutionData') ?? true;
  const count = engineFor(ctx.runtime).eventCount(ctx, execution);
  const events: HistoryEvent[] = [];
  for (let id = 1; id <= count; id += 1) {
    const event = ctx.store.get<HistoryEvent>(HISTORY_TABLE, historyId(execution.arn, id));
    if (event) events.push(event);
  }
  if (reverse) events.reverse();
  const result = page(events, start, size);
  return {
    events: includeData ? result.items : result.items.map(withoutData),
    ...(result.nextToken ? { nextToken: result.nextToken } : {}),
  };
};

const stopExecution: JsonAction = (input, ctx) => {
  const execution = requireExecution(ctx, requiredString(input, 'executionArn'));
  const error = optionalString(input, 'error');
  const cause = optionalString(input, 'cause');
  if (execution.status !== 'RUNNING') {
    return { stopDate: epochSeconds(execution.stopDate ?? execution.startDate) };
  }
  engineFor(ctx.runtime).stop(execution.arn, error, cause);
  return { stopDate: epochSeconds(ctx.clock.now().toISOString()) };
};

/** The pending callback of a token, or the error Step Functions answers for it. */
const requirePendingTask = (ctx: ServiceContext, token: string) => {
  if (token.length < 1 || token.length > 1024 || !isSandboxToken(token)) {
    throw new AwsError('InvalidToken', 'Invalid Token');
  }
  const callback = engineFor(ctx.runtime).callback(token);
  if (callback) return callback;
  const record = ctx.store.get<TaskRecord>(TASKS_TABLE, token);
  if (!record) throw new AwsError('TaskDoesNotExist', 'Task Does Not Exist');
  throw new AwsError('TaskTimedOut', "Task Timed Out: 'Provided task does not exist anymore'");
};

const sendTaskSuccess: JsonAction = (input, ctx) => {
  const token = requiredString(input, 'taskToken');
  const output = requiredString(input, 'output');
  const callback = requirePendingTask(ctx, token);
  requireJson(output, 'InvalidOutput', 'output');
  callback.resolve(JSON.parse(output));
  engineFor(ctx.runtime).finishCallback(token);
  return {};
};

const sendTaskFailure: JsonAction = (input, ctx) => {
  const token = requiredString(input, 'taskToken');
  const callback = requirePendingTask(ctx, token);
  callback.reject(new TaskError(optionalString(input, 'error') ?? '', optionalString(input, 'cause') ?? ''));
  engineFor(ctx.runtime).finishCallback(token);
  return {};
};

const sendTaskHeartbeat: JsonAction = (input, ctx) => {
  requirePendingTask(ctx, requiredString(input, 'taskToken')).heartbeat();
  return {};
};

export const stepFunctions: JsonService = {
  signingName: 'states',
  protocol: 'json',
  jsonVersion: '1.0',
  targetPrefix: 'AWSStepFunctions',
  actions: {
    CreateStateMachine: createStateMachine,
    UpdateStateMachine: updateStateMachine,
    DescribeStateMachine: describeStateMachine,
    ListStateMachines: listStateMachines,
    DeleteStateMachine: deleteStateMachine,
    StartExecution: startExecution,
    DescribeExecution: describeExecution,
    ListExecutions: listExecutions,
    GetExecutionHistory: getExecutionHistory,
    StopExecution: stopExecution,
    SendTaskSuccess: sendTaskSuccess,
    SendTaskFailure: sendTaskFailure,
    SendTaskHeartbeat: sendTaskHeartbeat,
  },
  start: (ctx) => engineFor(ctx.runtime).recover(ctx),
  stop: () => stopClosedEngines(),
};
