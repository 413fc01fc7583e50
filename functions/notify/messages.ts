/**
 * Slack messages for Bakehouse events: pure builders over Block Kit types from Slack's own
 * `@slack/types`. A bake has one parent message, rebuilt from its accumulated view every time the
 * bake advances, and replies in its thread with the details of each step. Janitor reports,
 * rejected events, and promotions of images no bake made (rollbacks, revocations) stand alone.
 *
 * Everything a builder returns goes through `fitToSlack`, so a huge failure reason or package list
 * is cut to Slack's limits (and says so) instead of being refused with `invalid_blocks`.
 */
import type { ContextBlock, DividerBlock, HeaderBlock, KnownBlock, SectionBlock } from '@slack/types';
import { bakeReportOf } from '../commons/documents';
import type {
  AmiBaked,
  AmiPromoted,
  AmiTested,
  BakeFailed,
  BakeRejected,
  BakeRequest,
  BakeSkipped,
  BakeStarted,
  CanaryJudged,
  CanaryMetricResult,
  CanaryStarted,
  JanitorReport,
  PromotionRejected,
  RevocationCompleted,
  RevocationRejected,
} from '../commons/events';
import { DetailType } from '../commons/events';
import { type AlarmMetric, type AlarmStateChange, alarmConsoleUrl, alarmNews } from './alarms';

export interface SlackMessage {
  /** The notification text (and what screen readers and clients without blocks show). */
  readonly text: string;
  readonly blocks: KnownBlock[];
}

/** Slack's documented limits (https://docs.slack.dev/reference/block-kit/blocks). */
export const SlackLimit = {
  blocks: 50,
  headerText: 150,
  sectionText: 3000,
  fields: 10,
  fieldText: 2000,
  contextElements: 10,
  /** chat.postMessage keeps 40,000 characters of `text`; we stay well under for notifications. */
  text: 40_000,
  /** A short notification `text`: the rest lives in the blocks. */
  notificationText: 3000,
} as const;

export type BakeStatus = 'requested' | 'started' | 'skipped' | 'baked' | 'failed' | 'tested' | 'promoted';

/** Everything the parent message of one bake shows, accumulated event by event (kept in SSM). */
export interface BakeView {
  readonly bakeId: string;
  readonly family: string;
  readonly status: BakeStatus;
  readonly os?: string;
  readonly requestedBy?: string;
  readonly reason?: string;
  readonly sourceAmiId?: string;
  readonly amiId?: string;
  readonly amiName?: string;
  readonly region?: string;
  readonly durationSeconds?: number;
  readonly automationExecutionId?: string;
  readonly changesSummary?: string;
  readonly tests?: { readonly passed: boolean; readonly total: number; readonly failed: number };
  readonly channels?: readonly { readonly channel: string; readonly previousAmiId: string | null }[];
  readonly failedStep?: string | null;
  readonly failureReason?: string;
  readonly existingAmiId?: string;
  /** The canary of the bake's image: `running` from Canary Started, then Canary Judged's verdict. */
  readonly canary?: { readonly verdict: string; readonly score: number | null };
}

/** Console links of a bake: its Step Functions execution and its automation execution. */
export interface ConsoleLinks {
  readonly region: string;
  /** `arn:aws:states:<region>:<account>:stateMachine:<name>`; the execution is named by the bake id. */
  readonly stateMachineArn: string;
}

export const executionUrl = (links: ConsoleLinks, bakeId: string): string => {
  const executionArn = `${links.stateMachineArn.replace(':stateMachine:', ':execution:')}:${bakeId}`;
  return `https://${links.region}.console.aws.amazon.com/states/home?region=${links.region}#/v2/executions/details/${executionArn}`;
};

export const automationUrl = (region: string, automationExecutionId: string): string =>
  `https://${region}.console.aws.amazon.com/systems-manager/automation/execution/${automationExecutionId}?region=${region}`;

// --- text helpers ------------------------------------------------------------------------------

const ELLIPSIS = '…';

/** Cuts `text` to `max` characters, saying how much was left out. */
export const clip = (text: string, max: number): string => {
  if (text.length <= max) return text;
  const note = `${ELLIPSIS} (${text.length - max} more characters)`;
  if (max <= note.length) return text.slice(0, Math.max(0, max - 1)) + ELLIPSIS;
  return text.slice(0, max - note.length) + note;
};

/** Slack mrkdwn needs &, < and > escaped in text it should not read as markup. */
export const escapeMrkdwn = (text: string): string =>
  text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

const code = (text: string): string => `\`${escapeMrkdwn(text)}\``;
const link = (url: string, label: string): string => `<${url}|${escapeMrkdwn(label)}>`;

export const formatDuration = (seconds: number): string => {
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h > 0 ? `${h}h ${String(m).padStart(2, '0')}m` : `${m}m ${String(s % 60).padStart(2, '0')}s`;
};

const header = (text: string): HeaderBlock => ({
  type: 'header',
  text: { type: 'plain_text', text, emoji: true },
});
const section = (text: string): SectionBlock => ({ type: 'section', text: { type: 'mrkdwn', text } });
const fields = (pairs: readonly (readonly [string, string | undefined])[]): SectionBlock => ({
  type: 'section',
  fields: pairs
    .filter((pair): pair is readonly [string, string] => pair[1] !== undefined && pair[1] !== '')
    .map(([label, value]) => ({ type: 'mrkdwn', text: `*${label}*\n${value}` })),
});
const context = (...texts: string[]): ContextBlock => ({
  type: 'context',
  elements: texts.filter(Boolean).map((text) => ({ type: 'mrkdwn', text })),
});
const divider = (): DividerBlock => ({ type: 'divider' });

