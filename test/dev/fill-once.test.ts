import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { fillOnce, pruneCache } from '../../dev/fill-once';

const dirs: string[] = [];
const freshEntry = (): string => {
  const dir = mkdtempSync(join(tmpdir(), 'bakehouse-fill-once-'));
  dirs.push(dir);
  return join(dir, 'assembly');
};
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A build that takes `ms` and then writes a file into the entry, counting its runs. */
const slowFill = (ms: number) => {
  let runs = 0;
  return {
    runs: () => runs,
    fill: async (into: string) => {
      runs++;
      await new Promise((resolve) => setTimeout(resolve, ms));
      writeFileSync(join(into, 'manifest.json'), '{}');
    },
  };
};

describe('fillOnce', () => {
  it('builds the entry once while three callers ask for it at the same time', async () => {
    // Prepare
    const entry = freshEntry();
    const build = slowFill(300);

    // Act
    const filled = await Promise.all(
      [1, 2, 3].map(() => fillOnce(entry, () => existsSync(entry), build.fill, { waitMs: 10_000 })),
    );

    // Assess: one built it, the two that waited found it built
    expect(build.runs()).toBe(1);
    expect(filled.filter(Boolean)).toHaveLength(1);
    expect(existsSync(`${entry}.lock`)).toBe(false);
  });

  it('says once that it waits when another caller holds the lock, and not when it holds it itself', async () => {
    // Prepare
    const entry = freshEntry();
    const build = slowFill(300);
    const waits: string[][] = [[], []];

    // Act
    await Promise.all(
      waits.map((said) =>
        fillOnce(entry, () => existsSync(entry), build.fill, { waitMs: 10_000, onWait: (lock) => said.push(lock) }),
      ),
    );

    // Assess: the first took the lock at once; the second said it waited, naming the lock
    expect(waits).toEqual([[], [`${entry}.lock`]]);
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
    const build = slowFill(10);

    // Act
    const filled = await fillOnce(entry, () => existsSync(entry), build.fill, { waitMs: 5_000, staleMs: 5_000 });

    // Assess
    expect(filled).toBe(true);
    expect(build.runs()).toBe(1);
  });

  it('lets the next caller build when a build fails, and passes the failure on', async () => {
    // Prepare
    const entry = freshEntry();
    const build = slowFill(10);

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

describe('pruneCache', () => {
  const HOUR = 60 * 60 * 1000;
  const NOW = Date.parse('2026-12-06T12:00:00Z');

  /** A cache directory with entries last used `hoursAgo` before NOW. */
  const cacheWith = (entries: Record<string, number>): string => {
    const dir = mkdtempSync(join(tmpdir(), 'bakehouse-prune-'));
    dirs.push(dir);
    for (const [name, hoursAgo] of Object.entries(entries)) {
      mkdirSync(join(dir, name));
      const at = new Date(NOW - hoursAgo * HOUR);
      utimesSync(join(dir, name), at, at);
    }
    return dir;
  };

  it('keeps the three entries used last and any used within the hour, and removes the rest', () => {
    // Prepare
    const dir = cacheWith({ 'assembly-a': 30, 'assembly-b': 5, 'assembly-c': 4, 'assembly-d': 3, 'assembly-e': 2 });
    writeFileSync(join(dir, 'iam-report.json'), '{}');

    // Act: assembly-a is used now
    const removed = pruneCache(dir, {
      isEntry: (name) => name.startsWith('assembly-'),
      used: join(dir, 'assembly-a'),
      now: () => NOW,
    });

    // Assess: a (used now), e, d kept; c and b, older than an hour and not among the three, removed
    expect(removed.map((path) => path.slice(dir.length + 1)).sort()).toEqual(['assembly-b', 'assembly-c']);
    expect(readdirSync(dir).sort()).toEqual(['assembly-a', 'assembly-d', 'assembly-e', 'iam-report.json']);
    expect(statSync(join(dir, 'assembly-a')).mtimeMs).toBe(NOW);
  });

  it('keeps every entry used within the hour, however many', () => {
    // Prepare
    const dir = cacheWith({
      'assembly-a': 0.1,
      'assembly-b': 0.2,
      'assembly-c': 0.3,
      'assembly-d': 0.4,
      'assembly-e': 0.5,
    });

    // Act
    const removed = pruneCache(dir, {
      isEntry: (name) => name.startsWith('assembly-'),
      used: join(dir, 'assembly-a'),
      now: () => NOW,
    });

    // Assess
    expect(removed).toEqual([]);
    expect(readdirSync(dir)).toHaveLength(5);
  });

  it('removes what a killed synthesis left (its .tmp- folder and lock, untouched for the hour), not one in progress', () => {
    // Prepare: assembly-b's build was killed two hours ago; assembly-c's is under way.
    const dir = cacheWith({
      'assembly-a': 0,
      'assembly-b.tmp-Xy12Ab': 2,
      'assembly-b.lock': 2,
      'assembly-c.tmp-Cd34Ef': 0.01,
      'assembly-c.lock': 0.01,
    });

    // Act
    const removed = pruneCache(dir, {
      isEntry: (name) => /^assembly-[a-z]$/.test(name),
      used: join(dir, 'assembly-a'),
      now: () => NOW,
    });

    // Assess
    expect(removed.map((path) => path.slice(dir.length + 1)).sort()).toEqual([
      'assembly-b.lock',
      'assembly-b.tmp-Xy12Ab',
    ]);
    expect(readdirSync(dir).sort()).toEqual(['assembly-a', 'assembly-c.lock', 'assembly-c.tmp-Cd34Ef']);
  });

  it('leaves what is not an entry: a lock, a synthesis in progress', () => {
    // Prepare
    const dir = cacheWith({ 'assembly-a': 10, 'assembly-a.lock': 0.01, 'assembly-b.123.456.tmp': 10 });

    // Act
    pruneCache(dir, {
      isEntry: (name) => /^assembly-[a-z]$/.test(name),
      used: join(dir, 'assembly-new'),
      keep: 0,
      now: () => NOW,
    });

    // Assess
    expect(readdirSync(dir).sort()).toEqual(['assembly-a.lock', 'assembly-b.123.456.tmp']);
  });
});
