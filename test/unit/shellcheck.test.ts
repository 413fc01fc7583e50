/**
 * ShellCheck over every shell script Bakehouse puts on a Linux instance: the documents' own
 * commands, the shipped families' scripts, and bad family scripts reported with the family, the
 * field, the line, the code and the fix. ShellCheck must be installed: without it every test here
 * fails, saying how to install it.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import shippedConfig from '../../bakehouse.config';
import { ConfigError } from '../../functions/commons/errors';
import { type FamilyInput, type LinuxFamily, loadConfig } from '../../functions/commons/families';
import {
  documentShellScripts,
  familyDocumentShellScripts,
  familyScriptDialect,
  familyShellScripts,
  renderCommand,
} from '../../functions/commons/shell-scripts';
import {
  documentShellFindings,
  familyShellFindings,
  formatShellFinding,
  INSTALL_SHELLCHECK,
  prefetchShellProblems,
  shellcheckVersion,
  shellProblems,
} from '../../functions/commons/shellcheck';
import { createBakePipeline } from '../../stacks/bake-pipeline';
import { configInput, linuxFamily } from './support/bake-factories';

/** A validated Linux family from the factory with some fields changed. */
const family = (overrides: Partial<FamilyInput>): LinuxFamily =>
  loadConfig(configInput([linuxFamily(overrides)])).families[0] as LinuxFamily;

const problemsOf = (overrides: Partial<FamilyInput>): string[] =>
  familyShellFindings([family(overrides)]).map(formatShellFinding);

describe('ShellCheck', () => {
  // Not a skip: without ShellCheck this fails, and so does every test below that runs it, each
  // with ShellcheckMissingError saying how to install it.
  it('is installed, as these tests and .ci/run need', () => {
    expect(shellcheckVersion(), `ShellCheck is not installed. Fix: ${INSTALL_SHELLCHECK}`).toBeDefined();
  });
});

describe('the scripts Bakehouse puts on Linux instances', () => {
  it('finds every AWS-RunShellScript command of the bake document and the test template', () => {
    // Act
    const scripts = documentShellScripts();

    // Assess
    const where = scripts.map((script) => script.where);
    expect(where).toEqual(
      expect.arrayContaining([
        'automation/bake-linux.yaml step runPreScript',
        'automation/bake-linux.yaml step patchPackages',
        'automation/bake-linux.yaml step cleanupBuilder',
        'automation/test-linux.yaml step checkExample',
      ]),
    );
    expect(scripts.every((script) => script.dialect === 'sh' && !script.text.includes('{{'))).toBe(true);
  });

  it('has no ShellCheck error or warning in the documents own commands', () => {
    // Act
    const findings = documentShellFindings().map(formatShellFinding);

    // Assess
    expect(findings).toEqual([]);
  });

  it('has no ShellCheck error or warning in the shipped families, nor in the documents rendered with their values', () => {
    // Arrange
    const config = loadConfig(shippedConfig);
    const linux = config.families.filter((f): f is LinuxFamily => f.os === 'linux');

    // Act
    const findings = familyShellFindings(linux).map(formatShellFinding);

    // Assess
    expect(linux.length).toBeGreaterThan(0);
    expect(findings).toEqual([]);
    expect(shellProblems(config)).toEqual([]);
  });

  it('renders a family value into the document where SSM puts it, and knows which lines are the value', () => {
    // Arrange
    const template = "set -eu\ncat <<'END'\n{{ PreScript }}\nEND\nlist='{{ InstallPackages }}'";
    const values: Record<string, string> = { PreScript: 'one\ntwo\nthree', InstallPackages: 'jq nginx' };

    // Act
    const rendered = renderCommand(template, (name) => values[name] ?? '');

    // Assess
    expect(rendered.text).toBe("set -eu\ncat <<'END'\none\ntwo\nthree\nEND\nlist='jq nginx'");
    expect(rendered.origins).toEqual([
      { kind: 'template', line: 1 },
      { kind: 'template', line: 2 },
      { kind: 'value', parameter: 'PreScript', line: 1 },
      { kind: 'value', parameter: 'PreScript', line: 2 },
      { kind: 'value', parameter: 'PreScript', line: 3 },
      { kind: 'template', line: 4 },
      { kind: 'template', line: 5 },
    ]);
  });

  it('renders the bake document with the family values and its test document with its checks', () => {
    // Arrange
    const subject = family({ preScript: 'echo before', tests: [{ name: 'jq present', run: 'jq --version' }] });

    // Act
    const scripts = familyDocumentShellScripts(subject);

    // Assess
    const pre = scripts.find((script) => script.where === 'automation/bake-linux.yaml step runPreScript');
    expect(pre?.text).toContain("<<'BAKEHOUSE_SCRIPT_END'\necho before\nBAKEHOUSE_SCRIPT_END\n");
    const check = scripts.find((script) => script.where === 'automation/test-linux.yaml step checkJqPresent');
    const line = check?.text.split('\n').indexOf('jq --version') ?? -1;
    expect(check?.origins[line]).toEqual({ family: 'al2023-base', where: 'tests[0].run', line: 1 });
  });

  it('runs a family script as bash unless its shebang names sh or dash, and reports other interpreters', () => {
    expect(familyScriptDialect('echo hi')).toEqual({ dialect: 'bash' });
    expect(familyScriptDialect('#!/bin/sh\necho hi')).toEqual({ dialect: 'sh' });
    expect(familyScriptDialect('#!/usr/bin/env -S dash -e\necho hi')).toEqual({ dialect: 'dash' });
    expect(familyScriptDialect('#!/usr/bin/env bash\necho hi')).toEqual({ dialect: 'bash' });
    expect(familyScriptDialect('#!/usr/bin/python3\nprint(1)')).toEqual({
      dialect: 'bash',
      foreign: '/usr/bin/python3',
    });
  });
});

