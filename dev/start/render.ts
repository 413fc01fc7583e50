/**
 * How `npm start` shows what happens: one short line per event, per automation step, and Slack
 * messages rendered as text the way a reader sees them in the channel. Pure functions.
 */

import { bakeReportOf } from '../../functions/commons/documents';

/** One entry of `GET /_sandbox/events`. */
export interface LoggedEvent {
  readonly id?: string;
  readonly bus: string;
  readonly event: {
    readonly id: string;
    readonly source: string;
    readonly 'detail-type': string;
    readonly time: string;
    readonly detail: Record<string, unknown>;
  };
  readonly matchedRules: readonly string[];
  readonly deliveries: readonly {
    readonly rule?: string;
    readonly target?: string;
    readonly targetArn: string;
    readonly status: string;
    readonly attempts?: number;
    readonly error?: string;
  }[];
}

/** The last segment of an ARN or a path: `arn:…:function:bakehouse-dev-StartBake` → `bakehouse-dev-StartBake`. */
export const shortName = (arn: string): string => arn.split(/[:/]/).pop() ?? arn;

const SUMMARY_FIELDS = [
  'family',
  'amiId',
  'sourceAmiId',
  'failedStep',
  'reason',
  'Status',
  'alarmName',
  'state',
  'instance-id',
  'requestedBy',
] as const;

/** A field as one short word: a CloudWatch alarm's `state` object by its value. */
const summaryValue = (value: unknown): string => {
  if (typeof value === 'string') return value;
  const state = value as { value?: unknown } | null;
  if (state && typeof state === 'object' && typeof state.value === 'string') return state.value;
  return JSON.stringify(value);
};

/**
 * The Amazon Linux 2023 release an `AMI Baked` moved its image between, from its `release` field or
 * the bake's report in its outputs: `release=2023.9.20261101→2023.9.20261122`; empty for images
 * without a release.
 */
const releaseField = (detail: Record<string, unknown>): string => {
  const field = detail.release as { before?: string | null; after?: string | null } | null | undefined;
  const report = bakeReportOf(detail.outputs as Record<string, unknown> | undefined);
  const before = field?.before ?? report?.releaseBefore ?? null;
  const after = field?.after ?? report?.releaseAfter ?? null;
  if (before === null && after === null) return '';
  return before === after ? `release=${after}(unchanged)` : `release=${before ?? '?'}→${after ?? '?'}`;
};

/** `Bake Started family=al2023-base sourceAmiId=ami-… → StartBake (delivered)` */
export const renderEvent = (entry: LoggedEvent): string => {
  const { detail } = entry.event;
  const fields = [
    ...SUMMARY_FIELDS.filter((key) => detail[key] !== undefined && detail[key] !== null).map(
      (key) => `${key}=${summaryValue(detail[key])}`,
    ),
    releaseField(detail),
  ]
    .filter(Boolean)
    .join(' ');
  const routes =
    entry.deliveries.length === 0
      ? entry.matchedRules.length === 0
        ? 'no rule matched'
        : `matched ${entry.matchedRules.map(shortName).join(', ')}`
      : entry.deliveries
          .map((d) => `${shortName(d.targetArn)} (${d.status}${d.error ? `: ${d.error}` : ''})`)
          .join(', ');
  return `${entry.event['detail-type']} [${entry.event.source} on ${shortName(entry.bus)}] ${fields} → ${routes}`.replace(
    /\s+→/,
    ' →',
  );
};

export interface StepView {
  readonly StepName?: string | undefined;
  readonly Action?: string | undefined;
  readonly StepStatus?: string | undefined;
  readonly FailureMessage?: string | undefined;
}

/** `  patch (aws:runCommand) Success` */
export const renderStep = (automation: string, step: StepView): string =>
  `${automation} ${step.StepName ?? '?'} (${step.Action ?? '?'}) ${step.StepStatus ?? '?'}${
    step.FailureMessage ? `: ${step.FailureMessage.trim().replace(/\s*\n\s*/g, ' ')}` : ''
  }`;

// --- Slack ----------------------------------------------------------------------------------

type Block = Record<string, unknown>;

const textOf = (value: unknown): string => {
  if (typeof value === 'string') return value;
  if (value && typeof value === 'object' && typeof (value as { text?: unknown }).text === 'string') {
    return (value as { text: string }).text;
  }
  return '';
};

