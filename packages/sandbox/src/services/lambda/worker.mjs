/**
 * One warm Lambda "container": a worker thread that loads a function's handler once (its cold
 * start) and then runs one invocation at a time, as the Node.js managed runtime does.
 *
 * Plain JavaScript on purpose: the worker starts with no loader (no tsx), like the Lambda runtime,
 * and imports the handler bundle as it is. Output written to stdout and stderr is forwarded to the
 * sandbox as `log` messages on the same port as results, so every line arrives before the result
 * of the invocation that wrote it.
 *
 * Its Date reads the sandbox clock (below); workerData.clock is the clock's shared parameters.
 *
 * Messages in:  { type: 'invoke', requestId, payload (JSON text), context, deadlineMs (real time) }
 * Messages out: { type: 'log', stream, text }
 *               { type: 'result', requestId, payload }            the handler returned
 *               { type: 'result', requestId, error, fatal? }      it threw (fatal: replace me)
 *               { type: 'fatal', error }                          uncaught error between invokes
 */
import { existsSync } from 'node:fs';
import { enableCompileCache, flushCompileCache } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { isNativeError } from 'node:util/types';
import { parentPort, workerData } from 'node:worker_threads';

const { codeDir, handler: handlerSetting, clock: sharedClock, compileCache } = workerData;

// The host's compile cache, when it has one (NODE_COMPILE_CACHE; the test run sets it): a worker
// thread does not take it from the process, and each cold start compiles a bundle of about a
// megabyte again, about a third of the cold start's CPU. What the handler sees is unchanged.
if (compileCache) enableCompileCache(compileCache);

// ------------------------------------------------------------------ the sandbox clock as Date

/** Real time, for what stays on it: the invocation deadline (timeouts are real seconds). */
const realNow = Date.now;
/** The latest the sandbox clock reads (clock.ts MAX_CLOCK_MS): 9999-12-31T23:59:59.999Z. */
const MAX_CLOCK_MS = 253402300799999;

/**
 * Sandbox time now, from the clock's parameters in shared memory (clock.ts `shared`: a seqlock
 * over [sequence, sandbox anchor, real anchor, speed]), read at each call: a move or a change of
 * speed shows at once, even in the middle of an invocation.
 */
const sandboxNow = (() => {
  if (!(sharedClock instanceof SharedArrayBuffer)) return realNow;
  const slots = new BigInt64Array(sharedClock);
  const bits = new BigInt64Array(3);
  const values = new Float64Array(bits.buffer);
  return () => {
    for (;;) {
      const before = Atomics.load(slots, 0);
      if ((before & 1n) === 1n) continue;
      for (let i = 0; i < 3; i += 1) bits[i] = Atomics.load(slots, i + 1);
      if (Atomics.load(slots, 0) !== before) continue;
      const [anchorSandboxMs, anchorRealMs, speed] = values;
      return Math.floor(Math.min(anchorSandboxMs + (realNow() - anchorRealMs) * speed, MAX_CLOCK_MS));
    }
  };
})();

/**
 * The function's clock: the sandbox clock, except that it never runs slower than real time. While
 * the sandbox clock is frozen (or slower than real time) it runs on at real speed from where it
 * was, and it rejoins the sandbox clock once that is ahead (a move, a faster speed); it never runs
 * backwards. Code that paces itself on Date with real timers (the AWS SDK's adaptive retry and its
 * token bucket, a function's own) would otherwise wait forever on a frozen clock: on AWS, Date and
 * timers always agree that time passes. So on a frozen clock a function sees the time it was set
 * to, plus the real time its container has run since.
 */
let lastMs = Number.NEGATIVE_INFINITY;
let lastRealMs = 0;
const functionNow = () => {
  const sandboxMs = sandboxNow();
  const realMs = realNow();
  lastMs = Math.min(Math.max(sandboxMs, lastMs + (realMs - lastRealMs)), MAX_CLOCK_MS);
  lastRealMs = realMs;
  return lastMs;
};

/**
 * The handler's Date reads the function's clock (above): `Date.now()`, `new Date()` and `Date()`
 * give sandbox time, as a Lambda function's clock agrees with AWS's (the EC2 that dates images, the
 * Step Functions that times waits). Everything else is the built-in Date: a Proxy, not a subclass,
 * so `instanceof Date` holds for every Date (also those Node makes with its own copy, such as
 * fs.Stats times), `Date.prototype`, `Date.parse` and `Date.UTC` are the originals, and classes
 * extending Date get the function's time from `super()`. Timers, `performance.now()` and
 * `process.hrtime()` stay real, so a handler waiting on a frozen clock still wakes up.
 */
const RealDate = Date;
const now = function now() {
  return functionNow();
};
const SandboxDate = new Proxy(RealDate, {
  construct: (target, args, newTarget) =>
    Reflect.construct(target, args.length === 0 ? [functionNow()] : args, newTarget),
  // Date() called without new: the current time as text, whatever the arguments.
  apply: (target) => new target(functionNow()).toString(),
  get: (target, key, receiver) => (key === 'now' ? now : Reflect.get(target, key, receiver)),
});
Object.defineProperty(RealDate.prototype, 'constructor', {
  value: SandboxDate,
  writable: true,
  enumerable: false,
  configurable: true,
});
globalThis.Date = SandboxDate;

