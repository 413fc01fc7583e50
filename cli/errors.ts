/**
 * CLI errors: each says what went wrong and the fix. Exit codes: 1 for a failure (AWS refused,
 * a bake failed, a promotion was refused), 2 for a usage error (unknown command, option, family,
 * channel or a malformed id).
 */
import { BakehouseError } from '../functions/commons/errors';

export const ExitCode = { Ok: 0, Failure: 1, Usage: 2, Interrupted: 130 } as const;

export class CliError extends BakehouseError {
  readonly exitCode: number;
  /** Extra data for `--json` output (`{ error, ...details }`). */
  readonly details: Record<string, unknown>;
  constructor(
    message: string,
    options: { exitCode?: number; details?: Record<string, unknown>; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'CliError';
    this.exitCode = options.exitCode ?? ExitCode.Failure;
    this.details = options.details ?? {};
  }
}

export class UsageError extends CliError {
  constructor(message: string, details: Record<string, unknown> = {}) {
    super(message, { exitCode: ExitCode.Usage, details });
    this.name = 'UsageError';
  }
}

const errorName = (error: unknown): string | undefined =>
  error !== null && typeof error === 'object' && 'name' in error
    ? String((error as { name: unknown }).name)
    : undefined;

const errorCode = (error: unknown): string | undefined => {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current !== null && typeof current === 'object'; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
};

export interface ErrorContext {
  /** The endpoint the CLI talks to, when it is not AWS itself. */
  readonly endpoint: string | undefined;
  readonly sandbox: boolean;
  readonly stage: string;
}

/** Turns an SDK or network error into a CliError that names the fix. */
export const explainError = (error: unknown, context: ErrorContext): CliError => {
  if (error instanceof CliError) return error;
  const name = errorName(error) ?? 'Error';
  const message = error instanceof Error ? error.message : String(error);
  const code = errorCode(error);
  if (code === 'ECONNREFUSED' || code === 'ECONNRESET' || code === 'ENOTFOUND' || /ECONNREFUSED/.test(message)) {
    const where = context.endpoint ?? 'AWS';
    return new CliError(
      context.sandbox
        ? `nothing answers at ${where}. Fix: start the sandbox with \`npm run sandbox\`, or point at the one running: --sandbox <port>, host:port or URL, or BAKEHOUSE_SANDBOX_PORT with a bare --sandbox`
        : `cannot reach ${where} (${code ?? message}). Fix: check the network, AWS_ENDPOINT_URL, or use --sandbox for the local sandbox (\`npm run sandbox\`)`,
      { cause: error },
    );
  }
  if (name === 'CredentialsProviderError' || /Could not load credentials|credential/i.test(message)) {
    return new CliError(
      'no AWS credentials found. Fix: set AWS_PROFILE (and run `aws sso login`) or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or use --sandbox to talk to the local sandbox (`npm run sandbox`)',
      { cause: error },
    );
  }
  if (/Region is missing/i.test(message)) {
    return new CliError('no AWS region set. Fix: set AWS_REGION (or pass --region)', { cause: error });
  }
  if (['ExpiredToken', 'ExpiredTokenException', 'UnrecognizedClientException', 'InvalidClientTokenId'].includes(name)) {
    return new CliError(
      `AWS rejected the credentials (${name}). Fix: refresh them (\`aws sso login\`) or use --sandbox`,
      {
        cause: error,
      },
    );
  }
  if (name === 'AccessDeniedException' || name === 'AccessDenied' || name === 'UnauthorizedOperation') {
    return new CliError(`AWS denied the call: ${message}. Fix: use a role with the Bakehouse operator permissions`, {
      cause: error,
    });
  }
  if (name === 'StateMachineDoesNotExist') {
    return new CliError(
      `the bake state machine of stage '${context.stage}' does not exist. Fix: deploy the stack (npx sst deploy --stage ${context.stage}) or pass the right --stage`,
      { cause: error },
    );
  }
  return new CliError(`${name}: ${message}`, { cause: error });
};
