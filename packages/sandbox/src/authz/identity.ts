/**
 * Who signs a request, as AWS decides it from the credentials: the sandbox's own administrator, an
 * account's administrator, or a role session that STS issued (to a caller of `AssumeRole`, or to a
 * service acting with a role: Lambda with its execution role, Step Functions with the state
 * machine's role, SSM Automation with `AutomationAssumeRole`, EventBridge Scheduler with the
 * schedule's `RoleArn`, EC2 with an instance profile's role).
 *
 * - Credentials with no session behind them act as an administrator: a 12-digit access key id as
 *   that account's, anything else as the sandbox account's. Operators and tests keep working.
 * - A session's access key id (`ASIA…`) acts as `arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION`
 *   with the role's policies as IAM holds them when the request arrives (IAM User Guide, "Policy
 *   evaluation logic": a role session is evaluated with the role's identity-based policies and any
 *   session policies).
 * - Sessions issued to callers of `AssumeRole` expire after `DurationSeconds` on the sandbox clock;
 *   sessions issued to services are renewed by AWS while the service works, so here they do not expire.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { AwsError } from '../errors';
import { type CompiledPolicy, compilePolicy, mayAssume, type PolicyDocument, type Principal } from '../iam';
import type { ContextKeys, Evaluation } from '../iam/types';
import { IamTable, type PolicyRecord, type RoleRecord, roleKey } from '../services/iam/model';
import type { Store, Transaction } from '../store';

export const StsTable = { Sessions: 'sts.sessions' } as const;

export interface SessionRecord extends Record<string, unknown> {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken: string;
  readonly account: string;
  readonly roleArn: string;
  readonly roleName: string;
  readonly sessionName: string;
  /** Absent for sessions a service holds (renewed while it works). */
  readonly expiresMs?: number;
  /** Who assumed the role: a service principal (`lambda.amazonaws.com`) or an IAM principal's ARN. */
  readonly assumedBy: string;
}

export interface Credentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string;
}

export type Caller =
  | { readonly kind: 'administrator'; readonly principal: Principal }
  | { readonly kind: 'role-session'; readonly principal: Principal; readonly session: SessionRecord };

const ROLE_ARN = /^arn:aws[a-z-]*:iam::(\d{12}):role\/((?:[\w+=,.@-]+\/)*)([\w+=,.@-]{1,64})$/;

export const administrator = (account: string): Caller => ({
  kind: 'administrator',
  principal: { type: 'Root', arn: `arn:aws:iam::${account}:root`, account },
});

/** The caller a request's access key id stands for (see the module comment). */
export const callerOf = (store: Store, account: string, accessKeyId: string | undefined, nowMs: number): Caller => {
  if (accessKeyId === undefined) return administrator(account);
  if (/^\d{12}$/.test(accessKeyId)) return administrator(accessKeyId);
  const session = store.get<SessionRecord>(StsTable.Sessions, accessKeyId);
  if (!session) return administrator(account);
  if (session.expiresMs !== undefined && session.expiresMs <= nowMs) {
    throw new AwsError('ExpiredToken', 'The security token included in the request is expired', 403);
  }
  return { kind: 'role-session', principal: sessionPrincipal(session), session };
};

export const sessionPrincipal = (session: SessionRecord): Principal => ({
  type: 'AssumedRole',
  arn: `arn:aws:sts::${session.account}:assumed-role/${session.roleName}/${session.sessionName}`,
  account: session.account,
  roleArn: session.roleArn,
});

export interface RoleRef {
  readonly account: string;
  readonly name: string;
  readonly arn: string;
}

export const parseRoleArn = (arn: string): RoleRef | undefined => {
  const match = ROLE_ARN.exec(arn);
  return match ? { account: match[1] as string, name: match[3] as string, arn } : undefined;
};

export const roleOf = (store: Store, ref: RoleRef): RoleRecord | undefined =>
  store.get<RoleRecord>(IamTable.Roles, roleKey(ref.account, ref.name));

/** Whether the sandbox holds any IAM role of `account` (IAM of other accounts is not emulated unless created). */
export const emulatesAccount = (store: Store, account: string, home: string): boolean =>
  account === home || [...store.table<RoleRecord>(IamTable.Roles).values()].some((role) => role.account === account);

/**
 * Parsed policy documents by their JSON text, so the evaluator (which remembers compiled documents
 * by identity) compiles each stored policy once.
 */
const parsedDocuments = new Map<string, PolicyDocument>();
const parsed = (text: string): PolicyDocument => {
  let document = parsedDocuments.get(text);
  if (!document) {
    document = JSON.parse(text) as PolicyDocument;
    if (parsedDocuments.size > 10_000) parsedDocuments.clear();
    parsedDocuments.set(text, document);
  }
  return document;
};

export interface RolePolicies {
  readonly identityPolicies: readonly CompiledPolicy[];
  readonly permissionsBoundary?: CompiledPolicy;
  /** Attached AWS managed policies whose documents the sandbox does not have (they grant nothing here). */
  readonly unknownManaged: readonly string[];
}

