/**
 * The operator CLI against the full stack provisioned in the sandbox: every command in process
 * through `main` (stdout, stderr and exit code captured), their `--json` shapes, usage errors, and
 * the real `bin/bakehouse.mjs` spawned once. The janitor runs against the provisioned Janitor
 * function, and its --apply and confirmation paths against a stand-in that returns fixed reports.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { EC2Client } from '@aws-sdk/client-ec2';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import type { RestJsonService } from '@bakehouse/sandbox';
import { eventually, startTestSandbox, type TestSandbox } from '@bakehouse/sandbox/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../cli/main';
import type { JanitorReport } from '../../functions/commons/events';
import { createExampleLaunchTemplate, startProvisionedSandbox } from './support/stack';

let sandbox: TestSandbox;
let ec2: EC2Client;
let events: EventBridgeClient;

beforeAll(async () => {
  ({ sandbox } = await startProvisionedSandbox(1200));
  ec2 = new EC2Client(sandbox.clientConfig);
  events = new EventBridgeClient(sandbox.clientConfig);
  await createExampleLaunchTemplate(ec2);
}, 180_000);

afterAll(async () => {
  ec2?.destroy();
  events?.destroy();
  await sandbox?.stop();
});

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  json<T = Record<string, unknown>>(): T;
}

const capture = (isTTY = false) => {
  const out: string[] = [];
  return { write: (text: string) => out.push(text), isTTY, text: () => out.join('') };
};

/** Runs the CLI in this process against the sandbox. */
const cli = async (
  args: string[],
  options: { sandbox?: string; confirm?: boolean; tty?: boolean } = {},
): Promise<Run> => {
  const stdout = capture();
  const stderr = capture(options.tty);
  const code = await main(
    [...args, '--sandbox', options.sandbox ?? sandbox.sandbox.url],
    {
      stdout,
      stderr,
      env: { USER: 'alice' },
      ...(options.confirm === undefined ? {} : { confirm: async () => options.confirm as boolean }),
    },
    { pollMs: 100 },
  );
  return { code, stdout: stdout.text(), stderr: stderr.text(), json: () => JSON.parse(stdout.text()) };
};

const expectOk = (run: Run): Run => {
  expect(run.code, `stderr: ${run.stderr}\nstdout: ${run.stdout}`).toBe(0);
  return run;
};

interface BakeJson {
  bakeId: string;
  family: string;
  outcome: string;
  amiId: string | null;
  durationSeconds: number | null;
  failedStep: string | null;
  reason: string | null;
  requestedBy: string | null;
}

const baked: string[] = [];
let firstBakeId = '';

describe('bakehouse families', () => {
  it('lists every family with its schedule, next run and channels (--json)', async () => {
    const run = expectOk(await cli(['families', '--json']));
    const { families } = run.json<{ families: Record<string, unknown>[] }>();
    expect(families.map((f) => f.name)).toEqual(['al2023-base', 'ubuntu-2404-base', 'windows-2022-base', 'al2023-web']);
    const base = families[0] as { schedule: { nextRun: string; timezone: string }; channels: Record<string, unknown> };
    expect(base.schedule.timezone).toBe('Europe/Berlin');
    expect(new Date(base.schedule.nextRun).getTime()).toBeGreaterThan(Date.now() - 60_000);
    expect(Object.keys(base.channels)).toEqual(['candidate', 'dev', 'stable']);
    expect(families[3]).toMatchObject({ schedule: null, parent: { family: 'al2023-base', channel: 'stable' } });
  });

  it('prints a table for humans', async () => {
    const run = expectOk(await cli(['families']));
    expect(run.stdout).toMatch(/^FAMILY\s+OS\s+SCHEDULE\s+NEXT RUN \(LOCAL\)\s+CHANNELS/);
    expect(run.stdout).toContain('second TUE + 1 day of the month at 04:00 (America/New_York)');
  });
});

