/**
 * Lambda code runs on the sandbox clock: `Date` in a handler reads the clock the rest of the
 * sandbox runs on (moved, sped up), at each call, while timers stay on real time. On a frozen
 * clock a function's time still passes at real speed from the time the clock was set to (so code
 * pacing itself on Date never waits forever). The AWS SDK inside the handler signs with that time,
 * and the sandbox's answers date themselves so that the SDK never "corrects a skew" (which would
 * retry every error once).
 */
import { join } from 'node:path';
import { CreateFunctionCommand, InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestSandbox, type TestSandbox } from '../../src/testing/sandbox';

const FIXTURES = join(import.meta.dirname, '..', 'fixtures', 'lambda');
const DAY_MS = 86_400_000;
/** The real time a function's clock may have run on past a frozen sandbox clock in these tests. */
const REAL_SLACK_MS = 30_000;

/** `actual` is `expected`, or later by at most the real time a test takes. */
const expectAtOrJustAfter = (actual: number, expected: number): void => {
  expect(actual).toBeGreaterThanOrEqual(expected);
  expect(actual).toBeLessThan(expected + REAL_SLACK_MS);
};
/** Far from the real clock, so a function on real time cannot pass by chance. */
const TARGET = Date.parse('2027-03-01T00:00:00.000Z');

interface Seen {
  before: number;
  now: number;
  iso: string;
  called: string;
  calledText: string;
  isDate: boolean;
  stampMs: number;
  stampIsStamp: boolean;
  epoch: string;
  fromParts: number;
  parse: number;
  utc: number;
  constructed: number;
  sts?: Attempt;
  ec2?: Attempt;
  ssm?: Attempt;
}
interface Attempt {
  ok: boolean;
  name?: string;
  attempts?: number;
}

let sandbox: TestSandbox;
let lambda: LambdaClient;

const invoke = async (event: Record<string, unknown> = {}): Promise<Seen> => {
  const output = await lambda.send(
    new InvokeCommand({ FunctionName: 'clock', Payload: new TextEncoder().encode(JSON.stringify(event)) }),
  );
  const body = JSON.parse(new TextDecoder().decode(output.Payload));
  if (output.FunctionError) throw new Error(`the function failed: ${JSON.stringify(body)}`);
  return body as Seen;
};

const clockNow = async (): Promise<number> =>
  Date.parse(((await sandbox.control('GET', '/_sandbox/clock')).body as { now: string }).now);

const moveClock = async (body: Record<string, number>): Promise<void> => {
  const reply = await sandbox.control('POST', '/_sandbox/clock', body);
  expect(reply.status).toBe(200);
};

beforeAll(async () => {
  // Frozen (the test sandbox's speed 0), then moved to TARGET.
  sandbox = await startTestSandbox({ assetsDir: FIXTURES });
  lambda = new LambdaClient(sandbox.clientConfig);
  await lambda.send(
    new CreateFunctionCommand({
      FunctionName: 'clock',
      Role: 'arn:aws:iam::000000000000:role/fixture',
      Runtime: 'nodejs24.x',
      Handler: 'clock.handler',
      Code: { S3Bucket: 'cdk-assets', S3Key: 'basics.zip' },
      Timeout: 10,
    }),
  );
  await moveClock({ advanceSeconds: (TARGET - (await clockNow())) / 1000 });
});

afterAll(async () => {
  lambda?.destroy();
  await sandbox?.stop();
});