// --- what changed ------------------------------------------------------------------------------

export interface PackageChanges {
  readonly updated: readonly { readonly name: string; readonly from: string; readonly to: string }[];
  readonly installed: readonly string[];
  readonly removed: readonly string[];
  /** Windows hotfixes added (`+KB…`). */
  readonly kbs: readonly string[];
  /** The raw text when it held no change lines (for example 'no package changes'). */
  readonly note?: string;
  /** Changes the report left out for length (the image keeps them all in /var/lib/bakehouse). */
  readonly omitted?: number;
}

/** The Amazon Linux 2023 release a bake moved the image between, when it has one. */
export interface ReleaseChange {
  readonly before: string | null;
  readonly after: string | null;
}

/** The release change of an `AMI Baked`: its `release` field, or else the report in its outputs. */
export const releaseChangeOf = (detail: Pick<AmiBaked, 'release' | 'outputs'>): ReleaseChange | undefined => {
  if (detail.release && (detail.release.before || detail.release.after)) {
    return { before: detail.release.before, after: detail.release.after };
  }
  const report = bakeReportOf(detail.outputs);
  if (!report || (report.releaseBefore === null && report.releaseAfter === null)) return undefined;
  return { before: report.releaseBefore, after: report.releaseAfter };
};

/** `2023.9.20261101.0 → 2023.9.20261122.0`, or `2023.9.20261122.0 (unchanged)`. */
export const formatReleaseChange = (change: ReleaseChange): string =>
  change.before === change.after
    ? `${change.after ?? 'unknown'} (unchanged)`
    : `${change.before ?? 'unknown'} → ${change.after ?? 'unknown'}`;

/** One line for the bake's parent message and notification text: the release, then the packages. */
export const bakeSummaryOf = (detail: Pick<AmiBaked, 'release' | 'outputs'>): string | undefined => {
  const release = releaseChangeOf(detail);
  const parts = [
    release ? `release ${formatReleaseChange(release)}` : '',
    summarizeChanges(packageChangesOf(detail.outputs)) ?? '',
  ].filter(Boolean);
  return parts.length > 0 ? parts.join('; ') : undefined;
};

/** `-openssl-libs-1:3.0.8-1.amzn2023` → name and version: the version starts at the first `-<digit>`. */
const splitPackage = (entry: string): { name: string; version: string } => {
  const match = /^(.+?)-(\d[^\s]*)$/.exec(entry);
  return match ? { name: match[1] as string, version: match[2] as string } : { name: entry, version: '' };
};

/**
 * The package changes the bake reported in its `collectReport` step's report (Linux: the
 * `-name-oldversion` and `+name-newversion` lines, paired into updates where a package left and came
 * back with another version; Windows: the `+KB…` lines of the hotfixes it added).
 */
export const packageChangesOf = (outputs: Record<string, unknown> | undefined): PackageChanges | undefined => {
  const report = bakeReportOf(outputs);
  if (!report) return undefined;
  const changes = changesOfText(report.changes.join('\n'));
  if (report.omitted > 0) return { ...changes, omitted: report.omitted };
  if (report.changeCount === 0) return { ...changes, note: 'no package changes' };
  return changes;
};

const changesOfText = (text: string): PackageChanges => {
  const lines = text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter(Boolean);
  const kbs = lines.filter((l) => /^\+KB\d+$/i.test(l)).map((l) => l.slice(1).toUpperCase());
  const removedEntries = lines.filter((l) => l.startsWith('-')).map((l) => splitPackage(l.slice(1)));
  const addedEntries = lines
    .filter((l) => l.startsWith('+') && !/^\+KB\d+$/i.test(l))
    .map((l) => splitPackage(l.slice(1)));
  const removedByName = new Map(removedEntries.map((e) => [e.name, e.version]));
  const updated: { name: string; from: string; to: string }[] = [];
  const installed: string[] = [];
  for (const added of addedEntries) {
    const from = removedByName.get(added.name);
    if (from === undefined) installed.push(added.version ? `${added.name} ${added.version}` : added.name);
    else {
      updated.push({ name: added.name, from, to: added.version });
      removedByName.delete(added.name);
    }
  }
  const removed = [...removedByName].map(([name, version]) => (version ? `${name} ${version}` : name));
  const changed = updated.length + installed.length + removed.length + kbs.length > 0;
  return { updated, installed, removed, kbs, ...(changed ? {} : { note: clip(text, 200) }) };
};

export const summarizeChanges = (changes: PackageChanges | undefined): string | undefined => {
  if (!changes) return undefined;
  const parts = [
    changes.updated.length > 0 ? `${changes.updated.length} package(s) updated` : '',
    changes.installed.length > 0 ? `${changes.installed.length} installed` : '',
    changes.removed.length > 0 ? `${changes.removed.length} removed` : '',
    changes.kbs.length > 0
      ? `${changes.kbs.length} update(s) installed (${changes.kbs.slice(0, 5).join(', ')}${changes.kbs.length > 5 ? ', …' : ''})`
      : '',
  ].filter(Boolean);
  if (changes.omitted) parts.push(`${changes.omitted} more change(s) on the image`);
  return parts.length > 0 ? parts.join(', ') : (changes.note ?? 'no changes');
};

// --- the parent message of a bake ----------------------------------------------------------------

const STATUS_LINE: Record<BakeStatus, { emoji: string; words: string }> = {
  requested: { emoji: ':hourglass_flowing_sand:', words: 'requested' },
  started: { emoji: ':fire:', words: 'baking' },
  skipped: { emoji: ':fast_forward:', words: 'skipped (already baked)' },
  baked: { emoji: ':bread:', words: 'baked, testing' },
  failed: { emoji: ':x:', words: 'failed' },
  tested: { emoji: ':white_check_mark:', words: 'tested' },
  promoted: { emoji: ':rocket:', words: 'promoted' },
};

