/**
 * Issue 18, as a new platform engineer meets it: `npm run sandbox` started as its own process
 * (dev/sandbox.ts, the stock bakehouse.config.ts, its own port and state), then the CLI in process
 * through `main` against it, addressed the ways the README suggests: `--sandbox <port>`,
 * `--sandbox host:port`, or `--sandbox` with BAKEHOUSE_SANDBOX_PORT. The stock configuration works
 * there: al2023-base's stable channel moves the example launch template, which `npm run sandbox`
 * created as the team that launches it would (nothing else set up by the test).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AutoScalingClient, DescribeAutoScalingGroupsCommand } from '@aws-sdk/client-auto-scaling';
import {
  DescribeLaunchTemplatesCommand,
  DescribeLaunchTemplateVersionsCommand,
  DescribeTagsCommand,
  EC2Client,
} from '@aws-sdk/client-ec2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../cli/main';
import { synthesizeForSandbox } from '../../dev/synth';
import { deleteSchedules } from './support/stack';

const root = join(import.meta.dirname, '..', '..');
const stateDir = mkdtempSync(join(tmpdir(), 'bakehouse-npm-sandbox-cli-'));
let child: ChildProcess | undefined;
let output = '';
let port = '';
let url = '';
let ec2: EC2Client;

beforeAll(async () => {
  // The assembly is cached by a hash of its inputs; synthesizing here keeps that out of the wait below.
  await synthesizeForSandbox({ account: '000000000000', region: 'us-east-1' });
  child = spawn(process.execPath, ['--import', 'tsx', 'dev/sandbox.ts', '--port', '0', '--state', stateDir], {
    cwd: root,
  });
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  // Ready is health's 200 {"status":"ready"}, after provisioning (not the ready line).
  const deadline = Date.now() + 90_000;
  for (;;) {
    url = /ready at (http:\/\/127\.0\.0\.1:(\d+))/.exec(output)?.[1] ?? '';
    if (url) {
      const health = await fetch(`${url}/_sandbox/health`).catch(() => undefined);
      const body = health ? ((await health.json()) as { status: string; error?: string }) : undefined;
      if (body?.status === 'ready') break;
      if (body?.status === 'failed') throw new Error(`npm run sandbox failed: ${body.error}\n${output}`);
    }
    if (Date.now() > deadline || child.exitCode !== null)
      throw new Error(`npm run sandbox was not ready within 90 s:\n${output.slice(-4000)}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  port = new URL(url).port;
  ec2 = new EC2Client({
    endpoint: url,
    region: 'us-east-1',
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
  });
  // Only this file's bake: the sandbox clock runs fast, and on a Saturday evening (UTC) the Sunday
  // schedules would bake al2023-base in the background too.
  await deleteSchedules({
    clientConfig: { endpoint: url, region: 'us-east-1', credentials: { accessKeyId: 'test', secretAccessKey: 'test' } },
  });
}, 150_000);

afterAll(async () => {
  ec2?.destroy();
  if (child && child.exitCode === null && child.signalCode === null) {
    const exited = new Promise((resolve) => child?.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  }
  rmSync(stateDir, { recursive: true, force: true });
});

/** Runs the CLI in this process (stdout, stderr and exit code captured). */
const cli = async (args: string[], env: Record<string, string> = {}) => {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(
    args,
    {
      stdout: { write: (t: string) => out.push(t) },
      stderr: { write: (t: string) => err.push(t) },
      env: { USER: 'newcomer', ...env },
    },
    { pollMs: 100 },
  );
  return { code, stdout: out.join(''), stderr: err.join('') };
};

/** An entry of the sandbox's event log, as much of it as this file reads. */
type LoggedEvent = { event: { 'detail-type': string; detail: Record<string, unknown> } };

const eventLog = async (): Promise<LoggedEvent[]> => (await (await fetch(`${url}/_sandbox/events`)).json()) as never;

