/**
 * Talking to Slack: the secret (bot token or incoming webhook URL, from Secrets Manager, cached
 * per container with a short TTL), the two ways to post (Web API through `@slack/web-api`'s
 * WebClient, or an incoming webhook), retries that honour `Retry-After`, and redaction so neither
 * the token nor the webhook URL ever reaches a log line or an error message.
 */
import { LogLevel, WebClient } from '@slack/web-api';
import { SlackDeliveryError } from './errors';
import type { SlackMessage } from './messages';

/** The secret's value: `{ "botToken": "xoxb-…" }` or `{ "webhookUrl": "https://hooks.slack.com/…" }`, optionally `apiUrl`. */
export interface SlackSecret {
  readonly botToken?: string;
  readonly webhookUrl?: string;
  /** Another Web API base URL (the sandbox's Slack sink); Slack's own when absent. */
  readonly apiUrl?: string;
}

/** The secret's value as Slack settings, or undefined when it holds neither a bot token nor a webhook URL. */
export const parseSlackSecret = (text: string | undefined): SlackSecret | undefined => {
  if (!text) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!value || typeof value !== 'object') return undefined;
  const { botToken, webhookUrl, apiUrl } = value as Record<string, unknown>;
  const token = typeof botToken === 'string' && botToken.startsWith('xox') ? botToken : undefined;
  const hook = typeof webhookUrl === 'string' && /^https?:\/\//.test(webhookUrl) ? webhookUrl : undefined;
  if (!token && !hook) return undefined;
  return {
    ...(token ? { botToken: token } : {}),
    ...(hook ? { webhookUrl: hook } : {}),
    ...(typeof apiUrl === 'string' && /^https?:\/\//.test(apiUrl) ? { apiUrl } : {}),
  };
};

/** Reads the secret at most once per `ttlMs` (a rotated token is picked up within the TTL). */
export const cachedSecret = (
  load: () => Promise<string | undefined>,
  options: { readonly ttlMs: number; readonly clock: () => Date },
): (() => Promise<string | undefined>) => {
  let cached: { value: string | undefined; at: number } | undefined;
  return async function readSlackSecret() {
    const now = options.clock().getTime();
    if (cached && now - cached.at < options.ttlMs) return cached.value;
    const value = await load();
    cached = { value, at: now };
    return value;
  };
};

