/**
 * What a sandbox service is: a set of actions in one wire protocol, plus an optional `tick`
 * that moves its resources along the sandbox clock (instances boot, images become available).
 */
import type { SandboxClock } from './clock';
import type { Faults } from './faults';
import type { QueryParams, XmlValue } from './protocol/query';
import type { Store, Transaction } from './store';

export interface ServiceContext {
  readonly store: Store;
  readonly clock: SandboxClock;
  /** The sandbox account id (STS answers with it; resources are owned by it). */
  readonly account: string;
  /** From the request's SigV4 credential scope. */
  readonly region: string;
  readonly requestId: string;
  readonly faults: Faults;
  /** Runs `work` as one durable transaction stamped with the sandbox clock. */
  transact<R>(work: (tx: Transaction) => R): R;
}

export type QueryAction = (params: QueryParams, ctx: ServiceContext) => Record<string, XmlValue>;
export type JsonAction = (input: Record<string, unknown>, ctx: ServiceContext) => Record<string, unknown>;

interface ServiceBase {
  /** The SigV4 signing name: ec2, autoscaling, ssm, secretsmanager, sts. */
  readonly signingName: string;
  /** Moves time-driven state forward before each request. */
  readonly tick?: (ctx: ServiceContext) => void;
  /**
   * Creates the service's share of the seeded public world (public AMIs, public parameters).
   * Runs at every start in registration order (EC2 before SSM) and must be idempotent.
   */
  readonly seed?: (ctx: ServiceContext) => void;
}

export interface QueryService extends ServiceBase {
  readonly protocol: 'ec2' | 'awsquery';
  /** The XML namespace of responses, e.g. `http://ec2.amazonaws.com/doc/2016-11-15/`. */
  readonly xmlns: string;
  readonly actions: Readonly<Record<string, QueryAction>>;
}

export interface JsonService extends ServiceBase {
  readonly protocol: 'json';
  /** `X-Amz-Target` prefix, e.g. `AmazonSSM` or `secretsmanager`. */
  readonly targetPrefix: string;
  readonly actions: Readonly<Record<string, JsonAction>>;
}

export type SandboxService = QueryService | JsonService;
