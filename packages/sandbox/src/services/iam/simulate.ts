/**
 * SimulatePrincipalPolicy for roles, decided by the evaluator that authorizes every request (the
 * role's inline and customer managed policies as `rolePolicies` compiles them, its permissions
 * boundary), so `aws iam simulate-principal-policy` answers what the sandbox would enforce.
 *
 * The answer's shape, from the IAM API Reference (SimulatePrincipalPolicy, EvaluationResult,
 * ResourceSpecificResult, Statement):
 * - one result per action; with no ResourceArns (or `*`) it is decided on `*` and lists the
 *   `MissingContextValues` there; with resources, each gets a ResourceSpecificResult and the
 *   result carries the most restrictive of their decisions (explicitDeny, then implicitDeny);
 * - `MatchedStatements` name the policy (`SourcePolicyId`: the inline policy's name, the managed
 *   policy's name) and its kind (`role` for inline, `user-managed` for customer managed, `none` for
 *   PolicyInputList), with the statement's start and end in the policy text (1-based line, column).
 * - a missing context value is a condition key of a statement whose action and resource match,
 *   that the request context does not hold (neither given in ContextEntries nor derived from the
 *   principal).
 *
 * Users and groups are not emulated: PolicySourceArn must name a role. AWS managed policies have no
 * document here and grant nothing, as in enforcement.
 */
import { awsManagedPolicyText, parseRoleArn, roleOf, rolePolicies } from '../../authz/identity';
import { AwsError } from '../../errors';
import { type CompiledPolicy, compilePolicy, evaluate, type PolicyDocument } from '../../iam';
import { buildContext } from '../../iam/context';
import type { ContextKeys, Decision, Evaluation, MatchedStatement, PolicyStatement, Principal } from '../../iam/types';
import type { Store } from '../../store';
import { IamTable, noSuchEntity, type PolicyRecord, policyKey, type RoleRecord } from './model';

export type SimulationDecision = 'allowed' | 'explicitDeny' | 'implicitDeny';

export interface Position {
  readonly Line: number;
  readonly Column: number;
}

export interface SimulatedStatement {
  readonly SourcePolicyId: string;
  readonly SourcePolicyType: 'role' | 'user-managed' | 'aws-managed' | 'resource' | 'none';
  readonly StartPosition?: Position;
  readonly EndPosition?: Position;
}

export interface ResourceResult {
  readonly EvalResourceName: string;
  readonly EvalResourceDecision: SimulationDecision;
  readonly MatchedStatements: readonly SimulatedStatement[];
  readonly MissingContextValues: readonly string[];
}

export interface SimulationResult {
  readonly EvalActionName: string;
  readonly EvalResourceName: string;
  readonly EvalDecision: SimulationDecision;
  readonly MatchedStatements: readonly SimulatedStatement[];
  readonly MissingContextValues: readonly string[];
  readonly ResourceSpecificResults?: readonly ResourceResult[];
}

export interface SimulationInput {
  readonly policySourceArn: string;
  readonly actionNames: readonly string[];
  readonly resourceArns: readonly string[];
  readonly context: ContextKeys;
  /** Extra identity policies (PolicyInputList), as JSON text. */
  readonly policyInputs: readonly string[];
  /** A permissions boundary to use instead of the role's (PermissionsBoundaryPolicyInputList), as JSON text. */
  readonly boundaryInput?: string;
  /** The resource's policy (ResourcePolicy), as JSON text. */
  readonly resourcePolicy?: string;
  /** The resources' owner (ResourceOwner); else the resource ARN's account, else the role's. */
  readonly resourceOwner?: string;
}

/** One policy taking part, with what the answer says of it. */
interface Source {
  readonly policy: CompiledPolicy;
  readonly id: string;
  readonly type: SimulatedStatement['SourcePolicyType'];
  readonly text: string;
}

const invalidInput = (message: string): AwsError => new AwsError('InvalidInput', message);

const DECISIONS: Record<Decision, SimulationDecision> = {
  Allow: 'allowed',
  ExplicitDeny: 'explicitDeny',
  ImplicitDeny: 'implicitDeny',
};
const RESTRICTIVENESS: Record<SimulationDecision, number> = { allowed: 0, implicitDeny: 1, explicitDeny: 2 };

// ------------------------------------------------------------------------ statement positions

const skipSpace = (text: string, at: number): number => {
  let i = at;
  while (i < text.length && /\s/.test(text.charAt(i))) i++;
  return i;
};

const skipString = (text: string, at: number): number => {
  let i = at + 1;
  while (i < text.length && text.charAt(i) !== '"') i += text.charAt(i) === '\\' ? 2 : 1;
  return i + 1;
};

/** The index just past the JSON value that starts at `at`. */
const skipValue = (text: string, at: number): number => {
  const first = text.charAt(at);
  if (first === '"') return skipString(text, at);
  if (first !== '{' && first !== '[') {
    let i = at;
    while (i < text.length && !/[\s,}\]]/.test(text.charAt(i))) i++;
    return i;
  }
  let depth = 0;
  let i = at;
  while (i < text.length) {
    const c = text.charAt(i);
    if (c === '"') {
      i = skipString(text, i);
      continue;
    }
    if (c === '{' || c === '[') depth++;
    else if (c === '}' || c === ']') {
      depth--;
      if (depth === 0) return i + 1;
    }
    i++;
  }
  return i;
};

