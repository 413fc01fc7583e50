/**
 * ShellCheck over every script Bakehouse puts on a Linux instance (commons/shell-scripts.ts),
 * its findings told back as the family, the field, the line, the code, the message and the fix.
 *
 * What fails: findings of level error and warning (`--severity=warning`). Errors are scripts the
 * shell cannot parse; warnings are constructs that misbehave at run time (`rm -rf $dir/*` that can
 * become `rm -rf /*`, a variable used but never set under `set -u`, `cd` without a check). Info
 * and style findings do not fail: the commonest, SC2086 "double quote to prevent splitting", is
 * word splitting, which the documents use on purpose (package lists under `set -f`), and style is
 * taste. Excluded codes, each for a reason that holds for every script here, are in
 * EXCLUDED_CODES. A script can still silence one finding it means with a
 * `# shellcheck disable=SCxxxx` line above it.
 *
 * ShellCheck runs once per dialect over temporary files (one process for all scripts of a
 * dialect), with `--norc` so a developer's ~/.shellcheckrc cannot change the verdict; its answers
 * are kept for the process, and `npm run synth` starts the runs early (prefetchShellProblems).
 * Output format json1 (https://github.com/koalaman/shellcheck/wiki/Integration: lines and
 * columns are 1-based, a tab counts as one column).
 *
 * Synth-time and test-time only: Lambda code never imports this module.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BakehouseConfig, LinuxFamily } from './families';
import {
  documentShellScripts,
  familyDocumentShellScripts,
  familyShellScripts,
  type LineOrigin,
  type ShellDialect,
  type ShellScript,
} from './shell-scripts';

/** The lowest level that fails. */
export const FAILING_SEVERITY = 'warning';

/** Codes never reported, and why. */
export const EXCLUDED_CODES: Readonly<Record<string, string>> = {
  SC1090:
    "ShellCheck can't follow a `source` of a computed path: the sourced file exists on the instance, not here, so this says nothing about the script",
  SC1091:
    'ShellCheck cannot read a sourced file such as /etc/os-release: it exists on the instance, not on the machine that checks',
};

export const INSTALL_SHELLCHECK =
  'install ShellCheck 0.9 or later: `sudo apt-get install shellcheck` (Debian, Ubuntu), `sudo dnf install ShellCheck` (Fedora, Amazon Linux with EPEL), `brew install shellcheck` (macOS); .ci/run installs it in CI';

/** ShellCheck is not on the PATH (or the given binary does not run). */
export class ShellcheckMissingError extends Error {
  constructor(binary: string, options?: ErrorOptions) {
    super(
      `'${binary}' is not installed or does not run, so shell scripts cannot be checked. Fix: ${INSTALL_SHELLCHECK}`,
      options,
    );
    this.name = 'ShellcheckMissingError';
  }
}

/** ShellCheck ran but failed (bad arguments, an unreadable file). */
export class ShellcheckFailedError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'ShellcheckFailedError';
  }
}

export interface ShellcheckOptions {
  /** The program; default `shellcheck` on the PATH. */
  readonly binary?: string;
}

/** ShellCheck's version, or undefined when it is not installed. */
export const shellcheckVersion = (options: ShellcheckOptions = {}): string | undefined => {
  const result = spawnSync(options.binary ?? 'shellcheck', ['--version'], { encoding: 'utf8' });
  if (result.error || result.status !== 0) return undefined;
  return /version:\s*(\S+)/.exec(result.stdout)?.[1] ?? 'unknown';
};

/** One finding, told back to where its line came from. */
export interface ShellFinding {
  readonly script: ShellScript;
  readonly origin: LineOrigin;
  /** `SC2115`, or `shebang` for a script whose shebang names a program Bakehouse does not run it with. */
  readonly code: string;
  readonly level: 'error' | 'warning' | 'info' | 'style';
  readonly message: string;
  /** What to do, starting with `Fix:`. */
  readonly fix: string;
}

interface Json1Comment {
  readonly file: string;
  readonly line: number;
  readonly endLine: number;
  readonly column: number;
  readonly endColumn: number;
  readonly level: ShellFinding['level'];
  readonly code: number;
  readonly message: string;
  readonly fix: {
    readonly replacements: readonly {
      readonly line: number;
      readonly endLine: number;
      readonly column: number;
      readonly endColumn: number;
      readonly replacement: string;
      readonly precedence: number;
    }[];
  } | null;
}

