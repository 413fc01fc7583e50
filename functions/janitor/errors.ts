/** Named errors of the janitor. */
import { BakehouseError } from '../commons/errors';

/** The inventory could not be read completely; nothing may be deleted on what it would have said. */
export class InventoryError extends BakehouseError {
  readonly call: string;
  constructor(call: string, message: string, options?: ErrorOptions) {
    super(`${call}: ${message}`, options);
    this.name = 'InventoryError';
    this.call = call;
  }
}

/** SSM parameters the janitor could not read, with `unreadableParameters: 'stop'`: the run plans and changes nothing. */
export class UnreadableParametersStop extends BakehouseError {
  constructor(message: string) {
    super(message);
    this.name = 'UnreadableParametersStop';
  }
}
