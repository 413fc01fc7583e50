/**
 * The shipped `bakehouse` run as a user installs it: plain `node bin/bakehouse.mjs` (no tsx, no
 * --import) in a copy of the package whose node_modules holds only what `npm ci --omit=dev`
 * installs (the "dependencies" and their own dependencies, hard-linked; no devDependencies, no
 * workspace packages), against a sandbox. And `npx bakehouse` from the project.
 */
import { execFile } from 'node:child_process';
import {
  copyFileSync,
  cpSync,
  existsSync,
  linkSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
import { PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { startTestSandbox, type TestSandbox } from '@bakehouse/sandbox/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import rawConfig from '../../bakehouse.config';
import { channelName } from '../../functions/commons/channels';
import { loadConfig } from '../../functions/commons/families';
import { CLI_ENTRY, ROOT } from '../../scripts/build-cli';

interface PackageJson {
  readonly version: string;
  readonly dependencies?: Record<string, string>;
  readonly optionalDependencies?: Record<string, string>;
}
const packageJsonAt = (dir: string): PackageJson =>
  JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as PackageJson;
const { version } = packageJsonAt(ROOT);
const config = loadConfig(rawConfig);
const AMI = 'ami-0b5eed00000000001';

/** Hard-links a file, or copies it when the temporary directory is on another file system (tmpfs). */
const linkOrCopy = (source: string, target: string): void => {
  try {
    linkSync(source, target);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EXDEV') throw error;
    copyFileSync(source, target);
  }
};

/** Hard-links a directory tree (files share storage with node_modules; paths are the copy's). */
const linkTree = (from: string, to: string): void => {
  mkdirSync(to, { recursive: true });
  for (const entry of readdirSync(from, { withFileTypes: true })) {
    const source = join(from, entry.name);
    const target = join(to, entry.name);
    if (entry.isDirectory()) linkTree(source, target);
    else if (entry.isFile()) linkOrCopy(source, target);
    else if (entry.isSymbolicLink()) cpSync(source, target, { verbatimSymlinks: true });
  }
};

/**
 * A copy of the package as `npm ci --omit=dev` leaves it: package.json, bin/, and node_modules with
 * the installed packages "dependencies" reach (workspace packages, linked from the repository,
 * are left out: the bundle carries what it needs of them).
 */
const productionInstall = (): string => {
  const dir = mkdtempSync(join(tmpdir(), 'bakehouse-cli-install-'));
  cpSync(join(ROOT, 'package.json'), join(dir, 'package.json'));
  cpSync(join(ROOT, 'bin'), join(dir, 'bin'), { recursive: true });
  const seen = new Set<string>();
  const queue = Object.keys(packageJsonAt(ROOT).dependencies ?? {});
  for (let name = queue.shift(); name !== undefined; name = queue.shift()) {
    if (seen.has(name)) continue;
    seen.add(name);
    const source = join(ROOT, 'node_modules', name);
    if (!existsSync(source)) continue; // nested under the package that needs it, copied with it
    if (relative(ROOT, realpathSync(source)).split(sep)[0] !== 'node_modules') continue; // a workspace
    linkTree(source, join(dir, 'node_modules', name));
    const pkg = packageJsonAt(source);
    queue.push(...Object.keys(pkg.dependencies ?? {}), ...Object.keys(pkg.optionalDependencies ?? {}));
  }
  return dir;
};

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a command with a plain environment: no NODE_OPTIONS, no AWS settings. */
const run = (file: string, args: readonly string[], cwd: string): Promise<Run> =>
  new Promise((resolve) => {
    execFile(
      file,
      [...args],
      { cwd, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? tmpdir() }, timeout: 60_000 },
      (error, stdout, stderr) =>
        resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });

let install: string;
let sandbox: TestSandbox;
let ssm: SSMClient;
const bakehouse = (...args: string[]): Promise<Run> => run(process.execPath, [CLI_ENTRY, ...args], install);

beforeAll(async () => {
  install = productionInstall();
  sandbox = await startTestSandbox();
  ssm = new SSMClient(sandbox.clientConfig);
  await ssm.send(
    new PutParameterCommand({
      Name: channelName(config.settings.parameterPrefix, 'al2023-base', 'stable'),
      Value: AMI,
      Type: 'String',
    }),
  );
}, 120_000);

afterAll(async () => {
  ssm?.destroy();
  await sandbox?.stop();
  if (install) rmSync(install, { recursive: true, force: true });
});

describe('bin/bakehouse.mjs on plain node with production dependencies only', () => {
  it('has no devDependency to load: the copy holds neither tsx nor esbuild nor the sandbox', () => {
    for (const dev of ['tsx', 'esbuild', 'typescript', '@bakehouse/sandbox', '@bakehouse/cron'])
      expect(existsSync(join(install, 'node_modules', dev)), dev).toBe(false);
    expect(existsSync(join(install, 'node_modules', 'commander'))).toBe(true);
  });

  it('--help lists the commands', async () => {
    const help = await bakehouse('--help');
    expect(help.code, help.stderr).toBe(0);
    expect(help.stdout).toMatch(/^Usage: bakehouse \[options\] \[command\]/);
    for (const command of ['families', 'bake', 'status', 'promote', 'revoke', 'canary', 'janitor', 'events'])
      expect(help.stdout).toMatch(new RegExp(`^  ${command} `, 'm'));
  });

  it("--version prints package.json's version", async () => {
    const result = await bakehouse('--version');
    expect(result).toEqual({ code: 0, stdout: `${version}\n`, stderr: '' });
  });

  it('families --json reads the channels from the sandbox', async () => {
    const result = await bakehouse('families', '--json', '--sandbox', sandbox.sandbox.url);
    expect(result.code, result.stderr).toBe(0);
    const { families } = JSON.parse(result.stdout) as {
      families: { name: string; channels: Record<string, string | null>; schedule: { nextRun: string } | null }[];
    };
    expect(families.map((f) => f.name)).toEqual(config.families.map((f) => f.name));
    const base = families.find((f) => f.name === 'al2023-base');
    expect(base?.channels.stable).toBe(AMI);
    expect(base?.channels.dev).toBeNull();
    expect(base?.schedule?.nextRun).toMatch(/^\d{4}-\d\d-\d\dT/);
  });

  it('a usage error exits 2 and names the fix', async () => {
    const result = await bakehouse('images', 'nope', '--sandbox', sandbox.sandbox.url);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("no family named 'nope'. Fix: use one of al2023-base");
  });
});

describe('npx bakehouse in the project', () => {
  it('runs the package bin', async () => {
    const result = await run('npx', ['--offline', 'bakehouse', '--version'], ROOT);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toBe(`${version}\n`);
  });
});
