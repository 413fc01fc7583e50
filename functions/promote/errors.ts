/**
 * Named errors of promotion. Each is a bad request, not a transient failure: a retry cannot fix
 * it, and the event ends in the function's dead-letter queue with this message.
 */
import { BakehouseError } from '../commons/errors';

/** A promotion that must not happen: the image is failed, revoked, of another family, missing or unavailable. */
export class PromotionRefusedError extends BakehouseError {
  /** The bake whose thread the refusal belongs in: the image's, when it is of the family asked for. */
  readonly bakeId: string | null;

  constructor(message: string, options?: ErrorOptions & { readonly bakeId?: string | null }) {
    super(message, options);
    this.name = 'PromotionRefusedError';
    this.bakeId = options?.bakeId ?? null;
  }
}

/** A `Promote Requested` naming a channel the family does not declare. */
export class UnknownChannelError extends BakehouseError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'UnknownChannelError';
  }
}
