/**
 * Runs Lambda handlers: each function gets warm worker threads (its "containers"), created on
 * first use and reused, one invocation at a time each, up to a few per function; beyond that
 * invocations queue. A handler that times out, exits or throws outside an invocation loses its
 * worker (a new one cold-starts next time); nothing it does reaches the sandbox's own thread.
 *
 * Why worker threads and not child processes: a worker starts in tens of milliseconds, has its
 * own `process.env`, module graph and event loop, `process.exit` ends only the worker, and
 * `terminate()` stops even a handler stuck in a synchronous loop. What it shares with the sandbox
 * is the OS process (memory is capped per worker with V8 resource limits; `process.chdir` and
 * signals are unavailable to handlers), which is enough isolation for a development tool.
 *
 * Handlers run on the sandbox clock: their `Date` reads it through shared memory (worker.mjs),
 * while their timers, and the timeout here, stay on real time.
 */
import { Worker } from 'node:worker_threads';

export interface FunctionSpec {
  /** Identity of the function (region and name). */
  readonly key: string;
  readonly name: string;
  /** Changes whenever code or configuration change: warm workers of an older revision retire. */
  readonly revision: string;
  readonly codeDir: string;
  readonly handler: string;
  readonly timeoutSeconds: number;
  readonly memoryMb: number;
  readonly env: Readonly<Record<string, string>>;
}

export interface InvocationContext {
  readonly awsRequestId: string;
  readonly functionName: string;
  readonly functionVersion: string;
  readonly invokedFunctionArn: string;
  readonly memoryLimitInMB: string;
  readonly logGroupName: string;
  readonly logStreamName: string;
  readonly clientContext?: unknown;
}

export interface RuntimeError {
  readonly errorType: string;
  readonly errorMessage: string;
  readonly trace?: readonly string[];
}

export interface InvocationOutcome {
  /** The response payload (JSON text): the handler's result or its error. */
  readonly payload: string;
  /** Set when the function failed (`X-Amz-Function-Error: Unhandled`). */
  readonly error?: RuntimeError;
  /** Everything the invocation logged, START to REPORT, as CloudWatch Logs would hold it. */
  readonly log: string;
  readonly durationMs: number;
}

export interface LogEntry {
  /** Sandbox clock time. */
  readonly time: string;
  readonly requestId: string;
  readonly stream: 'stdout' | 'stderr' | 'platform';
  readonly message: string;
}

/** Invocations are refused once this many wait for a worker of one function. */
export class TooManyInvocationsError extends Error {
  constructor(functionName: string) {
    super(`Rate Exceeded: too many invocations of ${functionName} are waiting for a worker`);
    this.name = 'TooManyInvocationsError';
  }
}

export interface ExecutorOptions {
  /** Warm workers per function (concurrent invocations); more wait. */
  readonly maxWorkersPerFunction?: number;
  /** Invocations that may wait per function before TooManyInvocationsError. */
  readonly maxQueuedPerFunction?: number;
  /** Log entries kept per function. */
  readonly logRingSize?: number;
  /** Sandbox clock, for log times. */
  readonly now: () => Date;
  /**
   * The sandbox clock's shared parameters (`SandboxClock.shared`): handlers' `Date` reads the
   * sandbox clock through them. Without it handlers run on real time.
   */
  readonly clock?: SharedArrayBuffer;
}

const WORKER_URL = new URL('./worker.mjs', import.meta.url);
/** A 6 MB response is Lambda's limit for synchronous invocations. */
const MAX_RESPONSE_BYTES = 6 * 1024 * 1024;

interface Pending {
  readonly requestId: string;
  readonly output: string[];
  readonly settle: (result: { payload?: string; error?: RuntimeError }) => void;
}

class WarmWorker {
  readonly worker: Worker;
  busy = false;
  dead = false;
  pending: Pending | undefined;

  constructor(
    readonly spec: FunctionSpec,
    clock: SharedArrayBuffer | undefined,
    private readonly onLog: (requestId: string, stream: 'stdout' | 'stderr', text: string) => void,
    private readonly onDeath: (worker: WarmWorker) => void,
  ) {
    this.worker = new Worker(WORKER_URL, {
      workerData: { codeDir: spec.codeDir, handler: spec.handler, clock, compileCache: process.env.NODE_COMPILE_CACHE },
      env: { ...spec.env },
      execArgv: [],
      argv: [],
      stdout: true,
      stderr: true,
      resourceLimits: { maxOldGenerationSizeMb: Math.max(spec.memoryMb, 128) },
    });
    this.worker.unref();
    // Anything that escapes the worker's own forwarding (native writes) is kept too.
    this.worker.stdout.on('data', (chunk: Buffer) => this.log('stdout', chunk.toString('utf8')));
    this.worker.stderr.on('data', (chunk: Buffer) => this.log('stderr', chunk.toString('utf8')));
    this.worker.on('message', (message: WorkerMessage) => this.receive(message));
    this.worker.on('error', (error: Error) => {
      this.kill({
        errorType: error.name || 'Error',
        errorMessage: error.message,
        trace: (error.stack ?? '').split('\n'),
      });
    });
    this.worker.on('exit', (code: number) => {
      const requestId = this.pending?.requestId ?? 'unknown';
      this.kill({
        errorType: 'Runtime.ExitError',
        errorMessage: `RequestId: ${requestId} Error: Runtime exited ${code === 0 ? 'without providing a reason' : `with error: exit status ${code}`}`,
      });
    });
  }

