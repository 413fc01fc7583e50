/**
 * Named errors of revocation. A bad request, not a transient failure: a retry cannot fix it, and
 * the event ends in the function's dead-letter queue with this message.
 */
import { BakehouseError } from '../commons/errors';

/** An `AMI Revoked` naming an image Bakehouse did not make (no `bakehouse:managed=true`). */
export class UnmanagedImageError extends BakehouseError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'UnmanagedImageError';
  }
}
