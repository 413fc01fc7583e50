/**
 * The sandbox endpoint: one HTTP server on loopback that speaks each service's wire protocol,
 * routed the way AWS routes it (the SigV4 credential scope names the service; JSON services
 * also name the action in `X-Amz-Target`), plus the `/_sandbox` control endpoint.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Authorizer, type AuthzCheck, DENIAL_STYLES, type DenialStyle } from './authz/authorizer';
import { loadCatalog } from './authz/catalog';
import { administrator, type Caller, callerOf } from './authz/identity';
import { SandboxClock } from './clock';
import { handleControl, type Readiness } from './control';
import { AwsError } from './errors';
import { Faults } from './faults';
import { awsQueryError, awsQueryResponse, ec2Error, ec2Response, parseForm } from './protocol/query';
import { answerDate } from './request-time';
import { type EventualConsistency, SandboxRuntime } from './runtime';
import type {
  HttpReply,
  HttpRequest,
  HttpRoute,
  JsonService,
  QueryService,
  RestJsonService,
  SandboxService,
  ServiceContext,
} from './service';
import { allServices } from './services';
import { type HiddenAnswer, hiddenAnswers } from './services/ec2/consistency';
import { Store, type StoreFlush } from './store';

/** How long closing waits for one service to stop. */
const SERVICE_STOP_MS = 5_000;
export interface SandboxOptions {
  /** 0 picks a free port. */
  readonly port: number;
  readonly stateDir: string;
  readonly reset?: boolean;
  /**
   * `kernel` (default): each change is written before it is acknowledged, so it survives the
   * sandbox being killed; `disk`: also flushed to the device, to survive a host crash (store.ts).
   */
  readonly flush?: StoreFlush;
  /** Sandbox seconds per real second; 0 freezes the clock. */
  readonly speed?: number;
  readonly account?: string;
  /** Extra or replacement services (tests). */
  readonly services?: readonly SandboxService[];
  /** Deployment assets (a CDK cloud assembly such as `cdk.out`) that Lambda code refers to. */
  readonly assetsDir?: string;
  /**
   * IAM enforcement (default on): role sessions are authorized as AWS would. Off, every request
   * passes and the denials AWS would make are only recorded (with a warning at start).
   */
  readonly iam?: 'on' | 'off';
  /**
   * EC2's eventual consistency after creates (off when omitted): for `hideSeconds` of sandbox time
   * after RunInstances / CreateImage / CopyImage, Describe by id answers NotFound and Describe with
   * filters leaves the new resource out (`services/ec2/consistency.ts`).
   */
  readonly eventualConsistency?: EventualConsistency;
  /**
   * The caller provisions the sandbox after start: `GET /_sandbox/health` answers 503
   * `{"status":"provisioning"}` from the first request until `setReadiness` says how it ended.
   * Without it the sandbox is ready as soon as it listens.
   */
  readonly provisioning?: boolean;
}

export interface Sandbox {
  readonly url: string;
  readonly port: number;
  readonly clock: SandboxClock;
  readonly store: Store;
  readonly faults: Faults;
  readonly account: string;
  readonly runtime: SandboxRuntime;
  /** IAM enforcement, and what each role used and was refused. */
  readonly authorizer: Authorizer;
  /** What EC2's eventual consistency hid so far (empty when the option is off), oldest first. */
  hiddenByConsistency(): readonly HiddenAnswer[];
  /** What `GET /_sandbox/health` answers. */
  readonly readiness: Readiness;
  /**
   * Publishes a cloud assembly's assets (`asset.<hash>/` directories) to the sandbox, as
   * `cdk deploy` uploads them: Lambda code named by a later template is found there as well.
   */
  addAssets(dir: string): void;
  /** Provisioning ended: `{status: 'ready', provisioned}` or `{status: 'failed', error}`. */
  setReadiness(readiness: Readiness): void;
  close(): Promise<void>;
}

export const DEFAULT_ACCOUNT = '000000000000';
export const DEFAULT_SPEED = 600;
const MAX_BODY_BYTES = 16 * 1024 * 1024;
/** Real milliseconds between background pumps. */
const PUMP_INTERVAL_MS = 25;

