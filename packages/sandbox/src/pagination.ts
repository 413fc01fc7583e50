/**
 * Offset pagination shared by every sandbox service: an opaque NextToken that encodes how many
 * matching records earlier pages returned, and one pass that skips them and fills a page.
 * Each service keeps its own limits and the error code it answers for a bad token.
 */
export interface Page {
  readonly offset: number;
  readonly limit: number;
}

export const encodeOffsetToken = (offset: number): string => Buffer.from(`o:${offset}`, 'utf8').toString('base64url');

/** The offset a token carries, or undefined when it is not one of ours. */
export const decodeOffsetToken = (token: string): number | undefined => {
  const match = /^o:(\d+)$/.exec(Buffer.from(token, 'base64url').toString('utf8'));
  return match ? Number(match[1]) : undefined;
};

/**
 * One pass over `records`: keeps those `matches` accepts, skips the first `page.offset` of them and
 * stops as soon as the page is full and one more match proves there is a next page.
 */
export const pageOf = <T>(
  records: Iterable<T>,
  matches: (record: T) => boolean,
  page: Page,
): { items: T[]; nextToken: string | undefined } => {
  const items: T[] = [];
  let seen = 0;
  for (const record of records) {
    if (!matches(record)) continue;
    seen += 1;
    if (seen <= page.offset) continue;
    if (items.length >= page.limit) return { items, nextToken: encodeOffsetToken(page.offset + items.length) };
    items.push(record);
  }
  return { items, nextToken: undefined };
};
