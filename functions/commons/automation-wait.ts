/**
 * The bake's wait on its SSM Automation, from both ends. The state machine's `.waitForTaskToken`
 * task, WaitForAutomation, keeps its token in a callback record under
 * `<prefix>/_callbacks/<automation execution id>`; AutomationEvents, on SSM's status-change event,
 * settles it. Because events are best effort, WaitForAutomation also checks the automation's status
 * each time it is called: the wait task's timeout calls it again, which is the slow fallback poll.
 * Whichever of the two sees the automation end first settles the wait; the other finds nothing
 * left to do. Settling a succeeded bake first records the image's package inventory
 * (`recordInventory`), which `bakehouse diff` reads.
 */
import { SendTaskFailureCommand, SendTaskSuccessCommand, type SFNClient } from '@aws-sdk/client-sfn';
import {
  type AutomationExecution,
  DeleteParameterCommand,
  GetAutomationExecutionCommand,
  GetCommandInvocationCommand,
  GetParameterCommand,
  PutParameterCommand,
  type SSMClient,
} from '@aws-sdk/client-ssm';
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { CANCELLED_STATUSES, isTerminal, SUCCEEDED_STATUSES, TIMED_OUT_STATUSES } from './automation-status';
import { AutomationErrorName, type AutomationFailureCause, type AutomationResult } from './bake-plan';
import { BAKE_DOCUMENT_OUTPUTS, launchedBuilder, releaseOfAutomation } from './documents';
import { errorNameOf } from './errors';
import { INVENTORY_STEP, type InventoryRecord, parseInventoryOutput } from './inventory';
import { type BakeMetricsPort, BakeOutcome } from './metrics';
import type { LogPort } from './powertools';
import { imageKey, type StateTableDeps } from './state-table';

export interface CallbackDeps {
  readonly ssm: Pick<SSMClient, 'send'>;
  readonly sfn: Pick<SFNClient, 'send'>;
  readonly clock: () => Date;
  readonly logger: LogPort;
  /** e.g. `/bakehouse/_callbacks` */
  readonly parameterPrefix: string;
  /** Where a bake's AMI is recorded (functions/commons/metrics.ts); none records nothing. */
  readonly metrics?: BakeMetricsPort;
  /** The state table, where each image's inventory is recorded (`recordInventory`); none records nothing. */
  readonly inventories?: Pick<StateTableDeps, 'client' | 'tableName'>;
}

/** What a waiting task leaves behind: its token, and what settling it needs to know. */
export interface CallbackRecord {
  readonly taskToken: string;
  readonly bakeId: string;
  /** `$$.Execution.StartTime`, for the bake's duration. */
  readonly bakeStartedAt: string;
  /** The bake's family (`$.plan.family`), the `Family` dimension of its metrics. */
  readonly family?: string;
}

export type SettleOutcome = 'pending' | 'succeeded' | 'failed' | 'unknown-automation' | 'already-settled';

const STALE_TOKEN_ERRORS = new Set(['TaskDoesNotExist', 'TaskTimedOut', 'InvalidToken']);

/** Most of a step's output a task result may carry (Step Functions caps results at 256 KiB). */
const MAX_OUTPUT_CHARS = 8_000;

const callbackName = (deps: CallbackDeps, automationExecutionId: string): string =>
  `${deps.parameterPrefix}/${automationExecutionId}`;

/** Keeps the waiting task's record under the automation's id, replacing an earlier one. */
export const keepCallback = async (
  automationExecutionId: string,
  record: CallbackRecord,
  deps: CallbackDeps,
): Promise<void> => {
  await deps.ssm.send(
    new PutParameterCommand({
      Name: callbackName(deps, automationExecutionId),
      Value: JSON.stringify(record),
      Type: 'String',
      Tier: 'Standard',
      Overwrite: true,
      Description: `Bakehouse: state machine waiting on automation for bake ${record.bakeId}`,
    }),
  );
};

/** Settles the waiting task if the automation has finished; otherwise leaves it waiting. */
export const settle = async (automationExecutionId: string, deps: CallbackDeps): Promise<SettleOutcome> => {
  const execution = await getExecution(automationExecutionId, deps);
  const status = execution?.AutomationExecutionStatus;
  if (!execution || !isTerminal(status)) return 'pending';

  const name = callbackName(deps, automationExecutionId);
  const record = await readRecord(name, deps);
  if (!record) {
    deps.logger.debug('no task waits on this automation', { automationExecutionId, status });
    return 'unknown-automation';
  }

  let outcome: SettleOutcome;
  try {
    if (status && SUCCEEDED_STATUSES.has(status)) {
      outcome = await succeed(execution, record, deps);
    } else {
      outcome = await fail(execution, record, deps);
    }
  } catch (error) {
    if (!STALE_TOKEN_ERRORS.has(errorNameOf(error) ?? '')) throw error;
    deps.logger.info('task was already settled', { automationExecutionId, error: errorNameOf(error) });
    outcome = 'already-settled';
  }
  await deps.ssm.send(new DeleteParameterCommand({ Name: name })).catch((error: unknown) => {
    if (errorNameOf(error) !== 'ParameterNotFound') throw error;
  });
  return outcome;
};