const TOKEN_PATTERN = /xox[a-z]-[A-Za-z0-9-]+/g;
const WEBHOOK_PATTERN = /https:\/\/hooks\.slack\.com\/[^\s"'<>]+/g;

/** Removes the secret's values (and anything shaped like a token or webhook URL) from a text. */
export const redact = (text: string, secret?: SlackSecret): string => {
  let out = text;
  for (const value of [secret?.botToken, secret?.webhookUrl]) {
    if (value) out = out.split(value).join('[redacted]');
  }
  return out.replace(TOKEN_PATTERN, 'xox?-[redacted]').replace(WEBHOOK_PATTERN, 'https://hooks.slack.com/[redacted]');
};

export interface PostArguments extends SlackMessage {
  readonly channel: string;
  readonly threadTs?: string;
}

/** What the notifier needs from Slack. A webhook can only post: no ts, no updates, no threads. */
export interface SlackPort {
  readonly mode: 'web-api' | 'webhook';
  post(message: PostArguments): Promise<{ channel: string; ts: string | undefined }>;
  update(message: SlackMessage & { readonly channel: string; readonly ts: string }): Promise<void>;
}

export interface RetryPolicy {
  /** Attempts after the first. */
  readonly retries: number;
  readonly minDelayMs: number;
  readonly maxDelayMs: number;
  /** The webhook starts no retry after this long since the first attempt (the Web API: see DEFAULT_RETRY). */
  readonly maxTotalMs: number;
  /** Per request. */
  readonly timeoutMs: number;
}

/**
 * A few attempts per call, then the invocation fails and Lambda's async retries take over. The
 * Web API's back-off is bounded by the count (about 16 s, twice that randomized, plus Slack's
 * Retry-After waits) and the function's timeout, not by `maxTotalMs`: WebClient's retry library
 * measures elapsed time with `Date`, which in the sandbox follows its accelerated clock, so a
 * minute of `Date` can pass in a real second there and end the retries before Retry-After did.
 * The webhook's own loop measures its budget on a monotonic clock (`performance.now`).
 */
export const DEFAULT_RETRY: RetryPolicy = {
  retries: 5,
  minDelayMs: 500,
  maxDelayMs: 8_000,
  maxTotalMs: 60_000,
  timeoutMs: 10_000,
};

const describeSlackError = (error: unknown): string => {
  if (!(error instanceof Error)) return String(error);
  const data = (error as { data?: { error?: string; response_metadata?: { messages?: string[] } } }).data;
  const details = data?.response_metadata?.messages?.join('; ');
  return details ? `${error.message} (${details})` : error.message;
};

/** The Web API through WebClient: its retries honour `Retry-After` on 429 and back off on 5xx. */
export const webApiPort = (
  secret: SlackSecret & { readonly botToken: string },
  retry: RetryPolicy = DEFAULT_RETRY,
): SlackPort => {
  const client = new WebClient(secret.botToken, {
    ...(secret.apiUrl ? { slackApiUrl: secret.apiUrl } : {}),
    logLevel: LogLevel.ERROR,
    timeout: retry.timeoutMs,
    rejectRateLimitedCalls: false,
    retryConfig: {
      retries: retry.retries,
      factor: 2,
      minTimeout: retry.minDelayMs,
      maxTimeout: retry.maxDelayMs,
      randomize: true,
    },
  });
  const fail = (method: string, error: unknown): never => {
    throw new SlackDeliveryError(redact(`${method} failed: ${describeSlackError(error)}`, secret));
  };
  return {
    mode: 'web-api',
    post: async ({ channel, text, blocks, threadTs }) => {
      const answer = await client.chat
        .postMessage({
          channel,
          text,
          blocks,
          unfurl_links: false,
          unfurl_media: false,
          ...(threadTs ? { thread_ts: threadTs } : {}),
        })
        .catch((error: unknown) => fail('chat.postMessage', error));
      return { channel: answer.channel ?? channel, ts: answer.ts };
    },
    update: async ({ channel, ts, text, blocks }) => {
      await client.chat.update({ channel, ts, text, blocks }).catch((error: unknown) => fail('chat.update', error));
    },
  };
};

/** `Retry-After` in ms (seconds or an HTTP date), or undefined. */
const retryAfterMs = (value: string | null, now: number): number | undefined => {
  if (value === null) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
};

/** An incoming webhook: one message per call; 429 waits `Retry-After`, 5xx and network errors back off. */
export const webhookPort = (
  secret: SlackSecret & { readonly webhookUrl: string },
  options: {
    readonly retry?: RetryPolicy;
    readonly fetch?: typeof fetch;
    readonly sleep?: (ms: number) => Promise<void>;
    readonly now?: () => number;
  } = {},
): SlackPort => {
  const retry = options.retry ?? DEFAULT_RETRY;
  const doFetch = options.fetch ?? fetch;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  // Elapsed time on a monotonic clock; Retry-After as an HTTP date needs the wall clock.
  const elapsed = options.now ?? (() => performance.now());
  const wallClock = options.now ?? Date.now;
  return {
    mode: 'webhook',
    post: async ({ channel, text, blocks }) => {
      const started = elapsed();
      let last = '';
      for (let attempt = 0; attempt <= retry.retries; attempt++) {
        let wait = Math.min(retry.maxDelayMs, retry.minDelayMs * 2 ** attempt);
        try {
          const response = await doFetch(secret.webhookUrl, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ text, blocks }),
            signal: AbortSignal.timeout(retry.timeoutMs),
          });
          if (response.ok) return { channel, ts: undefined };
          const body = (await response.text()).slice(0, 200);
          last = `HTTP ${response.status} ${body}`;
          if (response.status === 429) wait = retryAfterMs(response.headers.get('retry-after'), wallClock()) ?? wait;
          else if (response.status < 500) break; // invalid_payload, no_text, …: a retry cannot fix it
        } catch (error) {
          last = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
        }
        if (attempt === retry.retries || elapsed() - started + wait > retry.maxTotalMs) break;
        await sleep(wait);
      }
      throw new SlackDeliveryError(redact(`webhook post failed: ${last}`, secret));
    },
    update: async () => {
      throw new SlackDeliveryError('an incoming webhook cannot update a message');
    },
  };
};

/** The port the secret asks for: the Web API with a bot token (preferred), else the webhook. */
export const slackPortFor = (secret: SlackSecret, retry: RetryPolicy = DEFAULT_RETRY): SlackPort => {
  if (secret.botToken) return webApiPort({ ...secret, botToken: secret.botToken }, retry);
  if (secret.webhookUrl) return webhookPort({ ...secret, webhookUrl: secret.webhookUrl }, { retry });
  throw new SlackDeliveryError('the Slack secret holds neither botToken nor webhookUrl');
};
