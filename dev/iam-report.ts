/**
 * `npm run iam-report`: the least-privilege report of a fresh offline run, as JSON.
 *
 *   npm run iam-report -- [--out FILE] [--iam on|off]
 *
 * Runs the whole offline lifecycle again (`npm start`, dev/start/main.ts, in a process of its own,
 * its progress sent to stderr) rather than reading an earlier run's file, so the report always
 * matches the stacks and policies as they are now. Writes the report to --out (default
 * .sandbox/iam-report.json, where `npm start` writes it too) and prints it on stdout. Exits as
 * `npm start` does: 0 when every scenario ended as expected, 1 otherwise (the report is written
 * either way, when the run got as far as starting the sandbox).
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { DEFAULT_IAM_REPORT } from './start/iam';

const usage = 'usage: npm run iam-report -- [--out FILE] [--iam on|off]';
const root = join(import.meta.dirname, '..');

const main = async (): Promise<number> => {
  const { values } = parseArgs({
    options: {
      out: { type: 'string', default: DEFAULT_IAM_REPORT },
      iam: { type: 'string', default: process.env.BAKEHOUSE_SANDBOX_IAM || 'on' },
      help: { type: 'boolean', default: false },
    },
    strict: true,
  });
  if (values.help) {
    console.log(usage);
    return 0;
  }
  if (values.iam !== 'on' && values.iam !== 'off') throw new Error(`--iam '${values.iam}' must be on or off`);
  const out = resolve(values.out);
  // A report left by an earlier run must not pass for this one's.
  rmSync(out, { force: true });

  const child = spawn(
    process.execPath,
    ['--import', 'tsx', join(root, 'dev', 'start', 'main.ts'), '--iam', values.iam, '--report', out],
    { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  child.stdout.pipe(process.stderr);
  const code = await new Promise<number>((done) => child.on('exit', (exit) => done(exit ?? 1)));
  if (!existsSync(out)) throw new Error(`the offline run (exit ${code}) wrote no report to ${out}`);
  process.stdout.write(readFileSync(out, 'utf8'));
  return code;
};

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(`npm run iam-report: ${error instanceof Error ? error.message : String(error)}`);
    console.error(usage);
    process.exit(1);
  },
);
