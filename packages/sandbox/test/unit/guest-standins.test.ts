import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { homedir, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AL2023_NEWER_RELEASE,
  aptLockWindows,
  type GuestOutcome,
  runGuestCommand,
  seededGuest,
  timeLimitMs,
} from '../../src/guest';
import { runInGuest } from '../../src/guest/runner';
import { pluginOutput } from '../../src/services/ssm/commands';

/**
 * The stand-ins and the guest, through the guest runner: scripts run under bubblewrap in a root
 * made from the seeded images' catalog, as Run Command runs them.
 */

let stateDir: string;
let counter = 0;
const HOUR_MS = 3_600_000;
const AL2023 = seededGuest('al2023', '2023.9.20261101', 'x86_64');
const UBUNTU = seededGuest('ubuntu-noble', '24.04', 'x86_64');

const run = async (
  instanceId: string,
  guest: typeof AL2023,
  script: string,
  options: { bootAgoMs?: number; speed?: number } = {},
): Promise<{ exitCode: number; stdout: string; stderr: string; timedOut: boolean; realMs: number }> => {
  counter += 1;
  const outcome: GuestOutcome = await runGuestCommand({
    stateDir,
    instanceId,
    guest,
    commandId: `command-${counter}`,
    pluginName: 'aws:runShellScript',
    script,
    executionTimeoutS: 3600,
    bootMs: Date.now() - (options.bootAgoMs ?? HOUR_MS),
    clock: { nowMs: () => Date.now(), speed: options.speed ?? 600 },
  });
  if ('unavailable' in outcome) throw new Error(`no guest here: ${outcome.unavailable}`);
  return outcome;
};

const RPM_INVENTORY = "rpm -qa --queryformat '%{NAME} %{VERSION}-%{RELEASE}.%{ARCH}\\n' | LC_ALL=C sort";
// biome-ignore lint/suspicious/noTemplateCurlyInString: dpkg-query's own ${field} syntax, not a template
const DPKG_INVENTORY = "dpkg-query -W -f='${binary:Package} ${Version}\\n' | LC_ALL=C sort";

beforeAll(() => {
  stateDir = mkdtempSync(join(tmpdir(), 'bakehouse-guest-'));
});
afterAll(() => rmSync(stateDir, { recursive: true, force: true }));

