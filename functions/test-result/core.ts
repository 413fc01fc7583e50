/**
 * Target of SSM's status-change event for the test automations: reads the ended execution and its
 * steps, turns each check step into `{ name, passed, output }`, tags the image
 * `bakehouse:tested=passed|failed` and publishes `AMI Tested`.
 *
 * Whether a check passed is its step's status. Its output comes from the report the document's
 * `reportChecks` step prints: Automation keeps the output of one Run Command action per runbook
 * (https://docs.aws.amazon.com/systems-manager/latest/userguide/automation-action-runcommand.html),
 * so the check steps' own Outputs are not read. Without a report (the tester died, the step
 * failed), a failed check says why from its step (status, FailureMessage) and a passed one is
 * empty.
 *
 * Order of writes, so that no result is lost and none is applied twice: the result tags first
 * (tested, test-execution-id: consumers may read them as soon as the event arrives), then the
 * event, then `tested-at`. A redelivery that finds all three for this execution does nothing; one
 * that finds `tested-at` missing publishes again (at least once, never zero times).
 */
import { CreateTagsCommand, DescribeImagesCommand, type Image } from '@aws-sdk/client-ec2';
import {
  type AutomationExecution,
  DescribeAutomationStepExecutionsCommand,
  GetAutomationExecutionCommand,
  type StepExecution,
} from '@aws-sdk/client-ssm';
import {
  type AmiTestDeps,
  type CheckReport,
  checkSteps,
  isCheckStepName,
  parseCheckReport,
  REPORT_OUTPUT,
  REPORT_STEP,
  type ReportedCheck,
  TestedStatus,
} from '../commons/ami-tests';
import { isTerminal, SUCCEEDED_STATUSES } from '../commons/automation-status';
import { Tag } from '../commons/bake-plan';
import { errorNameOf, InvalidEventError } from '../commons/errors';
import {
  type AmiTested,
  amiTestedSchema,
  type CheckResult,
  DetailType,
  describeIssues,
  EVENT_VERSION,
  parseContract,
  SSM_AUTOMATION_STATUS_DETAIL_TYPE,
  SSM_EVENT_SOURCE,
} from '../commons/events';
import { findFamily } from '../commons/family-lookup';
import { eachPage } from '../commons/pages';
import { publishEvent } from '../commons/publish';
import { TestNotFinishedError } from './errors';

export type TestResultDeps = AmiTestDeps;

export type TestResultOutcome =
  | { readonly outcome: 'recorded'; readonly passed: boolean; readonly eventId: string }
  | { readonly outcome: 'already-recorded'; readonly tested: string }
  | { readonly outcome: 'superseded'; readonly currentExecutionId: string }
  | { readonly outcome: 'image-gone'; readonly amiId: string };

/** Most characters of a check's output carried in `AMI Tested` (Slack shows it). */
export const MAX_CHECK_OUTPUT = 500;

export const trimOutput = (text: string): string => {
  const clean = text.trim();
  return clean.length > MAX_CHECK_OUTPUT ? `${clean.slice(0, MAX_CHECK_OUTPUT - 1)}…` : clean;
};

/** The end of a check's reported output: where a failing script says why. */
export const trimOutputTail = (text: string): string => {
  const clean = text.trim();
  return clean.length > MAX_CHECK_OUTPUT ? `…${clean.slice(clean.length - (MAX_CHECK_OUTPUT - 1))}` : clean;
};

interface StatusDetail {
  readonly executionId: string;
  readonly definition: string;
  readonly status: string;
}

/** Reads SSM's status-change event; anything else is rejected naming the field. */
export const parseStatusEvent = (event: unknown, documentPrefix: string): StatusDetail => {
  const envelope = (event ?? {}) as { id?: unknown; source?: unknown; 'detail-type'?: unknown; detail?: unknown };
  const label = `${String(envelope['detail-type'] ?? '(no detail-type)')} ${String(envelope.id ?? '(no id)')}`;
  const problems: string[] = [];
  if (envelope.source !== SSM_EVENT_SOURCE) problems.push(`source: expected '${SSM_EVENT_SOURCE}'`);
  if (envelope['detail-type'] !== SSM_AUTOMATION_STATUS_DETAIL_TYPE) {
    problems.push(`detail-type: expected '${SSM_AUTOMATION_STATUS_DETAIL_TYPE}'`);
  }
  const detail = (typeof envelope.detail === 'object' && envelope.detail !== null ? envelope.detail : {}) as Record<
    string,
    unknown
  >;
  const text = (field: string): string => {
    const value = detail[field];
    if (typeof value !== 'string' || value === '') {
      problems.push(`detail.${field}: must be a non-empty string`);
      return '';
    }
    return value;
  };
  const executionId = text('ExecutionId');
  const definition = text('Definition');
  const status = text('Status');
  if (definition && !definition.startsWith(documentPrefix)) {
    problems.push(`detail.Definition: '${definition}' is not a test document (${documentPrefix}<family>)`);
  }
  if (status && !isTerminal(status)) problems.push(`detail.Status: '${status}' is not a final status`);
  if (problems.length > 0) {
    throw new InvalidEventError(
      `rejected ${label}: ${problems.join('; ')}. Fix: route only ended test automations here`,
    );
  }
  return { executionId, definition, status };
};

