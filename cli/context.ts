/**
 * What every command runs with: the target (AWS or the sandbox), the clients, the configuration,
 * the resource names of the stage, and the terminal. Commands take this object and nothing else,
 * so tests drive them with a sandbox URL or fake clients.
 */
import { EC2Client } from '@aws-sdk/client-ec2';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { SFNClient } from '@aws-sdk/client-sfn';
import { SQSClient } from '@aws-sdk/client-sqs';
import { SSMClient } from '@aws-sdk/client-ssm';
import type { BakehouseConfig } from '../functions/commons/families';

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

/** `--sandbox [url]` wins, then AWS_ENDPOINT_URL, then AWS with the standard credential chain. */
export const resolveTarget = (options: TargetOptions, env: CliIo['env']): Target => {
  if (options.sandbox !== undefined && options.sandbox !== false) {
    const endpoint = typeof options.sandbox === 'string' ? options.sandbox : DEFAULT_SANDBOX_URL;
    return { endpoint, sandbox: true, region: options.region ?? env.AWS_REGION ?? 'us-east-1' };
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
}

type ClientConfig = {
  endpoint?: string;
  region?: string;
  credentials?: { accessKeyId: string; secretAccessKey: string };
  maxAttempts: number;
};

/** The SDK options for a target: the sandbox takes any credentials, AWS the standard chain. */
export const clientConfig = (target: Target): ClientConfig => ({
  maxAttempts: target.sandbox ? 2 : 5,
  ...(target.endpoint === undefined ? {} : { endpoint: target.endpoint }),
  ...(target.region === undefined ? {} : { region: target.region }),
  ...(target.sandbox ? { credentials: { accessKeyId: 'test', secretAccessKey: 'test' } } : {}),
});

/** Clients built on first use (a command builds only what it calls), destroyed by `close`. */
export const lazyClients = (target: Target): Clients & { close(): void } => {
  const config = clientConfig(target);
  const built = new Map<string, { destroy(): void }>();
  const get = <T extends { destroy(): void }>(key: string, make: () => T): T => {
    let client = built.get(key) as T | undefined;
    if (!client) {
      client = make();
      built.set(key, client);
    }
    return client;
  };
  return {
    get ec2() {
      return get('ec2', () => new EC2Client(config));
    },
    get ssm() {
      return get('ssm', () => new SSMClient(config));
    },
    get sfn() {
      return get('sfn', () => new SFNClient(config));
    },
    get events() {
      return get('events', () => new EventBridgeClient(config));
    },
    get lambda() {
      return get('lambda', () => new LambdaClient(config));
    },
    get sqs() {
      return get('sqs', () => new SQSClient(config));
    },
    close() {
      for (const client of built.values()) client.destroy();
      built.clear();
    },
  };
};

/** Resource names of a stage, as stacks/bake-pipeline.ts `bakehouseNames` builds them. */
export interface StageNames {
  readonly bus: string;
  readonly stateMachine: string;
  /** The canary state machine (`bakehouse-<stage>-canary`). */
  readonly canaryStateMachine: string;
  function(id: string): string;
}

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
