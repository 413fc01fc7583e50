/**
 * A cache entry (a directory) built by one process while the others wait for it. Test files run
 * three at a time, and on a clean clone the first few each found the cloud assembly missing and
 * synthesized it at once (15-25 s of CPU each on two cores) to keep whichever finished first. Now
 * the first takes a lock beside the entry and builds it; the rest wait for the lock and then find
 * the entry.
 *
 * The lock is proper-lockfile's: a directory made atomically with mkdir, its mtime refreshed while
 * the holder lives, so a lock left by a killed process is taken over once it is stale.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, statSync, utimesSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { lock } from 'proper-lockfile';

export interface FillOnceOptions {
  /** Longest wait for another process's build, in ms; default 10 minutes. */
  readonly waitMs?: number;
  /** A lock not refreshed for this long (ms) is a dead holder's; default 30 s. */
  readonly staleMs?: number;
  /** Called once when another process holds the lock, before waiting for it (to say so). */
  readonly onWait?: (lockPath: string) => void;
}

const POLL_MS = 200;

/**
 * Builds the directory `entry` unless `isFilled()`, holding `<entry>.lock` while it runs; a process
 * that waited for the lock checks `isFilled()` again and builds only if the holder did not. `build`
 * writes into an empty directory beside the entry, which is then renamed into place, so a reader
 * finds the whole entry or none of it. Returns whether this call built the entry.
 */
export const fillOnce = async (
  entry: string,
  isFilled: () => boolean,
  build: (into: string) => Promise<void>,
  options: FillOnceOptions = {},
): Promise<boolean> => {
  if (isFilled()) return false;
  mkdirSync(dirname(entry), { recursive: true });
  const staleMs = options.staleMs ?? 30_000;
  const lockPath = `${entry}.lock`;
  const acquire = (retries: number) =>
    lock(entry, {
      // The entry does not exist yet: lock its path as given.
      realpath: false,
      lockfilePath: lockPath,
      stale: staleMs,
      update: Math.max(1_000, Math.floor(staleMs / 3)),
      retries: { retries, factor: 1, minTimeout: POLL_MS, maxTimeout: POLL_MS },
    });
  let release: () => Promise<void>;
  try {
    release = await acquire(0);
  } catch (error) {
    if ((error as { code?: string }).code !== 'ELOCKED') throw error;
    options.onWait?.(lockPath);
    release = await acquire(Math.ceil((options.waitMs ?? 600_000) / POLL_MS));
  }
  try {
    if (isFilled()) return false;
    const into = mkdtempSync(`${entry}.tmp-`);
    try {
      await build(into);
      try {
        renameSync(into, entry);
      } catch (error) {
        // A lock taken over as stale from a holder that was only slow: its copy is the same.
        if (!isFilled()) throw error;
      }
    } finally {
      rmSync(into, { recursive: true, force: true });
    }
    return true;
  } finally {
    await release();
  }
};

export interface PruneOptions {
  /** The entries of the cache directory that are cache entries (`assembly-…`, a hash). */
  readonly isEntry: (name: string) => boolean;
  /** Entries kept whatever their age: the most recently used; default 3. */
  readonly keep?: number;
  /** An entry used this recently (ms) is kept too: a run in progress may still read it. */
  readonly minAgeMs?: number;
  /** The entry just used, marked as used now; never removed. */
  readonly used: string;
  readonly now?: () => number;
}

/**
 * Marks `used` as used now and removes the cache entries in `dir` that are neither among the
 * `keep` most recently used nor used within `minAgeMs`, and what killed fills left behind. Every
 * change to a synthesis input makes a new cloud assembly (about 75 MB); without this `.sandbox/`
 * held 46 of them (3.3 GB) after a day.
 */
export const pruneCache = (dir: string, options: PruneOptions): string[] => {
  const now = options.now?.() ?? Date.now();
  const keep = options.keep ?? 3;
  const minAgeMs = options.minAgeMs ?? 60 * 60 * 1000;
  const usedAt = new Date(now);
  if (existsSync(options.used)) utimesSync(options.used, usedAt, usedAt);
  const folders = readdirSync(dir, { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .map((entry) => {
      const path = join(dir, entry.name);
      return { name: entry.name, path, usedMs: statSync(path).mtimeMs };
    });
  const stale = (folder: { usedMs: number }) => now - folder.usedMs >= minAgeMs;
  const entries = folders.filter((folder) => options.isEntry(folder.name)).sort((a, b) => b.usedMs - a.usedMs);
  // What a killed fill left: its `.tmp-` folder (fillOnce removes it on every other way out) and its
  // lock. A fill in progress writes to the first and refreshes the second every few seconds, so
  // either untouched for `minAgeMs` belongs to a process that is gone.
  const leftovers = folders.filter((folder) => {
    const entry = /^(.+)\.(?:tmp-[^.]+|lock)$/.exec(folder.name)?.[1];
    return entry !== undefined && options.isEntry(entry);
  });
  const removed = [
    ...entries.filter((entry, rank) => rank >= keep && entry.path !== options.used && stale(entry)),
    ...leftovers.filter(stale),
  ].map((folder) => folder.path);
  for (const path of removed) rmSync(path, { recursive: true, force: true });
  return removed;
};
