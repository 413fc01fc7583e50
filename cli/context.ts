/**
 * What every command runs with: the target (AWS or the sandbox), the clients, the configuration,
 * the resource names of the stage, and the terminal. Commands take this object and nothing else,
 * so tests drive them with a sandbox URL or fake clients. It imports the SDK for types only: the
 * clients themselves are built in clients.ts, which `main` loads when a command runs, so `--help`
 * does not load the SDK.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { EC2Client } from '@aws-sdk/client-ec2';
import type { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import type { LambdaClient } from '@aws-sdk/client-lambda';
import type { SFNClient } from '@aws-sdk/client-sfn';
import type { SQSClient } from '@aws-sdk/client-sqs';
import type { SSMClient } from '@aws-sdk/client-ssm';
import type { BakehouseConfig } from '../functions/commons/families';
import type { PipelineNames } from '../functions/commons/stage-names';
import { UsageError } from './errors';

export const DEFAULT_SANDBOX_URL = 'http://127.0.0.1:4566';

export interface Output {
  write(text: string): unknown;
  readonly isTTY?: boolean;
}

export interface CliIo {
  readonly stdout: Output;
  readonly stderr: Output;
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Asks a yes/no question on the terminal; undefined when there is no terminal to ask on. */
  readonly confirm?: (question: string) => Promise<boolean>;
}

export interface Target {
  /** The endpoint for every client; undefined means AWS itself. */
  readonly endpoint: string | undefined;
  readonly sandbox: boolean;
  readonly region: string | undefined;
}

export interface TargetOptions {
  readonly sandbox?: string | boolean;
  readonly region?: string;
}

/** The forms `--sandbox` takes, for usage errors and `--help`. */
export const SANDBOX_FORMS = 'a port (4566), host:port (localhost:4566) or a URL (http://127.0.0.1:4566)';

const portOf = (text: string): number | undefined => {
  if (!/^\d{1,5}$/.test(text)) return undefined;
  const port = Number(text);
  return port >= 1 && port <= 65535 ? port : undefined;
};

/**
 * The sandbox endpoint a `--sandbox` value names: a port (on 127.0.0.1, where the sandbox binds),
 * host:port, or an http(s) URL; undefined when the value is none of these.
 */
export const sandboxEndpointOf = (value: string): string | undefined => {
  const port = portOf(value);
  if (port !== undefined) return `http://127.0.0.1:${port}`;
  const hostPort = /^([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\]):(\d{1,5})$/.exec(value);
  if (hostPort) {
    const [, host, hostPortNumber] = hostPort;
    return portOf(hostPortNumber as string) === undefined ? undefined : `http://${host}:${hostPortNumber}`;
  }
  try {
    const url = new URL(value);
    return url.protocol === 'http:' || url.protocol === 'https:' ? url.origin : undefined;
  } catch {
    return undefined;
  }
};

/**
 * Whether the argument after `--sandbox` is meant as its value: it starts with a digit (a port)
 * or holds ':' or '/' (host:port, URL), which no command, family name or AMI id does. Anything
 * else is the next argument (`bakehouse --sandbox families`), so `--sandbox` takes no value.
 */
export const looksLikeSandboxValue = (arg: string): boolean => /^\d|^[^-].*[:/]/.test(arg);

/**
 * `--sandbox [port|host:port|url]` wins (without a value: BAKEHOUSE_SANDBOX_PORT, the variable
 * `npm run sandbox` listens on, else 4566), then AWS_ENDPOINT_URL, then AWS with the standard
 * credential chain. A value that names no endpoint is a usage error naming the forms.
 */
export const resolveTarget = (options: TargetOptions, env: CliIo['env']): Target => {
  if (options.sandbox !== undefined && options.sandbox !== false) {
    const region = options.region ?? env.AWS_REGION ?? 'us-east-1';
    if (typeof options.sandbox === 'string' && options.sandbox !== '') {
      const endpoint = sandboxEndpointOf(options.sandbox);
      if (!endpoint)
        throw new UsageError(`--sandbox '${options.sandbox}' is not an endpoint. Fix: give ${SANDBOX_FORMS}`, {
          option: '--sandbox',
        });
      return { endpoint, sandbox: true, region };
    }
    const port = env.BAKEHOUSE_SANDBOX_PORT;
    if (port !== undefined && port !== '' && portOf(port) === undefined)
      throw new UsageError(
        `BAKEHOUSE_SANDBOX_PORT '${port}' is not a port (1-65535). Fix: set it to the port \`npm run sandbox\` listens on, or give --sandbox ${SANDBOX_FORMS}`,
        { variable: 'BAKEHOUSE_SANDBOX_PORT' },
      );
    return { endpoint: port ? `http://127.0.0.1:${portOf(port)}` : DEFAULT_SANDBOX_URL, sandbox: true, region };
  }
  const endpoint = env.AWS_ENDPOINT_URL || undefined;
  const region = options.region ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION;
  return { endpoint, sandbox: endpoint !== undefined && isLoopback(endpoint), region };
};

const isLoopback = (url: string): boolean => {
  try {
    return ['127.0.0.1', 'localhost', '[::1]'].includes(new URL(url).hostname);
  } catch {
    return false;
  }
};

export interface Clients {
  readonly ec2: EC2Client;
  readonly ssm: SSMClient;
  readonly sfn: SFNClient;
  readonly events: EventBridgeClient;
  readonly lambda: LambdaClient;
  readonly sqs: SQSClient;
  /** The state table (`diff` reads the images' inventories). */
  readonly dynamodb: DynamoDBClient;
}

/** The resource names of a stage the CLI uses, as the stack gives them (commons/stage-names.ts). */
export type StageNames = Pick<PipelineNames, 'bus' | 'stateMachine' | 'canaryStateMachine' | 'dashboard' | 'function'>;

export interface CommandContext {
  readonly config: BakehouseConfig;
  readonly stage: string;
  readonly names: StageNames;
  readonly target: Target;
  readonly clients: Clients;
  readonly io: CliIo;
  /** Who is asking, for `requestedBy` (`cli:<user>`). */
  readonly user: string;
  readonly json: boolean;
  readonly now: () => Date;
  readonly sleep: (ms: number) => Promise<void>;
  /** Aborted on SIGINT: long-running commands stop and clean up. */
  readonly signal: AbortSignal;
  /** Milliseconds between polls (bake --wait, promote, events tail). */
  readonly pollMs: number;
}

/** Writes a line to stdout. */
export const say = (ctx: Pick<CommandContext, 'io'>, text: string): void => {
  ctx.io.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
};

/** Writes a JSON document to stdout (two-space indented, one trailing newline). */
export const sayJson = (ctx: Pick<CommandContext, 'io'>, value: unknown): void => {
  ctx.io.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
};
