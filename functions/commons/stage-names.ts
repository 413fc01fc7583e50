/**
 * The names a stage's resources carry (`bakehouse-<stage>…`), as the stack gives them
 * (stacks/bake-pipeline.ts) and the CLI, the sandbox and the tests look them up.
 */

/** The names resources of a stage carry. */
export interface PipelineNames {
  readonly bus: string;
  readonly scheduleGroup: string;
  readonly stateMachine: string;
  /** The canary state machine (issue 16, stacks/canary.ts). */
  readonly canaryStateMachine: string;
  /** The CloudWatch dashboard (issue 18, stacks/dashboard.ts). */
  readonly dashboard: string;
  document(name: string): string;
  function(id: string): string;
}

/** The names resources of a stage carry; exported so tests and the sandbox use the same ones. */
export const bakehouseNames = (stage: string): PipelineNames => ({
  bus: `bakehouse-${stage}`,
  scheduleGroup: `bakehouse-${stage}`,
  stateMachine: `bakehouse-${stage}-bake`,
  canaryStateMachine: `bakehouse-${stage}-canary`,
  dashboard: `bakehouse-${stage}`,
  document: (name: string) => `bakehouse-${stage}-${name}`,
  function: (id: string) => `bakehouse-${stage}-${id}`,
});