const parameter = (execution: AutomationExecution, name: string): string => {
  const value = execution.Parameters?.[name]?.[0];
  if (!value) {
    throw new InvalidEventError(
      `automation ${execution.AutomationExecutionId ?? '?'}: parameter ${name} is missing, so it is not a Bakehouse test automation`,
    );
  }
  return value;
};

const listSteps = async (ssm: TestResultDeps['ssm'], executionId: string): Promise<StepExecution[]> => {
  const steps: StepExecution[] = [];
  for await (const page of eachPage((NextToken) =>
    ssm.send(new DescribeAutomationStepExecutionsCommand({ AutomationExecutionId: executionId, NextToken })),
  )) {
    steps.push(...(page.StepExecutions ?? []));
  }
  return steps;
};

const FAILED_STEP_STATUSES = new Set(['Failed', 'TimedOut', 'Cancelled']);

/** Why checks did not run: the first non-check step that did not succeed, or the execution's status. */
const whyNotRun = (execution: AutomationExecution, steps: readonly StepExecution[]): string => {
  const stopped = steps.find((s) => !isCheckStepName(s.StepName ?? '') && FAILED_STEP_STATUSES.has(s.StepStatus ?? ''));
  const status = execution.AutomationExecutionStatus ?? 'without a status';
  return stopped
    ? `did not run: the automation stopped at ${stopped.StepName} (${stopped.StepStatus}): ${stopped.FailureMessage ?? ''}`.trim()
    : `did not run: the automation ended ${status}`;
};

const resultOf = (
  name: string,
  step: StepExecution | undefined,
  reported: ReportedCheck | undefined,
  notRun: string,
): CheckResult => {
  const status = step?.StepStatus;
  const output = reported ? trimOutputTail(reported.output) : '';
  if (status === 'Success') return { name, passed: true, output };
  if (!step || !status || status === 'Pending' || status === 'InProgress') {
    return { name, passed: false, output: trimOutput(notRun) };
  }
  if (output !== '') return { name, passed: false, output };
  const why =
    step.FailureMessage ?? step.FailureDetails?.FailureType ?? `step ${step.StepName ?? name} ended ${status}`;
  return { name, passed: false, output: trimOutput(`${status}: ${why}`) };
};

/**
 * The report `reportChecks` printed: the execution's output `reportChecks.Output` (the document
 * declares it), else the step's own Output; undefined when neither is a report.
 */
export const reportOf = (execution: AutomationExecution, steps: readonly StepExecution[]): CheckReport | undefined => {
  const declared = execution.Outputs?.[REPORT_OUTPUT]?.[0];
  const step = steps.find((s) => s.StepName === REPORT_STEP)?.Outputs?.Output?.[0];
  return parseCheckReport(declared) ?? parseCheckReport(step);
};

/**
 * One result per check: the family's checks in their order (a check whose step never ran failed),
 * then any other check step the execution ran (a check the configuration no longer has). Passed
 * is the check step's status; the output is the check's entry in the report.
 */
export const buildResults = (
  execution: AutomationExecution,
  steps: readonly StepExecution[],
  checks: readonly { readonly name: string; readonly stepName: string }[],
): CheckResult[] => {
  const byStep = new Map<string, StepExecution>();
  for (const step of steps) if (step.StepName) byStep.set(step.StepName, step);
  const reported = reportOf(execution, steps)?.checks;
  const notRun = whyNotRun(execution, steps);
  const expected = new Set(checks.map((c) => c.stepName));
  const extra = [...byStep.keys()].filter((name) => isCheckStepName(name) && !expected.has(name));
  return [
    ...checks.map((check) => resultOf(check.name, byStep.get(check.stepName), reported?.get(check.stepName), notRun)),
    ...extra.map((name) => resultOf(name, byStep.get(name), reported?.get(name), notRun)),
  ];
};

