/**
 * What a sandbox service is: a set of actions in one wire protocol, plus an optional `tick`
 * that moves its resources along the sandbox clock (instances boot, images become available).
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { Authorizer, AuthzCheck } from './authz/authorizer';
import type { Caller } from './authz/identity';
import type { SandboxClock } from './clock';
import type { Faults } from './faults';
import type { QueryParams, XmlValue } from './protocol/query';
import type { SandboxRuntime } from './runtime';
import type { Store, Transaction } from './store';

export interface ServiceContext {
  readonly store: Store;
  readonly clock: SandboxClock;
  /** The sandbox account id (STS answers with it; resources are owned by it). */
  readonly account: string;
  /** From the request's SigV4 credential scope. */
  readonly region: string;
  readonly requestId: string;
  /** The access key id the request was signed with (absent for background work and unsigned routes). */
  readonly accessKeyId?: string;
  /**
   * Who the request acts as, from its credentials (`authz/identity.ts`): an administrator, or a
   * role session. Reading it throws `ExpiredToken` for an expired session.
   */
  readonly caller: Caller;
  /**
   * Authorizes more checks for the caller (or `as`) than the action's own, e.g. `iam:PassRole`
   * for a role named in the request; throws the service's denial when one is refused.
   */
  authorize(checks: readonly AuthzCheck[], as?: Caller): void;
  readonly authorizer: Authorizer;
  readonly faults: Faults;
  /** Runs `work` as one durable transaction stamped with the sandbox clock. */
  transact<R>(work: (tx: Transaction) => R): R;
  /** The running sandbox: calls to its own APIs, service events, background work. */
  readonly runtime: SandboxRuntime;
  /**
   * Where deployment assets live (CDK cloud assemblies, `cdk.out`: `asset.<hash>/` directories),
   * the newest first: Lambda resolves `Code.S3Key: '<hash>.zip'` in the first that holds it. The
   * sandbox's `assetsDir`, then each assembly provisioned since (`Sandbox.addAssets`), as
   * `cdk deploy` uploads every deployment's assets to one bootstrap bucket. Empty when none.
   */
  readonly assetsDirs: readonly string[];
}

export type QueryAction = (params: QueryParams, ctx: ServiceContext) => Record<string, XmlValue>;

/**
 * Which authorizations an action needs (the Service Authorization Reference's resource types and
 * condition keys for it, filled in from the request). An action without one is authorized as
 * `PREFIX:Action` on `*`.
 */
export type AuthzMapper<I> = (input: I, ctx: ServiceContext) => readonly AuthzCheck[];
export type JsonAction = (
  input: Record<string, unknown>,
  ctx: ServiceContext,
) => Record<string, unknown> | Promise<Record<string, unknown>>;

/** A plain HTTP request as a route sees it (REST-JSON AWS APIs, the Slack sink, control routes). */
export interface HttpRequest {
  readonly method: string;
  /** The URL path, percent-decoding left to the route (path segments may be encoded ARNs). */
  readonly path: string;
  readonly query: URLSearchParams;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
  /** Named groups of the route's path pattern, percent-decoded. */
  readonly params: Readonly<Record<string, string>>;
}

export interface HttpReply {
  readonly status?: number;
  readonly headers?: Readonly<Record<string, string>>;
  /** A string is sent as it is; anything else as JSON. Omitted: an empty body. */
  readonly body?: unknown;
}

export interface HttpRoute {
  readonly method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** Matched against the whole path; named groups become `params`. */
  readonly path: RegExp;
  /** The operation name (faults and logs use it), e.g. `Invoke`. */
  readonly action: string;
  readonly handle: (request: HttpRequest, ctx: ServiceContext) => HttpReply | Promise<HttpReply>;
}

interface ServiceBase {
  /** The SigV4 signing name: ec2, autoscaling, ssm, secretsmanager, sts. */
  readonly signingName: string;
  /** The IAM service prefix of its actions (`states` for Step Functions); the signing name if omitted. */
  readonly iamPrefix?: string;
  /** Moves time-driven state forward before each request. */
  readonly tick?: (ctx: ServiceContext) => void;
  /**
   * Creates the service's share of the seeded public world (public AMIs, public parameters).
   * Runs at every start in registration order (EC2 before SSM) and must be idempotent.
   */
  readonly seed?: (ctx: ServiceContext) => void;
  /**
   * Background work, called every few real milliseconds (never twice at once for one service)
   * while the sandbox runs: fire schedules, advance executions along the sandbox clock.
   */
  readonly pump?: (ctx: ServiceContext) => void | Promise<void>;
  /** Called once the endpoint listens (its URL is known): resume work kept in the store. */
  readonly start?: (ctx: ServiceContext) => void | Promise<void>;
  /** Called on close, before the store closes: stop workers and timers. */
  readonly stop?: () => void | Promise<void>;
  /**
   * Unsigned HTTP routes the service answers (the Slack sink, `/_sandbox/...` views), tried
   * before SigV4 routing. Errors are the route's own business (it must not throw).
   */
  readonly unsignedRoutes?: readonly HttpRoute[];
}

export interface QueryService extends ServiceBase {
  readonly protocol: 'ec2' | 'awsquery';
  /** The XML namespace of responses, e.g. `http://ec2.amazonaws.com/doc/2016-11-15/`. */
  readonly xmlns: string;
  readonly actions: Readonly<Record<string, QueryAction>>;
  readonly authz?: Readonly<Record<string, AuthzMapper<QueryParams>>>;
}

export interface JsonService extends ServiceBase {
  readonly protocol: 'json';
  /** `application/x-amz-json-1.0` (Step Functions) or `-1.1` (SSM, EventBridge); 1.1 if omitted. */
  readonly jsonVersion?: '1.0' | '1.1';
  /** `X-Amz-Target` prefix, e.g. `AmazonSSM` or `secretsmanager`. */
  readonly targetPrefix: string;
  readonly actions: Readonly<Record<string, JsonAction>>;
  readonly authz?: Readonly<Record<string, AuthzMapper<Record<string, unknown>>>>;
  /**
   * awsQueryCompatible services (CloudWatch): errors carry `x-amzn-query-error: Code;Sender|Receiver`
   * with the query protocol's code (what actions throw), and `__type` the JSON shape's name, which
   * this maps the code to (a code not listed is its own shape name).
   */
  readonly awsQueryCompatible?: Readonly<Record<string, string>>;
}

/**
 * REST-JSON (Lambda, EventBridge Scheduler): the method and path name the operation. An
 * `AwsError` thrown by a route is answered with `x-amzn-ErrorType` and a JSON body, as AWS does.
 */
export interface RestJsonService extends ServiceBase {
  readonly protocol: 'rest-json';
  readonly routes: readonly HttpRoute[];
  /** Keyed by the route's `action`. */
  readonly authz?: Readonly<Record<string, AuthzMapper<HttpRequest>>>;
}

export type SandboxService = QueryService | JsonService | RestJsonService;
