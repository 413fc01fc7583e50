import { type EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { PublishError } from './errors';
import type { DetailType } from './events';

export interface EventTarget {
  readonly busName: string;
  readonly source: string;
}

/** Puts one event; a per-entry failure (PutEvents answers 200 with FailedEntryCount) is an error. */
export const publishEvent = async (
  client: Pick<EventBridgeClient, 'send'>,
  target: EventTarget,
  detailType: DetailType,
  detail: object,
): Promise<string> => {
  const result = await client.send(
    new PutEventsCommand({
      Entries: [
        { EventBusName: target.busName, Source: target.source, DetailType: detailType, Detail: JSON.stringify(detail) },
      ],
    }),
  );
  const entry = result.Entries?.[0];
  if ((result.FailedEntryCount ?? 0) > 0 || !entry?.EventId) {
    throw new PublishError(
      `could not put '${detailType}' on ${target.busName}: ${entry?.ErrorCode ?? 'unknown'} ${entry?.ErrorMessage ?? ''}`.trim(),
    );
  }
  return entry.EventId;
};
