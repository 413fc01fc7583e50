/** Promotion, distribution and revocation: channels, launch templates, Auto Scaling groups, copies and shares (issue 5). */
import type { PipelineContext } from './pipeline-context';

export const addPromotion = (_context: PipelineContext): void => {};
