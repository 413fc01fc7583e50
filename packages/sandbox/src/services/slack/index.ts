/**
 * The Slack sink (unsigned HTTP, pseudo-service `_slack`): what the notifier talks to instead of
 * Slack. An incoming webhook at `POST /_sandbox/slack/webhook/{anything}` and the Web API methods
 * `POST /api/chat.postMessage` and `POST /api/chat.update` (JSON or form bodies, Bearer token),
 * checked against Slack's Block Kit limits and answered with Slack's own error strings.
 *
 * Every call is recorded in the store (`slack.messages`), accepted or refused, oldest first at
 * `GET /_sandbox/slack/messages` (`DELETE` clears). `POST /_sandbox/slack/faults
 * {"status":429,"retryAfter":2,"times":1}` makes the next calls fail (429 with Retry-After, 500,
 * 503).
 */
import { createHash } from 'node:crypto';
import type { SandboxRuntime } from '../../runtime';
import type { HttpReply, HttpRequest, HttpRoute, RestJsonService, ServiceContext } from '../../service';
import { checkBlocks, MAX_ATTACHMENTS, MAX_TEXT } from './blocks';

export const SLACK_MESSAGES_TABLE = 'slack.messages';
/** Messages as they stand in their channel (chat.update changes them), keyed `<channel>/<ts>`. */
export const SLACK_POSTED_TABLE = 'slack.posted';

type Method = 'webhook' | 'chat.postMessage' | 'chat.update';

interface RecordedCall extends Record<string, unknown> {
  readonly seq: number;
  readonly time: string;
  readonly method: Method;
  readonly webhook?: string;
  readonly channel?: string;
  readonly ts?: string;
  readonly accepted: boolean;
  /** `ok`, or the error Slack answered with. */
  readonly outcome: string;
  readonly status: number;
  readonly payload: unknown;
  readonly problems?: readonly string[];
}

interface SlackFault {
  readonly status: number;
  readonly retryAfter: number;
  remaining: number;
}

// Faults and ts counters belong to one running sandbox (several can run in one test process).
const faultsByRuntime = new WeakMap<SandboxRuntime, SlackFault[]>();
const lastTs = new WeakMap<SandboxRuntime, { seconds: number; counter: number }>();

const faultsOf = (ctx: ServiceContext): SlackFault[] => {
  let faults = faultsByRuntime.get(ctx.runtime);
  if (!faults) {
    faults = [];
    faultsByRuntime.set(ctx.runtime, faults);
  }
  return faults;
};

/** Slack's message ts: seconds on the sandbox clock and a unique six-digit suffix. */
const nextTs = (ctx: ServiceContext): string => {
  const seconds = Math.floor(ctx.clock.nowMs() / 1000);
  const last = lastTs.get(ctx.runtime);
  const counter = last && last.seconds === seconds ? last.counter + 1 : 1;
  lastTs.set(ctx.runtime, { seconds, counter });
  return `${seconds}.${String(counter).padStart(6, '0')}`;
};

/** A channel as Slack answers it: an id (`C…`); names map to a stable made-up id. */
const channelId = (channel: string): string =>
  /^[CGD][A-Z0-9]{6,}$/.test(channel)
    ? channel
    : `C${createHash('sha256').update(channel.replace(/^#/, '')).digest('hex').slice(0, 10).toUpperCase()}`;

const record = (ctx: ServiceContext, call: Omit<RecordedCall, 'seq' | 'time'>): void => {
  ctx.transact((tx) => {
    const table = ctx.store.table<RecordedCall>(SLACK_MESSAGES_TABLE);
    let seq = 1;
    for (const existing of table.values()) seq = Math.max(seq, existing.seq + 1);
    tx.put(SLACK_MESSAGES_TABLE, String(seq).padStart(9, '0'), {
      seq,
      time: ctx.clock.now().toISOString(),
      ...call,
    });
  });
};

