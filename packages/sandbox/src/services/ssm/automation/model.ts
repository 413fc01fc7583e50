/**
 * Automation executions as the store keeps them: one record per execution in
 * `ssm.automationExecutions`, holding its typed parameters and every step execution in the order
 * they ran (values the API shows as lists of strings are kept typed), and the parsed document it
 * runs in `ssm.automationDocuments` under the same id, so a run never depends on the document
 * still existing.
 */
import type { ValueType } from './values';

export const EXECUTIONS_TABLE = 'ssm.automationExecutions';

export type ExecutionStatus =
  | 'Pending'
  | 'InProgress'
  | 'Cancelling'
  | 'Success'
  | 'Failed'
  | 'TimedOut'
  | 'Cancelled'
  | 'CompletedWithFailure';

export type StepStatus = 'Pending' | 'InProgress' | 'Success' | 'Failed' | 'TimedOut' | 'Cancelled';

export const TERMINAL_EXECUTION_STATUSES: readonly ExecutionStatus[] = [
  'Success',
  'Failed',
  'TimedOut',
  'Cancelled',
  'CompletedWithFailure',
];

export const EXECUTION_STATUSES: readonly string[] = [
  'Pending',
  'InProgress',
  'Waiting',
  'Success',
  'TimedOut',
  'Cancelling',
  'Cancelled',
  'Failed',
  'PendingApproval',
  'Approved',
  'Rejected',
  'Scheduled',
  'RunbookInProgress',
  'PendingChangeCalendarOverride',
  'ChangeCalendarOverrideApproved',
  'ChangeCalendarOverrideRejected',
  'CompletedWithSuccess',
  'CompletedWithFailure',
  'Exited',
];

export const isTerminalStatus = (status: string): boolean =>
  (TERMINAL_EXECUTION_STATUSES as readonly string[]).includes(status);

export interface FailureDetailsRecord {
  readonly FailureStage: string;
  readonly FailureType: string;
  readonly Details?: Record<string, string[]>;
}

export interface StepRecord {
  readonly stepExecutionId: string;
  readonly stepName: string;
  readonly action: string;
  readonly timeoutSeconds?: number;
  readonly onFailure: string;
  readonly onCancel: string;
  readonly maxAttempts: number;
  readonly isEnd: boolean;
  readonly nextStep?: string;
  readonly isCritical: boolean;
  readonly validNextSteps: readonly string[];
  status: StepStatus;
  startTime?: string;
  endTime?: string;
  /** Interpolated inputs, each shown by the API as JSON text. */
  inputs: Record<string, unknown>;
  /** Typed outputs, for `{{ step.Output }}` references. */
  outputs: Record<string, { readonly type: ValueType; readonly value: unknown }>;
  response?: string;
  responseCode?: string;
  failureMessage?: string;
  failureDetails?: FailureDetailsRecord;
}

export interface ExecutionRecord extends Record<string, unknown> {
  readonly executionId: string;
  readonly region: string;
  readonly documentName: string;
  readonly documentVersion: string;
  readonly parameters: Record<string, unknown>;
  readonly executedBy: string;
  /** The document's `assumeRole` (usually `{{ AutomationAssumeRole }}`): every step acts as this role. */
  readonly assumeRole?: string;
  /** Without `assumeRole`, the steps act as whoever started the execution: the access key id they signed with. */
  readonly startedWithKey?: string;
  readonly mode: 'Auto';
  readonly clientToken?: string;
  /** The request's parameters as given, to tell a repeated ClientToken from a mismatched one. */
  readonly requestFingerprint: string;
  readonly tags: Record<string, string>;
  status: ExecutionStatus;
  startTime: string;
  endTime?: string;
  currentStepName?: string;
  currentAction?: string;
  failureMessage?: string;
  outputs?: Record<string, string[]>;
  steps: StepRecord[];
}
