/**
 * Wildcard matching as IAM does it.
 *
 * - Actions: `*` and `?` anywhere, case-insensitive ("IAM JSON policy elements: Action").
 * - Resources and the `Arn*` condition operators: case-sensitive, and "each of the six
 *   colon-delimited components of the ARN is checked separately and each can include multi-character
 *   match wildcards (*) or single-character match wildcards (?)" ("IAM JSON policy elements:
 *   Condition operators", ARN condition operators; "IAM JSON policy elements: Resource"). The
 *   sixth component is everything after the fifth colon, so it may hold colons itself
 *   (`log-group:name:*`). A wildcard in the first five components never matches a colon, which is
 *   the same as matching component by component; the regular expression built here does exactly that.
 * - `StringLike`: `*` and `?` anywhere, across colons.
 *
 * A pattern is a list of pieces so that text substituted from a policy variable stays literal
 * (a `*` in a user name is not a wildcard) while the policy's own text keeps its wildcards.
 */

/** Pattern text: `wild` pieces come from the policy (their `*`/`?` are wildcards), the others are literal. */
export interface PatternPiece {
  readonly text: string;
  readonly wild: boolean;
}

/** A predicate over a string, built once per pattern. */
export type Matcher = (value: string) => boolean;

const escapeRegExp = (text: string): string => text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

const hasWildcard = (pieces: readonly PatternPiece[]): boolean =>
  pieces.some((piece) => piece.wild && /[*?]/.test(piece.text));

const joinText = (pieces: readonly PatternPiece[]): string => pieces.map((piece) => piece.text).join('');

/** A plain glob's regular-expression source: `*` any run, `?` any one character. */
const globSource = (pieces: readonly PatternPiece[]): string =>
  pieces
    .map((piece) =>
      piece.wild
        ? piece.text
            .split('')
            .map((ch) => (ch === '*' ? '.*' : ch === '?' ? '.' : escapeRegExp(ch)))
            .join('')
        : escapeRegExp(piece.text),
    )
    .join('');

/** An ARN pattern's source: wildcards stay inside their component in the first five, roam in the sixth. */
const arnSource = (pieces: readonly PatternPiece[]): string => {
  let colons = 0;
  let source = '';
  for (const piece of pieces) {
    for (const ch of piece.text) {
      const inResourceField = colons >= 5;
      if (piece.wild && ch === '*') source += inResourceField ? '.*' : '[^:]*';
      else if (piece.wild && ch === '?') source += inResourceField ? '.' : '[^:]';
      else source += escapeRegExp(ch);
      if (ch === ':') colons += 1;
    }
  }
  return source;
};

/** Compiled regular expressions by source and flags: policies share patterns, and variable patterns recur. */
const regexCache = new Map<string, RegExp>();
const REGEX_CACHE_LIMIT = 4096;

const cachedRegExp = (source: string, flags: string): RegExp => {
  const key = `${flags}/${source}`;
  let regex = regexCache.get(key);
  if (regex === undefined) {
    if (regexCache.size >= REGEX_CACHE_LIMIT) regexCache.clear();
    regex = new RegExp(`^${source}$`, flags);
    regexCache.set(key, regex);
  }
  return regex;
};

const regexMatcher =
  (regex: RegExp): Matcher =>
  (value) =>
    regex.test(value);

/** `StringLike` / `StringNotLike` and action patterns (`ignoreCase` for actions). */
export const globMatcher = (pieces: readonly PatternPiece[], ignoreCase = false): Matcher => {
  if (!hasWildcard(pieces)) {
    const text = joinText(pieces);
    if (!ignoreCase) return (value) => value === text;
    const lower = text.toLowerCase();
    return (value) => value.toLowerCase() === lower;
  }
  if (pieces.length === 1 && pieces[0]?.text === '*') return () => true;
  return regexMatcher(cachedRegExp(globSource(pieces), ignoreCase ? 'is' : 's'));
};

/** `Resource` / `NotResource` entries and `ArnLike` / `ArnEquals` values. A lone `*` matches every resource. */
export const arnMatcher = (pieces: readonly PatternPiece[]): Matcher => {
  if (!hasWildcard(pieces)) {
    const text = joinText(pieces);
    return (value) => value === text;
  }
  if (pieces.length === 1 && pieces[0]?.text === '*') return () => true;
  return regexMatcher(cachedRegExp(arnSource(pieces), 's'));
};

/** A pattern written entirely in the policy (no variables). */
export const literalPattern = (text: string): PatternPiece[] => [{ text, wild: true }];

export interface Arn {
  readonly partition: string;
  readonly service: string;
  readonly region: string;
  readonly account: string;
  readonly resource: string;
}

/** The six components of an ARN (`arn:partition:service:region:account:resource`), or undefined if it is not one. */
export const parseArn = (text: string): Arn | undefined => {
  const parts = text.split(':');
  if (parts.length < 6 || parts[0] !== 'arn') return undefined;
  const [, partition = '', service = '', region = '', account = ''] = parts;
  return { partition, service, region, account, resource: parts.slice(5).join(':') };
};