/** Uses up one injected fault, if any. */
const takeFault = (ctx: ServiceContext): SlackFault | undefined => {
  const faults = faultsOf(ctx);
  const fault = faults.find((f) => f.remaining > 0);
  if (!fault) return undefined;
  fault.remaining -= 1;
  if (fault.remaining === 0) faults.splice(faults.indexOf(fault), 1);
  return fault;
};

const faultError = (status: number): string =>
  status === 429 ? 'ratelimited' : status === 503 ? 'service_unavailable' : 'internal_error';

/** JSON or form (`application/x-www-form-urlencoded`, blocks and attachments as JSON text). */
const parseArguments = (request: HttpRequest): Record<string, unknown> | undefined => {
  const type = String(request.headers['content-type'] ?? '');
  if (type.includes('application/json')) {
    try {
      const parsed: unknown = JSON.parse(request.body || '{}');
      return parsed && typeof parsed === 'object' && !Array.isArray(parsed)
        ? (parsed as Record<string, unknown>)
        : undefined;
    } catch {
      return undefined;
    }
  }
  const form = new URLSearchParams(request.body);
  const args: Record<string, unknown> = {};
  for (const [key, value] of form) {
    if (key === 'blocks' || key === 'attachments' || key === 'metadata') {
      try {
        args[key] = JSON.parse(value);
      } catch {
        args[key] = value;
      }
    } else {
      args[key] = value;
    }
  }
  return args;
};

interface Checked {
  readonly error?: string;
  readonly problems?: string[];
  readonly text?: string;
}

/** What Slack checks in a message's content, and its text as Slack keeps it (truncated). */
const checkMessage = (args: Record<string, unknown>): Checked => {
  const { text, blocks, attachments } = args;
  const hasText = typeof text === 'string' && text.length > 0;
  if (!hasText && blocks === undefined && attachments === undefined) return { error: 'no_text' };
  if (blocks !== undefined) {
    if (!Array.isArray(blocks)) return { error: 'invalid_blocks_format' };
    const problems = checkBlocks(blocks);
    if (problems.length > 0) return { error: 'invalid_blocks', problems };
  }
  if (attachments !== undefined) {
    if (!Array.isArray(attachments)) return { error: 'invalid_attachments' };
    if (attachments.length > MAX_ATTACHMENTS) return { error: 'too_many_attachments' };
    const problems = attachments.flatMap((attachment, i) =>
      attachment && typeof attachment === 'object' && 'blocks' in attachment
        ? checkBlocks((attachment as { blocks: unknown }).blocks, `/attachments/${i}/blocks`)
        : [],
    );
    if (problems.length > 0) return { error: 'invalid_blocks', problems };
  }
  return hasText ? { text: (text as string).slice(0, MAX_TEXT) } : { text: '' };
};

const messageOf = (args: Record<string, unknown>, text: string, ts: string): Record<string, unknown> => ({
  type: 'message',
  subtype: 'bot_message',
  text,
  ts,
  bot_id: 'B0SANDBOX',
  app_id: 'A0SANDBOX',
  team: 'T0SANDBOX',
  ...(args.blocks === undefined ? {} : { blocks: args.blocks }),
  ...(args.attachments === undefined ? {} : { attachments: args.attachments }),
  ...(typeof args.thread_ts === 'string' ? { thread_ts: args.thread_ts } : {}),
});

// --- incoming webhook ----------------------------------------------------------------------------

