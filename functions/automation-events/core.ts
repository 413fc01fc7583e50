/**
 * AutomationEvents, the target of SSM's status-change events of the bake documents: when an
 * automation has ended, settles the bake waiting on it (commons/automation-wait.ts). Events of
 * automations still running, or that no bake waits on, change nothing.
 */
import { isTerminal } from '../commons/automation-status';
import { type CallbackDeps, type SettleOutcome, settle } from '../commons/automation-wait';

/** Detail of SSM's "EC2 Automation Execution Status-change Notification". */
export interface AutomationStatusDetail {
  readonly ExecutionId?: string;
  readonly Definition?: string;
  readonly Status?: string;
}

export const resume = async (detail: AutomationStatusDetail, deps: CallbackDeps): Promise<SettleOutcome> => {
  if (!detail.ExecutionId || !isTerminal(detail.Status)) return 'pending';
  return settle(detail.ExecutionId, deps);
};