for (const stream of ['stdout', 'stderr']) {
  process[stream].write = function write(chunk, encoding, callback) {
    const text = typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
    parentPort.postMessage({ type: 'log', stream, text });
    const done = typeof encoding === 'function' ? encoding : callback;
    if (typeof done === 'function') queueMicrotask(() => done());
    return true;
  };
}

/** The runtime's error shape: `{ errorType, errorMessage, trace }`. */
const toErrorPayload = (error) => {
  if (isNativeError(error) || (error && typeof error === 'object' && 'message' in error && 'name' in error)) {
    return {
      errorType: String(error.name ?? 'Error'),
      errorMessage: String(error.message ?? ''),
      trace: typeof error.stack === 'string' ? error.stack.split('\n') : [],
    };
  }
  return { errorType: typeof error, errorMessage: String(error), trace: [] };
};

class RuntimeError extends Error {
  constructor(name, message) {
    super(message);
    this.name = name;
  }
}

/** `path/to/file.export` → the module file (.js, .mjs or .cjs) and the export path. */
const loadHandler = async () => {
  const lastSlash = handlerSetting.lastIndexOf('/');
  const firstDot = handlerSetting.indexOf('.', lastSlash + 1);
  if (firstDot < 0) {
    throw new RuntimeError('Runtime.MalformedHandlerName', `Bad handler ${handlerSetting}: missing module name`);
  }
  const modulePath = handlerSetting.slice(0, firstDot);
  const exportPath = handlerSetting.slice(firstDot + 1).split('.');
  const file = ['.js', '.mjs', '.cjs'].map((ext) => join(codeDir, `${modulePath}${ext}`)).find((f) => existsSync(f));
  if (!file) {
    throw new RuntimeError(
      'Runtime.ImportModuleError',
      `Error: Cannot find module '${modulePath}'\nRequire stack:\n- ${codeDir} (the function's code directory)`,
    );
  }
  let target = await import(pathToFileURL(file).href);
  // Written now: the sandbox ends warm workers with terminate(), which skips the flush at exit.
  if (compileCache) flushCompileCache();
  for (const name of exportPath) target = target?.[name];
  if (typeof target !== 'function') {
    throw new RuntimeError('Runtime.HandlerNotFound', `${handlerSetting} is undefined or not exported`);
  }
  return target;
};

let handlerPromise;
let current;

const lambdaContext = (context, deadlineMs) => ({
  ...context,
  callbackWaitsForEmptyEventLoop: true,
  getRemainingTimeInMillis: () => Math.max(0, deadlineMs - realNow()),
  done: () => undefined,
  fail: () => undefined,
  succeed: () => undefined,
});

/** Runs the handler: a returned promise, or the callback for three-argument handlers. */
const run = (handler, event, context) =>
  new Promise((resolve, reject) => {
    let settled = false;
    const callback = (error, result) => {
      if (settled) return;
      settled = true;
      if (error !== null && error !== undefined) reject(error);
      else resolve(result);
    };
    try {
      const returned = handler(event, context, callback);
      if (returned && typeof returned.then === 'function') {
        returned.then(
          (value) => callback(null, value),
          (error) => callback(error ?? new Error('the handler rejected with no reason')),
        );
      } else if (handler.length < 3) {
        callback(null, returned);
      }
    } catch (error) {
      callback(error);
    }
  });

parentPort.on('message', async (message) => {
  if (message.type !== 'invoke') return;
  const { requestId } = message;
  current = requestId;
  try {
    handlerPromise ??= loadHandler();
    let handler;
    try {
      handler = await handlerPromise;
    } catch (error) {
      parentPort.postMessage({ type: 'result', requestId, error: toErrorPayload(error), fatal: true });
      return;
    }
    const result = await run(handler, JSON.parse(message.payload), lambdaContext(message.context, message.deadlineMs));
    const payload = JSON.stringify(result === undefined ? null : result);
    parentPort.postMessage({ type: 'result', requestId, payload });
  } catch (error) {
    parentPort.postMessage({ type: 'result', requestId, error: toErrorPayload(error) });
  } finally {
    current = undefined;
  }
});

// Work a handler leaves behind that fails later takes the container down, as on Lambda.
process.on('unhandledRejection', (reason) => {
  const error = toErrorPayload(reason);
  parentPort.postMessage({
    type: 'fatal',
    requestId: current,
    error: {
      ...error,
      errorType: 'Runtime.UnhandledPromiseRejection',
      errorMessage: `${error.errorType}: ${error.errorMessage}`,
    },
  });
  process.exit(128);
});
process.on('uncaughtException', (error) => {
  parentPort.postMessage({ type: 'fatal', requestId: current, error: toErrorPayload(error) });
  process.exit(129);
});
