/**
 * `GET /_sandbox/health` of the sandbox command: not ready (503 `provisioning`) from its first
 * answer until its stacks are provisioned, then ready; failed when provisioning failed; ready at
 * once with nothing to provision. Synthesis is held by the test (support/gated-sandbox-command.ts).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { afterAll, describe, expect, it } from 'vitest';
import { type SandboxProcess, sandboxProcesses } from '../support/sandbox-process';

const gated = sandboxProcesses('cli-health', {}, { script: 'test/support/gated-sandbox-command.ts', provision: true });
const plain = sandboxProcesses('cli-health-main', {});

const assemblyDir = mkdtempSync(join(tmpdir(), 'bakehouse-cli-health-assembly-'));
afterAll(() => rmSync(assemblyDir, { recursive: true, force: true }));
writeFileSync(
  join(assemblyDir, 'manifest.json'),
  JSON.stringify({
    version: '36.0.0',
    artifacts: {
      HealthCheck: {
        type: 'aws:cloudformation:stack',
        environment: 'aws://000000000000/us-east-1',
        properties: { templateFile: 'HealthCheck.template.json' },
      },
    },
  }),
);
writeFileSync(
  join(assemblyDir, 'HealthCheck.template.json'),
  JSON.stringify({
    Resources: {
      Marker: {
        Type: 'AWS::SSM::Parameter',
        Properties: { Name: '/health/marker', Type: 'String', Value: 'provisioned' },
      },
    },
  }),
);

const healthOf = async (url: string): Promise<{ status: number; body: Record<string, unknown> }> => {
  const response = await fetch(`${url}/_sandbox/health`);
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
};

/** Health once it is no longer `provisioning`, polled for up to 15 s. */
const settledHealth = async (url: string): Promise<{ status: number; body: Record<string, unknown> }> => {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const health = await healthOf(url);
    if (health.body.status !== 'provisioning' || Date.now() > deadline) return health;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
};

const stop = async (running: SandboxProcess): Promise<void> => {
  running.child.kill('SIGTERM');
  await running.exited;
};

describe('the sandbox command health check', () => {
  it('answers 503 provisioning until its stacks are provisioned, then 200 ready with them there', async () => {
    // Prepare
    const running = gated('--reset');
    const url = await running.ready;

    // Act
    const first = await healthOf(url);
    await new Promise((resolve) => setTimeout(resolve, 200));
    const stillHeld = await healthOf(url);
    running.child.stdin.write(`${assemblyDir}\n`);
    const after = await settledHealth(url);

    // Assess
    expect(first).toEqual({ status: 503, body: expect.objectContaining({ status: 'provisioning' }) });
    expect(stillHeld.status).toBe(503);
    expect(after.status).toBe(200);
    expect(after.body).toMatchObject({
      status: 'ready',
      provisioned: expect.stringMatching(/^provisioned HealthCheck: 1 resources/),
    });
    const ssm = new SSMClient({
      endpoint: url,
      region: 'us-east-1',
      credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
      maxAttempts: 1,
    });
    const marker = await ssm.send(new GetParameterCommand({ Name: '/health/marker' }));
    expect(marker.Parameter?.Value).toBe('provisioned');
    await stop(running);
  });

  it('says provisioning failed, with the reason, when it did', async () => {
    // Prepare
    const running = gated('--reset');
    const url = await running.ready;

    // Act
    running.child.stdin.write('fail\n');
    const after = await settledHealth(url);

    // Assess
    expect(after).toEqual({
      status: 503,
      body: expect.objectContaining({
        status: 'failed',
        error: 'provisioning failed: synthesis failed as the test asked',
      }),
    });
    await stop(running);
  });

  it('is ready at once with --no-provision', async () => {
    // Prepare
    const running = gated('--reset', '--no-provision');
    const url = await running.ready;

    // Act
    const health = await healthOf(url);

    // Assess
    expect(health).toEqual({ status: 200, body: expect.objectContaining({ status: 'ready' }) });
    await stop(running);
  });

  it('fails health when --assets names no cloud assembly (src/main.ts)', async () => {
    // Prepare
    const running = plain('--reset', '--provision', '--assets', join(assemblyDir, 'missing'));
    const url = await running.ready;

    // Act
    const after = await settledHealth(url);

    // Assess
    expect(after.status).toBe(503);
    expect(after.body).toMatchObject({ status: 'failed', error: expect.stringMatching(/no manifest\.json/) });
    await stop(running);
  });

  it('refuses a --speed past its limit at start, naming it', async () => {
    // Act
    const running = plain('--speed', '1e308');

    // Assess
    expect(await running.exited).toBe(1);
    expect(running.output().stderr).toMatch(/--speed '1e308' must be a number of 0 or more, at most 1000000/);
  });
});