/** Where each statement of a policy's `Statement` starts and ends in its text (offsets, end exclusive). */
export const statementSpans = (text: string): [number, number][] => {
  let i = skipSpace(text, 0);
  if (text.charAt(i) !== '{') return [];
  i++;
  while (i < text.length) {
    i = skipSpace(text, i);
    if (text.charAt(i) !== '"') return [];
    const keyEnd = skipString(text, i);
    const key = JSON.parse(text.slice(i, keyEnd)) as string;
    i = skipSpace(text, keyEnd);
    if (text.charAt(i) !== ':') return [];
    const value = skipSpace(text, i + 1);
    if (key === 'Statement') {
      if (text.charAt(value) === '{') return [[value, skipValue(text, value)]];
      if (text.charAt(value) !== '[') return [];
      const spans: [number, number][] = [];
      let at = skipSpace(text, value + 1);
      while (at < text.length && text.charAt(at) !== ']') {
        const end = skipValue(text, at);
        spans.push([at, end]);
        at = skipSpace(text, end);
        if (text.charAt(at) === ',') at = skipSpace(text, at + 1);
      }
      return spans;
    }
    i = skipSpace(text, skipValue(text, value));
    if (text.charAt(i) === ',') i++;
    else return [];
  }
  return [];
};

const positionOf = (text: string, offset: number): Position => {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < offset; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      lineStart = i + 1;
    }
  }
  return { Line: line, Column: offset - lineStart + 1 };
};

// ------------------------------------------------------------------------ sources

const parseDocument = (text: string, what: string): PolicyDocument => {
  try {
    return JSON.parse(text) as PolicyDocument;
  } catch {
    throw new AwsError('MalformedPolicyDocument', `${what} contains invalid Json`);
  }
};

/** The role's policies as the evaluator sees them, each labelled for the answer (same order as `rolePolicies`). */
const roleSources = (store: Store, role: RoleRecord): { sources: Source[]; boundary?: Source } => {
  const policies = rolePolicies(store, role);
  const described: Omit<Source, 'policy'>[] = Object.entries(role.inlinePolicies).map(([name, text]) => ({
    id: name,
    type: 'role',
    text,
  }));
  for (const arn of role.attachedPolicies) {
    const id = arn.slice(arn.lastIndexOf('/') + 1);
    const document = store.get<PolicyRecord>(IamTable.Policies, policyKey(arn))?.document;
    const awsManaged = document === undefined ? awsManagedPolicyText(arn) : undefined;
    if (document !== undefined) described.push({ id, type: 'user-managed', text: document });
    else if (awsManaged !== undefined) described.push({ id, type: 'aws-managed', text: awsManaged });
  }
  if (described.length !== policies.identityPolicies.length) {
    throw new Error('sandbox bug: the simulation lists other policies than rolePolicies');
  }
  const sources = described.map((source, i) => ({ ...source, policy: policies.identityPolicies[i] as CompiledPolicy }));
  const boundaryArn = role.permissionsBoundary;
  const boundaryText =
    boundaryArn === undefined
      ? undefined
      : store.get<PolicyRecord>(IamTable.Policies, policyKey(boundaryArn))?.document;
  return {
    sources,
    ...(policies.permissionsBoundary && boundaryArn !== undefined && boundaryText !== undefined
      ? {
          boundary: {
            policy: policies.permissionsBoundary,
            id: boundaryArn.slice(boundaryArn.lastIndexOf('/') + 1),
            type: 'user-managed' as const,
            text: boundaryText,
          },
        }
      : {}),
  };
};

const inputSource = (text: string, id: string, type: Source['type']): Source => ({
  policy: compilePolicy(parseDocument(text, id), id),
  id,
  type,
  text,
});

// ------------------------------------------------------------------------ simulation

const asList = <T>(value: T | readonly T[] | undefined): readonly T[] =>
  value === undefined ? [] : Array.isArray(value) ? value : [value as T];

const accountOf = (arn: string): string | undefined => {
  const account = arn.split(':')[4];
  return account !== undefined && /^\d{12}$/.test(account) ? account : undefined;
};

/** Condition keys of the statements that apply to the action and resource, absent from the context. */
const missingKeys = (
  sources: readonly Source[],
  principal: Principal,
  action: string,
  resource: string,
  context: ContextKeys,
): string[] => {
  const known = buildContext(principal, context);
  const missing = new Map<string, string>();
  const lowerAction = action.toLowerCase();
  for (const source of sources) {
    const raw = asList((JSON.parse(source.text) as PolicyDocument).Statement) as readonly PolicyStatement[];
    for (const statement of source.policy.statements) {
      if (!statement.matchesAction(lowerAction) || !statement.matchesResource(resource, known)) continue;
      for (const keys of Object.values(raw[statement.index]?.Condition ?? {})) {
        for (const key of Object.keys(keys)) {
          if (!known.has(key.toLowerCase())) missing.set(key.toLowerCase(), key);
        }
      }
    }
  }
  return [...missing.values()].sort();
};

