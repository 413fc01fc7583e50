/**
 * Follows `NextToken` through every page of a list call made with a plain `send`. The SDK's own
 * paginators insist on an instance of their client class (`instanceof`), which breaks the
 * narrow `Pick<Client, 'send'>` ports the cores take.
 */
export async function* eachPage<Page extends { NextToken?: string | undefined }>(
  fetchPage: (nextToken: string | undefined) => Promise<Page>,
): AsyncGenerator<Page> {
  let token: string | undefined;
  do {
    const page = await fetchPage(token);
    yield page;
    // A repeated token would loop forever; a service that repeats one has nothing more to give.
    token = page.NextToken && page.NextToken !== token ? page.NextToken : undefined;
  } while (token);
}