const getExecution = async (id: string, deps: CallbackDeps): Promise<AutomationExecution | undefined> => {
  try {
    const result = await deps.ssm.send(new GetAutomationExecutionCommand({ AutomationExecutionId: id }));
    return result.AutomationExecution;
  } catch (error) {
    if (errorNameOf(error) === 'AutomationExecutionNotFoundException') return undefined;
    throw error;
  }
};

const readRecord = async (name: string, deps: CallbackDeps): Promise<CallbackRecord | undefined> => {
  try {
    const result = await deps.ssm.send(new GetParameterCommand({ Name: name }));
    const parsed = JSON.parse(result.Parameter?.Value ?? '{}') as Partial<CallbackRecord>;
    if (typeof parsed.taskToken !== 'string') return undefined;
    return {
      taskToken: parsed.taskToken,
      bakeId: parsed.bakeId ?? '',
      bakeStartedAt: parsed.bakeStartedAt ?? '',
      ...(typeof parsed.family === 'string' ? { family: parsed.family } : {}),
    };
  } catch (error) {
    if (errorNameOf(error) === 'ParameterNotFound') return undefined;
    throw error;
  }
};

const keptOutputs = (execution: AutomationExecution): Record<string, string[]> => {
  const kept: Record<string, string[]> = {};
  for (const key of Object.values(BAKE_DOCUMENT_OUTPUTS)) {
    const value = execution.Outputs?.[key];
    if (value) kept[key] = value.map((v) => (v.length > MAX_OUTPUT_CHARS ? `${v.slice(0, MAX_OUTPUT_CHARS)}…` : v));
  }
  return kept;
};

const succeed = async (
  execution: AutomationExecution,
  record: CallbackRecord,
  deps: CallbackDeps,
): Promise<SettleOutcome> => {
  const imageId = execution.Outputs?.[BAKE_DOCUMENT_OUTPUTS.imageId]?.find((v) => /^ami-[0-9a-f]+$/.test(v));
  if (!imageId) {
    return fail(execution, record, deps, 'the automation succeeded but reported no image id');
  }
  const started = Date.parse(record.bakeStartedAt);
  const durationSeconds = Number.isNaN(started)
    ? 0
    : Math.max(0, Math.round((deps.clock().getTime() - started) / 1000));
  // Before the task is settled, so the inventory is there once `AMI Baked` is (bakehouse diff right
  // after bake --wait). Never throws: a missing inventory must not fail a bake that made its image.
  await recordInventory(execution, imageId, record, deps);
  // release is always present (null when the bake has none): PublishAmiBaked reads it by path.
  const result: AutomationResult = {
    status: 'Success',
    imageId,
    durationSeconds,
    outputs: keptOutputs(execution),
    release: releaseOfAutomation(execution),
  };
  await deps.sfn.send(new SendTaskSuccessCommand({ taskToken: record.taskToken, output: JSON.stringify(result) }));
  deps.logger.info('bake automation succeeded', { bakeId: record.bakeId, imageId, durationSeconds });
  // Recorded here, not in the state machine: `AMI Baked` is published by the machine itself
  // (PublishAmiBaked, an events:putEvents task), and no function runs after it. This is the one
  // place that sees the AMI made and hands it to the bake, exactly once: whichever of
  // AutomationEvents and WaitForAutomation settles the task; the other gets a stale token
  // ('already-settled') and records nothing. A bake whose later steps (TagAmi,
  // WriteCandidateChannel, PublishAmiBaked) fail after every retry is also counted `failed` by
  // CleanUpFailedBake: rare, and the AMI was made.
  if (record.family) deps.metrics?.bakeEnded(BakeOutcome.Baked, record.family, durationSeconds);
  return 'succeeded';
};

export type InventoryOutcome = 'recorded' | 'skipped';

/**
 * Records the inventory the bake's `captureInventory` step printed as one state-table item keyed by
 * the image (`image#<ami-id>#inventory`). Automation keeps only collectReport's Output, so the step
 * execution gives the CommandId (aws:runCommand's outputs: CommandId, Status, ResponseCode, Output,
 * https://docs.aws.amazon.com/systems-manager/latest/userguide/automation-action-runcommand.html) and
 * GetCommandInvocation gives the first 24,000 characters of its stdout
 * (https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_GetCommandInvocation.html),
 * which the step keeps within. An unconditional PutItem: both settle paths may record the same
 * image, and write the same item. Whatever goes wrong is logged as a warning with the reason, and
 * the bake goes on: the image is made, and `bakehouse diff` says it has no inventory.
 */
