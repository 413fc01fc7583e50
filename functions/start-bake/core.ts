/**
 * Turns a `Bake Requested` event into one state machine execution. The execution name is derived
 * from the family and the idempotency key (the event id when the sender gave none), so a
 * redelivered event, or the same request sent twice, starts one bake: Step Functions returns the
 * running execution for the same name and input, and refuses a name it has already closed.
 */
import { type SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { bakeIdFor } from '../commons/bake-id';
import { errorNameOf, InvalidBakeRequestError, UnknownFamilyError } from '../commons/errors';
import { type BakeRequest, bakeRequestSchema, describeIssues } from '../commons/events';
import type { BakehouseConfig } from '../commons/families';
import { findFamily } from '../commons/family-lookup';
import type { LogPort } from '../commons/powertools';

export interface StartBakeDeps {
  readonly config: BakehouseConfig;
  readonly sfn: Pick<SFNClient, 'send'>;
  readonly stateMachineArn: string;
  readonly logger: LogPort;
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
  const parsed = bakeRequestSchema.safeParse(detail);
  if (!parsed.success) {
    throw new InvalidBakeRequestError(`rejected Bake Requested: ${describeIssues(parsed.error)}`);
  }
  if (!findFamily(config, parsed.data.family)) {
    const known = config.families.map((f) => f.name).join(', ');
    throw new UnknownFamilyError(
      `rejected Bake Requested: family: no family named '${parsed.data.family}'. Fix: use one of ${known}`,
    );
  }
  return parsed.data;
};

export const startBake = async (event: BakeRequestedEvent, deps: StartBakeDeps): Promise<StartBakeResult> => {
  const request = validateBakeRequest(event.detail, deps.config);
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
