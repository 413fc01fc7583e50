/** SSM Automation execution statuses, grouped the way Bakehouse acts on them. */
export const SUCCEEDED_STATUSES: ReadonlySet<string> = new Set(['Success', 'CompletedWithSuccess']);
export const CANCELLED_STATUSES: ReadonlySet<string> = new Set(['Cancelled']);
export const TIMED_OUT_STATUSES: ReadonlySet<string> = new Set(['TimedOut']);
export const FAILED_STATUSES: ReadonlySet<string> = new Set([
  'Failed',
  'CompletedWithFailure',
  'Rejected',
  'Exited',
  'ChangeCalendarOverrideRejected',
]);

/** Every status after which the automation will not change again. */
export const TERMINAL_STATUSES: readonly string[] = [
  ...SUCCEEDED_STATUSES,
  ...CANCELLED_STATUSES,
  ...TIMED_OUT_STATUSES,
  ...FAILED_STATUSES,
];

export const isTerminal = (status: string | undefined): boolean => !!status && TERMINAL_STATUSES.includes(status);
