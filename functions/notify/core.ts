/**
 * Notify: every Bakehouse event to Slack. One parent message per bake (chat.postMessage once,
 * chat.update as the bake advances) with replies in its thread; janitor reports, revocations and
 * promotions of images no bake made get a message of their own. With an incoming webhook
 * (no updates, no threads) each event is one message.
 *
 * The parent's channel and ts survive between invocations in the state table (`state.ts`:
 * `{channel, ts, seen, state}` per bake, kept 30 days): `seen` (the last 50 event ids) makes a
 * redelivered event change nothing twice. Invocations for the same bake take turns through its
 * lock there (a conditional write), so two events arriving together cannot post two parents. Slack failing fails this invocation only (Lambda retries it, then its DLQ keeps it);
 * bakes never wait on it. An event that breaks the contract (another team's malformed `Bake
 * Requested`, a request for an unknown family) is posted once as rejected, with the field and the
 * fix, and the invocation succeeds: a retry cannot fix it, and the DLQ is for Slack failures.
 */
import { bakeIdFor } from '../commons/bake-id';
import { type ContractDetailType, type ParsedEvent, parseEvent } from '../commons/contract';
import { errorNameOf, messageOf } from '../commons/errors';
import { DetailType } from '../commons/events';
import type { BakehouseConfig, Family } from '../commons/families';
import { findFamily } from '../commons/family-lookup';
import type { LogPort } from '../commons/powertools';
import { type AlarmStateChange, alarmNews, isAlarmEvent, parseAlarmEvent } from './alarms';
import {
  alarmMessage,
  type BakeStatus,
  type BakeView,
  bakedReply,
  bakeRejectedMessage,
  bakeSummaryOf,
  type ConsoleLinks,
  canaryJudgedReply,
  canaryStartedReply,
  clip,
  combined,
  failedReply,
  janitorMessage,
  parentMessage,
  promotedReply,
  promotedStandalone,
  promotionRejectedMessage,
  type Rejection,
  rejectedMessage,
  requestedReply,
  revocationMessage,
  revocationRejectedMessage,
  type SlackMessage,
  skippedReply,
  startedReply,
  testedReply,
} from './messages';
import type { SlackPort } from './slack';
import type { NotifyStore } from './state';

/**
 * What the notifier subscribes to: the whole contract except the requests whose outcome is what
 * happened: `Promote Requested` and `AMI Revoked` (Revoke may refuse one: a foreign, unknown or
 * malformed image). A revocation is announced from what Revoke did: `Revocation Completed` (or
 * `Revocation Rejected`), and the `AMI Promoted` (cause `revocation`) of each channel it moved back.
 * `Bake Requested` starts a bake's message. `Bake Rejected` and `Promotion Rejected` are the refusals
 * of StartBake and Promote: posted once each, in the thread of the bake they name when it has one.
 */
export const NOTIFIED_DETAIL_TYPES = [
  DetailType.BakeRequested,
  DetailType.BakeStarted,
  DetailType.BakeSkipped,
  DetailType.AmiBaked,
  DetailType.BakeFailed,
  DetailType.AmiTested,
  DetailType.AmiPromoted,
  DetailType.RevocationCompleted,
  DetailType.RevocationRejected,
  DetailType.BakeRejected,
  DetailType.PromotionRejected,
  DetailType.JanitorReport,
  DetailType.CanaryStarted,
  DetailType.CanaryJudged,
] as const satisfies readonly ContractDetailType[];

/** Requests of the contract that are not news: their outcomes are (not routed here; ignored if they come). */
const UNANNOUNCED_REQUESTS: readonly string[] = [DetailType.PromoteRequested, DetailType.AmiRevoked];
type Notified = (typeof NOTIFIED_DETAIL_TYPES)[number];

export const SEEN_EVENTS = 50;
/** A state record stays within 4 KB (DynamoDB takes 400 KB; Slack shows the rest). */
const MAX_STATE_CHARS = 4000;

