/**
 * Turns a `Bake Requested` event into one state machine execution. The execution name is derived
 * from the family and the idempotency key (the event id when the sender gave none), so a
 * redelivered event, or the same request sent twice, starts one bake: Step Functions returns the
 * running execution for the same name and input, and refuses a name it has already closed.
 *
 * A request it refuses (malformed, or a family this deployment does not have) is answered with a
 * `Bake Rejected` on the bus (the reason naming the field, and the fix), so the sender hears it in
 * seconds, and then still thrown, so the request lands in the RejectedBakeRequests queue. Lambda's
 * async retries repeat the refusal; each publishes the same `requestEventId` (Notify posts it once).
 */
import type { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { type SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { bakeIdFor } from '../commons/bake-id';
import { errorNameOf, InvalidBakeRequestError, messageOf, UnknownFamilyError } from '../commons/errors';
import {
  type BakeRejected,
  type BakeRequest,
  bakeRequestSchema,
  DetailType,
  describeIssues,
  EVENT_VERSION,
  parseContract,
} from '../commons/events';
import type { BakehouseConfig } from '../commons/families';
import { findFamily } from '../commons/family-lookup';
import type { LogPort } from '../commons/powertools';
import { type EventTarget, publishEvent } from '../commons/publish';
import { requestDetailOf, requestEventIdOf, requestText, splitFix } from '../commons/rejections';

export interface StartBakeDeps {
  readonly config: BakehouseConfig;
  readonly sfn: Pick<SFNClient, 'send'>;
  readonly stateMachineArn: string;
  readonly logger: LogPort;
  /** Where `Bake Rejected` goes. */
  readonly events: Pick<EventBridgeClient, 'send'>;
  readonly eventTarget: EventTarget;
}

export interface BakeRequestedEvent {
  readonly id: string;
  readonly source: string;
  readonly 'detail-type': string;
  readonly detail: unknown;
}

export interface StartBakeResult {
  readonly status: 'started' | 'duplicate';
  readonly bakeId: string;
  readonly executionArn: string;
}

export const validateBakeRequest = (detail: unknown, config: BakehouseConfig): BakeRequest => {
  const parsed = parseContract(bakeRequestSchema, detail);
  if (!parsed.success) {
    throw new InvalidBakeRequestError(`rejected Bake Requested: ${describeIssues(parsed.error)}`);
  }
  if (!findFamily(config, parsed.data.family)) {
    const known = config.families.map((f) => f.name).join(', ');
    throw new UnknownFamilyError(
      `rejected Bake Requested: family: no family named '${parsed.data.family}' in this deployment. Fix: use one of ${known}, or deploy the configuration that declares '${parsed.data.family}' first`,
    );
  }
  return parsed.data;
};

/** A refusal: the request itself is bad, and a retry cannot fix it. */
const isRefusal = (error: unknown): boolean =>
  error instanceof InvalidBakeRequestError || error instanceof UnknownFamilyError;

/** What the refused request named, as far as it can be read (the detail may be malformed). */
export const bakeRejectionOf = (event: unknown, error: unknown): BakeRejected => {
  const detail = requestDetailOf(event);
  const requestEventId = requestEventIdOf(event);
  const family = requestText(detail.family, 256);
  const idempotencyKey = requestText(detail.idempotencyKey, 256);
  const { reason, fix } = splitFix(
    messageOf(error),
    'correct the request (its shape is in schemas/events/bake-requested.json) and send it again',
  );
  return {
    version: EVENT_VERSION,
    requestEventId,
    family,
    idempotencyKey,
    requestedBy: requestText(detail.requestedBy, 256),
    bakeId: family ? bakeIdFor(family, idempotencyKey ?? `event:${requestEventId}`) : null,
    reason,
    fix,
  };
};

export const startBake = async (event: BakeRequestedEvent, deps: StartBakeDeps): Promise<StartBakeResult> => {
  let request: BakeRequest;
  try {
    request = validateBakeRequest(event.detail, deps.config);
  } catch (error) {
    if (isRefusal(error)) {
      // Published before the error is thrown again; if publishing fails, that error is what Lambda
      // retries, and the next try refuses (and publishes) the same way.
      await publishEvent(deps.events, deps.eventTarget, DetailType.BakeRejected, bakeRejectionOf(event, error));
    }
    throw error;
  }
  const idempotencyKey = request.idempotencyKey ?? `event:${event.id}`;
  const bakeId = bakeIdFor(request.family, idempotencyKey);
  const executionArn = `${deps.stateMachineArn.replace(':stateMachine:', ':execution:')}:${bakeId}`;
  const input = JSON.stringify({ ...request, idempotencyKey });
  try {
    const started = await deps.sfn.send(
      new StartExecutionCommand({ stateMachineArn: deps.stateMachineArn, name: bakeId, input }),
    );
    deps.logger.info('bake started', { bakeId, family: request.family, requestedBy: request.requestedBy });
    return { status: 'started', bakeId, executionArn: started.executionArn ?? executionArn };
  } catch (error) {
    if (errorNameOf(error) !== 'ExecutionAlreadyExists') throw error;
    deps.logger.info('duplicate bake request; the bake with this idempotency key already exists', {
      bakeId,
      idempotencyKey,
    });
    return { status: 'duplicate', bakeId, executionArn };
  }
};
