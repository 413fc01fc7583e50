/**
 * AWS SDK clients, built once per container. Adaptive retry spreads throttled calls out
 * instead of failing them (EC2's API buckets are small).
 */
import { AutoScalingClient } from '@aws-sdk/client-auto-scaling';
import { EC2Client } from '@aws-sdk/client-ec2';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SFNClient } from '@aws-sdk/client-sfn';
import { SSMClient } from '@aws-sdk/client-ssm';
import { STSClient } from '@aws-sdk/client-sts';

const options = { retryMode: 'adaptive', maxAttempts: 8 } as const;

export const createEc2Client = (): EC2Client => new EC2Client(options);
export const createSsmClient = (): SSMClient => new SSMClient(options);
export const createSfnClient = (): SFNClient => new SFNClient(options);
export const createEventBridgeClient = (): EventBridgeClient => new EventBridgeClient(options);

/** EC2 in a given region (promotion copies images there), optionally with other credentials (an assumed role). */
export const createEc2ClientIn = (
  region: string,
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string; expiration?: Date },
): EC2Client => new EC2Client({ ...options, region, ...(credentials === undefined ? {} : { credentials }) });
export const createAutoScalingClient = (): AutoScalingClient => new AutoScalingClient(options);
export const createStsClient = (): STSClient => new STSClient(options);

/** Secrets Manager (the Slack notifier reads its token or webhook URL there). */
export const createSecretsManagerClient = (): SecretsManagerClient => new SecretsManagerClient(options);

/**
 * EC2's time, learned from `ec2`'s answers: the Date of its latest successful answer plus the
 * time since, so image ages and grace periods count on the clock EC2 dates images with (not a
 * skewed container clock). Before the first answer it is the container's clock.
 */
export const ec2ClockOf = (ec2: EC2Client): (() => Date) => {
  let offset = 0;
  ec2.middlewareStack.add(
    (next) =>
      async function learnServiceClock(args) {
        const result = await next(args);
        const date = (result.response as { headers?: Record<string, string> }).headers?.date;
        const at = date === undefined ? Number.NaN : Date.parse(date);
        if (!Number.isNaN(at)) offset = at - Date.now();
        return result;
      },
    { step: 'deserialize', name: 'learnServiceClock' },
  );
  return () => new Date(Date.now() + offset);
};
