/**
 * The guest launcher (src/guest/launcher.mjs): guests are started by a small process of its own,
 * never forked from the sandbox. A stand-in for bubblewrap (BAKEHOUSE_SANDBOX_BWRAP) runs the
 * scripts here, so these tests need no namespaces.
 */
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, onTestFinished, vi } from 'vitest';
import { type GuestRun, runInGuest } from '../../src/guest/runner';

const dir = mkdtempSync(join(tmpdir(), 'bakehouse-launcher-'));
/** Stands in for bwrap: runs the script the guest's GUEST_DO variable holds (its --setenv). */
const fakeBwrap = join(dir, 'fake-bwrap');

const guest = (script: string, signal?: AbortSignal): GuestRun => ({
  root: dir,
  toolbox: dir,
  repository: dir,
  scriptPath: '/tmp/script.sh',
  cwd: '/',
  env: { GUEST_DO: script },
  timeLimitMs: 10_000,
  outputLimit: 1_000,
  ...(signal ? { signal } : {}),
});

/** The launcher processes this process started (their command line names launcher.mjs). */
const launcherPids = (): number[] =>
  readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .filter((pid) => {
      try {
        const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
        const parent = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
        return parent === process.pid && readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('launcher.mjs');
      } catch {
        return false; // gone meanwhile
      }
    })
    .map(Number);

beforeAll(() => {
  writeFileSync(
    fakeBwrap,
    [
      '#!/bin/sh',
      'while [ $# -gt 0 ]; do',
      '  if [ "$1" = --setenv ] && [ "$2" = GUEST_DO ]; then exec /bin/sh -c "$3"; fi',
      '  shift',
      'done',
      'exit 99',
      '',
    ].join('\n'),
  );
  chmodSync(fakeBwrap, 0o755);
  vi.stubEnv('BAKEHOUSE_SANDBOX_BWRAP', fakeBwrap);
});

afterAll(() => {
  vi.unstubAllEnvs();
  rmSync(dir, { recursive: true, force: true });
});

describe('runInGuest through the launcher', () => {
  it("gives back the guest's exit code and output, and starts the guest in a process other than this one", async () => {
    // Prepare
    const script = 'echo "parent $PPID"; echo oops >&2; exit 3';

    // Act
    const result = await runInGuest(guest(script));

    // Assess
    expect(result).toMatchObject({ exitCode: 3, stderr: 'oops\n', timedOut: false });
    const parent = Number(/parent (\d+)/.exec(result.stdout)?.[1]);
    expect(parent).not.toBe(process.pid);
    expect(launcherPids()).toContain(parent);
  });

  it('kills a guest when its signal aborts', async () => {
    // Prepare
    const controller = new AbortController();

    // Act
    const running = runInGuest(guest('exec sleep 30', controller.signal));
    setTimeout(() => controller.abort(), 200);
    const result = await running;

    // Assess
    expect(result.exitCode).toBe(128 + 9);
    expect(result.realMs).toBeLessThan(10_000);
  });

  it('fails the guests of a launcher that died, and starts a new one for the next guest', async () => {
    // Prepare
    // The stand-in has no --die-with-parent: the guest says who it is, to be ended afterwards.
    const ppidFile = join(dir, 'ppid');
    const selfFile = join(dir, 'self');
    const running = runInGuest(guest(`echo $$ > ${selfFile}; echo $PPID > ${ppidFile}; exec sleep 30`));
    const pidIn = (file: string): number => {
      const pid = Number(readFileSync(file, 'utf8'));
      if (!(pid > 0)) throw new Error(`no pid in ${file} yet`);
      return pid;
    };
    const first = await vi.waitFor(() => pidIn(ppidFile));
    onTestFinished(() => {
      try {
        process.kill(pidIn(selfFile), 'SIGKILL');
      } catch {
        // already gone
      }
    });
    expect(launcherPids()).toContain(first);

    // Act
    process.kill(first, 'SIGKILL');

    // Assess
    await expect(running).rejects.toThrow(/the guest launcher exited \(SIGKILL\)/);
    expect((await runInGuest(guest('echo again'))).stdout).toBe('again\n');
    expect(launcherPids()).not.toContain(first);
  });

  it('rejects with the error code when the bubblewrap binary does not exist', async () => {
    // Prepare
    vi.stubEnv('BAKEHOUSE_SANDBOX_BWRAP', join(dir, 'no-such-bwrap'));

    // Act
    const started = runInGuest(guest('true'));

    // Assess
    await expect(started).rejects.toMatchObject({ code: 'ENOENT' });
    vi.stubEnv('BAKEHOUSE_SANDBOX_BWRAP', fakeBwrap);
  });
});
