/**
 * Configuration values rendered into scripts cannot break out of them: renderedValueProblems
 * refuses the values that would (with the family, the field and the fix), its model of how each
 * value is embedded matches the documents as they are, and any value it accepts, rendered into the
 * real document, leaves the script's structure as intended.
 */
import { spawnSync } from 'node:child_process';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { loadBakeDocument } from '../../automation/documents';
import { CHECK_MARKER, loadTestTemplate, renderTestDocument } from '../../automation/test-documents';
import shippedConfig from '../../bakehouse.config';
import {
  type Family,
  type FamilyInput,
  familySchema,
  type LinuxFamily,
  loadConfig,
  type WindowsFamily,
} from '../../functions/commons/families';
import { familyDocumentValues } from '../../functions/commons/render';
import {
  BAKE_EMBEDDINGS,
  CHECK_MARKER_TEXT,
  type Embedding,
  LINUX_SCRIPT_SENTINEL,
  POWERSHELL_SINGLE_QUOTES,
  renderedValueProblems,
  scriptBlockProblem,
} from '../../functions/commons/rendered-values';
import { renderCommand } from '../../functions/commons/shell-scripts';
import { linuxFamily, windowsFamily } from './support/bake-factories';

/** The family as the schema parses it, without the cross-family checks (which may run this module). */
const parsed = <T extends Family>(input: FamilyInput): T => familySchema.parse(input) as T;
const linux = (overrides: Partial<FamilyInput> = {}): LinuxFamily => parsed(linuxFamily(overrides));
const windows = (overrides: Partial<FamilyInput> = {}): WindowsFamily => parsed(windowsFamily(overrides));

type Step = { name: string; action?: string; inputs?: { DocumentName?: string; Parameters?: { commands?: string[] } } };

/** The script commands of a document's steps, by step name. */
const commandsOf = (document: unknown): Map<string, string> =>
  new Map(
    ((document as { mainSteps: Step[] }).mainSteps ?? []).flatMap((step) =>
      step.action === 'aws:runCommand' &&
      /^AWS-Run(Shell|PowerShell)Script$/.test(step.inputs?.DocumentName ?? '') &&
      typeof step.inputs?.Parameters?.commands?.[0] === 'string'
        ? [[step.name, step.inputs.Parameters.commands[0]] as const]
        : [],
    ),
  );

/** A bake document with its step commands. */
const parsedBakeDocument = (os: Family['os']) => {
  const { document } = loadBakeDocument(os);
  return { document, commands: commandsOf(document) };
};
/** Each bake document parsed once: the properties below render hundreds of values into them. */
const bakeDocuments = { linux: parsedBakeDocument('linux'), windows: parsedBakeDocument('windows') };

/** A bake document's step command with the family's values put in as SSM does. */
const renderedStep = (family: Family, step: string): string => {
  const { document, commands } = bakeDocuments[family.os];
  const command = commands.get(step);
  if (command === undefined) throw new Error(`no script step ${step}`);
  const values = familyDocumentValues(family);
  const defaults = (document as { parameters: Record<string, { default?: unknown }> }).parameters;
  return renderCommand(command, (name) => values[name] || String(defaults[name]?.default ?? `sample-${name}`)).text;
};

/** The body of the first quoted here-document in a sh script, ended as POSIX sh ends it. */
const heredocBody = (script: string): { sentinel: string; body: string[] } => {
  const lines = script.split('\n');
  const start = lines.findIndex((line) => /<<\s*'\w+'\s*$/.test(line));
  const sentinel = /<<\s*'(\w+)'\s*$/.exec(lines[start] ?? '')?.[1] ?? '';
  const end = lines.findIndex((line, i) => i > start && line === sentinel);
  return { sentinel, body: lines.slice(start + 1, end < 0 ? undefined : end) };
};

