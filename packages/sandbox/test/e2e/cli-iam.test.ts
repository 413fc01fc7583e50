/**
 * `--iam on|off` on the sandbox command: off lets every request through and only records what AWS
 * would refuse (with a warning); anything else is refused with the usage.
 */
import { describe, expect, it } from 'vitest';
import { sandboxProcesses } from '../support/sandbox-process';

const sandboxProcess = sandboxProcesses('cli-iam', { BAKEHOUSE_SANDBOX_IAM: '' });

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
