/**
 * What the sandbox's Linux guests are made of: the operating systems of the seeded source images
 * (release, installed packages, services), and one package REPOSITORY per OS that offers newer
 * versions and packages that are not installed. The stand-ins (`standins/`) read the repository
 * as plain text files (`repositoryFiles`); the root of a new guest is written from `installedOn`.
 *
 * Amazon Linux 2023 is locked to a release: an AMI's packages come from the repository version
 * named by its `releasever`, and only `--releasever=<newer>|latest` moves it
 * (https://docs.aws.amazon.com/linux/al2023/ug/deterministic-upgrades-usage.html). So its
 * repository is one package set per release. Ubuntu's is one set per pocket: `noble` (what the
 * image shipped) and `noble-updates` (newer versions, some of them security fixes).
 *
 * Versions are realistic in shape, not copies of a real mirror. Every repository version is
 * newer than the one it replaces; an `origin` number orders them, so the stand-ins never compare
 * version strings.
 */

export type GuestOs = 'al2023' | 'ubuntu-noble';

/** The guest an image carries: its OS and (Amazon Linux) the release it is locked to. */
export interface GuestImageSpec {
  readonly os: GuestOs;
  readonly release: string;
}

export interface CatalogPackage {
  readonly name: string;
  /** rpm: VERSION; dpkg: the whole version (epoch:upstream-revision). */
  readonly version: string;
  /** rpm: RELEASE; empty for dpkg. */
  readonly release: string;
  /** `ARCH` stands for the machine's architecture (x86_64 / aarch64, amd64 / arm64). */
  readonly arch: string;
  readonly security?: boolean;
  readonly requires?: readonly string[];
}

/** A systemd unit and the package that ships it ('-': always present, e.g. a snap). */
export interface CatalogService {
  readonly unit: string;
  readonly pkg: string;
  /** Enabled when its package is installed (the image's defaults; Debian enables on install). */
  readonly enabledOnInstall: boolean;
  /** TCP port it listens on while active (ss). */
  readonly port?: number;
}

/** Files a package puts on the guest: commands (links to stand-ins), unit files, config. */
export interface CatalogFile {
  readonly pkg: string;
  readonly kind: 'bin' | 'unit' | 'conf';
  readonly path: string;
}

export interface OsProfile {
  readonly os: GuestOs;
  /** Stand-ins that are the OS's own tools (package manager, systemctl, cloud-init, …). */
  readonly standins: readonly string[];
  /** `/bin/sh` is this host shell. */
  readonly sh: 'bash' | 'dash';
  readonly services: readonly CatalogService[];
  readonly files: readonly CatalogFile[];
}

// ---------------------------------------------------------------- Amazon Linux 2023

export const AL2023_BASE_RELEASE = '2023.9.20261101';
export const AL2023_NEWER_RELEASE = '2023.9.20261122';

const al = (name: string, version: string, release: string, arch = 'ARCH', extra: Partial<CatalogPackage> = {}) => ({
  name,
  version,
  release,
  arch,
  ...extra,
});

