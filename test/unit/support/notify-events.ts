/** Bakehouse events of one bake (and a janitor run), as EventBridge delivers them, for the notifier's tests. */
import { DetailType } from '../../../functions/commons/events';

export const BAKE_ID = 'al2023-base-0123456789abcdef0123456789abcdef';
export const AMI = 'ami-0a1b2c3d4e5f60718';
export const SOURCE_AMI = 'ami-0b5eed00000000001';
export const PREVIOUS_AMI = 'ami-0c0c0c0c0c0c0c0c0';
export const AUTOMATION_ID = '4c5a2c1e-7f3b-4d2a-9e8f-0a1b2c3d4e5f';
export const STATE_MACHINE_ARN = 'arn:aws:states:eu-west-1:111122223333:stateMachine:bakehouse-dev-bake';
export const LINKS = { region: 'eu-west-1', stateMachineArn: STATE_MACHINE_ARN } as const;

let counter = 0;
export const envelope = (detailType: string, detail: Record<string, unknown>, id?: string, source = 'bakehouse') => {
  counter += 1;
  return {
    version: '0',
    id: id ?? `00000000-0000-4000-8000-${String(counter).padStart(12, '0')}`,
    source,
    account: '111122223333',
    time: '2026-01-14T09:00:00Z',
    region: 'eu-west-1',
    resources: [],
    'detail-type': detailType,
    detail: structuredClone(detail),
  };
};

export const details = {
  requested: () => ({
    version: '1.0',
    family: 'al2023-base',
    reason: 'weekly patch',
    requestedBy: 'schedule:al2023-base',
    idempotencyKey: 'weekly-2026-01-14',
    force: false,
  }),
  started: () => ({
    version: '1.0',
    bakeId: BAKE_ID,
    family: 'al2023-base',
    sourceAmiId: SOURCE_AMI,
    bakeKey: 'f'.repeat(64),
    automationExecutionId: AUTOMATION_ID,
  }),
  skipped: () => ({
    version: '1.0',
    bakeId: BAKE_ID,
    family: 'al2023-base',
    amiId: AMI,
    bakeKey: 'f'.repeat(64),
    sourceAmiId: SOURCE_AMI,
  }),
  baked: () => ({
    version: '1.0',
    bakeId: BAKE_ID,
    family: 'al2023-base',
    os: 'linux',
    amiId: AMI,
    region: 'eu-west-1',
    name: 'bakehouse/al2023-base/20260114T090000Z-abcdef',
    sourceAmiId: SOURCE_AMI,
    bakeKey: 'f'.repeat(64),
    parentFamily: null,
    durationSeconds: 1384,
    automationExecutionId: AUTOMATION_ID,
    outputs: {
      'createImage.ImageId': [AMI],
      'collectReport.Output': [
        'bakehouse-report 1\nrelease-before -\nrelease-after -\nchanges 5\n-jq-1.6-10.amzn2023.0.2.x86_64\n+jq-1.7.1-1.amzn2023.x86_64\n-openssl-libs-1:3.0.8-1.amzn2023.0.11.x86_64\n+openssl-libs-1:3.0.8-1.amzn2023.0.12.x86_64\n+amazon-cloudwatch-agent-1.300049.1-1.x86_64',
      ],
    },
  }),
  failed: () => ({
    version: '1.0',
    bakeId: BAKE_ID,
    family: 'al2023-base',
    failedStep: 'WaitForAutomation/patchPackages',
    reason: 'AutomationFailed: dnf exited 1: Error: Failed to download metadata for repo amazonlinux',
    automationExecutionId: AUTOMATION_ID,
  }),
  tested: (passed = true) => ({
    version: '1.0',
    bakeId: BAKE_ID,
    family: 'al2023-base',
    amiId: AMI,
    passed,
    results: [
      { name: 'ssm agent running', passed: true, output: 'active' },
      { name: 'jq present', passed, output: passed ? 'jq-1.7.1' : 'bash: jq: command not found' },
    ],
    testExecutionId: 'b1b2c3d4-0000-4000-8000-000000000001',
  }),
  promoted: (channel = 'stable') => ({
    version: '1.0',
    bakeId: BAKE_ID,
    family: 'al2023-base',
    amiId: AMI,
    channel,
    previousAmiId: PREVIOUS_AMI,
    cause: 'tested',
    promotedBy: 'bakehouse',
    targets: {
      parameter: `/bakehouse/al2023-base/${channel}`,
      launchTemplates: [{ id: 'lt-0123456789abcdef0', version: 7, isDefault: true }],
      autoScalingGroups: [],
      regions: [],
      accounts: [],
    },
    outdatedChildren: [{ family: 'al2023-web', amiId: null }],
  }),
  revoked: () => ({
    version: '1.0',
    amiId: AMI,
    reason: 'CVE-2026-0001 in openssl',
    requestedBy: 'team-security',
    cascade: true,
  }),
  janitor: () => ({
    version: '1.0',
    runId: 'janitor-2026-01-14T02-00-00Z',
    dryRun: false,
    completed: true,
    stoppedBecause: null,
    deregistered: ['ami-0d0d0d0d0d0d0d0d0'],
    snapshotsDeleted: ['snap-0e0e0e0e0e0e0e0e0'],
    kept: { 'in use by an instance': 2, 'newest 3': 9, 'bakehouse:keep': 1 },
    counts: { kept: 12, deregistered: 1, deleted: 1, marked: 2 },
    items: [],
    itemsTruncated: false,
    errors: [{ resource: 'snap-0f0f0f0f0f0f0f0f0', error: 'InvalidSnapshot.InUse' }],
    durationSeconds: 42,
  }),
};

export const events = {
  requested: () => envelope(DetailType.BakeRequested, details.requested(), undefined, 'schedule'),
  started: () => envelope(DetailType.BakeStarted, details.started()),
  skipped: () => envelope(DetailType.BakeSkipped, details.skipped()),
  baked: () => envelope(DetailType.AmiBaked, details.baked()),
  failed: () => envelope(DetailType.BakeFailed, details.failed()),
  tested: (passed = true) => envelope(DetailType.AmiTested, details.tested(passed)),
  promoted: (channel = 'stable') => envelope(DetailType.AmiPromoted, details.promoted(channel)),
  revoked: () => envelope(DetailType.AmiRevoked, details.revoked(), undefined, 'cli'),
  janitor: () => envelope(DetailType.JanitorReport, details.janitor()),
};