const webhook = (request: HttpRequest, ctx: ServiceContext): HttpReply => {
  const path = request.params.path ?? '';
  const fault = takeFault(ctx);
  let payload: unknown;
  try {
    const type = String(request.headers['content-type'] ?? '');
    payload = type.includes('application/x-www-form-urlencoded')
      ? JSON.parse(new URLSearchParams(request.body).get('payload') ?? '')
      : JSON.parse(request.body);
  } catch {
    payload = request.body;
  }
  const refuse = (status: number, error: string, problems?: string[], headers?: Record<string, string>): HttpReply => {
    record(ctx, {
      method: 'webhook',
      webhook: path,
      accepted: false,
      outcome: error,
      status,
      payload,
      ...(problems ? { problems } : {}),
    });
    return { status, body: error, ...(headers ? { headers } : {}) };
  };
  if (fault) {
    return refuse(
      fault.status,
      fault.status === 429 ? 'rate_limited' : 'rollup_error',
      undefined,
      fault.status === 429 ? { 'retry-after': String(fault.retryAfter) } : undefined,
    );
  }
  if (!payload || typeof payload !== 'object' || Array.isArray(payload)) return refuse(400, 'invalid_payload');
  const args = payload as Record<string, unknown>;
  const checked = checkMessage(args);
  if (checked.error)
    return refuse(400, checked.error === 'invalid_blocks_format' ? 'invalid_blocks' : checked.error, checked.problems);
  const channel = channelId(typeof args.channel === 'string' ? args.channel : `webhook-${path}`);
  const ts = nextTs(ctx);
  const message = messageOf(args, checked.text ?? '', ts);
  ctx.transact((tx) => tx.put(SLACK_POSTED_TABLE, `${channel}/${ts}`, { channel, ...message }));
  record(ctx, { method: 'webhook', webhook: path, channel, ts, accepted: true, outcome: 'ok', status: 200, payload });
  return { status: 200, body: 'ok' };
};

// --- Web API -------------------------------------------------------------------------------------

const webApi =
  (method: 'chat.postMessage' | 'chat.update') =>
  (request: HttpRequest, ctx: ServiceContext): HttpReply => {
    const args = parseArguments(request);
    const payload = args ?? request.body;
    const answer = (
      status: number,
      body: Record<string, unknown>,
      extra: Partial<RecordedCall> = {},
      headers?: Record<string, string>,
    ): HttpReply => {
      const ok = body.ok === true;
      record(ctx, {
        method,
        accepted: ok,
        outcome: ok ? 'ok' : String(body.error),
        status,
        payload,
        ...extra,
      });
      return { status, body, ...(headers ? { headers } : {}) };
    };
    const fault = takeFault(ctx);
    if (fault) {
      return answer(
        fault.status,
        { ok: false, error: faultError(fault.status) },
        {},
        fault.status === 429 ? { 'retry-after': String(fault.retryAfter) } : undefined,
      );
    }
    const authorization = String(request.headers.authorization ?? '');
    const token =
      /^Bearer\s+(\S+)$/i.exec(authorization)?.[1] ?? (typeof args?.token === 'string' ? args.token : undefined);
    if (!token) return answer(200, { ok: false, error: 'not_authed' });
    if (!token.startsWith('xoxb-')) return answer(200, { ok: false, error: 'invalid_auth' });
    if (!args) return answer(200, { ok: false, error: 'invalid_json' });
    const channelArg = typeof args.channel === 'string' ? args.channel : '';
    if (channelArg === '') return answer(200, { ok: false, error: 'channel_not_found' });
    const channel = channelId(channelArg);
    const checked = checkMessage(args);
    if (checked.error) {
      return answer(
        200,
        {
          ok: false,
          error: checked.error,
          ...(checked.problems
            ? {
                errors: checked.problems.map((p) => p.replace(/^\[ERROR\] /, '')),
                response_metadata: { messages: checked.problems },
              }
            : {}),
        },
        { channel, ...(checked.problems ? { problems: checked.problems } : {}) },
      );
    }
    const text = checked.text ?? '';
    if (method === 'chat.postMessage') {
      const ts = nextTs(ctx);
      const message = messageOf(args, text, ts);
      ctx.transact((tx) => tx.put(SLACK_POSTED_TABLE, `${channel}/${ts}`, { channel, ...message }));
      return answer(200, { ok: true, channel, ts, message }, { channel, ts });
    }
    const ts = typeof args.ts === 'string' ? args.ts : '';
    const existing = ctx.store.get<Record<string, unknown>>(SLACK_POSTED_TABLE, `${channel}/${ts}`);
    if (!existing) return answer(200, { ok: false, error: 'message_not_found' }, { channel, ...(ts ? { ts } : {}) });
    const { thread_ts: threadTs } = existing;
    const message = {
      ...messageOf(args, text, ts),
      ...(typeof threadTs === 'string' ? { thread_ts: threadTs } : {}),
      edited: { user: 'B0SANDBOX', ts: nextTs(ctx) },
    };
    ctx.transact((tx) => tx.put(SLACK_POSTED_TABLE, `${channel}/${ts}`, { channel, ...message }));
    return answer(200, { ok: true, channel, ts, text, message }, { channel, ts });
  };

