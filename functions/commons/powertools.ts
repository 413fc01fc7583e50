import { Logger } from '@aws-lambda-powertools/logger';

/** One logger per container; service name from POWERTOOLS_SERVICE_NAME (set by the stack). */
export const logger = new Logger({ serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'bakehouse' });

/** The logger methods core modules use; tests pass a recorder with the same shape. */
export type LogPort = Pick<Logger, 'debug' | 'info' | 'warn' | 'error'>;
