import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LeastPrivilegeReport, RoleReport } from '@bakehouse/sandbox';
import { afterAll, describe, expect, it } from 'vitest';
import { renderIamSummary, writeIamReport } from '../../dev/start/iam';

const root = join(import.meta.dirname, '..', '..');
const dir = mkdtempSync(join(tmpdir(), 'bakehouse-start-iam-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const roleReport = (name: string, overrides: Partial<RoleReport> = {}): RoleReport => ({
  roleArn: `arn:aws:iam::000000000000:role/${name}`,
  inIam: true,
  used: { 'ec2:DescribeImages': ['*'] },
  denials: [],
  unusedGrants: [],
  unusedActions: 0,
  unobservedActions: 0,
  unknownManaged: [],
  ...overrides,
});

const report = (roles: RoleReport[]): LeastPrivilegeReport => ({
  enforcement: 'on',
  roles,
  sandboxGaps: [],
  totals: {
    roles: roles.length,
    rolesThatActed: roles.length,
    denials: roles.reduce((n, r) => n + r.denials.length, 0),
    enforcedDenials: roles.reduce((n, r) => n + r.denials.filter((d) => d.enforced).length, 0),
    unusedActions: roles.reduce((n, r) => n + r.unusedActions, 0),
    unobservedActions: roles.reduce((n, r) => n + r.unobservedActions, 0),
    unknownManaged: 0,
  },
});

const denial = (action: string) => ({
  action,
  resource: 'arn:aws:ec2:us-east-1:000000000000:snapshot/snap-1',
  reason: 'no identity-based policy allows it',
  atMs: 0,
  enforced: true,
});

describe('npm start least-privilege summary', () => {
  it('says a clean run has no denials, names the roles with unused grants and where the JSON is', () => {
    // Prepare
    const clean = report([roleReport('janitor', { unusedActions: 2 }), roleReport('deploy', { unusedActions: 5 })]);

    // Act
    const lines = renderIamSummary(clean, '/repo/.sandbox/iam-report.json');

    // Assess
    expect(lines).toContain(
      'IAM (enforcement on): 2 roles (2 acted), 0 denials (0 enforced), 7 granted actions never used, 0 of services the sandbox does not authorize (Logs, X-Ray, KMS, SQS reads), 0 AWS managed policies not evaluated',
    );
    expect(lines).toContain('  unused grants by role: deploy 5, janitor 2');
    expect(lines).toContain('no denials (goal: 0)');
    expect(lines.at(-1)).toBe('report: /repo/.sandbox/iam-report.json');
  });

  it('names the first denials by role and counts the rest', () => {
    // Prepare
    const denied = report([
      roleReport('janitor', { denials: ['a', 'b', 'c', 'd', 'e', 'f', 'g'].map((n) => denial(`ec2:Action${n}`)) }),
    ]);

    // Act
    const lines = renderIamSummary(denied, 'report.json');

    // Assess
    expect(lines).toContain('  denied janitor: ec2:Actiona on arn:aws:ec2:us-east-1:000000000000:snapshot/snap-1');
    expect(lines.filter((line) => line.startsWith('  denied'))).toHaveLength(5);
    expect(lines).toContain('  … and 2 more denials');
    expect(lines).toContain('7 denial(s): the goal is 0');
  });

  it('writes the report as JSON, creating its folder', () => {
    // Act
    const path = join(dir, 'nested', 'iam-report.json');
    writeIamReport(report([roleReport('janitor')]), path);

    // Assess
    expect(JSON.parse(readFileSync(path, 'utf8')).roles[0].roleArn).toBe('arn:aws:iam::000000000000:role/janitor');
  });
});

const run = (args: string[]) => {
  const child = spawn(process.execPath, ['--import', 'tsx', 'dev/iam-report.ts', ...args], { cwd: root });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { exited, stdout: () => stdout, stderr: () => stderr };
};

describe('npm run iam-report', () => {
  // The lifecycle run itself, and the report it prints and writes, are asserted in
  // test/e2e/npm-start.test.ts, which runs `npm start` through this script.
  it('refuses another --iam value, naming the flag', async () => {
    // Act
    const started = run(['--iam', 'maybe']);
    const code = await started.exited;

    // Assess
    expect(code).toBe(1);
    expect(started.stderr()).toContain("--iam 'maybe' must be on or off");
  });
});
