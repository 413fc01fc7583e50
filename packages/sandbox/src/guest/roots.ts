/**
 * The files of the guests, under `<state dir>/guests/`:
 *
 *   toolbox-<hash>/bin/    host tools from an allowlist (copied) and the stand-ins; read-only in
 *                          every guest at /usr/libexec/bakehouse-guest/ (plus lib.sh)
 *   repo-<os>-<arch>-<hash>/  the package repository of an OS (catalog.ts), read-only in its guests
 *   seed-<os>-<release>-<arch>-<hash>/  the root of a seeded image, written once from the catalog
 *   images/<ami-id>/       the root CreateImage captured from an instance
 *   instances/<i-id>/      an instance's own root: a copy of its image's, made at its first command,
 *                          removed when the instance is terminated
 *
 * A guest's /usr/bin holds symbolic links into the toolbox: only the allowlisted tools and the
 * stand-ins of its OS exist there, so `command -v dpkg-query` fails on Amazon Linux and
 * `command -v dnf` on Ubuntu, whatever the host has. Installing a package adds the links of the
 * commands it ships.
 */
import { createHash } from 'node:crypto';
import {
  chmodSync,
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type GuestOs, installedDatabase, installedOn, PROFILES, repositoryFiles } from './catalog';

/** Where the toolbox appears in every guest. */
export const GUEST_TOOLBOX = '/usr/libexec/bakehouse-guest';

const STANDINS_DIR = join(dirname(fileURLToPath(import.meta.url)), 'standins');

/**
 * Host tools a guest may run (the bake and test scripts need these; both distributions ship
 * them). Never the host's package tools: apt-get, dpkg, dnf and rpm exist only as stand-ins, and
 * only on the OS they belong to.
 */
const HOST_TOOLS = [
  'bash',
  'dash',
  'cat',
  'cp',
  'mv',
  'rm',
  'mkdir',
  'rmdir',
  'ln',
  'ls',
  'chmod',
  'chown',
  'touch',
  'echo',
  'printf',
  'test',
  '[',
  'true',
  'false',
  'env',
  'printenv',
  'sleep',
  'date',
  'id',
  'whoami',
  'uname',
  'hostname',
  'head',
  'tail',
  'tac',
  'wc',
  'sort',
  'uniq',
  'comm',
  'cut',
  'tr',
  'tee',
  'paste',
  'join',
  'fold',
  'mktemp',
  'dirname',
  'basename',
  'readlink',
  'realpath',
  'stat',
  'du',
  'df',
  'seq',
  'expr',
  'yes',
  'sync',
  'nproc',
  'od',
  'sha256sum',
  'md5sum',
  'base64',
  'timeout',
  'nohup',
  'install',
  'xargs',
  'find',
  'grep',
  'egrep',
  'fgrep',
  'sed',
  'awk',
  'gzip',
  'gunzip',
  'zcat',
  'tar',
  'diff',
  'cmp',
  'which',
  'pwd',
  'sum',
  'cksum',
  'split',
  'numfmt',
  'nl',
  'less',
  'more',
];

const hashOf = (...parts: string[]): string => createHash('sha256').update(parts.join('\0')).digest('hex').slice(0, 12);

const standinNames = (): string[] => readdirSync(STANDINS_DIR).filter((name) => name !== 'lib.sh');

const standinsHash = (): string =>
  hashOf(...readdirSync(STANDINS_DIR).map((name) => `${name}\n${readFileSync(join(STANDINS_DIR, name), 'utf8')}`));

/** Writes `dir` atomically: built in a temporary sibling, then renamed into place. */
const buildOnce = (dir: string, build: (temp: string) => void): string => {
  if (existsSync(dir)) return dir;
  const temp = `${dir}.tmp-${process.pid}-${Date.now()}`;
  rmSync(temp, { recursive: true, force: true });
  mkdirSync(temp, { recursive: true });
  build(temp);
  try {
    renameSync(temp, dir);
  } catch (error) {
    rmSync(temp, { recursive: true, force: true });
    if (!existsSync(dir)) throw error;
  }
  return dir;
};

/** Which host tools exist (looked up in the host's /usr/bin and /bin). */
const hostTool = (name: string): string | undefined =>
  ['/usr/bin', '/bin'].map((dir) => join(dir, name)).find((path) => existsSync(path));

/** Built toolboxes and repositories of this process (they are built once and never change). */
const built = new Map<string, unknown>();
const memo = <T>(key: string, make: () => T, dirOf: (value: T) => string): T => {
  const cached = built.get(key) as T | undefined;
  if (cached !== undefined && existsSync(dirOf(cached))) return cached;
  const made = make();
  built.set(key, made);
  return made;
};

/** The toolbox: host tools and stand-ins, one per guests directory and stand-in version. */
export const toolbox = (guestsDir: string): { dir: string; tools: string[] } =>
  memo(
    `toolbox:${guestsDir}`,
    () => makeToolbox(guestsDir),
    (made) => made.dir,
  );

