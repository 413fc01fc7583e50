/**
 * The public event contract: detail-types, the source, and the schema of every detail Bakehouse
 * accepts. The stacks build rule patterns from these constants and the publishers use them, so
 * a rename cannot leave a rule behind.
 */
import { z } from 'zod';

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

const version = z
  .string()
  .regex(/^\d+\.\d+$/, "use 'major.minor', for example '1.0'")
  .refine((v) => v.split('.')[0] === EVENT_VERSION.split('.')[0], {
    message: `this Bakehouse accepts major version ${EVENT_VERSION.split('.')[0]}. Fix: send detail.version '${EVENT_VERSION}'`,
  });

export const bakeRequestSchema = z.strictObject({
  version: version.default(EVENT_VERSION),
  family: z.string().min(1, 'name the family to bake'),
  reason: z.string().min(1).max(512).default('requested'),
  requestedBy: z.string().min(1, "say who asked, for example 'cli:alice' or 'team-payments'").max(256),
  idempotencyKey: z
    .string()
    .min(1)
    .max(256)
    .regex(/^[\x21-\x7e]+$/, 'use printable characters without spaces')
    .optional(),
  force: z.boolean().default(false),
});
export type BakeRequest = z.output<typeof bakeRequestSchema>;
export type BakeRequestInput = z.input<typeof bakeRequestSchema>;

/** Formats zod issues as "field: problem" lines, the form every rejection uses. */
export const describeIssues = (error: z.ZodError): string =>
  error.issues.map((i) => `${i.path.length > 0 ? i.path.join('.') : '(detail)'}: ${i.message}`).join('; ');