  private log(stream: 'stdout' | 'stderr', text: string): void {
    const requestId = this.pending?.requestId ?? '';
    this.pending?.output.push(text);
    this.onLog(requestId, stream, text);
  }

  private receive(message: WorkerMessage): void {
    if (message.type === 'log') {
      this.log(message.stream, message.text);
    } else if (message.type === 'result') {
      const pending = this.pending;
      if (!pending || pending.requestId !== message.requestId) return;
      if (message.fatal) this.retire();
      pending.settle(message.error ? { error: message.error } : { payload: message.payload ?? 'null' });
    } else if (message.type === 'fatal') {
      this.kill(message.error);
    }
  }

  /** The worker is gone or must go: fail what it was running and forget it. */
  kill(error: RuntimeError): void {
    const pending = this.pending;
    this.retire();
    pending?.settle({ error });
  }

  retire(): void {
    if (this.dead) return;
    this.dead = true;
    this.onDeath(this);
    void this.worker.terminate();
  }
}

type WorkerMessage =
  | { type: 'log'; stream: 'stdout' | 'stderr'; text: string }
  | { type: 'result'; requestId: string; payload?: string; error?: RuntimeError; fatal?: boolean }
  | { type: 'fatal'; requestId?: string; error: RuntimeError };

interface Pool {
  revision: string;
  readonly workers: Set<WarmWorker>;
  readonly waiting: (() => void)[];
}

const tail = (text: string, bytes: number): string => {
  const buffer = Buffer.from(text, 'utf8');
  return buffer.length <= bytes ? text : buffer.subarray(buffer.length - bytes).toString('utf8');
};

export class LambdaExecutor {
  private readonly pools = new Map<string, Pool>();
  private readonly rings = new Map<string, LogEntry[]>();
  private readonly maxWorkers: number;
  private readonly maxQueued: number;
  private readonly ringSize: number;
  private closed = false;
  private readonly closing = new AbortController();

  constructor(private readonly options: ExecutorOptions) {
    this.maxWorkers = options.maxWorkersPerFunction ?? 4;
    this.maxQueued = options.maxQueuedPerFunction ?? 100;
    this.ringSize = options.logRingSize ?? 2000;
  }

  /** Runs one invocation on a warm (or new) worker of the function. */
  async invoke(
    spec: FunctionSpec,
    payload: string,
    requestId: string,
    context: InvocationContext,
  ): Promise<InvocationOutcome> {
    if (this.closed) throw new Error('the sandbox is closing');
    const worker = await this.acquire(spec);
    const output: string[] = [];
    this.platform(spec.name, requestId, `START RequestId: ${requestId} Version: $LATEST`);
    const started = performance.now();
    // Real time, as the timeout below: a handler's remaining time does not shrink with the clock's speed.
    const deadlineMs = Date.now() + spec.timeoutSeconds * 1000;
    const result = await new Promise<{ payload?: string; error?: RuntimeError }>((resolve) => {
      let done = false;
      const timer = setTimeout(() => {
        worker.kill({
          errorType: 'Sandbox.Timedout',
          errorMessage: `RequestId: ${requestId} Error: Task timed out after ${spec.timeoutSeconds.toFixed(2)} seconds`,
        });
      }, spec.timeoutSeconds * 1000);
      worker.pending = {
        requestId,
        output,
        settle: (outcome) => {
          if (done) return;
          done = true;
          clearTimeout(timer);
          resolve(outcome);
        },
      };
      worker.worker.postMessage({ type: 'invoke', requestId, payload, context, deadlineMs });
    });
    worker.pending = undefined;
    this.release(spec.key, worker);
    const durationMs = performance.now() - started;
    let error = result.error;
    if (!error && Buffer.byteLength(result.payload ?? '', 'utf8') > MAX_RESPONSE_BYTES) {
      error = {
        errorType: 'Function.ResponseSizeTooLarge',
        errorMessage: `Response payload size exceeded maximum allowed payload size (${MAX_RESPONSE_BYTES} bytes).`,
      };
    }
    if (error?.errorType === 'Sandbox.Timedout' || error?.errorType === 'Runtime.ExitError') {
      this.platform(spec.name, requestId, error.errorMessage);
    }
    const end = `END RequestId: ${requestId}`;
    const report =
      `REPORT RequestId: ${requestId}\tDuration: ${durationMs.toFixed(2)} ms\t` +
      `Billed Duration: ${Math.max(1, Math.ceil(durationMs))} ms\tMemory Size: ${spec.memoryMb} MB`;
    this.platform(spec.name, requestId, end);
    this.platform(spec.name, requestId, report);
    const log = [`START RequestId: ${requestId} Version: $LATEST\n`, ...output, `${end}\n`, `${report}\n`].join('');
    return {
      payload: error ? JSON.stringify(error) : (result.payload ?? 'null'),
      ...(error ? { error } : {}),
      log,
      durationMs,
    };
  }