/** Compiled policies by name and text: each stored policy is compiled once. */
const compiledDocuments = new Map<string, CompiledPolicy>();
const namedDocument = (text: string, name: string): CompiledPolicy => {
  const key = `${name}\u0000${text}`;
  let policy = compiledDocuments.get(key);
  if (!policy) {
    policy = compilePolicy(parsed(text), name);
    if (compiledDocuments.size > 10_000) compiledDocuments.clear();
    compiledDocuments.set(key, policy);
  }
  return policy;
};

let awsManaged: Readonly<Record<string, { readonly document: unknown }>> | undefined;
/** The AWS managed policies the sandbox carries, by ARN (read once, on first use). */
const awsManagedPolicies = (): Readonly<Record<string, { readonly document: unknown }>> => {
  awsManaged ??= JSON.parse(readFileSync(new URL('./aws-managed-policies.json', import.meta.url), 'utf8'));
  return awsManaged as Readonly<Record<string, { readonly document: unknown }>>;
};

/** The current document of an AWS managed policy the sandbox carries, as JSON text; undefined otherwise. */
export const awsManagedPolicyText = (arn: string): string | undefined => {
  const managed = awsManagedPolicies()[arn.replace(/^arn:aws[a-z-]*:/, 'arn:aws:')];
  return managed ? JSON.stringify(managed.document) : undefined;
};

const managedDocument = (store: Store, arn: string): { document?: CompiledPolicy; name: string } => {
  const name = arn.slice(arn.lastIndexOf('/') + 1);
  const customer = store.get<PolicyRecord>(IamTable.Policies, arn);
  if (customer) return { document: namedDocument(customer.document, name), name };
  // AWS managed policies by their current documents (aws-managed-policies.json, generated from a
  // maintained package); one the sandbox does not carry grants nothing and the report lists it.
  const text = awsManagedPolicyText(arn);
  return text === undefined ? { name } : { document: namedDocument(text, name), name };
};

/** The identity-based policies of a role (inline, then attached managed) and its boundary. */
export const rolePolicies = (store: Store, role: RoleRecord): RolePolicies => {
  const identityPolicies: CompiledPolicy[] = [];
  const unknownManaged: string[] = [];
  for (const [name, text] of Object.entries(role.inlinePolicies)) identityPolicies.push(namedDocument(text, name));
  for (const arn of role.attachedPolicies) {
    const { document } = managedDocument(store, arn);
    if (document) identityPolicies.push(document);
    else unknownManaged.push(arn);
  }
  const boundary =
    role.permissionsBoundary === undefined ? undefined : managedDocument(store, role.permissionsBoundary);
  return {
    identityPolicies,
    ...(boundary?.document ? { permissionsBoundary: boundary.document } : {}),
    unknownManaged,
  };
};

const sessionKey = (seed: string): string =>
  `ASIA${createHash('sha256').update(seed).digest('hex').toUpperCase().slice(0, 16)}`;

/** Stores a new session for `role` and returns its record. */
export const issueSession = (
  tx: Transaction,
  role: RoleRef,
  sessionName: string,
  assumedBy: string,
  expiresMs: number | undefined,
): SessionRecord => {
  const accessKeyId = sessionKey(`${role.arn}|${sessionName}|${randomBytes(8).toString('hex')}`);
  const record: SessionRecord = {
    accessKeyId,
    secretAccessKey: randomBytes(30).toString('base64').slice(0, 40),
    sessionToken: Buffer.from(`sandbox:${role.arn}:${sessionName}:${randomBytes(12).toString('hex')}`).toString(
      'base64',
    ),
    account: role.account,
    roleArn: role.arn,
    roleName: role.name,
    sessionName,
    ...(expiresMs === undefined ? {} : { expiresMs }),
    assumedBy,
  };
  tx.put(StsTable.Sessions, accessKeyId, record);
  return record;
};

/** Why a role cannot be assumed, in STS's words; undefined when it can. */
export interface TrustCheck {
  readonly evaluation: Evaluation;
  readonly role?: RoleRecord;
}

/**
 * Whether `principal` may assume `role`, by the role's trust policy (and, for an IAM principal,
 * its own policies). A role the sandbox does not hold in an account it emulates cannot be assumed;
 * a role in an account whose IAM the sandbox does not emulate is taken to trust the caller.
 */
export const trustCheck = (
  store: Store,
  home: string,
  role: RoleRef,
  principal: Principal,
  context: ContextKeys,
  caller?: RolePolicies,
): TrustCheck => {
  const record = roleOf(store, role);
  if (!record) {
    if (!emulatesAccount(store, role.account, home)) {
      return { evaluation: { decision: 'Allow', matched: [], reason: `the IAM of ${role.account} is not emulated` } };
    }
    return {
      evaluation: { decision: 'ImplicitDeny', matched: [], reason: `the role ${role.arn} does not exist` },
    };
  }
  const evaluation = mayAssume({
    trustPolicy: parsed(record.assumeRolePolicyDocument),
    principal,
    roleArn: record.arn,
    context,
    ...(caller ? { identityPolicies: caller.identityPolicies } : {}),
    ...(caller?.permissionsBoundary ? { permissionsBoundary: caller.permissionsBoundary } : {}),
  });
  return { evaluation, role: record };
};

export const servicePrincipal = (service: string, account: string): Principal => ({
  type: 'Service',
  arn: service,
  account,
});
