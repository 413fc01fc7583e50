/**
 * The janitor's view of an account: everything that can protect an image, read once per run
 * (inventory.ts), then planned by pure functions (plan.ts) and applied in stages (apply.ts).
 * Plain data, so the planner can be tested against generated worlds and benchmarked at scale.
 *
 * (Interface fixed by the lead so the planner and the inventory/apply sides are written at once.)
 */

export interface WorldImage {
  readonly id: string;
  readonly name: string;
  readonly ownerId: string;
  /** ISO 8601. */
  readonly creationDate: string;
  readonly state: 'available' | 'pending' | 'failed' | 'disabled' | 'deregistered' | string;
  /** ISO 8601, or undefined when EC2 has no record (unknown, not never). */
  readonly lastLaunchedTime: string | undefined;
  /** ISO 8601 when deprecation is set. */
  readonly deprecationTime: string | undefined;
  readonly deregistrationProtection: boolean;
  /** Account ids (or 'all' for public) with launch permission. */
  readonly launchPermissions: readonly string[];
  /**
   * The inventory meant to read this image's launch permissions and ran out of time first: the plan
   * keeps it (`deferred`, plan.ts) and the next run reads them.
   */
  readonly launchPermissionsUnread?: boolean;
  readonly snapshotIds: readonly string[];
  readonly tags: Readonly<Record<string, string>>;
}

export interface WorldSnapshot {
  readonly id: string;
  readonly ownerId: string;
  readonly startTime: string;
  readonly description: string;
  readonly tags: Readonly<Record<string, string>>;
}

export interface WorldInstance {
  readonly id: string;
  readonly imageId: string;
  /** pending | running | stopping | stopped | shutting-down (terminated ones are not listed). */
  readonly state: string;
}

export interface WorldLaunchTemplateVersion {
  readonly templateId: string;
  readonly templateName: string;
  readonly version: number;
  /** The version's ImageId as written: an AMI id, or `resolve:ssm:<parameter>`. */
  readonly imageId: string | undefined;
}

export interface WorldLaunchConfiguration {
  readonly name: string;
  readonly imageId: string;
}

export interface WorldAutoScalingGroup {
  readonly name: string;
  /** Launch templates (id or name + version spec) the group or its MixedInstancesPolicy overrides use. */
  readonly launchTemplates: readonly { readonly id?: string; readonly name?: string; readonly version?: string }[];
  readonly launchConfigurationName: string | undefined;
}

export interface WorldParameter {
  readonly name: string;
  readonly value: string;
  /** Older values of channel parameters (newest first), for the rollback target. */
  readonly history?: readonly string[];
}

export interface World {
  /** When the inventory was read (ISO 8601): ages and windows count from here. */
  readonly now: string;
  readonly account: string;
  readonly images: readonly WorldImage[];
  readonly snapshots: readonly WorldSnapshot[];
  readonly instances: readonly WorldInstance[];
  readonly launchTemplateVersions: readonly WorldLaunchTemplateVersion[];
  readonly launchConfigurations: readonly WorldLaunchConfiguration[];
  readonly autoScalingGroups: readonly WorldAutoScalingGroup[];
  /**
   * Every SSM parameter whose value holds an AMI id (the whole value or anywhere inside it: plan.ts
   * `amiIdsIn`), every channel parameter and every parameter a template resolves. SecureStrings are
   * not read (inventory.ts).
   */
  readonly parameters: readonly WorldParameter[];
  /** Accounts where usage of shared images was confirmed empty (empty: none confirmed). */
  readonly confirmedUnusedShares: readonly string[];
}

export interface JanitorSettings {
  /** Keep the newest N images per family. */
  readonly keepNewest: number;
  /** Never touch an image younger than this. */
  readonly minAgeDays: number;
  /** An image launched within this window is in use. */
  readonly recentLaunchDays: number;
  /** Days between stages: marked → deprecated → disabled → deregistered. */
  readonly graceDays: number;
  /** At most this many stage changes per run. */
  readonly maxActionsPerRun: number;
  /** Stop when the in-use set shrank by more than this fraction since the last run. */
  readonly maxInUseShrink: number;
  /** Channel parameters live under `<parameterPrefix>/<family>/<channel>`. */
  readonly parameterPrefix: string;
  /** Per family (`bakehouse:family`), the family's `retention` over `keepNewest` and `minAgeDays`. */
  readonly families?: Readonly<Record<string, { readonly keepNewest: number; readonly minAgeDays: number }>>;
}

/** Why an image is kept: the first rule that protects it. */
export type KeepReason =
  | 'not-managed'
  | 'instance'
  | 'launch-template'
  | 'launch-configuration'
  | 'auto-scaling-group'
  | 'parameter'
  | 'channel'
  | 'rollback-target'
  | 'recently-launched'
  | 'launch-time-unknown'
  | 'shared'
  | 'newest'
  | 'too-young'
  | 'keep-tag'
  | 'deregistration-protection'
  | 'deferred';

export type Stage = 'mark' | 'deprecate' | 'disable' | 'deregister' | 'unmark' | 'delete-snapshot';

export interface PlannedAction {
  readonly kind: 'image' | 'snapshot';
  readonly id: string;
  readonly family: string | null;
  readonly stage: Stage;
  readonly reason: string;
  /**
   * On `deregister` (added by the planner): the image's snapshots no other image uses, which go with it
   * (DeleteAssociatedSnapshots). Apply tags them `bakehouse:managed=true` before deregistering, so a
   * crash in between leaves orphans the next plan deletes.
   */
  readonly snapshotIds?: readonly string[];
}

export interface PlannedKeep {
  readonly kind: 'image' | 'snapshot';
  readonly id: string;
  readonly family: string | null;
  readonly reason: KeepReason | string;
  /** The SSM parameter behind a `parameter`, `channel` or `rollback-target` reason: the report names it. */
  readonly by?: string;
}

export interface Plan {
  readonly actions: readonly PlannedAction[];
  readonly kept: readonly PlannedKeep[];
  /** Image ids something uses (instances, templates, groups, parameters, channels): the fail-closed check compares it between runs. */
  readonly inUse: readonly string[];
}