// --- sandbox views ---------------------------------------------------------------------------------

const listMessages = (_request: HttpRequest, ctx: ServiceContext): HttpReply => ({
  status: 200,
  body: {
    messages: [...ctx.store.table<RecordedCall>(SLACK_MESSAGES_TABLE).values()].sort((a, b) => a.seq - b.seq),
  },
});

const clearMessages = (_request: HttpRequest, ctx: ServiceContext): HttpReply => {
  ctx.transact((tx) => {
    for (const id of ctx.store.table(SLACK_MESSAGES_TABLE).keys()) tx.delete(SLACK_MESSAGES_TABLE, id);
    for (const id of ctx.store.table(SLACK_POSTED_TABLE).keys()) tx.delete(SLACK_POSTED_TABLE, id);
  });
  return { status: 200, body: { cleared: true } };
};

const addFault = (request: HttpRequest, ctx: ServiceContext): HttpReply => {
  let input: Record<string, unknown>;
  try {
    input = JSON.parse(request.body || '{}') as Record<string, unknown>;
  } catch {
    return { status: 400, body: { error: 'the body must be JSON' } };
  }
  const status = Number(input.status ?? 429);
  const retryAfter = Number(input.retryAfter ?? 1);
  const times = Number(input.times ?? 1);
  if (![429, 500, 503].includes(status)) return { status: 400, body: { error: 'status must be 429, 500 or 503' } };
  if (!Number.isInteger(retryAfter) || retryAfter < 0) {
    return { status: 400, body: { error: 'retryAfter must be a whole number of seconds' } };
  }
  if (!Number.isInteger(times) || times < 1)
    return { status: 400, body: { error: 'times must be a positive integer' } };
  faultsOf(ctx).push({ status, retryAfter, remaining: times });
  return { status: 200, body: { faults: faultsOf(ctx) } };
};

const clearFaults = (_request: HttpRequest, ctx: ServiceContext): HttpReply => {
  faultsOf(ctx).length = 0;
  return { status: 200, body: { faults: [] } };
};

/** Unsigned routes must answer, never throw: a bug becomes a 500 with the reason. */
const safe =
  (handle: HttpRoute['handle']): HttpRoute['handle'] =>
  async (request, ctx) => {
    try {
      return await handle(request, ctx);
    } catch (error) {
      console.error('sandbox: Slack sink failed', error);
      return { status: 500, body: { ok: false, error: 'internal_error' } };
    }
  };

const route = (method: HttpRoute['method'], path: RegExp, action: string, handle: HttpRoute['handle']): HttpRoute => ({
  method,
  path,
  action,
  handle: safe(handle),
});

export const slack: RestJsonService = {
  signingName: '_slack',
  protocol: 'rest-json',
  routes: [],
  unsignedRoutes: [
    route('POST', /^\/_sandbox\/slack\/webhook\/(?<path>.+)$/, 'Webhook', webhook),
    route('POST', /^\/api\/chat\.postMessage$/, 'chat.postMessage', webApi('chat.postMessage')),
    route('POST', /^\/api\/chat\.update$/, 'chat.update', webApi('chat.update')),
    route('GET', /^\/_sandbox\/slack\/messages$/, 'ListMessages', listMessages),
    route('DELETE', /^\/_sandbox\/slack\/messages$/, 'ClearMessages', clearMessages),
    route('POST', /^\/_sandbox\/slack\/faults$/, 'AddFault', addFault),
    route('DELETE', /^\/_sandbox\/slack\/faults$/, 'ClearFaults', clearFaults),
  ],
};