interface Scope {
  readonly region: string;
  readonly service: string;
  readonly accessKeyId: string;
}

/** `AWS4-HMAC-SHA256 Credential=AKID/20261122/us-east-1/ec2/aws4_request, …` → region, service. */
export const credentialScope = (authorization: string | undefined): Scope | undefined => {
  const match = /Credential=([^/,\s]+)\/\d{8}\/([a-z0-9-]+)\/([a-z0-9-]+)\/aws4_request/.exec(authorization ?? '');
  return match
    ? { accessKeyId: match[1] as string, region: match[2] as string, service: match[3] as string }
    : undefined;
};

const readBody = (request: IncomingMessage): Promise<string> =>
  new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    request.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        reject(new AwsError('RequestEntityTooLarge', 'The request body is too large', 413));
        request.destroy();
        return;
      }
      chunks.push(chunk);
    });
    request.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    request.on('error', reject);
  });

export const startSandbox = async (options: SandboxOptions): Promise<Sandbox> => {
  const hideSeconds = options.eventualConsistency?.hideSeconds;
  if (hideSeconds !== undefined && !(Number.isFinite(hideSeconds) && hideSeconds >= 0)) {
    throw new Error(`eventualConsistency.hideSeconds must be a number of 0 or more, not ${hideSeconds}`);
  }
  // Newest first (Sandbox.addAssets).
  const assetsDirs: string[] = options.assetsDir === undefined ? [] : [options.assetsDir];
  const store = Store.open(options.stateDir, { reset: options.reset ?? false, flush: options.flush ?? 'kernel' });
  const clock = new SandboxClock({ speed: options.speed ?? DEFAULT_SPEED, startMs: store.clockMs });
  const faults = new Faults();
  const account = options.account ?? DEFAULT_ACCOUNT;
  const authorizer = new Authorizer(options.iam !== 'off', await loadCatalog());
  if (options.iam === 'off') {
    console.warn('sandbox: IAM enforcement is off: requests AWS would refuse go through (they are still recorded)');
  }
  const services = new Map<string, SandboxService>();
  for (const service of [...allServices, ...(options.services ?? [])]) services.set(service.signingName, service);

  let url = '';
  let readiness: Readiness = options.provisioning ? { status: 'provisioning' } : { status: 'ready' };
  const runtime: SandboxRuntime = new SandboxRuntime(
    () => url,
    (region) => contextFor(region ?? 'us-east-1', randomUUID()),
    'us-east-1',
    options.eventualConsistency === undefined ? {} : { eventualConsistency: options.eventualConsistency },
  );
  const authorizeFor =
    (ctx: () => Caller, style: DenialStyle) =>
    (checks: readonly AuthzCheck[], as?: Caller): void => {
      for (const check of checks) {
        const [prefix = '', name = ''] = check.action.split(':');
        if (!authorizer.catalog.action(prefix, name)) {
          throw new Error(`sandbox bug: ${check.action} is not an action of the Service Authorization Reference`);
        }
      }
      authorizer.authorize(store, account, as ?? ctx(), checks, style, clock.nowMs());
    };
  const contextFor = (
    region: string,
    requestId: string,
    accessKeyId?: string,
    style: DenialStyle = DENIAL_STYLES.json,
  ): ServiceContext => {
    let caller: Caller | undefined;
    const callerNow = (): Caller => {
      caller ??= callerOf(store, account, accessKeyId, clock.nowMs());
      return caller;
    };
    return {
      store,
      clock,
      account,
      region,
      requestId,
      ...(accessKeyId === undefined ? {} : { accessKeyId }),
      get caller() {
        return accessKeyId === undefined ? administrator(account) : callerNow();
      },
      authorize: authorizeFor(callerNow, style),
      authorizer,
      faults,
      runtime,
      assetsDirs,
      transact: (work) => store.transact(clock.nowMs(), work),
    };
  };

  const seedContext = contextFor('us-east-1', 'seed');
  for (const service of services.values()) service.seed?.(seedContext);

  const tickAll = (ctx: ServiceContext): void => {
    for (const service of services.values()) service.tick?.(ctx);
  };

  const unsignedRoutes = [...services.values()].flatMap((service) => service.unsignedRoutes ?? []);

  const handle = async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    const requestUrl = new URL(request.url ?? '/', 'http://sandbox');
    const body = await readBody(request);
    const method = request.method ?? 'GET';
    const unsigned = matchRoute(unsignedRoutes, method, requestUrl, request, body);
    if (unsigned) {
      const ctx = contextFor('us-east-1', randomUUID());
      tickAll(ctx);
      sendReply(response, await unsigned.route.handle(unsigned.request, ctx));
      return;
    }
    if (requestUrl.pathname.startsWith('/_sandbox')) {
      const reply = handleControl(method, requestUrl.pathname, body, {
        store,
        clock,
        faults,
        services,
        runtime,
        readiness: () => readiness,
      });
      response.writeHead(reply.status, { 'content-type': 'application/json' });
      response.end(JSON.stringify(reply.body));
      return;
    }
    const requestId = randomUUID();
    const scope = credentialScope(request.headers.authorization);
    const target = request.headers['x-amz-target'];
    const service = scope ? services.get(scope.service) : undefined;
    if (!scope || !service) {
      const error = scope
        ? new AwsError('UnknownService', `The sandbox does not provide the service '${scope.service}'`)
        : new AwsError(
            'MissingAuthenticationToken',
            'Request is missing Authentication Token (sign it with SigV4)',
            403,
          );
      response.writeHead(error.status, { 'content-type': 'text/xml', 'x-amzn-requestid': requestId });
      response.end(ec2Error(error, requestId));
      return;
    }
    const ctx = contextFor(
      scope.region,
      requestId,
      scope.accessKeyId,
      DENIAL_STYLES[service.protocol === 'ec2' ? 'ec2' : service.protocol],
    );
    // Dated on the clock the caller signed with, so its SDK never retries an error to correct a skew.
    const signedAt = request.headers['x-amz-date'];
    const signedAtText = typeof signedAt === 'string' ? signedAt : undefined;
    response.setHeader('date', answerDate(signedAtText, clock.nowMs(), Date.now()));
    if (service.protocol === 'json') {
      await handleJson(service, typeof target === 'string' ? target : undefined, body, ctx, response, tickAll, faults);
    } else if (service.protocol === 'rest-json') {
      await handleRestJson(service, method, requestUrl, request, body, ctx, response, tickAll, faults);
    } else {
      await handleQuery(service, body, ctx, response, tickAll, faults);
    }
  };

  const server: Server = createServer((request, response) => {
    handle(request, response).catch((error: unknown) => {
      // Anything unexpected is the sandbox's bug: answer as AWS does with an internal error,
      // never a stack trace.
      console.error('sandbox: internal error', error);
      if (!response.headersSent) {
        response.writeHead(500, { 'content-type': 'application/json' });
        response.end(
          JSON.stringify({ __type: 'InternalFailure', message: 'The sandbox failed to handle the request' }),
        );
      }
    });
  });
  // Keep idle connections well past Node's 5 s default: SDK clients reuse keep-alive sockets, and
  // one picked up just as the server closes it fails with ECONNRESET, which a client configured
  // with maxAttempts 1 (the tests') does not retry. Stopping the sandbox closes every connection.
  server.keepAliveTimeout = 120_000;
  server.headersTimeout = 121_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  url = `http://127.0.0.1:${port}`;

  for (const service of services.values()) await service.start?.(contextFor('us-east-1', 'start'));

  // Background work: each service's pump, never overlapping itself; a failure is logged and the
  // next round runs as usual.
  const pumping = new Set<string>();
  const pumpTimer = setInterval(() => {
    for (const service of services.values()) {
      if (!service.pump || pumping.has(service.signingName)) continue;
      pumping.add(service.signingName);
      const ctx = contextFor('us-east-1', randomUUID());
      Promise.resolve()
        .then(() => {
          tickAll(ctx);
          return service.pump?.(ctx);
        })
        .catch((error: unknown) => {
          if (!runtime.isClosed) console.error(`sandbox: ${service.signingName} background work failed`, error);
        })
        .finally(() => pumping.delete(service.signingName));
    }
  }, PUMP_INTERVAL_MS);

  return {
    url,
    port,
    clock,
    store,
    faults,
    account,
    runtime,
    authorizer,
    hiddenByConsistency: () => hiddenAnswers(runtime),
    get readiness() {
      return readiness;
    },
    setReadiness: (next) => {
      readiness = next;
    },
    addAssets: (dir) => {
      const index = assetsDirs.indexOf(dir);
      if (index >= 0) assetsDirs.splice(index, 1);
      assetsDirs.unshift(dir);
    },
    close: async () => {
      clearInterval(pumpTimer);
      runtime.close();
      for (const service of services.values()) {
        if (!service.stop) continue;
        // A stop that never settles (seen once in a few hundred closes, after every call had
        // answered) must not keep the process up: it gets a bounded wait, and says so.
        let timer: NodeJS.Timeout | undefined;
        const late = new Promise<'late'>((resolve) => {
          timer = setTimeout(() => resolve('late'), SERVICE_STOP_MS);
        });
        try {
          const outcome = await Promise.race([Promise.resolve(service.stop()).then(() => 'stopped' as const), late]);
          if (outcome === 'late') {
            console.error(
              `sandbox: ${service.signingName} did not stop within ${SERVICE_STOP_MS} ms; closing without it`,
            );
          }
        } catch (error) {
          console.error(`sandbox: ${service.signingName} failed to stop`, error);
        } finally {
          clearTimeout(timer);
        }
      }
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      store.recordClock(clock.nowMs());
      store.close();
    },
  };
};