/** The status words; a failed test run says so even once the bake is past it. */
const statusOf = (view: BakeView): { emoji: string; words: string } => {
  if (view.tests && !view.tests.passed && (view.status === 'tested' || view.status === 'promoted')) {
    return { emoji: ':warning:', words: `tests failed (${view.tests.failed} of ${view.tests.total})` };
  }
  return STATUS_LINE[view.status];
};

export const parentMessage = (view: BakeView, links: ConsoleLinks): SlackMessage => {
  const status = statusOf(view);
  const title = `${view.family}: ${status.words}`;
  const tests = view.tests
    ? `${view.tests.passed ? ':white_check_mark:' : ':x:'} ${view.tests.total - view.tests.failed}/${view.tests.total} passed`
    : undefined;
  const channels =
    view.channels && view.channels.length > 0
      ? view.channels
          .map((c) => `${code(c.channel)}${c.previousAmiId ? ` (was ${code(c.previousAmiId)})` : ''}`)
          .join(', ')
      : undefined;
  const blocks: KnownBlock[] = [
    header(clip(`${status.emoji} ${title}`, SlackLimit.headerText)),
    fields([
      ['Family', `${escapeMrkdwn(view.family)}${view.os ? ` (${view.os})` : ''}`],
      ['AMI', view.amiId ? `${code(view.amiId)}${view.amiName ? `\n${escapeMrkdwn(view.amiName)}` : ''}` : undefined],
      ['Source AMI', view.sourceAmiId ? code(view.sourceAmiId) : undefined],
      ['Duration', view.durationSeconds !== undefined ? formatDuration(view.durationSeconds) : undefined],
      ['What changed', view.changesSummary ? escapeMrkdwn(view.changesSummary) : undefined],
      ['Tests', tests],
      ['Canary', view.canary ? canaryLine(view.canary) : undefined],
      ['Channels', channels],
      ['Existing AMI', view.existingAmiId ? code(view.existingAmiId) : undefined],
    ]),
  ];
  if (view.status === 'failed') {
    blocks.push(
      section(
        `*Failed at* ${code(view.failedStep ?? 'unknown step')}\n${escapeMrkdwn(clip(view.failureReason ?? 'no reason given', 500))}`,
      ),
    );
  }
  const linkTexts = [
    link(executionUrl(links, view.bakeId), 'Step Functions execution'),
    view.automationExecutionId ? link(automationUrl(links.region, view.automationExecutionId), 'automation') : '',
  ].filter(Boolean);
  blocks.push(
    context(
      `bake ${code(view.bakeId)}`,
      view.requestedBy
        ? `requested by ${escapeMrkdwn(view.requestedBy)}${view.reason ? `: ${escapeMrkdwn(view.reason)}` : ''}`
        : '',
      linkTexts.join(' · '),
    ),
  );
  return fitToSlack({ text: `${title}${view.amiId ? ` (${view.amiId})` : ''}`, blocks });
};

// --- replies in a bake's thread ----------------------------------------------------------------

const list = (items: readonly string[], max = 40): string =>
  items
    .slice(0, max)
    .map((i) => `• ${i}`)
    .join('\n') + (items.length > max ? `\n• … and ${items.length - max} more` : '');

export const requestedReply = (detail: BakeRequest): SlackMessage =>
  fitToSlack({
    text: `Bake of ${detail.family} requested by ${detail.requestedBy}`,
    blocks: [
      section(
        `:inbox_tray: Bake requested by *${escapeMrkdwn(detail.requestedBy)}*: ${escapeMrkdwn(detail.reason)}${detail.force ? ' (forced)' : ''}`,
      ),
    ],
  });

/** An event Notify refused: what it was, who sent it, and each problem as `field: problem. Fix: …`. */
export interface Rejection {
  readonly detailType: string;
  readonly eventId: string;
  readonly source: string;
  /** Who asked, when the request says so. */
  readonly requestedBy?: string;
  readonly issues: readonly string[];
}

const kebab = (text: string): string =>
  text
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-|-$/g, '');

/**
 * A request (or event) that breaks the contract: one message of its own saying it was rejected and
 * why, in the words every Bakehouse rejection uses. It is never news of a bake: none starts.
 */
export const rejectedMessage = (rejection: Rejection): SlackMessage => {
  const request = rejection.detailType === 'Bake Requested';
  const title = request ? 'Bake request rejected' : `${rejection.detailType} event rejected`;
  const from = rejection.requestedBy
    ? `*${escapeMrkdwn(rejection.requestedBy)}* (source ${code(rejection.source)})`
    : `source ${code(rejection.source)}`;
  return fitToSlack({
    text: `${title}: ${rejection.eventId} from ${rejection.source}`,
    blocks: [
      header(clip(`:no_entry_sign: ${title}`, SlackLimit.headerText)),
      section(
        `A ${code(rejection.detailType)} from ${from}, event ${code(rejection.eventId)}, does not match Bakehouse's event contract${request ? ': no bake starts' : ' and was not announced'}.`,
      ),
      section(`*Why*\n${list(rejection.issues.map(escapeMrkdwn))}`),
      context(
        (Object.values(DetailType) as string[]).includes(rejection.detailType)
          ? `Fix the event and send it again; its shape is in schemas/events/${kebab(rejection.detailType)}.json.`
          : 'Fix the event and send it again.',
      ),
    ],
  });
};

