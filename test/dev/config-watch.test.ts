import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type ConfigWatch, watchConfig } from '../../dev/config-watch';

let dir: string;
let file: string;
let watch: ConfigWatch | undefined;
const printed: string[] = [];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'bakehouse-config-watch-'));
  file = join(dir, 'bakehouse.config.ts');
  writeFileSync(file, 'export default {};\n');
  printed.length = 0;
});
afterEach(() => {
  watch?.close();
  rmSync(dir, { recursive: true, force: true });
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** Waits until `check` holds (fs events arrive asynchronously). */
const until = async (check: () => boolean, timeoutMs = 5_000) => {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs} ms; printed: ${printed.join(' | ')}`);
    await sleep(20);
  }
};

describe('following the configuration file', () => {
  it('applies a burst of saves once, and prints what the apply says', async () => {
    // Prepare
    let applied = 0;
    watch = watchConfig({
      file,
      debounceMs: 300,
      apply: async () => {
        applied += 1;
        return [`applied ${applied}`];
      },
      print: (line) => printed.push(line),
    });

    // Act
    for (let n = 0; n < 5; n += 1) writeFileSync(file, `export default { n: ${n} };\n`);
    await until(() => applied === 1);
    await watch.idle();
    await sleep(250);

    // Assess
    expect(applied).toBe(1);
    expect(printed).toEqual([
      'bakehouse.config.ts changed: synthesizing and provisioning the sandbox again…',
      'applied 1',
    ]);
  });

  it('sees a save by rename, as editors write, and ignores other files in the folder', async () => {
    // Prepare
    let applied = 0;
    watch = watchConfig({
      file,
      debounceMs: 50,
      apply: async () => {
        applied += 1;
        return [];
      },
      print: (line) => printed.push(line),
    });

    // Act
    writeFileSync(join(dir, 'notes.txt'), 'unrelated');
    await sleep(200);
    const before = applied;
    writeFileSync(join(dir, '.bakehouse.config.ts.swp'), 'export default { saved: true };\n');
    renameSync(join(dir, '.bakehouse.config.ts.swp'), file);
    await until(() => applied === before + 1);

    // Assess
    expect(before).toBe(0);
  });

  it('applies a change made during an apply once more afterwards, never two at a time', async () => {
    // Prepare
    let running = 0;
    let most = 0;
    let applied = 0;
    watch = watchConfig({
      file,
      debounceMs: 20,
      apply: async () => {
        running += 1;
        most = Math.max(most, running);
        await sleep(300);
        running -= 1;
        applied += 1;
        return [];
      },
      print: (line) => printed.push(line),
    });

    // Act
    writeFileSync(file, 'export default { a: 1 };\n');
    await until(() => running === 1);
    writeFileSync(file, 'export default { a: 2 };\n');
    await sleep(100);
    await watch.idle();

    // Assess
    expect(applied).toBe(2);
    expect(most).toBe(1);
  });

  it('reports a change that cannot be applied and keeps following', async () => {
    // Prepare
    let calls = 0;
    watch = watchConfig({
      file,
      debounceMs: 20,
      apply: async () => {
        calls += 1;
        if (calls === 1) throw new Error("family 'x': os: must be linux or windows");
        return ['re-provisioned'];
      },
      print: (line) => printed.push(line),
    });

    // Act
    writeFileSync(file, 'export default { broken: true };\n');
    await until(() => calls === 1);
    await watch.idle();
    writeFileSync(file, 'export default { fixed: true };\n');
    await until(() => printed.includes('re-provisioned'));

    // Assess
    expect(printed).toContain(
      "bakehouse.config.ts: not applied, the sandbox keeps the stacks it had: family 'x': os: must be linux or windows",
    );
  });
});