const makeToolbox = (guestsDir: string): { dir: string; tools: string[] } => {
  const dir = join(guestsDir, `toolbox-${standinsHash()}`);
  buildOnce(dir, (temp) => {
    const bin = join(temp, 'bin');
    mkdirSync(bin);
    mkdirSync(join(temp, 'repo'));
    for (const name of HOST_TOOLS) {
      const path = hostTool(name);
      if (path) copyFileSync(path, join(bin, name));
    }
    for (const name of standinNames()) {
      copyFileSync(join(STANDINS_DIR, name), join(bin, name));
      chmodSync(join(bin, name), 0o755);
    }
    symlinkSync('dnf', join(bin, 'yum'));
    copyFileSync(join(STANDINS_DIR, 'lib.sh'), join(temp, 'lib.sh'));
  });
  return { dir, tools: readdirSync(join(dir, 'bin')) };
};

export const repository = (guestsDir: string, os: GuestOs, arch: string): string =>
  memo(
    `repo:${guestsDir}:${os}:${arch}`,
    () => makeRepository(guestsDir, os, arch),
    (dir) => dir,
  );

const makeRepository = (guestsDir: string, os: GuestOs, arch: string): string => {
  const files = repositoryFiles(os, arch);
  const dir = join(guestsDir, `repo-${os}-${arch}-${hashOf(JSON.stringify(files))}`);
  return buildOnce(dir, (temp) => {
    for (const [name, text] of Object.entries(files)) writeFileSync(join(temp, name), text);
  });
};

const SBIN_STANDINS = new Set(['ss', 'shutdown', 'poweroff']);

const osRelease = (os: GuestOs, release: string): Record<string, string> =>
  os === 'al2023'
    ? {
        'etc/os-release': [
          'NAME="Amazon Linux"',
          'VERSION="2023"',
          'ID="amzn"',
          'ID_LIKE="fedora"',
          'VERSION_ID="2023"',
          'PLATFORM_ID="platform:al2023"',
          `PRETTY_NAME="Amazon Linux ${release}"`,
          'ANSI_COLOR="0;33"',
          'CPE_NAME="cpe:2.3:o:amazon:amazon_linux:2023"',
          'HOME_URL="https://aws.amazon.com/linux/amazon-linux-2023/"',
          `BUILD_ID="${release}"`,
          'VENDOR_NAME="AWS"',
          '',
        ].join('\n'),
        'etc/amazon-linux-release': `Amazon Linux release ${release} (Amazon Linux)\n`,
      }
    : {
        'etc/os-release': [
          'PRETTY_NAME="Ubuntu 24.04.3 LTS"',
          'NAME="Ubuntu"',
          'VERSION_ID="24.04"',
          'VERSION="24.04.3 LTS (Noble Numbat)"',
          'VERSION_CODENAME=noble',
          'ID=ubuntu',
          'ID_LIKE=debian',
          'HOME_URL="https://www.ubuntu.com/"',
          'UBUNTU_CODENAME=noble',
          '',
        ].join('\n'),
        'etc/lsb-release':
          'DISTRIB_ID=Ubuntu\nDISTRIB_RELEASE=24.04\nDISTRIB_CODENAME=noble\nDISTRIB_DESCRIPTION="Ubuntu 24.04.3 LTS"\n',
      };

const link = (root: string, target: string, path: string): void => {
  const full = join(root, path);
  mkdirSync(dirname(full), { recursive: true });
  rmSync(full, { force: true });
  symlinkSync(target, full);
};

const write = (root: string, path: string, text: string, mode = 0o644): void => {
  const full = join(root, path);
  mkdirSync(dirname(full), { recursive: true });
  writeFileSync(full, text, { mode });
};