/**
 * Authorizes a request before its action runs: the checks the service maps the action to, or
 * `PREFIX:Action` on `*`. Administrators pass without work.
 */
const authorizeAction = <I>(
  service: SandboxService,
  action: string,
  input: I,
  mapper: ((input: I, ctx: ServiceContext) => readonly AuthzCheck[]) | undefined,
  ctx: ServiceContext,
): void => {
  if (ctx.caller.kind === 'administrator') return;
  const checks = mapper
    ? mapper(input, ctx)
    : [{ action: `${service.iamPrefix ?? service.signingName}:${action}`, resource: '*' }];
  ctx.authorize(checks);
};

const matchRoute = (
  routes: readonly HttpRoute[],
  method: string,
  url: URL,
  request: IncomingMessage,
  body: string,
): { route: HttpRoute; request: HttpRequest } | undefined => {
  for (const route of routes) {
    if (route.method !== method) continue;
    const match = route.path.exec(url.pathname);
    if (!match || match[0] !== url.pathname) continue;
    const params: Record<string, string> = {};
    for (const [name, value] of Object.entries(match.groups ?? {})) {
      if (value !== undefined) params[name] = decodeURIComponent(value);
    }
    return {
      route,
      request: { method, path: url.pathname, query: url.searchParams, headers: request.headers, body, params },
    };
  }
  return undefined;
};

