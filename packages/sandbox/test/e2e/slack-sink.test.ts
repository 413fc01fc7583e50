/**
 * The Slack sink, driven by the client the notifier uses (@slack/web-api's WebClient) and by
 * plain HTTP for the incoming webhook; every call is read back from /_sandbox/slack/messages.
 */
import { type ChatPostMessageArguments, type Logger, LogLevel, WebClient } from '@slack/web-api';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { failure, startTestSandbox, type TestSandbox } from '../../src/testing/sandbox';

const TOKEN = 'xoxb-sandbox-test';

interface Recorded {
  seq: number;
  time: string;
  method: string;
  webhook?: string;
  channel?: string;
  ts?: string;
  accepted: boolean;
  outcome: string;
  status: number;
  payload: Record<string, unknown>;
  problems?: string[];
}

/** The client's own logging would only repeat what the tests assert. */
const quiet: Logger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
  setLevel: () => undefined,
  getLevel: () => LogLevel.ERROR,
  setName: () => undefined,
};

type SlackError = Error & { code: string; data?: Record<string, unknown>; retryAfter?: number };

describe('Slack sink', () => {
  let sandbox: TestSandbox;
  let slack: WebClient;

  const client = (token: string | undefined, options: ConstructorParameters<typeof WebClient>[1] = {}) =>
    new WebClient(token, {
      slackApiUrl: `${sandbox.sandbox.url}/api/`,
      retryConfig: { retries: 0 },
      logger: quiet,
      ...options,
    });
  const recorded = async (): Promise<Recorded[]> =>
    ((await sandbox.control('GET', '/_sandbox/slack/messages')).body as { messages: Recorded[] }).messages;
  const webhook = (body: string, contentType = 'application/json') =>
    fetch(`${sandbox.sandbox.url}/_sandbox/slack/webhook/T000/B000/secret`, {
      method: 'POST',
      headers: { 'content-type': contentType },
      body,
    });
  const post = (args: Partial<ChatPostMessageArguments>) =>
    slack.chat.postMessage({ channel: '#bakehouse', ...args } as ChatPostMessageArguments);

  beforeAll(async () => {
    sandbox = await startTestSandbox();
    slack = client(TOKEN);
  });

  afterAll(async () => {
    await sandbox?.stop();
  });

  beforeEach(async () => {
    await sandbox.control('DELETE', '/_sandbox/slack/messages');
    await sandbox.control('DELETE', '/_sandbox/slack/faults');
  });

  it('accepts chat.postMessage with blocks and answers channel, ts and the message', async () => {
    const blocks = [
      { type: 'header', text: { type: 'plain_text', text: 'AMI baked' } },
      {
        type: 'section',
        text: { type: 'mrkdwn', text: '*al2023-base* `ami-0123`' },
        fields: [{ type: 'mrkdwn', text: 'x' }],
      },
      { type: 'context', elements: [{ type: 'mrkdwn', text: 'bake b-1' }] },
      { type: 'actions', elements: [{ type: 'button', text: { type: 'plain_text', text: 'Open' }, url: 'https://x' }] },
    ];

    const answer = await post({ text: 'AMI baked: al2023-base', blocks });

    expect(answer.ok).toBe(true);
    expect(answer.channel).toMatch(/^C[0-9A-F]{10}$/);
    expect(answer.ts).toMatch(/^\d{10}\.\d{6}$/);
    expect(answer.message).toMatchObject({ text: 'AMI baked: al2023-base', blocks, ts: answer.ts });
    const [call] = await recorded();
    expect(call).toMatchObject({
      method: 'chat.postMessage',
      channel: answer.channel,
      ts: answer.ts,
      accepted: true,
      outcome: 'ok',
      payload: { channel: '#bakehouse', text: 'AMI baked: al2023-base', blocks },
    });
  });

  it('updates a posted message with chat.update and refuses an unknown ts', async () => {
    const posted = await post({ text: 'Bake started' });
    const updated = await slack.chat.update({
      channel: posted.channel as string,
      ts: posted.ts as string,
      text: 'Bake done',
    });
    expect(updated).toMatchObject({ ok: true, channel: posted.channel, ts: posted.ts, text: 'Bake done' });

    const error = (await failure(
      slack.chat.update({ channel: posted.channel as string, ts: '1.000001', text: 'x' }),
    )) as SlackError;

    expect(error.code).toBe('slack_webapi_platform_error');
    expect(error.data?.error).toBe('message_not_found');
    const calls = await recorded();
    expect(calls.map((c) => [c.method, c.outcome])).toEqual([
      ['chat.postMessage', 'ok'],
      ['chat.update', 'ok'],
      ['chat.update', 'message_not_found'],
    ]);
  });

  it('needs a bot token: not_authed without one, invalid_auth for one that is not xoxb-', async () => {
    const none = (await failure(client(undefined).chat.postMessage({ channel: 'c', text: 'x' }))) as SlackError;
    const user = (await failure(client('xoxp-user').chat.postMessage({ channel: 'c', text: 'x' }))) as SlackError;
    expect(none.data?.error).toBe('not_authed');
    expect(user.data?.error).toBe('invalid_auth');
  });

  it('refuses blocks over the Block Kit limits with invalid_blocks and the reasons', async () => {
    const blocks = [
      { type: 'section', text: { type: 'mrkdwn', text: 'x'.repeat(3001) } },
      { type: 'header', text: { type: 'plain_text', text: 'h'.repeat(151) } },
      { type: 'section', fields: Array.from({ length: 11 }, () => ({ type: 'mrkdwn', text: 'f' })) },
      { type: 'actions', elements: [{ type: 'button', text: { type: 'plain_text', text: 'b'.repeat(76) } }] },
      { type: 'divider', block_id: 'i'.repeat(256) },
      { type: 'context', elements: Array.from({ length: 11 }, () => ({ type: 'plain_text', text: 'c' })) },
    ];

    const error = (await failure(post({ text: 'fallback', blocks }))) as SlackError;

    expect(error.data?.error).toBe('invalid_blocks');
    expect((error.data?.response_metadata as { messages: string[] } | undefined)?.messages).toEqual([
      '[ERROR] must be less than 3001 characters [json-pointer:/blocks/0/text/text]',
      '[ERROR] must be less than 151 characters [json-pointer:/blocks/1/text/text]',
      '[ERROR] no more than 10 items allowed [json-pointer:/blocks/2/fields]',
      '[ERROR] must be less than 76 characters [json-pointer:/blocks/3/elements/0/text/text]',
      '[ERROR] must be less than 256 characters [json-pointer:/blocks/4/block_id]',
      '[ERROR] no more than 10 items allowed [json-pointer:/blocks/5/elements]',
    ]);
    const [call] = await recorded();
    expect(call).toMatchObject({ accepted: false, outcome: 'invalid_blocks' });
    expect(call?.problems).toHaveLength(6);
  });

  it('allows 50 blocks and refuses 51', async () => {
    const divider = { type: 'divider' };
    await expect(post({ text: 't', blocks: Array(50).fill(divider) })).resolves.toMatchObject({ ok: true });
    const error = (await failure(post({ text: 't', blocks: Array(51).fill(divider) }))) as SlackError;
    expect((error.data?.response_metadata as { messages: string[] } | undefined)?.messages).toEqual([
      '[ERROR] no more than 50 items allowed [json-pointer:/blocks]',
    ]);
  });

  it('truncates message text beyond 40,000 characters, as Slack does', async () => {
    const answer = await post({ text: 'y'.repeat(40_010) });
    expect((answer.message?.text ?? '').length).toBe(40_000);
  });

  it('answers the incoming webhook with ok or Slack’s error texts', async () => {
    const ok = await webhook(JSON.stringify({ text: 'AMI baked' }));
    expect([ok.status, await ok.text()]).toEqual([200, 'ok']);
    const form = await webhook(
      `payload=${encodeURIComponent(JSON.stringify({ text: 'as form' }))}`,
      'application/x-www-form-urlencoded',
    );
    expect(await form.text()).toBe('ok');
    const broken = await webhook('{not json');
    expect([broken.status, await broken.text()]).toEqual([400, 'invalid_payload']);
    const empty = await webhook(JSON.stringify({ username: 'bakehouse' }));
    expect([empty.status, await empty.text()]).toEqual([400, 'no_text']);
    const many = await webhook(JSON.stringify({ text: 't', attachments: Array(101).fill({ text: 'a' }) }));
    expect([many.status, await many.text()]).toEqual([400, 'too_many_attachments']);
    const blocks = await webhook(JSON.stringify({ blocks: [{ type: 'header', text: { type: 'mrkdwn', text: 'h' } }] }));
    expect([blocks.status, await blocks.text()]).toEqual([400, 'invalid_blocks']);

    const calls = await recorded();
    expect(calls.map((c) => [c.method, c.accepted, c.outcome])).toEqual([
      ['webhook', true, 'ok'],
      ['webhook', true, 'ok'],
      ['webhook', false, 'invalid_payload'],
      ['webhook', false, 'no_text'],
      ['webhook', false, 'too_many_attachments'],
      ['webhook', false, 'invalid_blocks'],
    ]);
    expect(calls[0]).toMatchObject({ webhook: 'T000/B000/secret', payload: { text: 'AMI baked' } });
    expect(calls.map((c) => c.seq)).toEqual([...calls.map((c) => c.seq)].sort((a, b) => a - b));
  });

  it('answers 429 with Retry-After while a fault lasts; the client waits and retries', async () => {
    await sandbox.control('POST', '/_sandbox/slack/faults', { status: 429, retryAfter: 1, times: 1 });
    const patient = client(TOKEN, { retryConfig: { retries: 1, minTimeout: 10, maxTimeout: 10 } });
    const started = Date.now();

    const answer = await patient.chat.postMessage({ channel: '#bakehouse', text: 'after the limit' });

    expect(answer.ok).toBe(true);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
    const calls = await recorded();
    expect(calls.map((c) => [c.status, c.outcome])).toEqual([
      [429, 'ratelimited'],
      [200, 'ok'],
    ]);
  });

  it('reports the rate limit to a client that rejects rate-limited calls, and fails webhooks with 503', async () => {
    await sandbox.control('POST', '/_sandbox/slack/faults', { status: 429, retryAfter: 7, times: 1 });
    const impatient = client(TOKEN, { rejectRateLimitedCalls: true });
    const error = (await failure(impatient.chat.postMessage({ channel: 'c', text: 'x' }))) as SlackError;
    expect(error.code).toBe('slack_webapi_rate_limited_error');
    expect(error.retryAfter).toBe(7);

    await sandbox.control('POST', '/_sandbox/slack/faults', { status: 503, times: 1 });
    const down = await webhook(JSON.stringify({ text: 't' }));
    expect(down.status).toBe(503);
    const up = await webhook(JSON.stringify({ text: 't' }));
    expect(up.status).toBe(200);
  });

  it('keeps recorded calls in the store and clears them on DELETE', async () => {
    await post({ text: 'kept' });
    expect(sandbox.sandbox.store.table('slack.messages').size).toBe(1);
    await sandbox.control('DELETE', '/_sandbox/slack/messages');
    expect(await recorded()).toEqual([]);
  });
});
