/**
 * `npm run sandbox` follows the configuration (issue 18): started as its own process on a copy of
 * the stock bakehouse.config.ts (BAKEHOUSE_CONFIG), a saved change is synthesized and provisioned
 * into the running sandbox in place, with the state it had; a change that does not validate is
 * reported with its field and not applied, and the sandbox keeps serving.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { GetScheduleCommand, SchedulerClient } from '@aws-sdk/client-scheduler';
import { lock } from 'proper-lockfile';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..');
/**
 * The copy of the configuration lives at the same path every run when it can: its path is part of
 * the synthesis cache key (a configuration's relative imports resolve from it), so a new temporary
 * directory each run would synthesize both configurations again (two ~10 s child processes). A
 * second test run in the same checkout at the same time finds the directory taken and uses a
 * temporary one.
 */
const stableDir = join(root, '.sandbox', 'test-follows-config');
mkdirSync(dirname(stableDir), { recursive: true });
// proper-lockfile's lock, as dev/fill-once.ts takes: one left by a killed run goes stale.
const releaseStable = await lock(stableDir, { realpath: false, stale: 30_000, update: 10_000 }).catch(
  (error: { code?: string }) => {
    if (error.code === 'ELOCKED') return undefined;
    throw error;
  },
);
const dir = releaseStable ? stableDir : mkdtempSync(join(tmpdir(), 'bakehouse-follows-config-'));
if (releaseStable) {
  rmSync(stableDir, { recursive: true, force: true });
  mkdirSync(stableDir);
}
const stateDir = join(dir, 'state');
const configFile = join(dir, 'bakehouse.config.ts');
const stock = readFileSync(join(root, 'bakehouse.config.ts'), 'utf8').replace(
  "from './functions/commons/families'",
  `from '${join(root, 'functions', 'commons', 'families')}'`,
);
const STOCK_CRON = "cron: '30 3 ? * SUN *'";
let child: ChildProcess | undefined;
let output = '';
let url = '';
let scheduler: SchedulerClient;

const waitFor = async (what: string, check: () => boolean | Promise<boolean>, timeoutMs: number) => {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline || child?.exitCode !== null)
      throw new Error(`${what}: not within ${timeoutMs / 1000} s:\n${output.slice(-4000)}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
};

const health = async (): Promise<{ status: string; error?: string } | undefined> => {
  const answer = await fetch(`${url}/_sandbox/health`).catch(() => undefined);
  return answer ? ((await answer.json()) as { status: string }) : undefined;
};

const ubuntuSchedule = async (): Promise<string | undefined> =>
  (await scheduler.send(new GetScheduleCommand({ Name: 'ubuntu-2404-base', GroupName: 'bakehouse-dev' })))
    .ScheduleExpression;

beforeAll(async () => {
  expect(stock).toContain(STOCK_CRON);
  writeFileSync(configFile, stock);
  child = spawn(process.execPath, ['--import', 'tsx', 'dev/sandbox.ts', '--port', '0', '--state', stateDir], {
    cwd: root,
    env: { ...process.env, BAKEHOUSE_CONFIG: configFile },
  });
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  await waitFor(
    'npm run sandbox ready',
    async () => {
      url = /ready at (http:\/\/127\.0\.0\.1:\d+)/.exec(output)?.[1] ?? '';
      const status = url ? await health() : undefined;
      if (status?.status === 'failed') throw new Error(`npm run sandbox failed: ${status.error}`);
      return status?.status === 'ready';
    },
    150_000,
  );
  scheduler = new SchedulerClient({
    endpoint: url,
    region: 'us-east-1',
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
  });
}, 180_000);

afterAll(async () => {
  scheduler?.destroy();
  if (child && child.exitCode === null && child.signalCode === null) {
    const exited = new Promise((resolve) => child?.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  }
  rmSync(dir, { recursive: true, force: true });
  await releaseStable?.();
});

describe('npm run sandbox and a changed configuration', () => {
  it('says it follows the file', () => {
    expect(output).toContain(`following ${configFile}: a change is synthesized and provisioned in place`);
    expect(output).toMatch(/bakehouse sandbox provisioned/);
  });

  it('provisions a saved change in place: the family schedule moves, no restart', async () => {
    // Prepare
    expect(await ubuntuSchedule()).toBe('cron(30 3 ? * SUN *)');
    const pid = child?.pid;

    // Act: ubuntu-2404-base bakes on Saturdays now
    writeFileSync(configFile, stock.replace(STOCK_CRON, "cron: '30 3 ? * SAT *'"));
    await waitFor('the re-provisioning', () => /re-provisioned: /.test(output), 150_000);

    // Assess
    expect(output).toContain('bakehouse.config.ts changed: synthesizing and provisioning the sandbox again…');
    expect(await ubuntuSchedule()).toBe('cron(30 3 ? * SAT *)');
    expect(child?.pid).toBe(pid);
    expect((await health())?.status).toBe('ready');
  }, 180_000);

  it('reports a change that does not validate, naming the field, and keeps what it had', async () => {
    // Act
    writeFileSync(
      configFile,
      stock.replace(STOCK_CRON, "cron: '30 3 ? * SAT *'").replace("os: 'linux'", "os: 'plan9'"),
    );
    await waitFor('the refusal', () => /not applied, the sandbox keeps the stacks it had/.test(output), 150_000);

    // Assess
    const refusal = output.slice(output.indexOf('not applied, the sandbox keeps the stacks it had'));
    expect(refusal).toContain('Bakehouse configuration is invalid');
    expect(refusal).toMatch(/family '[a-z0-9-]+': os: /);
    expect(await ubuntuSchedule()).toBe('cron(30 3 ? * SAT *)');
    expect((await health())?.status).toBe('ready');
  }, 180_000);
});