describe('bakehouse bake', () => {
  it('bakes with --wait, printing step progress as plain lines when not a TTY, and exits 0', async () => {
    const run = expectOk(await cli(['bake', 'al2023-base', '--wait', '--idempotency-key', 'cli-e2e-1'], {}));
    expect(run.stdout).toMatch(/requested bake al2023-base-[0-9a-f]{32} of al2023-base/);
    expect(run.stdout).toMatch(/baked ami-[0-9a-f]+ in /);
    expect(run.stderr).toMatch(/step \w+: Success/);
    expect(run.stderr).not.toContain('\r');
    baked.push(/baked (ami-[0-9a-f]+)/.exec(run.stdout)?.[1] as string);
  }, 120_000);

  it('prints the request and the finished bake as JSON', async () => {
    const run = expectOk(await cli(['bake', 'al2023-base', '--force', '--wait', '--json']));
    const { request, bake } = run.json<{ request: Record<string, unknown>; bake: BakeJson }>();
    expect(request).toMatchObject({ family: 'al2023-base', requestedBy: 'cli:alice', force: true });
    expect(bake).toMatchObject({
      bakeId: request.bakeId,
      outcome: 'baked',
      family: 'al2023-base',
      requestedBy: 'cli:alice',
    });
    expect(bake.amiId).toMatch(/^ami-/);
    expect(bake.durationSeconds).toBeGreaterThan(0);
    baked.push(bake.amiId as string);
    firstBakeId = bake.bakeId;
  }, 120_000);

  it('on a terminal, rewrites one progress line in place', async () => {
    const run = expectOk(await cli(['bake', 'ubuntu-2404-base', '--wait'], { tty: true }));
    const ERASE_LINE = '\r\u001b[K';
    expect(run.stderr).toContain(`${ERASE_LINE}[`);
    expect(run.stderr.split(ERASE_LINE).slice(1)).toContainEqual(
      expect.stringMatching(/^\[\d+\/\d+\] \w+ (InProgress|Success)/),
    );
    expect(run.stdout).toMatch(/baked ami-[0-9a-f]+ in /);
  }, 120_000);

  it('without --wait returns once the bake started or was skipped (its first event), with the bake id', async () => {
    const run = expectOk(await cli(['bake', 'ubuntu-2404-base', '--json', '--idempotency-key', 'cli-e2e-nowait']));
    const bakeId = expect.stringMatching(/^ubuntu-2404-base-[0-9a-f]{32}$/);
    expect(run.json()).toEqual({
      request: {
        bakeId,
        family: 'ubuntu-2404-base',
        requestedBy: 'cli:alice',
        idempotencyKey: 'cli-e2e-nowait',
        force: false,
      },
      // The terminal test above baked ubuntu-2404-base from the same source: usually a skip.
      outcome: expect.toBeOneOf(['started', 'skipped']),
      detail: expect.objectContaining({
        bakeId,
        family: 'ubuntu-2404-base',
        sourceAmiId: expect.stringMatching(/^ami-/),
      }),
    });
  }, 90_000);

  it('exits 1 naming the failed step and reason when the bake fails', async () => {
    // The patch step's command alone says with-new-pkgs.
    await sandbox.control('POST', '/_sandbox/faults', {
      runCommand: { match: 'with-new-pkgs', status: 'Failed', times: 10 },
    });
    const run = await cli(['bake', 'al2023-base', '--force', '--wait']);
    expect(run.code, run.stderr).toBe(1);
    expect(run.stderr).toMatch(
      // The plugin output puts stderr after Run Command's ERROR separator, on lines of its own.
      /bake failed: step WaitForAutomation\/patchPackages: AutomationFailed: [^\n]*response code 1\. Output: \n-+ERROR-+\n[^\n]*injected Run Command fault/,
    );
    await sandbox.control('DELETE', '/_sandbox/faults');
  }, 120_000);
});

describe('bakehouse status and history', () => {
  it('shows one bake by id (--json)', async () => {
    const run = expectOk(await cli(['status', firstBakeId, '--json']));
    expect(run.json<{ bake: BakeJson }>().bake).toMatchObject({
      bakeId: firstBakeId,
      outcome: 'baked',
      amiId: baked[1],
    });
  });

  it('lists the recent bakes of a family with outcomes and durations', async () => {
    const run = expectOk(await cli(['history', 'al2023-base', '--json']));
    // The bakes this file asked for: on the sandbox's fast clock the family's own schedule (Sunday
    // 03:00 Berlin) can come round during a slow run and add a bake (skipped: nothing changed).
    const bakes = run.json<{ bakes: BakeJson[] }>().bakes.filter((b) => b.requestedBy?.startsWith('cli:'));
    expect(bakes.map((b) => b.outcome).sort()).toEqual(['baked', 'baked', 'failed']);
    expect(bakes.every((b) => b.family === 'al2023-base')).toBe(true);
    const failed = bakes.find((b) => b.outcome === 'failed');
    expect(failed?.failedStep).toBeTruthy();
    const text = expectOk(await cli(['history', 'al2023-base']));
    expect(text.stdout).toMatch(/^BAKE\s+OUTCOME\s+AMI\s+STARTED \(LOCAL\)\s+DURATION\s+DETAIL/);
  });

  it('lists recent bakes of every family without an id', async () => {
    const run = expectOk(await cli(['status', '--json']));
    expect(run.json<{ bakes: BakeJson[] }>().bakes.length).toBeGreaterThanOrEqual(3);
  });
});

