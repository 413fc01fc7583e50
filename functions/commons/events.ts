/**
 * The public event contract: detail-types, the source, and the schema of every detail Bakehouse
 * accepts. The stacks build rule patterns from these constants and the publishers use them, so
 * a rename cannot leave a rule behind.
 */
import * as z from 'zod/mini';

export const DEFAULT_EVENT_SOURCE = 'bakehouse';
/** `detail.version` of the events this build publishes; consumers accept the same major. */
export const EVENT_VERSION = '1.0';

export const DetailType = {
  BakeRequested: 'Bake Requested',
  BakeStarted: 'Bake Started',
  BakeSkipped: 'Bake Skipped',
  AmiBaked: 'AMI Baked',
  BakeFailed: 'Bake Failed',
  AmiTested: 'AMI Tested',
  AmiPromoted: 'AMI Promoted',
  JanitorReport: 'Janitor Report',
} as const;
export type DetailType = (typeof DetailType)[keyof typeof DetailType];

/** What SSM emits on the default bus when an automation changes status. */
export const SSM_AUTOMATION_STATUS_DETAIL_TYPE = 'EC2 Automation Execution Status-change Notification';
export const SSM_EVENT_SOURCE = 'aws.ssm';

// zod/mini: the same validation as zod, tree-shakeable, so handlers stay small and start fast
// (the full zod builds the family config schema at synth, not in Lambda).
const version = z.string().check(
  z.regex(/^\d+\.\d+$/, "use 'major.minor', for example '1.0'"),
  z.refine((v) => v.split('.')[0] === EVENT_VERSION.split('.')[0], {
    message: `this Bakehouse accepts major version ${EVENT_VERSION.split('.')[0]}. Fix: send detail.version '${EVENT_VERSION}'`,
  }),
);

export const bakeRequestSchema = z.strictObject({
  version: z._default(version, EVENT_VERSION),
  family: z.string().check(z.minLength(1, 'name the family to bake')),
  reason: z._default(z.string().check(z.minLength(1), z.maxLength(512)), 'requested'),
  requestedBy: z
    .string()
    .check(z.minLength(1, "say who asked, for example 'cli:alice' or 'team-payments'"), z.maxLength(256)),
  idempotencyKey: z.optional(
    z
      .string()
      .check(z.minLength(1), z.maxLength(256), z.regex(/^[\x21-\x7e]+$/, 'use printable characters without spaces')),
  ),
  force: z._default(z.boolean(), false),
});
export type BakeRequest = z.output<typeof bakeRequestSchema>;
export type BakeRequestInput = z.input<typeof bakeRequestSchema>;

/** Wording for the issues the schema gives no message of its own (zod/mini ships no locale). */
const issueMessage = (issue: z.core.$ZodIssue): string => {
  if (issue.message && issue.message !== 'Invalid input') return issue.message;
  switch (issue.code) {
    case 'invalid_type':
      return `must be a ${issue.expected} (it is missing or of another type). Fix: send a ${issue.expected}`;
    case 'unrecognized_keys':
      return `unknown field(s) ${issue.keys.join(', ')}. Fix: remove them or correct the spelling`;
    case 'too_small':
      return `must be at least ${issue.minimum}${issue.origin === 'string' ? ' characters long' : ''}`;
    case 'too_big':
      return `must be at most ${issue.maximum}${issue.origin === 'string' ? ' characters long' : ''}`;
    default:
      return 'is invalid';
  }
};

/** Formats zod issues as "field: problem" lines, the form every rejection uses. */
export const describeIssues = (error: { readonly issues: readonly z.core.$ZodIssue[] }): string =>
  error.issues.map((i) => `${i.path.length > 0 ? i.path.join('.') : '(detail)'}: ${issueMessage(i)}`).join('; ');
