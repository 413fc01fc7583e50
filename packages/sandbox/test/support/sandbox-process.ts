/**
 * The sandbox command (`src/main.ts`, or another entry point) as a child process for tests of its
 * flags: frozen clock, no provisioning unless asked for, a state directory of the file's own, and
 * every process it started killed after the file. `ready` resolves to the endpoint URL from the ready line; `exited` to the exit code.
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';

const root = join(import.meta.dirname, '..', '..');

export interface SandboxProcess {
  readonly child: ChildProcessWithoutNullStreams;
  readonly ready: Promise<string>;
  readonly exited: Promise<number | null>;
  output(): { stdout: string; stderr: string };
}

export interface SandboxProcessOptions {
  /** The command's entry point, relative to the package: `src/main.ts` unless given. */
  readonly script?: string;
  /** Leaves `--no-provision` off, so the command provisions as it would for an operator. */
  readonly provision?: boolean;
}

/**
 * Returns a starter for the file; `env` is laid over the test's environment (an empty value
 * clears a variable the machine may have set, so the flag under test decides).
 */
export const sandboxProcesses = (
  name: string,
  env: Record<string, string>,
  options: SandboxProcessOptions = {},
): ((...args: string[]) => SandboxProcess) => {
  const stateDir = mkdtempSync(join(tmpdir(), `bakehouse-${name}-`));
  const started = new Set<ChildProcessWithoutNullStreams>();
  afterAll(() => {
    for (const child of started) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    rmSync(stateDir, { recursive: true, force: true });
  });
  return (...args) => {
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        options.script ?? 'src/main.ts',
        ...['--port', '0', '--state', stateDir, '--speed', '0'],
        ...(options.provision ? [] : ['--no-provision']),
        ...args,
      ],
      { cwd: root, env: { ...process.env, ...env } },
    );
    started.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const ready = new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`not ready: ${stdout}${stderr}`)), 20_000);
      child.stdout.on('data', () => {
        const match = /ready at (http:\/\/127\.0\.0\.1:\d+)/.exec(stdout);
        if (match) {
          clearTimeout(timer);
          resolve(match[1] as string);
        }
      });
      void exited.then(() => {
        clearTimeout(timer);
        reject(new Error(`exited: ${stdout}${stderr}`));
      });
    });
    // A process refused at start never gets ready; a test that waits for its exit instead must not
    // leave this rejection unhandled.
    ready.catch(() => undefined);
    return { child, ready, exited, output: () => ({ stdout, stderr }) };
  };
};
