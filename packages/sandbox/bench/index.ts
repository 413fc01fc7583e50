/**
 * Sandbox numbers for `npm run bench`: start-up time of the sandbox process, DescribeImages
 * throughput with 10k images, and memory with 100k images. Every request goes to loopback, and
 * every loop is bounded in count. What IAM enforcement costs per request is in authz.ts.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DescribeImagesCommand, type DescribeImagesCommandInput, EC2Client } from '@aws-sdk/client-ec2';
import { startSandbox } from '../src/server';
import { Ec2Table, type ImageRecord, newId } from '../src/services/ec2/model';
import type { Store } from '../src/store';

export { authorizationBench } from './authz';

/** The package's folder: the processes below run its own entry points. */
const root = join(import.meta.dirname, '..');

const median = (xs: number[]): number => {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] as number;
};
const round = (n: number): number => Math.round(n * 10) / 10;

/** Milliseconds from spawning `src/main.ts` to its ready line (fresh state each time). */
const startupMs = async (): Promise<number> => {
  const stateDir = mkdtempSync(join(tmpdir(), 'bakehouse-bench-start-'));
  try {
    const started = performance.now();
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', 'src/main.ts', '--port', '0', '--state', stateDir, '--speed', '0', '--no-provision'],
      { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const ready = await new Promise<number>((resolve, reject) => {
      child.stdout.on('data', (chunk: Buffer) => {
        if (chunk.toString().includes('ready at')) resolve(performance.now() - started);
      });
      child.on('exit', (code) => reject(new Error(`sandbox exited with ${code} before it was ready`)));
    });
    const exited = new Promise((resolve) => child.on('exit', resolve));
    child.kill('SIGTERM');
    await exited;
    return ready;
  } finally {
    rmSync(stateDir, { recursive: true, force: true });
  }
};

const families = ['al2023-base', 'ubuntu-2404-base', 'windows-2022-base', 'al2023-web'];

/** Adds `count` account-owned images with their tags straight into the store, in batches. */
export const fillImages = (store: Store, account: string, count: number, now: Date): void => {
  for (let done = 0; done < count; done += 1000) {
    store.transact(now.getTime(), (tx) => {
      for (let i = done; i < Math.min(count, done + 1000); i++) {
        const family = families[i % families.length] as string;
        const imageId = newId('ami');
        const image: ImageRecord = {
          imageId,
          ownerId: account,
          name: `bakehouse/${family}/${String(i).padStart(7, '0')}`,
          state: 'available',
          creationDate: new Date(now.getTime() - i * 60_000).toISOString(),
          architecture: 'x86_64',
          platformDetails: 'Linux/UNIX',
          rootDeviceName: '/dev/xvda',
          rootDeviceType: 'ebs',
          virtualizationType: 'hvm',
          enaSupport: true,
          blockDeviceMappings: [
            {
              deviceName: '/dev/xvda',
              ebs: {
                snapshotId: newId('snap'),
                volumeSize: 8,
                volumeType: 'gp3',
                deleteOnTermination: true,
                encrypted: true,
              },
            },
          ],
          isPublic: false,
          launchPermissions: [],
          tags: { 'bakehouse:managed': 'true', 'bakehouse:family': family, 'bakehouse:bake-id': `${family}-${i}` },
        };
        tx.put(Ec2Table.Images, imageId, image);
      }
    });
  }
};

/** Requests per second of one DescribeImages request shape, over a bounded number of calls. */
const throughput = async (client: EC2Client, input: DescribeImagesCommandInput) => {
  const calls = 40;
  const started = performance.now();
  let images = 0;
  for (let i = 0; i < calls; i++) {
    const page = await client.send(new DescribeImagesCommand(input));
    images += page.Images?.length ?? 0;
  }
  const seconds = (performance.now() - started) / 1000;
  return { requestsPerSecond: round(calls / seconds), imagesPerResponse: images / calls };
};

const describeImagesThroughput = async (imageCount: number) => {
  const stateDir = mkdtempSync(join(tmpdir(), 'bakehouse-bench-images-'));
  const sandbox = await startSandbox({ port: 0, speed: 0, stateDir });
  try {
    fillImages(sandbox.store, sandbox.account, imageCount, sandbox.clock.now());
    // This measures the emulator, not EC2: its request buckets (on by default) would cap the loop.
    await fetch(`${sandbox.url}/_sandbox/ec2/rate-limits`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ rateLimits: 'off' }),
    });
    const client = new EC2Client({
      endpoint: sandbox.url,
      region: 'us-east-1',
      credentials: { accessKeyId: 'bench', secretAccessKey: 'bench' },
    });
    return {
      images: imageCount,
      firstPageOf1000: await throughput(client, { Owners: ['self'], MaxResults: 1000 }),
      tagFilterPageOf100: await throughput(client, {
        Owners: ['self'],
        Filters: [{ Name: 'tag:bakehouse:family', Values: ['al2023-web'] }],
        MaxResults: 100,
      }),
      nameWildcardPageOf100: await throughput(client, {
        Owners: ['self'],
        Filters: [{ Name: 'name', Values: ['bakehouse/ubuntu-2404-base/*'] }],
        MaxResults: 100,
      }),
    };
  } finally {
    await sandbox.close();
    rmSync(stateDir, { recursive: true, force: true });
  }
};

/** Memory of a sandbox holding `imageCount` images, measured in a fresh process after a full GC. */
const memoryWithImages = (imageCount: number): unknown => {
  const child = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', 'bench/memory.ts', String(imageCount)], {
    cwd: root,
    encoding: 'utf8',
  });
  if (child.status !== 0) throw new Error(`memory bench failed: ${child.stderr}`);
  return JSON.parse(child.stdout);
};

export const sandboxBench = async () => {
  const startups = [];
  for (let i = 0; i < 3; i++) startups.push(await startupMs());
  return {
    startupMsMedian: round(median(startups)),
    startupMsRuns: startups.map(round),
    describeImages: await describeImagesThroughput(10_000),
    memory: memoryWithImages(100_000),
  };
};
