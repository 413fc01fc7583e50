/**
 * Whether a role's identity policy allows one request, evaluated as IAM does for the operators
 * Bakehouse's policies use: an Allow statement matches when its action is named, one resource
 * pattern matches (`*` and `?` wildcards) and every condition holds. Bakehouse grants no Deny and
 * no wildcard action, so an allowing statement is all it takes. A condition operator not
 * listed here throws: a test must never pass because a condition was skipped.
 *
 * Context keys follow IAM: a key the request does not carry fails `StringEquals`/`StringLike`/
 * `ArnLike` and `ForAnyValue:*`, and satisfies `ForAllValues:*` (the empty set).
 */
import { asList, type Statement } from './pipeline';

export type Context = Readonly<Record<string, string | readonly string[]>>;

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

const wildcard = (pattern: string, text: string): boolean => {
  const source = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${source}$`, 's').test(text);
};

const valuesOf = (context: Context, key: string): readonly string[] | undefined => {
  const found = Object.entries(context).find(([k]) => k.toLowerCase() === key.toLowerCase());
  return found === undefined ? undefined : asList(found[1] as string | string[]);
};

const holds = (operator: string, key: string, expected: readonly string[], context: Context): boolean => {
  const actual = valuesOf(context, key);
  switch (operator) {
    case 'StringEquals':
    case 'ArnEquals':
      return actual?.some((a) => expected.includes(a)) ?? false;
    case 'StringLike':
    case 'ArnLike':
      return actual?.some((a) => expected.some((e) => wildcard(e, a))) ?? false;
    case 'ForAllValues:StringEquals':
      return (actual ?? []).every((a) => expected.includes(a));
    case 'ForAllValues:StringLike':
      return (actual ?? []).every((a) => expected.some((e) => wildcard(e, a)));
    case 'ForAnyValue:StringEquals':
      return (actual ?? []).some((a) => expected.includes(a));
    default:
      throw new Error(`the evaluator does not know condition operator ${operator}`);
  }
};

/** True when some statement allows the request. */
export const allows = (statements: readonly Statement[], request: Request, resolve: (v: unknown) => string): boolean =>
  statements.some((s) => {
    if (s.Effect !== 'Allow') return false;
    if (!asList(s.Action).includes(request.action)) return false;
    if (!asList(s.Resource ?? []).some((r) => wildcard(resolve(r), request.resource))) return false;
    return Object.entries(s.Condition ?? {}).every(([operator, keys]) =>
      Object.entries(keys).every(([key, expected]) =>
        holds(operator, key, asList(expected as string | string[]).map(resolve), request.context ?? {}),
      ),
    );
  });
