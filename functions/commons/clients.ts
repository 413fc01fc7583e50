/**
 * AWS SDK clients, built once per container. Adaptive retry spreads throttled calls out
 * instead of failing them (EC2's API buckets are small).
 */
import { EC2Client } from '@aws-sdk/client-ec2';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { SFNClient } from '@aws-sdk/client-sfn';
import { SSMClient } from '@aws-sdk/client-ssm';

const options = { retryMode: 'adaptive', maxAttempts: 8 } as const;

export const createEc2Client = (): EC2Client => new EC2Client(options);
export const createSsmClient = (): SSMClient => new SSMClient(options);
export const createSfnClient = (): SFNClient => new SFNClient(options);
export const createEventBridgeClient = (): EventBridgeClient => new EventBridgeClient(options);
