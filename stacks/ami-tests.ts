/** AMI tests: on AMI Baked, the family's test automation; its end publishes AMI Tested (issue 5). */
import type { PipelineContext } from './pipeline-context';

export const addAmiTests = (_context: PipelineContext): void => {};