const sendReply = (response: ServerResponse, reply: HttpReply, extraHeaders: Record<string, string> = {}): void => {
  const isText = typeof reply.body === 'string';
  const payload = reply.body === undefined ? '' : isText ? (reply.body as string) : JSON.stringify(reply.body);
  response.writeHead(reply.status ?? 200, {
    'content-type': isText ? 'text/plain; charset=utf-8' : 'application/json',
    ...extraHeaders,
    ...reply.headers,
  });
  response.end(payload);
};

const handleRestJson = async (
  service: RestJsonService,
  method: string,
  url: URL,
  request: IncomingMessage,
  body: string,
  ctx: ServiceContext,
  response: ServerResponse,
  tickAll: (ctx: ServiceContext) => void,
  faults: Faults,
): Promise<void> => {
  const headers = { 'x-amzn-requestid': ctx.requestId };
  try {
    const matched = matchRoute(service.routes, method, url, request, body);
    if (!matched) {
      throw new AwsError(
        'UnknownOperationException',
        `No ${service.signingName} operation for ${method} ${url.pathname}`,
        404,
      );
    }
    faults.check(service.signingName, matched.route.action);
    tickAll(ctx);
    authorizeAction(service, matched.route.action, matched.request, service.authz?.[matched.route.action], ctx);
    sendReply(response, await matched.route.handle(matched.request, ctx), headers);
  } catch (error) {
    if (!(error instanceof AwsError)) throw error;
    sendReply(
      response,
      {
        status: error.status,
        headers: { 'x-amzn-errortype': error.code },
        body: { __type: error.code, Type: error.type === 'Sender' ? 'User' : 'Service', message: error.message },
      },
      headers,
    );
  }
};