export interface NotifyState {
  readonly channel: string;
  /** The parent message (Web API), or null (webhook). */
  readonly ts: string | null;
  readonly seen: readonly string[];
  /** The bake's view for the parent message; `{ status: 'posted' }` for messages of their own. */
  readonly state: BakeView | { readonly status: 'posted' };
}

export interface MetricsPort {
  count(name: 'SlackMessagesSent' | 'SlackMessagesDropped', value?: number): void;
}

export interface NotifyDeps {
  readonly config: BakehouseConfig;
  /** Where each bake's (and message's) Slack state lives, and its lock: the state table (`state.ts`). */
  readonly store: NotifyStore;
  /** The Slack port for the current secret, or undefined when the secret holds no token or URL yet. */
  readonly slack: () => Promise<SlackPort | undefined>;
  readonly links: ConsoleLinks;
  readonly clock: () => Date;
  readonly sleep: (ms: number) => Promise<void>;
  readonly logger: LogPort;
  readonly metrics: MetricsPort;
  /** Who holds a lock (the invocation's request id). */
  readonly owner: string;
}

/** `rejected`: the event broke the contract and its rejection was posted (a retry could not fix it). */
export type NotifyOutcome = 'sent' | 'rejected' | 'duplicate' | 'quiet' | 'ignored' | 'not-configured';

export interface NotifyResult {
  readonly outcome: NotifyOutcome;
  readonly key?: string;
  readonly channel?: string;
  readonly ts?: string | null;
  readonly messages: number;
}

// --- what an event means for Slack ------------------------------------------------------------------

interface Plan {
  /** Names the state parameter: the bake id, or a key of a message of its own. */
  readonly key: string;
  readonly channel: string;
  /** For a bake: the next view of the parent; undefined for a message of its own. */
  readonly advance?: (view: BakeView | undefined) => BakeView;
  /** The reply in the bake's thread, or the message of its own. */
  readonly message: SlackMessage | undefined;
  /** Set when the message reports a rejected event. */
  readonly outcome?: 'rejected';
  /**
   * A message of its own posted once per key, whatever event brings it again: Revoke publishes a
   * new `Revocation Rejected` on each of Lambda's retries, all with the request's id.
   */
  readonly once?: true;
  /**
   * For a message of its own: the bake whose thread it replies in when that thread exists (Web
   * API only); else it stands alone in `channel`. The bake's own message is left as it is.
   */
  readonly thread?: string;
}

const RANK: Record<BakeStatus, number> = {
  requested: 0,
  started: 1,
  skipped: 2,
  baked: 2,
  tested: 3,
  promoted: 4,
  failed: 9,
};

const next = (view: BakeView | undefined, base: { bakeId: string; family: string }, status: BakeStatus) => {
  const current: BakeView = view ?? { bakeId: base.bakeId, family: base.family, status: 'requested' };
  const keep = current.status === 'failed' || RANK[current.status] > RANK[status];
  return { ...current, status: keep ? current.status : status };
};

const safeKey = (text: string): string => text.replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 200);

/**
 * A Bakehouse alarm (CloudWatch's own event, routed from the default bus by the NotifyAlarms rule):
 * a message of its own in the default channel. One state parameter per alarm, so a redelivered
 * state change posts nothing twice and two changes of one alarm take turns.
 */
const planForAlarm = (event: AlarmStateChange, deps: NotifyDeps): Plan | 'ignored' => {
  const message = alarmMessage(event);
  if (!message) return 'ignored';
  return { key: `alarm-${event.detail.alarmName}`, channel: deps.config.settings.slack.channel, message };
};

const slackSettingsOf = (family: Family | undefined) => family?.slack;

// --- rejected events ---------------------------------------------------------------------------------

