/**
 * Named errors of promotion. Each is a bad request, not a transient failure: a retry cannot fix
 * it, and the event ends in the function's dead-letter queue with this message.
 */
import { BakehouseError } from '../commons/errors';

/** A promotion that must not happen: the image is failed, revoked, of another family, missing or unavailable. */
export class PromotionRefusedError extends BakehouseError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'PromotionRefusedError';
  }
}

/** A `Promote Requested` naming a channel the family does not declare. */
export class UnknownChannelError extends BakehouseError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'UnknownChannelError';
  }
}
