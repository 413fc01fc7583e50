/**
 * Slack notifications (issue 6): the Notify function on every Bakehouse event (Promote Requested
 * and AMI Revoked excepted: their outcomes, AMI Promoted, are what people follow), the Secrets Manager secret that
 * holds the bot token or webhook URL, the dead-letter queues, and a role that reads that one secret
 * and keeps message state in the state table (its `record#slack#*` and `lock#slack#*` items only).
 *
 * The notifier is only another asynchronous target of the bus: nothing in a bake waits for it.
 * It also hears of Bakehouse's CloudWatch alarms (`routeAlarmsToNotify`, called by the alarms once
 * they exist): CloudWatch's state changes arrive on the account's default bus.
 */

import { Rule } from 'aws-cdk-lib/aws-events';
import { Effect, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { Secret } from 'aws-cdk-lib/aws-secretsmanager';
import { STATE_TABLE_NAME_KEY } from '../functions/commons/env';
import { DetailType } from '../functions/commons/events';
import { lockKeyPattern, recordKeyPattern } from '../functions/commons/state-table';
import { ALARM_STATE_CHANGE_DETAIL_TYPE, CLOUDWATCH_EVENT_SOURCE } from '../functions/notify/alarms';
import { NOTIFIED_DETAIL_TYPES } from '../functions/notify/core';
import { suppress } from './nag';
import { NotificationFunction } from './names';
import { lambdaTarget, type PipelineContext, retryAsyncInto } from './pipeline-context';

/**
 * Detail-types anyone allowed on the bus may put (the CLI, other teams) that Notify announces:
 * matched from any source. `AMI Revoked` is not one: Revoke's outcome is what is announced.
 */
const ANY_SOURCE_DETAIL_TYPES = [DetailType.BakeRequested] as const;

/** The rule target's dead-letter queue, which the alarm route shares. */
const NOTIFY_EVENTS_DLQ = 'NotifyEventsDlq';
/** EventBridge's default Event pattern size quota, in characters. */
const MAX_EVENT_PATTERN_CHARS = 2048;

const slackSecretName = (stage: string, configured?: string): string => configured ?? `bakehouse/${stage}/slack`;

export const addNotifications = (context: PipelineContext): void => {
  const { stack, app, config, names, arns, bus } = context;
  const { settings } = config;

  const secretName = slackSecretName(app.stage, settings.slack.secretName);
  // Created with a placeholder: an operator puts {"botToken":"xoxb-…"} or {"webhookUrl":"…"} in it.
  // Until then the notifier drops messages with a warning and the SlackMessagesDropped metric.
  const secret = new Secret(stack, 'SlackSecret', {
    secretName,
    description:
      'Bakehouse Slack notifier: {"botToken":"xoxb-…"} (threads, updates) or {"webhookUrl":"https://hooks.slack.com/…"}',
    generateSecretString: {
      secretStringTemplate: JSON.stringify({ configure: 'put botToken or webhookUrl here' }),
      generateStringKey: 'placeholder',
      excludePunctuation: true,
    },
  });
  suppress(secret, [
    {
      id: 'AwsSolutions-SMG4',
      reason:
        'The secret holds a Slack bot token or incoming webhook URL that Slack issues; Secrets Manager cannot rotate it (no rotation API on the Slack side). It is replaced by hand when Slack reissues it.',
    },
  ]);

  const notify = context.addFunction(NotificationFunction.Notify, {
    handler: 'functions/notify/handler.handler',
    description: 'Every Bakehouse event to Slack: one threaded, updated message per bake; janitor reports',
    timeout: '2 minutes',
    environment: {
      SLACK_SECRET_ID: secretName,
      STATE_MACHINE_ARN: arns.stateMachine(names.stateMachine),
      POWERTOOLS_METRICS_NAMESPACE: 'Bakehouse',
      [STATE_TABLE_NAME_KEY]: context.stateTable.tableName,
    },
    statements: [
      new PolicyStatement({
        sid: 'ReadSlackSecret',
        effect: Effect.ALLOW,
        actions: ['secretsmanager:GetSecretValue'],
        resources: [secret.secretArn],
      }),
      // Each bake's (and message's) Slack state, kept 30 days, and its lock (functions/notify/state.ts).
      context.stateTableAccess(
        'KeepMessageState',
        ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:DeleteItem'],
        [recordKeyPattern('slack'), lockKeyPattern('slack')],
      ),
    ],
  });

  // Slack failing fails the invocation: Lambda retries it twice, then the on-failure queue keeps
  // the event and the (redacted) error. The rule's own DLQ takes events Lambda never accepted.
  const queues = {
    events: context.addDeadLetterQueue(NOTIFY_EVENTS_DLQ),
    failed: context.addDeadLetterQueue('NotifyFailed'),
  };
  retryAsyncInto(notify, queues.failed);
  const target = () => lambdaTarget(notify, queues.events);

  const fromAnySource: readonly string[] = ANY_SOURCE_DETAIL_TYPES;
  new Rule(stack, 'NotifyBakehouseEvents', {
    eventBus: bus,
    description: 'Bakehouse events to Slack (Notify)',
    eventPattern: {
      source: [settings.eventSource],
      detailType: NOTIFIED_DETAIL_TYPES.filter((t) => !fromAnySource.includes(t)),
    },
    targets: [target()],
  });
  new Rule(stack, 'NotifyRequests', {
    eventBus: bus,
    description: 'Bake requests, from any source on the bus, to Slack (Notify)',
    eventPattern: { detailType: [...ANY_SOURCE_DETAIL_TYPES] },
    targets: [target()],
  });
};

/**
 * Bakehouse's alarms to Slack: CloudWatch puts `CloudWatch Alarm State Change` on the account's
 * **default** bus (source `aws.cloudwatch`; `detail.alarmName` the alarm's name, `resources` its
 * ARN: CloudWatch User Guide, "Alarm events and EventBridge"), so the rule lives there and names
 * the stage's alarms one by one: a name prefix would also match another stage whose name starts
 * with this one (`dev` and `dev-alice`). Only ALARM and OK are delivered; Notify says nothing for
 * an OK that resolves no ALARM (every new alarm goes INSUFFICIENT_DATA → OK once).
 *
 * An event pattern holds at most 2,048 characters by default (EventBridge User Guide, "Amazon
 * EventBridge quotas", Event pattern size): synthesis fails with the count when the names outgrow it.
 */
export const routeAlarmsToNotify = (context: PipelineContext, alarmNames: readonly string[]): void => {
  const notify = context.functions[NotificationFunction.Notify];
  const deadLetterQueue = context.deadLetterQueues.find((q) => q.alarmId === NOTIFY_EVENTS_DLQ)?.queue;
  if (!notify || !deadLetterQueue) {
    throw new Error('routeAlarmsToNotify: add the notifications (addNotifications) before the alarms');
  }
  const detail = { alarmName: [...alarmNames], state: { value: ['ALARM', 'OK'] } };
  // The pattern as the template (and EventBridge) spells it.
  const size = JSON.stringify({
    source: [CLOUDWATCH_EVENT_SOURCE],
    'detail-type': [ALARM_STATE_CHANGE_DETAIL_TYPE],
    detail,
  }).length;
  if (size > MAX_EVENT_PATTERN_CHARS) {
    throw new Error(
      `the NotifyAlarms event pattern names ${alarmNames.length} alarms in ${size} characters; EventBridge takes ${MAX_EVENT_PATTERN_CHARS}. Fix: a shorter stage name, or ask for the Event pattern size quota to be raised and raise MAX_EVENT_PATTERN_CHARS`,
    );
  }
  new Rule(context.stack, 'NotifyAlarms', {
    description: "Bakehouse's CloudWatch alarms (ALARM, and OK again) to Slack (Notify)",
    eventPattern: { source: [CLOUDWATCH_EVENT_SOURCE], detailType: [ALARM_STATE_CHANGE_DETAIL_TYPE], detail },
    targets: [lambdaTarget(notify, deadLetterQueue)],
  });
};
