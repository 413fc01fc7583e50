import { existsSync, mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { fillOnce } from '../../dev/fill-once';

const dirs: string[] = [];
const freshEntry = (): string => {
  const dir = mkdtempSync(join(tmpdir(), 'bakehouse-fill-once-'));
  dirs.push(dir);
  return join(dir, 'assembly');
};
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A fill that takes `ms` and then writes the entry, counting its runs. */
const slowFill = (entry: string, ms: number) => {
  let runs = 0;
  return {
    runs: () => runs,
    fill: async () => {
      runs++;
      await new Promise((resolve) => setTimeout(resolve, ms));
      writeFileSync(entry, 'built');
    },
  };
};

describe('fillOnce', () => {
  it('builds the entry once while three callers ask for it at the same time', async () => {
    // Prepare
    const entry = freshEntry();
    const build = slowFill(entry, 300);

    // Act
    const filled = await Promise.all(
      [1, 2, 3].map(() => fillOnce(entry, () => existsSync(entry), build.fill, { waitMs: 10_000 })),
    );

    // Assess: one built it, the two that waited found it built
    expect(build.runs()).toBe(1);
    expect(filled.filter(Boolean)).toHaveLength(1);
    expect(existsSync(`${entry}.lock`)).toBe(false);
  });

  it('does not take the lock when the entry is already there', async () => {
    // Prepare
    const entry = freshEntry();
    writeFileSync(entry, 'built');
    mkdirSync(`${entry}.lock`); // held by someone else: a call that needed it would wait

    // Act
    const filled = await fillOnce(
      entry,
      () => existsSync(entry),
      async () => {},
      { waitMs: 500 },
    );

    // Assess
    expect(filled).toBe(false);
  });

  it('takes over a lock its holder left behind when killed, once it is stale', async () => {
    // Prepare: a lock directory not refreshed for a minute
    const entry = freshEntry();
    mkdirSync(`${entry}.lock`);
    const aMinuteAgo = new Date(Date.now() - 60_000);
    utimesSync(`${entry}.lock`, aMinuteAgo, aMinuteAgo);
    const build = slowFill(entry, 10);

    // Act
    const filled = await fillOnce(entry, () => existsSync(entry), build.fill, { waitMs: 5_000, staleMs: 5_000 });

    // Assess
    expect(filled).toBe(true);
    expect(build.runs()).toBe(1);
  });

  it('lets the next caller build when a build fails, and passes the failure on', async () => {
    // Prepare
    const entry = freshEntry();
    const build = slowFill(entry, 10);

    // Act
    const failed = fillOnce(
      entry,
      () => existsSync(entry),
      async () => {
        throw new Error('synthesis failed');
      },
    );
    await expect(failed).rejects.toThrow('synthesis failed');
    const filled = await fillOnce(entry, () => existsSync(entry), build.fill, { waitMs: 2_000 });

    // Assess
    expect(filled).toBe(true);
    expect(build.runs()).toBe(1);
  });

  it('gives up with the lock named when the holder takes longer than the wait', async () => {
    // Prepare: a fresh lock, refreshed by nobody but not stale within the wait
    const entry = freshEntry();
    mkdirSync(`${entry}.lock`);

    // Act
    const waiting = fillOnce(
      entry,
      () => existsSync(entry),
      async () => {},
      { waitMs: 600, staleMs: 60_000 },
    );

    // Assess
    await expect(waiting).rejects.toThrow(/already being held|lock/i);
  });
});
