/**
 * Janitor inventory numbers for `npm run bench` (through `janitorBench`): a sandbox (in process,
 * clock frozen) holding 10,000 SSM parameters of every kind the janitor meets (plain text, text
 * holding an id, JSON holding an id at some depth, StringLists, SecureStrings, channels with their
 * history), read by the real `readInventory` over the AWS wire. Reports the time, the API calls by
 * action against the floor (DescribeParameters at 50 a page, GetParameters at 10 names a call),
 * and the peak heap the read added.
 *
 * The sandbox runs in this process, so the heap figure includes its handling of the requests (the
 * parameters it stores are in the baseline): an upper bound for the janitor's own share.
 *
 * Run alone: `node --expose-gc --import tsx scripts/bench-janitor-inventory.ts`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AutoScalingClient } from '@aws-sdk/client-auto-scaling';
import { EC2Client } from '@aws-sdk/client-ec2';
import { PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { startSandbox } from '@bakehouse/sandbox';
import { GET_PARAMETERS_MAX_NAMES, mapLimit, readInventory } from '../functions/janitor/inventory';

export interface JanitorInventoryBench {
  readonly parameters: number;
  readonly byKind: Readonly<Record<string, number>>;
  readonly seconds: number;
  readonly calls: Readonly<Record<string, number>>;
  readonly minimumParameterCalls: { readonly DescribeParameters: number; readonly GetParameters: number };
  readonly parametersKept: number;
  readonly secureStringsSkipped: number;
  readonly unreadable: number;
  readonly heapMbPeakAdded: number;
  readonly measuredWithGc: boolean;
}

const mb = (bytes: number) => Math.round(bytes / 1024 / 102.4) / 10;
const gc = (): void => (globalThis as { gc?: () => void }).gc?.();
const id = (n: number) => `ami-${n.toString(16).padStart(17, '0')}`;

/** The n-th parameter: name, type and value, the kinds mixed as a busy account holds them. */
const parameterOf = (n: number): { Name: string; Type: 'String' | 'StringList' | 'SecureString'; Value: string } => {
  const slot = n % 20;
  const name = `/team-${n % 50}/app-${n}`;
  if (slot < 11) return { Name: `${name}/setting`, Type: 'String', Value: `value-${n}` };
  if (slot < 15) return { Name: `${name}/ami-id`, Type: 'String', Value: id(n) };
  if (slot < 17) {
    const Value = JSON.stringify({ fleet: { pools: [{ image: { id: id(n) }, size: 'm7g.large' }] }, n });
    return { Name: `${name}/config`, Type: 'String', Value };
  }
  if (slot === 17) return { Name: `${name}/images`, Type: 'StringList', Value: `${id(n)},${id(n + 1)}` };
  return { Name: `${name}/secret`, Type: 'SecureString', Value: `secret-${n}` };
};

export const benchJanitorInventory = async (options: { parameters?: number } = {}): Promise<JanitorInventoryBench> => {
  const count = options.parameters ?? 10_000;
  const stateDir = mkdtempSync(join(tmpdir(), 'bakehouse-bench-inventory-'));
  const sandbox = await startSandbox({ port: 0, speed: 0, stateDir });
  const config = {
    endpoint: sandbox.url,
    region: 'us-east-1',
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
  } as const;
  const ssm = new SSMClient(config);
  const ec2 = new EC2Client(config);
  const autoScaling = new AutoScalingClient(config);
  try {
    const byKind: Record<string, number> = {};
    const seeded = Array.from({ length: count }, (_, n) => parameterOf(n));
    for (const p of seeded) {
      const kind = `${p.Type}:${p.Name.split('/').pop()}`;
      byKind[kind] = (byKind[kind] ?? 0) + 1;
    }
    await mapLimit(seeded, 16, (p) => ssm.send(new PutParameterCommand(p)));
    // Channels with a short history each.
    for (let family = 0; family < 20; family++) {
      for (let version = 0; version < 3; version++) {
        await ssm.send(
          new PutParameterCommand({
            Name: `/bakehouse/family-${family}/stable`,
            Type: 'String',
            Value: id(1_000_000 + family * 10 + version),
            Overwrite: true,
          }),
        );
      }
    }
    gc();
    const baseline = process.memoryUsage().heapUsed;
    let peak = 0;
    const sampler = setInterval(() => {
      peak = Math.max(peak, process.memoryUsage().heapUsed - baseline);
    }, 5);
    const started = performance.now();
    const inventory = await readInventory({
      ec2,
      ssm,
      autoScaling,
      account: '000000000000',
      parameterPrefix: '/bakehouse',
      clock: () => new Date(),
    });
    const seconds = (performance.now() - started) / 1000;
    clearInterval(sampler);
    peak = Math.max(peak, process.memoryUsage().heapUsed - baseline);
    const listed = inventory.parameters.listed;
    const readable = listed - inventory.parameters.secureStrings.length;
    return {
      parameters: listed,
      byKind,
      seconds: Math.round(seconds * 100) / 100,
      calls: inventory.calls,
      minimumParameterCalls: {
        DescribeParameters: Math.ceil(listed / 50),
        GetParameters: Math.ceil(readable / GET_PARAMETERS_MAX_NAMES),
      },
      parametersKept: inventory.world.parameters.length,
      secureStringsSkipped: inventory.parameters.secureStrings.length,
      unreadable: inventory.parameters.unreadable.length,
      heapMbPeakAdded: mb(peak),
      measuredWithGc: typeof (globalThis as { gc?: unknown }).gc === 'function',
    };
  } finally {
    for (const client of [ssm, ec2, autoScaling]) client.destroy();
    await sandbox.close();
    rmSync(stateDir, { recursive: true, force: true });
  }
};

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  process.stdout.write(`${JSON.stringify(await benchJanitorInventory(), null, 2)}\n`);
}