/** The envelope of a raw EventBridge event or of one `parseEvent` read. */
const envelopeOf = (event: unknown): Omit<Rejection, 'issues' | 'requestedBy'> => {
  const e = (typeof event === 'object' && event !== null ? event : {}) as Record<string, unknown>;
  const text = (value: unknown, otherwise: string) => (typeof value === 'string' && value ? value : otherwise);
  return {
    detailType: text(e['detail-type'] ?? e.detailType, '(no detail-type)'),
    eventId: text(e.id, '(no id)'),
    source: text(e.source, '(no source)'),
  };
};

/** `field: problem. Fix: …` per issue, from `rejected <detail-type> <id>: a; b` (parseEvent's wording). */
const issuesOf = (reason: string, rejection: Omit<Rejection, 'issues'>): string[] => {
  const prefix = `rejected ${rejection.detailType} ${rejection.eventId}: `;
  const issues = reason.startsWith(prefix) ? reason.slice(prefix.length) : reason;
  return issues.split('; ').filter((issue) => issue.length > 0);
};

/**
 * A message of its own saying the event was rejected, once per event id (the state parameter's
 * `seen`). In the family's channel when the event names a known family, else the default one.
 */
const rejectionPlan = (rejection: Rejection, deps: NotifyDeps, requestedBy?: unknown): Plan => {
  const who = typeof requestedBy === 'string' && requestedBy ? { requestedBy } : {};
  return {
    // The key StartBake's Bake Rejected of the same request uses: the two post one message.
    key: `rejected-${rejection.eventId}`,
    channel: deps.config.settings.slack.channel,
    message: rejectedMessage({ ...rejection, ...who }),
    outcome: 'rejected',
    once: true,
  };
};

/** The rejection of an event that breaks the contract; any other error is not this function's to report. */
const planForInvalid = (event: unknown, error: unknown, deps: NotifyDeps): Plan => {
  if (errorNameOf(error) !== 'InvalidEventError') throw error;
  const base = envelopeOf(event);
  const detail = ((event ?? {}) as { detail?: unknown }).detail;
  const fields = (typeof detail === 'object' && detail !== null ? detail : {}) as Record<string, unknown>;
  const plan = rejectionPlan({ ...base, issues: issuesOf(messageOf(error), base) }, deps, fields.requestedBy);
  const family = typeof fields.family === 'string' ? findFamily(deps.config, fields.family) : undefined;
  return { ...plan, channel: family?.slack?.channel ?? plan.channel };
};

