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
  PromoteRequested: 'Promote Requested',
  AmiRevoked: 'AMI Revoked',
  RevocationCompleted: 'Revocation Completed',
  RevocationRejected: 'Revocation Rejected',
  BakeRejected: 'Bake Rejected',
  PromotionRejected: 'Promotion Rejected',
  JanitorReport: 'Janitor Report',
  CanaryStarted: 'Canary Started',
  CanaryJudged: 'Canary Judged',
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

/** What a JSON reader calls the type zod names: a record is an object to them. */
const typeWithArticle = (expected: string): string => {
  const name = expected === 'record' ? 'object' : expected;
  return `${/^[aeiou]/.test(name) ? 'an' : 'a'} ${name}`;
};

/**
 * The contract's wording for the issues a schema gives no message of its own, with the fix. Given
 * to every parse of a contract schema (parseContract): a parse's own error map outranks the
 * messages the full zod installs for all of zod, zod/mini included, when a bundle loads it
 * (functions/commons/families.ts does), and is outranked by a schema's own message.
 */
const contractWording = (issue: z.core.$ZodRawIssue): string | undefined => {
  switch (issue.code) {
    case 'invalid_type': {
      const type = typeWithArticle(issue.expected);
      return `must be ${type} (it is missing or of another type). Fix: send ${type}`;
    }
    case 'invalid_value':
      return `must be one of ${issue.values.map((value) => JSON.stringify(value)).join(', ')}`;
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

/** Parses `value` with a contract schema, its issues worded as the contract words them (contractWording). */
export const parseContract = <S extends z.ZodMiniType>(schema: S, value: unknown) =>
  schema.safeParse(value, { error: contractWording });

/** Formats zod issues as "field: problem" lines, the form every rejection uses. */
export const describeIssues = (error: { readonly issues: readonly z.core.$ZodIssue[] }): string =>
  error.issues.map((i) => `${i.path.length > 0 ? i.path.join('.') : '(detail)'}: ${i.message}`).join('; ');

// --- every other detail-type of the contract ---------------------------------------------------
// Bakehouse's own events carry `version` always; consumers accept the same major (a newer minor
// adds optional fields only) and reject another major with the field named.

const amiId = z.string().check(z.regex(/^ami-[0-9a-f]{8,17}$/, "use an AMI id such as 'ami-0123456789abcdef0'"));
const familyName = z.string().check(z.minLength(1, 'name the family'));
const channelName = z.string().check(z.regex(/^[a-z][a-z0-9-]{0,30}$/, 'use a channel name such as stable'));
const nonEmpty = (what: string) => z.string().check(z.minLength(1, `give ${what}`));

export const bakeStartedSchema = z.object({
  version,
  bakeId: nonEmpty('the bake id'),
  family: familyName,
  sourceAmiId: amiId,
  bakeKey: nonEmpty('the bake key'),
  automationExecutionId: nonEmpty('the automation execution id'),
});
export type BakeStarted = z.output<typeof bakeStartedSchema>;

export const bakeSkippedSchema = z.object({
  version,
  bakeId: nonEmpty('the bake id'),
  family: familyName,
  amiId,
  bakeKey: nonEmpty('the bake key'),
  sourceAmiId: amiId,
});
export type BakeSkipped = z.output<typeof bakeSkippedSchema>;

export const amiBakedSchema = z.object({
  version,
  bakeId: nonEmpty('the bake id'),
  family: familyName,
  os: z.enum(['linux', 'windows']),
  amiId,
  region: nonEmpty('the region'),
  name: nonEmpty('the image name'),
  sourceAmiId: amiId,
  bakeKey: nonEmpty('the bake key'),
  /** The family this one is built on (its source is that family's channel), or null. */
  parentFamily: z.nullable(z.string()),
  durationSeconds: z.number().check(z.minimum(0)),
  automationExecutionId: nonEmpty('the automation execution id'),
  /**
   * The automation's kept outputs: the image id and `collectReport.Output`, the bake's report
   * (`bakehouse-report 1`, then `release-before`, `release-after`, `changes <n>` and the
   * `+name-version` / `-name-version` lines on Linux, `+KB<id>` lines on Windows;
   * functions/commons/documents.ts reads it).
   */
  outputs: z.optional(z.record(z.string(), z.unknown())),
  /**
   * The Amazon Linux 2023 release the bake moved the image between (added in 1.x, optional):
   * null or absent for images without a release lock (Ubuntu, Windows, other Linux).
   */
  release: z.optional(
    z.nullable(
      z.object({
        /** `latest` follows AWS's newest release; `pinned` is the family's patch.release. */
        policy: z.enum(['latest', 'pinned']),
        /** The release the bake key holds. */
        target: z.string(),
        /** The release the builder started from and the one the image has, read on the builder. */
        before: z.nullable(z.string()),
        after: z.nullable(z.string()),
      }),
    ),
  ),
});
export type AmiBaked = z.output<typeof amiBakedSchema>;

export const bakeFailedSchema = z.object({
  version,
  bakeId: nonEmpty('the bake id'),
  family: familyName,
  failedStep: z.nullable(z.string()),
  reason: nonEmpty('the reason'),
  automationExecutionId: z.nullable(z.string()),
  /**
   * What the failure path could not clean up (1.x minor addition, optional): each failed step with
   * the resource it was for and the error. `builderTerminated` false means a builder may still run;
   * its `bakehouse:expires-at` tag lets the reaper (functions/reaper) terminate it later.
   */
  cleanup: z.optional(
    z.object({
      errors: z.array(
        z.object({
          step: nonEmpty('the cleanup step'),
          resource: z.nullable(z.string()),
          error: nonEmpty('the error'),
        }),
      ),
      builderTerminated: z.boolean(),
    }),
  ),
});
export type BakeFailed = z.output<typeof bakeFailedSchema>;
export type BakeCleanup = NonNullable<BakeFailed['cleanup']>;
export type CleanupError = BakeCleanup['errors'][number];

export const checkResultSchema = z.object({
  name: nonEmpty('the check name'),
  passed: z.boolean(),
  /** What the check printed or why it failed (trimmed). */
  output: z.optional(z.string()),
});
export type CheckResult = z.output<typeof checkResultSchema>;

export const amiTestedSchema = z.object({
  version,
  bakeId: nonEmpty('the bake id'),
  family: familyName,
  amiId,
  passed: z.boolean(),
  results: z.array(checkResultSchema),
  testExecutionId: z.nullable(z.string()),
});
export type AmiTested = z.output<typeof amiTestedSchema>;

export const promoteRequestedSchema = z.strictObject({
  version: z._default(version, EVENT_VERSION),
  family: familyName,
  channel: channelName,
  amiId,
  requestedBy: z
    .string()
    .check(z.minLength(1, "say who asked, for example 'cli:alice' or 'team-payments'"), z.maxLength(256)),
  reason: z._default(z.string().check(z.minLength(1), z.maxLength(512)), 'manual promotion'),
  /**
   * Why the channel moves (added in 1.x, optional): `manual` (the default), or `rollback` when the
   * sender moves it back to an earlier image (`bakehouse rollback`). A rollback is recorded as one,
   * so the next rollback walks further back instead of returning to the image this one left.
   */
  cause: z.optional(z.enum(['manual', 'rollback'])),
});
export type PromoteRequested = z.output<typeof promoteRequestedSchema>;

/** `canary`: a `Canary Judged` with verdict pass moved the family's canary channel (1.x addition). */
export const PromotionCause = ['baked', 'tested', 'manual', 'rollback', 'revocation', 'canary'] as const;

export const amiPromotedSchema = z.object({
  version,
  /** The bake that made the AMI (its correlation id), or null for an AMI Bakehouse did not bake. */
  bakeId: z.nullable(z.string()),
  family: familyName,
  amiId,
  channel: channelName,
  previousAmiId: z.nullable(amiId),
  cause: z.enum(PromotionCause),
  promotedBy: nonEmpty('who promoted'),
  targets: z.object({
    parameter: nonEmpty('the channel parameter'),
    launchTemplates: z.array(z.object({ id: z.string(), version: z.number(), isDefault: z.boolean() })),
    autoScalingGroups: z.array(z.object({ name: z.string(), instanceRefreshId: z.nullable(z.string()) })),
    regions: z.array(z.object({ region: z.string(), amiId: z.string() })),
    accounts: z.array(z.string()),
  }),
  /** Families built on this channel whose newest image has another parent: they need a bake. */
  outdatedChildren: z.array(z.object({ family: z.string(), amiId: z.nullable(z.string()) })),
  /**
   * Targets that did not follow the channel (1.x addition, present only when some failed): the
   * channel moved, but each of these still holds its earlier image, with why and the fix.
   */
  failedTargets: z.optional(
    z.array(
      z.object({
        kind: z.enum(['launchTemplate', 'autoScalingGroup']),
        /** The template or group as the configuration names it. */
        target: z.string(),
        reason: z.string(),
        fix: z.string(),
      }),
    ),
  ),
});
export type AmiPromoted = z.output<typeof amiPromotedSchema>;

export const amiRevokedSchema = z.strictObject({
  version: z._default(version, EVENT_VERSION),
  amiId,
  reason: z.string().check(z.minLength(1, 'say why the image is revoked'), z.maxLength(512)),
  requestedBy: z
    .string()
    .check(z.minLength(1, "say who asked, for example 'cli:alice' or 'team-security'"), z.maxLength(256)),
  /** Also revoke every image built on this one (children families record their parent). */
  cascade: z._default(z.boolean(), false),
});
export type AmiRevoked = z.output<typeof amiRevokedSchema>;

/** A channel Revoke moved off a revoked image, or could not (stranded: no earlier good image). */
const revokedChannel = z.object({ family: familyName, channel: channelName, from: amiId, to: amiId });
const strandedChannel = z.object({ family: familyName, channel: channelName, amiId });

/**
 * What Revoke did with an `AMI Revoked` (the request): the outcome people and other teams follow.
 * Each channel it moved also has its `AMI Promoted` (cause `revocation`).
 */
export const revocationCompletedSchema = z.object({
  version,
  /** The `AMI Revoked` event this answers. */
  requestEventId: nonEmpty('the request event id'),
  amiId,
  /** The image's family (its `bakehouse:family` tag), or null for an image of no configured family. */
  family: z.nullable(z.string()),
  reason: nonEmpty('the reason'),
  requestedBy: nonEmpty('who asked'),
  cascade: z.boolean(),
  /** Every image revoked (or found revoked), the named one first; with cascade, its descendants. */
  revoked: z.array(amiId),
  channelsMoved: z.array(revokedChannel),
  stranded: z.array(strandedChannel),
});
export type RevocationCompleted = z.output<typeof revocationCompletedSchema>;

/** An `AMI Revoked` that Revoke refused: nothing was tagged, disabled or moved. */
export const revocationRejectedSchema = z.object({
  version,
  requestEventId: nonEmpty('the request event id'),
  /** The image the request named, as given (null when the request named none that parses). */
  amiId: z.nullable(z.string().check(z.maxLength(64))),
  requestedBy: z.nullable(z.string().check(z.maxLength(256))),
  /** Why, with the field and the fix. */
  reason: nonEmpty('the reason'),
});
export type RevocationRejected = z.output<typeof revocationRejectedSchema>;

// Rejections of the other requests (1.x minor addition): what the refusing function read of the
// request, enough to correlate it (`requestEventId` is the id PutEvents returned to the sender),
// why (naming the field) and the fix. Each try of a refused request publishes one, with the same
// requestEventId.
const requestText = (max: number) => z.nullable(z.string().check(z.maxLength(max)));

/** A `Bake Requested` StartBake refused (malformed, or a family the deployment does not have): no bake starts. */
export const bakeRejectedSchema = z.object({
  version,
  requestEventId: nonEmpty('the request event id'),
  /** The request's fields as given (null when absent or not text). */
  family: requestText(256),
  idempotencyKey: requestText(256),
  requestedBy: requestText(256),
  /** The bake id the request would have had (functions/commons/bake-id.ts), or null without a family. */
  bakeId: requestText(300),
  /** What is wrong, naming the field. */
  reason: nonEmpty('the reason'),
  /** What to change for the request to be accepted. */
  fix: nonEmpty('the fix'),
});
export type BakeRejected = z.output<typeof bakeRejectedSchema>;

/**
 * A promotion Promote refused (a `Promote Requested`, or an automatic one from `AMI Baked`, `AMI
 * Tested` or `Canary Judged`): no channel moved.
 */
export const promotionRejectedSchema = z.object({
  version,
  requestEventId: nonEmpty('the request event id'),
  /** The detail-type of the refused event. */
  requestDetailType: nonEmpty('the detail-type of the request'),
  family: requestText(256),
  /** The channel a `Promote Requested` or `Canary Judged` named; null for AMI Baked and AMI Tested. */
  channel: requestText(64),
  amiId: requestText(64),
  requestedBy: requestText(256),
  /** The bake whose Slack thread the refusal belongs in (the event's, or the image's when it is this family's), or null. */
  bakeId: requestText(300),
  reason: nonEmpty('the reason'),
  fix: nonEmpty('the fix'),
});
export type PromotionRejected = z.output<typeof promotionRejectedSchema>;

/** What a janitor run did (or, in a dry run, would do) to one image or snapshot. */
export const JanitorAction = [
  'kept',
  'marked',
  'deprecated',
  'disabled',
  'deregistered',
  'deleted',
  'unmarked',
  'failed',
] as const;

export const janitorItemSchema = z.object({
  kind: z.enum(['image', 'snapshot']),
  id: nonEmpty('the resource id'),
  family: z.nullable(z.string()),
  action: z.enum(JanitorAction),
  /** Why it was kept (the first protecting rule) or why the action applies. */
  reason: nonEmpty('the reason'),
});
export type JanitorItem = z.output<typeof janitorItemSchema>;

export const janitorReportSchema = z.object({
  version,
  runId: nonEmpty('the run id'),
  dryRun: z.boolean(),
  /** False when the run stopped before changing anything (fail closed); `stoppedBecause` says why. */
  completed: z.boolean(),
  stoppedBecause: z.nullable(z.string()),
  /** Images deregistered and snapshots deleted in this run (would be, in a dry run). */
  deregistered: z.array(z.string()),
  snapshotsDeleted: z.array(z.string()),
  /** Counts of kept images by the rule that protected them (in use by an instance, keep-N, …). */
  kept: z.record(z.string(), z.number()),
  /** Counts per action over images and snapshots. */
  counts: z.record(z.string(), z.number()),
  /**
   * Per image and snapshot, the action or the reason it was kept. An event holds at most 256 KB:
   * the list is cut at 500 items (`itemsTruncated`); the function's return value has them all.
   */
  items: z.array(janitorItemSchema),
  itemsTruncated: z.boolean(),
  errors: z.array(z.object({ resource: z.string(), error: z.string() })),
  durationSeconds: z.number().check(z.minimum(0)),
  /**
   * Parameter Store as the run read it (1.x addition, optional; absent when the run stopped before
   * reading it): parameters listed and read, the SecureStrings skipped (never decrypted) and the
   * parameters it could not read, by name (never a value). The lists are cut at 100 names; the
   * counts are whole. `unreadableMode` says what the unreadable ones did: `stop` stopped the run.
   */
  parameters: z.optional(
    z.object({
      listed: z.number(),
      read: z.number(),
      secureStringsSkipped: z.array(z.string()),
      secureStringsSkippedCount: z.number(),
      unreadable: z.array(z.object({ name: z.string(), error: z.string() })),
      unreadableCount: z.number(),
      unreadableMode: z.enum(['stop', 'continue']),
    }),
  ),
  /**
   * A run cut into parts by its invocation's time (1.x addition, optional): `of` is the first part's
   * run id, `number` counts from 1. Present once a part deferred work, and on every later part.
   */
  part: z.optional(z.object({ of: nonEmpty('the first part'), number: z.int().check(z.minimum(1)) })),
  /**
   * What this part left because its invocation's time ran out (1.x addition, optional): images
   * kept unread (`deferred`: their launch permissions were not read) and actions not started. Each
   * is picked up by the next part (`nextPart`, which the bus's JanitorContinues rule invokes) or,
   * after the last part a run may have, by the next night's run.
   */
  deferred: z.optional(
    z.object({
      launchPermissionsUnread: z.number(),
      actionsNotStarted: z.number(),
      /** Capped actions the run took so far, this part included: the next part has the rest of the cap. */
      actionsDone: z.number(),
      nextPart: z.optional(z.int().check(z.minimum(2))),
    }),
  ),
  /**
   * Builder and tester instances past their `bakehouse:expires-at` whose automation no longer runs,
   * which the run terminated (or, in a dry run, would have): the reaper's work, also done hourly
   * (1.x addition, optional). Lists cut at 100 in the event; `reapedCount` is whole.
   */
  reaper: z.optional(
    z.object({
      reaped: z.array(
        z.object({
          instanceId: z.string(),
          role: z.string(),
          bakeId: z.nullable(z.string()),
          family: z.nullable(z.string()),
          expiresAt: z.string(),
        }),
      ),
      reapedCount: z.number(),
      keptCount: z.number(),
      errors: z.array(z.object({ instanceId: z.string(), error: z.string() })),
    }),
  ),
});
export type JanitorReport = z.output<typeof janitorReportSchema>;

// --- the canary stage (issue 16) --------------------------------------------------------------
// The canary runs as an execution of the canary state machine named canaryId; its two events open
// and close it. Both carry the bake's id so Slack threads them under the bake.

const instanceIds = z.array(
  z.string().check(z.regex(/^i-[0-9a-f]{8,17}$/, "use an instance id such as 'i-0123456789abcdef0'")),
);

export const canaryStartedSchema = z.object({
  version,
  /** The canary's id: the name of its execution of the canary state machine. */
  canaryId: nonEmpty('the canary id (the execution name)'),
  executionArn: nonEmpty('the execution ARN'),
  family: familyName,
  /** The family's canary channel: a pass moves it to amiId. */
  channel: channelName,
  /** The image under test (the canary instances run it). */
  amiId,
  /** The channel's current image (the baseline instances run it). */
  baselineAmiId: amiId,
  /** The bake that made amiId (from its AMI Tested). */
  bakeId: nonEmpty('the bake id'),
  autoScalingGroup: nonEmpty('the Auto Scaling group'),
  pairs: z.int().check(z.minimum(1)),
  instances: z.object({ baseline: instanceIds, canary: instanceIds }),
  warmupMinutes: z.number().check(z.minimum(0)),
  analysisMinutes: z.number().check(z.minimum(0)),
  intervalMinutes: z.number().check(z.minimum(0)),
});
export type CanaryStarted = z.output<typeof canaryStartedSchema>;

export const CanaryVerdict = ['pass', 'marginal', 'fail', 'skipped', 'aborted', 'error'] as const;
export type CanaryVerdict = (typeof CanaryVerdict)[number];

/** One metric of the scorecard, as functions/commons/canary-judge.ts judges it (without `method`). */
export const canaryMetricResultSchema = z.object({
  name: nonEmpty('the metric name'),
  classification: z.enum(['High', 'Low', 'Pass', 'NoData']),
  passed: z.boolean(),
  critical: z.boolean(),
  weight: z.number(),
  baselineMedian: z.nullable(z.number()),
  canaryMedian: z.nullable(z.number()),
  /** canaryMedian / baselineMedian (a ratio: 1.1 is 10 % more); null without data or over a zero baseline. */
  change: z.nullable(z.number()),
  pValue: z.nullable(z.number()),
  baselineCount: z.number(),
  canaryCount: z.number(),
});
export type CanaryMetricResult = z.output<typeof canaryMetricResultSchema>;

export const canaryJudgedSchema = z.object({
  version,
  canaryId: nonEmpty('the canary id (the execution name)'),
  executionArn: nonEmpty('the execution ARN'),
  family: familyName,
  channel: channelName,
  amiId,
  /** Null when the canary ended before it knew the baseline (no image on the channel yet, an early error). */
  baselineAmiId: z.nullable(amiId),
  bakeId: nonEmpty('the bake id'),
  verdict: z.enum(CanaryVerdict),
  /** 0–100; null unless the canary was judged (pass, marginal, fail). */
  score: z.nullable(z.number().check(z.minimum(0), z.maximum(100))),
  /** One sentence: why this verdict. */
  reason: nonEmpty('the reason'),
  intervalsJudged: z.int().check(z.minimum(0)),
  failedCritical: z.array(z.string()),
  /** The scorecard; empty unless judged. */
  metrics: z.array(canaryMetricResultSchema),
  /** What cleaning up the pairs could not do, and how many instances it terminated. */
  cleanup: z.object({ errors: z.array(z.string()), instancesTerminated: z.int().check(z.minimum(0)) }),
});
export type CanaryJudged = z.output<typeof canaryJudgedSchema>;

/** The detail schema of each detail-type: the one source the JSON Schema files are made from. */
export const detailSchemas = {
  [DetailType.BakeRequested]: bakeRequestSchema,
  [DetailType.BakeStarted]: bakeStartedSchema,
  [DetailType.BakeSkipped]: bakeSkippedSchema,
  [DetailType.AmiBaked]: amiBakedSchema,
  [DetailType.BakeFailed]: bakeFailedSchema,
  [DetailType.AmiTested]: amiTestedSchema,
  [DetailType.PromoteRequested]: promoteRequestedSchema,
  [DetailType.AmiPromoted]: amiPromotedSchema,
  [DetailType.AmiRevoked]: amiRevokedSchema,
  [DetailType.RevocationCompleted]: revocationCompletedSchema,
  [DetailType.RevocationRejected]: revocationRejectedSchema,
  [DetailType.BakeRejected]: bakeRejectedSchema,
  [DetailType.PromotionRejected]: promotionRejectedSchema,
  [DetailType.JanitorReport]: janitorReportSchema,
  [DetailType.CanaryStarted]: canaryStartedSchema,
  [DetailType.CanaryJudged]: canaryJudgedSchema,
} as const;