describe('addressing the sandbox (item 1)', () => {
  it.each([
    ['--sandbox <port>', (p: string) => ({ args: ['--sandbox', p], env: {} })],
    ['--sandbox localhost:<port>', (p: string) => ({ args: ['--sandbox', `localhost:${p}`], env: {} })],
    [
      '--sandbox with BAKEHOUSE_SANDBOX_PORT',
      (p: string) => ({ args: ['--sandbox'], env: { BAKEHOUSE_SANDBOX_PORT: p } }),
    ],
  ])('%s lists the families', async (_name, form) => {
    const { args, env } = form(port);
    const run = await cli(['families', ...args, '--json'], env);
    expect(run.code, run.stderr).toBe(0);
    expect((JSON.parse(run.stdout) as { families: { name: string }[] }).families.map((f) => f.name)).toContain(
      'al2023-base',
    );
  });

  it('a bad --sandbox value is a usage error naming the option and its forms', async () => {
    const run = await cli(['families', `--sandbox=localhost:${port}x`]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(`--sandbox 'localhost:${port}x' is not an endpoint`);
    expect(run.stderr).not.toMatch(/Invalid URL|UnknownError/);
  });
});

describe('target options anywhere, and a tail that says what it watches (item 2)', () => {
  it.each([
    [['--sandbox', 'PORT', 'events', 'tail', '--for', '1']],
    [['events', '--sandbox', 'PORT', 'tail', '--for', '1']],
    [['events', 'tail', '--sandbox', 'PORT', '--for', '1']],
  ])('%j tails the bus and names it, the sandbox and the start on stderr', async (argv) => {
    const run = await cli(argv.map((a) => (a === 'PORT' ? port : a)));
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toMatch(
      new RegExp(
        `^watching bus bakehouse-dev on the sandbox at http://127\\.0\\.0\\.1:${port} for events from \\d{4}-`,
      ),
    );
  });
});

describe('unknown families (item 3)', () => {
  it('bake al2023-bsae exits 2 with the closest name and puts nothing on the bus', async () => {
    const before = (await eventLog()).length;
    const run = await cli(['--sandbox', port, 'bake', 'al2023-bsae']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain("no family named 'al2023-bsae'. Did you mean al2023-base?");
    expect((await eventLog()).slice(before).filter((e) => e.event['detail-type'] === 'Bake Requested')).toEqual([]);
  });
});

describe('the stock configuration in plain npm run sandbox (item 4)', () => {
  it('has the example launch template, tagged for Bakehouse, and the canary group', async () => {
    const { LaunchTemplates = [] } = await ec2.send(
      new DescribeLaunchTemplatesCommand({ LaunchTemplateNames: ['bakehouse-example-web'] }),
    );
    expect(LaunchTemplates).toHaveLength(1);
    const { Tags = [] } = await ec2.send(
      new DescribeTagsCommand({
        Filters: [{ Name: 'resource-id', Values: [LaunchTemplates[0]?.LaunchTemplateId as string] }],
      }),
    );
    expect(Tags).toContainEqual(
      expect.objectContaining({ Key: 'bakehouse:launch-template', Value: 'bakehouse-example-web' }),
    );
    expect(output).toMatch(/launch template bakehouse-example-web created/);
    const autoscaling = new AutoScalingClient({
      endpoint: url,
      region: 'us-east-1',
      credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    });
    const { AutoScalingGroups = [] } = await autoscaling.send(
      new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: ['bakehouse-example-web'] }),
    );
    autoscaling.destroy();
    expect(AutoScalingGroups[0]).toMatchObject({
      LaunchTemplate: { LaunchTemplateName: 'bakehouse-example-web' },
      DesiredCapacity: 0,
    });
  });

  it('bakes al2023-base and promotes it to stable, moving the example launch template', async () => {
    // Act: a bake through the CLI; the test passes and stable (promoteOn tested) moves.
    const bake = await cli(['bake', 'al2023-base', '--wait', '--json', '--sandbox', port]);
    expect(bake.code, bake.stderr).toBe(0);
    const amiId = (JSON.parse(bake.stdout) as { bake: { amiId: string } }).bake.amiId;
    // Waits for AMI Promoted, which Promote publishes after the channel parameter and the launch
    // templates have moved: the parameter alone moves first, and on a loaded machine (four test
    // files at a time on two cores) the template was read before Promote had updated it.
    const isPromoted = (e: LoggedEvent) =>
      e.event['detail-type'] === 'AMI Promoted' &&
      e.event.detail.channel === 'stable' &&
      e.event.detail.amiId === amiId;
    let promoted = (await eventLog()).find(isPromoted);
    const deadline = Date.now() + 90_000;
    while (!promoted && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 500));
      promoted = (await eventLog()).find(isPromoted);
    }
    const families = await cli(['families', 'al2023-base', '--json', '--sandbox', port]);
    const stable =
      (JSON.parse(families.stdout) as { families: { channels: Record<string, string | null> }[] }).families[0]?.channels
        .stable ?? null;

    // Assess: stable is the new image, and so is the template's default version.
    expect(promoted, JSON.stringify((await eventLog()).slice(-5))).toBeDefined();
    expect(stable).toBe(amiId);
    const { LaunchTemplateVersions = [] } = await ec2.send(
      new DescribeLaunchTemplateVersionsCommand({
        LaunchTemplateName: 'bakehouse-example-web',
        Versions: ['$Default'],
      }),
    );
    expect(LaunchTemplateVersions[0]?.LaunchTemplateData?.ImageId).toBe(amiId);
  }, 150_000);
});
