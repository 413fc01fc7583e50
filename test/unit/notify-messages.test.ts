/**
 * The Slack payloads, event type by event type, compared with the golden files in
 * test/fixtures/slack/. After an intended change, regenerate them and review the diff:
 *
 *   UPDATE_SLACK_GOLDEN=1 npx vitest run test/unit/notify-messages.test.ts
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type {
  AmiBaked,
  AmiPromoted,
  AmiTested,
  BakeFailed,
  BakeRequest,
  BakeSkipped,
  BakeStarted,
  CanaryJudged,
  CanaryStarted,
  JanitorReport,
} from '../../functions/commons/events';
import {
  type BakeView,
  bakedReply,
  canaryJudgedReply,
  canaryStartedReply,
  clip,
  executionUrl,
  failedReply,
  fitToSlack,
  janitorMessage,
  packageChangesOf,
  parentMessage,
  promotedReply,
  promotedStandalone,
  releaseChangeOf,
  requestedReply,
  SlackLimit,
  type SlackMessage,
  skippedReply,
  startedReply,
  summarizeChanges,
  testedReply,
} from '../../functions/notify/messages';
import { AMI, AUTOMATION_ID, BAKE_ID, details, LINKS, PREVIOUS_AMI, SOURCE_AMI } from './support/notify-events';

const GOLDEN_DIR = join(import.meta.dirname, '..', 'fixtures', 'slack');
const UPDATE = process.env.UPDATE_SLACK_GOLDEN === '1';

const golden = (name: string, payload: unknown): void => {
  const file = join(GOLDEN_DIR, `${name}.json`);
  const text = `${JSON.stringify(payload, null, 2)}\n`;
  if (UPDATE || !existsSync(file)) {
    if (!UPDATE) throw new Error(`no golden file ${file}. Fix: run with UPDATE_SLACK_GOLDEN=1 and review it`);
    writeFileSync(file, text);
  }
  expect(text).toBe(readFileSync(file, 'utf8'));
};

const view = (overrides: { [K in keyof BakeView]?: BakeView[K] | undefined } = {}): BakeView =>
  withoutUndefined({
    bakeId: BAKE_ID,
    family: 'al2023-base',
    status: 'promoted',
    os: 'linux',
    requestedBy: 'schedule:al2023-base',
    reason: 'weekly patch',
    sourceAmiId: SOURCE_AMI,
    amiId: AMI,
    amiName: 'bakehouse/al2023-base/20260114T090000Z-abcdef',
    region: 'eu-west-1',
    durationSeconds: 1384,
    automationExecutionId: AUTOMATION_ID,
    changesSummary: '2 package(s) updated, 1 installed',
    tests: { passed: true, total: 2, failed: 0 },
    channels: [
      { channel: 'dev', previousAmiId: PREVIOUS_AMI },
      { channel: 'stable', previousAmiId: PREVIOUS_AMI },
    ],
    ...overrides,
  });

/** Drops keys set to undefined (a field the view does not have yet). */
const withoutUndefined = (value: Record<string, unknown>): BakeView =>
  Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as unknown as BakeView;

/** Every block within Slack's limits: what the sandbox sink and Slack check. */
const expectWithinLimits = (message: SlackMessage): void => {
  expect(message.blocks.length).toBeLessThanOrEqual(SlackLimit.blocks);
  expect(message.text.length).toBeLessThanOrEqual(SlackLimit.text);
  for (const block of message.blocks) {
    if (block.type === 'header') expect(block.text.text.length).toBeLessThanOrEqual(SlackLimit.headerText);
    if (block.type === 'section') {
      expect(block.text?.text.length ?? 0).toBeLessThanOrEqual(SlackLimit.sectionText);
      expect(block.fields?.length ?? 0).toBeLessThanOrEqual(SlackLimit.fields);
      for (const field of block.fields ?? []) expect(field.text.length).toBeLessThanOrEqual(SlackLimit.fieldText);
    }
  }
};

