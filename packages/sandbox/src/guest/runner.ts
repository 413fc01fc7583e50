/**
 * Runs a script in a guest root under bubblewrap: every namespace unshared (no network: only a
 * loopback device the guest cannot reach the host through), the root bound read-write as /,
 * the host's libraries (/usr/lib, /usr/lib64) and the toolbox read-only, a private /proc, /dev
 * and /tmp-like nothing else: no checkout, no home directory, no host /etc. The script's own exit
 * code and output are the result; a time limit kills it (and everything it started: the guest's
 * PID namespace dies with its first process), and output beyond a limit is dropped.
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { GUEST_TOOLBOX } from './roots';

export interface GuestRun {
  /** The guest's root directory (read-write as /). */
  readonly root: string;
  readonly toolbox: string;
  readonly repository: string;
  /** Path inside the guest of the script file to run with /bin/sh. */
  readonly scriptPath: string;
  /** Working directory inside the guest. */
  readonly cwd: string;
  readonly env: Readonly<Record<string, string>>;
  readonly timeLimitMs: number;
  /** Characters kept of each stream (the rest is read and dropped). */
  readonly outputLimit: number;
  readonly signal?: AbortSignal;
}

export interface GuestResult {
  readonly exitCode: number;
  readonly stdout: string;
  readonly stderr: string;
  readonly timedOut: boolean;
  readonly realMs: number;
}

/** The bubblewrap binary: `BAKEHOUSE_SANDBOX_BWRAP` if set (tests point it at nothing), else bwrap on PATH. */
const bwrap = (): string => process.env.BAKEHOUSE_SANDBOX_BWRAP || 'bwrap';
const hostEnv = (): Record<string, string> => ({ PATH: process.env.PATH ?? '/usr/bin:/bin' });

const baseArgs = (): string[] => [
  '--unshare-all',
  '--die-with-parent',
  '--new-session',
  '--clearenv',
  '--hostname',
  'localhost',
];

/**
 * The host's shared libraries, read-only: the multiarch directories (/usr/lib/x86_64-linux-gnu …)
 * and /usr/lib64 (the dynamic loader). Not the rest of /usr/lib: the guest's own /usr/lib holds its
 * unit files.
 */
const libraryDirs = (): string[] => {
  const dirs = readdirSync('/usr/lib')
    .filter((name) => /-linux-gnu/.test(name))
    .map((name) => `/usr/lib/${name}`);
  return [...dirs, '/usr/lib64'].filter((dir) => existsSync(dir));
};

const mountArgs = (run: GuestRun): string[] => [
  '--bind',
  run.root,
  '/',
  ...libraryDirs().flatMap((dir) => ['--ro-bind', dir, dir]),
  '--ro-bind',
  run.toolbox,
  GUEST_TOOLBOX,
  '--ro-bind',
  run.repository,
  `${GUEST_TOOLBOX}/repo`,
  '--proc',
  '/proc',
  '--dev',
  '/dev',
];

export const runInGuest = (run: GuestRun): Promise<GuestResult> =>
  new Promise((resolve, reject) => {
    const started = Date.now();
    const args = [
      ...baseArgs(),
      ...mountArgs(run),
      ...Object.entries(run.env).flatMap(([key, value]) => ['--setenv', key, value]),
      '--chdir',
      run.cwd,
      '/bin/sh',
      run.scriptPath,
    ];
    const child = spawn(bwrap(), args, { stdio: ['ignore', 'pipe', 'pipe'], env: hostEnv() });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      if (stdout.length < run.outputLimit) stdout += chunk.slice(0, run.outputLimit - stdout.length);
    });
    child.stderr.on('data', (chunk: string) => {
      if (stderr.length < run.outputLimit) stderr += chunk.slice(0, run.outputLimit - stderr.length);
    });
    const kill = () => {
      if (child.exitCode === null) child.kill('SIGKILL');
    };
    const timer = setTimeout(() => {
      timedOut = true;
      kill();
    }, run.timeLimitMs);
    timer.unref();
    run.signal?.addEventListener('abort', kill, { once: true });
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      run.signal?.removeEventListener('abort', kill);
      resolve({
        exitCode: code ?? (signal ? 128 + 9 : 1),
        stdout,
        stderr,
        timedOut,
        realMs: Date.now() - started,
      });
    });
  });

let probed: Promise<string | undefined> | undefined;

/**
 * Whether bubblewrap can make a guest here: undefined when it can, else why not. Probed once per
 * process (a guest with every namespace unshared runs `true`).
 */
export const bubblewrapProblem = (): Promise<string | undefined> => {
  probed ??= new Promise((resolve) => {
    const child = spawn(
      bwrap(),
      [
        ...baseArgs(),
        '--ro-bind',
        '/usr',
        '/usr',
        '--symlink',
        'usr/lib',
        '/lib',
        '--symlink',
        'usr/lib64',
        '/lib64',
        '--symlink',
        'usr/bin',
        '/bin',
        '--proc',
        '/proc',
        '--dev',
        '/dev',
        '/bin/true',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'], env: hostEnv() },
    );
    let stderr = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      stderr += chunk;
    });
    child.on('error', (error) => resolve(`bubblewrap (bwrap) cannot be started: ${error.message}`));
    child.on('close', (code) =>
      resolve(code === 0 ? undefined : `bubblewrap (bwrap) failed (exit ${code}): ${stderr.trim() || 'no message'}`),
    );
  });
  return probed;
};

/** Tests: forget the probe (e.g. after pointing PATH elsewhere). */
export const resetBubblewrapProbe = (): void => {
  probed = undefined;
};
