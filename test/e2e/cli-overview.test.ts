/**
 * `bakehouse overview` against the stacks provisioned in the sandbox, in process through `main`:
 * the last bake of each family with who asked and why, each channel's AMI with its age and state,
 * a channel stranded by a revocation, the next run on the sandbox's clock (not the host's), and
 * the dead letters a refused request leaves.
 */
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { eventually, type TestSandbox } from '@bakehouse/sandbox/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Overview } from '../../cli/commands/overview';
import { DetailType } from '../../functions/commons/events';
import { sandboxCli } from './support/cli';
import { startProvisionedSandbox } from './support/stack';

const FAMILY = 'ubuntu-2404-base';
let sandbox: TestSandbox;
let events: EventBridgeClient;

beforeAll(async () => {
  ({ sandbox } = await startProvisionedSandbox(1200));
  events = new EventBridgeClient(sandbox.clientConfig);
  // The clock moves by weeks here; the schedules are gone (startProvisionedSandbox).
}, 180_000);

afterAll(async () => {
  events?.destroy();
  await sandbox?.stop();
});

const cli = sandboxCli(() => sandbox.sandbox.url, { USER: 'alice' });

const overview = async (): Promise<Overview> => {
  const run = await cli(['overview', '--json']);
  expect(run.code, run.stderr).toBe(0);
  return JSON.parse(run.stdout) as Overview;
};

/** The overview once `ready` holds of it (polled; fails after `timeoutMs`). */
const overviewWhen = (ready: (o: Overview) => boolean, timeoutMs = 30_000): Promise<Overview> =>
  eventually(
    async () => {
      const o = await overview();
      return ready(o) ? o : undefined;
    },
    timeoutMs,
    async () => JSON.stringify(await overview()),
  );

const familyOf = (o: Overview, name: string) => {
  const family = o.families.find((f) => f.name === name);
  if (!family) throw new Error(`no ${name} in the overview`);
  return family;
};

describe('bakehouse overview', () => {
  it('shows every family with no bake yet, empty channels, and the next run on the sandbox clock', async () => {
    // Prepare: the sandbox's clock, 40 days ahead of the host's
    await sandbox.control('POST', '/_sandbox/clock', { advanceSeconds: 40 * 86_400 });
    const clock = (await sandbox.control('GET', '/_sandbox/clock')).body as { now: string };

    // Act
    const o = await overview();

    // Assess
    expect(o.clock).toBe('sandbox');
    expect(Math.abs(Date.parse(o.now) - Date.parse(clock.now))).toBeLessThan(6 * 3_600_000);
    expect(Date.parse(o.now) - Date.now()).toBeGreaterThan(39 * 86_400_000);
    const family = familyOf(o, FAMILY);
    expect(family.lastBake).toBeNull();
    expect(family.channels.map((c) => [c.channel, c.state])).toEqual([
      ['candidate', 'empty'],
      ['dev', 'empty'],
      ['stable', 'empty'],
    ]);
    // Sundays 03:30 Berlin: within a week after the sandbox's now
    const next = Date.parse(family.nextRun ?? '');
    expect(next).toBeGreaterThan(Date.parse(o.now));
    expect(next - Date.parse(o.now)).toBeLessThanOrEqual(7 * 86_400_000);
    expect(new Date(next).getUTCDay()).toBe(0);
    expect(o.deadLetters).toEqual([]);
  });

  it('shows the last bake with who asked and why, the channel AMIs and their age', async () => {
    // Act
    const baked = await cli(['bake', FAMILY, '--wait', '--force', '--reason', 'openssl advisory']);
    expect(baked.code, baked.stderr).toBe(0);
    const o = await overviewWhen(
      (now) => familyOf(now, FAMILY).channels.find((c) => c.channel === 'dev')?.state === 'ok',
    );

    // Assess
    const family = familyOf(o, FAMILY);
    expect(family.lastBake).toMatchObject({
      outcome: 'baked',
      requestedBy: 'cli:alice',
      requestReason: 'openssl advisory',
      failure: null,
    });
    expect(family.lastBake?.ageSeconds).toBeGreaterThanOrEqual(0);
    const dev = family.channels.find((c) => c.channel === 'dev');
    expect(dev?.amiId).toBe(family.lastBake?.amiId);
    expect(dev?.ageSeconds).toBeGreaterThanOrEqual(0);
    expect(dev?.createdAt).not.toBeNull();
    const other = familyOf(o, 'windows-2022-base');
    expect(other.lastBake).toBeNull();
  }, 120_000);

  it('names a channel stranded on a revoked image, with the fix, in the table and in --json', async () => {
    // Prepare: the only image dev has had, so the revocation has nothing to move it back to
    const before = familyOf(await overview(), FAMILY);
    const amiId = before.channels.find((c) => c.channel === 'dev')?.amiId as string;

    // Act
    const revoked = await cli(['revoke', amiId, '--reason', 'CVE-2026-0001']);
    expect(revoked.code, revoked.stderr).toBe(0);

    // Assess
    const o = await overviewWhen(
      (now) => familyOf(now, FAMILY).channels.find((c) => c.channel === 'dev')?.state === 'stranded',
    );
    expect(familyOf(o, FAMILY).channels.find((c) => c.channel === 'dev')).toMatchObject({
      amiId,
      revokedReason: 'CVE-2026-0001',
    });
    const text = await cli(['overview']);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toContain(`dev=${amiId}`);
    expect(text.stdout).toContain('STRANDED');
    expect(text.stdout).toContain(`${FAMILY}/dev: stranded on revoked ${amiId} (CVE-2026-0001)`);
    expect(text.stdout).toContain(`Fix: bake a new image and promote it (bakehouse bake ${FAMILY})`);
  }, 120_000);

  it('counts the dead letters a refused request leaves, per queue', async () => {
    // Act: a Bake Requested without requestedBy, which StartBake refuses and Lambda dead-letters
    const sent = await events.send(
      new PutEventsCommand({
        Entries: [
          {
            EventBusName: 'bakehouse-dev',
            Source: 'team-x',
            DetailType: DetailType.BakeRequested,
            Detail: JSON.stringify({ family: FAMILY }),
          },
        ],
      }),
    );
    expect(sent.FailedEntryCount).toBe(0);

    // Assess
    const o = await overviewWhen((now) => now.deadLetters.some((d) => /RejectedBakeRequests/.test(d.queue)), 60_000);
    expect(o.deadLetters.find((d) => /RejectedBakeRequests/.test(d.queue))?.messages).toBe(1);
    const text = await cli(['overview']);
    expect(text.stdout).toMatch(/Dead letters:\n {2}\S*RejectedBakeRequests\S*: 1/);
  }, 90_000);

  it('names the stage dashboard and says the sandbox has none to link', async () => {
    // Act
    const o = await overview();
    const text = await cli(['overview']);

    // Assess
    expect(o.dashboard).toEqual({ name: 'bakehouse-dev', url: null });
    expect(text.stdout).toContain(
      'Dashboard: none (the sandbox has no CloudWatch dashboards; bakehouse-dev is on AWS)',
    );
  });
});