export const startedReply = (detail: BakeStarted, region: string): SlackMessage =>
  fitToSlack({
    text: `Bake of ${detail.family} started from ${detail.sourceAmiId}`,
    blocks: [
      section(
        `:fire: Baking from ${code(detail.sourceAmiId)} · ${link(automationUrl(region, detail.automationExecutionId), `automation ${detail.automationExecutionId}`)}`,
      ),
    ],
  });

export const skippedReply = (detail: BakeSkipped): SlackMessage =>
  fitToSlack({
    text: `Bake of ${detail.family} skipped: ${detail.amiId} was already baked from ${detail.sourceAmiId}`,
    blocks: [
      section(
        `:fast_forward: Nothing to bake: ${code(detail.amiId)} was already baked from ${code(detail.sourceAmiId)} with the same recipe (bake key ${code(detail.bakeKey.slice(0, 12))}).`,
      ),
    ],
  });

export const bakedReply = (detail: AmiBaked): SlackMessage => {
  const changes = packageChangesOf(detail.outputs);
  const release = releaseChangeOf(detail);
  const blocks: KnownBlock[] = [
    section(
      `:bread: ${code(detail.amiId)} ${escapeMrkdwn(detail.name)} is available in ${escapeMrkdwn(detail.region)} after ${formatDuration(detail.durationSeconds)}${detail.parentFamily ? ` (built on ${escapeMrkdwn(detail.parentFamily)})` : ''}.`,
    ),
  ];
  if (release) blocks.push(section(`*Amazon Linux release*: ${escapeMrkdwn(formatReleaseChange(release))}`));
  if (changes) {
    if (changes.updated.length > 0) {
      blocks.push(
        section(
          `*Updated (${changes.updated.length})*\n${list(changes.updated.map((u) => `${escapeMrkdwn(u.name)} ${escapeMrkdwn(u.from)} → ${escapeMrkdwn(u.to)}`))}`,
        ),
      );
    }
    if (changes.installed.length > 0) {
      blocks.push(section(`*Installed (${changes.installed.length})*\n${list(changes.installed.map(escapeMrkdwn))}`));
    }
    if (changes.removed.length > 0) {
      blocks.push(section(`*Removed (${changes.removed.length})*\n${list(changes.removed.map(escapeMrkdwn))}`));
    }
    if (changes.kbs.length > 0) {
      blocks.push(section(`*Updates installed (${changes.kbs.length})*\n${list(changes.kbs.map(escapeMrkdwn))}`));
    }
    if (changes.note) blocks.push(section(`*What changed*: ${escapeMrkdwn(changes.note)}`));
    if (changes.omitted) {
      blocks.push(context(`${changes.omitted} more change(s) are listed on the image in /var/lib/bakehouse.`));
    }
  } else {
    blocks.push(context('The bake kept no package inventory.'));
  }
  return fitToSlack({
    text: `${detail.family}: ${detail.amiId} baked (${bakeSummaryOf(detail) ?? 'no inventory'})`,
    blocks,
  });
};

export const testedReply = (detail: AmiTested): SlackMessage => {
  const failed = detail.results.filter((r) => !r.passed);
  const lines = detail.results.map(
    (r) =>
      `${r.passed ? ':white_check_mark:' : ':x:'} ${escapeMrkdwn(r.name)}${!r.passed && r.output ? `: ${code(clip(r.output.replace(/\s+/g, ' '), 300))}` : ''}`,
  );
  return fitToSlack({
    text: `${detail.family}: ${detail.amiId} ${detail.passed ? 'passed its tests' : `failed ${failed.length} of ${detail.results.length} tests`}`,
    blocks: [
      section(
        `${detail.passed ? ':white_check_mark: Tests passed' : `:x: ${failed.length} of ${detail.results.length} test(s) failed`} on ${code(detail.amiId)}`,
      ),
      ...(lines.length > 0 ? [section(lines.join('\n'))] : [context('The family declares no tests.')]),
    ],
  });
};

const targetsLine = (targets: AmiPromoted['targets']): string => {
  const parts = [
    targets.launchTemplates.length > 0
      ? `launch templates ${targets.launchTemplates.map((t) => `${code(t.id)} v${t.version}${t.isDefault ? ' (default)' : ''}`).join(', ')}`
      : '',
    targets.autoScalingGroups.length > 0
      ? `instance refresh in ${targets.autoScalingGroups.map((g) => code(g.name)).join(', ')}`
      : '',
    targets.regions.length > 0
      ? `copies in ${targets.regions.map((r) => `${r.region} ${code(r.amiId)}`).join(', ')}`
      : '',
    targets.accounts.length > 0 ? `shared with ${targets.accounts.map(code).join(', ')}` : '',
  ].filter(Boolean);
  return parts.length > 0 ? parts.join('; ') : 'no launch templates, groups, regions or accounts to update';
};

/**
 * The targets that did not follow the channel (`failedTargets`): the move is partial, so each is
 * named with why and the fix, as a refusal is.
 */
const failedTargetsBlocks = (detail: AmiPromoted): KnownBlock[] => {
  const failed = detail.failedTargets ?? [];
  if (failed.length === 0) return [];
  const kind = (k: string) => (k === 'launchTemplate' ? 'launch template' : 'Auto Scaling group');
  return [
    section(
      `:warning: *Partial move:* the channel moved, but ${failed.length === 1 ? 'this target did' : `these ${failed.length} targets did`} not follow and still ${failed.length === 1 ? 'holds its' : 'hold their'} earlier image:\n${list(
        failed.map(
          (f) => `${kind(f.kind)} ${code(f.target)}: ${escapeMrkdwn(f.reason)}\n*Fix:* ${escapeMrkdwn(f.fix)}`,
        ),
      )}`,
    ),
  ];
};

