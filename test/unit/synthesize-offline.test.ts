/**
 * Offline synthesis keeps SST's generated types out of the project's shared `.sst`: SST's App
 * deletes and rewrites `<out>/types` while it builds, so two syntheses at once in different
 * processes failed with ENOENT on `.sst/types/index.ts` (seen in a full test run). SST itself is
 * replaced here by a stand-in that records where its output directory points.
 */
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { synthesizeOffline } from '../../stacks/synthesize';

const sst = vi.hoisted(() => ({
  project: { paths: { out: '/repo/.sst' } },
  outWhileBuilding: [] as string[],
}));

vi.mock('sst/project.js', () => ({
  initProject: vi.fn(async () => {}),
  useProject: () => sst.project,
}));

vi.mock('sst/constructs', () => ({
  App: class {
    constructor() {
      // SST's App constructor is where it empties `<out>/types`.
      sst.outWhileBuilding.push(sst.project.paths.out);
    }
    async finish() {}
    synth() {
      return {};
    }
  },
}));

const OPTIONS = { stage: 'ci', region: 'us-east-1', account: '000000000000', outdir: '/tmp/assembly' };

beforeEach(() => {
  sst.project.paths.out = '/repo/.sst';
  sst.outWhileBuilding.length = 0;
});

describe('offline synthesis', () => {
  it("builds the app with SST's output directory private to this synthesis, then restores it", async () => {
    // Act
    await synthesizeOffline({ ...OPTIONS, configure: () => {} });

    // Assess
    const [own] = sst.outWhileBuilding;
    expect(own).not.toBe('/repo/.sst');
    expect(own?.startsWith(tmpdir())).toBe(true);
    expect(existsSync(own as string)).toBe(false);
    expect(sst.project.paths.out).toBe('/repo/.sst');
  });

  it('gives each synthesis its own directory', async () => {
    // Act
    await synthesizeOffline({ ...OPTIONS, configure: () => {} });
    await synthesizeOffline({ ...OPTIONS, configure: () => {} });

    // Assess
    expect(new Set(sst.outWhileBuilding).size).toBe(2);
  });

  it('restores the shared directory and removes its own when the stacks fail to build', async () => {
    // Act
    const outcome = synthesizeOffline({
      ...OPTIONS,
      configure: () => {
        throw new Error('bad family');
      },
    });

    // Assess
    await expect(outcome).rejects.toThrow('bad family');
    expect(sst.project.paths.out).toBe('/repo/.sst');
    expect(existsSync(sst.outWhileBuilding[0] as string)).toBe(false);
  });
});
