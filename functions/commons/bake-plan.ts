/**
 * The shape that flows through the bake state machine. plan-bake produces it, the ASL reads
 * it with JSONPath (`$.plan.*`), the failure path receives it back. Keep the ASL, the plan-bake
 * core and these types in step: test/state-machines asserts the paths the ASL reads exist here.
 */
import type { BakeCleanup, BakeRequest } from './events';

/** Tag keys Bakehouse writes. Only what carries `bakehouse:managed=true` is ever deleted. */
export const Tag = {
  Managed: 'bakehouse:managed',
  Family: 'bakehouse:family',
  BakeId: 'bakehouse:bake-id',
  BakeKey: 'bakehouse:bake-key',
  SourceAmi: 'bakehouse:source-ami',
  ParentFamily: 'bakehouse:parent-family',
  Role: 'bakehouse:role',
  ExpiresAt: 'bakehouse:expires-at',
  Keep: 'bakehouse:keep',
  Os: 'bakehouse:os',
  RequestedBy: 'bakehouse:requested-by',
  AutomationExecution: 'bakehouse:automation-execution-id',
  /** `true` once the image is revoked (AMI Revoked): never promoted again, disabled, channels moved off it. */
  Revoked: 'bakehouse:revoked',
  RevokedReason: 'bakehouse:revoked-reason',
  RevokedBy: 'bakehouse:revoked-by',
  /** `bakehouse:channel:<channel>` = ISO time of the image's latest promotion to that channel. */
  ChannelPrefix: 'bakehouse:channel:',
  /** On an image: `running` while its test automation runs, then `passed` or `failed`. */
  Tested: 'bakehouse:tested',
  /** On an image and its tester: the test automation execution. */
  TestExecution: 'bakehouse:test-execution-id',
  /** On an image: when `AMI Tested` was published (ISO 8601); written last, it marks the result as delivered. */
  TestedAt: 'bakehouse:tested-at',
  /** On an image: the janitor's stage, `marked` | `deprecated` | `disabled`. */
  JanitorStage: 'bakehouse:janitor-stage',
  /** On an image: when its janitor stage began (ISO 8601). */
  JanitorSince: 'bakehouse:janitor-since',
  /**
   * On a launch template configured by name: the name the configuration uses. The operator puts it
   * there; Promote and Revoke may change a template configured by name only while it carries it
   * (the Service Authorization Reference has no condition key for a template's name).
   */
  LaunchTemplate: 'bakehouse:launch-template',
} as const;

export const BUILDER_ROLE = 'builder';

export interface AwsTag {
  readonly Key: string;
  readonly Value: string;
}

/** Parameters of the bake documents; every value is a list of strings, as SSM takes them. */
export type DocumentParameters = Record<string, string[]>;

/** The Amazon Linux 2023 release a bake upgrades to (see plan-bake's header). */
export interface ReleaseTarget {
  /** `latest` follows AWS's newest release; `pinned` is the family's patch.release. */
  readonly policy: 'latest' | 'pinned';
  /** The release the bake key holds: the pinned one, or the newest AL2023 AMI's for latest. */
  readonly target: string;
}

export interface BakePlanBase {
  readonly bakeId: string;
  readonly family: string;
  readonly os: 'linux' | 'windows';
  readonly region: string;
  readonly request: BakeRequest;
  readonly sourceAmiId: string;
  /** The family whose channel this image is built on, when it is built on one. */
  readonly parentFamily: string | null;
  /** The release the bake upgrades to; null where the image has no release lock (not AL2023). Plans made before it existed have none. */
  readonly release?: ReleaseTarget | null;
  readonly bakeKey: string;
  /** When planning ran (ISO 8601). */
  readonly plannedAt: string;
}

export interface SkipPlan extends BakePlanBase {
  readonly action: 'skip';
  readonly existingAmiId: string;
}

export interface BakeActionPlan extends BakePlanBase {
  readonly action: 'bake';
  readonly documentName: string;
  readonly documentParameters: DocumentParameters;
  /** UUID-shaped, derived from the bake id: a retried StartAutomationExecution starts nothing twice. */
  readonly clientToken: string;
  readonly imageName: string;
  /** Tags TagAmi writes on the new image once the automation succeeded (lineage and bake key). */
  readonly imageTags: readonly AwsTag[];
  /** The family's `candidate` channel parameter. */
  readonly candidateParameterName: string;
  /**
   * The key of the family lock plan-bake holds for this bake in the state table (`lock#family#<family>`,
   * commons/state-table.ts); released on every path, only while this bake (the owner) holds it.
   */
  readonly lockKey: string;
  /**
   * The state table record that says this bake key is baked (`record#baked#<bakeKey>`), written by
   * RecordBakedKey before the lock is released, and when it expires (epoch seconds, as text).
   */
  readonly bakedKeyRecord: string;
  readonly bakedKeyExpiresAt: string;
  /** How many automation wait periods may pass before the bake counts as timed out. */
  readonly maxWaits: number;
}

export type BakePlan = SkipPlan | BakeActionPlan;

/** What the automation callback returns to WaitForAutomation on success. */
export interface AutomationResult {
  readonly status: 'Success';
  readonly imageId: string;
  readonly durationSeconds: number;
  /** Step outputs worth keeping (package inventory and changes), by output name. */
  readonly outputs: Record<string, string[]>;
  /**
   * The Amazon Linux 2023 release of the bake (`releaseOfAutomation` in commons/documents.ts), null
   * where there is none; PublishAmiBaked publishes it as `AMI Baked`'s `release`.
   */
  readonly release?: {
    readonly policy: 'latest' | 'pinned';
    readonly target: string;
    readonly before: string | null;
    readonly after: string | null;
  } | null;
}

/** The name of the error the callback sends when the automation did not succeed. */
export const AutomationErrorName = {
  Failed: 'AutomationFailed',
  Cancelled: 'AutomationCancelled',
  TimedOut: 'AutomationTimedOut',
  BakeTimedOut: 'BakeTimedOut',
} as const;

/** The `Cause` of those errors: JSON, so the failure path can name the step. */
export interface AutomationFailureCause {
  readonly automationExecutionId: string;
  readonly status: string;
  readonly failedStep: string | null;
  readonly reason: string;
}

/** What the failure path (CleanUpFailedBake) returns for the `Bake Failed` event. */
export interface BakeFailure {
  readonly bakeId: string;
  readonly family: string;
  readonly failedStep: string;
  readonly reason: string;
  readonly automationExecutionId: string | null;
  readonly terminatedInstanceIds: readonly string[];
  readonly discardedImageIds: readonly string[];
  /** Cleanup steps that failed, as `<step>: <error>`; the builder's expiry tag lets the reaper finish the job. */
  readonly cleanupErrors: readonly string[];
  /** The same, structured, as `Bake Failed` carries them (`detail.cleanup`). */
  readonly cleanup?: BakeCleanup;
}

/** What the state machine hands the failure path: whatever it knew when it failed. */
export interface BakeFailureInput {
  readonly bakeId: string;
  readonly request?: unknown;
  readonly plan?: BakePlan | null;
  readonly automation?: { readonly automationExecutionId?: string; readonly result?: AutomationResult } | null;
  /** One key: the name of the state that failed; its value is Step Functions' error record. */
  readonly failure?: Record<string, { readonly Error?: string; readonly Cause?: string }> | null;
}
