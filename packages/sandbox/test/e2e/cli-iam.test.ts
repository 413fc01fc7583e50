/**
 * `--iam on|off` on the sandbox command: off lets every request through and only records what AWS
 * would refuse (with a warning); anything else is refused with the usage.
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..');
const stateDir = mkdtempSync(join(tmpdir(), 'bakehouse-cli-iam-'));
const started = new Set<ChildProcessWithoutNullStreams>();
afterAll(() => {
  for (const child of started) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  rmSync(stateDir, { recursive: true, force: true });
});

const sandboxProcess = (...args: string[]) => {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', 'src/main.ts', '--port', '0', '--state', stateDir, '--speed', '0', '--no-provision', ...args],
    { cwd: root, env: { ...process.env, BAKEHOUSE_SANDBOX_IAM: '' } },
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

describe('sandbox command --iam', () => {
  it('switches enforcement off with a warning, and says so on the ready line and in the report', async () => {
    // Prepare
    const running = sandboxProcess('--iam', 'off');
    const url = await running.ready;

    // Act
    const report = (await (await fetch(`${url}/_sandbox/iam/report`)).json()) as { enforcement: string };
    running.child.kill('SIGTERM');
    await running.exited;

    // Assess
    expect(report.enforcement).toBe('off');
    expect(running.output().stdout).toContain('IAM enforcement off');
    expect(running.output().stderr).toContain('IAM enforcement is off');
  });

  it('enforces by default', async () => {
    // Prepare
    const running = sandboxProcess();
    const url = await running.ready;

    // Act
    const report = (await (await fetch(`${url}/_sandbox/iam/report`)).json()) as { enforcement: string };
    running.child.kill('SIGTERM');
    await running.exited;

    // Assess
    expect(report.enforcement).toBe('on');
    expect(running.output().stdout).toContain('IAM enforcement on');
  });

  it('refuses another value, naming the flag, with the usage', async () => {
    // Act
    const running = sandboxProcess('--iam', 'maybe');
    const code = await running.exited;

    // Assess
    expect(code).toBe(1);
    expect(running.output().stderr).toContain("--iam 'maybe' must be on or off");
    expect(running.output().stderr).toContain('[--iam on|off]');
  });
});