/** What the 2023.9.20261101 AMIs have installed (a few dozen of the ~400 packages of a real one). */
const AL2023_INSTALLED: readonly CatalogPackage[] = [
  al('system-release', AL2023_BASE_RELEASE, '0.amzn2023', 'noarch'),
  al('amazon-linux-repo-cdn', AL2023_BASE_RELEASE, '0.amzn2023', 'noarch'),
  al('kernel', '6.1.156', '177.286.amzn2023'),
  al('kernel-livepatch-6.1.156-177.286', '1.0', '0.amzn2023'),
  al('bash', '5.2.15', '1.amzn2023.0.2'),
  al('coreutils', '8.32', '30.amzn2023.0.3'),
  al('glibc', '2.34', '196.amzn2023.0.1'),
  al('glibc-common', '2.34', '196.amzn2023.0.1'),
  al('openssl-libs', '3.2.2', '1.amzn2023.0.2'),
  al('openssh', '8.7p1', '8.amzn2023.0.15'),
  al('openssh-server', '8.7p1', '8.amzn2023.0.15'),
  al('openssh-clients', '8.7p1', '8.amzn2023.0.15'),
  al('amazon-ssm-agent', '3.3.1957.0', '1.amzn2023'),
  al('cloud-init', '22.2.2', '1.amzn2023.1.18', 'noarch'),
  al('dnf', '4.14.0', '1.amzn2023.0.6', 'noarch'),
  al('rpm', '4.16.1.3', '29.amzn2023.0.6'),
  al('curl-minimal', '8.5.0', '1.amzn2023.0.4'),
  al('libcurl-minimal', '8.5.0', '1.amzn2023.0.4'),
  al('systemd', '252.23', '2.amzn2023'),
  al('systemd-libs', '252.23', '2.amzn2023'),
  al('chrony', '4.3', '1.amzn2023.0.4'),
  al('sudo', '1.9.15', '1.p5.amzn2023.0.1'),
  al('python3', '3.9.23', '1.amzn2023.0.1'),
  al('python3-libs', '3.9.23', '1.amzn2023.0.1'),
  al('ca-certificates', '2024.2.69_v8.0.303', '80.0.amzn2023.0.1', 'noarch'),
  al('tzdata', '2025b', '1.amzn2023.0.1', 'noarch'),
  al('vim-minimal', '9.1.1418', '1.amzn2023.0.1'),
  al('grep', '3.8', '1.amzn2023.0.4'),
  al('sed', '4.8', '7.amzn2023.0.2'),
  al('gawk', '5.1.0', '3.amzn2023.0.3'),
  al('findutils', '4.8.0', '2.amzn2023.0.2'),
  al('tar', '1.34', '1.amzn2023.0.4'),
  al('gzip', '1.12', '1.amzn2023.0.1'),
  al('util-linux', '2.37.4', '1.amzn2023.0.4'),
  al('shadow-utils', '4.9', '12.amzn2023.0.4'),
  al('iproute', '5.10.0', '2.amzn2023.0.5'),
  al('procps-ng', '3.3.17', '1.amzn2023.0.2'),
  al('ec2-utils', '2.2.0', '1.amzn2023.0.2', 'noarch'),
  al('ec2-instance-connect', '1.1', '19.amzn2023', 'noarch'),
  al('amazon-ec2-net-utils', '2.5.4', '1.amzn2023.0.1', 'noarch'),
  al('libxml2', '2.10.4', '1.amzn2023.0.11'),
  al('zlib', '1.2.11', '33.amzn2023.0.5'),
  al('sqlite-libs', '3.40.0', '1.amzn2023.0.4'),
  al('logrotate', '3.20.1', '2.amzn2023.0.4'),
];

/** What 2023.9.20261122 changed: newer versions (security fixes flagged) and its own system-release. */
const AL2023_UPDATES: readonly CatalogPackage[] = [
  al('system-release', AL2023_NEWER_RELEASE, '0.amzn2023', 'noarch'),
  al('amazon-linux-repo-cdn', AL2023_NEWER_RELEASE, '0.amzn2023', 'noarch'),
  al('kernel', '6.1.158', '180.294.amzn2023', 'ARCH', { security: true }),
  al('glibc', '2.34', '196.amzn2023.0.2', 'ARCH', { security: true }),
  al('glibc-common', '2.34', '196.amzn2023.0.2', 'ARCH', { security: true }),
  al('openssl-libs', '3.2.2', '1.amzn2023.0.3', 'ARCH', { security: true }),
  al('openssh', '8.7p1', '8.amzn2023.0.16', 'ARCH', { security: true }),
  al('openssh-server', '8.7p1', '8.amzn2023.0.16', 'ARCH', { security: true }),
  al('openssh-clients', '8.7p1', '8.amzn2023.0.16', 'ARCH', { security: true }),
  al('curl-minimal', '8.11.1', '4.amzn2023.0.1', 'ARCH', { security: true }),
  al('libcurl-minimal', '8.11.1', '4.amzn2023.0.1', 'ARCH', { security: true }),
  al('python3', '3.9.24', '1.amzn2023.0.1', 'ARCH', { security: true }),
  al('python3-libs', '3.9.24', '1.amzn2023.0.1', 'ARCH', { security: true }),
  al('amazon-ssm-agent', '3.3.2299.0', '1.amzn2023'),
  al('systemd', '252.23', '7.amzn2023'),
  al('systemd-libs', '252.23', '7.amzn2023'),
  al('tzdata', '2025c', '1.amzn2023.0.1', 'noarch'),
];

