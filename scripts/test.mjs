// `npm test`: the type check and the lint run beside Vitest instead of before it, at a lower CPU
// priority, so they use the time Vitest leaves a core idle (its test files wait on sandbox clocks
// and child processes) instead of adding their time in front of it. Their output is held back and
// printed after Vitest's, so the three never interleave; the run fails when any of them fails.
//
// A few lines here rather than `concurrently` or `npm-run-all2`: those interleave (or prefix) the
// outputs as they come and cannot lower a command's priority.
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, statfsSync, symlinkSync, writeFileSync } from 'node:fs';
import { setPriority, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
/** Behind Vitest: what niceness 10 gives up to it is what it would otherwise wait for. */
const BACKGROUND_NICENESS = 10;

const background = (script) => {
  const child = spawn(npm, ['run', '-s', script], { stdio: ['ignore', 'pipe', 'pipe'] });
  try {
    // Before npm starts tsc or biome: they inherit the niceness.
    setPriority(child.pid, BACKGROUND_NICENESS);
  } catch {
    // Not permitted here: it runs at normal priority, which is only slower.
  }
  let output = '';
  child.stdout.on('data', (chunk) => {
    output += chunk;
  });
  child.stderr.on('data', (chunk) => {
    output += chunk;
  });
  const done = new Promise((resolve) => {
    child.on('error', (error) => resolve({ script, code: 1, output: `${output}${error.message}\n` }));
    child.on('close', (code, signal) => resolve({ script, code: code ?? (signal ? 1 : 0), output }));
  });
  return { child, done };
};

/** Free space the run needs there (a container's /dev/shm is often 64 MB). */
const SCRATCH_BYTES = 2 * 1024 ** 3;
/**
 * The tests' temporary files (sandbox state, guest roots, synthesized copies) go to a RAM-backed
 * directory when the machine has one that runs programs (the guests run from it): on an ext4 disk
 * every file created costs a few hundred microseconds of kernel time (inode allocation), and a run
 * creates tens of thousands. Not when TMPDIR is already set (the user's choice), nor when it has
 * less than 2 GB free.
 */
const fastScratch = () => {
  if (process.env.TMPDIR || process.platform !== 'linux') return undefined;
  let dir;
  try {
    const { bavail, bsize } = statfsSync('/dev/shm');
    if (bavail * bsize < SCRATCH_BYTES) return undefined;
    dir = mkdtempSync('/dev/shm/bakehouse-test-');
    const probe = join(dir, 'probe.sh');
    writeFileSync(probe, '#!/bin/sh\nexit 0\n');
    chmodSync(probe, 0o755);
    execFileSync(probe);
    rmSync(probe);
    // tsx keeps its transform cache in <tmpdir>/tsx-<uid>: point that at the lasting one, or every
    // run's child processes (npm start, the sandbox, the synth script) would compile afresh.
    const tsxCache = `tsx-${process.geteuid?.() ?? 'user'}`;
    mkdirSync(join(tmpdir(), tsxCache), { recursive: true });
    symlinkSync(join(tmpdir(), tsxCache), join(dir, tsxCache));
    return dir;
  } catch {
    if (dir) rmSync(dir, { recursive: true, force: true });
    return undefined; // none, read-only, or mounted noexec
  }
};
const scratch = fastScratch();
if (scratch) process.env.TMPDIR = scratch;

const checks = ['typecheck', 'lint'].map(background);
const vitestEntry = fileURLToPath(new URL('../node_modules/vitest/vitest.mjs', import.meta.url));
// Vite warns, before every run, that the config's extensionless imports (vitest.config.ts imports
// the Bakehouse config, which imports the product) would not load with `configLoader: 'native'`, a
// loader Vitest does not use here and a future Vite major may make the default. Fourteen lines of
// that in front of every `npm test` is noise to a newcomer; it stays visible to `npx vitest`.
const vitest = spawn(process.execPath, [vitestEntry, 'run', ...process.argv.slice(2)], {
  stdio: 'inherit',
  env: { ...process.env, VITE_CONFIG_NATIVE_IGNORE_WARNING: 'true' },
});
const stop = (signal) => {
  for (const { child } of checks) child.kill(signal);
  vitest.kill(signal);
};
process.once('SIGINT', () => stop('SIGINT'));
process.once('SIGTERM', () => stop('SIGTERM'));

const vitestCode = await new Promise((resolve) => {
  vitest.on('error', () => resolve(1));
  vitest.on('close', (code) => resolve(code ?? 1));
});
let failed = vitestCode !== 0;
for (const { script, code, output } of await Promise.all(checks.map((check) => check.done))) {
  const text = output.trim();
  if (code === 0) {
    console.log(`npm run ${script}: passed${text ? `\n${text}` : ''}`);
  } else {
    failed = true;
    console.error(`npm run ${script}: FAILED (exit ${code})\n${text}`);
  }
}
if (scratch) rmSync(scratch, { recursive: true, force: true });
process.exit(failed ? 1 : 0);