/** The line with ShellCheck's own fix applied, when the fix stays on that line. */
const fixedLine = (text: string, comment: Json1Comment): string | undefined => {
  const replacements = comment.fix?.replacements ?? [];
  if (replacements.length === 0) return undefined;
  if (replacements.some((r) => r.line !== comment.line || r.endLine !== comment.line)) return undefined;
  let line = text.split('\n')[comment.line - 1];
  if (line === undefined) return undefined;
  // Right to left, so earlier columns stay valid.
  const ordered = [...replacements].sort((a, b) => b.column - a.column || a.precedence - b.precedence);
  for (const r of ordered) line = `${line.slice(0, r.column - 1)}${r.replacement}${line.slice(r.endColumn - 1)}`;
  return line.trim();
};

const fixOf = (script: ShellScript, comment: Json1Comment): string => {
  const code = `SC${comment.code}`;
  const wiki = `https://www.shellcheck.net/wiki/${code}`;
  const fixed = fixedLine(script.text, comment);
  if (fixed !== undefined) return `Fix: write \`${fixed}\` (${wiki})`;
  if (comment.code < 2000) return `Fix: correct the syntax there (${wiki})`;
  return `Fix: see ${wiki}; if the line is meant as it is, put \`# shellcheck disable=${code}\` on the line above it`;
};

/** ShellCheck's comments per dialect and script text, kept for the process: synth runs repeat. */
const cache = new Map<string, readonly Json1Comment[]>();
const cacheKey = (binary: string, dialect: ShellDialect, text: string): string =>
  JSON.stringify([binary, dialect, FAILING_SEVERITY, text]);

/** ShellCheck's arguments for `files` of one dialect. */
const shellcheckArgs = (dialect: ShellDialect, files: readonly string[]): string[] => [
  '--norc',
  '--format=json1',
  `--shell=${dialect}`,
  `--severity=${FAILING_SEVERITY}`,
  `--exclude=${Object.keys(EXCLUDED_CODES).join(',')}`,
  ...files,
];

/** The texts of one dialect ShellCheck has not seen yet in this process, each written to a file of `dir`. */
const uncheckedTexts = (dialect: ShellDialect, texts: readonly string[], dir: string, binary: string) => {
  const missing = [...new Set(texts.filter((text) => !cache.has(cacheKey(binary, dialect, text))))];
  const files = missing.map((text, index) => {
    const file = join(dir, `${dialect}-${index}.sh`);
    writeFileSync(file, text.endsWith('\n') ? text : `${text}\n`);
    return file;
  });
  return { missing, files };
};