/** In the repository of every release, not installed on the AMIs. */
const AL2023_INSTALLABLE: readonly CatalogPackage[] = [
  al('jq', '1.7.1', '49.amzn2023.0.2', 'ARCH', { requires: ['oniguruma'] }),
  al('oniguruma', '6.9.7.1', '1.amzn2023.0.6'),
  al('nginx', '1.28.0', '1.amzn2023.0.2', 'ARCH', {
    requires: ['nginx-core', 'nginx-filesystem', 'nginx-mimetypes', 'gperftools-libs'],
  }),
  al('nginx-core', '1.28.0', '1.amzn2023.0.2'),
  al('nginx-filesystem', '1.28.0', '1.amzn2023.0.2', 'noarch'),
  al('nginx-mimetypes', '2.1.49', '3.amzn2023.0.3', 'noarch'),
  al('gperftools-libs', '2.9.1', '1.amzn2023.0.3'),
  al('amazon-cloudwatch-agent', '1.300062.0', '1.amzn2023'),
  al('git', '2.50.1', '1.amzn2023.0.1', 'ARCH', { requires: ['git-core'] }),
  al('git-core', '2.50.1', '1.amzn2023.0.1'),
];

const AL2023: OsProfile = {
  os: 'al2023',
  standins: ['dnf', 'yum', 'rpm', 'systemctl', 'cloud-init', 'ss', 'shutdown', 'poweroff'],
  sh: 'bash',
  services: [
    { unit: 'amazon-ssm-agent', pkg: 'amazon-ssm-agent', enabledOnInstall: true },
    { unit: 'sshd', pkg: 'openssh-server', enabledOnInstall: true, port: 22 },
    { unit: 'chronyd', pkg: 'chrony', enabledOnInstall: true },
    { unit: 'cloud-init', pkg: 'cloud-init', enabledOnInstall: true },
    { unit: 'amazon-cloudwatch-agent', pkg: 'amazon-cloudwatch-agent', enabledOnInstall: false },
    { unit: 'nginx', pkg: 'nginx', enabledOnInstall: false, port: 80 },
  ],
  files: [
    { pkg: 'jq', kind: 'bin', path: '/usr/bin/jq' },
    { pkg: 'nginx-core', kind: 'bin', path: '/usr/sbin/nginx' },
    { pkg: 'nginx', kind: 'conf', path: '/etc/nginx/nginx.conf' },
    { pkg: 'git-core', kind: 'bin', path: '/usr/bin/git' },
    { pkg: 'amazon-cloudwatch-agent', kind: 'conf', path: '/opt/aws/amazon-cloudwatch-agent/etc/common-config.toml' },
  ],
};

// ---------------------------------------------------------------- Ubuntu 24.04 (noble)

const deb = (name: string, version: string, arch = 'ARCH', extra: Partial<CatalogPackage> = {}) => ({
  name,
  version,
  release: '',
  arch,
  ...extra,
});

const UBUNTU_INSTALLED: readonly CatalogPackage[] = [
  deb('base-files', '13ubuntu10.3'),
  deb('bash', '5.2.21-2ubuntu4'),
  deb('coreutils', '9.4-3ubuntu6.1'),
  deb('libc6', '2.39-0ubuntu8.6'),
  deb('libc-bin', '2.39-0ubuntu8.6'),
  deb('openssl', '3.0.13-0ubuntu3.6'),
  deb('libssl3t64', '3.0.13-0ubuntu3.6'),
  deb('openssh-server', '1:9.6p1-3ubuntu13.14'),
  deb('openssh-client', '1:9.6p1-3ubuntu13.14'),
  deb('openssh-sftp-server', '1:9.6p1-3ubuntu13.14'),
  deb('apt', '2.8.3'),
  deb('libapt-pkg6.0t64', '2.8.3'),
  deb('dpkg', '1.22.6ubuntu6.5'),
  deb('cloud-init', '25.2-0ubuntu1~24.04.1', 'all'),
  deb('snapd', '2.68.5+ubuntu24.04.1'),
  deb('systemd', '255.4-1ubuntu8.11'),
  deb('libsystemd0', '255.4-1ubuntu8.11'),
  deb('udev', '255.4-1ubuntu8.11'),
  deb('sudo', '1.9.15p5-3ubuntu5.24.04.1'),
  deb('python3', '3.12.3-0ubuntu2'),
  deb('python3.12', '3.12.3-1ubuntu0.8'),
  deb('curl', '8.5.0-2ubuntu10.6'),
  deb('libcurl4t64', '8.5.0-2ubuntu10.6'),
  deb('ca-certificates', '20240203', 'all'),
  deb('tzdata', '2025b-0ubuntu0.24.04.1', 'all'),
  deb('linux-aws', '6.14.0.1015.15~24.04.1'),
  deb('linux-image-aws', '6.14.0.1015.15~24.04.1'),
  deb('linux-image-6.14.0-1015-aws', '6.14.0-1015.15~24.04.1'),
  deb('grep', '3.11-4build1'),
  deb('sed', '4.9-2build1'),
  deb('mawk', '1.3.4.20240123-1build1'),
  deb('findutils', '4.9.0-5build1'),
  deb('tar', '1.35+dfsg-3build1'),
  deb('gzip', '1.12-1ubuntu3.1'),
  deb('util-linux', '2.39.3-9ubuntu6.3'),
  deb('iproute2', '6.1.0-1ubuntu6.2'),
  deb('procps', '2:4.0.4-4ubuntu3.2'),
  deb('chrony', '4.5-1ubuntu4.2'),
  deb('rsyslog', '8.2312.0-3ubuntu9.1'),
  deb('vim-tiny', '2:9.1.0016-1ubuntu7.9'),
  deb('less', '590-2ubuntu2.1'),
  deb('ec2-instance-connect', '1.1.17-0ubuntu4', 'all'),
  deb('zlib1g', '1:1.3.dfsg-3.1ubuntu2.1'),
];

