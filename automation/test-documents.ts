/**
 * The test automation documents, rendered at synth from the two templates
 * (automation/test-linux.yaml, automation/test-windows.yaml): one document per family with
 * checks, each check its own `aws:runCommand` step with its own name and status, recording its
 * result on the tester for the template's one report step (`reportChecks`), whose Output is the
 * only Run Command output the document keeps.
 *
 * The template's `checkExample` step is the prototype: it is replaced by one copy per check, with
 * the step name from `checkSteps` (also where the prototype's command quotes `'checkExample'`, the
 * name its result is recorded under) and the check's script put between the two `BAKEHOUSE_CHECK`
 * marker lines of its command. The flow around it (launch, waits, report, terminate on every
 * path) is the template's, unchanged.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, stringify } from 'yaml';
import {
  type CheckStep,
  checkSteps,
  type FamilyCheck,
  REPORT_STEP,
  testDocumentBaseName,
} from '../functions/commons/ami-tests';

export type TestOs = 'linux' | 'windows';

/** The template's prototype check step, replaced by the family's checks. */
export const PROTOTYPE_CHECK_STEP = 'checkExample';
/** Marks the first and last line around the check's script in the prototype's command. */
export const CHECK_MARKER = 'BAKEHOUSE_CHECK';

export const TEST_TEMPLATES = { linux: 'test-linux', windows: 'test-windows' } as const satisfies Record<
  TestOs,
  string
>;

/** The parameters both test documents take; TestAmi fills every one of them. */
export const TEST_DOCUMENT_PARAMETERS = [
  'AutomationAssumeRole',
  'AmiId',
  'InstanceType',
  'SubnetId',
  'SecurityGroupIds',
  'InstanceProfileName',
  'BakeId',
  'Family',
  'TesterExpiresAt',
] as const;

/** A check that cannot be rendered; the message names the family, the check and the fix. */
export class TestDocumentError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'TestDocumentError';
  }
}

/** This folder, or the project's `automation/` when SST bundled the stacks to the root. */
const templateDir = (): string => {
  const here = dirname(fileURLToPath(import.meta.url));
  const candidates = [here, join(here, 'automation'), join(process.cwd(), 'automation')];
  return candidates.find((dir) => existsSync(join(dir, `${TEST_TEMPLATES.linux}.yaml`))) ?? here;
};

export const TEST_TEMPLATE_FILES: Readonly<Record<TestOs, string>> = {
  linux: join(templateDir(), `${TEST_TEMPLATES.linux}.yaml`),
  windows: join(templateDir(), `${TEST_TEMPLATES.windows}.yaml`),
};

type Mapping = Record<string, unknown>;

export interface TestTemplate {
  /** The file's text. */
  readonly content: string;
  /** The parsed template, a valid document on its own (its one check is the prototype). */
  readonly document: Mapping;
}

export const loadTestTemplate = (os: TestOs): TestTemplate => {
  const content = readFileSync(TEST_TEMPLATE_FILES[os], 'utf8');
  return { content, document: parse(content) as Mapping };
};

export interface TestFamily {
  readonly name: string;
  readonly tests: readonly FamilyCheck[];
}

export interface RenderedTestDocument {
  /** The deployed name, `bakehouse-<stage>-test-<family>`. */
  readonly name: string;
  /** The document as YAML (what CreateDocument takes). */
  readonly content: string;
  /** The same document, parsed (what CfnDocument takes). */
  readonly document: Mapping;
  /** The checks in order, with the step that runs each. */
  readonly checks: readonly CheckStep[];
}

/** `bakehouse-<stage>-test-<family>`, as `bakehouseNames(stage).document` spells document names. */
export const testDocumentName = (stage: string, family: string): string =>
  `bakehouse-${stage}-${testDocumentBaseName(family)}`;

