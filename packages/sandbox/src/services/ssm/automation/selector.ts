/**
 * The JSONPath subset automation `Selector` and `PropertySelector` use: `$`, `.name`,
 * `['name']`, `[0]`, `[-1]`, `[*]`, `.*` and `..name` (recursive descent). A path with a
 * wildcard or recursive descent selects a list; otherwise one value or nothing.
 */
import { isPlainObject } from './values';

type Segment =
  | { readonly kind: 'member'; readonly name: string }
  | { readonly kind: 'index'; readonly index: number }
  | { readonly kind: 'wildcard' }
  | { readonly kind: 'descend'; readonly name: string };

export class SelectorError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SelectorError';
  }
}

const TOKENS: readonly [RegExp, (match: RegExpExecArray) => Segment][] = [
  [/^\.\.([A-Za-z0-9_$-]+)/, (match) => ({ kind: 'descend', name: match[1] as string })],
  [/^(\.\*|\[\*\])/, () => ({ kind: 'wildcard' })],
  [/^\.([A-Za-z0-9_$-]+)/, (match) => ({ kind: 'member', name: match[1] as string })],
  [/^\[\s*(-?\d+)\s*\]/, (match) => ({ kind: 'index', index: Number(match[1]) })],
  [/^\[\s*'([^']*)'\s*\]/, (match) => ({ kind: 'member', name: match[1] as string })],
  [/^\[\s*"([^"]*)"\s*\]/, (match) => ({ kind: 'member', name: match[1] as string })],
];

const parse = (path: string): Segment[] => {
  const text = path.trim();
  if (!text.startsWith('$')) throw new SelectorError(`The selector ${path} must start with $`);
  const segments: Segment[] = [];
  let rest = text.slice(1);
  while (rest.length > 0) {
    const token = TOKENS.map(([pattern, build]) => {
      const match = pattern.exec(rest);
      return match ? { match, build } : undefined;
    }).find((candidate) => candidate !== undefined);
    if (!token) throw new SelectorError(`The selector ${path} is not a supported JSONPath (at "${rest}")`);
    segments.push(token.build(token.match));
    rest = rest.slice(token.match[0].length);
  }
  return segments;
};

const children = (value: unknown): unknown[] =>
  Array.isArray(value) ? value : isPlainObject(value) ? Object.values(value) : [];

const descend = (value: unknown, name: string, into: unknown[]): void => {
  if (isPlainObject(value) && name in value) into.push(value[name]);
  for (const child of children(value)) descend(child, name, into);
};

const step = (values: unknown[], segment: Segment): unknown[] =>
  values.flatMap((value): unknown[] => {
    switch (segment.kind) {
      case 'member':
        return isPlainObject(value) && segment.name in value ? [value[segment.name]] : [];
      case 'index': {
        if (!Array.isArray(value)) return [];
        const index = segment.index < 0 ? value.length + segment.index : segment.index;
        return index >= 0 && index < value.length ? [value[index]] : [];
      }
      case 'wildcard':
        return children(value);
      default: {
        const found: unknown[] = [];
        descend(value, segment.name, found);
        return found;
      }
    }
  });

/** What `path` selects in `data`: `found` false when a single-value path selects nothing. */
export const select = (data: unknown, path: string): { found: boolean; value?: unknown } => {
  const segments = parse(path);
  const many = segments.some((segment) => segment.kind === 'wildcard' || segment.kind === 'descend');
  const values = segments.reduce<unknown[]>(step, [data]);
  if (many) return { found: true, value: values };
  if (values.length === 0 || values[0] === undefined) return { found: false };
  return { found: true, value: values[0] };
};
