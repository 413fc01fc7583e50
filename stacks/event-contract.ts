/** The public event contract on AWS: the schema registry with every detail-type's JSON Schema, subscriber buses (issue 5). */
import type { PipelineContext } from './pipeline-context';

export const addEventContract = (_context: PipelineContext): void => {};
