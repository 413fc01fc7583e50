/**
 * Closing the sandbox ends even when a service's stop never settles: it waits a bounded time for
 * that service, says which one, and closes the rest (the server stops listening).
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { JsonService } from '../../src/service';
import { startTestSandbox } from '../../src/testing/sandbox';

const stuck: JsonService = {
  protocol: 'json',
  jsonVersion: '1.0',
  signingName: 'stuck',
  targetPrefix: 'Stuck',
  actions: {},
  stop: () => new Promise<void>(() => undefined),
};

afterEach(() => {
  vi.restoreAllMocks();
});

describe('closing the sandbox', () => {
  it('ends when a service never stops, naming it, and the endpoint stops answering', async () => {
    // Prepare
    const errors: string[] = [];
    vi.spyOn(console, 'error').mockImplementation((message: unknown) => {
      errors.push(String(message));
    });
    const sandbox = await startTestSandbox({ services: [stuck] });
    const url = sandbox.sandbox.url;

    // Act
    const started = performance.now();
    await sandbox.stop();
    const tookMs = performance.now() - started;

    // Assess
    expect(tookMs).toBeLessThan(20_000);
    expect(errors.some((e) => e.includes('stuck did not stop within'))).toBe(true);
    await expect(fetch(`${url}/_sandbox/health`)).rejects.toThrow();
  }, 30_000);
});