const planFor = (event: ParsedEvent<Notified>, deps: NotifyDeps): Plan | 'quiet' | 'ignored' => {
  const { config, links } = deps;
  const defaultChannel = config.settings.slack.channel;
  const familyOf = (name: string) => findFamily(config, name);
  const route = (name: string) => slackSettingsOf(familyOf(name))?.channel ?? defaultChannel;
  const quiet = (name: string) => slackSettingsOf(familyOf(name))?.quiet === true;
  const mentions = (name: string) => slackSettingsOf(familyOf(name))?.mentionOnFailure ?? [];
  const osOf = (name: string): { os?: string } => {
    const os = familyOf(name)?.os;
    return os ? { os } : {};
  };
  switch (event.detailType) {
    case DetailType.BakeRequested: {
      const d = (event as ParsedEvent<typeof DetailType.BakeRequested>).detail;
      // StartBake rejects requests for unknown families (into its own DLQ), in these words: no bake follows.
      if (!familyOf(d.family)) {
        const known = config.families.map((f) => f.name).join(', ');
        return rejectionPlan(
          { ...envelopeOf(event), issues: [`family: no family named '${d.family}'. Fix: use one of ${known}`] },
          deps,
          d.requestedBy,
        );
      }
      // A quiet family's parent starts with the bake, so a skipped bake leaves no message at all.
      if (quiet(d.family)) return 'quiet';
      const bakeId = bakeIdFor(d.family, d.idempotencyKey ?? `event:${event.id}`);
      return {
        key: bakeId,
        channel: route(d.family),
        advance: (view) => ({
          ...next(view, { bakeId, family: d.family }, 'requested'),
          requestedBy: d.requestedBy,
          reason: clip(d.reason, 200),
          ...osOf(d.family),
        }),
        message: requestedReply(d),
      };
    }
    case DetailType.BakeStarted: {
      const d = (event as ParsedEvent<typeof DetailType.BakeStarted>).detail;
      return {
        key: d.bakeId,
        channel: route(d.family),
        advance: (view) => ({
          ...next(view, d, 'started'),
          sourceAmiId: d.sourceAmiId,
          automationExecutionId: d.automationExecutionId,
          ...osOf(d.family),
        }),
        message: startedReply(d, links.region),
      };
    }
    case DetailType.BakeSkipped: {
      const d = (event as ParsedEvent<typeof DetailType.BakeSkipped>).detail;
      if (quiet(d.family)) return 'quiet';
      return {
        key: d.bakeId,
        channel: route(d.family),
        advance: (view) => ({ ...next(view, d, 'skipped'), sourceAmiId: d.sourceAmiId, existingAmiId: d.amiId }),
        message: skippedReply(d),
      };
    }
    case DetailType.AmiBaked: {
      const d = (event as ParsedEvent<typeof DetailType.AmiBaked>).detail;
      const summary = bakeSummaryOf(d);
      return {
        key: d.bakeId,
        channel: route(d.family),
        advance: (view) => ({
          ...next(view, d, 'baked'),
          os: d.os,
          amiId: d.amiId,
          amiName: d.name,
          region: d.region,
          sourceAmiId: d.sourceAmiId,
          durationSeconds: d.durationSeconds,
          automationExecutionId: d.automationExecutionId,
          ...(summary ? { changesSummary: clip(summary, 300) } : {}),
        }),
        message: bakedReply(d),
      };
    }
    case DetailType.BakeFailed: {
      const d = (event as ParsedEvent<typeof DetailType.BakeFailed>).detail;
      return {
        key: d.bakeId,
        channel: route(d.family),
        advance: (view) => ({
          ...next(view, d, 'failed'),
          failedStep: d.failedStep,
          failureReason: clip(d.reason, 500),
          ...(d.automationExecutionId ? { automationExecutionId: d.automationExecutionId } : {}),
        }),
        message: failedReply(d, links, mentions(d.family)),
      };
    }
    case DetailType.AmiTested: {
      const d = (event as ParsedEvent<typeof DetailType.AmiTested>).detail;
      const failed = d.results.filter((r) => !r.passed).length;
      return {
        key: d.bakeId,
        channel: route(d.family),
        advance: (view) => ({
          ...next(view, d, 'tested'),
          amiId: d.amiId,
          tests: { passed: d.passed, total: d.results.length, failed },
        }),
        message: testedReply(d),
      };
    }
    case DetailType.AmiPromoted: {
      const d = (event as ParsedEvent<typeof DetailType.AmiPromoted>).detail;
      const bakeId = d.bakeId;
      // Rollbacks and revocations move a channel to an older image: news of their own, not of that old bake.
      if (!bakeId || d.cause === 'rollback' || d.cause === 'revocation') {
        return { key: `promoted-${event.id}`, channel: route(d.family), message: promotedStandalone(d) };
      }
      return {
        key: bakeId,
        channel: route(d.family),
        advance: (view) => {
          const base = next(view, { bakeId, family: d.family }, 'promoted');
          const channels = [
            ...(base.channels ?? []).filter((c) => c.channel !== d.channel),
            { channel: d.channel, previousAmiId: d.previousAmiId },
          ].slice(-10);
          return { ...base, amiId: base.amiId ?? d.amiId, channels };
        },
        message: promotedReply(d),
      };
    }
    // A canary belongs to the bake whose image it judges: replies in its thread. The parent keeps
    // its status (AMI Promoted, after a pass, moves it on) and shows the canary's state.
    case DetailType.CanaryStarted: {
      const d = (event as ParsedEvent<typeof DetailType.CanaryStarted>).detail;
      return {
        key: d.bakeId,
        channel: route(d.family),
        advance: (view) => ({ ...next(view, d, 'tested'), canary: { verdict: 'running', score: null } }),
        message: canaryStartedReply(d),
      };
    }
    case DetailType.CanaryJudged: {
      const d = (event as ParsedEvent<typeof DetailType.CanaryJudged>).detail;
      return {
        key: d.bakeId,
        channel: route(d.family),
        advance: (view) => ({ ...next(view, d, 'tested'), canary: { verdict: d.verdict, score: d.score } }),
        message: canaryJudgedReply(d),
      };
    }
    case DetailType.RevocationCompleted: {
      const d = (event as ParsedEvent<typeof DetailType.RevocationCompleted>).detail;
      return {
        key: `revocation-${d.requestEventId}`,
        channel: d.family ? route(d.family) : defaultChannel,
        message: revocationMessage(d),
        once: true,
      };
    }
    case DetailType.RevocationRejected: {
      const d = (event as ParsedEvent<typeof DetailType.RevocationRejected>).detail;
      return {
        key: `revocation-rejected-${d.requestEventId}`,
        channel: defaultChannel,
        message: revocationRejectedMessage(d),
        outcome: 'rejected',
        once: true,
      };
    }
    case DetailType.BakeRejected: {
      const d = (event as ParsedEvent<typeof DetailType.BakeRejected>).detail;
      return {
        // Keyed by the request, as Notify's own rejection of a malformed Bake Requested is: one message.
        key: `rejected-${d.requestEventId}`,
        channel: d.family ? route(d.family) : defaultChannel,
        message: bakeRejectedMessage(d),
        outcome: 'rejected',
        once: true,
        ...(d.bakeId ? { thread: d.bakeId } : {}),
      };
    }
    case DetailType.PromotionRejected: {
      const d = (event as ParsedEvent<typeof DetailType.PromotionRejected>).detail;
      return {
        // Keyed by the request, as Notify's own rejection of an event that breaks the contract is
        // (Promote rejects a malformed AMI Tested too): one message for the two.
        key: `rejected-${d.requestEventId}`,
        channel: d.family ? route(d.family) : defaultChannel,
        message: promotionRejectedMessage(d),
        outcome: 'rejected',
        once: true,
        ...(d.bakeId ? { thread: d.bakeId } : {}),
      };
    }
    case DetailType.JanitorReport: {
      const d = (event as ParsedEvent<typeof DetailType.JanitorReport>).detail;
      return { key: `janitor-${d.runId}`, channel: defaultChannel, message: janitorMessage(d) };
    }
  }
  return 'ignored';
};

