/**
 * Outcomes, not silence (issue 18): a request a background function refuses is answered on the bus
 * (`Bake Rejected`, `Promotion Rejected`, `Revocation Rejected`) and the CLI, which watches the bus
 * from before it puts the request, prints the reason and the fix within seconds and exits 1.
 * The CLI runs in process through `main`, against the full stack provisioned in the sandbox.
 */
import {
  CreateImageCommand,
  EC2Client,
  RunInstancesCommand,
  waitUntilImageAvailable,
  waitUntilInstanceRunning,
} from '@aws-sdk/client-ec2';
import { AL2023_X86, type TestSandbox } from '@bakehouse/sandbox/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import bakehouseConfig from '../../bakehouse.config';
import { type MainOptions, main } from '../../cli/main';
import { loadConfig } from '../../functions/commons/families';
import { connectSlackAndLaunchTemplate, eventLog, eventWhere, ofType, startProvisionedSandbox } from './support/stack';

let sandbox: TestSandbox;
let ec2: EC2Client;
/** An available image of family al2023-base, made directly in EC2 (no bake needed to be refused). */
let baseImage: string;

beforeAll(async () => {
  const started = await startProvisionedSandbox(60);
  sandbox = started.sandbox;
  await connectSlackAndLaunchTemplate(sandbox, started.report);
  ec2 = new EC2Client(sandbox.clientConfig);
  const reservation = await ec2.send(
    new RunInstancesCommand({ ImageId: AL2023_X86, MinCount: 1, MaxCount: 1, InstanceType: 't3.micro' }),
  );
  const instanceId = reservation.Instances?.[0]?.InstanceId as string;
  await waitUntilInstanceRunning({ client: ec2, maxWaitTime: 60, minDelay: 1 }, { InstanceIds: [instanceId] });
  const tags = [
    { Key: 'bakehouse:managed', Value: 'true' },
    { Key: 'bakehouse:family', Value: 'al2023-base' },
  ];
  const created = await ec2.send(
    new CreateImageCommand({
      InstanceId: instanceId,
      Name: 'bakehouse/al2023-base/rejections-e2e',
      TagSpecifications: [
        { ResourceType: 'image', Tags: tags },
        { ResourceType: 'snapshot', Tags: tags },
      ],
    }),
  );
  baseImage = created.ImageId as string;
  await waitUntilImageAvailable({ client: ec2, maxWaitTime: 60, minDelay: 1 }, { ImageIds: [baseImage] });
}, 180_000);

afterAll(async () => {
  ec2?.destroy();
  await sandbox?.stop();
});

const capture = () => {
  const out: string[] = [];
  return { write: (text: string) => out.push(text), isTTY: false, text: () => out.join('') };
};

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  readonly seconds: number;
}

/** Runs the CLI in this process against the sandbox, with `config` when the test needs another. */
const cli = async (args: string[], config?: MainOptions['config']): Promise<Run> => {
  const stdout = capture();
  const stderr = capture();
  const started = Date.now();
  const code = await main(
    [...args, '--sandbox', sandbox.sandbox.url],
    { stdout, stderr, env: { USER: 'alice' } },
    { pollMs: 100, ...(config ? { config } : {}) },
  );
  return { code, stdout: stdout.text(), stderr: stderr.text(), seconds: (Date.now() - started) / 1000 };
};

interface SlackCall {
  readonly accepted: boolean;
  readonly payload: { text?: string; blocks?: unknown[] };
}

/** The Slack messages the sandbox's sink took whose text starts with `prefix`, once `count` of them came. */
const slackMessages = async (prefix: string, count: number): Promise<SlackCall[]> => {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const { messages } = (await sandbox.control('GET', '/_sandbox/slack/messages')).body as { messages: SlackCall[] };
    const found = messages.filter((m) => m.accepted && String(m.payload.text).startsWith(prefix));
    if (found.length >= count || Date.now() > deadline) return found;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
};

/** The refusal reaches the CLI in seconds: well inside the 60 s it would otherwise wait. */
const WITHIN_SECONDS = 20;