/** noble-updates: newer versions of some installed packages (no linux-image-*). */
const UBUNTU_UPDATES: readonly CatalogPackage[] = [
  deb('base-files', '13ubuntu10.4'),
  deb('libc6', '2.39-0ubuntu8.7', 'ARCH', { security: true }),
  deb('libc-bin', '2.39-0ubuntu8.7', 'ARCH', { security: true }),
  deb('openssl', '3.0.13-0ubuntu3.7', 'ARCH', { security: true }),
  deb('libssl3t64', '3.0.13-0ubuntu3.7', 'ARCH', { security: true }),
  deb('openssh-server', '1:9.6p1-3ubuntu13.15', 'ARCH', { security: true }),
  deb('openssh-client', '1:9.6p1-3ubuntu13.15', 'ARCH', { security: true }),
  deb('openssh-sftp-server', '1:9.6p1-3ubuntu13.15', 'ARCH', { security: true }),
  deb('curl', '8.5.0-2ubuntu10.7', 'ARCH', { security: true }),
  deb('libcurl4t64', '8.5.0-2ubuntu10.7', 'ARCH', { security: true }),
  deb('systemd', '255.4-1ubuntu8.12'),
  deb('libsystemd0', '255.4-1ubuntu8.12'),
  deb('udev', '255.4-1ubuntu8.12'),
  deb('snapd', '2.72+ubuntu24.04'),
  deb('tzdata', '2025c-0ubuntu0.24.04.1', 'all'),
];

const UBUNTU_INSTALLABLE: readonly CatalogPackage[] = [
  deb('jq', '1.7.1-3ubuntu0.24.04.1', 'ARCH', { requires: ['libjq1', 'libonig5'] }),
  deb('libjq1', '1.7.1-3ubuntu0.24.04.1'),
  deb('libonig5', '6.9.9-1build1'),
  deb('nginx', '1.24.0-2ubuntu7.5', 'ARCH', { requires: ['nginx-common'] }),
  deb('nginx-common', '1.24.0-2ubuntu7.5', 'all'),
  deb('unattended-upgrades', '2.9.1+nmu4ubuntu1', 'all', { requires: ['python3-apt'] }),
  deb('python3-apt', '2.7.7ubuntu5.1'),
  deb('git', '1:2.43.0-1ubuntu7.3'),
];

const UBUNTU: OsProfile = {
  os: 'ubuntu-noble',
  standins: ['apt-get', 'apt-mark', 'dpkg', 'dpkg-query', 'systemctl', 'cloud-init', 'ss', 'shutdown', 'poweroff'],
  sh: 'dash',
  services: [
    { unit: 'snap.amazon-ssm-agent.amazon-ssm-agent', pkg: '-', enabledOnInstall: true },
    { unit: 'ssh', pkg: 'openssh-server', enabledOnInstall: true, port: 22 },
    { unit: 'chrony', pkg: 'chrony', enabledOnInstall: true },
    { unit: 'cloud-init', pkg: 'cloud-init', enabledOnInstall: true },
    { unit: 'unattended-upgrades', pkg: 'unattended-upgrades', enabledOnInstall: true },
    { unit: 'nginx', pkg: 'nginx', enabledOnInstall: true, port: 80 },
  ],
  files: [
    { pkg: 'jq', kind: 'bin', path: '/usr/bin/jq' },
    { pkg: 'nginx', kind: 'bin', path: '/usr/sbin/nginx' },
    { pkg: 'nginx-common', kind: 'conf', path: '/etc/nginx/nginx.conf' },
    { pkg: 'unattended-upgrades', kind: 'bin', path: '/usr/bin/unattended-upgrade' },
    { pkg: 'unattended-upgrades', kind: 'conf', path: '/etc/apt/apt.conf.d/50unattended-upgrades' },
    { pkg: 'git', kind: 'bin', path: '/usr/bin/git' },
  ],
};