describe('bakehouse images and lineage', () => {
  it("lists a family's images with channels and tags (--json)", async () => {
    const run = expectOk(await cli(['images', 'al2023-base', '--json']));
    const { images } = run.json<{
      images: { amiId: string; channels: string[]; revoked: boolean; sourceAmiId: string }[];
    }>();
    expect(images.map((i) => i.amiId)).toEqual(expect.arrayContaining(baked));
    const { families } = expectOk(await cli(['families', '--json'])).json<{
      families: { name: string; channels: Record<string, string | null> }[];
    }>();
    const candidate = families.find((f) => f.name === 'al2023-base')?.channels.candidate;
    expect(images.find((i) => i.amiId === candidate)?.channels).toContain('candidate');
    const newest = images.find((i) => i.amiId === baked[1]);
    expect(newest?.sourceAmiId).toMatch(/^ami-/);
  });

  it('draws the ancestry from the source image with box characters', async () => {
    const json = expectOk(await cli(['lineage', baked[1] as string, '--json'])).json<{
      lineage: { family: string | null; children: { amiId: string; selected: boolean }[] };
    }>();
    expect(json.lineage.family).toBeNull();
    expect(json.lineage.children.map((c) => c.amiId)).toContain(baked[1]);
    const text = expectOk(await cli(['lineage', baked[1] as string]));
    expect(text.stdout).toMatch(new RegExp(`[├└]── ${baked[1]}\\s+\\[al2023-base\\].*◀`));
  });
});

describe('bakehouse promote, rollback, revoke', () => {
  it('promotes an image to a channel and waits until it moved', async () => {
    const [older, newer] = baked as [string, string];
    // The automatic promotions of both bakes (stable on tested) settle first, so stable is on the newer image.
    await eventually(
      async () => {
        const { families } = (await cli(['families', '--json'])).json<{
          families: { name: string; channels: Record<string, string | null> }[];
        }>();
        return families.find((f) => f.name === 'al2023-base')?.channels.stable === newer ? true : undefined;
        // on a loaded CI machine the two tests and promotions take longer than on a quiet one
      },
      60_000,
      async () => {
        const images = (await cli(['images', 'al2023-base', '--json'])).stdout;
        const bakes = (await cli(['status', '--json'])).stdout;
        return `baked ${older} then ${newer}; images: ${images}; bakes: ${bakes}`;
      },
    );
    const run = expectOk(await cli(['promote', 'al2023-base', 'stable', older, '--json']));
    expect(run.json()).toEqual({
      promotion: {
        family: 'al2023-base',
        channel: 'stable',
        amiId: older,
        previousAmiId: expect.toBeOneOf([null, expect.stringMatching(/^ami-/)]),
        outcome: 'promoted',
        reason: null,
      },
    });
  }, 90_000);

  it('rolls a channel back to its previous good image', async () => {
    const [older, newer] = baked as [string, string];
    expectOk(await cli(['promote', 'al2023-base', 'dev', newer]));
    expectOk(await cli(['promote', 'al2023-base', 'dev', older]));
    const run = expectOk(await cli(['rollback', 'al2023-base', 'dev']));
    expect(run.stdout).toContain(`al2023-base/dev: ${older} → ${newer}`);
    const history = expectOk(await cli(['channel', 'history', 'al2023-base', 'dev', '--json']));
    expect(history.json<{ history: { moves: { toAmiId: string; cause: string }[] } }>().history.moves[0]).toMatchObject(
      {
        toAmiId: newer,
        cause: 'rollback',
      },
    );

    // A second rollback walks further back, not to the image the first one left: dev held only
    // these two images, so there is nothing further back
    const again = await cli(['rollback', 'al2023-base', 'dev']);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('al2023-base/dev has no earlier AMI that can be launched again');
  }, 60_000);

  it('revokes an image; promoting it afterwards is refused with the reason and exit 1', async () => {
    const [older] = baked as [string];
    const run = expectOk(await cli(['revoke', older, '--reason', 'CVE-2026-0001', '--json']));
    expect(run.json()).toMatchObject({
      revocation: {
        amiId: older,
        reason: 'CVE-2026-0001',
        cascade: false,
        requestedBy: 'cli:alice',
        outcome: 'revoked',
        completed: { amiId: older, revoked: [older] },
      },
    });
    await eventually(async () => {
      const { images } = (await cli(['images', 'al2023-base', '--json'])).json<{
        images: { amiId: string; revoked: boolean }[];
      }>();
      return images.find((i) => i.amiId === older)?.revoked ? true : undefined;
    }, 30_000);
    const refused = await cli(['promote', 'al2023-base', 'dev', older, '--timeout', '2', '--json']);
    expect(refused.code).toBe(1);
    expect(refused.json<{ promotion: { outcome: string; reason: string } }>().promotion).toMatchObject({
      outcome: 'refused',
    });
    expect(refused.json<{ promotion: { reason: string } }>().promotion.reason).toContain('revoked');
  }, 60_000);
});