const describeImage = async (ec2: TestResultDeps['ec2'], amiId: string): Promise<Image | undefined> => {
  try {
    const result = await ec2.send(new DescribeImagesCommand({ ImageIds: [amiId] }));
    return result.Images?.find((image) => image.ImageId === amiId);
  } catch (error) {
    if (errorNameOf(error) === 'InvalidAMIID.NotFound' || errorNameOf(error) === 'InvalidAMIID.Unavailable') {
      return undefined;
    }
    throw error;
  }
};

export const recordTestResult = async (event: unknown, deps: TestResultDeps): Promise<TestResultOutcome> => {
  let status: StatusDetail;
  try {
    status = parseStatusEvent(event, deps.documentPrefix);
  } catch (error) {
    if (error instanceof InvalidEventError) deps.logger.error('rejected event', { reason: error.message });
    throw error;
  }
  const { executionId } = status;

  const execution = (await deps.ssm.send(new GetAutomationExecutionCommand({ AutomationExecutionId: executionId })))
    .AutomationExecution;
  const executionStatus = execution?.AutomationExecutionStatus;
  if (!execution || !isTerminal(executionStatus)) {
    throw new TestNotFinishedError(`test automation ${executionId} is ${executionStatus ?? 'unknown'}, not ended`);
  }
  let amiId: string;
  let bakeId: string;
  let familyName: string;
  try {
    amiId = parameter(execution, 'AmiId');
    bakeId = parameter(execution, 'BakeId');
    familyName = parameter(execution, 'Family');
  } catch (error) {
    if (error instanceof InvalidEventError) deps.logger.error('rejected event', { reason: error.message });
    throw error;
  }
  const steps = await listSteps(deps.ssm, executionId);

  const image = await describeImage(deps.ec2, amiId);
  if (!image) {
    deps.logger.warn('tested image is gone: nothing to tag or promote', { amiId, executionId });
    return { outcome: 'image-gone', amiId };
  }
  const tags = new Map((image.Tags ?? []).map((t) => [t.Key ?? '', t.Value ?? '']));
  const recordedExecution = tags.get(Tag.TestExecution);
  if (recordedExecution && recordedExecution !== executionId) {
    deps.logger.warn('image is tested by another execution; ignoring this one', {
      amiId,
      executionId,
      recordedExecution,
    });
    return { outcome: 'superseded', currentExecutionId: recordedExecution };
  }
  const tested = tags.get(Tag.Tested);
  if (
    recordedExecution === executionId &&
    (tested === TestedStatus.Passed || tested === TestedStatus.Failed) &&
    tags.has(Tag.TestedAt)
  ) {
    deps.logger.info('test result already recorded', { amiId, executionId, tested });
    return { outcome: 'already-recorded', tested };
  }

  const family = findFamily(deps.config, familyName);
  const results = buildResults(execution, steps, family ? checkSteps(family.tests) : []);
  const passed =
    SUCCEEDED_STATUSES.has(executionStatus ?? '') && results.length > 0 && results.every((result) => result.passed);
  const detail: AmiTested = {
    version: EVENT_VERSION,
    bakeId,
    family: familyName,
    amiId,
    passed,
    results,
    testExecutionId: executionId,
  };
  const valid = parseContract(amiTestedSchema, detail);
  if (!valid.success) {
    throw new InvalidEventError(
      `automation ${executionId}: AMI Tested would not match the contract: ${describeIssues(valid.error)}`,
    );
  }

  await deps.ec2.send(
    new CreateTagsCommand({
      Resources: [amiId],
      Tags: [
        { Key: Tag.Tested, Value: passed ? TestedStatus.Passed : TestedStatus.Failed },
        { Key: Tag.TestExecution, Value: executionId },
      ],
    }),
  );
  const eventId = await publishEvent(deps.events, deps.target, DetailType.AmiTested, detail);
  await deps.ec2.send(
    new CreateTagsCommand({ Resources: [amiId], Tags: [{ Key: Tag.TestedAt, Value: deps.clock().toISOString() }] }),
  );
  const failedChecks = results.filter((r) => !r.passed).map((r) => r.name);
  deps.logger.info('AMI tested', { amiId, family: familyName, executionId, passed, failedChecks, eventId });
  return { outcome: 'recorded', passed, eventId };
};
