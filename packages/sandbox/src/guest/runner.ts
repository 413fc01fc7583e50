/**
 * Runs a script in a guest root under bubblewrap: every namespace unshared (no network: only a
 * loopback device the guest cannot reach the host through), the root bound read-write as /,
 * the host's libraries (/usr/lib, /usr/lib64) and the toolbox read-only, a private /proc, /dev
 * and /tmp-like nothing else: no checkout, no home directory, no host /etc. The script's own exit
 * code and output are the result; a time limit kills it (and everything it started: the guest's
 * PID namespace dies with its first process), and output beyond a limit is dropped.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
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

/** What launcher.mjs answers a `run` with. */
type LaunchAnswer =
  | ({ readonly type: 'done'; readonly id: number } & GuestResult)
  | { readonly type: 'error'; readonly id: number; readonly message: string; readonly code?: string };

interface Pending {
  readonly resolve: (result: GuestResult) => void;
  readonly reject: (error: Error) => void;
}

/**
 * The guest launcher (launcher.mjs): started at the first guest and shared by every sandbox of
 * the process; started again if it dies. It holds the event loop open only while guests run.
 */
class Launcher {
  private child: ChildProcess | undefined;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;

  run(file: string, args: readonly string[], run: GuestRun): Promise<GuestResult> {
    const child = this.started();
    const id = this.nextId++;
    return new Promise<GuestResult>((resolve, reject) => {
      const kill = () => child.connected && child.send({ type: 'kill', id });
      const settle = () => {
        run.signal?.removeEventListener('abort', kill);
        this.pending.delete(id);
        if (this.pending.size === 0) child.channel?.unref();
      };
      this.pending.set(id, {
        resolve: (result) => {
          settle();
          resolve(result);
        },
        reject: (error) => {
          settle();
          reject(error);
        },
      });
      child.channel?.ref();
      child.send({
        type: 'run',
        id,
        file,
        args,
        env: hostEnv(),
        timeLimitMs: run.timeLimitMs,
        outputLimit: run.outputLimit,
      });
      if (run.signal?.aborted) kill();
      else run.signal?.addEventListener('abort', kill, { once: true });
    });
  }

  private started(): ChildProcess {
    if (this.child?.connected) return this.child;
    const child = spawn(process.execPath, [LAUNCHER_PATH], {
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
      // Its own minimal environment: no NODE_OPTIONS loaders from the sandbox's process.
      env: hostEnv(),
    });
    child.on('message', (answer: LaunchAnswer) => {
      const pending = this.pending.get(answer.id);
      if (!pending) return;
      if (answer.type === 'error') {
        pending.reject(Object.assign(new Error(answer.message), { code: answer.code }));
      } else {
        const { type: _type, id: _id, ...result } = answer;
        pending.resolve(result);
      }
    });
    const lost = (why: string) => {
      if (this.child === child) this.child = undefined;
      for (const pending of [...this.pending.values()]) pending.reject(new Error(`the guest launcher ${why}`));
    };
    child.on('error', (error) => lost(`could not be started: ${error.message}`));
    child.on('exit', (code, signal) => lost(`exited (${signal ?? `exit ${code}`})`));
    child.unref();
    child.channel?.unref();
    this.child = child;
    return child;
  }
}

const LAUNCHER_PATH = fileURLToPath(new URL('./launcher.mjs', import.meta.url));
const launcher = new Launcher();

export const runInGuest = (run: GuestRun): Promise<GuestResult> =>
  launcher.run(
    bwrap(),
    [
      ...baseArgs(),
      ...mountArgs(run),
      ...Object.entries(run.env).flatMap(([key, value]) => ['--setenv', key, value]),
      '--chdir',
      run.cwd,
      '/bin/sh',
      run.scriptPath,
    ],
    run,
  );

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