describe('bakehouse janitor (the deployed Janitor function)', () => {
  it("prints the provisioned Janitor's dry-run report with every baked image and why it stays", async () => {
    const run = expectOk(await cli(['janitor', '--json']));
    const { report } = run.json<{ report: JanitorReport }>();
    expect(report).toMatchObject({ dryRun: true, completed: true, errors: [] });
    const images = report.items.filter((i) => i.kind === 'image').map((i) => i.id);
    expect(images).toEqual(expect.arrayContaining(baked));
    const text = expectOk(await cli(['janitor']));
    expect(text.stdout).toMatch(/^janitor run \S+ \(dry run: nothing changed\)/);
    expect(text.stdout).toMatch(new RegExp(`image\\s+${baked[1]}\\s+al2023-base\\s+kept\\s+\\S+`));
  });
});

describe('bakehouse events tail', () => {
  it('follows new events on the bus as JSON lines', async () => {
    const tail = cli(['events', 'tail', '--for', '2', '--json']);
    await new Promise((resolve) => setTimeout(resolve, 500));
    await events.send(
      new PutEventsCommand({
        Entries: [
          {
            EventBusName: 'bakehouse-dev',
            Source: 'test',
            DetailType: 'Bake Requested',
            Detail: JSON.stringify({ family: 'nope', requestedBy: 'tail-test' }),
          },
        ],
      }),
    );
    const run = expectOk(await tail);
    const lines = run.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toContainEqual(
      expect.objectContaining({
        source: 'test',
        detailType: 'Bake Requested',
        detail: { family: 'nope', requestedBy: 'tail-test' },
      }),
    );
  });
});