// --- state ----------------------------------------------------------------------------------------

/** The record (and lock) name of a message's state: the bake id, or a key of a message of its own. */
export const stateKeyOf = (key: string): string => safeKey(key);

/** Serializes the state within 4 KB, dropping the oldest seen event ids first: a record stays small. */
export const serializeState = (state: NotifyState): string => {
  let seen = state.seen.slice(-SEEN_EVENTS);
  let text = JSON.stringify({ ...state, seen });
  while (Buffer.byteLength(text) > MAX_STATE_CHARS && seen.length > 0) {
    seen = seen.slice(1);
    text = JSON.stringify({ ...state, seen });
  }
  if (Buffer.byteLength(text) > MAX_STATE_CHARS && 'bakeId' in state.state) {
    // Only the parent's essentials then: the message in Slack already shows the rest.
    const { bakeId, family, status, amiId, sourceAmiId } = state.state;
    text = JSON.stringify({ ...state, seen, state: { bakeId, family, status, amiId, sourceAmiId } });
  }
  return text;
};

/** Reads what `serializeState` wrote; anything unreadable starts over (logged). */
export const parseState = (text: string | undefined, logger: LogPort, key: string): NotifyState | undefined => {
  if (!text) return undefined;
  try {
    const parsed = JSON.parse(text) as NotifyState;
    return parsed && typeof parsed.channel === 'string' && Array.isArray(parsed.seen) ? parsed : undefined;
  } catch {
    logger.warn('unreadable notifier state; starting over', { key });
    return undefined;
  }
};