interface ShellcheckRun {
  readonly error?: Error | undefined;
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Keeps one run's comments per text; throws when ShellCheck did not run or failed. */
const keepComments = (
  dialect: ShellDialect,
  binary: string,
  unchecked: { readonly missing: readonly string[]; readonly files: readonly string[] },
  result: ShellcheckRun,
): void => {
  if (result.error) throw new ShellcheckMissingError(binary, { cause: result.error });
  // 0: no findings, 1: findings; anything else is ShellCheck failing to run.
  if (result.status !== 0 && result.status !== 1) {
    throw new ShellcheckFailedError(`shellcheck exited with ${result.status}: ${result.stderr.trim()}`);
  }
  const comments = (JSON.parse(result.stdout) as { comments: Json1Comment[] }).comments;
  unchecked.files.forEach((file, index) => {
    cache.set(
      cacheKey(binary, dialect, unchecked.missing[index] as string),
      comments.filter((comment) => comment.file === file),
    );
  });
};

/** ShellCheck's comments on each text, in order, one process for all of them. */
const commentsOf = (
  dialect: ShellDialect,
  texts: readonly string[],
  dir: string,
  binary: string,
): (readonly Json1Comment[])[] => {
  const unchecked = uncheckedTexts(dialect, texts, dir, binary);
  if (unchecked.files.length > 0) {
    const result = spawnSync(binary, shellcheckArgs(dialect, unchecked.files), {
      encoding: 'utf8',
      maxBuffer: 64 * 1024 * 1024,
    });
    keepComments(dialect, binary, unchecked, result);
  }
  return texts.map((text) => cache.get(cacheKey(binary, dialect, text)) ?? []);
};

const runDialect = (
  dialect: ShellDialect,
  scripts: readonly ShellScript[],
  dir: string,
  binary: string,
): ShellFinding[] => {
  const comments = commentsOf(
    dialect,
    scripts.map((script) => script.text),
    dir,
    binary,
  );
  return scripts.flatMap((script, at) =>
    (comments[at] ?? []).map((comment) => {
      // A parse error at the end of input points one past the last line.
      const index = Math.min(comment.line, script.origins.length) - 1;
      const origin = script.origins[index] ?? { where: script.where, line: comment.line };
      return {
        script,
        origin,
        code: `SC${comment.code}`,
        level: comment.level,
        message: comment.message,
        fix: fixOf(script, comment),
      };
    }),
  );
};

const shebangFindings = (scripts: readonly ShellScript[]): ShellFinding[] =>
  scripts.flatMap((script) =>
    script.foreignShebang === undefined
      ? []
      : [
          {
            script,
            origin: script.origins[0] ?? { where: script.where, line: 1 },
            code: 'shebang',
            level: 'error' as const,
            message: `the shebang names '${script.foreignShebang}', but Bakehouse runs the script with bash (sh where there is no bash), which ignores the shebang`,
            fix: "Fix: write the script in bash or sh, and call other interpreters from it (for example `python3 - <<'EOF'`)",
          },
        ],
  );

/**
 * Checks scripts with ShellCheck, one process per dialect. Throws ShellcheckMissingError when
 * ShellCheck does not run.
 */
export const checkShellScripts = (scripts: readonly ShellScript[], options: ShellcheckOptions = {}): ShellFinding[] => {
  const binary = options.binary ?? 'shellcheck';
  if (scripts.length === 0) return [];
  const dir = mkdtempSync(join(tmpdir(), 'bakehouse-shellcheck-'));
  try {
    const findings = [...shellScriptsByDialect(scripts)].flatMap(([dialect, ofDialect]) =>
      runDialect(dialect, ofDialect, dir, binary),
    );
    return [...shebangFindings(scripts), ...findings];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
};

/**
 * The scripts ShellCheck reads, by dialect. A script in another language is reported for its
 * shebang alone: ShellCheck would only report that the language is not shell.
 */
const shellScriptsByDialect = (scripts: readonly ShellScript[]): Map<ShellDialect, ShellScript[]> => {
  const byDialect = new Map<ShellDialect, ShellScript[]>();
  for (const script of scripts) {
    if (script.foreignShebang !== undefined) continue;
    const ofDialect = byDialect.get(script.dialect);
    if (ofDialect) ofDialect.push(script);
    else byDialect.set(script.dialect, [script]);
  }
  return byDialect;
};

/** `family 'x': install.scripts[0].run line 3: SC2086 (warning) <message>. Fix: …` */
export const formatShellFinding = (finding: ShellFinding): string => {
  const { origin, script } = finding;
  const family = origin.family ?? script.family;
  const who = family === undefined ? '' : `family '${family}': `;
  const fileLine = origin.fileLine === undefined ? '' : ` (file line ${origin.fileLine})`;
  const renderedFor =
    origin.family === undefined && script.family !== undefined ? " (as rendered with this family's values)" : '';
  // ShellCheck ends parse errors with its own advice ("Fix to allow more checks."); the fix follows.
  const message = finding.message
    .replace(/\s*Fix (to allow more checks|any mentioned problems and try again)\.\s*$/, '')
    .replace(/\s+$/, '');
  const stop = /[.!?]$/.test(message) ? '' : '.';
  return `${who}${origin.where} line ${origin.line}${fileLine}${renderedFor}: ${finding.code} (${finding.level}) ${message}${stop} ${finding.fix}`;
};

/** The findings in the documents' own text (rendered with their defaults). */
export const documentShellFindings = (options: ShellcheckOptions = {}): ShellFinding[] =>
  checkShellScripts(documentShellScripts(), options);

/** What familyShellFindings checks: the documents rendered with their defaults, then the families' scripts. */
const scriptsOfFamilies = (families: readonly LinuxFamily[]): ShellScript[] => [
  ...documentShellScripts(),
  ...families.flatMap((family) => [...familyShellScripts(family), ...familyDocumentShellScripts(family)]),
];

const keyOf = (finding: ShellFinding): string =>
  `${finding.origin.where}\0${finding.origin.line}\0${finding.code}\0${finding.message}`;

/**
 * The findings that are the family's: in its own scripts, and in the documents as rendered with
 * its values where the documents rendered with their defaults have none (a value that changes the
 * documents' own lines). The documents' own findings are test/unit/shellcheck.test.ts's business.
 */
export const familyShellFindings = (
  families: readonly LinuxFamily[],
  options: ShellcheckOptions = {},
): ShellFinding[] => {
  const findings = checkShellScripts(scriptsOfFamilies(families), options);
  const documentOwn = new Set(findings.filter((f) => f.script.family === undefined).map(keyOf));
  return findings.filter((f) => f.script.family !== undefined && !documentOwn.has(keyOf(f)));
};

const defaultWarn = (message: string): void => console.warn(message);

export interface ShellProblemsOptions extends ShellcheckOptions {
  /** Where the one "ShellCheck is not installed" warning goes; default console.warn. */
  readonly warn?: (message: string) => void;
}

/** The warn functions already told that ShellCheck is missing: each is told once per process. */
const warnedMissing = new WeakSet<(message: string) => void>();

/**
 * Configuration validation outside Lambda (synth): every ShellCheck finding in the Linux
 * families' scripts, as problem strings naming the family, the field, the line and the fix.
 * Without ShellCheck it warns once per process and returns no problems: synth still works on a
 * machine without it, and `npm test` (which requires it) keeps the shipped configuration clean.
 */
export const shellProblems = (
  config: Pick<BakehouseConfig, 'families'>,
  options: ShellProblemsOptions = {},
): string[] => {
  const linux = config.families.filter((family): family is LinuxFamily => family.os === 'linux');
  if (linux.length === 0) return [];
  if (shellcheckVersion(options) === undefined) {
    const warn = options.warn ?? defaultWarn;
    if (!warnedMissing.has(warn)) {
      warnedMissing.add(warn);
      warn(
        `Bakehouse: ShellCheck is not installed, so the Linux families' shell scripts were not checked. To check them, ${INSTALL_SHELLCHECK}`,
      );
    }
    return [];
  }
  return [...new Set(familyShellFindings(linux, options).map(formatShellFinding))];
};

/** Runs ShellCheck without blocking; resolves (never rejects) with what it gave. */
const runShellcheck = (binary: string, args: readonly string[]): Promise<ShellcheckRun> =>
  new Promise((resolve) => {
    const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
    });
    child.on('error', (error) => resolve({ error, status: null, stdout, stderr }));
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });

