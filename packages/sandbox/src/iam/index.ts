/**
 * A pure IAM policy evaluator: identity, resource-based, permissions-boundary and session policies
 * decided as AWS decides them (IAM User Guide, "Policy evaluation logic"), and role trust policies
 * (`mayAssume`). Compile a policy once with `compilePolicy` (or pass documents, compiled once and
 * remembered) and evaluate requests against it. Not wired into the server yet.
 */
export { type Arn, parseArn } from './arn';
export { CONDITION_OPERATORS, MalformedPolicyDocumentError } from './conditions';
export { type AssumeInput, type EvaluateInput, evaluate, mayAssume, type PolicyInput } from './evaluate';
export { type CompiledPolicy, compilePolicy } from './policy';
export type {
  ConditionBlock,
  ContextKeys,
  ContextValue,
  Decision,
  Evaluation,
  MatchedStatement,
  PolicyDocument,
  PolicyKind,
  PolicyStatement,
  Principal,
  PrincipalElement,
  PrincipalType,
  Request,
} from './types';