export const recordInventory = async (
  execution: AutomationExecution,
  imageId: string,
  record: CallbackRecord,
  deps: Pick<CallbackDeps, 'ssm' | 'clock' | 'logger' | 'inventories'>,
): Promise<InventoryOutcome> => {
  const where = { imageId, bakeId: record.bakeId, automationExecutionId: execution.AutomationExecutionId };
  const skip = (reason: string, extra: Record<string, unknown> = {}): InventoryOutcome => {
    deps.logger.warn('no inventory recorded for the image; the bake goes on', { ...where, reason, ...extra });
    return 'skipped';
  };
  if (!deps.inventories) return 'skipped';
  const step = execution.StepExecutions?.filter((s) => s.StepName === INVENTORY_STEP && s.StepStatus === 'Success').at(
    -1,
  );
  if (!step)
    return skip(
      execution.StepExecutionsTruncated
        ? `the automation's step list is truncated before ${INVENTORY_STEP}`
        : `the automation has no successful ${INVENTORY_STEP} step (a document from before inventories were kept)`,
    );
  const commandId = step.Outputs?.CommandId?.[0];
  const instanceId = launchedBuilder(execution);
  if (!commandId || !instanceId)
    return skip(`${INVENTORY_STEP} names no ${commandId ? 'builder instance' : 'CommandId'}`);
  try {
    const invocation = await deps.ssm.send(
      new GetCommandInvocationCommand({ CommandId: commandId, InstanceId: instanceId }),
    );
    const parsed = parseInventoryOutput(invocation.StandardOutputContent ?? '');
    if (!parsed.ok) return skip(parsed.reason, { commandId });
    const family = record.family ?? execution.Parameters?.Family?.[0] ?? '';
    const item: InventoryRecord & { pk: string } = {
      pk: imageKey(imageId, 'inventory'),
      format: 1,
      imageId,
      family,
      bakeId: record.bakeId || (execution.Parameters?.BakeId?.[0] ?? ''),
      automationExecutionId: execution.AutomationExecutionId ?? '',
      recordedAt: deps.clock().toISOString(),
      ...parsed.inventory,
    };
    await deps.inventories.client.send(new PutCommand({ TableName: deps.inventories.tableName, Item: item }));
    deps.logger.info('inventory recorded', {
      ...where,
      os: item.os,
      release: item.release,
      packages: (item.packages ?? item.programs)?.count ?? null,
      ...(item.kbs ? { kbs: item.kbs.length } : {}),
      ...(item.tooLarge ? { tooLarge: item.tooLarge } : {}),
    });
    return 'recorded';
  } catch (error) {
    return skip(error instanceof Error ? error.message : String(error), { error: errorNameOf(error) ?? 'Error' });
  }
};

/** The first step that did not succeed, and why, from the automation's own record. */
export const failureOf = (execution: AutomationExecution): { failedStep: string | null; reason: string } => {
  const step = execution.StepExecutions?.find((s) => ['Failed', 'TimedOut', 'Cancelled'].includes(s.StepStatus ?? ''));
  const reason =
    step?.FailureMessage ??
    step?.FailureDetails?.FailureType ??
    execution.FailureMessage ??
    `automation ended ${execution.AutomationExecutionStatus ?? 'without a status'}`;
  return { failedStep: step?.StepName ?? execution.CurrentStepName ?? null, reason };
};

const fail = async (
  execution: AutomationExecution,
  record: CallbackRecord,
  deps: CallbackDeps,
  override?: string,
): Promise<SettleOutcome> => {
  const status = execution.AutomationExecutionStatus ?? 'Failed';
  const { failedStep, reason } = failureOf(execution);
  const error = CANCELLED_STATUSES.has(status)
    ? AutomationErrorName.Cancelled
    : TIMED_OUT_STATUSES.has(status)
      ? AutomationErrorName.TimedOut
      : AutomationErrorName.Failed;
  const cause: AutomationFailureCause = {
    automationExecutionId: execution.AutomationExecutionId ?? '',
    status,
    failedStep: override ? null : failedStep,
    reason: override ?? reason,
  };
  await deps.sfn.send(
    new SendTaskFailureCommand({ taskToken: record.taskToken, error, cause: JSON.stringify(cause).slice(0, 32_768) }),
  );
  deps.logger.warn('bake automation did not succeed', { bakeId: record.bakeId, ...cause });
  return 'failed';
};