const partialText = (detail: AmiPromoted): string => {
  const n = detail.failedTargets?.length ?? 0;
  return n === 0 ? '' : ` (partial: ${n} target${n === 1 ? '' : 's'} did not follow)`;
};

export const promotedReply = (detail: AmiPromoted): SlackMessage =>
  fitToSlack({
    text: `${detail.family}: ${detail.channel} now points at ${detail.amiId}${partialText(detail)}`,
    blocks: [
      section(
        `:rocket: Channel ${code(detail.channel)} → ${code(detail.amiId)}${detail.previousAmiId ? ` (was ${code(detail.previousAmiId)})` : ' (first image)'} · ${escapeMrkdwn(detail.cause)} by ${escapeMrkdwn(detail.promotedBy)}`,
      ),
      context(`${escapeMrkdwn(detail.targets.parameter)}: ${targetsLine(detail.targets)}`),
      ...failedTargetsBlocks(detail),
      ...(detail.outdatedChildren.length > 0
        ? [
            section(
              `:arrows_counterclockwise: Built on this channel and now outdated: ${detail.outdatedChildren.map((c) => escapeMrkdwn(c.family)).join(', ')}`,
            ),
          ]
        : []),
    ],
  });

export const failedReply = (detail: BakeFailed, links: ConsoleLinks, mentions: readonly string[]): SlackMessage => {
  const linkLine = [
    link(executionUrl(links, detail.bakeId), 'Step Functions execution'),
    detail.automationExecutionId
      ? link(automationUrl(links.region, detail.automationExecutionId), 'automation execution')
      : '',
  ]
    .filter(Boolean)
    .join(' · ');
  return fitToSlack({
    text: `${mentions.length > 0 ? `${mentions.join(' ')} ` : ''}${detail.family}: bake failed at ${detail.failedStep ?? 'an unknown step'}`,
    blocks: [
      section(
        `${mentions.length > 0 ? `${mentions.join(' ')} ` : ''}:x: *Bake failed* at ${code(detail.failedStep ?? 'unknown step')}`,
      ),
      section(`\`\`\`${escapeMrkdwn(detail.reason)}\`\`\``),
      context(linkLine),
    ],
  });
};

// --- canaries (issue 16) ---------------------------------------------------------------------------

const VERDICT_EMOJI: Record<string, string> = {
  running: ':hatching_chick:',
  pass: ':white_check_mark:',
  marginal: ':warning:',
  fail: ':x:',
  skipped: ':fast_forward:',
  aborted: ':octagonal_sign:',
  error: ':boom:',
};

const canaryLine = (canary: NonNullable<BakeView['canary']>): string =>
  `${VERDICT_EMOJI[canary.verdict] ?? ''} ${canary.verdict}${canary.score !== null ? `, score ${canary.score}/100` : ''}`.trim();

export const canaryStartedReply = (detail: CanaryStarted): SlackMessage =>
  fitToSlack({
    text: `${detail.family}: Canary started for ${detail.amiId} against ${detail.baselineAmiId} (${detail.pairs} pairs)`,
    blocks: [
      section(
        `:hatching_chick: *Canary started* for channel ${code(detail.channel)}: ${detail.pairs} pair(s) in ${code(detail.autoScalingGroup)}, baseline ${code(detail.baselineAmiId)} vs canary ${code(detail.amiId)}; warm-up ${detail.warmupMinutes} min, then ${detail.analysisMinutes} min judged every ${detail.intervalMinutes} min.`,
      ),
      fields([
        ['Baseline instances', detail.instances.baseline.map(code).join(', ') || 'none'],
        ['Canary instances', detail.instances.canary.map(code).join(', ') || 'none'],
      ]),
      context(`canary ${code(detail.canaryId)}`),
    ],
  });

/** A number in at most 4 significant digits; a dash without data. */
const figure = (value: number | null): string => (value === null ? '–' : String(Number(value.toPrecision(4))));
/** The ratio of medians as a signed percentage: 1.4 → +40.0%. */
const changePercent = (change: number | null): string => {
  if (change === null) return '–';
  const percent = (change - 1) * 100;
  return `${percent >= 0 ? '+' : ''}${percent.toFixed(1)}%`;
};
const pValueText = (p: number | null): string => (p === null ? '–' : p < 0.001 ? '<0.001' : p.toFixed(3));

/** The scorecard as a monospaced table (Slack has no table block); `*` marks a critical metric. */
export const scorecardTable = (metrics: readonly CanaryMetricResult[]): string => {
  const rows = [
    ['metric', 'baseline', 'canary', 'change', 'p-value', 'class'],
    ...metrics.map((m) => [
      `${m.name}${m.critical ? ' *' : ''}`,
      figure(m.baselineMedian),
      figure(m.canaryMedian),
      changePercent(m.change),
      pValueText(m.pValue),
      m.classification,
    ]),
  ];
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  const lines = rows.map((row) =>
    row
      .map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd((widths[column] ?? 0) + 2)))
      .join('')
      .trimEnd(),
  );
  return `\`\`\`${lines.map(escapeMrkdwn).join('\n')}\n\`\`\``;
};

