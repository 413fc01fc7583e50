/**
 * EventBridge (JSON 1.1, `AWSEvents.<Action>`): buses with resource policies, rules with event
 * patterns, targets with input transformation, retries and dead-letter queues, PutEvents, and the
 * events AWS itself emits (`runtime.emit`) on the default bus.
 *
 * Unsigned views: `GET /_sandbox/events` (every accepted event, oldest first, with the rules it
 * matched and each delivery; `?bus=` and `?since=<event id>` filter) and `GET /_sandbox/dlq` (the
 * messages queue targets and dead-letter queues received; `?queue=<arn>` filters).
 */
import type { HttpRoute, JsonService, ServiceContext } from '../../service';
import { busActions } from './buses';
import { EventsTable, type LogRecord, type MessageRecord } from './model';
import { eventLog, putEvents, serviceEventSink, testEventPattern } from './put-events';
import { ruleActions } from './rules';

const RESTART_REASON = 'the sandbox stopped before the delivery finished';

/** In-flight deliveries cannot survive a restart: they are marked failed at start. */
const abandonPending = (ctx: ServiceContext): void => {
  const stale = [...ctx.store.table<LogRecord>(EventsTable.Log).entries()].filter(([, record]) =>
    record.deliveries.some((delivery) => delivery.status === 'pending'),
  );
  if (stale.length === 0) return;
  ctx.transact((tx) => {
    for (const [id, record] of stale) {
      tx.put<LogRecord>(EventsTable.Log, id, {
        ...record,
        deliveries: record.deliveries.map((delivery) =>
          delivery.status === 'pending' ? { ...delivery, status: 'failed', error: RESTART_REASON } : delivery,
        ),
      });
    }
  });
};

const routes: readonly HttpRoute[] = [
  {
    method: 'GET',
    path: /\/_sandbox\/events/,
    action: 'SandboxEvents',
    handle: (request, ctx) => ({ body: eventLog(ctx, request.query.get('bus'), request.query.get('since')) }),
  },
  {
    method: 'GET',
    path: /\/_sandbox\/dlq/,
    action: 'SandboxDeadLetters',
    handle: (request, ctx) => {
      const queue = request.query.get('queue');
      const messages = [...ctx.store.table<MessageRecord>(EventsTable.Messages).values()]
        .filter((message) => !queue || message.queueArn === queue)
        .sort((a, b) => a.seq - b.seq)
        .map(({ seq: _seq, ...rest }) => rest);
      return { body: messages };
    },
  },
];

export const eventBridge: JsonService = {
  protocol: 'json',
  signingName: 'events',
  targetPrefix: 'AWSEvents',
  actions: {
    ...busActions,
    ...ruleActions,
    PutEvents: putEvents,
    TestEventPattern: testEventPattern,
  },
  unsignedRoutes: routes,
  start: (ctx) => {
    abandonPending(ctx);
    ctx.runtime.onServiceEvent(serviceEventSink);
  },
};