const handleQuery = async (
  service: QueryService,
  body: string,
  ctx: ServiceContext,
  response: ServerResponse,
  tickAll: (ctx: ServiceContext) => void,
  faults: Faults,
): Promise<void> => {
  const params = parseForm(body);
  const action = params.get('Action') ?? '';
  const isEc2 = service.protocol === 'ec2';
  try {
    const run = service.actions[action];
    if (!run) {
      throw new AwsError(
        'InvalidAction',
        action
          ? `The action ${action} is not valid for this web service.`
          : 'The request must contain the parameter Action',
      );
    }
    faults.check(service.signingName, action);
    tickAll(ctx);
    authorizeAction(service, action, params, service.authz?.[action], ctx);
    const result = run(params, ctx);
    const xml = isEc2
      ? ec2Response(action, service.xmlns, ctx.requestId, result)
      : awsQueryResponse(action, service.xmlns, ctx.requestId, result);
    response.writeHead(200, { 'content-type': 'text/xml', 'x-amzn-requestid': ctx.requestId });
    response.end(xml);
  } catch (error) {
    if (!(error instanceof AwsError)) throw error;
    response.writeHead(error.status, { 'content-type': 'text/xml', 'x-amzn-requestid': ctx.requestId });
    response.end(isEc2 ? ec2Error(error, ctx.requestId) : awsQueryError(error, service.xmlns, ctx.requestId));
  }
};

const handleJson = async (
  service: JsonService,
  target: string | undefined,
  body: string,
  ctx: ServiceContext,
  response: ServerResponse,
  tickAll: (ctx: ServiceContext) => void,
  faults: Faults,
): Promise<void> => {
  const headers = {
    'content-type': `application/x-amz-json-${service.jsonVersion ?? '1.1'}`,
    'x-amzn-requestid': ctx.requestId,
  };
  try {
    const [prefix, action = ''] = (target ?? '').split('.');
    const run = prefix === service.targetPrefix ? service.actions[action] : undefined;
    if (!run) {
      throw new AwsError('UnknownOperationException', `Unknown operation ${target ?? '(no X-Amz-Target)'}`);
    }
    let input: unknown;
    try {
      input = body === '' ? {} : JSON.parse(body);
    } catch {
      throw new AwsError('SerializationException', 'The request body is not valid JSON');
    }
    if (!input || typeof input !== 'object' || Array.isArray(input)) {
      throw new AwsError('SerializationException', 'The request body must be a JSON object');
    }
    faults.check(service.signingName, action);
    tickAll(ctx);
    authorizeAction(service, action, input as Record<string, unknown>, service.authz?.[action], ctx);
    const result = await run(input as Record<string, unknown>, ctx);
    response.writeHead(200, headers);
    response.end(JSON.stringify(result));
  } catch (error) {
    if (!(error instanceof AwsError)) throw error;
    const compatible = service.awsQueryCompatible;
    response.writeHead(
      error.status,
      compatible ? { ...headers, 'x-amzn-query-error': `${error.code};${error.type}` } : headers,
    );
    const type = compatible?.[error.code] ?? error.code;
    response.end(JSON.stringify({ ...error.fields, __type: type, message: error.message }));
  }
};
