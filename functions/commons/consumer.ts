/**
 * The handler shape every EventBridge consumer shares: the Lambda context and the event's id,
 * source and detail-type on every log line, one line with the outcome, and one line with the
 * reason when the event is not processed (the error is thrown again, so the async on-failure
 * destination keeps the event with it).
 */
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import { errorNameOf, messageOf } from './errors';
import { logger } from './powertools';

export interface ConsumedEvent {
  readonly id?: string;
  readonly source?: string;
  readonly 'detail-type'?: string;
}

export const eventConsumer = <E extends ConsumedEvent, R>(what: string, work: (event: E) => Promise<R>) =>
  middy<E, R>()
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .handler(async (event: E) => {
      logger.appendKeys({ eventId: event.id, source: event.source, detailType: event['detail-type'] });
      try {
        const result = await work(event);
        logger.info(`${what} handled`, { result });
        return result;
      } catch (error) {
        logger.error('event not processed', { error: errorNameOf(error), reason: messageOf(error) });
        throw error;
      }
    });
