import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startTestSandbox, type TestSandbox } from '../../src/testing/sandbox';

let sandbox: TestSandbox;

beforeAll(async () => {
  sandbox = await startTestSandbox();
});
afterAll(async () => sandbox.stop());

describe('the sandbox endpoint', () => {
  it('answers health checks on the control endpoint', async () => {
    // Act
    const health = await sandbox.control('GET', '/_sandbox/health');

    // Assess
    expect(health.status).toBe(200);
    expect(health.body).toMatchObject({ status: 'ready', services: expect.arrayContaining(['sts']) });
  });

  it('listens on loopback only', () => {
    // Assess
    expect(sandbox.sandbox.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  });

  it('answers STS GetCallerIdentity with the sandbox account through the SDK', async () => {
    // Prepare
    const sts = new STSClient(sandbox.clientConfig);

    // Act
    const identity = await sts.send(new GetCallerIdentityCommand({}));

    // Assess
    expect(identity.Account).toBe('000000000000');
    expect(identity.Arn).toBe('arn:aws:iam::000000000000:user/sandbox');
  });

  it('serves an SDK client configured only by AWS_ENDPOINT_URL, as users run it', async () => {
    // Prepare
    vi.stubEnv('AWS_ENDPOINT_URL', sandbox.sandbox.url);
    const sts = new STSClient({ region: 'us-east-1', credentials: { accessKeyId: 'a', secretAccessKey: 'b' } });

    // Act
    const identity = await sts.send(new GetCallerIdentityCommand({})).finally(() => vi.unstubAllEnvs());

    // Assess
    expect(identity.Account).toBe('000000000000');
  });

  it('refuses an unsigned request with AWS’s authentication error, not a crash', async () => {
    // Act
    const response = await fetch(`${sandbox.sandbox.url}/`, { method: 'POST', body: 'Action=DescribeImages' });

    // Assess
    expect(response.status).toBe(403);
    expect(await response.text()).toContain('<Code>MissingAuthenticationToken</Code>');
  });

  it('moves its clock forward on request and reports it', async () => {
    // Prepare
    const before = await sandbox.control('GET', '/_sandbox/clock');

    // Act
    const after = await sandbox.control('POST', '/_sandbox/clock', { advanceSeconds: 86_400 });

    // Assess
    const elapsed = Date.parse((after.body as { now: string }).now) - Date.parse((before.body as { now: string }).now);
    expect(elapsed).toBe(86_400_000);
  });

  it('rejects a malformed clock request with the fix', async () => {
    // Act
    const reply = await sandbox.control('POST', '/_sandbox/clock', { advanceSeconds: 'soon' });

    // Assess
    expect(reply.status).toBe(400);
    expect(reply.body).toEqual({ error: 'advanceSeconds must be a number of seconds, 0 or more' });
  });

  it('fails the next call with an injected fault, then recovers', async () => {
    // Prepare
    const sts = new STSClient(sandbox.clientConfig);
    await sandbox.control('POST', '/_sandbox/faults', {
      service: 'sts',
      action: 'GetCallerIdentity',
      error: 'Throttling',
      times: 1,
    });

    // Act
    const failed = await sts.send(new GetCallerIdentityCommand({})).catch((error: unknown) => error);
    const recovered = await sts.send(new GetCallerIdentityCommand({}));

    // Assess
    expect(failed).toMatchObject({ name: 'Throttling', $metadata: { httpStatusCode: 503 } });
    expect(recovered.Account).toBe('000000000000');
  });
});
