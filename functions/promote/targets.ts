/**
 * What a promotion moves besides the channel parameter: launch templates, Auto Scaling groups,
 * copies in other regions and shares with other accounts. Each operation is idempotent: run twice
 * for the same AMI it changes nothing the second time.
 *
 * (Interface fixed by the lead; the implementation is being written.)
 */
import type { AutoScalingClient } from '@aws-sdk/client-auto-scaling';
import type { EC2Client } from '@aws-sdk/client-ec2';
import type { AwsTag } from '../commons/bake-plan';
import type { Family } from '../commons/families';
import type { LogPort } from '../commons/powertools';

export type Channel = Family['channels'][number];

export interface TargetDeps {
  /** The EC2 client of a region (the home region when omitted). */
  ec2(region?: string): Pick<EC2Client, 'send'>;
  readonly autoScaling: Pick<AutoScalingClient, 'send'>;
  /** An EC2 client in another account, through the role (for re-applying tags there). */
  ec2As(roleArn: string, region?: string): Promise<Pick<EC2Client, 'send'>>;
  readonly homeRegion: string;
  readonly logger: LogPort;
}

export interface LaunchTemplateUpdate {
  readonly id: string;
  readonly version: number;
  readonly isDefault: boolean;
  /** False when the template already had a version with the AMI (nothing was written). */
  readonly changed: boolean;
}

export interface RefreshResult {
  readonly name: string;
  /** Null when no refresh was started (one already runs, or the group already uses the AMI). */
  readonly instanceRefreshId: string | null;
}

export interface Distribution {
  readonly regions: readonly { readonly region: string; readonly amiId: string }[];
  readonly accounts: readonly string[];
}

export interface ImageToDistribute {
  readonly amiId: string;
  readonly name: string;
  readonly tags: readonly AwsTag[];
}

export const updateLaunchTemplates = async (
  _templates: Channel['launchTemplates'],
  _amiId: string,
  _deps: TargetDeps,
): Promise<LaunchTemplateUpdate[]> => {
  throw new Error('updateLaunchTemplates is being written');
};

export const refreshAutoScalingGroups = async (
  _groups: Channel['autoScalingGroups'],
  _amiId: string,
  _deps: TargetDeps,
): Promise<RefreshResult[]> => {
  throw new Error('refreshAutoScalingGroups is being written');
};

export const distributeImage = async (
  _family: Family,
  _image: ImageToDistribute,
  _deps: TargetDeps,
): Promise<Distribution> => {
  throw new Error('distributeImage is being written');
};
