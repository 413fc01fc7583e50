/** Named errors of TestResult. */
import { BakehouseError } from '../commons/errors';

/** The automation has not ended yet (an event ahead of the API); the Lambda retry reads it again. */
export class TestNotFinishedError extends BakehouseError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'TestNotFinishedError';
  }
}