describe('errors and exit codes', () => {
  it('an unknown family is a usage error (2) that lists the families', async () => {
    const run = await cli(['images', 'nope', '--json']);
    expect(run.code).toBe(2);
    expect(run.json()).toMatchObject({ exitCode: 2, families: expect.arrayContaining(['al2023-base']) });
    expect(run.stderr).toContain('Fix: use one of al2023-base');
  });

  it('a malformed AMI id, an unknown command and a missing --reason exit 2', async () => {
    expect((await cli(['lineage', 'ami-zzz'])).code).toBe(2);
    expect((await cli(['frobnicate'])).code).toBe(2);
    expect((await cli(['revoke', 'ami-0123456789abcdef0'])).code).toBe(2);
    expect((await cli(['promote', 'al2023-base', 'prod', 'ami-0123456789abcdef0'])).stderr).toContain(
      'Fix: use one of dev, stable',
    );
  });

  it('a sandbox that is not running exits 1 and says how to start it', async () => {
    const run = await cli(['families'], { sandbox: 'http://127.0.0.1:9' });
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('npm run sandbox');
  });

  it('no credentials for AWS exits 1 and names --sandbox', async () => {
    const stderr = capture();
    const code = await main(['families', '--region', 'us-east-1'], {
      stdout: capture(),
      stderr,
      env: {
        AWS_CONFIG_FILE: '/nonexistent',
        AWS_SHARED_CREDENTIALS_FILE: '/nonexistent',
        AWS_EC2_METADATA_DISABLED: 'true',
      },
    });
    expect(code).toBe(1);
    expect(stderr.text()).toMatch(/no AWS credentials found.*--sandbox/);
  });

  it('the real bin runs as a process', async () => {
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['bin/bakehouse.mjs', 'families', '--json', '--sandbox', sandbox.sandbox.url],
      { cwd: process.cwd(), env: { ...process.env, AWS_ENDPOINT_URL: '' } },
    );
    expect((JSON.parse(stdout) as { families: unknown[] }).families).toHaveLength(4);
    const usage = await promisify(execFile)(process.execPath, [
      'bin/bakehouse.mjs',
      'bake',
      'nope',
      '--sandbox',
      sandbox.sandbox.url,
    ]).then(
      () => 0,
      (error: { code: number }) => error.code,
    );
    expect(usage).toBe(2);
  }, 30_000);

  it("the real bin runs issue 18's commands: overview, config check, channel history, bake steps, a refused promotion and revocation, cancel of an ended bake, events tail on a bare --sandbox port", async () => {
    const bin = (...args: string[]) =>
      promisify(execFile)(process.execPath, ['bin/bakehouse.mjs', ...args, '--sandbox', sandbox.sandbox.url], {
        cwd: process.cwd(),
        env: { ...process.env, AWS_ENDPOINT_URL: '' },
      }).then(
        ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
        (error: { code: number; stdout: string; stderr: string }) => error,
      );
    const [, ami] = baked as [string, string];

    const overview = await bin('overview', '--json');
    expect(overview.code, overview.stderr).toBe(0);
    expect(JSON.parse(overview.stdout)).toMatchObject({ clock: 'sandbox', families: expect.any(Array) });

    const check = await bin('config', 'check', '--json');
    expect(check.code, check.stderr).toBe(0);
    expect(JSON.parse(check.stdout)).toMatchObject({ valid: true, deployment: { found: true } });

    const history = await bin('channel', 'history', 'al2023-base', 'dev', '--json');
    expect(history.code, history.stderr).toBe(0);
    expect(JSON.parse(history.stdout).history.moves.length).toBeGreaterThan(0);

    const status = JSON.parse((await bin('history', 'al2023-base', '--json')).stdout) as {
      bakes: { bakeId: string; outcome: string }[];
    };
    const bakedOne = status.bakes.find((b) => b.outcome === 'baked');
    const steps = await bin('bake', 'steps', bakedOne?.bakeId ?? 'none', '--json');
    expect(steps.code, steps.stderr).toBe(0);
    expect(JSON.parse(steps.stdout).steps.length).toBeGreaterThan(3);

    // An al2023-base image promoted to al2023-web: refused by Promote, printed with the reason and fix
    const refused = await bin('promote', 'al2023-web', 'stable', ami);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain("it belongs to family 'al2023-base'");
    expect(refused.stderr).toContain('Fix:');

    // A revocation Revoke refuses: the reason within seconds and exit 1, not "requested" and 0
    const revoke = await bin('revoke', 'ami-0123456789abcdef0', '--reason', 'cli e2e');
    expect(revoke.code).toBe(1);
    expect(revoke.stderr).toContain('no image ami-0123456789abcdef0');
    expect(revoke.stderr).toContain('Fix:');

    // Cancelling a bake that already ended: nothing to cancel, said with the fix
    const cancel = await bin('bake', 'cancel', bakedOne?.bakeId ?? 'none');
    expect(cancel.code).toBe(1);
    expect(cancel.stderr).toMatch(/already ended|nothing to cancel/);

    // events tail says what it watches, and --sandbox takes a bare port
    const port = new URL(sandbox.sandbox.url).port;
    const tail = await promisify(execFile)(
      process.execPath,
      ['bin/bakehouse.mjs', 'events', 'tail', '--for', '1', '--sandbox', port],
      { cwd: process.cwd(), env: { ...process.env, AWS_ENDPOINT_URL: '' } },
    );
    expect(tail.stderr).toMatch(/watching bus bakehouse-dev on the sandbox at http:\/\/(127\.0\.0\.1|localhost):\d+/);
  }, 90_000);
});

