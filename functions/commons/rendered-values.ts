/**
 * Configuration values that end up inside a script on the instance must stay data: a value that
 * closes the quote or the here-document around it turns the rest of itself into commands of the
 * document (and the document's own lines after it into garbage). This module knows how each value
 * is embedded and refuses, at validation, the values that would break out, naming the family, the
 * field and the fix.
 *
 * How each value is embedded (test/unit/rendered-values.test.ts checks this table against the
 * documents as they are, so a change to a document that embeds a value differently fails there):
 *
 * | value | document | embedded in | what ends it |
 * | --- | --- | --- | --- |
 * | Linux preScript, install.scripts[].run, postScript | bake-linux.yaml | quoted here-document `<<'BAKEHOUSE_SCRIPT_END'` | a line that is the sentinel |
 * | Linux patch.includePackages, patch.excludePackages, install.packages | bake-linux.yaml | single-quoted sh string | a `'` |
 * | Linux tests[].run | test-linux.yaml (at synth) | quoted here-document between `BAKEHOUSE_CHECK` markers | the marker, `{{` (a parameter reference to SSM) |
 * | Windows preScript, install.scripts[].run, postScript | bake-windows.yaml | single-quoted here-string `@'` … `'@` | a line starting with `'@` |
 * | Windows install.chocolatey.source, .packages | bake-windows.yaml | single-quoted PowerShell string | a `'` |
 * | Windows patch.categories, .severityLevels, .includeKbs, .excludeKbs | bake-windows.yaml | single-quoted PowerShell string | a `'` |
 * | Windows tests[].run | test-windows.yaml (at synth) | a script block `{ … }` between `BAKEHOUSE_CHECK` markers | an unbalanced `}`, an unclosed string, comment or brace, the marker, `{{` |
 *
 * PowerShell takes the typographic single quotes ‘ ’ ‚ ‛ for `'` (and “ ” „ for `"`) everywhere it
 * takes the plain ones ("about_Quoting_Rules",
 * https://learn.microsoft.com/powershell/module/microsoft.powershell.core/about/about_quoting_rules),
 * so they count as quotes here. The Windows Update lists hold only the schema's fixed words and KB
 * ids today; they are checked all the same, so a looser schema cannot open a way out.
 *
 * Pure and free of I/O: families.ts runs it in every validation, including a function's.
 */
import type { Family, LinuxFamily, WindowsFamily } from './families';

/** The sentinel of the here-documents the Linux bake document writes user scripts through. */
export const LINUX_SCRIPT_SENTINEL = 'BAKEHOUSE_SCRIPT_END';
/** The marker lines around a check in the test templates (automation/test-documents.ts CHECK_MARKER). */
export const CHECK_MARKER_TEXT = 'BAKEHOUSE_CHECK';

/** Every character PowerShell reads as a single quote. */
export const POWERSHELL_SINGLE_QUOTES = "'\u2018\u2019\u201A\u201B";
/** Every character PowerShell reads as a double quote. */
export const POWERSHELL_DOUBLE_QUOTES = '"\u201C\u201D\u201E';

/** How a value sits in a script. */
export type Embedding = 'sh-single-quoted' | 'sh-heredoc' | 'ps-single-quoted' | 'ps-here-string';

/**
 * Parameters of the bake documents that carry configuration text, how each is embedded and in
 * which steps. Parameters not listed (SecurityOnly, Windows Update settings) carry fixed words.
 */
export const BAKE_EMBEDDINGS: Readonly<
  Record<Family['os'], Readonly<Record<string, { embedding: Embedding; steps: readonly string[] }>>>
> = {
  linux: {
    PreScript: { embedding: 'sh-heredoc', steps: ['runPreScript'] },
    InstallScript: { embedding: 'sh-heredoc', steps: ['runInstallScript'] },
    PostScript: { embedding: 'sh-heredoc', steps: ['runPostScript'] },
    IncludePackages: { embedding: 'sh-single-quoted', steps: ['patchPackages'] },
    ExcludePackages: { embedding: 'sh-single-quoted', steps: ['patchPackages'] },
    InstallPackages: { embedding: 'sh-single-quoted', steps: ['installPackages'] },
  },
  windows: {
    PreScript: { embedding: 'ps-here-string', steps: ['runPreScript'] },
    InstallScript: { embedding: 'ps-here-string', steps: ['runInstallScript'] },
    PostScript: { embedding: 'ps-here-string', steps: ['runPostScript'] },
    ChocolateySource: { embedding: 'ps-single-quoted', steps: ['installChocolatey', 'installChocolateyPackages'] },
    ChocolateyPackages: { embedding: 'ps-single-quoted', steps: ['installChocolatey', 'installChocolateyPackages'] },
    UpdateCategories: { embedding: 'ps-single-quoted', steps: ['installWindowsUpdates'] },
    UpdateSeverityLevels: { embedding: 'ps-single-quoted', steps: ['installWindowsUpdates'] },
    IncludeKbs: { embedding: 'ps-single-quoted', steps: ['installWindowsUpdates'] },
    ExcludeKbs: { embedding: 'ps-single-quoted', steps: ['installWindowsUpdates'] },
  },
};

