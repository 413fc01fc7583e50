import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  cachedSecret,
  parseSlackSecret,
  type RetryPolicy,
  redact,
  webApiPort,
  webhookPort,
} from '../../functions/notify/slack';

const FAST: RetryPolicy = { retries: 3, minDelayMs: 1, maxDelayMs: 5, maxTotalMs: 10_000, timeoutMs: 2_000 };
const TOKEN = 'xoxb-1111-2222-abcdefSECRET';
const HOOK = 'https://hooks.slack.com/services/T000/B000/SECRETPATH';

type Reply = { status: number; body: unknown; headers?: Record<string, string> };
let server: Server | undefined;

/** A loopback Slack stand-in answering `replies` in turn (the last one repeats). */
const slackServer = async (replies: Reply[]) => {
  const requests: { url: string; authorization?: string | undefined; body: string }[] = [];
  server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let body = '';
    req.on('data', (chunk) => {
      body += chunk;
    });
    req.on('end', () => {
      requests.push({ url: req.url ?? '', authorization: req.headers.authorization, body });
      const reply = replies[Math.min(requests.length - 1, replies.length - 1)] as Reply;
      res.writeHead(reply.status, { 'content-type': 'application/json', ...reply.headers });
      res.end(typeof reply.body === 'string' ? reply.body : JSON.stringify(reply.body));
    });
  });
  await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/api/`, requests };
};

afterEach(async () => {
  await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
  server = undefined;
});

const OK = { status: 200, body: { ok: true, channel: 'C0BAKE', ts: '1700000000.000001' } };
const message = { channel: '#bakehouse', text: 'hello', blocks: [] };

describe('the secret', () => {
  it('reads a bot token with an apiUrl, or a webhook URL, and nothing else', () => {
    expect(parseSlackSecret(JSON.stringify({ botToken: TOKEN, apiUrl: 'http://127.0.0.1:1/api/' }))).toEqual({
      botToken: TOKEN,
      apiUrl: 'http://127.0.0.1:1/api/',
    });
    expect(parseSlackSecret(JSON.stringify({ webhookUrl: HOOK }))).toEqual({ webhookUrl: HOOK });
    expect(parseSlackSecret(JSON.stringify({ configure: 'x', placeholder: 'abc' }))).toBeUndefined();
    expect(parseSlackSecret('not json')).toBeUndefined();
  });

  it('is read once per TTL and again after it', async () => {
    // Prepare
    let now = 0;
    const load = vi.fn(async () => 'value');
    const read = cachedSecret(load, { ttlMs: 1000, clock: () => new Date(now) });

    // Act
    await read();
    now = 999;
    await read();
    now = 1000;
    await read();

    // Assess
    expect(load).toHaveBeenCalledTimes(2);
  });

  it('never shows a token or webhook URL in a text', () => {
    const text = `failed ${TOKEN} at ${HOOK} and xoxp-9-other`;
    const out = redact(text, { botToken: TOKEN, webhookUrl: HOOK });
    expect(out).not.toContain('SECRET');
    expect(out).not.toContain('xoxp-9-other');
  });
});

describe('the Web API', () => {
  it('sends the bot token and the message to chat.postMessage and returns channel and ts', async () => {
    // Prepare
    const slack = await slackServer([OK]);

    // Act
    const posted = await webApiPort({ botToken: TOKEN, apiUrl: slack.url }, FAST).post({ ...message, threadTs: '1.2' });

    // Assess
    expect(posted).toEqual({ channel: 'C0BAKE', ts: '1700000000.000001' });
    expect(slack.requests[0]?.url).toBe('/api/chat.postMessage');
    expect(slack.requests[0]?.authorization).toBe(`Bearer ${TOKEN}`);
    expect(slack.requests[0]?.body).toContain('thread_ts=1.2');
  });

  it('waits Retry-After on 429 and retries a 500, then succeeds', async () => {
    // Prepare
    const slack = await slackServer([
      { status: 429, body: { ok: false, error: 'ratelimited' }, headers: { 'retry-after': '1' } },
      { status: 500, body: { ok: false, error: 'internal_error' } },
      OK,
    ]);
    const started = Date.now();

    // Act
    await webApiPort({ botToken: TOKEN, apiUrl: slack.url }, FAST).update({ ...message, ts: '1.2' });

    // Assess
    expect(slack.requests).toHaveLength(3);
    expect(slack.requests[0]?.url).toBe('/api/chat.update');
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
  });

  it('keeps retrying after Retry-After though Date races ahead, as it does on the sandbox clock', async () => {
    // Prepare: while the call waits out Retry-After, Date jumps two hours (a sped-up clock); timers stay real
    const slack = await slackServer([
      { status: 429, body: { ok: false, error: 'ratelimited' }, headers: { 'retry-after': '1' } },
      OK,
    ]);
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(new Date('2027-03-01T00:00:00Z'));
    const jump = setTimeout(() => vi.setSystemTime(new Date('2027-03-01T02:00:00Z')), 300);

    // Act
    try {
      await webApiPort({ botToken: TOKEN, apiUrl: slack.url }, FAST).post(message);
    } finally {
      clearTimeout(jump);
      vi.useRealTimers();
    }

    // Assess
    expect(slack.requests).toHaveLength(2);
  });

  it('throws a SlackDeliveryError naming Slack’s error and problems, without the token', async () => {
    // Prepare
    const slack = await slackServer([
      {
        status: 200,
        body: { ok: false, error: 'invalid_blocks', response_metadata: { messages: ['[ERROR] too long'] } },
      },
    ]);

    // Act
    const error = await webApiPort({ botToken: TOKEN, apiUrl: slack.url }, FAST)
      .post(message)
      .catch((e: Error) => e);

    // Assess
    expect(error).toMatchObject({ name: 'SlackDeliveryError', message: expect.stringContaining('invalid_blocks') });
    expect((error as Error).message).toContain('too long');
    expect((error as Error).message).not.toContain(TOKEN);
  });
});

describe('the incoming webhook', () => {
  const response = (status: number, body = 'ok', headers: Record<string, string> = {}) =>
    new Response(body, { status, headers });

  it('honours Retry-After on 429 and backs off on 500, then posts', async () => {
    // Prepare
    const answers = [
      response(429, 'rate_limited', { 'retry-after': '3' }),
      response(500, 'rollup_error'),
      response(200),
    ];
    const doFetch = vi.fn(async () => answers.shift() as Response);
    const sleep = vi.fn(async () => undefined);

    // Act
    const posted = await webhookPort({ webhookUrl: HOOK }, { retry: FAST, fetch: doFetch as never, sleep }).post(
      message,
    );

    // Assess
    expect(posted.ts).toBeUndefined();
    expect(doFetch).toHaveBeenCalledTimes(3);
    expect(sleep.mock.calls[0]).toEqual([3000]);
  });

  it('gives up after the last retry with an error that hides the URL', async () => {
    // Prepare
    const doFetch = vi.fn(async () => {
      throw new Error(`connect ECONNREFUSED ${HOOK}`);
    });

    // Act
    const error = await webhookPort(
      { webhookUrl: HOOK },
      { retry: FAST, fetch: doFetch as never, sleep: async () => undefined },
    )
      .post(message)
      .catch((e: Error) => e);

    // Assess
    expect(doFetch).toHaveBeenCalledTimes(4);
    expect(error).toMatchObject({ name: 'SlackDeliveryError' });
    expect((error as Error).message).not.toContain('SECRETPATH');
  });

  it('does not retry what Slack refuses (400)', async () => {
    const doFetch = vi.fn(async () => response(400, 'invalid_blocks'));
    const error = await webhookPort(
      { webhookUrl: HOOK },
      { retry: FAST, fetch: doFetch as never, sleep: async () => undefined },
    )
      .post(message)
      .catch((e: Error) => e);
    expect(doFetch).toHaveBeenCalledTimes(1);
    expect((error as Error).message).toContain('invalid_blocks');
  });
});