export const canaryJudgedReply = (detail: CanaryJudged): SlackMessage => {
  const emoji = VERDICT_EMOJI[detail.verdict] ?? '';
  const text = `${detail.family}: Canary ${detail.verdict}${detail.score !== null ? ` (score ${detail.score})` : ''} for ${detail.amiId}`;
  const headline = `${emoji} *Canary ${detail.verdict}*${detail.score !== null ? `, score ${detail.score}/100` : ''} on ${code(detail.amiId)}${detail.baselineAmiId ? ` vs baseline ${code(detail.baselineAmiId)}` : ''}: ${escapeMrkdwn(detail.reason)}`;
  if (detail.verdict === 'skipped') return fitToSlack({ text, blocks: [section(headline)] });
  const blocks: KnownBlock[] = [section(headline)];
  if (detail.metrics.length > 0) blocks.push(section(scorecardTable(detail.metrics)));
  if (detail.failedCritical.length > 0) {
    blocks.push(section(`Critical metrics failed: ${detail.failedCritical.map(escapeMrkdwn).join(', ')}`));
  }
  if (detail.cleanup.errors.length > 0) {
    blocks.push(section(`:warning: *Cleanup errors*\n${list(detail.cleanup.errors.map(escapeMrkdwn), 20)}`));
  }
  blocks.push(
    context(
      `canary ${code(detail.canaryId)} · ${detail.intervalsJudged} interval(s) judged · ${detail.cleanup.instancesTerminated} instance(s) terminated${detail.metrics.length > 0 ? ' · * critical' : ''}`,
    ),
  );
  return fitToSlack({ text, blocks });
};

// --- messages of their own -----------------------------------------------------------------------

export const promotedStandalone = (detail: AmiPromoted): SlackMessage => {
  const reply = promotedReply(detail);
  return fitToSlack({
    text: reply.text,
    blocks: [
      header(clip(`:rocket: ${detail.family}: ${detail.channel} → ${detail.amiId}`, SlackLimit.headerText)),
      ...reply.blocks,
    ],
  });
};

/**
 * What Revoke did: the images it revoked (disabled: nobody new launches them), the channels it
 * moved back (each also has its own `AMI Promoted` message with the targets it updated), and the
 * channels left on a revoked image because no earlier good one exists: those need a person.
 */
export const revocationMessage = (detail: RevocationCompleted): SlackMessage => {
  const family = detail.family ? `${detail.family}: ` : '';
  const others = detail.revoked.filter((id) => id !== detail.amiId);
  const blocks: KnownBlock[] = [
    header(clip(`:no_entry: ${family}${detail.amiId} revoked`, SlackLimit.headerText)),
    section(
      `Revoked by *${escapeMrkdwn(detail.requestedBy)}*: ${escapeMrkdwn(detail.reason)}. The image is disabled: no new instance launches from it.`,
    ),
  ];
  if (others.length > 0) {
    blocks.push(section(`*Also revoked* (built on it)\n${list(others.map((id) => code(id)))}`));
  }
  blocks.push(
    section(
      detail.channelsMoved.length > 0
        ? `*Channels moved back*\n${list(detail.channelsMoved.map((m) => `${escapeMrkdwn(m.family)}/${escapeMrkdwn(m.channel)}: ${code(m.from)} → ${code(m.to)}`))}`
        : '*Channels moved back*: none held it.',
    ),
  );
  if (detail.stranded.length > 0) {
    blocks.push(
      section(
        `:warning: *Stranded on a revoked image* (no earlier good image to move back to: bake or promote one)\n${list(detail.stranded.map((s) => `${escapeMrkdwn(s.family)}/${escapeMrkdwn(s.channel)}: ${code(s.amiId)}`))}`,
      ),
    );
  }
  blocks.push(context(`Request ${code(detail.requestEventId)}`));
  return fitToSlack({
    text: `${family}${detail.amiId} revoked by ${detail.requestedBy}${detail.stranded.length > 0 ? ` (${detail.stranded.length} channel(s) stranded)` : ''}`,
    blocks,
  });
};

/** An `AMI Revoked` Revoke refused: nothing was revoked, and why (the field and the fix). */
export const revocationRejectedMessage = (detail: RevocationRejected): SlackMessage => {
  const what = detail.amiId ? code(detail.amiId) : 'an image';
  const who = detail.requestedBy ? ` from *${escapeMrkdwn(detail.requestedBy)}*` : '';
  return fitToSlack({
    text: `Revocation of ${detail.amiId ?? 'an image'} refused: nothing was revoked`,
    blocks: [
      header(
        clip(`:no_entry_sign: Revocation refused${detail.amiId ? `: ${detail.amiId}` : ''}`, SlackLimit.headerText),
      ),
      section(`The request to revoke ${what}${who} was refused: nothing was disabled and no channel moved.`),
      section(`*Why*\n${escapeMrkdwn(detail.reason)}`),
      context(`Request ${code(detail.requestEventId)}`),
    ],
  });
};

/** Who asked, as a rejection names them: `*cli:alice*`, or `someone` when the request did not say. */
const whoAsked = (requestedBy: string | null): string => (requestedBy ? `*${escapeMrkdwn(requestedBy)}*` : 'someone');

/**
 * A `Bake Requested` StartBake refused (malformed, or a family this deployment does not have): who
 * asked, why (the field) and the fix. No bake starts, so it is a message of its own.
 */
export const bakeRejectedMessage = (detail: BakeRejected): SlackMessage =>
  fitToSlack({
    text: `Bake request rejected: ${detail.family ?? 'a request'} from ${detail.requestedBy ?? 'someone'}: no bake starts`,
    blocks: [
      header(
        clip(
          `:no_entry_sign: Bake request rejected${detail.family ? `: ${detail.family}` : ''}`,
          SlackLimit.headerText,
        ),
      ),
      section(
        `A bake of ${detail.family ? `*${escapeMrkdwn(detail.family)}*` : 'a family'} asked by ${whoAsked(detail.requestedBy)} was refused by StartBake: no bake starts.`,
      ),
      section(`*Why*\n${escapeMrkdwn(detail.reason)}`),
      section(`*Fix*\n${escapeMrkdwn(detail.fix)}`),
      context(
        `Request ${code(detail.requestEventId)}${detail.idempotencyKey ? ` · idempotency key ${code(detail.idempotencyKey)}` : ''}`,
      ),
    ],
  });