  /** The last 4 KB of an invocation's log, base64, as `X-Amz-Log-Result` carries it. */
  static logTail(log: string): string {
    return Buffer.from(tail(log, 4096), 'utf8').toString('base64');
  }

  /** Stops the function's warm workers (its code or configuration changed, or it was deleted). */
  retire(key: string): void {
    const pool = this.pools.get(key);
    if (!pool) return;
    for (const worker of [...pool.workers]) if (!worker.busy) worker.retire();
    pool.revision = '';
  }

  logs(functionName?: string): LogEntry[] {
    if (functionName !== undefined) return [...(this.rings.get(functionName) ?? [])];
    return [...this.rings.values()].flat().sort((a, b) => a.time.localeCompare(b.time));
  }

  /** How many warm workers a function has (tests, the logs view). */
  warmWorkers(key: string): number {
    return this.pools.get(key)?.workers.size ?? 0;
  }

  /** Aborts when the executor closes (background retries stop waiting). */
  get signal(): AbortSignal {
    return this.closing.signal;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.closing.abort(new Error('the sandbox is closing'));
    const workers = [...this.pools.values()].flatMap((pool) => [...pool.workers]);
    this.pools.clear();
    await Promise.all(
      workers.map((w) => {
        w.kill({ errorType: 'Sandbox.Stopped', errorMessage: 'The sandbox stopped during the invocation' });
        return w.worker.terminate().catch(() => undefined);
      }),
    );
  }

  private pool(spec: FunctionSpec): Pool {
    let pool = this.pools.get(spec.key);
    if (!pool) {
      pool = { revision: spec.revision, workers: new Set(), waiting: [] };
      this.pools.set(spec.key, pool);
    }
    if (pool.revision !== spec.revision) {
      // New code or configuration: idle workers go now, busy ones when they finish.
      for (const worker of [...pool.workers]) if (!worker.busy) worker.retire();
      pool.revision = spec.revision;
    }
    return pool;
  }

  private async acquire(spec: FunctionSpec): Promise<WarmWorker> {
    for (;;) {
      const pool = this.pool(spec);
      const idle = [...pool.workers].find((w) => !w.busy && !w.dead && w.spec.revision === spec.revision);
      if (idle) {
        idle.busy = true;
        return idle;
      }
      const live = [...pool.workers].filter((w) => !w.dead).length;
      if (live < this.maxWorkers) {
        const worker = new WarmWorker(
          spec,
          this.options.clock,
          (requestId, stream, text) => this.record(spec.name, requestId, stream, text),
          (dead) => {
            pool.workers.delete(dead);
            pool.waiting.shift()?.();
          },
        );
        worker.busy = true;
        pool.workers.add(worker);
        return worker;
      }
      if (pool.waiting.length >= this.maxQueued) throw new TooManyInvocationsError(spec.name);
      await new Promise<void>((resolve) => pool.waiting.push(resolve));
      if (this.closed) throw new Error('the sandbox is closing');
    }
  }

  private release(key: string, worker: WarmWorker): void {
    worker.busy = false;
    const pool = this.pools.get(key);
    if (!pool) {
      worker.retire();
      return;
    }
    if (worker.spec.revision !== pool.revision) worker.retire();
    else pool.waiting.shift()?.();
  }

  private platform(functionName: string, requestId: string, message: string): void {
    this.push(functionName, { time: this.options.now().toISOString(), requestId, stream: 'platform', message });
  }

  private record(functionName: string, requestId: string, stream: 'stdout' | 'stderr', text: string): void {
    for (const line of text.split('\n')) {
      if (line === '') continue;
      this.push(functionName, { time: this.options.now().toISOString(), requestId, stream, message: line });
    }
  }

  private push(functionName: string, entry: LogEntry): void {
    let ring = this.rings.get(functionName);
    if (!ring) {
      ring = [];
      this.rings.set(functionName, ring);
    }
    ring.push(entry);
    if (ring.length > this.ringSize) ring.splice(0, ring.length - this.ringSize);
  }
}
