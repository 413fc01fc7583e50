/**
 * The handler shape every asynchronously invoked function shares: the Lambda context and the
 * event's id, source and detail-type on every log line, one line with the outcome, and one line
 * with the reason when the event is not processed (the error is thrown again, so the async
 * on-failure destination keeps the event with it).
 *
 * A payload that is not an EventBridge event (the janitor's schedule, a direct invoke) has no
 * envelope keys to log; the rest of the shape is the same.
 */
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { errorNameOf, messageOf } from './errors';
import { logger } from './powertools';

export interface ConsumedEvent {
  readonly id?: string;
  readonly source?: string;
  readonly 'detail-type'?: string;
}

export interface ConsumerOptions<R> {
  /** What of the result the outcome line carries (default: all of it; a large result gives a summary). */
  readonly outcome?: (result: R) => unknown;
  /** The reason as it may be logged (default: the error's message; the notifier strips its secret). */
  readonly redact?: (reason: string) => string;
}

/** The EventBridge envelope's keys; none on a payload that has no envelope. */
const envelopeKeys = (event: unknown): Record<string, string | undefined> => {
  const envelope: ConsumedEvent = typeof event === 'object' && event !== null ? event : {};
  return { eventId: envelope.id, source: envelope.source, detailType: envelope['detail-type'] };
};

const whole = <R>(result: R): unknown => result;
const unchanged = (reason: string): string => reason;

export const eventConsumer = <E, R>(
  what: string,
  work: (event: E, context: Context) => Promise<R>,
  { outcome = whole, redact = unchanged }: ConsumerOptions<R> = {},
) =>
  middy<E, R>()
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .handler(async function consumeEvent(event: E, context: Context) {
      logger.appendKeys(envelopeKeys(event));
      try {
        const result = await work(event, context);
        logger.info(`${what} handled`, { result: outcome(result) });
        return result;
      } catch (error) {
        logger.error('event not processed', { error: errorNameOf(error), reason: redact(messageOf(error)) });
        throw error;
      }
    });