describe('an Amazon Linux 2023 guest', () => {
  it('has dnf, yum and rpm, and none of the Debian tools the host has', async () => {
    // Act
    const result = await run(
      'i-al-tools',
      AL2023,
      'for tool in dnf yum rpm systemctl cloud-init apt-get dpkg-query dpkg; do command -v $tool || echo "no $tool"; done',
    );

    // Assess
    expect(result.stdout.split('\n')).toEqual([
      '/usr/bin/dnf',
      '/usr/bin/yum',
      '/usr/bin/rpm',
      '/usr/bin/systemctl',
      '/usr/bin/cloud-init',
      'no apt-get',
      'no dpkg-query',
      'no dpkg',
      '',
    ]);
  });

  it('finds nothing to upgrade while locked to its release, and says a newer release exists', async () => {
    // Act
    const result = await run(
      'i-al-locked',
      AL2023,
      `${RPM_INVENTORY} > /tmp/before; dnf -y upgrade; ${RPM_INVENTORY} > /tmp/after; cmp /tmp/before /tmp/after && echo unchanged; rpm -q system-release; dnf check-release-update; dnf check-release-update --latest-only --version-only`,
    );

    // Assess
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toContain('Nothing to do.');
    expect(result.stdout).toContain('unchanged');
    expect(result.stdout).toContain('system-release-2023.9.20261101-0.amzn2023.noarch');
    expect(result.stdout).toContain(`dnf upgrade --releasever=${AL2023_NEWER_RELEASE}`);
    expect(result.stdout.endsWith(`\n${AL2023_NEWER_RELEASE}\n`)).toBe(true);
  });

  it('moves to the latest release with --releasever=latest: system-release, its files and the packages', async () => {
    // Act
    const result = await run(
      'i-al-latest',
      AL2023,
      [
        `${RPM_INVENTORY} > /tmp/before`,
        "dnf -y --exclude='kernel-livepatch*' upgrade --releasever=latest",
        `${RPM_INVENTORY} > /tmp/after`,
        'echo "release: $(rpm -q --qf "%{VERSION}" system-release)"',
        'cat /etc/amazon-linux-release',
        'grep ^PRETTY_NAME /etc/os-release',
        'LC_ALL=C comm -13 /tmp/before /tmp/after',
        'dnf -y upgrade',
      ].join('\n'),
    );

    // Assess
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toContain(`release: ${AL2023_NEWER_RELEASE}`);
    expect(result.stdout).toContain(`Amazon Linux release ${AL2023_NEWER_RELEASE} (Amazon Linux)`);
    expect(result.stdout).toContain(`PRETTY_NAME="Amazon Linux ${AL2023_NEWER_RELEASE}"`);
    expect(result.stdout).toContain('glibc 2.34-196.amzn2023.0.2.x86_64');
    expect(result.stdout).toContain('openssh-server 8.7p1-8.amzn2023.0.16.x86_64');
    // Locked to the new release now: a plain upgrade finds nothing more.
    expect(result.stdout.trimEnd().endsWith('Nothing to do.\nComplete!')).toBe(true);
  });

  it('honours --exclude, --security and a release pinned in /etc/dnf/vars/releasever', async () => {
    // Act
    const result = await run(
      'i-al-pinned',
      AL2023,
      [
        `echo ${AL2023_NEWER_RELEASE} > /etc/dnf/vars/releasever`,
        "dnf -y --security --exclude='openssh*' upgrade",
        "rpm -q openssh-server glibc amazon-ssm-agent tzdata --qf '%{NAME} %{VERSION}-%{RELEASE}\\n'",
      ].join('\n'),
    );

    // Assess
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toContain('openssh-server 8.7p1-8.amzn2023.0.15');
    expect(result.stdout).toContain('glibc 2.34-196.amzn2023.0.2');
    // Not security updates: left as they were.
    expect(result.stdout).toContain('amazon-ssm-agent 3.3.1957.0-1.amzn2023');
    expect(result.stdout).toContain('tzdata 2025b-1.amzn2023.0.1');
  });

  it('fails to install a package the repository does not have, as dnf does', async () => {
    // Act
    const result = await run('i-al-missing', AL2023, 'dnf -y install no-such-package');

    // Assess
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toContain('Error: Unable to find a match: no-such-package');
  });

  it('passes the al2023 families tests once the bake installed and enabled what they check', async () => {
    // Act
    const bake = await run(
      'i-al-family',
      AL2023,
      'dnf -y install amazon-cloudwatch-agent jq nginx && systemctl enable amazon-ssm-agent amazon-cloudwatch-agent nginx',
    );
    const checks = await run(
      'i-al-family',
      AL2023,
      "set -e; systemctl is-active amazon-ssm-agent; jq --version; ss -Hltn 'sport = :22' | grep -q LISTEN; nginx -t; systemctl is-active nginx",
    );
    const before = await run('i-al-fresh', AL2023, 'jq --version; nginx -t; systemctl is-active nginx');

    // Assess
    expect(bake.exitCode).toBe(0);
    expect(checks).toMatchObject({ exitCode: 0, stdout: 'active\njq-1.7.1\nactive\n' });
    expect(checks.stderr).toContain('test is successful');
    expect(before.exitCode).not.toBe(0);
    expect(before.stderr).toContain('jq: command not found');
  });
});