describe('a bad family script is reported with the family, the field and the line', () => {
  it('reports rm -rf of an unquoted variable in an install script, at the line of that script', () => {
    // Act
    const problems = problemsOf({
      install: {
        scripts: [
          { name: 'first', run: 'echo one' },
          { name: 'clean cache', run: 'dir=/var/cache/app\nrm -rf $dir/*' },
        ],
      },
    });

    // Assess
    expect(problems).toEqual([
      expect.stringMatching(/^family 'al2023-base': install\.scripts\[1\]\.run line 2: SC2115 \(warning\) .+\. Fix: /),
    ]);
  });

  it('reports a syntax error in the pre-script at its line', () => {
    // Act
    const problems = problemsOf({ preScript: 'echo start\nif [ -f /etc/os-release ]; then\n  echo found\n' });

    // Assess
    expect(problems.length).toBeGreaterThan(0);
    expect(problems.every((p) => /^family 'al2023-base': preScript line \d: SC1\d{3} \(error\) /.test(p))).toBe(true);
    expect(problems.join('\n')).toContain('Fix: correct the syntax there (https://www.shellcheck.net/wiki/SC1');
  });

  it("gives ShellCheck's own fix as the line to write", () => {
    // Act
    const problems = problemsOf({ postScript: 'cd /opt/app\n./configure --quiet' });

    // Assess
    expect(problems).toEqual([
      "family 'al2023-base': postScript line 1: SC2164 (warning) Use 'cd ... || exit' or 'cd ... || return' in case cd fails. Fix: write `cd /opt/app || exit` (https://www.shellcheck.net/wiki/SC2164)",
    ]);
  });

  it('checks a check (tests[].run) on its own, as the test document runs it', () => {
    // Act
    const problems = problemsOf({ tests: [{ name: 'nginx up', run: 'systemctl is-active "$service_name"' }] });

    // Assess
    expect(problems).toEqual([
      expect.stringMatching(/^family 'al2023-base': tests\[0\]\.run line 1: SC2154 \(warning\) /),
    ]);
  });

  it('holds a script whose shebang says sh to POSIX sh, and a script without one to bash', () => {
    // Act
    const posix = problemsOf({ preScript: '#!/bin/sh\nif [[ -f /etc/hosts ]]; then echo ok; fi' });
    const bash = problemsOf({ preScript: 'if [[ -f /etc/hosts ]]; then echo ok; fi' });

    // Assess
    expect(posix).toEqual([expect.stringMatching(/^family 'al2023-base': preScript line 2: SC3010 \(warning\) /)]);
    expect(bash).toEqual([]);
  });

  it('reports a script in another language once, for its shebang', () => {
    // Act
    const problems = problemsOf({ postScript: '#!/usr/bin/env python3\nprint("hello")' });

    // Assess
    expect(problems).toEqual([
      expect.stringMatching(/^family 'al2023-base': postScript line 1: shebang \(error\) the shebang names 'python3'/),
    ]);
  });

  it('reports a value that changes the document own lines against the family and the document step', () => {
    // Arrange: a package list the schema would refuse, to reach the rendered document.
    const subject = structuredClone(family({}));
    subject.install.packages = ["jq'"];

    // Act
    const problems = familyShellFindings([subject]).map(formatShellFinding);

    // Assess
    expect(problems.length).toBeGreaterThan(0);
    expect(
      problems.every((p) =>
        /^family 'al2023-base': automation\/bake-linux\.yaml step installPackages line \d+ \(file line \d+\) \(as rendered with this family's values\): SC1\d{3} /.test(
          p,
        ),
      ),
    ).toBe(true);
    expect(problems.join('\n')).toContain("(as rendered with this family's values): SC1");
  });

  it('leaves Windows families and empty scripts alone', () => {
    // Arrange
    const subject = family({ preScript: '', postScript: '', install: { scripts: [] }, tests: [] });

    // Act
    const scripts = familyShellScripts(subject);

    // Assess
    expect(scripts).toEqual([]);
  });
});

