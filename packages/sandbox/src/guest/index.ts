/**
 * Linux guests: where the sandbox runs `AWS-RunShellScript` for real. Each instance launched
 * from a Linux image has a root of its own (a copy of its image's, made at its first command), in
 * which scripts run under bubblewrap (runner.ts) with the OS's package-manager stand-ins
 * (standins/) over a package database and repository (catalog.ts). CreateImage captures the root,
 * so what a bake did is what instances launched from its image start with.
 *
 * Guests are on unless `BAKEHOUSE_SANDBOX_GUESTS=off`, which keeps the old behaviour, where
 * nothing runs. Where bubblewrap cannot run, the sandbox says so once and keeps the old behaviour
 * too.
 *
 * Boot, as the guest sees it (sandbox clock): cloud-init runs from the start of the boot for a
 * while (`cloud-init status` says running, `--wait` waits). On Ubuntu, apt holds the apt and dpkg
 * locks while cloud-init runs (its package update), and again in the daily apt-daily-upgrade run
 * (06:00 UTC plus a randomized delay of up to an hour, fixed per instance), which a bake may hit
 * after cloud-init is done; see
 * https://saveriomiroddi.github.io/Handling-the-apt-lock-on-ubuntu-server-installations/ for how
 * this bites image builds.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { GuestRef, ImageRecord } from '../services/ec2/model';
import { AL2023_BASE_RELEASE, type GuestOs, packageArch } from './catalog';
import { copyRoot, repository, seedRoot, toolbox } from './roots';
import { bubblewrapProblem, type GuestResult, runInGuest } from './runner';

export { AL2023_BASE_RELEASE, AL2023_NEWER_RELEASE } from './catalog';
export { resetBubblewrapProbe } from './runner';

/** Guests run scripts unless turned off: `BAKEHOUSE_SANDBOX_GUESTS=off` (or bubblewrap cannot run). */
export const guestsEnabled = (): boolean => (process.env.BAKEHOUSE_SANDBOX_GUESTS ?? 'on') !== 'off';

export const guestsDir = (stateDir: string): string => join(stateDir, 'guests');
const instanceRoot = (stateDir: string, instanceId: string): string =>
  join(guestsDir(stateDir), 'instances', instanceId);
const imageRoot = (stateDir: string, imageId: string): string => join(guestsDir(stateDir), 'images', imageId);

/** The guest of a Linux image; seeded images that predate guest metadata are recognized by name. */
export const guestOfImage = (image: ImageRecord): GuestRef | undefined => {
  if (image.platform === 'windows') return undefined;
  if (image.guest) return image.guest;
  const os: GuestOs | undefined = /ubuntu/i.test(image.name)
    ? 'ubuntu-noble'
    : /al2023|amazon linux 2023/i.test(image.name)
      ? 'al2023'
      : undefined;
  if (!os) return undefined;
  const release = /(\d{4}\.\d+\.\d{8})/.exec(image.name)?.[1] ?? (os === 'al2023' ? AL2023_BASE_RELEASE : '24.04');
  return { os, release, arch: packageArch(os, image.architecture) };
};

/** The guest spec of a seeded image (seed.ts). */
export const seededGuest = (os: GuestOs, release: string, architecture: 'x86_64' | 'arm64'): GuestRef => ({
  os,
  release,
  arch: packageArch(os, architecture),
});

const rootOf = (stateDir: string, guest: GuestRef): string => {
  if (guest.rootImageId !== undefined) {
    const captured = imageRoot(stateDir, guest.rootImageId);
    if (existsSync(captured)) return captured;
  }
  return seedRoot(guestsDir(stateDir), guest.os, guest.release, guest.arch);
};

/** The instance's root, copied from its image's at first use. */
const ensureInstanceRoot = (stateDir: string, instanceId: string, guest: GuestRef): string => {
  const root = instanceRoot(stateDir, instanceId);
  if (!existsSync(root)) copyRoot(rootOf(stateDir, guest), root);
  return root;
};

/**
 * CreateImage: the image's guest. The instance's root is copied as it is now (what the bake did);
 * an instance that never ran a command hands on its own image's root.
 */
