/**
 * The running sandbox as its services see it: calls to the sandbox's own AWS APIs (what a Step
 * Functions `aws-sdk` task, an automation `aws:executeAwsApi` step or an EventBridge target
 * does), events that AWS itself emits (`aws.ssm`, `aws.ec2`), and background work that must
 * never take the endpoint down.
 *
 * Cross-service calls go through real AWS SDK v3 clients over loopback, so they see exactly the
 * wire shapes (PascalCase members, error codes) a deployed caller would, and faults injected on
 * an action apply to them too.
 */
import type { ServiceContext } from './service';

/** An event AWS emits on the default bus of a region (EC2 state changes, automation status). */
export interface ServiceEvent {
  readonly source: string;
  readonly detailType: string;
  readonly detail: Record<string, unknown>;
  readonly resources?: readonly string[];
  /** Defaults to the sandbox's home region. */
  readonly region?: string;
}

export type ServiceEventSink = (event: ServiceEvent, ctx: ServiceContext) => void;

/**
 * EC2's eventual consistency after creates (`services/ec2/consistency.ts`): for `hideSeconds` of
 * sandbox time after an instance is launched or an image created, Describe by id answers NotFound
 * and Describe with filters leaves it out, as AWS may.
 */
export interface EventualConsistency {
  readonly hideSeconds: number;
}

/** How the sandbox behaves where AWS behaviour varies; services read it from `ctx.runtime`. */
export interface RuntimeBehaviour {
  /** Off when absent. */
  readonly eventualConsistency?: EventualConsistency;
}

export interface AwsCallOptions {
  readonly region?: string;
  /**
   * Sign as these credentials (a role session a service holds: `authz/sessions.ts`); the sandbox's
   * administrator when omitted.
   */
  readonly credentials?: {
    readonly accessKeyId: string;
    readonly secretAccessKey: string;
    readonly sessionToken?: string;
  };
  /** Abandon the call (the SDK aborts the HTTP request). */
  readonly signal?: AbortSignal;
}

/** SDK package per service name, with the names Step Functions and SSM Automation use for it. */
const CLIENT_MODULES: Readonly<Record<string, () => Promise<Record<string, unknown>>>> = {
  ec2: () => import('@aws-sdk/client-ec2'),
  ssm: () => import('@aws-sdk/client-ssm'),
  eventbridge: () => import('@aws-sdk/client-eventbridge'),
  events: () => import('@aws-sdk/client-eventbridge'),
  sfn: () => import('@aws-sdk/client-sfn'),
  states: () => import('@aws-sdk/client-sfn'),
  lambda: () => import('@aws-sdk/client-lambda'),
  scheduler: () => import('@aws-sdk/client-scheduler'),
  autoscaling: () => import('@aws-sdk/client-auto-scaling'),
  secretsmanager: () => import('@aws-sdk/client-secrets-manager'),
  sts: () => import('@aws-sdk/client-sts'),
  iam: () => import('@aws-sdk/client-iam'),
  kms: () => import('@aws-sdk/client-kms'),
  sqs: () => import('@aws-sdk/client-sqs'),
  dynamodb: () => import('@aws-sdk/client-dynamodb'),
};

export const callableServices = (): readonly string[] => Object.keys(CLIENT_MODULES);

interface SdkClient {
  send(command: unknown, options?: { abortSignal?: AbortSignal }): Promise<Record<string, unknown>>;
  destroy(): void;
}
type ClientClass = new (config: Record<string, unknown>) => SdkClient;
type CommandClass = new (input: Record<string, unknown>) => unknown;

/** The error for a service or action the sandbox cannot call (names the fix). */
export class UnknownApiError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnknownApiError';
  }
}

/** SDK clients kept at once (one per service, region and credentials). */
const MAX_CLIENTS = 256;

const pascal = (action: string): string => action.charAt(0).toUpperCase() + action.slice(1);

export class SandboxRuntime {
  private readonly clients = new Map<string, SdkClient>();
  private readonly sinks: ServiceEventSink[] = [];
  private readonly inFlight = new Set<Promise<void>>();
  private closed = false;

