/** Small helpers for the EC2 e2e tests: launch a running instance, image it, move the clock. */
import { CreateImageCommand, type EC2Client, RunInstancesCommand, type Tag } from '@aws-sdk/client-ec2';
import type { TestSandbox } from './sandbox';

export const AL2023_X86 = 'ami-0b5eed00000000001';
export const AL2023_ARM = 'ami-0b5eed00000000002';

export const advance = async (sandbox: TestSandbox, seconds: number): Promise<void> => {
  await sandbox.control('POST', '/_sandbox/clock', { advanceSeconds: seconds });
};

/** Launches one instance from `imageId` and waits (on the sandbox clock) until it runs. */
export const runningInstance = async (
  sandbox: TestSandbox,
  ec2: EC2Client,
  imageId = AL2023_X86,
  tags: Tag[] = [],
): Promise<string> => {
  const reservation = await ec2.send(
    new RunInstancesCommand({
      ImageId: imageId,
      MinCount: 1,
      MaxCount: 1,
      InstanceType: 't3.micro',
      ...(tags.length > 0 ? { TagSpecifications: [{ ResourceType: 'instance', Tags: tags }] } : {}),
    }),
  );
  await advance(sandbox, 60);
  return reservation.Instances?.[0]?.InstanceId as string;
};

/** Creates an image of `instanceId` and makes it available. */
export const availableImage = async (
  sandbox: TestSandbox,
  ec2: EC2Client,
  instanceId: string,
  name: string,
  tags: Tag[] = [],
): Promise<string> => {
  const created = await ec2.send(
    new CreateImageCommand({
      InstanceId: instanceId,
      Name: name,
      ...(tags.length > 0 ? { TagSpecifications: [{ ResourceType: 'image', Tags: tags }] } : {}),
    }),
  );
  await advance(sandbox, 600);
  return created.ImageId as string;
};

/** The AWS error code of a failed call, or 'no error'. */
export const errorOf = async (call: Promise<unknown>): Promise<{ name: string; status: number | undefined }> => {
  try {
    await call;
    return { name: 'no error', status: undefined };
  } catch (error) {
    const failure = error as { name: string; $metadata?: { httpStatusCode?: number } };
    return { name: failure.name, status: failure.$metadata?.httpStatusCode };
  }
};