export const captureGuest = (
  stateDir: string,
  instance: { readonly instanceId: string; readonly guest?: GuestRef },
  imageId: string,
): GuestRef | undefined => {
  if (!instance.guest) return undefined;
  const root = instanceRoot(stateDir, instance.instanceId);
  if (!existsSync(root)) return instance.guest;
  copyRoot(root, imageRoot(stateDir, imageId));
  return { ...instance.guest, rootImageId: imageId };
};

const running = new Map<string, Set<AbortController>>();

/** Terminate: stop what runs in the guest and remove its root. */
export const removeInstanceGuest = (stateDir: string, instanceId: string): void => {
  for (const controller of running.get(instanceId) ?? []) controller.abort();
  running.delete(instanceId);
  rmSync(instanceRoot(stateDir, instanceId), { recursive: true, force: true });
};

/** Kills every running guest script (the sandbox is stopping). */
export const stopAllGuests = (): void => {
  for (const controllers of running.values()) for (const controller of controllers) controller.abort();
  running.clear();
};

/** Removes instance roots whose instance is gone (a reset or deleted state). */
export const sweepInstanceRoots = (stateDir: string, exists: (instanceId: string) => boolean): void => {
  const dir = join(guestsDir(stateDir), 'instances');
  if (!existsSync(dir)) return;
  for (const name of readdirSync(dir)) {
    if (name.includes('.tmp-') || !exists(name)) rmSync(join(dir, name), { recursive: true, force: true });
  }
};

// ---------------------------------------------------------------- boot and locks

/** Sandbox seconds cloud-init takes from the start of the boot. */
const CLOUD_INIT_SECONDS: Readonly<Record<GuestOs, number>> = { al2023: 25, 'ubuntu-noble': 75 };
/** Ubuntu: the daily apt-daily-upgrade run holds the locks this long. */
const DAILY_LOCK_SECONDS = 120;

const instanceNumber = (instanceId: string, salt: string): number =>
  createHash('sha256').update(`${instanceId}:${salt}`).digest().readUInt32BE(0);

export interface LockWindow {
  readonly fromMs: number;
  readonly untilMs: number;
  readonly pid: number;
  readonly name: string;
}

/** When apt's locks are held (sandbox ms), from the boot's start up to `horizonMs`. */
export const aptLockWindows = (instanceId: string, bootMs: number, horizonMs: number): LockWindow[] => {
  const windows: LockWindow[] = [
    {
      fromMs: bootMs,
      untilMs: bootMs + CLOUD_INIT_SECONDS['ubuntu-noble'] * 1000,
      pid: 900 + (instanceNumber(instanceId, 'boot') % 600),
      name: 'apt-get',
    },
  ];
  const delayMs = (instanceNumber(instanceId, 'daily') % 3600) * 1000;
  const day = 86_400_000;
  const sixAm = 6 * 3_600_000;
  for (let start = Math.floor(bootMs / day) * day + sixAm + delayMs; start < horizonMs; start += day) {
    if (start + DAILY_LOCK_SECONDS * 1000 <= bootMs) continue;
    windows.push({
      fromMs: Math.max(start, bootMs),
      untilMs: start + DAILY_LOCK_SECONDS * 1000,
      pid: 2000 + (instanceNumber(instanceId, `daily${start}`) % 8000),
      name: 'unattended-upgr',
    });
  }
  return windows;
};

// ---------------------------------------------------------------- running a command

/**
 * Real-time bounds of a script's time limit. The limit is its executionTimeout on the sandbox
 * clock (at 600× a 600-second timeout is one real second), but never less than the floor (a
 * loaded machine starts processes slowly; the floor keeps a slow host from timing scripts out)
 * nor more than the cap (and the cap when the clock is frozen).
 */
const MIN_REAL_MS = 15_000;
const MAX_REAL_MS = 120_000;

export const timeLimitMs = (executionTimeoutS: number, speed: number): number =>
  speed > 0 ? Math.min(MAX_REAL_MS, Math.max(MIN_REAL_MS, (executionTimeoutS * 1000) / speed)) : MAX_REAL_MS;
/** Characters of each output stream kept (GetCommandInvocation shows 24,000 / 8,000). */
const OUTPUT_LIMIT = 48_000;

