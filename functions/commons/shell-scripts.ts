/**
 * Every shell script Bakehouse can put on a Linux instance, as the instance receives it, with the
 * origin of each of its lines, so a finding on line 14 of a rendered command can be told back as
 * "install.scripts[1].run line 2" or "automation/bake-linux.yaml step patchPackages line 14".
 *
 * Two kinds of script reach a Linux instance:
 * - the `commands` of each `aws:runCommand` step that runs AWS-RunShellScript in
 *   automation/bake-linux.yaml and in the test template automation/test-linux.yaml, after SSM
 *   has replaced each `{{ Name }}` with the parameter's value as text (plan-bake passes the
 *   family's values from commons/render.ts, leaves out empty ones so the document's default
 *   applies; the test documents get the family's checks at synth, automation/test-documents.ts).
 *   SSM Agent writes the commands to `_script.sh` and runs it with `sh -c`
 *   (aws/amazon-ssm-agent, agent/plugins/runscript/runshellscript.go: shellCommand "sh",
 *   shellArgs ["-c"]), so without a shebang they are POSIX sh: dash on Ubuntu, bash as sh on
 *   Amazon Linux;
 * - the family's own scripts (preScript, install.scripts[].run as the one InstallScript they are
 *   joined into, postScript, tests[].run), which the documents write to a file through a quoted
 *   here-document and run with `bash -e` (sh where there is no bash): bash, unless their shebang
 *   names sh or dash.
 *
 * Synth-time only (it reads the documents from disk); no function bundle imports it.
 */
import { loadBakeDocument } from '../../automation/documents';
import {
  CHECK_MARKER,
  loadTestTemplate,
  PROTOTYPE_CHECK_STEP,
  renderTestDocument,
} from '../../automation/test-documents';
import type { LinuxFamily } from './families';
import { familyDocumentValues, PARAMETER_FIELDS } from './render';

/** The dialects shellcheck is asked to check a script as. */
export type ShellDialect = 'sh' | 'bash' | 'dash';

/** Where one line of a script came from: a field of a family, or a line of a document's command. */
export interface LineOrigin {
  /** The family the line belongs to; absent for lines of a document's own text. */
  readonly family?: string;
  /** `install.scripts[0].run`, or `automation/bake-linux.yaml step patchPackages`. */
  readonly where: string;
  /** 1-based line within `where`. */
  readonly line: number;
  /** The line in the file, for lines of a document (block scalars keep their lines). */
  readonly fileLine?: number;
}

export interface ShellScript {
  /** Unique among the scripts of one check run. */
  readonly id: string;
  /** The family whose values or scripts it holds; absent for a document rendered with its defaults. */
  readonly family?: string;
  /** The script as a whole, for messages: `preScript`, `automation/bake-linux.yaml step runPreScript`. */
  readonly where: string;
  readonly text: string;
  readonly dialect: ShellDialect;
  /** The interpreter a shebang names when it is not a shell Bakehouse can run the script with. */
  readonly foreignShebang?: string;
  /** `origins[n - 1]` is the origin of line n of `text`. */
  readonly origins: readonly LineOrigin[];
}

const SHELLS: Readonly<Record<string, ShellDialect>> = { sh: 'sh', dash: 'dash', bash: 'bash' };

/**
 * The dialect a family script is run as: `bash -e <file>` ignores the shebang, so bash, except
 * that a script saying `#!/bin/sh` or `#!/bin/dash` means to stay portable (and is run by sh on an
 * image without bash), so it is held to that. Any other interpreter is reported: bash would run it.
 */
export const familyScriptDialect = (text: string): { dialect: ShellDialect; foreign?: string } => {
  const first = text.split('\n', 1)[0] ?? '';
  if (!first.startsWith('#!')) return { dialect: 'bash' };
  const words = first.slice(2).trim().split(/\s+/);
  // `#!/usr/bin/env [-S] bash`: the program is the first word after env that is not an option.
  const program = /(^|\/)env$/.test(words[0] ?? '') ? words.slice(1).find((w) => !w.startsWith('-')) : words[0];
  const name = (program ?? '').split('/').pop() ?? '';
  if (name === 'bash' || name === 'ksh') return { dialect: 'bash' };
  const dialect = SHELLS[name];
  return dialect ? { dialect } : { dialect: 'bash', foreign: program ?? first };
};

const linesOf = (text: string): string[] => text.split('\n');

