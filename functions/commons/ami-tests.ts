/**
 * What the AMI tests share: how a family's checks (`tests: [{ name, run }]`) become steps of its
 * test automation, for the renderer (automation/test-documents.ts, at synth) and TestResult (which
 * maps the steps it reads back to the checks' names); the tester role and `bakehouse:tested`
 * values TestAmi and TestResult tag with; and the ports both functions are given. Free of I/O, so
 * a function bundle can carry it.
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
