/**
 * Whether a role's identity policy allows one request, decided by the sandbox's IAM evaluator
 * (`@bakehouse/sandbox`, AWS's policy evaluation logic with every condition operator; an operator
 * it does not know is a malformed policy and throws, so no test passes because a condition was
 * skipped). The synthesized statements are first resolved to text for the account and region the
 * test synthesized.
 */
import { type ContextKeys, evaluate, type PolicyDocument } from '@bakehouse/sandbox';
import type { Statement } from './pipeline';

export type Context = ContextKeys;

export interface Request {
  readonly action: string;
  readonly resource: string;
  readonly context?: Context;
}

/** Pseudo parameters and `Fn::Join` resolved to text, for the account and region the test synthesized. */
export const resolver =
  (pseudo: { account: string; region: string }) =>
  (value: unknown): string => {
    if (typeof value === 'string') return value;
    const node = value as Record<string, unknown>;
    if ('Ref' in node) {
      const ref = node.Ref as string;
      if (ref === 'AWS::Partition') return 'aws';
      if (ref === 'AWS::Region') return pseudo.region;
      if (ref === 'AWS::AccountId') return pseudo.account;
      if (ref === 'AWS::URLSuffix') return 'amazonaws.com';
      return `<${ref}>`;
    }
    if ('Fn::Join' in node) {
      const [separator, parts] = node['Fn::Join'] as [string, unknown[]];
      return parts.map(resolver(pseudo)).join(separator);
    }
    if ('Fn::GetAtt' in node) return `<${(node['Fn::GetAtt'] as string[]).join('.')}>`;
    throw new Error(`cannot resolve ${JSON.stringify(value)}`);
  };

/** A template value with every intrinsic resolved, at any depth (strings, lists, condition blocks). */
export const resolvedDeep = (value: unknown, resolve: (v: unknown) => string): unknown => {
  if (Array.isArray(value)) return value.map((item) => resolvedDeep(item, resolve));
  if (typeof value !== 'object' || value === null) return value;
  const node = value as Record<string, unknown>;
  if ('Ref' in node || 'Fn::Join' in node || 'Fn::GetAtt' in node) return resolve(value);
  return Object.fromEntries(Object.entries(node).map(([key, child]) => [key, resolvedDeep(child, resolve)]));
};

/** True when the statements, as the role's identity policy, allow the request for a session of the role. */
export const allows = (
  statements: readonly Statement[],
  request: Request,
  resolve: (v: unknown) => string,
): boolean => {
  const account = resolve({ Ref: 'AWS::AccountId' });
  const policy = { Version: '2012-10-17', Statement: resolvedDeep(statements, resolve) } as PolicyDocument;
  const { decision } = evaluate({
    request: {
      principal: {
        type: 'AssumedRole',
        arn: `arn:aws:sts::${account}:assumed-role/role-under-test/session`,
        account,
        roleArn: `arn:aws:iam::${account}:role/role-under-test`,
      },
      action: request.action,
      resource: request.resource,
      ...(request.context === undefined ? {} : { context: request.context }),
    },
    identityPolicies: [policy],
    resourceAccount: request.resource.split(':')[4] || account,
  });
  return decision === 'Allow';
};
