/**
 * Named errors. `name` is a literal so it survives minification: it is what the state machine's
 * Retry/Catch `ErrorEquals` and the Lambda async DLQ record show.
 */
export class InvalidBakeRequestError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'InvalidBakeRequestError';
  }
}

export class UnknownFamilyError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'UnknownFamilyError';
  }
}

/** Another bake of the same family holds the family lock; the state machine retries later. */
export class FamilyBusyError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'FamilyBusyError';
  }
}

export class SourceImageNotFoundError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'SourceImageNotFoundError';
  }
}

/**
 * An event names an image that does not exist: deregistered (Revoke refuses), or not yet visible
 * (TestAmi's Lambda retry asks again).
 */
export class ImageNotFoundError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'ImageNotFoundError';
  }
}

export class MissingEnvironmentError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'MissingEnvironmentError';
  }
}

export class PublishError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'PublishError';
  }
}

/** The message of anything caught, without assuming it is an Error. */
export const messageOf = (error: unknown): string => (error instanceof Error ? error.message : String(error));

/** The `name` of an AWS SDK error (its exception shape), or undefined. */
export const errorNameOf = (error: unknown): string | undefined =>
  error instanceof Error
    ? error.name
    : typeof error === 'object' && error && 'name' in error
      ? String(error.name)
      : undefined;

/** An incoming event that does not match the contract; its message names the field and the fix. */
export class InvalidEventError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'InvalidEventError';
  }
}