describe('golden Slack payloads', () => {
  const cases: [string, () => SlackMessage][] = [
    [
      'parent-requested',
      () =>
        parentMessage(
          view({
            status: 'requested',
            amiId: undefined,
            amiName: undefined,
            channels: [],
            tests: undefined,
            changesSummary: undefined,
            durationSeconds: undefined,
            sourceAmiId: undefined,
            automationExecutionId: undefined,
          } as unknown as BakeView),
          LINKS,
        ),
    ],
    ['parent-promoted', () => parentMessage(view(), LINKS)],
    [
      'parent-failed',
      () =>
        parentMessage(
          view({
            status: 'failed',
            failedStep: 'WaitForAutomation/patchPackages',
            failureReason: details.failed().reason,
            channels: [],
            tests: undefined,
          }),
          LINKS,
        ),
    ],
    [
      'parent-tests-failed',
      () =>
        parentMessage(view({ status: 'tested', tests: { passed: false, total: 2, failed: 1 }, channels: [] }), LINKS),
    ],
    ['bake-requested', () => requestedReply(details.requested() as BakeRequest)],
    ['bake-started', () => startedReply(details.started() as BakeStarted, LINKS.region)],
    ['bake-skipped', () => skippedReply(details.skipped() as BakeSkipped)],
    ['ami-baked', () => bakedReply(details.baked() as AmiBaked)],
    ['bake-failed', () => failedReply(details.failed() as BakeFailed, LINKS, ['<!subteam^S0123ABCD>'])],
    ['ami-tested', () => testedReply(details.tested(false) as AmiTested)],
    ['ami-promoted', () => promotedReply(details.promoted() as AmiPromoted)],
    [
      'ami-promoted-standalone',
      () => promotedStandalone({ ...(details.promoted() as AmiPromoted), bakeId: null, cause: 'rollback' }),
    ],
    ['janitor-report', () => janitorMessage(details.janitor() as JanitorReport)],
    ['canary-started', () => canaryStartedReply(details.canaryStarted() as CanaryStarted)],
    ['canary-judged', () => canaryJudgedReply(details.canaryJudged() as CanaryJudged)],
    ['canary-judged-skipped', () => canaryJudgedReply(details.canarySkipped() as CanaryJudged)],
    [
      'parent-canary',
      () => parentMessage(view({ status: 'tested', channels: [], canary: { verdict: 'running', score: null } }), LINKS),
    ],
  ];
  for (const [name, build] of cases) {
    it(`${name} matches test/fixtures/slack/${name}.json and fits Slack's limits`, () => {
      // Act
      const message = build();

      // Assess
      expectWithinLimits(message);
      golden(name, message);
    });
  }
});