/**
 * A promotion Promote refused (another family's image, a revoked, failed or unavailable one, an
 * unknown family or channel, a malformed event): no channel moved; who asked, why and the fix.
 */
export const promotionRejectedMessage = (detail: PromotionRejected): SlackMessage => {
  const target = detail.family ? `${detail.family}${detail.channel ? `/${detail.channel}` : ''}` : 'a channel';
  return fitToSlack({
    text: `Promotion of ${detail.amiId ?? 'an image'} to ${target} refused: no channel moved`,
    blocks: [
      header(clip(`:no_entry_sign: Promotion refused: ${target}`, SlackLimit.headerText)),
      section(
        `${code(detail.requestDetailType)} ${detail.requestedBy ? `from ${whoAsked(detail.requestedBy)} ` : ''}to move ${escapeMrkdwn(target)} to ${detail.amiId ? code(detail.amiId) : 'an image'} was refused: no channel moved.`,
      ),
      section(`*Why*\n${escapeMrkdwn(detail.reason)}`),
      section(`*Fix*\n${escapeMrkdwn(detail.fix)}`),
      context(`Request ${code(detail.requestEventId)}`),
    ],
  });
};

const countsLine = (counts: Record<string, number>): string =>
  Object.entries(counts)
    .filter(([, n]) => n > 0)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([action, n]) => `${action} ${n}`)
    .join(' · ') || 'nothing to do';

export const janitorMessage = (report: JanitorReport): SlackMessage => {
  const verb = report.dryRun ? 'would deregister' : 'deregistered';
  const part = report.part ? ` (part ${report.part.number})` : '';
  const title = `${report.completed ? ':broom:' : ':warning:'} Janitor ${report.dryRun ? 'dry run' : 'run'}${part}${report.completed ? '' : ' stopped'}`;
  const kept = Object.entries(report.kept)
    .sort(([, a], [, b]) => b - a)
    .map(([reason, n]) => `${escapeMrkdwn(reason)}: ${n}`);
  const blocks: KnownBlock[] = [
    header(clip(title, SlackLimit.headerText)),
    fields([
      ['Counts', countsLine(report.counts)],
      ['Images', `${report.deregistered.length} ${verb}`],
      ['Snapshots', `${report.snapshotsDeleted.length} ${report.dryRun ? 'would be deleted' : 'deleted'}`],
      ['Duration', formatDuration(report.durationSeconds)],
    ]),
  ];
  if (!report.completed) {
    blocks.push(
      section(`*Stopped before changing anything*: ${escapeMrkdwn(report.stoppedBecause ?? 'no reason given')}`),
    );
  }
  const deferred = report.deferred;
  if (deferred) {
    const next =
      deferred.nextPart === undefined
        ? report.dryRun
          ? 'a dry run has no next part'
          : "this was the run's last part: the next night's run picks it up"
        : `part ${deferred.nextPart} continues now`;
    blocks.push(
      section(
        `:hourglass: *Out of time for this invocation*: ${deferred.launchPermissionsUnread} image(s) kept unread (their launch permissions were not read) and ${deferred.actionsNotStarted} action(s) not started; ${next}`,
      ),
    );
  }
  if (report.deregistered.length > 0) {
    blocks.push(section(`*Images ${verb}*\n${list(report.deregistered.map(code), 30)}`));
  }
  if (report.snapshotsDeleted.length > 0) {
    blocks.push(
      section(`*Snapshots ${report.dryRun ? 'to delete' : 'deleted'}*\n${list(report.snapshotsDeleted.map(code), 30)}`),
    );
  }
  if (kept.length > 0) blocks.push(section(`*Kept, by reason*\n${list(kept, 20)}`));
  const reaper = report.reaper;
  if (reaper && reaper.reapedCount > 0) {
    blocks.push(
      section(
        `*Expired builders and testers ${report.dryRun ? 'to terminate' : 'terminated'}* (${reaper.reapedCount}: their automation had ended)\n${list(
          reaper.reaped.map(
            (r) =>
              `${code(r.instanceId)} ${escapeMrkdwn(r.role)}${r.bakeId ? ` of ${escapeMrkdwn(r.bakeId)}` : ''}, expired ${escapeMrkdwn(r.expiresAt)}`,
          ),
          10,
        )}`,
      ),
    );
  }
  const parameters = report.parameters;
  if (parameters && parameters.unreadableCount > 0 && parameters.unreadableMode === 'continue') {
    blocks.push(
      section(
        `:warning: *Ran without ${parameters.unreadableCount} unreadable parameter(s)* (unreadableParameters: continue): images only they hold were not protected\n${list(
          parameters.unreadable.map((p) => code(p.name)),
          10,
        )}${parameters.unreadableCount > parameters.unreadable.length ? `\n• … ${parameters.unreadableCount - parameters.unreadable.length} more not in the event` : ''}`,
      ),
    );
  }
  if (report.errors.length > 0) {
    blocks.push(
      section(
        `:x: *Errors (${report.errors.length})*\n${list(
          report.errors.map((e) => `${code(e.resource)}: ${escapeMrkdwn(e.error)}`),
          20,
        )}`,
      ),
    );
  }
  const skipped = parameters?.secureStringsSkippedCount ?? 0;
  blocks.push(
    context(
      `run ${code(report.runId)}`,
      report.part && report.part.of !== report.runId ? `continues run ${code(report.part.of)}` : '',
      report.itemsTruncated ? 'the item list in the event was cut at 500' : '',
      skipped > 0
        ? `${skipped} SecureString parameter(s) skipped, never decrypted: ${escapeMrkdwn((parameters?.secureStringsSkipped ?? []).slice(0, 5).join(', '))}${skipped > 5 ? ` … and ${skipped - 5} more` : ''}`
        : '',
    ),
  );
  return fitToSlack({
    text: `Janitor ${report.dryRun ? 'dry run' : 'run'}: ${report.deregistered.length} image(s) ${verb}, ${report.errors.length} error(s)${report.completed ? '' : `, stopped: ${report.stoppedBecause ?? ''}`}`,
    blocks,
  });
};

