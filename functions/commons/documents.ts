/**
 * The parameters of the bake automation documents (automation/bake-*.yaml). plan-bake fills
 * them; test/unit/automation-documents checks every document declares exactly these.
 */
import type { AutomationExecution } from '@aws-sdk/client-ssm';

export const BAKE_DOCUMENTS = {
  linux: 'bake-linux',
  windows: 'bake-windows',
} as const;

/** Parameters both bake documents take. */
export const COMMON_BAKE_PARAMETERS = [
  'AutomationAssumeRole',
  'SourceAmiId',
  'InstanceType',
  'SubnetId',
  'SecurityGroupIds',
  'IamInstanceProfileName',
  'RootDeviceName',
  'VolumeSize',
  'Encrypted',
  'KmsKeyId',
  'HttpTokens',
  'BakeId',
  'Family',
  'BuilderExpiresAt',
  'ImageName',
  'ImageDescription',
  'PreScript',
  'InstallScript',
  'PostScript',
] as const;

export const LINUX_BAKE_PARAMETERS = [
  ...COMMON_BAKE_PARAMETERS,
  'IncludePackages',
  'ExcludePackages',
  'SecurityOnly',
  'InstallPackages',
  'ReleaseVersion',
  'ReleaseTarget',
] as const;

export const WINDOWS_BAKE_PARAMETERS = [
  ...COMMON_BAKE_PARAMETERS,
  'UpdateCategories',
  'UpdateSeverityLevels',
  'IncludeKbs',
  'ExcludeKbs',
  'ChocolateySource',
  'ChocolateyPackages',
] as const;

export type LinuxBakeParameter = (typeof LINUX_BAKE_PARAMETERS)[number];
export type WindowsBakeParameter = (typeof WINDOWS_BAKE_PARAMETERS)[number];

/**
 * Names of document outputs the callback keeps for `AMI Baked` and Slack. SSM Automation keeps the
 * output of only one `aws:runCommand` action per runbook
 * (https://docs.aws.amazon.com/systems-manager/latest/userguide/automation-action-runcommand.html),
 * so both documents report everything through one step, `collectReport`, in the same format.
 */
export const BAKE_DOCUMENT_OUTPUTS = {
  imageId: 'createImage.ImageId',
  report: 'collectReport.Output',
} as const;

/** The outputs each bake document declares (and the callback keeps). */
export const BAKE_DOCUMENT_OUTPUTS_BY_OS = {
  linux: [BAKE_DOCUMENT_OUTPUTS.imageId, BAKE_DOCUMENT_OUTPUTS.report],
  windows: [BAKE_DOCUMENT_OUTPUTS.imageId, BAKE_DOCUMENT_OUTPUTS.report],
} as const;

/** The bake documents' step that launches the builder; its output InstanceId names it. */
export const LAUNCH_BUILDER_STEP = 'launchBuilder';

/** The builder the automation launched: its launch step's output, or the document output naming it. */
export const launchedBuilder = (automation: AutomationExecution | undefined): string | undefined => {
  const step = automation?.StepExecutions?.find(
    (candidate) => candidate.StepName === LAUNCH_BUILDER_STEP && candidate.StepStatus === 'Success',
  );
  const fromStep = step?.Outputs?.InstanceId?.[0];
  const fromOutputs = automation?.Outputs?.[`${LAUNCH_BUILDER_STEP}.InstanceId`]?.[0];
  const id = fromStep ?? fromOutputs;
  return id && /^i-[0-9a-f]+$/.test(id) ? id : undefined;
};

/** What a bake's `collectReport` step printed, read back. */
export interface BakeReport {
  /** The Amazon Linux 2023 release before patching, or null where the system has none. */
  readonly releaseBefore: string | null;
  readonly releaseAfter: string | null;
  /** How many package versions changed in all. */
  readonly changeCount: number;
  /**
   * Linux: `+name-version` (installed) and `-name-version` (removed or replaced); Windows: `+KB<id>`
   * (a hotfix the bake added); as many as the report held.
   */
  readonly changes: readonly string[];
  /**
   * Changes left out of `changes` for length; the image has them all (/var/lib/bakehouse on Linux,
   * C:\ProgramData\Bakehouse on Windows).
   */
  readonly omitted: number;
}

const REPORT_HEADER = 'bakehouse-report 1';

/**
 * Reads the report `collectReport` prints (automation/bake-linux.yaml and bake-windows.yaml describe
 * the lines; Windows ends them with CRLF). Run Command appends standard error after the output and cuts the whole at 2,500 characters, so
 * reading stops at the first line that is not part of the report; a report whose header is missing
 * reads as undefined.
 */
export const parseBakeReport = (text: string): BakeReport | undefined => {
  const lines = text.replace(/\r\n/g, '\n').split('\n');
  const start = lines.findIndex((line) => line.trim() === REPORT_HEADER);
  if (start < 0) return undefined;
  let releaseBefore: string | null = null;
  let releaseAfter: string | null = null;
  let changeCount = 0;
  let omitted = 0;
  const changes: string[] = [];
  for (const line of lines.slice(start + 1)) {
    const [key, value = ''] = line.trim().split(/\s+/, 2);
    if (key === 'release-before') releaseBefore = value === '-' || value === '' ? null : value;
    else if (key === 'release-after') releaseAfter = value === '-' || value === '' ? null : value;
    else if (key === 'changes' && /^\d+$/.test(value)) changeCount = Number(value);
    else if (key === 'more' && /^\d+$/.test(value)) omitted = Number(value);
    else if (key !== undefined && /^[+-][A-Za-z0-9]/.test(key) && value === '') changes.push(key);
    else break;
  }
  return { releaseBefore, releaseAfter, changeCount: Math.max(changeCount, changes.length), changes, omitted };
};

/** The report among an automation's (or an `AMI Baked` event's) outputs, if there is one. */
export const bakeReportOf = (outputs: Readonly<Record<string, unknown>> | undefined): BakeReport | undefined => {
  const value = outputs?.[BAKE_DOCUMENT_OUTPUTS.report];
  const text = Array.isArray(value) ? value.filter((v) => typeof v === 'string').join('\n') : value;
  return typeof text === 'string' ? parseBakeReport(text) : undefined;
};

/** The release part of `AMI Baked` (functions/commons/events.ts): what the bake targeted and did. */
export interface BakeRelease {
  readonly policy: 'latest' | 'pinned';
  readonly target: string;
  readonly before: string | null;
  readonly after: string | null;
}

/**
 * The release of a finished Linux bake automation, from its own record: the policy and target
 * plan-bake passed (`ReleaseVersion`, `ReleaseTarget`) and the releases its report read on the
 * builder; null for bakes without a release (not Amazon Linux 2023, or Windows).
 */
export const releaseOfAutomation = (execution: {
  readonly Parameters?: Readonly<Record<string, readonly string[]>> | undefined;
  readonly Outputs?: Readonly<Record<string, readonly string[]>> | undefined;
}): BakeRelease | null => {
  const policy = execution.Parameters?.ReleaseVersion?.[0] ?? '';
  const target = execution.Parameters?.ReleaseTarget?.[0] || (policy === 'latest' ? '' : policy);
  if (policy === '' || target === '') return null;
  const report = bakeReportOf(execution.Outputs);
  return {
    policy: policy === 'latest' ? 'latest' : 'pinned',
    target,
    before: report?.releaseBefore ?? null,
    after: report?.releaseAfter ?? null,
  };
};