describe('content', () => {
  it('pairs the inventory lines into updated, installed and removed packages', () => {
    // Act
    const changes = packageChangesOf(details.baked().outputs);

    // Assess
    expect(changes).toEqual({
      updated: [
        { name: 'jq', from: '1.6-10.amzn2023.0.2.x86_64', to: '1.7.1-1.amzn2023.x86_64' },
        { name: 'openssl-libs', from: '1:3.0.8-1.amzn2023.0.11.x86_64', to: '1:3.0.8-1.amzn2023.0.12.x86_64' },
      ],
      installed: ['amazon-cloudwatch-agent 1.300049.1-1.x86_64'],
      removed: [],
      kbs: [],
    });
  });

  it("reads a Windows bake's hotfixes from its report (CRLF lines) as KBs, counting those it left out", () => {
    // Prepare: what the Windows collectReport step prints (automation/bake-windows.yaml)
    const report = [
      'bakehouse-report 1',
      'release-before -',
      'release-after -',
      'changes 3',
      '+KB5034439',
      '+KB5034441',
      'more 1',
      '',
    ].join('\r\n');

    // Act
    const windows = packageChangesOf({ 'collectReport.Output': [report] });
    const none = packageChangesOf({
      'collectReport.Output': ['bakehouse-report 1\r\nrelease-before -\r\nrelease-after -\r\nchanges 0\r\n'],
    });

    // Assess
    expect(windows).toMatchObject({ kbs: ['KB5034439', 'KB5034441'], updated: [], installed: [], omitted: 1 });
    expect(summarizeChanges(windows)).toBe(
      '2 update(s) installed (KB5034439, KB5034441), 1 more change(s) on the image',
    );
    expect(none).toMatchObject({ kbs: [], note: 'no package changes' });
  });

  it('reads no changes from the outputs of the retired inventory steps', () => {
    // Act
    const changes = packageChangesOf({ 'inventoryAfter.Output': ['+KB5034439\n+KB5034441'] });

    // Assess
    expect(changes).toBeUndefined();
  });

  /** An AL2023 AMI Baked whose outputs carry the bake's collectReport output. */
  const reportedBake = (report: string, extra: Partial<AmiBaked> = {}): AmiBaked => ({
    ...(details.baked() as AmiBaked),
    outputs: { 'createImage.ImageId': ['ami-0123456789abcdef0'], 'collectReport.Output': [report] },
    ...extra,
  });
  const REPORT = [
    'bakehouse-report 1',
    'release-before 2023.9.20261101.0',
    'release-after 2023.9.20261122.0',
    'changes 3',
    '-jq-1.6-10.amzn2023.0.2.x86_64',
    '+jq-1.7.1-1.amzn2023.x86_64',
    '+nginx-1.24.0-1.amzn2023.x86_64',
  ].join('\n');

  it('says which Amazon Linux release the bake moved the image from and to', () => {
    // Act
    const message = bakedReply(reportedBake(REPORT));

    // Assess
    expect(message.text).toContain('release 2023.9.20261101.0 → 2023.9.20261122.0; 1 package(s) updated, 1 installed');
    expect(JSON.stringify(message.blocks)).toContain('*Amazon Linux release*: 2023.9.20261101.0 → 2023.9.20261122.0');
  });

  it('says the release is unchanged when the bake stayed on it, and names none for images without one', () => {
    // Prepare
    const same = REPORT.replace('release-before 2023.9.20261101.0', 'release-before 2023.9.20261122.0');
    const ubuntu = REPORT.replace(/release-(before|after) \S+/g, 'release-$1 -');

    // Act
    const unchanged = bakedReply(reportedBake(same));
    const none = bakedReply(reportedBake(ubuntu));

    // Assess
    expect(unchanged.text).toContain('release 2023.9.20261122.0 (unchanged)');
    expect(none.text).not.toContain('release');
    expect(JSON.stringify(none.blocks)).not.toContain('Amazon Linux release');
  });

  it("prefers the event's release field over the report when it has one", () => {
    // Act
    const change = releaseChangeOf(
      reportedBake(REPORT, {
        release: {
          policy: 'pinned',
          target: '2023.9.20261129.0',
          before: '2023.9.20261101.0',
          after: '2023.9.20261129.0',
        },
      }),
    );

    // Assess
    expect(change).toEqual({ before: '2023.9.20261101.0', after: '2023.9.20261129.0' });
  });

  it('reads the package changes from the report, counting those it left out', () => {
    // Act
    const changes = packageChangesOf({ 'collectReport.Output': [`${REPORT}\nmore 120`] });
    const nothing = packageChangesOf({
      'collectReport.Output': ['bakehouse-report 1\nrelease-before -\nrelease-after -\nchanges 0\n'],
    });

    // Assess
    expect(changes).toMatchObject({
      updated: [{ name: 'jq', from: '1.6-10.amzn2023.0.2.x86_64', to: '1.7.1-1.amzn2023.x86_64' }],
      installed: ['nginx 1.24.0-1.amzn2023.x86_64'],
      omitted: 120,
    });
    expect(summarizeChanges(changes)).toContain('120 more change(s) on the image');
    expect(nothing).toMatchObject({ updated: [], installed: [], note: 'no package changes' });
  });

  it('links the Step Functions execution named by the bake id and the automation execution', () => {
    // Act
    const text = JSON.stringify(failedReply(details.failed() as BakeFailed, LINKS, []));

    // Assess
    expect(executionUrl(LINKS, BAKE_ID)).toBe(
      `https://eu-west-1.console.aws.amazon.com/states/home?region=eu-west-1#/v2/executions/details/arn:aws:states:eu-west-1:111122223333:execution:bakehouse-dev-bake:${BAKE_ID}`,
    );
    expect(text).toContain(executionUrl(LINKS, BAKE_ID));
    expect(text).toContain(
      `https://eu-west-1.console.aws.amazon.com/systems-manager/automation/execution/${AUTOMATION_ID}?region=eu-west-1`,
    );
  });
});