/** The root of a seeded image: OS files, package database, the files of its packages. */
export const seedRoot = (guestsDir: string, os: GuestOs, release: string, arch: string): string => {
  const profile = PROFILES[os];
  const installed = new Set(installedOn({ os, release }).map((pkg) => pkg.name));
  const { tools } = toolbox(guestsDir);
  const dir = join(guestsDir, `seed-${os}-${release}-${arch}-${hashOf(installedDatabase({ os, release }, arch))}`);
  return buildOnce(dir, (root) => {
    for (const top of ['bin', 'sbin', 'lib', 'lib64']) symlinkSync(`usr/${top}`, join(root, top));
    for (const sub of ['usr/bin', 'usr/sbin', 'usr/lib', 'usr/lib64', 'usr/local/bin', 'usr/lib/systemd/system']) {
      mkdirSync(join(root, sub), { recursive: true });
    }
    mkdirSync(join(root, GUEST_TOOLBOX), { recursive: true });
    mkdirSync(join(root, 'tmp'), { mode: 0o1777 });
    chmodSync(join(root, 'tmp'), 0o1777);
    mkdirSync(join(root, 'var/tmp'), { recursive: true });
    chmodSync(join(root, 'var/tmp'), 0o1777);
    mkdirSync(join(root, 'root'), { mode: 0o700 });
    mkdirSync(join(root, 'run'));
    mkdirSync(join(root, 'proc'));
    mkdirSync(join(root, 'dev'));
    // The allowlisted host tools, /bin/sh, and this OS's stand-ins; other stand-ins come with packages.
    const osStandins = new Set(profile.standins);
    const standins = new Set([...standinNames(), 'yum']);
    for (const tool of tools) {
      if (standins.has(tool) && !osStandins.has(tool)) continue;
      if (os === 'al2023' && tool === 'dash') continue;
      const where = SBIN_STANDINS.has(tool) ? 'usr/sbin' : 'usr/bin';
      link(root, `${GUEST_TOOLBOX}/bin/${tool}`, `${where}/${tool}`);
    }
    link(root, profile.sh, 'usr/bin/sh');
    // OS identity and release.
    for (const [path, text] of Object.entries(osRelease(os, release))) write(root, path, text);
    if (os === 'al2023') {
      link(root, 'amazon-linux-release', 'etc/system-release');
      mkdirSync(join(root, 'etc/dnf/vars'), { recursive: true });
      write(root, 'var/cache/dnf/amazonlinux.solv', 'sandbox dnf metadata cache\n');
    } else {
      mkdirSync(join(root, 'etc/apt/apt.conf.d'), { recursive: true });
      mkdirSync(join(root, 'var/lib/apt/lists'), { recursive: true });
      write(root, 'var/cache/apt/pkgcache.bin', 'sandbox apt cache\n');
    }
    const user = os === 'al2023' ? 'ec2-user' : 'ubuntu';
    write(
      root,
      'etc/passwd',
      `root:x:0:0:root:/root:/bin/bash\nssm-user:x:1001:1001::/home/ssm-user:/bin/sh\n${user}:x:1000:1000::/home/${user}:/bin/bash\n`,
    );
    write(root, 'etc/group', `root:x:0:\n${user}:x:1000:\nssm-user:x:1001:\n`);
    write(root, 'etc/hostname', 'localhost\n');
    write(
      root,
      'etc/machine-id',
      `${hashOf(dir, 'machine-id')}${hashOf(dir, 'id2')}${hashOf(dir, 'id3')}`.slice(0, 32),
    );
    for (const kind of ['rsa', 'ecdsa', 'ed25519']) {
      write(root, `etc/ssh/ssh_host_${kind}_key`, `sandbox ${kind} host key\n`, 0o600);
      write(root, `etc/ssh/ssh_host_${kind}_key.pub`, `ssh-${kind} AAAAsandbox root@localhost\n`);
    }
    mkdirSync(join(root, `home/${user}`), { recursive: true });
    write(root, 'var/lib/cloud/instance/boot-finished', 'sandbox\n');
    write(root, 'var/log/cloud-init.log', 'cloud-init: sandbox guest booted\n');
    // The package database and the files of the installed packages.
    const database = installedDatabase({ os, release }, arch);
    if (os === 'al2023') write(root, 'var/lib/rpm/bakehouse-packages', database);
    else {
      write(root, 'var/lib/dpkg/bakehouse-status', database);
      write(root, 'var/lib/dpkg/bakehouse-holds', '');
    }
    for (const file of profile.files) {
      if (!installed.has(file.pkg)) continue;
      if (file.kind === 'bin') link(root, `${GUEST_TOOLBOX}/bin/${file.path.split('/').pop()}`, file.path.slice(1));
      else write(root, file.path.slice(1), `# ${file.path}: installed by ${file.pkg}\n`);
    }
    for (const service of profile.services) {
      if (service.pkg !== '-' && !installed.has(service.pkg)) continue;
      const unitDir = service.pkg === '-' ? 'etc/systemd/system' : 'usr/lib/systemd/system';
      write(
        root,
        `${unitDir}/${service.unit}.service`,
        `[Unit]\nDescription=${service.unit}\n\n[Install]\nWantedBy=multi-user.target\n`,
      );
      if (service.enabledOnInstall) {
        link(
          root,
          `/${unitDir}/${service.unit}.service`,
          `etc/systemd/system/multi-user.target.wants/${service.unit}.service`,
        );
      }
    }
  });
};

/** Copies a root (symbolic links as they are). */
export const copyRoot = (from: string, to: string): void => {
  const temp = `${to}.tmp-${process.pid}-${Date.now()}`;
  rmSync(temp, { recursive: true, force: true });
  mkdirSync(dirname(to), { recursive: true });
  cpSync(from, temp, { recursive: true, verbatimSymlinks: true, preserveTimestamps: true });
  // What runs is not part of the disk: the next boot starts with an empty /run.
  rmSync(join(temp, 'run'), { recursive: true, force: true });
  mkdirSync(join(temp, 'run'));
  rmSync(to, { recursive: true, force: true });
  renameSync(temp, to);
};