const familyScript = (
  family: string,
  where: string,
  text: string,
  origins: readonly LineOrigin[] = linesOf(text).map((_, i) => ({ family, where, line: i + 1 })),
): ShellScript => {
  const { dialect, foreign } = familyScriptDialect(text);
  return {
    id: `family:${family}:${where}`,
    family,
    where,
    text,
    dialect,
    ...(foreign === undefined ? {} : { foreignShebang: foreign }),
    origins,
  };
};

/**
 * The origins of the lines of the InstallScript parameter: each script's `# bakehouse step:`
 * header, then its lines. Checked against render.ts, so the two never drift apart silently.
 */
const installScriptOrigins = (family: LinuxFamily): LineOrigin[] => {
  const origins: LineOrigin[] = [];
  const parts: string[] = [];
  family.install.scripts.forEach((script, index) => {
    parts.push(`# bakehouse step: ${script.name}`, script.run);
    origins.push({ family: family.name, where: `install.scripts[${index}].name`, line: 1 });
    for (const [i] of linesOf(script.run).entries()) {
      origins.push({ family: family.name, where: `install.scripts[${index}].run`, line: i + 1 });
    }
  });
  const rendered = familyDocumentValues(family).InstallScript ?? '';
  if (parts.join('\n') !== rendered) {
    throw new Error(
      'commons/render.ts joins install.scripts differently than commons/shell-scripts.ts maps them back: update installScriptOrigins',
    );
  }
  return origins;
};

/** The origins of the lines of each script-valued parameter of the bake document. */
const parameterOrigins = (family: LinuxFamily): Record<string, readonly LineOrigin[]> => {
  const values = familyDocumentValues(family);
  const plain = (parameter: string): LineOrigin[] =>
    linesOf(values[parameter] ?? '').map((_, i) => ({
      family: family.name,
      where: PARAMETER_FIELDS[parameter] ?? parameter,
      line: i + 1,
    }));
  return Object.fromEntries(
    Object.keys(values).map((parameter) => [
      parameter,
      parameter === 'InstallScript' ? installScriptOrigins(family) : plain(parameter),
    ]),
  );
};

/** The family's own scripts, as the documents embed them; empty ones are left out. */
export const familyShellScripts = (family: LinuxFamily): ShellScript[] => {
  const scripts: ShellScript[] = [];
  if (family.preScript !== '') scripts.push(familyScript(family.name, 'preScript', family.preScript));
  if (family.install.scripts.length > 0) {
    const text = familyDocumentValues(family).InstallScript ?? '';
    scripts.push(familyScript(family.name, 'install.scripts', text, installScriptOrigins(family)));
  }
  if (family.postScript !== '') scripts.push(familyScript(family.name, 'postScript', family.postScript));
  family.tests.forEach((check, index) => {
    // As automation/test-documents.ts embeds it: CRLF as LF, trailing newlines dropped.
    const text = check.run.replace(/\r\n/g, '\n').replace(/\n+$/, '');
    scripts.push(familyScript(family.name, `tests[${index}].run`, text));
  });
  return scripts;
};

// ---------------------------------------------------------------------------------------------
// The documents' commands, rendered.

/** A `{{ name }}` reference as SSM Automation spells it (spaces inside the braces optional). */
const REFERENCE = /\{\{\s*([^{}]+?)\s*\}\}/g;

/** Stand-ins for references that are not family values: what SSM would put there at run time. */
const SAMPLE_VALUES: Readonly<Record<string, string>> = {
  'automation:EXECUTION_ID': '0f1e2d3c-4b5a-4978-8a9b-0c1d2e3f4a5b',
  BakeId: 'bake-0123456789abcdef',
};

interface Rendered {
  readonly text: string;
  /** Per line: the template line it starts in, or the parameter line when the line is all value. */
  readonly origins: readonly (
    | { kind: 'template'; line: number }
    | { kind: 'value'; parameter: string; line: number }
  )[];
}

/**
 * `{{ Name }}` replaced by `valueOf(Name)` as text, the way SSM interpolates a reference inside
 * longer text, remembering for each rendered line whether any of it is the template's own text.
 */