describe('canaries', () => {
  it('says who runs against whom: the pairs, the group, the baseline and the canary image, and the timing', () => {
    // Act
    const message = canaryStartedReply(details.canaryStarted() as CanaryStarted);
    const text = JSON.stringify(message.blocks);

    // Assess
    expect(message.text).toBe(`al2023-base: Canary started for ${AMI} against ${PREVIOUS_AMI} (2 pairs)`);
    expect(text).toContain('2 pair(s)');
    expect(text).toContain('`web-prod`');
    expect(text).toContain(`baseline \`${PREVIOUS_AMI}\``);
    expect(text).toContain(`canary \`${AMI}\``);
    expect(text).toContain('warm-up 10 min, then 30 min judged every 10 min');
    expect(text).toContain('i-0c0000000000000a2');
    expect(text).toContain('i-0b0000000000000a1');
  });

  it('shows the scorecard: per metric the medians, the change in percent, the p-value and the classification', () => {
    // Act
    const message = canaryJudgedReply(details.canaryJudged() as CanaryJudged);
    const table = message.blocks
      .map((b) => (b.type === 'section' ? (b.text?.text ?? '') : ''))
      .find((t) => t.startsWith('```'));

    // Assess
    expect(message.text).toBe(`al2023-base: Canary fail (score 0) for ${AMI}`);
    expect(table?.split('\n')).toEqual([
      '```metric     baseline  canary  change  p-value  class',
      'cpu        35.2      36.04   +2.4%   0.413    Pass',
      'latency *  120       168     +40.0%  &lt;0.001   High',
      'errors     –         –       –       –        NoData',
      '```',
    ]);
    const text = JSON.stringify(message.blocks);
    expect(text).toContain('score 0/100');
    expect(text).toContain('latency, a critical metric, is higher on the canary');
    expect(text).toContain('Critical metrics failed: latency');
    expect(text).toContain('4 instance(s) terminated');
  });

  it('reports a skipped canary in one short line', () => {
    // Act
    const message = canaryJudgedReply(details.canarySkipped() as CanaryJudged);

    // Assess
    expect(message.blocks).toHaveLength(1);
    expect(JSON.stringify(message.blocks)).toContain('Canary skipped');
    expect(JSON.stringify(message.blocks)).toContain('no baseline to compare with');
  });

  it('names the cleanup errors, so a person can end what the canary left running', () => {
    // Prepare
    const detail = {
      ...(details.canaryJudged('error') as CanaryJudged),
      score: null,
      metrics: [],
      cleanup: { errors: ['i-0c0000000000000a1: UnauthorizedOperation'], instancesTerminated: 3 },
    };

    // Act
    const text = JSON.stringify(canaryJudgedReply(detail).blocks);

    // Assess
    expect(text).toContain('i-0c0000000000000a1: UnauthorizedOperation');
    expect(text).toContain('3 instance(s) terminated');
  });
});