describe('a refused request is an outcome the CLI prints', () => {
  it("promote of another family's image: prints the reason and the fix, exits 1, and Promotion Rejected is on the bus", async () => {
    const run = await cli(['promote', 'al2023-web', 'stable', baseImage]);
    expect(run.code, `stdout: ${run.stdout}\nstderr: ${run.stderr}`).toBe(1);
    expect(run.stderr).toContain("it belongs to family 'al2023-base'");
    expect(run.stderr).toMatch(/Fix: /);
    expect(run.stderr).not.toContain('dead-letter queue');
    expect(run.seconds).toBeLessThan(WITHIN_SECONDS);
    const rejected = await eventWhere(
      sandbox,
      'Promotion Rejected of the request',
      ofType('Promotion Rejected', { family: 'al2023-web', channel: 'stable', amiId: baseImage }),
      10_000,
    );
    expect(rejected.event.detail).toMatchObject({
      requestedBy: 'cli:alice',
      reason: expect.stringContaining("it belongs to family 'al2023-base'"),
      fix: expect.any(String),
    });
    // Slack hears it once, with the reason and the fix, though each of Promote's three tries (Lambda's
    // two async retries, 1 and 2 sandbox minutes later) publishes it.
    const tries = async () =>
      (await eventLog(sandbox)).filter(ofType('Promotion Rejected', { amiId: baseImage, family: 'al2023-web' })).length;
    const deadline = Date.now() + 20_000;
    while ((await tries()) < 3 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 200));
    expect(await tries()).toBe(3);
    // The last try's notification has had time to post (it would have, were it not a duplicate).
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    const posted = await slackMessages(`Promotion of ${baseImage} to al2023-web/stable refused`, 1);
    expect(posted).toHaveLength(1);
    expect(JSON.stringify(posted[0]?.payload.blocks)).toContain('*Fix*');
  }, 60_000);

  it('revoke of an image that does not exist: prints the reason, exits 1, and Revocation Rejected is on the bus', async () => {
    const unknown = 'ami-0123456789abcdef0';
    const run = await cli(['revoke', unknown, '--reason', 'CVE-2026-0002']);
    expect(run.code, `stdout: ${run.stdout}\nstderr: ${run.stderr}`).toBe(1);
    expect(run.stderr).toContain(`no image ${unknown}`);
    expect(run.stderr).toMatch(/Fix: /);
    expect(run.seconds).toBeLessThan(WITHIN_SECONDS);
    await eventWhere(
      sandbox,
      'Revocation Rejected of the request',
      ofType('Revocation Rejected', { amiId: unknown, requestedBy: 'cli:alice' }),
      10_000,
    );
  }, 60_000);

  it('bake of a family the deployment does not know: prints the reason, exits 1, and Bake Rejected is on the bus', async () => {
    // The operator's configuration has a family the deployed one does not (yet).
    const deployed = loadConfig(bakehouseConfig);
    const base = deployed.families.find((f) => f.name === 'al2023-base');
    if (!base) throw new Error('bakehouse.config.ts has no al2023-base');
    const local = { ...deployed, families: [...deployed.families, { ...base, name: 'al2023-ghost' }] };
    const run = await cli(['bake', 'al2023-ghost', '--wait', '--idempotency-key', 'rejections-e2e'], local);
    expect(run.code, `stdout: ${run.stdout}\nstderr: ${run.stderr}`).toBe(1);
    expect(run.stderr).toContain("no family named 'al2023-ghost'");
    expect(run.stderr).toMatch(/Fix: /);
    expect(run.seconds).toBeLessThan(WITHIN_SECONDS);
    const rejected = await eventWhere(
      sandbox,
      'Bake Rejected of the request',
      ofType('Bake Rejected', { family: 'al2023-ghost', idempotencyKey: 'rejections-e2e' }),
      10_000,
    );
    expect(rejected.event.detail).toMatchObject({
      requestedBy: 'cli:alice',
      fix: expect.stringContaining('al2023-base'),
    });
  }, 60_000);

  it('bake without --wait of an unknown family exits 1 as well', async () => {
    const deployed = loadConfig(bakehouseConfig);
    const base = deployed.families.find((f) => f.name === 'al2023-base');
    if (!base) throw new Error('bakehouse.config.ts has no al2023-base');
    const local = { ...deployed, families: [...deployed.families, { ...base, name: 'al2023-ghost' }] };
    const run = await cli(['bake', 'al2023-ghost'], local);
    expect(run.code, `stdout: ${run.stdout}\nstderr: ${run.stderr}`).toBe(1);
    expect(run.stderr).toContain("no family named 'al2023-ghost'");
    expect(run.seconds).toBeLessThan(WITHIN_SECONDS);
  }, 60_000);
});
