/**
 * The construct ids and schedules the stack gives its parts, apart from the constructs that use
 * them: tests, the sandbox and the bench read them here without loading CDK and SST (importing
 * `sst/constructs` alone takes about 2 s, which every stack test file paid again). The resource
 * names of a stage are product code (functions/commons/stage-names.ts): the CLI uses them too.
 */

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