describe('Date in a Lambda function', () => {
  it('reads the time the frozen sandbox clock was set to', async () => {
    // Act
    const seen = await invoke();

    // Assess: the sandbox clock stays put; the function's passes only at real speed from it
    expect(await clockNow()).toBe(TARGET);
    expectAtOrJustAfter(seen.before, TARGET);
    expectAtOrJustAfter(seen.now, seen.before);
    expectAtOrJustAfter(Date.parse(seen.iso), seen.now);
    expect(seen.iso).toMatch(/^2027-03-01T00:00:/);
    expectAtOrJustAfter(seen.stampMs, seen.now);
    expectAtOrJustAfter(seen.constructed, seen.now);
    expect(seen.called).toBe('string');
    expectAtOrJustAfter(Date.parse(seen.calledText), Math.floor(seen.now / 1000) * 1000);
  });

  it('follows the clock when it is moved forward a day', async () => {
    // Act
    await moveClock({ advanceSeconds: DAY_MS / 1000 });
    const seen = await invoke();

    // Assess
    expectAtOrJustAfter(seen.now, TARGET + DAY_MS);
    expect(seen.iso).toMatch(/^2027-03-02T00:00:/);
  });

  it('keeps timers on real time: a 200 ms sleep returns while the clock is frozen, and Date moves on by it', async () => {
    // Act
    const started = performance.now();
    const seen = await invoke({ sleepMs: 200 });

    // Assess
    expect(performance.now() - started).toBeGreaterThanOrEqual(190);
    expect(seen.now - seen.before).toBeGreaterThanOrEqual(190);
    expect(seen.now - seen.before).toBeLessThan(REAL_SLACK_MS);
    expect(await clockNow()).toBe(TARGET + DAY_MS);
  });

  it('lets code that paces itself on Date with real timers (the SDK adaptive retry) finish on a frozen clock', async () => {
    // Act
    const seen = await invoke({ paceMs: 300 });

    // Assess
    expect(seen.now - seen.before).toBeGreaterThanOrEqual(300);
    expect(seen.now - seen.before).toBeLessThan(REAL_SLACK_MS);
  });

  it('reads the clock at each call, not once per invocation: a move during the invocation shows', async () => {
    // Prepare
    const start = await clockNow();

    // Act: the clock moves an hour while the function sleeps
    const running = invoke({ sleepMs: 600 });
    await new Promise((resolve) => setTimeout(resolve, 200));
    await moveClock({ advanceSeconds: 3600 });
    const seen = await running;

    // Assess
    expectAtOrJustAfter(seen.before, start);
    expectAtOrJustAfter(seen.now, start + 3_600_000);
  });

  it('runs at the clock speed', async () => {
    // Prepare: an hour of sandbox time per real second
    await moveClock({ speed: 3600 });

    try {
      // Act
      const seen = await invoke({ sleepMs: 200 });

      // Assess: 200 real ms are about 720 sandbox seconds
      expect(seen.now - seen.before).toBeGreaterThanOrEqual(600_000);
      expect(seen.now - seen.before).toBeLessThan(3_600_000);
      expect(Math.abs(seen.now - (await clockNow()))).toBeLessThan(600_000);
    } finally {
      await moveClock({ speed: 0 });
    }
  });

  it('leaves Date with arguments, Date.parse, Date.UTC, subclasses and instanceof as they are', async () => {
    // Act
    const seen = await invoke();

    // Assess
    expect(seen.isDate).toBe(true);
    expect(seen.stampIsStamp).toBe(true);
    expect(seen.epoch).toBe('1970-01-01T00:00:00.000Z');
    expect(seen.fromParts).toBe(2020);
    expect(seen.parse).toBe(1_577_836_800_000);
    expect(seen.utc).toBe(1_577_836_800_000);
  });
});

describe('the AWS SDK in a function on the sandbox clock', () => {
  it('signs requests the sandbox accepts with a time far from real time', async () => {
    // Act
    const seen = await invoke({ sts: true, ec2: true });

    // Assess
    expect(Math.abs(seen.now - Date.now())).toBeGreaterThan(30 * DAY_MS);
    expect(seen.sts).toEqual({ ok: true, attempts: 1 });
    expect(seen.ec2).toEqual({ ok: true, attempts: 1 });
  });

  it('sees errors once: no clock-skew retry of a failed call (an injected fault is used up once)', async () => {
    // Prepare: one failure each for a Query service (STS, EC2) and a JSON one (SSM answers a missing
    // parameter with ParameterNotFound)
    for (const fault of [
      { service: 'sts', action: 'GetCallerIdentity', error: 'Boom', times: 1 },
      { service: 'ec2', action: 'DescribeImages', error: 'Boom', times: 1 },
    ]) {
      expect((await sandbox.control('POST', '/_sandbox/faults', fault)).status).toBe(200);
    }

    // Act
    const seen = await invoke({ sts: true, ec2: true, ssm: '/clock-test/missing' });

    // Assess
    expect(seen.sts).toEqual({ ok: false, name: 'Boom', attempts: 1 });
    expect(seen.ec2).toEqual({ ok: false, name: 'Boom', attempts: 1 });
    expect(seen.ssm).toMatchObject({ ok: false, attempts: 1 });
  });
});