const problemWith = (family: string, check: FamilyCheck): string | undefined => {
  if (check.run.includes('{{')) {
    return `family '${family}': tests '${check.name}': run contains '{{', which SSM Automation reads as a parameter reference. Fix: write the braces another way (for example a variable holding '{' twice)`;
  }
  if (check.run.includes(CHECK_MARKER)) {
    return `family '${family}': tests '${check.name}': run contains '${CHECK_MARKER}', the marker that delimits checks in the test document. Fix: rename it`;
  }
  return undefined;
};

/** Where the prototype's command names the step its result is recorded under. */
const QUOTED_PROTOTYPE_NAME = `'${PROTOTYPE_CHECK_STEP}'`;

/**
 * The prototype's command for one check: its script between the marker lines, its step name where
 * the prototype quotes its own. Step names are letters and digits (`checkSteps`), so they stay
 * data inside the quotes.
 */
const commandFor = (prototype: string, check: CheckStep): string => {
  const lines = prototype.split('\n');
  const first = lines.findIndex((line) => line.includes(CHECK_MARKER));
  const last = lines.findIndex((line, i) => i > first && line.includes(CHECK_MARKER));
  if (first < 0 || last < 0) {
    throw new TestDocumentError(`the check prototype has no pair of '${CHECK_MARKER}' marker lines`);
  }
  const own = (part: string[]) => part.map((line) => line.replaceAll(QUOTED_PROTOTYPE_NAME, `'${check.stepName}'`));
  const script = check.run.replace(/\r\n/g, '\n').replace(/\n+$/, '').split('\n');
  return [...own(lines.slice(0, first + 1)), ...script, ...own(lines.slice(last))].join('\n');
};

/**
 * The test document of a family: the template of its OS with one check step per test. Throws
 * `TestDocumentError` for a family without tests (it gets no document) or a check that cannot be
 * embedded.
 */
export const renderTestDocument = (family: TestFamily, os: TestOs, stage: string): RenderedTestDocument => {
  if (family.tests.length === 0) {
    throw new TestDocumentError(
      `family '${family.name}' has no tests, so it has no test document: its images pass without one`,
    );
  }
  const problems = family.tests.flatMap((check) => problemWith(family.name, check) ?? []);
  if (problems.length > 0) throw new TestDocumentError(problems.join('\n'));

  const document = structuredClone(loadTestTemplate(os).document);
  const steps = document.mainSteps as Mapping[];
  const at = steps.findIndex((step) => step.name === PROTOTYPE_CHECK_STEP);
  const prototype = steps[at];
  if (!prototype) throw new TestDocumentError(`template ${os}: no '${PROTOTYPE_CHECK_STEP}' step to copy`);
  const prototypeInputs = prototype.inputs as { Parameters: { commands: string[] } };
  const prototypeCommand = prototypeInputs.Parameters.commands[0] ?? '';
  if (prototypeCommand.split(QUOTED_PROTOTYPE_NAME).length !== 2) {
    throw new TestDocumentError(
      `template ${os}: the '${PROTOTYPE_CHECK_STEP}' command must quote its step name (${QUOTED_PROTOTYPE_NAME}) exactly once, where the check records its result`,
    );
  }
  if (!steps.some((step) => step.name === REPORT_STEP)) {
    throw new TestDocumentError(`template ${os}: no '${REPORT_STEP}' step to report the checks`);
  }

  const checks = checkSteps(family.tests);
  const rendered = checks.map((check) => {
    const step = structuredClone(prototype);
    step.name = check.stepName;
    const inputs = step.inputs as { Parameters: { commands: string[] } };
    inputs.Parameters.commands = [commandFor(prototypeCommand, check)];
    return step;
  });
  steps.splice(at, 1, ...rendered);
  document.description = `${String(document.description ?? '')}\n\nFamily **${family.name}**, checks: ${checks
    .map((c) => `${c.name} (\`${c.stepName}\`)`)
    .join(', ')}.`;

  return {
    name: testDocumentName(stage, family.name),
    content: stringify(document, { lineWidth: 0 }),
    document,
    checks,
  };
};
