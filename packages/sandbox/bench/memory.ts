/**
 * Run by bench/index.ts in a fresh process (node --expose-gc): memory of a sandbox holding
 * N images, after a full garbage collection. Prints JSON.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startSandbox } from '../src/server';
import { fillImages } from './index';

const imageCount = Number(process.argv[2] ?? 100_000);
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with node --expose-gc');

const stateDir = mkdtempSync(join(tmpdir(), 'bakehouse-bench-memory-'));
const sandbox = await startSandbox({ port: 0, speed: 0, stateDir });
try {
  gc();
  const empty = process.memoryUsage();
  fillImages(sandbox.store, sandbox.account, imageCount, sandbox.clock.now());
  gc();
  const full = process.memoryUsage();
  const mib = (bytes: number) => Math.round((bytes / 2 ** 20) * 10) / 10;
  process.stdout.write(
    JSON.stringify({
      images: imageCount,
      heapUsedMiB: mib(full.heapUsed),
      heapForImagesMiB: mib(full.heapUsed - empty.heapUsed),
      rssMiB: mib(full.rss),
    }),
  );
} finally {
  await sandbox.close();
  rmSync(stateDir, { recursive: true, force: true });
}