describe('janitor reports', () => {
  const report = (parameters: Record<string, unknown>) =>
    janitorMessage({ ...(details.janitor() as JanitorReport), parameters } as JanitorReport);
  const base = {
    listed: 1200,
    read: 1100,
    secureStringsSkipped: ['/team/db/password', '/team/api/key'],
    secureStringsSkippedCount: 2,
    unreadable: [{ name: '/team/locked/ami', error: 'AccessDeniedException' }],
    unreadableCount: 1,
  };

  it('names the SecureStrings it skipped, never decrypted', () => {
    // Act
    const text = JSON.stringify(report({ ...base, unreadableMode: 'stop' }).blocks);

    // Assess
    expect(text).toContain('2 SecureString parameter(s) skipped, never decrypted: /team/db/password, /team/api/key');
    expect(text).not.toContain('Ran without');
  });

  it('says a part ran out of time, what it left, and that the next part continues', () => {
    // Act
    const message = janitorMessage({
      ...(details.janitor() as JanitorReport),
      runId: 'run-2',
      dryRun: false,
      part: { of: 'run-1', number: 2 },
      deferred: { launchPermissionsUnread: 40, actionsNotStarted: 3, actionsDone: 197, nextPart: 3 },
    } as JanitorReport);
    const last = janitorMessage({
      ...(details.janitor() as JanitorReport),
      dryRun: false,
      part: { of: 'run-1', number: 8 },
      deferred: { launchPermissionsUnread: 1, actionsNotStarted: 0, actionsDone: 200 },
    } as JanitorReport);

    // Assess
    const text = JSON.stringify(message.blocks);
    expect(text).toContain('Janitor run (part 2)');
    expect(text).toContain('40 image(s) kept unread');
    expect(text).toContain('3 action(s) not started; part 3 continues now');
    expect(text).toContain('continues run `run-1`');
    expect(JSON.stringify(last.blocks)).toContain("the next night's run picks it up");
  });

  it('lists the expired builders and testers the run terminated', () => {
    // Act
    const message = janitorMessage({
      ...(details.janitor() as JanitorReport),
      dryRun: false,
      reaper: {
        reaped: [
          {
            instanceId: 'i-0123456789abcdef0',
            role: 'builder',
            bakeId: 'al2023-base-0123',
            family: 'al2023-base',
            expiresAt: '2026-11-29T08:00:00Z',
          },
        ],
        reapedCount: 1,
        keptCount: 4,
        errors: [],
      },
    } as JanitorReport);

    // Assess
    const text = JSON.stringify(message.blocks);
    expect(text).toContain('Expired builders and testers terminated* (1: their automation had ended)');
    expect(text).toContain('i-0123456789abcdef0');
  });

  it('warns that a run which continued without unreadable parameters did not protect what only they hold', () => {
    // Act
    const text = JSON.stringify(report({ ...base, unreadableMode: 'continue' }).blocks);

    // Assess
    expect(text).toContain('Ran without 1 unreadable parameter(s)');
    expect(text).toContain('/team/locked/ami');
  });
});

describe('fitting Slack limits', () => {
  it('cuts a huge failure reason to the section limit, keeps the code fence closed and says how much was cut', () => {
    // Prepare
    const failed = { ...(details.failed() as BakeFailed), reason: 'x'.repeat(50_000) };

    // Act
    const message = failedReply(failed, LINKS, []);

    // Assess
    expectWithinLimits(message);
    const reason = message.blocks[1];
    expect(reason?.type === 'section' && reason.text?.text.endsWith('```')).toBe(true);
    expect(JSON.stringify(reason)).toMatch(/more characters\)/);
  });

  it('keeps at most 50 blocks and 10 fields, noting what was left out', () => {
    // Prepare
    const blocks = Array.from({ length: 80 }, (_, i) => ({
      type: 'section' as const,
      text: { type: 'mrkdwn' as const, text: `block ${i}` },
      fields: Array.from({ length: 12 }, (_, j) => ({ type: 'mrkdwn' as const, text: `f${j}`.repeat(1500) })),
    }));

    // Act
    const message = fitToSlack({ text: 'y'.repeat(100_000), blocks });

    // Assess
    expectWithinLimits(message);
    expect(message.blocks).toHaveLength(50);
    expect(JSON.stringify(message.blocks[49])).toContain('31 more block(s) left out');
  });

  it('clips with a note only when the text is too long', () => {
    expect(clip('short', 10)).toBe('short');
    expect(clip('a'.repeat(100), 40)).toMatch(/^a+… \(\d+ more characters\)$/);
    expect(clip('a'.repeat(100), 40)).toHaveLength(40);
  });
});
