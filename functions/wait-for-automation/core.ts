/**
 * WaitForAutomation, the `.waitForTaskToken` task of the bake state machine: keeps the task token
 * under the automation's id for AutomationEvents to settle, then settles it at once if the
 * automation has already ended (commons/automation-wait.ts). The wait task's timeout calls it
 * again, which re-checks the status: the fallback when SSM's event is lost.
 */
import { type CallbackDeps, keepCallback, type SettleOutcome, settle } from '../commons/automation-wait';

/** The task's payload, as state-machines/bake.asl.json sends it (`WaitForAutomationTaskInput`). */
export interface RegisterInput {
  readonly taskToken: string;
  readonly automationExecutionId: string;
  readonly bakeId: string;
  readonly family?: string;
  /** `$$.Execution.StartTime`, for the bake's duration. */
  readonly bakeStartedAt: string;
}

export const register = async (input: RegisterInput, deps: CallbackDeps): Promise<SettleOutcome> => {
  await keepCallback(
    input.automationExecutionId,
    {
      taskToken: input.taskToken,
      bakeId: input.bakeId,
      bakeStartedAt: input.bakeStartedAt,
      ...(input.family ? { family: input.family } : {}),
    },
    deps,
  );
  return settle(input.automationExecutionId, deps);
};