export interface GuestCommand {
  readonly stateDir: string;
  readonly instanceId: string;
  readonly guest: GuestRef;
  readonly commandId: string;
  readonly pluginName: string;
  readonly script: string;
  /** The document's executionTimeout, sandbox seconds. */
  readonly executionTimeoutS: number;
  /** When the current boot began (sandbox ms). */
  readonly bootMs: number;
  readonly clock: { nowMs(): number; readonly speed: number };
  /** The sandbox is closing: the script is killed (checked a few times a second). */
  readonly closed?: () => boolean;
}

export type GuestOutcome = GuestResult | { readonly unavailable: string };

let warned = false;

/** Runs a command's script in the instance's guest; `unavailable` when bubblewrap cannot run here. */
export const runGuestCommand = async (command: GuestCommand): Promise<GuestOutcome> => {
  const problem = await bubblewrapProblem();
  if (problem !== undefined) {
    if (!warned) {
      console.warn(`sandbox: Run Command scripts are not run (${problem}); invocations succeed without running them`);
      warned = true;
    }
    return { unavailable: problem };
  }
  const { stateDir, instanceId, guest, clock } = command;
  const dir = guestsDir(stateDir);
  const root = ensureInstanceRoot(stateDir, instanceId, guest);
  const speed = clock.speed;
  const sandboxNow = clock.nowMs();
  const realNow = Date.now();
  const toReal = (sandboxMs: number): number =>
    speed > 0 ? Math.round(realNow + (sandboxMs - sandboxNow) / speed) : sandboxMs <= sandboxNow ? realNow : 8.64e15;
  prepareRun(root, command, toReal, sandboxNow);
  const orchestration = `/var/lib/amazon/ssm/${instanceId}/document/orchestration/${command.commandId}/${command.pluginName}`;
  const scriptDir = join(root, orchestration);
  mkdirSync(scriptDir, { recursive: true });
  writeFileSync(join(scriptDir, '_script.sh'), `${command.script}\n`, { mode: 0o700 });
  const controller = new AbortController();
  const set = running.get(instanceId) ?? new Set();
  set.add(controller);
  running.set(instanceId, set);
  const watch = command.closed
    ? setInterval(() => {
        if (command.closed?.()) controller.abort();
      }, 250)
    : undefined;
  watch?.unref();
  try {
    return await runInGuest({
      root,
      toolbox: toolbox(dir).dir,
      repository: repository(dir, guest.os, guest.arch),
      scriptPath: `${orchestration}/_script.sh`,
      cwd: orchestration,
      env: { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' },
      timeLimitMs: timeLimitMs(command.executionTimeoutS, speed),
      outputLimit: OUTPUT_LIMIT,
      signal: controller.signal,
    });
  } finally {
    if (watch) clearInterval(watch);
    set.delete(controller);
  }
};

/** /run/bakehouse-guest: the clock, the end of cloud-init and the apt lock windows, in real time. */
const prepareRun = (root: string, command: GuestCommand, toReal: (ms: number) => number, nowMs: number): void => {
  const run = join(root, 'run');
  const state = join(run, 'bakehouse-guest');
  const bootId = String(command.bootMs);
  const bootFile = join(state, 'boot-id');
  // A new boot starts with an empty /run (what was started is no longer running).
  if (!existsSync(bootFile) || readFileSync(bootFile, 'utf8') !== bootId) {
    rmSync(run, { recursive: true, force: true });
    mkdirSync(state, { recursive: true });
    writeFileSync(bootFile, bootId);
  }
  writeFileSync(join(state, 'clock'), `${command.clock.speed}\n`);
  writeFileSync(join(state, 'boot'), `${toReal(command.bootMs + CLOUD_INIT_SECONDS[command.guest.os] * 1000)}\n`);
  const windows =
    command.guest.os === 'ubuntu-noble'
      ? aptLockWindows(command.instanceId, command.bootMs, nowMs + (command.executionTimeoutS + 86_400) * 1000)
      : [];
  writeFileSync(
    join(state, 'locks'),
    windows.map((w) => `${toReal(w.fromMs)} ${toReal(w.untilMs)} ${w.pid} ${w.name}\n`).join(''),
  );
};
