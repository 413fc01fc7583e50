/**
 * Named errors. `name` is a literal so it survives minification: it is what the state machine's
 * Retry/Catch `ErrorEquals` and the Lambda async DLQ record show. The errors functions share live
 * here; a function's own live in its folder's errors.ts, the CLI's in cli/errors.ts. All of them
 * extend `BakehouseError`.
 */

/** The base of every Bakehouse error: `cause` is passed through; each subclass sets its literal `name`. */
export class BakehouseError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'BakehouseError';
  }
}

export class InvalidBakeRequestError extends BakehouseError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'InvalidBakeRequestError';
  }
}

export class UnknownFamilyError extends BakehouseError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'UnknownFamilyError';
  }
}

/** Another bake of the same family holds the family lock; the state machine retries later. */
export class FamilyBusyError extends BakehouseError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'FamilyBusyError';
  }
}

export class SourceImageNotFoundError extends BakehouseError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'SourceImageNotFoundError';
  }
}

/**
 * An event names an image that does not exist: deregistered (Revoke refuses), or not yet visible
 * (TestAmi's Lambda retry asks again).
 */
export class ImageNotFoundError extends BakehouseError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'ImageNotFoundError';
  }
}

export class MissingEnvironmentError extends BakehouseError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'MissingEnvironmentError';
  }
}

export class PublishError extends BakehouseError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'PublishError';
  }
}

/** An incoming event that does not match the contract; its message names the field and the fix. */
export class InvalidEventError extends BakehouseError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'InvalidEventError';
  }
}

/** The function bundle carries no validated family configuration (see config.ts). */
export class ConfigNotBundledError extends BakehouseError {
  constructor() {
    super(
      'the family configuration was not compiled into this bundle. Fix: build through the Bakehouse stack (npx sst deploy, npm run synth), which validates bakehouse.config.ts and defines __BAKEHOUSE_CONFIG__',
    );
    this.name = 'ConfigNotBundledError';
  }
}

/** Thrown when the configuration does not validate; `problems` lists every finding. */
export class ConfigError extends BakehouseError {
  readonly problems: readonly string[];
  constructor(problems: readonly string[]) {
    super(`Bakehouse configuration is invalid:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

/** A promotion's configured launch template does not exist (or this role may not see it). */
export class LaunchTemplateNotFoundError extends BakehouseError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'LaunchTemplateNotFoundError';
  }
}

/** A promotion's configured Auto Scaling group does not exist. */
export class AutoScalingGroupNotFoundError extends BakehouseError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'AutoScalingGroupNotFoundError';
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