  constructor(
    /** The endpoint URL, known once the server listens. */
    private readonly endpointUrl: () => string,
    /** A fresh service context for background work in a region. */
    readonly context: (region?: string) => ServiceContext,
    readonly homeRegion = 'us-east-1',
    behaviour: RuntimeBehaviour = {},
  ) {
    this.eventualConsistency = behaviour.eventualConsistency;
  }

  /** EC2's eventual consistency after creates; off when undefined. A test may change it while running. */
  eventualConsistency: EventualConsistency | undefined;

  get endpoint(): string {
    return this.endpointUrl();
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /**
   * Calls `action` (PascalCase or camelCase, e.g. `DescribeImages` / `describeImages`) of
   * `service` (`ec2`, `ssm`, `eventbridge`/`events`, `sfn`/`states`, `lambda`, `scheduler`,
   * `autoscaling`, `secretsmanager`, `sts`) on this sandbox. Resolves to the SDK output without
   * `$metadata`; rejects with the SDK's error (its `name` is the AWS error code).
   */
  async callAws(
    service: string,
    action: string,
    input: Record<string, unknown>,
    options: AwsCallOptions = {},
  ): Promise<Record<string, unknown>> {
    if (this.closed) throw new Error('the sandbox is closing');
    const key = service.toLowerCase();
    const load = CLIENT_MODULES[key];
    if (!load) {
      throw new UnknownApiError(
        `The sandbox cannot call service '${service}'; it calls ${Object.keys(CLIENT_MODULES).join(', ')}`,
      );
    }
    const module = await load();
    const Command = module[`${pascal(action)}Command`] as CommandClass | undefined;
    if (typeof Command !== 'function') {
      throw new UnknownApiError(`The ${service} API has no action '${pascal(action)}'`);
    }
    const region = options.region ?? this.homeRegion;
    const client = this.client(key, region, module, options.credentials);
    const output = await client.send(new Command(input), options.signal ? { abortSignal: options.signal } : undefined);
    const { $metadata: _metadata, ...rest } = output;
    return rest;
  }

  private client(
    key: string,
    region: string,
    module: Record<string, unknown>,
    credentials: AwsCallOptions['credentials'] = { accessKeyId: 'sandbox', secretAccessKey: 'sandbox' },
  ): SdkClient {
    const cacheKey = `${key}@${region}@${credentials.accessKeyId}`;
    const cached = this.clients.get(cacheKey);
    if (cached) return cached;
    const [, Client] =
      Object.entries(module).find(
        ([name, value]) => name.endsWith('Client') && !name.includes('Service') && typeof value === 'function',
      ) ?? [];
    if (!Client) throw new UnknownApiError(`No SDK client class for '${key}'`);
    const client = new (Client as ClientClass)({
      endpoint: this.endpoint,
      region,
      credentials,
      maxAttempts: 1,
    });
    // Role sessions come and go (one per automation, per Lambda worker): keep the newest clients only.
    if (this.clients.size >= MAX_CLIENTS) {
      const [oldestKey, oldest] = this.clients.entries().next().value as [string, SdkClient];
      this.clients.delete(oldestKey);
      oldest.destroy();
    }
    this.clients.set(cacheKey, client);
    return client;
  }

  /** Services that deliver AWS's own events (EventBridge) register here. */
  onServiceEvent(sink: ServiceEventSink): void {
    this.sinks.push(sink);
  }

  /** Emits an event as AWS would on the default bus; dropped when no bus service runs. */
  emit(event: ServiceEvent, ctx: ServiceContext = this.context(event.region)): void {
    for (const sink of this.sinks) sink(event, ctx);
  }

  /**
   * Runs `work` in the background. A failure is logged with `label` and never reaches the
   * server; nothing new starts once the sandbox closes.
   */
  spawn(label: string, work: () => Promise<void>): void {
    if (this.closed) return;
    const running: Promise<void> = work()
      .catch((error: unknown) => {
        if (!this.closed) console.error(`sandbox: ${label} failed`, error);
      })
      .finally(() => this.inFlight.delete(running));
    this.inFlight.add(running);
  }

  /** How many background tasks are running (tests wait for quiet). */
  get busy(): number {
    return this.inFlight.size;
  }

  close(): void {
    this.closed = true;
    for (const client of this.clients.values()) client.destroy();
    this.clients.clear();
  }
}