describe('an Ubuntu 24.04 guest', () => {
  it('fails apt-get at once with exit 100 while cloud-init holds the lock right after boot', async () => {
    // Act
    const result = await run('i-ub-boot', UBUNTU, 'apt-get update', { bootAgoMs: 0, speed: 60 });

    // Assess
    expect(result.exitCode).toBe(100);
    expect(result.stderr).toMatch(
      /^E: Could not get lock \/var\/lib\/apt\/lists\/lock\. It is held by process \d+ \(apt-get\)$/m,
    );
    expect(result.stderr).toContain(
      'N: Be aware that removing the lock file is not a solution and may break your system.',
    );
  });

  it('gets the lock after cloud-init status --wait', async () => {
    // Act
    const result = await run(
      'i-ub-wait',
      UBUNTU,
      'cloud-init status --wait && apt-get update && apt-get -y install jq',
      {
        bootAgoMs: 0,
        speed: 60,
      },
    );

    // Assess
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toContain('status: done');
    expect(result.stdout).toContain('Setting up jq (1.7.1-3ubuntu0.24.04.1) ...');
  });

  it('waits for the lock with -o DPkg::Lock::Timeout, and fails when the timeout is too short', async () => {
    // Act
    const short = await run('i-ub-short', UBUNTU, 'apt-get -o DPkg::Lock::Timeout=2 update', {
      bootAgoMs: 0,
      speed: 60,
    });
    const long = await run('i-ub-long', UBUNTU, 'apt-get -o DPkg::Lock::Timeout=300 update', {
      bootAgoMs: 0,
      speed: 60,
    });

    // Assess
    expect(short.exitCode).toBe(100);
    expect(short.stderr).toContain('Waiting for cache lock');
    expect(long.exitCode).toBe(0);
    expect(long.stderr).toContain('Waiting for cache lock');
    expect(long.stdout).toContain('Reading package lists... Done');
  });

  it('upgrades from noble-updates except held packages, and lists packages as the bake inventory reads them', async () => {
    // Act
    const result = await run(
      'i-ub-upgrade',
      UBUNTU,
      [
        'apt-get update > /dev/null',
        'apt-mark hold openssh-server',
        'apt-mark showhold',
        'apt-get -y upgrade --with-new-pkgs > /dev/null',
        'apt-mark unhold openssh-server',
        DPKG_INVENTORY,
      ].join('\n'),
    );

    // Assess
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toContain('openssh-server set on hold.\nopenssh-server\n');
    expect(result.stdout).toContain('\nlibc6 2.39-0ubuntu8.7\n');
    expect(result.stdout).toContain('\nopenssh-server 1:9.6p1-3ubuntu13.14\n');
    expect(result.stdout).toContain('\nlinux-image-aws 6.14.0.1015.15~24.04.1\n');
  });

  it('passes the ubuntu family tests once unattended-upgrades is installed, and knows no dnf', async () => {
    // Act
    const result = await run(
      'i-ub-family',
      UBUNTU,
      'command -v dnf || echo no-dnf; dpkg -s unattended-upgrades >/dev/null 2>&1 || echo not-yet; apt-get update >/dev/null && apt-get -y install unattended-upgrades >/dev/null && dpkg -s unattended-upgrades | head -2 && systemctl is-active snap.amazon-ssm-agent.amazon-ssm-agent',
    );

    // Assess
    expect(result).toMatchObject({
      exitCode: 0,
      stdout: 'no-dnf\nnot-yet\nPackage: unattended-upgrades\nStatus: install ok installed\nactive\n',
    });
  });
});

