/**
 * The names and construct ids the stack gives its resources, apart from the constructs that use
 * them: tests, the sandbox and the bench read them here without loading CDK and SST (importing
 * `sst/constructs` alone takes about 2 s, which every stack test file paid again).
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

/** The bake functions' construct ids, as the shared contract names them (stacks/bake-functions.ts). */
export const BakeFunction = {
  ScheduleTick: 'ScheduleTick',
  StartBake: 'StartBake',
  PlanBake: 'PlanBake',
  WaitForAutomation: 'WaitForAutomation',
  AutomationEvents: 'AutomationEvents',
  CleanUpFailedBake: 'CleanUpFailedBake',
} as const;

/** stacks/ami-tests.ts */
export const AmiTestFunction = { TestAmi: 'TestAmi', TestResult: 'TestResult' } as const;
/** stacks/promotion.ts */
export const PromotionFunction = { Promote: 'Promote', Revoke: 'Revoke' } as const;
/** stacks/janitor.ts */
export const JanitorFunction = { Janitor: 'Janitor' } as const;
/** stacks/reaper.ts */
export const ReaperFunction = { Reaper: 'Reaper' } as const;
/** stacks/canary.ts */
export const CanaryFunction = { Canary: 'Canary' } as const;
/** stacks/notifications.ts */
export const NotificationFunction = { Notify: 'Notify' } as const;

/** The reaper's schedule. Hourly: a builder outlives its expiry by at most an hour. */
export const REAPER_SCHEDULE = 'rate(1 hour)';

/** How long WaitForAutomation waits for the callback before it re-checks the automation itself. */
export const AUTOMATION_WAIT_SECONDS = 600;