// --- the notifier ------------------------------------------------------------------------------------

/**
 * The parent message of a bake, if it was posted with the Web API: read without its lock, since a
 * parent's channel and ts never change once written.
 */
const threadOf = async (bakeId: string, deps: NotifyDeps): Promise<{ channel: string; ts: string } | undefined> => {
  const { state } = await deps.store.read(stateKeyOf(bakeId));
  return state?.ts && 'bakeId' in state.state ? { channel: state.channel, ts: state.ts } : undefined;
};

interface Planned {
  readonly id: string;
  readonly detailType: string;
  readonly plan: Plan | 'quiet' | 'ignored';
}

const planOf = (event: unknown, deps: NotifyDeps): Planned => {
  if (isAlarmEvent(event)) {
    const alarm = parseAlarmEvent(event);
    const plan = planForAlarm(alarm, deps);
    if (plan === 'ignored') {
      // INSUFFICIENT_DATA, and OK that resolves nothing (a new alarm's first evaluation), say nothing.
      const { state, previousState } = alarm.detail;
      deps.logger.info('no message: an alarm state change that is not news', {
        alarmName: alarm.detail.alarmName,
        state: state.value,
        previousState: previousState?.value,
        news: alarmNews(alarm.detail),
      });
    }
    return { id: alarm.id, detailType: alarm['detail-type'], plan };
  }
  const { eventId, detailType } = envelopeOf(event);
  if (UNANNOUNCED_REQUESTS.includes(detailType)) return { id: eventId, detailType, plan: 'ignored' };
  const contract = parseEvent(event, NOTIFIED_DETAIL_TYPES);
  return { id: contract.id, detailType: contract.detailType, plan: planFor(contract, deps) };
};

/**
 * An event that breaks the contract is reported once as rejected and the invocation succeeds: a
 * retry cannot fix it, and the dead-letter queue is kept for what a retry can (Slack failing).
 */
const rejectedPlanned = (event: unknown, error: unknown, deps: NotifyDeps): Planned => {
  const plan = planForInvalid(event, error, deps);
  const { eventId, detailType } = envelopeOf(event);
  deps.logger.warn('event rejected: it breaks the contract; posting the rejection, not retrying', {
    eventId,
    detailType,
    reason: messageOf(error),
  });
  return { id: eventId, detailType, plan };
};