/**
 * Runs ShellCheck over what `shellProblems(config)` will check, in child processes that do not
 * block this one, and keeps their comments for it: `npm run synth` starts this before it loads SST
 * and the CDK (seconds of this process's CPU), so ShellCheck runs on another core meanwhile
 * instead of holding up the stack's construction (about 0.8 s of a first `npm start`).
 *
 * Only ever a head start: it resolves, never rejects, and whatever it did not finish, or failed
 * at (ShellCheck missing or broken), `shellProblems` runs and reports as it always does.
 */
export const prefetchShellProblems = async (
  config: Pick<BakehouseConfig, 'families'>,
  options: ShellcheckOptions = {},
): Promise<void> => {
  const binary = options.binary ?? 'shellcheck';
  const linux = config.families.filter((family): family is LinuxFamily => family.os === 'linux');
  if (linux.length === 0) return;
  let dir: string | undefined;
  try {
    dir = mkdtempSync(join(tmpdir(), 'bakehouse-shellcheck-'));
    const runs = [...shellScriptsByDialect(scriptsOfFamilies(linux))].map(async ([dialect, scripts]) => {
      const unchecked = uncheckedTexts(
        dialect,
        scripts.map((script) => script.text),
        dir as string,
        binary,
      );
      if (unchecked.files.length === 0) return;
      keepComments(dialect, binary, unchecked, await runShellcheck(binary, shellcheckArgs(dialect, unchecked.files)));
    });
    await Promise.allSettled(runs);
  } catch {
    // shellProblems finds and reports it.
  } finally {
    if (dir) rmSync(dir, { recursive: true, force: true });
  }
};
