export const AutoScalingTable = {
  Groups: 'autoscaling.groups',
  LaunchConfigurations: 'autoscaling.launchConfigurations',
  InstanceRefreshes: 'autoscaling.instanceRefreshes',
} as const;

export const XMLNS = 'http://autoscaling.amazonaws.com/doc/2011-01-01/';
export const DEFAULT_MAX_RECORDS = 50;
export const MAX_RECORDS = 100;
/** A refresh waits this long in Pending before it starts replacing instances. */
export const REFRESH_PENDING_SECONDS = 30;
/** Launching one batch of replacement instances, before their warm-up. */
export const REFRESH_LAUNCH_SECONDS = 60;
export const DEFAULT_WARMUP_SECONDS = 300;

// ---------------------------------------------------------------- records

export interface LaunchTemplateSpecificationRecord {
  readonly launchTemplateId: string;
  readonly launchTemplateName: string;
  readonly version: string;
}

export interface LaunchConfigurationRecord extends Record<string, unknown> {
  readonly launchConfigurationName: string;
  readonly launchConfigurationArn: string;
  readonly imageId: string;
  readonly instanceType: string;
  readonly keyName?: string;
  readonly securityGroups: readonly string[];
  readonly userData?: string;
  readonly iamInstanceProfile?: string;
  readonly blockDeviceMappings: readonly Record<string, unknown>[];
  readonly instanceMonitoring: boolean;
  readonly ebsOptimized: boolean;
  readonly associatePublicIpAddress?: boolean;
  readonly metadataOptions?: Record<string, unknown>;
  readonly createdTime: string;
}

export interface OverrideRecord {
  readonly instanceType?: string;
  readonly weightedCapacity?: string;
  readonly launchTemplateSpecification?: LaunchTemplateSpecificationRecord;
}

export interface MixedInstancesPolicyRecord {
  readonly launchTemplateSpecification: LaunchTemplateSpecificationRecord;
  readonly overrides: readonly OverrideRecord[];
  readonly instancesDistribution: {
    readonly onDemandAllocationStrategy: string;
    readonly onDemandBaseCapacity: number;
    readonly onDemandPercentageAboveBaseCapacity: number;
    readonly spotAllocationStrategy: string;
    readonly spotInstancePools?: number;
    readonly spotMaxPrice?: string;
  };
}

export interface GroupTag {
  readonly key: string;
  readonly value: string;
  readonly propagateAtLaunch: boolean;
}

/** Exactly one launch source is set. */
export interface LaunchSource {
  readonly launchConfigurationName?: string;
  readonly launchTemplate?: LaunchTemplateSpecificationRecord;
  readonly mixedInstancesPolicy?: MixedInstancesPolicyRecord;
}

export interface GroupRecord extends Record<string, unknown>, LaunchSource {
  readonly autoScalingGroupName: string;
  readonly autoScalingGroupArn: string;
  readonly minSize: number;
  readonly maxSize: number;
  readonly desiredCapacity: number;
  readonly defaultCooldown: number;
  readonly availabilityZones: readonly string[];
  readonly vpcZoneIdentifier?: string;
  readonly healthCheckType: string;
  readonly healthCheckGracePeriod: number;
  readonly defaultInstanceWarmup?: number;
  readonly terminationPolicies: readonly string[];
  readonly newInstancesProtectedFromScaleIn: boolean;
  readonly capacityRebalance: boolean;
  readonly maxInstanceLifetime?: number;
  readonly tags: readonly GroupTag[];
  readonly createdTime: string;
  /** EC2 instances put in the group with AttachInstances (groups launch none themselves). */
  readonly instanceIds?: readonly string[];
}

export type RefreshStatus = 'Pending' | 'InProgress' | 'Successful' | 'Failed' | 'Cancelling' | 'Cancelled';

export interface InstanceRefreshRecord extends Record<string, unknown> {
  readonly instanceRefreshId: string;
  readonly autoScalingGroupName: string;
  readonly status: RefreshStatus;
  readonly statusReason?: string;
  readonly startTime: string;
  /** When it leaves Pending and when it completes (sandbox clock, ISO). */
  readonly inProgressAt: string;
  readonly completesAt: string;
  readonly endTime?: string;
  readonly instancesToUpdate: number;
  readonly preferences: {
    readonly minHealthyPercentage: number;
    readonly maxHealthyPercentage?: number;
    readonly instanceWarmup?: number;
    readonly skipMatching: boolean;
    readonly autoRollback: boolean;
    readonly scaleInProtectedInstances: string;
    readonly standbyInstances: string;
  };
  readonly desiredConfiguration?: LaunchSource;
}