describe('shellProblems at synth', () => {
  it('returns problem strings naming the family, the field, the line, the code and the fix', () => {
    // Arrange
    const config = loadConfig(configInput([linuxFamily({ preScript: 'cd /srv\nmake' })]));

    // Act
    const problems = shellProblems(config);

    // Assess
    expect(problems).toEqual([
      "family 'al2023-base': preScript line 1: SC2164 (warning) Use 'cd ... || exit' or 'cd ... || return' in case cd fails. Fix: write `cd /srv || exit` (https://www.shellcheck.net/wiki/SC2164)",
    ]);
  });

  it('warns once and skips the check when ShellCheck is not installed', () => {
    // Arrange
    const warn = vi.fn();
    const config = loadConfig(configInput([linuxFamily({ preScript: 'cd /srv\nmake' })]));

    // Act
    const first = shellProblems(config, { binary: '/nonexistent/shellcheck', warn });
    const second = shellProblems(config, { binary: '/nonexistent/shellcheck', warn });

    // Assess
    expect(first).toEqual([]);
    expect(second).toEqual([]);
    expect(warn).toHaveBeenCalledTimes(1);
    expect(warn.mock.calls[0]?.[0]).toMatch(/ShellCheck is not installed.*apt-get install shellcheck/);
  });
});

describe('synth validates the shell scripts', () => {
  it('refuses a family whose script has a ShellCheck finding before building any stack', () => {
    // Arrange
    const input = configInput([linuxFamily({ preScript: 'cd /srv\nmake' })]);

    // Act
    let problems: readonly string[] = [];
    try {
      createBakePipeline(input);
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      problems = error.problems;
    }

    // Assess
    expect(problems).toEqual([
      expect.stringMatching(/^family 'al2023-base': preScript line 1: SC2164 \(warning\) .+ Fix: /),
    ]);
  });
});

describe('ShellCheck started ahead of synth (prefetchShellProblems)', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'bakehouse-shellcheck-test-'));
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));
  const realShellcheck = spawnSync('sh', ['-c', 'command -v shellcheck'], { encoding: 'utf8' }).stdout.trim();

  /**
   * A ShellCheck of its own path (answers are kept per program), logging each run's arguments
   * before it runs the real one.
   */
  const recordingShellcheck = (name: string): { binary: string; runs: () => string[] } => {
    const binary = join(scratch, name);
    const log = join(scratch, `${name}.log`);
    writeFileSync(binary, `#!/bin/sh\necho "$*" >> '${log}'\nexec '${realShellcheck}' "$@"\n`);
    chmodSync(binary, 0o755);
    return {
      binary,
      runs: () => {
        try {
          return readFileSync(log, 'utf8')
            .split('\n')
            .filter((line) => line !== '');
        } catch {
          return [];
        }
      },
    };
  };
  const checks = (runs: string[]) => runs.filter((args) => args.startsWith('--norc'));
  const config = () =>
    loadConfig(
      configInput([
        linuxFamily({ preScript: 'cd /srv\nmake' }),
        linuxFamily({ name: 'al2023-sh', preScript: '#!/bin/sh\nread -r line\necho "$line"' }),
      ]),
    );

  it('leaves synth nothing to run but the version check, with the same problems as without it', async () => {
    // Arrange
    const ahead = recordingShellcheck('ahead');
    const plain = recordingShellcheck('plain');

    // Act
    await prefetchShellProblems(config(), { binary: ahead.binary });
    const runsAhead = checks(ahead.runs());
    const problems = shellProblems(config(), { binary: ahead.binary });

    // Assess: one run per dialect ahead (bash for the families, sh for the documents' own and the
    // sh family), none at synth; the answers are those of a synth with no head start.
    expect(runsAhead.map((args) => /--shell=(\w+)/.exec(args)?.[1]).sort()).toEqual(['bash', 'sh']);
    expect(checks(ahead.runs())).toEqual(runsAhead);
    expect(problems).toEqual(shellProblems(config(), { binary: plain.binary }));
    expect(problems).toEqual([expect.stringMatching(/^family 'al2023-base': preScript line 1: SC2164 /)]);
    expect(checks(plain.runs())).toHaveLength(2);
  });

  it('gives no error of its own when ShellCheck does not run: synth warns as before', async () => {
    // Arrange
    const warn = vi.fn();
    const missing = join(scratch, 'not-installed');

    // Act
    const prefetched = prefetchShellProblems(config(), { binary: missing });

    // Assess
    await expect(prefetched).resolves.toBeUndefined();
    expect(shellProblems(config(), { binary: missing, warn })).toEqual([]);
    expect(warn).toHaveBeenCalledWith(expect.stringMatching(/ShellCheck is not installed/));
  });

  it('keeps nothing from a ShellCheck that fails: synth runs it again and reports the failure', async () => {
    // Arrange: a ShellCheck that gives its version but fails every check, exit 3 (bad arguments)
    const broken = join(scratch, 'broken');
    writeFileSync(
      broken,
      `#!/bin/sh\ncase "$1" in --version) exec '${realShellcheck}' --version;; esac\necho 'bad option' >&2\nexit 3\n`,
    );
    chmodSync(broken, 0o755);

    // Act
    await prefetchShellProblems(config(), { binary: broken });

    // Assess
    expect(() => shellProblems(config(), { binary: broken })).toThrow(/shellcheck exited with 3: bad option/);
  });
});