export const renderCommand = (template: string, lookup: (name: string) => string): Rendered => {
  let text = '';
  // Per character of `text`: the template line (>0) or the negated index into `valueChars`.
  const charOrigin: number[] = [];
  const valueChars: { parameter: string; line: number }[] = [];
  let templateLine = 1;
  let last = 0;
  const addTemplate = (piece: string): void => {
    for (const char of piece) {
      text += char;
      charOrigin.push(templateLine);
      if (char === '\n') templateLine += 1;
    }
  };
  for (const match of template.matchAll(REFERENCE)) {
    addTemplate(template.slice(last, match.index));
    const parameter = match[1] as string;
    let valueLine = 1;
    for (const char of lookup(parameter)) {
      text += char;
      valueChars.push({ parameter, line: valueLine });
      charOrigin.push(-(valueChars.length - 1) - 1);
      if (char === '\n') valueLine += 1;
    }
    last = match.index + match[0].length;
  }
  addTemplate(template.slice(last));

  const origins: Rendered['origins'][number][] = [];
  let start = 0;
  for (const line of text.split('\n')) {
    // The line's own characters; an empty line is judged by its newline.
    const span = charOrigin.slice(start, start + Math.max(line.length, 1));
    const fromTemplate = span.find((origin) => origin > 0);
    const firstValue = span.find((origin) => origin < 0);
    if (fromTemplate !== undefined || firstValue === undefined) {
      origins.push({ kind: 'template', line: fromTemplate ?? templateLine });
    } else {
      const value = valueChars[-firstValue - 1] as { parameter: string; line: number };
      origins.push({ kind: 'value', parameter: value.parameter, line: value.line });
    }
    start += line.length + 1;
  }
  return { text, origins };
};

interface RunShellStep {
  readonly name: string;
  readonly commands: readonly string[];
}

const runShellSteps = (document: unknown): RunShellStep[] => {
  const steps = (document as { mainSteps?: unknown[] } | undefined)?.mainSteps ?? [];
  return steps.flatMap((raw) => {
    const step = raw as { name?: unknown; action?: unknown; inputs?: Record<string, unknown> };
    if (step.action !== 'aws:runCommand' || step.inputs?.DocumentName !== 'AWS-RunShellScript') return [];
    const commands = (step.inputs.Parameters as { commands?: unknown } | undefined)?.commands;
    const list = Array.isArray(commands) ? commands : [commands];
    return [{ name: String(step.name), commands: list.filter((c): c is string => typeof c === 'string') }];
  });
};

/** The file line of line 1 of a step's command: block scalars keep their lines one for one. */
const fileLineOf = (content: string, stepName: string, command: string): number | undefined => {
  const lines = content.split('\n');
  const stepAt = lines.findIndex((line) => new RegExp(`^\\s*-\\s*name:\\s*${stepName}\\s*$`).test(line));
  if (stepAt < 0) return undefined;
  const first = (command.split('\n', 1)[0] ?? '').trim();
  const at = lines.findIndex((line, i) => i > stepAt && line.trim() === first);
  return at < 0 ? undefined : at + 1;
};

interface DocumentSource {
  /** `automation/bake-linux.yaml` */
  readonly file: string;
  readonly content: string;
  readonly document: unknown;
}

const bakeLinuxSource = (): DocumentSource => {
  const { content, document } = loadBakeDocument('linux');
  return { file: 'automation/bake-linux.yaml', content, document };
};

const testLinuxSource = (): DocumentSource => {
  const { content, document } = loadTestTemplate('linux');
  return { file: 'automation/test-linux.yaml', content, document };
};

/** The declared defaults of a document's parameters. */
const defaultsOf = (document: unknown): Record<string, string> => {
  const parameters = (document as { parameters?: Record<string, { default?: unknown }> }).parameters ?? {};
  return Object.fromEntries(
    Object.entries(parameters).flatMap(([name, spec]) =>
      spec.default === undefined
        ? []
        : [[name, Array.isArray(spec.default) ? spec.default.join(',') : String(spec.default)]],
    ),
  );
};

const sampleOf = (name: string, family: string | undefined): string => {
  if (name === 'Family') return family ?? 'al2023-base';
  if (name in SAMPLE_VALUES) return SAMPLE_VALUES[name] as string;
  if (name.endsWith('.InstanceId')) return 'i-0123456789abcdef0';
  return `sample-${name.replace(/[^A-Za-z0-9]/g, '-')}`;
};

