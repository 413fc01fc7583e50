/**
 * A policy document compiled once: every statement's Action/NotAction, Resource/NotResource,
 * Principal/NotPrincipal and Condition turned into predicates, so that evaluating a request only
 * runs them ("IAM JSON policy element reference"). Compiling checks what IAM refuses when a policy
 * is written (an unknown Effect or condition operator, Action with NotAction, …) and throws
 * MalformedPolicyDocumentError.
 *
 * A statement applies to a request when its action, resource, principal (resource-based policies
 * only) and conditions all match ("Policy evaluation logic"). `NotAction` matches every action it
 * does not list and `NotResource` every resource it does not list ("IAM JSON policy elements:
 * NotAction", "…: NotResource"). A statement with neither Resource nor NotResource (a role trust
 * policy) applies to any resource.
 */
import { arnMatcher, globMatcher, type Matcher } from './arn';
import { type Condition, compileCondition, MalformedPolicyDocumentError } from './conditions';
import type { RequestContext } from './context';
import { compilePrincipal, type PrincipalFacts, type PrincipalMatch, type PrincipalMatcher } from './principal';
import type { OneOrMany, PolicyDocument, PolicyStatement, Principal } from './types';
import { compileTemplate } from './variables';

export interface CompiledStatement {
  readonly index: number;
  readonly sid?: string;
  readonly effect: 'Allow' | 'Deny';
  /** Takes the action already lower-cased. */
  readonly matchesAction: (action: string) => boolean;
  readonly matchesResource: (resource: string, context: RequestContext) => boolean;
  /** Undefined when the statement has no Principal/NotPrincipal (identity policies, boundaries, session policies). */
  readonly principal: PrincipalMatcher | undefined;
  readonly condition: Condition;
}

export interface CompiledPolicy {
  readonly compiled: true;
  readonly name: string | undefined;
  readonly statements: readonly CompiledStatement[];
}

const asList = <T>(value: OneOrMany<T>): readonly T[] => (Array.isArray(value) ? value : [value as T]);

const anyOf = (matchers: readonly Matcher[]): Matcher => {
  if (matchers.length === 1) return matchers[0] as Matcher;
  return (value) => matchers.some((matcher) => matcher(value));
};

const compileActions = (statement: PolicyStatement): ((action: string) => boolean) => {
  const { Action: action, NotAction: notAction } = statement;
  if ((action === undefined) === (notAction === undefined))
    throw new MalformedPolicyDocumentError('Policy statement must contain exactly one of Action or NotAction');
  const patterns = asList((action ?? notAction) as OneOrMany<string>);
  for (const pattern of patterns)
    if (pattern !== '*' && !/^[\w-]+:[\w*?-]+$/.test(pattern))
      throw new MalformedPolicyDocumentError(
        `Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc.: ${pattern}`,
      );
  const matches = anyOf(patterns.map((pattern) => globMatcher([{ text: pattern.toLowerCase(), wild: true }])));
  return action !== undefined ? matches : (value) => !matches(value);
};

type ResourceMatcher = (resource: string, context: RequestContext) => boolean;

const compileResources = (statement: PolicyStatement, variables: boolean): ResourceMatcher => {
  const { Resource: resource, NotResource: notResource } = statement;
  if (resource !== undefined && notResource !== undefined)
    throw new MalformedPolicyDocumentError('Policy statement must contain at most one of Resource or NotResource');
  if (resource === undefined && notResource === undefined) return () => true;
  const matchers: ResourceMatcher[] = asList((resource ?? notResource) as OneOrMany<string>).map((text) => {
    const template = compileTemplate(text, variables);
    if (template.constant !== undefined) {
      const matcher = arnMatcher(template.constant);
      return (value) => matcher(value);
    }
    return (value, context) => {
      const pieces = template.resolve(context);
      return pieces !== undefined && arnMatcher(pieces)(value);
    };
  });
  const matches: ResourceMatcher =
    matchers.length === 1
      ? (matchers[0] as ResourceMatcher)
      : (value, context) => matchers.some((matcher) => matcher(value, context));
  return resource !== undefined ? matches : (value, context) => !matches(value, context);
};

const compileStatement = (statement: PolicyStatement, index: number, variables: boolean): CompiledStatement => {
  if (statement.Effect !== 'Allow' && statement.Effect !== 'Deny')
    throw new MalformedPolicyDocumentError(`Invalid effect: ${String(statement.Effect)}`);
  if (statement.Principal !== undefined && statement.NotPrincipal !== undefined)
    throw new MalformedPolicyDocumentError('Policy statement must contain at most one of Principal or NotPrincipal');
  return {
    index,
    ...(statement.Sid !== undefined ? { sid: statement.Sid } : {}),
    effect: statement.Effect,
    matchesAction: compileActions(statement),
    matchesResource: compileResources(statement, variables),
    principal: compilePrincipal(statement.Principal, statement.NotPrincipal, statement.Effect),
    condition: compileCondition(statement.Condition, variables),
  };
};

/** Compiles a policy document; `name` labels its statements in evaluation results. */
export const compilePolicy = (document: PolicyDocument, name?: string): CompiledPolicy => {
  if (document === null || typeof document !== 'object' || document.Statement === undefined)
    throw new MalformedPolicyDocumentError('Syntax errors in policy: the document has no Statement');
  const variables = document.Version === '2012-10-17';
  return {
    compiled: true,
    name,
    statements: asList(document.Statement).map((statement, index) => compileStatement(statement, index, variables)),
  };
};

const compiledDocuments = new WeakMap<PolicyDocument, CompiledPolicy>();

/** A compiled policy, or a document compiled once and remembered (documents are treated as immutable). */
export const compiled = (policy: PolicyDocument | CompiledPolicy): CompiledPolicy => {
  if ('compiled' in policy) return policy;
  let result = compiledDocuments.get(policy);
  if (result === undefined) {
    result = compilePolicy(policy);
    compiledDocuments.set(policy, result);
  }
  return result;
};

export interface StatementHit {
  readonly statement: CompiledStatement;
  /** How the principal matched, for resource-based statements. */
  readonly principal: PrincipalMatch | undefined;
}

/**
 * The statements of a policy that apply to a request. For a resource-based policy (`facts` given)
 * a statement must name the principal; for the others Principal is not consulted.
 */
export const applicableStatements = (
  policy: CompiledPolicy,
  principal: Principal,
  action: string,
  resource: string,
  context: RequestContext,
  facts?: PrincipalFacts,
): StatementHit[] => {
  const hits: StatementHit[] = [];
  for (const statement of policy.statements) {
    if (!statement.matchesAction(action)) continue;
    let match: PrincipalMatch | undefined;
    if (facts !== undefined) {
      match = statement.principal?.(principal, facts);
      if (match === undefined) continue;
    }
    if (!statement.matchesResource(resource, context)) continue;
    if (!statement.condition(context)) continue;
    hits.push({ statement, principal: match });
  }
  return hits;
};
