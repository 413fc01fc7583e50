/**
 * `/_sandbox/metrics/profiles`: POST adds (or replaces) a profile, GET lists, DELETE clears; a
 * refused body names the field and changes nothing; profiles outlive a restart of the sandbox.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startTestSandbox } from '../../src/testing/sandbox';

const stateDir = mkdtempSync(join(tmpdir(), 'bakehouse-cloudwatch-profiles-'));
afterAll(() => rmSync(stateDir, { recursive: true, force: true }));

const AMI = 'ami-0123456789abcdef0';

describe('metric profiles', () => {
  it('adds, replaces, lists and clears profiles, refuses a bad one unchanged, and keeps them over a restart', async () => {
    // Prepare
    const first = await startTestSandbox({ stateDir });
    let restarted: Awaited<ReturnType<typeof startTestSandbox>> | undefined;
    try {
      // Act
      await first.control('POST', '/_sandbox/metrics/profiles', { imageId: AMI, metric: 'Latency', factor: 1.2 });
      const replaced = await first.control('POST', '/_sandbox/metrics/profiles', {
        imageId: AMI,
        metric: 'Latency',
        factor: 1.5,
      });
      await first.control('POST', '/_sandbox/metrics/profiles', { imageId: AMI, metric: 'ErrorRate', factor: 3 });
      const refused = await first.control('POST', '/_sandbox/metrics/profiles', {
        imageId: AMI,
        metric: 'Latency',
        factor: -1,
      });
      await first.stop();
      restarted = await startTestSandbox({ stateDir });
      const listed = await restarted.control('GET', '/_sandbox/metrics/profiles');
      const cleared = await restarted.control('DELETE', '/_sandbox/metrics/profiles');
      const after = await restarted.control('GET', '/_sandbox/metrics/profiles');

      // Assess
      expect(replaced).toEqual({ status: 200, body: { profiles: [{ imageId: AMI, metric: 'Latency', factor: 1.5 }] } });
      expect(refused.status).toBe(400);
      expect((refused.body as { error: string }).error).toMatch(/^factor must be a number greater than 0/);
      expect(listed.body).toEqual({
        profiles: [
          { imageId: AMI, metric: 'ErrorRate', factor: 3 },
          { imageId: AMI, metric: 'Latency', factor: 1.5 },
        ],
      });
      expect(cleared).toEqual({ status: 200, body: { profiles: [] } });
      expect(after.body).toEqual({ profiles: [] });
    } finally {
      await restarted?.stop();
    }
  });
});
