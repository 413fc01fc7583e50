/**
 * Step Functions records in the store, their ARNs and names, and the execution history as
 * GetExecutionHistory returns it.
 *
 * Tables: `states.machines` (by ARN), `states.executions` (by ARN, in start order),
 * `states.history` (`<executionArn>#<eventId>`, one row per event so a long execution writes
 * small transactions), `states.tasks` (callback tokens: pending or done).
 */
import type { Credentials } from '../../authz/identity';
import { assumeAsService } from '../../authz/sessions';
import { AwsError } from '../../errors';
import type { ServiceContext } from '../../service';

export const MACHINES_TABLE = 'states.machines';
export const EXECUTIONS_TABLE = 'states.executions';
export const HISTORY_TABLE = 'states.history';
export const TASKS_TABLE = 'states.tasks';

export type ExecutionStatus = 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'TIMED_OUT' | 'ABORTED';

export interface MachineRecord extends Record<string, unknown> {
  readonly arn: string;
  readonly name: string;
  readonly type: 'STANDARD' | 'EXPRESS';
  readonly definition: string;
  readonly roleArn: string;
  readonly creationDate: string;
  readonly updateDate?: string;
  readonly tags: readonly { key: string; value: string }[];
}

export interface ExecutionRecord extends Record<string, unknown> {
  readonly arn: string;
  readonly stateMachineArn: string;
  readonly stateMachineName: string;
  readonly name: string;
  readonly status: ExecutionStatus;
  /** As given to StartExecution (a JSON text). */
  readonly input: string;
  readonly output?: string;
  readonly error?: string;
  readonly cause?: string;
  readonly startDate: string;
  readonly stopDate?: string;
  readonly roleArn: string;
  readonly region: string;
  /** How many history events it has, once it stopped (a running execution's count is in memory). */
  readonly eventCount?: number;
}

export interface TaskRecord extends Record<string, unknown> {
  readonly token: string;
  readonly executionArn: string;
  readonly stateName: string;
  readonly status: 'PENDING' | 'DONE';
}

/** A history event as the API returns it (camelCase members, timestamps in epoch seconds). */
export interface HistoryEvent extends Record<string, unknown> {
  readonly id: number;
  readonly previousEventId: number;
  readonly timestamp: number;
  readonly type: string;
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it rejects
const NAME_PATTERN = /^[^\s<>{}[\]?*"#%\\^|~`$&,;:/\u0000-\u001f\u007f-\u009f]{1,80}$/;

/** State machine and execution names, as AWS constrains them. */
export const requireValidName = (name: string): void => {
  if (!NAME_PATTERN.test(name)) throw new AwsError('InvalidName', `Invalid Name: '${name}'`);
};

const MACHINE_ARN = /^arn:aws:states:([a-z0-9-]+):(\d{12}):stateMachine:([^:]+)$/;
const EXECUTION_ARN = /^arn:aws:states:([a-z0-9-]+):(\d{12}):execution:([^:]+):([^:]+)$/;

export const machineArn = (ctx: ServiceContext, name: string): string =>
  `arn:aws:states:${ctx.region}:${ctx.account}:stateMachine:${name}`;

export const executionArn = (machine: MachineRecord, name: string): string =>
  machine.arn.replace(':stateMachine:', ':execution:').concat(`:${name}`);

export const requireMachineArn = (arn: string): void => {
  if (!MACHINE_ARN.test(arn))
    throw new AwsError('InvalidArn', `Invalid Arn: 'Resource type not valid in this context: ${arn}'`);
};

export const requireExecutionArn = (arn: string): void => {
  if (!EXECUTION_ARN.test(arn))
    throw new AwsError('InvalidArn', `Invalid Arn: 'Resource type not valid in this context: ${arn}'`);
};

export const requireMachine = (ctx: ServiceContext, arn: string): MachineRecord => {
  requireMachineArn(arn);
  const machine = ctx.store.get<MachineRecord>(MACHINES_TABLE, arn);
  if (!machine) throw new AwsError('StateMachineDoesNotExist', `State Machine Does Not Exist: '${arn}'`);
  return machine;
};

export const requireExecution = (ctx: ServiceContext, arn: string): ExecutionRecord => {
  requireExecutionArn(arn);
  const execution = ctx.store.get<ExecutionRecord>(EXECUTIONS_TABLE, arn);
  if (!execution) throw new AwsError('ExecutionDoesNotExist', `Execution Does Not Exist: '${arn}'`);
  return execution;
};

export const historyId = (executionArn: string, eventId: number): string => `${executionArn}#${eventId}`;

/** Counts an execution's history rows (for executions whose count is not known). */
export const countHistory = (ctx: ServiceContext, executionArn: string): number => {
  let count = 0;
  while (ctx.store.get(HISTORY_TABLE, historyId(executionArn, count + 1))) count += 1;
  return count;
};

/** JSON 1.0 timestamps are epoch seconds. */
export const epochSeconds = (iso: string): number => Date.parse(iso) / 1000;

export const STATES_PRINCIPAL = 'states.amazonaws.com';

/** What Step Functions answers when its service principal may not assume a state machine's role. */
export const ROLE_NOT_ASSUMABLE =
  'Neither the global service principal states.amazonaws.com, nor the regional one is authorized to assume the provided role.';

/**
 * The session a state machine's executions act as: its role, assumed by `states.amazonaws.com`
 * with `aws:SourceArn` = the state machine's ARN and `aws:SourceAccount` = its account (Step
 * Functions Developer Guide, "Creating an IAM role for your state machine", "Prevent cross-service
 * confused deputy issue"). Throws `RoleTrustError` when the trust policy refuses.
 */
export const machineCredentials = (
  ctx: ServiceContext,
  machine: { readonly arn: string; readonly roleArn: string },
): Credentials =>
  assumeAsService(ctx, {
    roleArn: machine.roleArn,
    service: STATES_PRINCIPAL,
    sessionName: machine.arn.slice(machine.arn.lastIndexOf(':') + 1),
    context: { 'aws:SourceArn': machine.arn, 'aws:SourceAccount': machine.arn.split(':')[4] ?? ctx.account },
  });