describe('the guest itself', () => {
  let server: Server;
  let port = 0;
  beforeAll(async () => {
    server = createServer((socket) => socket.end('host\n'));
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    port = (server.address() as { port: number }).port;
  });
  afterAll(() => new Promise<void>((done) => server.close(() => done())));

  it('fails the script on a syntax error with the shell exit code', async () => {
    // Act
    const result = await run('i-al-syntax', AL2023, 'if then fi');

    // Assess
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain('syntax error');
  });

  it('cannot see the checkout, the home directory or host files, and has no network', async () => {
    // Prepare
    const checkout = resolve(__dirname, '../..');
    const homeEntry = readdirSync(homedir())[0] ?? '.profile';

    // Act
    const result = await run(
      'i-al-isolated',
      AL2023,
      [
        `test -e '${checkout}/package.json' && echo checkout-visible`,
        `test -e '${homedir()}/${homeEntry}' && echo home-visible`,
        'test -e /etc/debian_version && echo host-etc-visible',
        `(exec 3<>/dev/tcp/127.0.0.1/${port}) 2>/dev/null && echo network-reached`,
        "awk 'NR > 2 { print $1 }' /proc/net/dev",
        'echo done',
      ].join('\n'),
    );

    // Assess
    expect(result.stdout).toBe('lo:\ndone\n');
  });

  const direct = (script: string, limits: { timeLimitMs: number; outputLimit: number }) => {
    const guests = join(stateDir, 'guests');
    const named = (prefix: string) =>
      join(guests, readdirSync(guests).find((name) => name.startsWith(prefix)) ?? prefix);
    const root = join(guests, 'instances', 'i-al-limits');
    writeFileSync(join(root, 'tmp/script.sh'), script);
    return runInGuest({
      root,
      toolbox: named('toolbox-'),
      repository: named('repo-al2023-'),
      scriptPath: '/tmp/script.sh',
      cwd: '/',
      env: { PATH: '/usr/bin' },
      ...limits,
    });
  };

  it('kills a script, and what it started, at its time limit', async () => {
    // Prepare
    await run('i-al-limits', AL2023, 'true');

    // Act
    const result = await direct('sleep 60 & sleep 60; echo not-reached', { timeLimitMs: 500, outputLimit: 100 });

    // Assess
    expect(result.timedOut).toBe(true);
    expect(result.stdout).toBe('');
    expect(result.realMs).toBeLessThan(10_000);
  });

  it('keeps no more output than its limit', async () => {
    // Prepare
    await run('i-al-limits', AL2023, 'true');

    // Act
    const result = await direct('yes sandbox | head -n 100000; echo end', { timeLimitMs: 30_000, outputLimit: 1000 });

    // Assess
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toHaveLength(1000);
  });
});

describe('limits', () => {
  it('scales executionTimeout by the clock speed, within a floor and a cap', () => {
    // Assess
    expect(timeLimitMs(36_000, 600)).toBe(60_000);
    expect(timeLimitMs(600, 600)).toBe(15_000);
    expect(timeLimitMs(3_600, 1)).toBe(120_000);
    expect(timeLimitMs(3_600, 0)).toBe(120_000);
  });

  it('holds the apt lock while cloud-init runs and once a day from 06:00 UTC plus a fixed delay', () => {
    // Prepare
    const boot = Date.parse('2026-11-22T03:00:00Z');

    // Act
    const windows = aptLockWindows('i-0123456789abcdef0', boot, boot + 20 * HOUR_MS);

    // Assess
    expect(windows[0]).toMatchObject({ fromMs: boot, untilMs: boot + 75_000, name: 'apt-get' });
    expect(windows.slice(1)).toHaveLength(1);
    const daily = windows[1] as (typeof windows)[number];
    expect(daily.fromMs).toBeGreaterThanOrEqual(Date.parse('2026-11-22T06:00:00Z'));
    expect(daily.fromMs).toBeLessThan(Date.parse('2026-11-22T07:00:00Z'));
    expect(daily.untilMs - daily.fromMs).toBe(120_000);
    expect(aptLockWindows('i-0123456789abcdef0', boot, boot + 20 * HOUR_MS)).toEqual(windows);
  });

  it('builds the plugin Output as the SSM Agent does: at most 2,500 characters, cuts marked', () => {
    // Prepare
    const long = 'x'.repeat(3000);

    // Act
    const short = pluginOutput('out', 'err');
    const stdoutOnly = pluginOutput(long, '');
    const both = pluginOutput(long, long);
    const fits = pluginOutput('a'.repeat(2500), '');

    // Assess
    expect(short).toBe('out\n----------ERROR-------\nerr');
    expect(stdoutOnly.length).toBeLessThanOrEqual(2500);
    expect(stdoutOnly.endsWith('\n---Output truncated---')).toBe(true);
    expect(both.length).toBeLessThanOrEqual(2500);
    expect(both).toMatch(/^x+\n---Output truncated---\n----------ERROR-------\nx+\n---Error truncated----$/);
    expect(fits).toBe('a'.repeat(2500));
  });
});