const documentScriptsOf = (
  source: DocumentSource,
  templateSource: DocumentSource,
  options: {
    family?: LinuxFamily;
    values?: Record<string, string>;
    valueOrigins?: Record<string, readonly LineOrigin[]>;
    /** Lines of a command that came from a family field rather than a parameter (rendered test checks). */
    embedded?: (step: string, command: string) => ((line: number) => LineOrigin) | undefined;
  } = {},
): ShellScript[] => {
  const defaults = defaultsOf(source.document);
  const familyName = options.family?.name;
  return runShellSteps(source.document).flatMap((step) =>
    step.commands.map((command, index) => {
      const where = `${source.file} step ${step.name}${step.commands.length > 1 ? ` commands[${index}]` : ''}`;
      const lookup = (name: string): string => {
        const value = options.values?.[name];
        // plan-bake leaves empty values out: the document's default applies.
        if (value !== undefined && value !== '') return value;
        return defaults[name] ?? sampleOf(name, familyName);
      };
      const rendered = renderCommand(command, lookup);
      const fileLine = fileLineOf(templateSource.content, step.name, command);
      const embedded = options.embedded?.(step.name, command);
      const origins = rendered.origins.map((origin, i): LineOrigin => {
        const fromField = embedded?.(i + 1);
        if (fromField) return fromField;
        if (origin.kind === 'value') {
          const mapped = options.valueOrigins?.[origin.parameter]?.[origin.line - 1];
          if (mapped) return mapped;
          return {
            ...(familyName === undefined ? {} : { family: familyName }),
            where: PARAMETER_FIELDS[origin.parameter] ?? origin.parameter,
            line: origin.line,
          };
        }
        return {
          where,
          line: origin.line,
          ...(fileLine === undefined ? {} : { fileLine: fileLine + origin.line - 1 }),
        };
      });
      return {
        id: `document:${familyName ?? ''}:${where}`,
        ...(familyName === undefined ? {} : { family: familyName }),
        where,
        text: rendered.text,
        dialect: 'sh' as const,
        origins,
      };
    }),
  );
};

/** The documents' commands, rendered with the documents' defaults (no family). */
export const documentShellScripts = (): ShellScript[] => {
  const bake = bakeLinuxSource();
  const test = testLinuxSource();
  return [...documentScriptsOf(bake, bake), ...documentScriptsOf(test, test)];
};

/**
 * The documents' commands as they run for one family: the bake document with the family's
 * parameter values, the family's rendered test document (when it has checks that render).
 */
export const familyDocumentShellScripts = (family: LinuxFamily): ShellScript[] => {
  const bake = bakeLinuxSource();
  const scripts = documentScriptsOf(bake, bake, {
    family,
    values: familyDocumentValues(family),
    valueOrigins: parameterOrigins(family),
  });
  if (family.tests.length === 0) return scripts;
  let rendered: ReturnType<typeof renderTestDocument>;
  try {
    rendered = renderTestDocument(family, 'linux', 'check');
  } catch {
    // A check that cannot be embedded is refused by renderedValueProblems with its fix.
    return scripts;
  }
  const template = testLinuxSource();
  const prototype = runShellSteps(template.document).find((step) => step.name === PROTOTYPE_CHECK_STEP);
  const prototypeCommand = prototype?.commands[0] ?? '';
  const prototypeLines = prototypeCommand.split('\n');
  // The prototype's closing marker line: a line of the check step after it is that far past it here.
  const prototypeFirst = prototypeLines.findIndex((line) => line.includes(CHECK_MARKER));
  const prototypeLast = prototypeLines.findIndex((line, i) => i > prototypeFirst && line.includes(CHECK_MARKER));
  const prototypeFileLine = fileLineOf(template.content, PROTOTYPE_CHECK_STEP, prototypeCommand);
  const prototypeWhere = `${template.file} step ${PROTOTYPE_CHECK_STEP}`;
  const checkOf = new Map(rendered.checks.map((check, index) => [check.stepName, index]));
  // A check step is the prototype with the check's lines between the two marker lines: those are
  // the check's; the others are the prototype's, reported at the prototype's line.
  const embedded = (step: string, command: string) => {
    const index = checkOf.get(step);
    if (index === undefined) return undefined;
    const lines = command.split('\n');
    const first = lines.findIndex((line) => line.includes(CHECK_MARKER));
    const last = lines.findIndex((line, i) => i > first && line.includes(CHECK_MARKER));
    return (line: number): LineOrigin => {
      if (line - 1 > first && line - 1 < last) {
        return { family: family.name, where: `tests[${index}].run`, line: line - 1 - first };
      }
      const at = line - 1 >= last ? line - 1 - last + prototypeLast + 1 : line;
      return {
        where: prototypeWhere,
        line: at,
        ...(prototypeFileLine === undefined ? {} : { fileLine: prototypeFileLine + at - 1 }),
      };
    };
  };
  const testScripts = documentScriptsOf(
    { file: template.file, content: rendered.content, document: rendered.document },
    template,
    { family, embedded },
  );
  return [...scripts, ...testScripts];
};