/** The body of the first single-quoted here-string in a PowerShell script, ended as PowerShell ends it. */
const hereStringBody = (script: string): string[] => {
  const lines = script.split('\n');
  const start = lines.findIndex((line) => /@'\s*$/.test(line));
  const end = lines.findIndex(
    (line, i) => i > start && POWERSHELL_SINGLE_QUOTES.includes(line.charAt(0)) && line.charAt(1) === '@',
  );
  return lines.slice(start + 1, end < 0 ? undefined : end);
};

/** What a POSIX shell actually writes for a quoted here-document holding `value`. */
const shellHeredoc = (value: string, sentinel: string): string => {
  const result = spawnSync('sh', ['-c', `cat <<'${sentinel}'\n${value}\n${sentinel}\n`], { encoding: 'utf8' });
  return result.stdout;
};

describe('values that would break out of their script are refused with the family, the field and the fix', () => {
  it('refuses a Chocolatey source holding a single quote', () => {
    // Arrange
    const family = windows({
      install: { chocolatey: { source: "https://feed.example/it's", packages: ['7zip'] } },
    });

    // Act
    const problems = renderedValueProblems(family);

    // Assess
    expect(problems).toEqual([
      expect.stringMatching(
        /^family 'windows-2022-base': install\.chocolatey\.source: 'https:\/\/feed\.example\/it's' holds the quote ', which ends the single-quoted PowerShell string .+\. Fix: percent-encode it in the URL \(' is %27/,
      ),
    ]);
  });

  it('refuses a typographic quote in a Chocolatey source, which PowerShell also ends the string at', () => {
    // Arrange
    const family = windows({
      install: { chocolatey: { source: 'https://feed.example/it\u2019s', packages: [] } },
    });

    // Act
    const problems = renderedValueProblems(family);

    // Assess
    expect(problems).toEqual([expect.stringContaining("family 'windows-2022-base': install.chocolatey.source: ")]);
  });

  it('refuses a Linux install script with a line that is the here-document sentinel', () => {
    // Arrange
    const family = linux({
      install: {
        scripts: [
          { name: 'ok', run: 'echo one' },
          { name: 'breaks out', run: `echo two\n${LINUX_SCRIPT_SENTINEL}\nrm -rf /tmp/x` },
        ],
      },
    });

    // Act
    const problems = renderedValueProblems(family);

    // Assess
    expect(problems).toEqual([
      expect.stringMatching(
        /^family 'al2023-base': install\.scripts\[1\]\.run: line 2 is 'BAKEHOUSE_SCRIPT_END', the line that ends the here-document automation\/bake-linux\.yaml \(step runInstallScript\) .+\. Fix: /,
      ),
    ]);
  });

  it('refuses the sentinel however it is indented, and the pre- and post-script too', () => {
    // Arrange
    const family = linux({ preScript: `  ${LINUX_SCRIPT_SENTINEL}`, postScript: `\t${LINUX_SCRIPT_SENTINEL}\r` });

    // Act
    const problems = renderedValueProblems(family);

    // Assess
    expect(problems).toEqual([
      expect.stringMatching(/^family 'al2023-base': preScript: line 1 is 'BAKEHOUSE_SCRIPT_END'.+Fix: /),
      expect.stringMatching(/^family 'al2023-base': postScript: line 1 is 'BAKEHOUSE_SCRIPT_END'.+Fix: /),
    ]);
  });

  it('refuses a PowerShell script with a line that ends the here-string', () => {
    // Arrange
    const family = windows({ preScript: "Write-Output 'start'\n'@\nRemove-Item C:\\x" });

    // Act
    const problems = renderedValueProblems(family);

    // Assess
    expect(problems).toEqual([
      expect.stringMatching(
        /^family 'windows-2022-base': preScript: line 2 starts with '@, which ends the here-string automation\/bake-windows\.yaml \(step runPreScript\) .+\. Fix: /,
      ),
    ]);
  });

  it('refuses a Linux and a Windows check holding the check marker', () => {
    // Arrange
    const linuxFamilyWithMarker = linux({ tests: [{ name: 'sneaky', run: `true\n${CHECK_MARKER_TEXT}\necho out` }] });
    const windowsFamilyWithMarker = windows({ tests: [{ name: 'sneaky', run: `$true # ${CHECK_MARKER_TEXT}` }] });

    // Act
    const linuxProblems = renderedValueProblems(linuxFamilyWithMarker);
    const windowsProblems = renderedValueProblems(windowsFamilyWithMarker);

    // Assess
    expect(linuxProblems).toEqual([
      expect.stringMatching(
        /^family 'al2023-base': tests\[0\]\.run \('sneaky'\): holds 'BAKEHOUSE_CHECK', the marker .+automation\/test-linux\.yaml.+\. Fix: /,
      ),
    ]);
    expect(windowsProblems).toEqual([
      expect.stringMatching(
        /^family 'windows-2022-base': tests\[0\]\.run \('sneaky'\): holds 'BAKEHOUSE_CHECK'.+Fix: /,
      ),
    ]);
  });

  it('refuses a check holding {{, which SSM would read as a parameter reference', () => {
    // Act
    const problems = renderedValueProblems(linux({ tests: [{ name: 'braces', run: "echo '{{ AmiId }}'" }] }));

    // Assess
    expect(problems).toEqual([expect.stringContaining("tests[0].run ('braces'): holds '{{'")]);
  });

  it('refuses a Windows check that leaves the script block it runs in', () => {
    // Arrange
    const family = windows({
      tests: [
        { name: 'closes early', run: '$true }\nRemove-Item C:\\x\n{' },
        { name: 'open string', run: "Write-Output 'never closed" },
      ],
    });

    // Act
    const problems = renderedValueProblems(family);

    // Assess
    expect(problems).toEqual([
      expect.stringMatching(
        /^family 'windows-2022-base': tests\[0\]\.run \('closes early'\): line 1 has a '}' that closes the script block .+Fix: balance/,
      ),
      expect.stringMatching(
        /^family 'windows-2022-base': tests\[1\]\.run \('open string'\): line 1 opens a string that never closes/,
      ),
    ]);
  });

  it('refuses a package name holding a quote, should the schema ever let one through', () => {
    // Arrange
    const family = structuredClone(linux());
    family.patch.excludePackages = ["kernel'*"];

    // Act
    const problems = renderedValueProblems(family);

    // Assess
    expect(problems).toEqual([
      expect.stringMatching(/^family 'al2023-base': patch\.excludePackages\[0\]: .+single-quoted string .+Fix: /),
    ]);
  });

  it('finds nothing in the shipped configuration', () => {
    // Act
    const problems = loadConfig(shippedConfig).families.flatMap(renderedValueProblems);

    // Assess
    expect(problems).toEqual([]);
  });
});

describe('the PowerShell script-block scanner', () => {
  it.each([
    ["(Get-Service AmazonSSMAgent).Status -eq 'Running'"],
    ["Test-Path 'C:\\Program Files\\7-Zip\\7z.exe'"],
    ['if ($true) { \'a}b\' } else { "c{" }'],
    ['# a comment with }\n$true'],
    ['<# a block comment with } #>\n$true'],
    ["$text = @'\n} not code\n'@\n$text.Length -gt 0"],
    ["'it''s fine' -ne ''"],
    ['Write-Output `}'],
  ])('accepts %j', (run) => {
    expect(scriptBlockProblem(run)).toBeUndefined();
  });

  it.each([
    ['$true }', "line 1 has a '}'"],
    ['if ($true) {', "1 '{' is never closed"],
    ['"open', 'line 1 opens a string that never closes'],
    ['<# open', 'line 1 opens a <# block comment that never closes'],
    ["$x = @'\nno end", 'line 1 opens a here-string that never closes'],
    ['\u2018typographic quote', 'line 1 opens a string that never closes'],
  ])('refuses %j', (run, reason) => {
    expect(scriptBlockProblem(run)).toContain(reason);
  });
});

/** How a `{{ P }}` sits in a command, read from the command itself. */
const embeddingIn = (command: string, parameter: string, powershell: boolean): Embedding | 'other' | undefined => {
  const lines = command.split('\n');
  const reference = new RegExp(`\\{\\{\\s*${parameter}\\s*\\}\\}`);
  const at = lines.findIndex((line) => reference.test(line));
  if (at < 0) return undefined;
  const line = lines[at] as string;
  const before = lines[at - 1] ?? '';
  const after = lines[at + 1] ?? '';
  if (line.trim().replace(/\s+/g, '') === `{{${parameter}}}`) {
    const heredoc = /<<\s*'(\w+)'\s*$/.exec(before);
    if (!powershell && heredoc && after === heredoc[1] && heredoc[1] === LINUX_SCRIPT_SENTINEL) return 'sh-heredoc';
    if (powershell && /@'\s*$/.test(before) && after.startsWith("'@")) return 'ps-here-string';
    return 'other';
  }
  if (new RegExp(`'\\{\\{\\s*${parameter}\\s*\\}\\}'`).test(line)) {
    return powershell ? 'ps-single-quoted' : 'sh-single-quoted';
  }
  return 'other';
};

describe('the embedding model matches the documents', () => {
  it.each([
    ['linux', linux()],
    ['windows', windows()],
  ] as const)('the %s bake document embeds each configuration value as BAKE_EMBEDDINGS says', (os, family) => {
    // Arrange
    const { commands } = bakeDocuments[os];
    const parameters = Object.keys(familyDocumentValues(family));

    // Act: every family parameter referenced in a script, how and where.
    const found: Record<string, { embedding: Embedding | 'other'; steps: string[] }> = {};
    for (const [step, command] of commands) {
      for (const parameter of parameters) {
        const embedding = embeddingIn(command, parameter, os === 'windows');
        if (embedding === undefined) continue;
        const entry = found[parameter] ?? { embedding, steps: [] };
        if (entry.embedding !== embedding) entry.embedding = 'other';
        entry.steps.push(step);
        found[parameter] = entry;
      }
    }

    // Assess: fixed-word parameters (SecurityOnly 'true'/'false') need no entry; all others match.
    const fixedWords = new Set(['SecurityOnly']);
    const modelled = Object.fromEntries(
      Object.entries(BAKE_EMBEDDINGS[os]).map(([p, e]) => [p, { embedding: e.embedding, steps: [...e.steps] }]),
    );
    const textual = Object.fromEntries(Object.entries(found).filter(([p]) => !fixedWords.has(p)));
    expect(textual).toEqual(modelled);
  });

  it('uses the marker of automation/test-documents.ts around checks, in both test templates', () => {
    expect(CHECK_MARKER_TEXT).toBe(CHECK_MARKER);
    const linuxPrototype = commandsOf(loadTestTemplate('linux').document).get('checkExample') ?? '';
    expect(linuxPrototype).toContain(`<<'${CHECK_MARKER_TEXT}'`);
    const windowsPrototype = commandsOf(loadTestTemplate('windows').document).get('checkExample') ?? '';
    expect(windowsPrototype).toMatch(new RegExp(`= \\{ # ${CHECK_MARKER_TEXT}\\n[^]*\\n\\} # ${CHECK_MARKER_TEXT}`));
  });
});

// Lines that probe the edges: sentinels, here-string ends, quotes (typographic too), CR, tabs.
const trickyLine = fc.oneof(
  fc.constantFrom(
    LINUX_SCRIPT_SENTINEL,
    ` ${LINUX_SCRIPT_SENTINEL}`,
    `${LINUX_SCRIPT_SENTINEL} `,
    `\t${LINUX_SCRIPT_SENTINEL}`,
    `${LINUX_SCRIPT_SENTINEL}\r`,
    `${LINUX_SCRIPT_SENTINEL}x`,
    "'@",
    " '@",
    '\u2019@',
    "x'@",
    "'",
    "echo it's",
    '',
    'echo "$HOME" `date`',
    "cat <<'EOF'",
    'EOF',
  ),
  fc.string({
    unit: fc.constantFrom(
      'a',
      'Z',
      '_',
      '$',
      "'",
      '"',
      '@',
      '{',
      '}',
      '#',
      '<',
      ' ',
      '\t',
      '\r',
      '`',
      '\u2018',
      '\u2019',
    ),
    maxLength: 12,
  }),
);
const scriptText = fc.array(trickyLine, { minLength: 1, maxLength: 6 }).map((lines) => lines.join('\n'));

describe('any accepted value leaves the rendered script intact', () => {
  it('a Linux script is exactly the here-document body, and sh writes exactly it', () => {
    fc.assert(
      fc.property(scriptText, scriptText, (pre, install) => {
        // Arrange
        fc.pre(install !== '');
        const family = linux({ preScript: pre, install: { scripts: [{ name: 'step', run: install }] } });
        fc.pre(renderedValueProblems(family).length === 0);

        // Act
        const preBody = heredocBody(renderedStep(family, 'runPreScript'));
        const installBody = heredocBody(renderedStep(family, 'runInstallScript'));

        // Assess
        expect(preBody.sentinel).toBe(LINUX_SCRIPT_SENTINEL);
        expect(preBody.body).toEqual(pre.split('\n'));
        expect(installBody.body).toEqual(familyDocumentValues(family).InstallScript?.split('\n'));
        expect(shellHeredoc(pre, LINUX_SCRIPT_SENTINEL)).toBe(`${pre}\n`);
      }),
      { numRuns: 60 },
    );
  });

  it('a refused sentinel line really would end the here-document early', () => {
    // Arrange
    const value = `echo one\n${LINUX_SCRIPT_SENTINEL}\necho escaped`;

    // Act
    const written = spawnSync('sh', ['-c', `cat <<'${LINUX_SCRIPT_SENTINEL}'\n${value}\n${LINUX_SCRIPT_SENTINEL}\n`], {
      encoding: 'utf8',
    });

    // Assess: the body stopped at line 2 and the rest ran as a command.
    expect(written.stdout).toBe('echo one\nescaped\n');
    expect(renderedValueProblems(linux({ preScript: value }))).toHaveLength(1);
  });

  it('a PowerShell script is exactly the here-string body', () => {
    fc.assert(
      fc.property(scriptText, scriptText, (pre, install) => {
        // Arrange
        fc.pre(install !== '');
        const family = windows({ preScript: pre, install: { scripts: [{ name: 'step', run: install }] } });
        fc.pre(renderedValueProblems(family).length === 0);

        // Act
        const preBody = hereStringBody(renderedStep(family, 'runPreScript'));
        const installBody = hereStringBody(renderedStep(family, 'runInstallScript'));

        // Assess
        expect(preBody).toEqual(pre.split('\n'));
        expect(installBody).toEqual(familyDocumentValues(family).InstallScript?.split('\n'));
      }),
      { numRuns: 100 },
    );
  });

  it('a Chocolatey source is exactly the single-quoted PowerShell string', () => {
    fc.assert(
      fc.property(
        fc.string({
          unit: fc.constantFrom('a', '/', '%', "'", '\u2019', '\u201B', '"', '$', '(', ')', ' ', '`'),
          maxLength: 10,
        }),
        (tail) => {
          // Arrange
          const family = structuredClone(windows());
          const source = `https://feed.example/${tail}`;
          family.install = { ...family.install, chocolatey: { source, packages: ['7zip'] } };
          fc.pre(renderedValueProblems(family).length === 0);

          // Act: the string starts after `$source = '` and ends at the next quote PowerShell reads.
          const command = renderedStep(family, 'installChocolatey');
          const start = command.indexOf("$source = '") + "$source = '".length;
          const end = [...command.slice(start)].findIndex((char) => POWERSHELL_SINGLE_QUOTES.includes(char));

          // Assess
          expect([...command.slice(start)].slice(0, end).join('')).toBe(source);
        },
      ),
      { numRuns: 100 },
    );
  });

  it('a Linux check is exactly the body of its here-document in the rendered test document', () => {
    fc.assert(
      fc.property(scriptText, (run) => {
        // Arrange
        fc.pre(run.trim() !== '');
        const family = linux({ tests: [{ name: 'probe', run }] });
        fc.pre(renderedValueProblems(family).length === 0);

        // Act
        const rendered = renderTestDocument(family, 'linux', 'test');
        const command = commandsOf(rendered.document).get('checkProbe') ?? '';

        // Assess: the document's own embedding normalizes CRLF and drops trailing newlines.
        const expected = run.replace(/\r\n/g, '\n').replace(/\n+$/, '').split('\n');
        expect(heredocBody(command)).toEqual({ sentinel: CHECK_MARKER_TEXT, body: expected });
      }),
      { numRuns: 100 },
    );
  });
});
