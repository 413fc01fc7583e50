/**
 * SSM Automation in the sandbox: the API actions and the start / stop hooks the SSM service
 * registers (start fails executions a previous process left running; stop ends the engine's work).
 */
import type { ServiceContext } from '../../../service';
import { closeEngines, engineFor } from './engine';

export { automationActions } from './api';
export {
  EXECUTION_STATUS_DETAIL_TYPE,
  RESTARTED_MESSAGE,
  SSM_EVENT_SOURCE,
  STEP_STATUS_DETAIL_TYPE,
} from './engine';

export const startAutomation = (ctx: ServiceContext): void => engineFor(ctx).recover(ctx);

export const stopAutomation = (): void => closeEngines();
