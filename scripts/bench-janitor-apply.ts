/**
 * Janitor deletion throughput for `npm run bench`: a sandbox (in process, clock frozen) with N
 * managed images, EC2's deregister/delete token bucket switched on (100 burst, 5 per second on real
 * time, RequestLimitExceeded when empty), and the janitor's apply deregistering them all with its
 * own token bucket and the SDK's adaptive retry. Reports deletions per second against the bucket's
 * ceiling and how many calls the sandbox refused (the goal: none).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { CreateImageCommand, EC2Client, RunInstancesCommand } from '@aws-sdk/client-ec2';
import { SSMClient } from '@aws-sdk/client-ssm';
import { startSandbox } from '@bakehouse/sandbox';
import { applyPlan } from '../functions/janitor/apply';
import type { PlannedAction } from '../functions/janitor/model';
import { paceEc2Client } from '../functions/janitor/pacing';

const PUBLIC_AL2023 = 'ami-0b5eed00000000001';

export interface JanitorApplyBench {
  readonly images: number;
  readonly deregistered: number;
  readonly snapshotsDeleted: number;
  readonly seconds: number;
  readonly deletionsPerSecond: number;
  /** What the bucket allows at best for this many calls: the burst at once, then 5 per second. */
  readonly ceilingPerSecond: number;
  /** Calls the sandbox's buckets refused (each retried by the SDK): the legacy fault's and EC2's own. */
  readonly refusedByEc2: number;
  readonly errors: number;
}

export const benchJanitorApply = async (options: { images?: number } = {}): Promise<JanitorApplyBench> => {
  const count = options.images ?? 200;
  const stateDir = mkdtempSync(join(tmpdir(), 'bakehouse-bench-janitor-'));
  const sandbox = await startSandbox({ port: 0, speed: 0, stateDir });
  const control = async (method: string, path: string, body?: unknown): Promise<unknown> => {
    const response = await fetch(`${sandbox.url}${path}`, {
      method,
      ...(body === undefined ? {} : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
    });
    return response.json();
  };
  const config = {
    endpoint: sandbox.url,
    region: 'us-east-1',
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    retryMode: 'adaptive',
    maxAttempts: 8,
  } as const;
  const ec2 = new EC2Client(config);
  const ssm = new SSMClient(config);
  try {
    // Setup is not measured: EC2's buckets off while the images are made, back on for the run.
    await control('POST', '/_sandbox/ec2/rate-limits', { rateLimits: 'off' });
    const reservation = await ec2.send(
      new RunInstancesCommand({ ImageId: PUBLIC_AL2023, MinCount: 1, MaxCount: 1, InstanceType: 't3.micro' }),
    );
    const instanceId = reservation.Instances?.[0]?.InstanceId;
    await control('POST', '/_sandbox/clock', { advanceSeconds: 60 });
    const tags = [
      { Key: 'bakehouse:managed', Value: 'true' },
      { Key: 'bakehouse:family', Value: 'bench' },
    ];
    const ids: string[] = [];
    for (let i = 0; i < count; i++) {
      const created = await ec2.send(
        new CreateImageCommand({
          InstanceId: instanceId,
          Name: `bench-${i}`,
          TagSpecifications: [
            { ResourceType: 'image', Tags: tags },
            { ResourceType: 'snapshot', Tags: tags },
          ],
        }),
      );
      ids.push(created.ImageId as string);
    }
    await control('POST', '/_sandbox/clock', { advanceSeconds: 600 });
    await control('POST', '/_sandbox/faults', { rateLimit: {} });
    await control('POST', '/_sandbox/ec2/rate-limits', { rateLimits: 'default' });
    // A client of its own, paced as the janitor's (handler.ts): the setup's adaptive retry state stays behind.
    const janitorEc2 = paceEc2Client(new EC2Client(config));

    const actions: PlannedAction[] = ids.map((id) => ({
      kind: 'image',
      id,
      family: 'bench',
      stage: 'deregister',
      reason: 'bench',
    }));
    const started = performance.now();
    const outcome = await applyPlan(
      { actions },
      {
        ec2: janitorEc2,
        ssm,
        parameterPrefix: '/bakehouse',
        clock: () => new Date(),
        logger: { info: () => undefined, warn: () => undefined },
        concurrency: 8,
      },
    );
    const seconds = (performance.now() - started) / 1000;
    const faults = (await control('GET', '/_sandbox/faults')) as { rateLimit?: { refused: number } };
    const buckets = (await control('GET', '/_sandbox/ec2/rate-limits')) as { throttled: number };
    janitorEc2.destroy();
    const ceilingSeconds = Math.max(0, (count - 100) / 5);
    return {
      images: count,
      deregistered: outcome.deregistered.length,
      snapshotsDeleted: outcome.snapshotsDeleted.length,
      seconds: Math.round(seconds * 10) / 10,
      deletionsPerSecond: Math.round((outcome.deregistered.length / seconds) * 10) / 10,
      ceilingPerSecond:
        ceilingSeconds === 0 ? Number.POSITIVE_INFINITY : Math.round((count / ceilingSeconds) * 10) / 10,
      refusedByEc2: (faults.rateLimit?.refused ?? 0) + buckets.throttled,
      errors: outcome.errors.length,
    };
  } finally {
    ec2.destroy();
    ssm.destroy();
    await sandbox.close();
    rmSync(stateDir, { recursive: true, force: true });
  }
};

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const images = Number(process.argv[2] ?? 200);
  console.log(JSON.stringify(await benchJanitorApply({ images }), null, 2));
}
