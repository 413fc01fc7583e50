/**
 * What a commit costs on disk. A commit is written to the journal with write(2) before it becomes
 * visible: the kernel then holds it, so it survives the sandbox process being killed (store.test.ts
 * kills a writer with SIGKILL and finds every acknowledged write). Flushing each commit to the
 * device (fdatasync) adds only survival of a host crash or power loss, which an emulator's state
 * does not need by default; it blocked the event loop for about a tenth of the busy time of an
 * e2e run (measured with --cpu-prof on test/e2e/canary.test.ts). It stays available with
 * `flush: 'disk'`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

const flushes = vi.hoisted(() => ({ count: 0 }));
vi.mock('node:fs', async (importOriginal) => {
  const fs = await importOriginal<typeof import('node:fs')>();
  return {
    ...fs,
    fdatasyncSync: (fd: number) => {
      flushes.count += 1;
      fs.fdatasyncSync(fd);
    },
  };
});

// Test files share a worker: a file before this one may have loaded the store with the real
// node:fs, and the store would keep it. A fresh module registry loads it with the one above.
vi.resetModules();
const { Store } = await import('../../src/store');

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'bakehouse-store-flush-'));
  flushes.count = 0;
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('a commit on disk', () => {
  it('is written for the kernel, not flushed to the device, by default', () => {
    // Prepare
    const store = Store.open(dir);

    // Act
    for (let n = 0; n < 10; n += 1) store.transact(n, (tx) => tx.put('things', `t${n}`, { n }));

    // Assess: written (a fresh store reads it back) but never flushed
    expect(flushes.count).toBe(0);
    const reopened = Store.open(dir);
    expect(reopened.get('things', 't9')).toEqual({ n: 9 });
    store.close();
    reopened.close();
  });

  it("is flushed to the device on every commit with flush: 'disk'", () => {
    // Prepare
    const store = Store.open(dir, { flush: 'disk' });

    // Act
    for (let n = 0; n < 10; n += 1) store.transact(n, (tx) => tx.put('things', `t${n}`, { n }));
    store.recordClock(100);

    // Assess
    expect(flushes.count).toBe(11);
    store.close();
  });
});
