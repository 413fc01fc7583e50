/** Named errors of the Slack notifier. */
import { BakehouseError } from '../commons/errors';

/** Another notification of the same bake held its state for longer than the wait; the Lambda retry tries again. */
export class NotifierBusyError extends BakehouseError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'NotifierBusyError';
  }
}

/**
 * Slack could not take a message (after the retries); the message names Slack's error, never the
 * secret. It takes no `cause`: the Slack client's errors may carry the token.
 */
export class SlackDeliveryError extends BakehouseError {
  constructor(message: string) {
    super(message);
    this.name = 'SlackDeliveryError';
  }
}
