/**
 * What the AMI tests share: how a family's checks (`tests: [{ name, run }]`) become steps of its
 * test automation, for the renderer (automation/test-documents.ts, at synth) and TestResult (which
 * maps the steps it reads back to the checks' names); the report the documents' last step prints
 * and TestResult reads (`reportChecks`, its format and parser); the tester role and
 * `bakehouse:tested` values TestAmi and TestResult tag with; and the ports both functions are
 * given. Free of I/O, so a function bundle can carry it.
 */
import type { EC2Client } from '@aws-sdk/client-ec2';
import type { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import type { SSMClient } from '@aws-sdk/client-ssm';
import type { BakehouseConfig } from './families';
import type { LogPort } from './powertools';
import type { EventTarget } from './publish';

/** Every check step's name starts with this; no fixed step of the test documents does. */
export const CHECK_STEP_PREFIX = 'check';

/** Step names are kept short and to letters and digits (the fixed steps of the templates look the same). */
export const MAX_CHECK_STEP_NAME_LENGTH = 64;

/** The test document of a family is deployed as `<names.document(prefix + family)>`. */
export const TEST_DOCUMENT_BASE_PREFIX = 'test-';

export const testDocumentBaseName = (family: string): string => `${TEST_DOCUMENT_BASE_PREFIX}${family}`;

export interface FamilyCheck {
  readonly name: string;
  readonly run: string;
}

export interface CheckStep extends FamilyCheck {
  /** The automation step that runs the check: `check` + the name in PascalCase, unique. */
  readonly stepName: string;
}

const pascalWords = (name: string): string =>
  name
    .split(/[^A-Za-z0-9]+/)
    .filter(Boolean)
    .map((word) => word.charAt(0).toUpperCase() + word.slice(1))
    .join('');

/**
 * The step of each check, in order: `ssm agent running` → `checkSsmAgentRunning`. Names that
 * collide once spelled this way (`jq present`, `jq-present`) get a counter: `checkJqPresent2`.
 */
export const checkSteps = (checks: readonly FamilyCheck[]): CheckStep[] => {
  const used = new Set<string>();
  return checks.map((check) => {
    const base = `${CHECK_STEP_PREFIX}${pascalWords(check.name) || 'Unnamed'}`.slice(0, MAX_CHECK_STEP_NAME_LENGTH);
    let stepName = base;
    for (let n = 2; used.has(stepName.toLowerCase()); n += 1) {
      const suffix = String(n);
      stepName = `${base.slice(0, MAX_CHECK_STEP_NAME_LENGTH - suffix.length)}${suffix}`;
    }
    used.add(stepName.toLowerCase());
    return { name: check.name, run: check.run, stepName };
  });
};

/** Whether a step of a test automation is one of its checks. */
export const isCheckStepName = (stepName: string): boolean =>
  stepName.length > CHECK_STEP_PREFIX.length &&
  stepName.startsWith(CHECK_STEP_PREFIX) &&
  /^[A-Z0-9]$/.test(stepName.charAt(CHECK_STEP_PREFIX.length));

/**
 * The step that ends every test document's checks: it prints the results the checks recorded on
 * the tester as one compact report. Automation supports the output of only one Run Command action
 * per runbook ("A runbook can include multiple Run Command actions, but output is supported for
 * only one action at a time",
 * https://docs.aws.amazon.com/systems-manager/latest/userguide/automation-action-runcommand.html),
 * and a Run Command plugin's Output is at most 2,500 characters
 * (https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_CommandPlugin.html), so
 * this step's Output is the one the test documents keep and the report stays under that.
 */
export const REPORT_STEP = 'reportChecks';

/** The document output that holds the report (`<step>.Output`). */
export const REPORT_OUTPUT = `${REPORT_STEP}.Output`;

/** The first line of a report; a later format gets another number. */
export const CHECK_REPORT_HEADER = 'bakehouse-checks 1';

/** Most characters the report step prints, below Run Command's 2,500 with room to spare. */
export const CHECK_REPORT_LIMIT = 2_400;

/** One check as the report gives it: the exit code its script returned and the last part of its output. */
export interface ReportedCheck {
  readonly stepName: string;
  readonly exitCode: number;
  readonly output: string;
}

export interface CheckReport {
  readonly checks: ReadonlyMap<string, ReportedCheck>;
  /** Checks recorded on the tester that did not fit in the report. */
  readonly more: number;
}

const ENTRY_LINE = /^(check[A-Za-z0-9]+) (-?\d+) (\d+)$/;
const MORE_LINE = /^more (\d+)$/;

/**
 * Reads the report step's Output:
 *
 * ```
 * bakehouse-checks 1
 * <step> <exit code> <n>     then the last n lines of the check's output, as recorded
 * ...
 * more <count>               when some checks did not fit
 * ```
 *
 * Undefined when the text is not a report (the step failed or never ran). A report the agent cut
 * keeps the entries that arrived whole; the lines of one check's output are taken by count, so
 * output that looks like an entry line stays output.
 */
export const parseCheckReport = (text: string | undefined): CheckReport | undefined => {
  if (text === undefined) return undefined;
  const lines = text.replace(/\r\n/g, '\n').split('\n');
  const start = lines.findIndex((line) => line.trim() === CHECK_REPORT_HEADER);
  if (start < 0) return undefined;
  const checks = new Map<string, ReportedCheck>();
  let more = 0;
  let i = start + 1;
  while (i < lines.length) {
    const line = lines[i] ?? '';
    const entry = ENTRY_LINE.exec(line);
    if (entry) {
      const [, stepName = '', code = '', count = ''] = entry;
      const body = lines.slice(i + 1, i + 1 + Number(count));
      if (body.length < Number(count)) break;
      // A cut at a byte boundary inside a character arrives as replacement characters.
      const output = body.join('\n').replace(/^\uFFFD+/, '');
      checks.set(stepName, { stepName, exitCode: Number(code), output });
      i += 1 + body.length;
      continue;
    }
    const rest = MORE_LINE.exec(line);
    if (rest) more = Number(rest[1]);
    i += 1;
  }
  return { checks, more };
};

/** `bakehouse:role` of the instances the test automations launch. */
export const TESTER_ROLE = 'tester';

/** Values of `bakehouse:tested` on an image. */
export const TestedStatus = { Running: 'running', Passed: 'passed', Failed: 'failed' } as const;
export type TestedStatus = (typeof TestedStatus)[keyof typeof TestedStatus];

/** The ports of TestAmi and TestResult; `documentPrefix` plus the family name is a family's test document. */
export interface AmiTestDeps {
  readonly config: BakehouseConfig;
  readonly ec2: Pick<EC2Client, 'send'>;
  readonly ssm: Pick<SSMClient, 'send'>;
  readonly events: Pick<EventBridgeClient, 'send'>;
  readonly target: EventTarget;
  readonly clock: () => Date;
  readonly logger: LogPort;
  /** `bakehouse-<stage>-test-`: only executions of these documents are test automations. */
  readonly documentPrefix: string;
}
