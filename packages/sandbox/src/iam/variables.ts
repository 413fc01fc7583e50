/**
 * Policy variables ("IAM policy elements: Variables and tags"): `${aws:username}`,
 * `${aws:PrincipalTag/team}`, a default after a comma (`${aws:PrincipalTag/team, 'company-wide'}`),
 * and the three special characters `${*}`, `${?}`, `${$}` that stand for a literal `*`, `?`, `$`.
 * They are replaced only in policies whose Version is `2012-10-17`, in the Resource element and in
 * the values of String and ARN condition operators. A variable whose key is missing from the
 * request (and has no default), or holds several values, makes that entry match nothing.
 * Substituted text is literal: a `*` in a user name is not a wildcard.
 */
import type { PatternPiece } from './arn';
import type { RequestContext } from './context';

type TemplatePart =
  | { readonly kind: 'text'; readonly text: string }
  | { readonly kind: 'literal'; readonly text: string }
  | { readonly kind: 'variable'; readonly key: string; readonly fallback?: string };

/** A value from a policy, parsed once; `resolve` runs per request. */
export interface Template {
  /** The pieces when the value has no variables (resolved at compile time), otherwise undefined. */
  readonly constant: readonly PatternPiece[] | undefined;
  readonly resolve: (context: RequestContext) => readonly PatternPiece[] | undefined;
}

const VARIABLE = /\$\{([^}]*)\}/g;
const SPECIAL: Record<string, string> = { '*': '*', '?': '?', $: '$' };

const parseVariable = (body: string): TemplatePart => {
  const trimmed = body.trim();
  const special = SPECIAL[trimmed];
  if (special !== undefined) return { kind: 'literal', text: special };
  const comma = trimmed.indexOf(',');
  if (comma === -1) return { kind: 'variable', key: trimmed.toLowerCase() };
  const key = trimmed.slice(0, comma).trim().toLowerCase();
  const fallback = trimmed
    .slice(comma + 1)
    .trim()
    .replace(/^'(.*)'$/s, '$1');
  return { kind: 'variable', key, fallback };
};

const parse = (text: string): TemplatePart[] => {
  const parts: TemplatePart[] = [];
  let last = 0;
  for (const match of text.matchAll(VARIABLE)) {
    if (match.index > last) parts.push({ kind: 'text', text: text.slice(last, match.index) });
    parts.push(parseVariable(match[1] ?? ''));
    last = match.index + match[0].length;
  }
  if (last < text.length) parts.push({ kind: 'text', text: text.slice(last) });
  return parts;
};

export const compileTemplate = (text: string, variables: boolean): Template => {
  if (!variables || !text.includes('${')) {
    const constant = [{ text, wild: true }];
    return { constant, resolve: () => constant };
  }
  const parts = parse(text);
  if (parts.every((part) => part.kind !== 'variable')) {
    const constant = parts.map((part) => ({ text: part.text, wild: part.kind === 'text' }));
    return { constant, resolve: () => constant };
  }
  return {
    constant: undefined,
    resolve: (context) => {
      const pieces: PatternPiece[] = [];
      for (const part of parts) {
        if (part.kind !== 'variable') {
          pieces.push({ text: part.text, wild: part.kind === 'text' });
          continue;
        }
        const values = context.get(part.key);
        if (values !== undefined && values.length === 1) pieces.push({ text: values[0] as string, wild: false });
        else if (values === undefined && part.fallback !== undefined) pieces.push({ text: part.fallback, wild: false });
        else return undefined;
      }
      return pieces;
    },
  };
};