export const notify = async (event: unknown, deps: NotifyDeps): Promise<NotifyResult> => {
  let planned: Planned;
  try {
    planned = planOf(event, deps);
  } catch (error) {
    planned = rejectedPlanned(event, error, deps);
  }
  const { plan } = planned;
  const parsed = { id: planned.id, detailType: planned.detailType };
  if (plan === 'quiet' || plan === 'ignored') {
    deps.logger.info(`no message: ${plan}`, { detailType: parsed.detailType });
    return { outcome: plan, messages: 0 };
  }
  const slack = await deps.slack();
  if (!slack) {
    deps.logger.warn('Slack is not configured: the secret holds neither botToken nor webhookUrl; message dropped');
    deps.metrics.count('SlackMessagesDropped');
    return { outcome: 'not-configured', key: plan.key, messages: 0 };
  }
  const stateKey = stateKeyOf(plan.key);
  const held = await deps.store.lock(stateKey, deps.owner);
  let sent = 0;
  try {
    const stored = await deps.store.read(stateKey);
    const before = stored.state;
    let version = stored.version;
    const writeState = async (state: NotifyState): Promise<void> => {
      version = await deps.store.write(stateKey, state, version);
    };
    /**
     * The write after a message went out. If another notification of the key wrote first (this
     * one's lock lease ran out while Slack answered), what was posted stays posted: its event id is
     * added to what that one wrote, not thrown away with an error whose retry would post it again.
     */
    const recordPosted = async (state: NotifyState): Promise<void> => {
      try {
        await writeState(state);
      } catch (error) {
        if (errorNameOf(error) !== 'NotifierBusyError') throw error;
        const latest = await deps.store.read(stateKey);
        if (!latest.state) throw error;
        deps.logger.warn('the Slack state changed while this notification posted; its event is added to it', {
          key: plan.key,
          eventId: parsed.id,
        });
        version = latest.version;
        await writeState({ ...latest.state, seen: [...latest.state.seen, parsed.id].slice(-SEEN_EVENTS) });
      }
    };
    if (before?.seen.includes(parsed.id) || (plan.once && before)) {
      deps.logger.info('event already notified', { key: plan.key, eventId: parsed.id });
      return { outcome: 'duplicate', key: plan.key, channel: before.channel, ts: before.ts, messages: 0 };
    }
    const seen = [...(before?.seen ?? []), parsed.id].slice(-SEEN_EVENTS);
    const channel = before?.channel ?? plan.channel;

    // A message of its own: posted once (as a reply when it belongs in a bake's thread that exists).
    if (!plan.advance) {
      const message = plan.message as SlackMessage;
      const thread = plan.thread && slack.mode === 'web-api' ? await threadOf(plan.thread, deps) : undefined;
      const posted = await slack.post(
        thread ? { channel: thread.channel, threadTs: thread.ts, ...message } : { channel, ...message },
      );
      sent += 1;
      await recordPosted({
        channel: posted.channel,
        ts: posted.ts ?? null,
        seen,
        state: { status: 'posted' },
      });
      return {
        outcome: plan.outcome ?? 'sent',
        key: plan.key,
        channel: posted.channel,
        ts: posted.ts ?? null,
        messages: sent,
      };
    }

    const previousView = before && 'bakeId' in before.state ? before.state : undefined;
    const view = plan.advance(previousView);
    const parent = parentMessage(view, deps.links);

    if (slack.mode === 'webhook') {
      const posted = await slack.post({ channel, ...combined(parent, plan.message) });
      sent += 1;
      await recordPosted({ channel: posted.channel, ts: null, seen, state: view });
      return { outcome: 'sent', key: plan.key, channel: posted.channel, ts: null, messages: sent };
    }

    let parentChannel = channel;
    let ts = before?.ts ?? null;
    if (ts) {
      await slack.update({ channel: parentChannel, ts, ...parent });
    } else {
      const posted = await slack.post({ channel, ...parent });
      parentChannel = posted.channel;
      ts = posted.ts ?? null;
      // Kept at once: a failure of the reply below must not post a second parent when retried.
      await writeState({ channel: parentChannel, ts, seen: before?.seen ?? [], state: view });
    }
    sent += 1;
    if (plan.message && ts) {
      await slack.post({ channel: parentChannel, threadTs: ts, ...plan.message });
      sent += 1;
    }
    await recordPosted({ channel: parentChannel, ts, seen, state: view });
    return { outcome: 'sent', key: plan.key, channel: parentChannel, ts, messages: sent };
  } catch (error) {
    if (errorNameOf(error) === 'SlackDeliveryError') {
      deps.metrics.count('SlackMessagesDropped');
      deps.logger.error('Slack did not take the message', { key: plan.key, reason: messageOf(error) });
    }
    throw error;
  } finally {
    if (sent > 0) deps.metrics.count('SlackMessagesSent', sent);
    await held.release();
  }
};