// --- CloudWatch alarms ----------------------------------------------------------------------------

/** `AWS/Lambda Errors (FunctionName=bakehouse-dev-Notify), Sum over 300s`, or the expression of metric math. */
export const describeAlarmMetric = (metric: AlarmMetric): string => {
  const stat = metric.metricStat;
  if (!stat) return metric.expression ? `expression ${metric.expression}` : (metric.label ?? metric.id ?? 'a metric');
  const { namespace, name, dimensions } = stat.metric;
  const dims = Object.entries(dimensions ?? {})
    .map(([key, value]) => `${key}=${value}`)
    .join(', ');
  const how = [stat.stat, stat.period !== undefined ? `over ${stat.period}s` : ''].filter(Boolean).join(' ');
  return `${namespace ? `${namespace} ` : ''}${name}${dims ? ` (${dims})` : ''}${how ? `, ${how}` : ''}`;
};

/**
 * A Bakehouse alarm that changed state: ALARM is a red message, OK after ALARM a resolved one.
 * It names the alarm, the new and previous state, CloudWatch's reason, the metric it watches and
 * links to the alarm in the console. Anything else (`alarmNews` says `ignored`) has no message.
 */
export const alarmMessage = (event: AlarmStateChange): SlackMessage | undefined => {
  const { detail } = event;
  const news = alarmNews(detail);
  if (news === 'ignored') return undefined;
  const name = detail.alarmName;
  const states = `${detail.previousState?.value ?? '?'} → ${detail.state.value}`;
  const description = detail.configuration?.description ?? undefined;
  const metrics = detail.configuration?.metrics ?? [];
  const metricText = metrics.map((m) => code(describeAlarmMetric(m))).join('\n') || undefined;
  const title = news === 'alarm' ? `:red_circle: ALARM: ${name}` : `:large_green_circle: Resolved: ${name}`;
  const blocks: KnownBlock[] = [
    header(clip(title, SlackLimit.headerText)),
    ...(description ? [section(escapeMrkdwn(clip(description, 500)))] : []),
    fields([
      ['Alarm', code(name)],
      ['State', states],
      ['Metric', metricText],
      ['Since', detail.state.timestamp ?? event.time],
    ]),
    section(`*Reason*: ${escapeMrkdwn(clip(detail.state.reason ?? 'CloudWatch gave no reason', 1000))}`),
    context(link(alarmConsoleUrl(event.region, name), 'Alarm in the CloudWatch console')),
  ];
  const text =
    news === 'alarm'
      ? `ALARM ${name} (${states})${description ? `: ${description}` : ''}`
      : `Resolved: ${name} is OK again (${states})`;
  return fitToSlack({ text, blocks });
};

/** One webhook message for an event (webhooks cannot update or thread): the bake's state, then the details. */
export const combined = (parent: SlackMessage, detail: SlackMessage | undefined): SlackMessage =>
  fitToSlack({
    text: detail ? `${parent.text}: ${detail.text}` : parent.text,
    blocks: detail ? [...parent.blocks, divider(), ...detail.blocks] : parent.blocks,
  });

// --- Slack's limits ----------------------------------------------------------------------------

const fitText = <T extends { text: string }>(element: T, max: number): T =>
  element.text.length > max ? { ...element, text: fitMrkdwn(element.text, max) } : element;

/** Cuts mrkdwn, closing a code block the cut left open. */
const fitMrkdwn = (text: string, max: number): string => {
  if (text.length <= max) return text;
  const fence = text.startsWith('```') && text.endsWith('```');
  return fence ? `${clip(text.slice(0, -3), max - 3)}\`\`\`` : clip(text, max);
};

const fitBlock = (block: KnownBlock): KnownBlock => {
  switch (block.type) {
    case 'header':
      return { ...block, text: fitText(block.text, SlackLimit.headerText) };
    case 'section': {
      const fitted: SectionBlock = { ...block };
      if (block.text) fitted.text = fitText(block.text, SlackLimit.sectionText);
      if (block.fields) {
        fitted.fields = block.fields.slice(0, SlackLimit.fields).map((f) => fitText(f, SlackLimit.fieldText));
      }
      return fitted;
    }
    case 'context':
      return {
        ...block,
        elements: block.elements
          .slice(0, SlackLimit.contextElements)
          .map((e) => ('text' in e && typeof e.text === 'string' ? fitText(e, SlackLimit.sectionText) : e)),
      };
    default:
      return block;
  }
};

/** Makes a message fit Slack's limits: texts cut with a note, empty sections dropped, at most 50 blocks. */
export const fitToSlack = (message: SlackMessage): SlackMessage => {
  let blocks = message.blocks
    .filter((b) => !(b.type === 'section' && !b.text && (!b.fields || b.fields.length === 0)))
    .filter((b) => !(b.type === 'context' && b.elements.length === 0))
    .map(fitBlock);
  if (blocks.length > SlackLimit.blocks) {
    const left = blocks.length - (SlackLimit.blocks - 1);
    blocks = [...blocks.slice(0, SlackLimit.blocks - 1), context(`… ${left} more block(s) left out`)];
  }
  return { text: clip(message.text, SlackLimit.notificationText), blocks };
};