describe('bakehouse janitor (against a stand-in Janitor function)', () => {
  const report = (dryRun: boolean): JanitorReport => ({
    version: '1.0',
    runId: dryRun ? 'run-plan' : 'run-apply',
    dryRun,
    completed: true,
    stoppedBecause: null,
    deregistered: ['ami-0123456789abcdef0'],
    snapshotsDeleted: ['snap-0123456789abcdef0'],
    kept: { 'in a channel': 1 },
    counts: { deregistered: 1, kept: 1 },
    items: [
      {
        kind: 'image',
        id: 'ami-0123456789abcdef0',
        family: 'al2023-base',
        action: 'deregistered',
        reason: 'older than 14 days, beyond keep 5',
      },
      {
        kind: 'image',
        id: 'ami-0fedcba9876543210',
        family: 'al2023-base',
        action: 'kept',
        reason: 'in a channel (stable)',
      },
    ],
    itemsTruncated: false,
    errors: [],
    durationSeconds: 1,
  });
  let janitorSandbox: TestSandbox;
  const payloads: unknown[] = [];
  beforeAll(async () => {
    const lambda: RestJsonService = {
      protocol: 'rest-json',
      signingName: 'lambda',
      routes: [
        {
          method: 'POST',
          path: /\/2015-03-31\/functions\/(?<name>[^/]+)\/invocations/,
          action: 'Invoke',
          handle: (request) => {
            if (request.params.name === 'bakehouse-odd-Janitor') {
              // A function of another version: a field of the wrong type, and an action it never sends.
              const odd = report(true);
              return {
                status: 200,
                body: { ...odd, runId: 7, items: [{ ...odd.items[0], action: 'exploded' }] },
              };
            }
            if (request.params.name !== 'bakehouse-dev-Janitor') {
              return {
                status: 404,
                body: { Type: 'User', message: 'Function not found' },
                headers: { 'x-amzn-errortype': 'ResourceNotFoundException' },
              };
            }
            const payload = JSON.parse(request.body) as { dryRun: boolean };
            payloads.push(payload);
            return { status: 200, body: report(payload.dryRun) };
          },
        },
      ],
    };
    janitorSandbox = await startTestSandbox({ services: [lambda] });
  });
  afterAll(async () => {
    await janitorSandbox?.stop();
  });

  it('prints the dry-run plan as tables: what would go and what stays and why', async () => {
    payloads.length = 0;
    const run = expectOk(await cli(['janitor'], { sandbox: janitorSandbox.sandbox.url }));
    expect(payloads).toEqual([{ dryRun: true }]);
    expect(run.stdout).toMatch(/would change:\nKIND\s+ID\s+FAMILY\s+ACTION\s+WHY/);
    expect(run.stdout).toMatch(/ami-0fedcba9876543210\s+al2023-base\s+kept\s+in a channel \(stable\)/);
    const json = expectOk(await cli(['janitor', '--json'], { sandbox: janitorSandbox.sandbox.url }));
    expect(json.json()).toEqual({ report: report(true) });
  });

  it('--apply asks first and does nothing on no (exit 1), applies on yes', async () => {
    payloads.length = 0;
    const no = await cli(['janitor', '--apply'], { sandbox: janitorSandbox.sandbox.url, confirm: false });
    expect(no.code).toBe(1);
    expect(payloads).toEqual([{ dryRun: true }]);
    const yes = expectOk(
      await cli(['janitor', '--apply', '--json'], { sandbox: janitorSandbox.sandbox.url, confirm: true }),
    );
    expect(payloads).toEqual([{ dryRun: true }, { dryRun: true }, { dryRun: false }]);
    expect(yes.json()).toEqual({ plan: report(true), report: report(false) });
  });

  it('--apply without a terminal needs --yes (exit 2); with --yes it applies', async () => {
    expect((await cli(['janitor', '--apply'], { sandbox: janitorSandbox.sandbox.url })).code).toBe(2);
    expectOk(await cli(['janitor', '--apply', '--yes'], { sandbox: janitorSandbox.sandbox.url }));
  });

  it('names each field of a report it cannot read, instead of printing the issues as JSON', async () => {
    const run = await cli(['janitor', '--stage', 'odd'], { sandbox: janitorSandbox.sandbox.url });
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('bakehouse-odd-Janitor returned an unexpected report: runId: ');
    expect(run.stderr).toContain('items.0.action: ');
    expect(run.stderr).not.toMatch(/"code"|"path"|\[\s*\{/);
  });

  it('names the fix when the Janitor function is not deployed', async () => {
    const run = await cli(['janitor', '--stage', 'prod'], { sandbox: janitorSandbox.sandbox.url });
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('bakehouse-prod-Janitor does not exist');
  });
});