const lines = (text: string): string[] => text.split('\n');

/** Whether `char` is one of `set` (never for the empty string past the end of a text). */
const isOneOf = (set: string, char: string): boolean => char.length === 1 && set.includes(char);

/** Lines (1-based) that would end a quoted here-document with this sentinel, however indented. */
export const sentinelLines = (text: string, sentinel: string): number[] =>
  lines(text).flatMap((line, i) => (line.trim() === sentinel ? [i + 1] : []));

/** Lines (1-based) that would end a single-quoted PowerShell here-string (`'@` first on the line). */
export const hereStringEndLines = (text: string): number[] =>
  lines(text).flatMap((line, i) => {
    const start = line.trimStart();
    return isOneOf(POWERSHELL_SINGLE_QUOTES, start.charAt(0)) && start.charAt(1) === '@' ? [i + 1] : [];
  });

const firstPowerShellQuote = (text: string): string | undefined =>
  [...text].find((char) => isOneOf(POWERSHELL_SINGLE_QUOTES, char));

const COMMENT_START = /[\s;({}|]/;

/**
 * Why a PowerShell check would not stay inside the script block `{ … }` it is put in, or
 * undefined. A small scanner, not a parser: it skips strings (single, double, here-strings, with
 * PowerShell's escapes), comments (`#`, `<# … #>`) and backtick escapes, and counts braces. It can
 * refuse a check PowerShell would take (a brace inside `$( … )` in a double-quoted string that
 * itself holds quotes); it does not accept one that leaves the block.
 */
export const scriptBlockProblem = (text: string): string | undefined => {
  let depth = 0;
  let i = 0;
  const at = (n: number): string => text.charAt(n);
  const lineOf = (n: number): number => text.slice(0, n).split('\n').length;
  while (i < text.length) {
    const char = at(i);
    if (char === '`') {
      i += 2;
      continue;
    }
    if (char === '<' && at(i + 1) === '#') {
      const end = text.indexOf('#>', i + 2);
      if (end < 0) return `line ${lineOf(i)} opens a <# block comment that never closes`;
      i = end + 2;
      continue;
    }
    if (char === '#' && (i === 0 || COMMENT_START.test(at(i - 1)))) {
      const end = text.indexOf('\n', i);
      i = end < 0 ? text.length : end;
      continue;
    }
    const next = at(i + 1);
    if (char === '@' && (isOneOf(POWERSHELL_SINGLE_QUOTES, next) || isOneOf(POWERSHELL_DOUBLE_QUOTES, next))) {
      const rest = text.slice(i + 2);
      const newline = rest.indexOf('\n');
      if (newline >= 0 && rest.slice(0, newline).trim() === '') {
        const quotes = isOneOf(POWERSHELL_SINGLE_QUOTES, next) ? POWERSHELL_SINGLE_QUOTES : POWERSHELL_DOUBLE_QUOTES;
        let offset = i + 2 + newline + 1;
        let closed = false;
        while (offset <= text.length) {
          const end = text.indexOf('\n', offset);
          const line = text.slice(offset, end < 0 ? text.length : end);
          if (isOneOf(quotes, line.charAt(0)) && line.charAt(1) === '@') {
            i = offset + 2;
            closed = true;
            break;
          }
          if (end < 0) break;
          offset = end + 1;
        }
        if (!closed) return `line ${lineOf(i)} opens a here-string that never closes`;
        continue;
      }
    }
    if (isOneOf(POWERSHELL_SINGLE_QUOTES, char) || isOneOf(POWERSHELL_DOUBLE_QUOTES, char)) {
      const quotes = isOneOf(POWERSHELL_SINGLE_QUOTES, char) ? POWERSHELL_SINGLE_QUOTES : POWERSHELL_DOUBLE_QUOTES;
      const expands = quotes === POWERSHELL_DOUBLE_QUOTES;
      let j = i + 1;
      let closed = false;
      while (j < text.length) {
        const c = at(j);
        if (expands && c === '`') {
          j += 2;
          continue;
        }
        if (isOneOf(quotes, c)) {
          // A doubled quote is an escaped one.
          if (isOneOf(quotes, at(j + 1))) {
            j += 2;
            continue;
          }
          closed = true;
          break;
        }
        j += 1;
      }
      if (!closed) return `line ${lineOf(i)} opens a string that never closes`;
      i = j + 1;
      continue;
    }
    if (char === '{') depth += 1;
    if (char === '}') {
      depth -= 1;
      if (depth < 0) return `line ${lineOf(i)} has a '}' that closes the script block the check runs in`;
    }
    i += 1;
  }
  return depth > 0 ? `${depth} '{' ${depth === 1 ? 'is' : 'are'} never closed` : undefined;
};

/** The install.scripts, preScript and postScript fields with their values. */
const scriptFields = (family: Family): { field: string; value: string; step: string }[] => [
  { field: 'preScript', value: family.preScript, step: 'runPreScript' },
  ...family.install.scripts.map((script, index) => ({
    field: `install.scripts[${index}].run`,
    value: script.run,
    step: 'runInstallScript',
  })),
  { field: 'postScript', value: family.postScript, step: 'runPostScript' },
];

const linuxProblems = (family: LinuxFamily, who: string): string[] => {
  const problems: string[] = [];
  for (const { field, value, step } of scriptFields(family)) {
    for (const line of sentinelLines(value, LINUX_SCRIPT_SENTINEL)) {
      problems.push(
        `${who}: ${field}: line ${line} is '${LINUX_SCRIPT_SENTINEL}', the line that ends the here-document automation/bake-linux.yaml (step ${step}) writes the script through, so the rest of the script would run as the document's own commands. Fix: change that line (quote or rename the word), or name your own here-documents otherwise`,
      );
    }
  }
  const lists: [string, readonly string[], string][] = [
    ['patch.includePackages', family.patch.includePackages, 'patchPackages'],
    ['patch.excludePackages', family.patch.excludePackages, 'patchPackages'],
    ['install.packages', family.install.packages, 'installPackages'],
  ];
  for (const [field, values, step] of lists) {
    values.forEach((value, index) => {
      if (value.includes("'")) {
        problems.push(
          `${who}: ${field}[${index}]: '${value}' holds a single quote, which ends the single-quoted string automation/bake-linux.yaml (step ${step}) puts the list in. Fix: use the package name alone, without quotes`,
        );
      }
    });
  }
  return problems;
};

const windowsProblems = (family: WindowsFamily, who: string): string[] => {
  const problems: string[] = [];
  for (const { field, value, step } of scriptFields(family)) {
    for (const line of hereStringEndLines(value)) {
      problems.push(
        `${who}: ${field}: line ${line} starts with '@, which ends the here-string automation/bake-windows.yaml (step ${step}) writes the script through, so the rest of the script would run as the document's own commands. Fix: make that line start with something else, for example build the text as "'" + '@' inside the script`,
      );
    }
  }
  const chocolatey = family.install.chocolatey;
  const quoted: [field: string, value: string, where: string, fix: string][] = [];
  const packageFix = 'Fix: use the package id alone, without quotes';
  if (chocolatey) {
    const steps = 'steps installChocolatey and installChocolateyPackages';
    quoted.push([
      'install.chocolatey.source',
      chocolatey.source,
      steps,
      "Fix: percent-encode it in the URL (' is %27, ‘ is %E2%80%98, ’ is %E2%80%99)",
    ]);
    chocolatey.packages.forEach((value, index) => {
      quoted.push([`install.chocolatey.packages[${index}]`, value, steps, packageFix]);
    });
  }
  const lists: [string, readonly string[]][] = [
    ['patch.categories', family.patch.categories],
    ['patch.severityLevels', family.patch.severityLevels],
    ['patch.includeKbs', family.patch.includeKbs],
    ['patch.excludeKbs', family.patch.excludeKbs],
  ];
  for (const [field, values] of lists) {
    values.forEach((value, index) => {
      quoted.push([`${field}[${index}]`, value, 'step installWindowsUpdates', 'Fix: use the plain word or KB id']);
    });
  }
  for (const [field, value, where, fix] of quoted) {
    const quote = firstPowerShellQuote(value);
    if (quote !== undefined) {
      problems.push(
        `${who}: ${field}: '${value}' holds the quote ${quote}, which ends the single-quoted PowerShell string automation/bake-windows.yaml (${where}) puts it in. ${fix}`,
      );
    }
  }
  return problems;
};

const checkProblems = (family: Family, who: string): string[] => {
  const document = family.os === 'linux' ? 'automation/test-linux.yaml' : 'automation/test-windows.yaml';
  return family.tests.flatMap((check, index) => {
    const field = `tests[${index}].run ('${check.name}')`;
    const problems: string[] = [];
    if (check.run.includes(CHECK_MARKER_TEXT)) {
      problems.push(
        `${who}: ${field}: holds '${CHECK_MARKER_TEXT}', the marker that delimits each check in ${document}${family.os === 'linux' ? ' and ends the here-document the check is written through' : ''}. Fix: spell the word another way (for example 'BAKEHOUSE''_CHECK')`,
      );
    }
    if (check.run.includes('{{')) {
      problems.push(
        `${who}: ${field}: holds '{{', which SSM Automation reads as a parameter reference in ${document}. Fix: write the braces another way (for example a variable holding '{' twice)`,
      );
    }
    if (family.os === 'windows') {
      const problem = scriptBlockProblem(check.run);
      if (problem !== undefined) {
        problems.push(
          `${who}: ${field}: ${problem}, so the check would not stay inside the script block { … } ${document} runs it in. Fix: balance the braces and close every string and comment`,
        );
      }
    }
    return problems;
  });
};

/**
 * The family's values that would break out of the script they are rendered into, as problem
 * strings naming the family, the field and the fix. Empty when every value stays data.
 */
export const renderedValueProblems = (family: Family): string[] => {
  const who = `family '${family.name}'`;
  const own = family.os === 'linux' ? linuxProblems(family, who) : windowsProblems(family, who);
  return [...own, ...checkProblems(family, who)];
};