/** Slack mrkdwn to plain text: links `<url|label>` → `label (url)`, `*bold*` → `bold`. */
export const mrkdwnToText = (text: string): string =>
  text
    .replace(/<([^|>]+)\|([^>]+)>/g, '$2 ($1)')
    .replace(/<([^>]+)>/g, '$1')
    .replace(/(^|\s)\*(\S(?:[^*\n]*\S)?)\*(?=\s|$|[.,;:!?])/g, '$1$2')
    .replace(/(^|\s)_(\S(?:[^_\n]*\S)?)_(?=\s|$|[.,;:!?])/g, '$1$2');

const renderBlock = (block: Block): string[] => {
  switch (block.type) {
    case 'header':
      return [textOf(block.text).toUpperCase()];
    case 'section': {
      const lines = textOf(block.text) ? [mrkdwnToText(textOf(block.text))] : [];
      const fields = Array.isArray(block.fields) ? block.fields.map((f) => mrkdwnToText(textOf(f))) : [];
      return [...lines, ...fields.map((f) => `  ${f.replace(/\n/g, ' ')}`)];
    }
    case 'context':
      return [
        (Array.isArray(block.elements) ? block.elements : [])
          .map((e) => mrkdwnToText(textOf(e)))
          .filter(Boolean)
          .join(' · '),
      ];
    case 'divider':
      return ['────────'];
    case 'actions':
      return [
        (Array.isArray(block.elements) ? block.elements : []).map((e) => `[${textOf((e as Block).text)}]`).join(' '),
      ];
    default:
      return textOf(block.text) ? [mrkdwnToText(textOf(block.text))] : [];
  }
};

/** A Slack message (Web API or webhook payload) as the text a reader would see. */
export const renderSlackMessage = (payload: { text?: unknown; blocks?: unknown }): string => {
  const blocks = Array.isArray(payload.blocks) ? (payload.blocks as Block[]) : [];
  const lines = blocks.length > 0 ? blocks.flatMap(renderBlock) : [mrkdwnToText(textOf(payload.text))];
  return lines.filter((line) => line.trim() !== '').join('\n');
};

/** One call the Slack sink recorded (`GET /_sandbox/slack/messages`). */
export interface SlackCall {
  readonly method: string;
  readonly channel?: string;
  readonly ts?: string;
  readonly accepted: boolean;
  readonly payload?: unknown;
}

/**
 * The Slack calls as the channel shows them in the end: each parent message in its latest
 * version (chat.update replaces it), its thread replies indented under it, and webhook messages
 * as they came. Refused calls are left out.
 */
export const renderSlackConversation = (calls: readonly SlackCall[]): string[] => {
  interface Parent {
    channel: string;
    payload: Record<string, unknown>;
    updates: number;
    replies: Record<string, unknown>[];
  }
  const parents = new Map<string, Parent>();
  const order: (Parent | Record<string, unknown>)[] = [];
  for (const call of calls) {
    if (!call.accepted) continue;
    const payload = (call.payload ?? {}) as Record<string, unknown>;
    const thread = typeof payload.thread_ts === 'string' ? payload.thread_ts : undefined;
    if (call.method === 'chat.update' && call.ts && parents.has(call.ts)) {
      const parent = parents.get(call.ts) as Parent;
      parent.payload = payload;
      parent.updates += 1;
    } else if (thread && parents.has(thread)) {
      (parents.get(thread) as Parent).replies.push(payload);
    } else if (call.method === 'chat.postMessage' && call.ts) {
      const parent: Parent = { channel: call.channel ?? '', payload, updates: 0, replies: [] };
      parents.set(call.ts, parent);
      order.push(parent);
    } else {
      order.push(payload);
    }
  }
  const indent = (text: string, prefix: string) =>
    text
      .split('\n')
      .map((line) => `${prefix}${line}`)
      .join('\n');
  return order.map((entry) => {
    if (!('replies' in entry)) return indent(renderSlackMessage(entry), '  | ');
    const parent = entry as Parent;
    const head = `${parent.channel}${parent.updates > 0 ? ` (updated ${parent.updates}x)` : ''}`;
    return [
      `  ${head}`,
      indent(renderSlackMessage(parent.payload), '  | '),
      ...parent.replies.map((reply) => indent(renderSlackMessage(reply), '  |   ↳ ')),
    ].join('\n');
  });
};