export const PROFILES: Readonly<Record<GuestOs, OsProfile>> = { al2023: AL2023, 'ubuntu-noble': UBUNTU };

/** The machine architecture as each package manager spells it. */
export const packageArch = (os: GuestOs, architecture: 'x86_64' | 'arm64'): string =>
  os === 'al2023' ? (architecture === 'arm64' ? 'aarch64' : 'x86_64') : architecture === 'arm64' ? 'arm64' : 'amd64';

/** The packages installed on a seeded image of this OS and release. */
export const installedOn = (spec: GuestImageSpec): readonly CatalogPackage[] => {
  if (spec.os === 'ubuntu-noble') return UBUNTU_INSTALLED;
  if (spec.release === AL2023_BASE_RELEASE) return AL2023_INSTALLED;
  return merge(AL2023_INSTALLED, AL2023_UPDATES);
};

const merge = (base: readonly CatalogPackage[], newer: readonly CatalogPackage[]): CatalogPackage[] => {
  const byName = new Map(base.map((pkg) => [pkg.name, pkg]));
  for (const pkg of newer) if (byName.has(pkg.name)) byName.set(pkg.name, pkg);
  return [...byName.values()];
};

/**
 * One line per package: `name version release arch origin security requires`, `-` for an empty
 * field. `origin` orders versions: a package is upgraded only to a higher origin.
 */
const indexLines = (packages: readonly CatalogPackage[], origin: number, arch: string): string =>
  packages
    .map((pkg) =>
      [
        pkg.name,
        pkg.version,
        pkg.release || '-',
        pkg.arch === 'ARCH' ? arch : pkg.arch,
        origin,
        pkg.security ? 'security' : '-',
        pkg.requires && pkg.requires.length > 0 ? pkg.requires.join(',') : '-',
      ].join(' '),
    )
    .map((line) => `${line}\n`)
    .join('');

/** The installed-package database of a fresh root: `name version release arch origin`. */
export const installedDatabase = (spec: GuestImageSpec, arch: string): string => {
  const origin = spec.os === 'al2023' && spec.release === AL2023_NEWER_RELEASE ? 1 : 0;
  return installedOn(spec)
    .map((pkg) => [pkg.name, pkg.version, pkg.release || '-', pkg.arch === 'ARCH' ? arch : pkg.arch, origin].join(' '))
    .map((line) => `${line}\n`)
    .join('');
};

/**
 * The repository as files, by path relative to the repository directory the guest sees read-only
 * (`/usr/libexec/bakehouse-guest/repo/`).
 *   al2023:  `releases` (oldest first), `<releasever>.pkgs` (the full set of each release)
 *   ubuntu:  `noble.pkgs`, `noble-updates.pkgs`
 *   both:    `services` (`unit pkg enabled-on-install port`), `files` (`pkg kind path`)
 */
export const repositoryFiles = (os: GuestOs, arch: string): Record<string, string> => {
  const profile = PROFILES[os];
  const common = {
    services: profile.services
      .map((s) => `${s.unit} ${s.pkg} ${s.enabledOnInstall ? 'enabled' : 'disabled'} ${s.port ?? '-'}\n`)
      .join(''),
    files: profile.files.map((f) => `${f.pkg} ${f.kind} ${f.path}\n`).join(''),
  };
  if (os === 'al2023') {
    return {
      ...common,
      releases: `${AL2023_BASE_RELEASE}\n${AL2023_NEWER_RELEASE}\n`,
      [`${AL2023_BASE_RELEASE}.pkgs`]: indexLines([...AL2023_INSTALLED, ...AL2023_INSTALLABLE], 0, arch),
      [`${AL2023_NEWER_RELEASE}.pkgs`]: indexLines(
        [...merge(AL2023_INSTALLED, AL2023_UPDATES), ...AL2023_INSTALLABLE],
        1,
        arch,
      ),
    };
  }
  return {
    ...common,
    'noble.pkgs': indexLines([...UBUNTU_INSTALLED, ...UBUNTU_INSTALLABLE], 0, arch),
    'noble-updates.pkgs': indexLines(UBUNTU_UPDATES, 1, arch),
  };
};