const describeStatements = (
  matched: readonly MatchedStatement[],
  byName: ReadonlyMap<string, Source>,
): SimulatedStatement[] =>
  matched.map((statement) => {
    const source = byName.get(statement.policy);
    if (!source) return { SourcePolicyId: statement.policy, SourcePolicyType: 'none' };
    const span = statementSpans(source.text)[statement.index];
    return {
      SourcePolicyId: source.id,
      SourcePolicyType: source.type,
      ...(span
        ? { StartPosition: positionOf(source.text, span[0]), EndPosition: positionOf(source.text, span[1] - 1) }
        : {}),
    };
  });

/** Answers SimulatePrincipalPolicy for a role of `account` (see the module comment). */
export const simulatePrincipalPolicy = (store: Store, account: string, input: SimulationInput): SimulationResult[] => {
  const ref = parseRoleArn(input.policySourceArn);
  if (!ref) {
    throw invalidInput(
      `Invalid PolicySourceArn ${input.policySourceArn}: the sandbox simulates roles only (arn:aws:iam::ACCOUNT:role/NAME).`,
    );
  }
  const role = ref.account === account ? roleOf(store, ref) : undefined;
  if (!role) throw noSuchEntity(`The role with name ${ref.name} cannot be found.`);
  if (input.actionNames.length === 0) {
    throw invalidInput('ActionNames must name at least one action.');
  }

  // Each source gets a unique name, so a matched statement leads back to exactly one source.
  const { sources: ownSources, boundary: ownBoundary } = roleSources(store, role);
  const label = (source: Source, name: string): Source => ({ ...source, policy: { ...source.policy, name } });
  const identity = [
    ...ownSources,
    ...input.policyInputs.map((text, i) => inputSource(text, `PolicyInputList.${i + 1}`, 'none')),
  ].map((source, i) => label(source, `identity#${i}`));
  const boundary =
    input.boundaryInput !== undefined
      ? label(inputSource(input.boundaryInput, 'PermissionsBoundaryPolicyInputList.1', 'none'), 'boundary')
      : ownBoundary && label(ownBoundary, 'boundary');
  const resourcePolicy =
    input.resourcePolicy === undefined
      ? undefined
      : label(inputSource(input.resourcePolicy, 'ResourcePolicy', 'resource'), 'resource');
  const byName = new Map<string, Source>(
    [...identity, ...(boundary ? [boundary] : []), ...(resourcePolicy ? [resourcePolicy] : [])].map((source) => [
      source.policy.name as string,
      source,
    ]),
  );

  const principal: Principal = {
    type: 'Role',
    arn: role.arn,
    account: role.account,
    roleArn: role.arn,
    tags: Object.fromEntries(role.tags.map((tag) => [tag.Key, tag.Value])),
  };
  const decide = (action: string, resource: string): ResourceResult => {
    const evaluation: Evaluation = evaluate({
      request: { principal, action, resource, context: input.context },
      identityPolicies: identity.map((source) => source.policy),
      ...(resourcePolicy ? { resourcePolicy: resourcePolicy.policy } : {}),
      resourceAccount: input.resourceOwner ?? accountOf(resource) ?? role.account,
      ...(boundary ? { permissionsBoundary: boundary.policy } : {}),
    });
    const considered = [...identity, ...(boundary ? [boundary] : []), ...(resourcePolicy ? [resourcePolicy] : [])];
    return {
      EvalResourceName: resource,
      EvalResourceDecision: DECISIONS[evaluation.decision],
      MatchedStatements: describeStatements(evaluation.matched, byName),
      MissingContextValues: missingKeys(considered, principal, action, resource, input.context),
    };
  };

  const resources = input.resourceArns.filter((arn) => arn !== '*');
  return input.actionNames.map((action): SimulationResult => {
    if (resources.length === 0) {
      const result = decide(action, '*');
      return {
        EvalActionName: action,
        EvalResourceName: '*',
        EvalDecision: result.EvalResourceDecision,
        MatchedStatements: result.MatchedStatements,
        MissingContextValues: result.MissingContextValues,
      };
    }
    const perResource = resources.map((resource) => decide(action, resource));
    const decision = perResource.reduce<SimulationDecision>(
      (worst, result) =>
        RESTRICTIVENESS[result.EvalResourceDecision] > RESTRICTIVENESS[worst] ? result.EvalResourceDecision : worst,
      'allowed',
    );
    return {
      EvalActionName: action,
      EvalResourceName: resources.length === 1 ? (resources[0] as string) : '*',
      EvalDecision: decision,
      MatchedStatements: perResource
        .filter((result) => result.EvalResourceDecision === decision)
        .flatMap((result) => result.MatchedStatements),
      MissingContextValues: [],
      ResourceSpecificResults: perResource,
    };
  });
};
