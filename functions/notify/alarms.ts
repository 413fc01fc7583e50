/**
 * CloudWatch's own event for an alarm that changed state, as the notifier accepts it. CloudWatch
 * puts it on the account's default bus with source `aws.cloudwatch` and detail-type `CloudWatch
 * Alarm State Change`; `resources` holds the alarm's ARN and `detail` the alarm's name, its new
 * and previous state (value, reason, reason data, timestamp) and its configuration (description
 * and the metrics it watches: `metricStat.metric` with namespace, name and dimensions for a metric,
 * `expression` for metric math). Composite alarms carry `alarmRule` instead of metrics.
 * (CloudWatch User Guide, "Alarm events and EventBridge":
 * https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/cloudwatch-and-eventbridge.html;
 * EventBridge Events Reference, "Amazon CloudWatch events": durable delivery.)
 *
 * Only what the message needs is required; everything else CloudWatch adds is let through, so a
 * new field from AWS never rejects an alarm. A mismatch throws `InvalidEventError` naming the
 * field, like the contract's events.
 */
import * as z from 'zod/mini';
import { InvalidEventError } from '../commons/errors';
import { describeIssues, parseContract } from '../commons/events';

export const CLOUDWATCH_EVENT_SOURCE = 'aws.cloudwatch';
export const ALARM_STATE_CHANGE_DETAIL_TYPE = 'CloudWatch Alarm State Change';

export const AlarmState = ['OK', 'ALARM', 'INSUFFICIENT_DATA'] as const;
export type AlarmStateValue = (typeof AlarmState)[number];

const stateSchema = z.looseObject({
  value: z.enum(AlarmState),
  reason: z.optional(z.string()),
  /** A JSON document as text (threshold, evaluated datapoints): never parsed, never shown. */
  reasonData: z.optional(z.string()),
  timestamp: z.optional(z.string()),
});

const metricSchema = z.looseObject({
  id: z.optional(z.string()),
  metricStat: z.optional(
    z.looseObject({
      metric: z.looseObject({
        namespace: z.optional(z.string()),
        name: z.string(),
        dimensions: z.optional(z.record(z.string(), z.string())),
      }),
      period: z.optional(z.number()),
      stat: z.optional(z.string()),
      unit: z.optional(z.string()),
    }),
  ),
  expression: z.optional(z.string()),
  label: z.optional(z.string()),
  returnData: z.optional(z.boolean()),
});

export const alarmStateChangeSchema = z.looseObject({
  id: z.string().check(z.minLength(1, 'give the event id')),
  source: z.literal(CLOUDWATCH_EVENT_SOURCE),
  'detail-type': z.literal(ALARM_STATE_CHANGE_DETAIL_TYPE),
  account: z.optional(z.string()),
  time: z.optional(z.string()),
  region: z.string().check(z.minLength(1, 'give the region')),
  resources: z.optional(z.array(z.string())),
  detail: z.looseObject({
    alarmName: z.string().check(z.minLength(1, 'give the alarm name')),
    state: stateSchema,
    previousState: z.optional(stateSchema),
    configuration: z.optional(
      z.looseObject({
        description: z.optional(z.nullable(z.string())),
        metrics: z.optional(z.array(metricSchema)),
        alarmRule: z.optional(z.string()),
      }),
    ),
  }),
});
export type AlarmStateChange = z.output<typeof alarmStateChangeSchema>;
export type AlarmMetric = z.output<typeof metricSchema>;

/** True when the envelope says it is CloudWatch's alarm state change (the detail is checked by `parseAlarmEvent`). */
export const isAlarmEvent = (event: unknown): boolean => {
  const envelope = (event ?? {}) as { source?: unknown; 'detail-type'?: unknown };
  return envelope.source === CLOUDWATCH_EVENT_SOURCE && envelope['detail-type'] === ALARM_STATE_CHANGE_DETAIL_TYPE;
};

/** Parses CloudWatch's event; throws `InvalidEventError` naming the field otherwise. */
export const parseAlarmEvent = (event: unknown): AlarmStateChange => {
  const parsed = parseContract(alarmStateChangeSchema, event);
  if (parsed.success) return parsed.data;
  const envelope = (event ?? {}) as { id?: unknown; 'detail-type'?: unknown };
  const label = `${String(envelope['detail-type'] ?? '(no detail-type)')} ${String(envelope.id ?? '(no id)')}`;
  throw new InvalidEventError(`rejected ${label}: ${describeIssues(parsed.error)}`);
};

/** The alarm in the CloudWatch console (the alarms view, by name). */
export const alarmConsoleUrl = (region: string, alarmName: string): string =>
  `https://${region}.console.aws.amazon.com/cloudwatch/home?region=${region}#alarmsV2:alarm/${encodeURIComponent(alarmName)}`;

/**
 * What the notifier does with a state change: ALARM is news; OK is news only when it resolves an
 * ALARM (an alarm that is created goes INSUFFICIENT_DATA → OK at every deploy, which is nothing to
 * tell); INSUFFICIENT_DATA is never news (Bakehouse's alarms treat missing data as not breaching,
 * so it only shows while an alarm is new).
 */
export const alarmNews = (detail: AlarmStateChange['detail']): 'alarm' | 'resolved' | 'ignored' => {
  if (detail.state.value === 'ALARM') return 'alarm';
  if (detail.state.value === 'OK' && detail.previousState?.value === 'ALARM') return 'resolved';
  return 'ignored';
};
