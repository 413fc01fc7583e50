/**
 * Runs executions: aws-local-stepfunctions walks the (rewritten) definition, the sandbox runs
 * every Task and Wait on its own clock, and the history is written to the store as it happens.
 *
 * One engine per running sandbox (keyed by its runtime). An execution lives in memory while it
 * runs; its record and history are in the store. Nothing in flight survives a restart: `recover`
 * fails executions a previous process left RUNNING (`Sandbox.Restarted`).
 *
 * Every execution that stops (succeeded, failed, timed out, aborted, or failed by `recover`) sends
 * its "Step Functions Execution Status Change" to the default bus (status-events.ts), as AWS does:
 * rules on it are how a stop outside the state machine's own paths gets handled.
 */
import { randomBytes } from 'node:crypto';
import { StateMachine } from 'aws-local-stepfunctions';
import type { Credentials } from '../../authz/identity';
import { RoleTrustError } from '../../authz/sessions';
import type { SandboxRuntime } from '../../runtime';
import type { ServiceContext } from '../../service';
import {
  EXECUTION_CONTEXT_KEY,
  fillContextMarkers,
  type Json,
  type JsonObject,
  PAYLOAD,
  type PreparedDefinition,
  prepareDefinition,
  type StateInfo,
} from './definition';
import { dispatch, type ParsedResource, parseResource } from './integrations';
import {
  countHistory,
  EXECUTIONS_TABLE,
  type ExecutionRecord,
  type ExecutionStatus,
  HISTORY_TABLE,
  type HistoryEvent,
  historyId,
  machineCredentials,
  ROLE_NOT_ASSUMABLE,
  TASKS_TABLE,
  type TaskRecord,
} from './model';
import { emitStatusChange } from './status-events';
import {
  catcherFor,
  type Retrier,
  retryDelaySeconds,
  STATES_HEARTBEAT_TIMEOUT,
  STATES_TIMEOUT,
  TaskError,
} from './task-errors';

/** Error of executions a previous sandbox process left running. */
export const RESTARTED_ERROR = 'Sandbox.Restarted';

const TOKEN_PREFIX = 'SBX1';
const TOKEN_PATTERN = /^SBX1[A-Za-z0-9_-]{86}$/;
export const isSandboxToken = (token: string): boolean => TOKEN_PATTERN.test(token);
const newToken = (): string => `${TOKEN_PREFIX}${randomBytes(64).toString('base64url')}`;

interface Callback {
  readonly executionArn: string;
  resolve(output: Json): void;
  reject(error: TaskError): void;
  heartbeat(): void;
}

interface Outcome {
  readonly status: Exclude<ExecutionStatus, 'RUNNING'>;
  readonly output?: string;
  readonly error?: string;
  readonly cause?: string;
}

const text = (value: unknown): string => JSON.stringify(value ?? null);
const nextTick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

const engines = new WeakMap<SandboxRuntime, StepFunctionsEngine>();
const liveEngines = new Set<StepFunctionsEngine>();

export const engineFor = (runtime: SandboxRuntime): StepFunctionsEngine => {
  let engine = engines.get(runtime);
  if (!engine) {
    engine = new StepFunctionsEngine(runtime);
    engines.set(runtime, engine);
    liveEngines.add(engine);
  }
  return engine;
};

/** Stops the engines of sandboxes that are closing (the service's `stop` has no context). */
export const stopClosedEngines = async (): Promise<void> => {
  for (const engine of [...liveEngines]) {
    if (!engine.runtime.isClosed) continue;
    liveEngines.delete(engine);
    await engine.close();
  }
};

export class StepFunctionsEngine {
  private readonly runs = new Map<string, ExecutionRun>();
  private readonly callbacks = new Map<string, Callback>();
  private readonly waiters = new Map<string, Set<(record: ExecutionRecord) => void>>();

  constructor(readonly runtime: SandboxRuntime) {}

  context(region?: string): ServiceContext {
    return this.runtime.context(region);
  }

  /** Starts running a RUNNING execution whose record and ExecutionStarted event are stored. */
  launch(record: ExecutionRecord, definition: JsonObject): void {
    const run = new ExecutionRun(this, record, prepareDefinition(definition));
    this.runs.set(record.arn, run);
    this.runtime.spawn(`execution ${record.arn}`, async () => {
      try {
        await run.execute();
      } finally {
        this.runs.delete(record.arn);
      }
    });
  }

  isRunning(executionArn: string): boolean {
    return this.runs.has(executionArn);
  }

  /** Events so far: known in memory while it runs, else counted from the store. */
  eventCount(ctx: ServiceContext, record: ExecutionRecord): number {
    return this.runs.get(record.arn)?.eventCount ?? record.eventCount ?? countHistory(ctx, record.arn);
  }

  /** StopExecution: aborts the run; false when it is not running here. */
  stop(executionArn: string, error: string | undefined, cause: string | undefined): boolean {
    const run = this.runs.get(executionArn);
    if (!run) return false;
    run.stop({
      status: 'ABORTED',
      ...(error === undefined ? {} : { error }),
      ...(cause === undefined ? {} : { cause }),
    });
    return true;
  }

  /** Resolves with the record once the execution stopped. */
  waitForExecution(executionArn: string, signal: AbortSignal): Promise<ExecutionRecord> {
    const ctx = this.context();
    const record = ctx.store.get<ExecutionRecord>(EXECUTIONS_TABLE, executionArn);
    if (record && record.status !== 'RUNNING') return Promise.resolve(record);
    return new Promise((resolve, reject) => {
      const waiters = this.waiters.get(executionArn) ?? new Set();
      const done = (stopped: ExecutionRecord) => {
        signal.removeEventListener('abort', onAbort);
        resolve(stopped);
      };
      const onAbort = () => {
        waiters.delete(done);
        reject(signal.reason);
      };
      waiters.add(done);
      this.waiters.set(executionArn, waiters);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  stopped(record: ExecutionRecord): void {
    const waiters = this.waiters.get(record.arn);
    this.waiters.delete(record.arn);
    for (const waiter of waiters ?? []) waiter(record);
  }

  registerCallback(token: string, callback: Callback, stateName: string): void {
    this.callbacks.set(token, callback);
    const record: TaskRecord = { token, executionArn: callback.executionArn, stateName, status: 'PENDING' };
    this.context().transact((tx) => tx.put(TASKS_TABLE, token, record));
  }

  finishCallback(token: string): void {
    if (!this.callbacks.delete(token)) return;
    const ctx = this.context();
    const record = ctx.store.get<TaskRecord>(TASKS_TABLE, token);
    if (record) ctx.transact((tx) => tx.put(TASKS_TABLE, token, { ...record, status: 'DONE' }));
  }

  callback(token: string): Callback | undefined {
    return this.callbacks.get(token);
  }

  /** Fails what a previous process left running (called once the endpoint listens). */
  recover(ctx: ServiceContext): void {
    const now = ctx.clock.now().toISOString();
    const stale = [...ctx.store.table<ExecutionRecord>(EXECUTIONS_TABLE).values()].filter(
      (record) => record.status === 'RUNNING' && !this.runs.has(record.arn),
    );
    for (const record of stale) {
      const count = countHistory(ctx, record.arn);
      const cause = 'The sandbox restarted while the execution was running; in-flight work does not survive a restart.';
      const failed: ExecutionRecord = {
        ...record,
        status: 'FAILED',
        error: RESTARTED_ERROR,
        cause,
        stopDate: now,
        eventCount: count + 1,
      };
      const event: HistoryEvent = {
        id: count + 1,
        previousEventId: count,
        timestamp: Date.parse(now) / 1000,
        type: 'ExecutionFailed',
        executionFailedEventDetails: { error: RESTARTED_ERROR, cause },
      };
      ctx.transact((tx) => {
        tx.put(HISTORY_TABLE, historyId(record.arn, event.id), event);
        tx.put(EXECUTIONS_TABLE, record.arn, failed);
      });
      // On AWS the execution would have run on to its own end; here it ends FAILED, and the status
      // change is what lets rules on it (the bake's stopped-execution cleanup) run the failure path.
      emitStatusChange(this.runtime, ctx, failed);
    }
    for (const task of [...ctx.store.table<TaskRecord>(TASKS_TABLE).values()]) {
      if (task.status === 'PENDING' && !this.callbacks.has(task.token)) {
        ctx.transact((tx) => tx.put(TASKS_TABLE, task.token, { ...task, status: 'DONE' }));
      }
    }
  }

  async close(): Promise<void> {
    const running = [...this.runs.values()];
    for (const run of running) run.abandon();
    await Promise.allSettled(running.map((run) => run.finished));
  }
}

const STATE_EVENT_TYPES: Readonly<Record<string, string>> = {
  Task: 'Task',
  Pass: 'Pass',
  Choice: 'Choice',
  Wait: 'Wait',
  Succeed: 'Succeed',
  Fail: 'Fail',
  Parallel: 'Parallel',
  Map: 'Map',
};

interface EngineEvent {
  readonly type: string;
  readonly state?: { readonly name: string; readonly type: string; readonly input: unknown; readonly output?: unknown };
  readonly parentState?: { readonly name: string };
  readonly index?: number;
  readonly Error?: string;
  readonly Cause?: unknown;
}

class ExecutionRun {
  private readonly controller = new AbortController();
  private stopOutcome: Outcome | undefined;
  /** Set when the sandbox closes: the record stays RUNNING for `recover` to fail. */
  private abandoned = false;
  private closed = false;
  private lastEventId: number;
  private resolveFinished!: () => void;
  readonly finished = new Promise<void>((resolve) => {
    this.resolveFinished = resolve;
  });

  constructor(
    private readonly engine: StepFunctionsEngine,
    private readonly record: ExecutionRecord,
    private readonly prepared: PreparedDefinition,
  ) {
    this.lastEventId = record.eventCount ?? 1;
  }

  get eventCount(): number {
    return this.lastEventId;
  }

  private get signal(): AbortSignal {
    return this.controller.signal;
  }

  private ctx(): ServiceContext {
    return this.engine.context(this.record.region);
  }

  /** Stops the execution at once (its record says so before the engine has unwound). */
  stop(outcome: Outcome): void {
    if (this.stopOutcome || this.closed) return;
    this.stopOutcome = outcome;
    this.finish(outcome);
    this.controller.abort(new Error(`execution ${outcome.status.toLowerCase()}`));
  }

  abandon(): void {
    this.abandoned = true;
    this.controller.abort(new Error('the sandbox is closing'));
  }

  /** Appends a history event (nothing once the execution stopped). */
  private append(type: string, details: Record<string, unknown> = {}): void {
    if (this.closed) return;
    const ctx = this.ctx();
    const event: HistoryEvent = {
      id: this.lastEventId + 1,
      previousEventId: this.lastEventId,
      timestamp: ctx.clock.nowMs() / 1000,
      type,
      ...details,
    };
    this.lastEventId = event.id;
    ctx.transact((tx) => tx.put(HISTORY_TABLE, historyId(this.record.arn, event.id), event));
  }

  private contextObject(input: Json): Record<string, unknown> {
    const { arn, name, roleArn, startDate, stateMachineArn, stateMachineName } = this.record;
    const execution = { Id: arn, Name: name, RoleArn: roleArn, StartTime: startDate, RedriveCount: 0 };
    return {
      [EXECUTION_CONTEXT_KEY]: { ...execution, Input: input },
      Execution: execution,
      StateMachine: { Id: stateMachineArn, Name: stateMachineName },
    };
  }

  async execute(): Promise<void> {
    const input = JSON.parse(this.record.input) as Json;
    const handlers: Record<string, (payload: unknown) => Promise<Json>> = {};
    for (const info of this.prepared.states.values()) {
      if (info.engine.Type === 'Task') handlers[info.name] = (payload) => this.handle(info, payload as JsonObject);
    }
    const machine = new StateMachine(this.prepared.engineDefinition, { validationOptions: { noValidate: true } });
    const execution = machine.run(input as Parameters<StateMachine['run']>[0], {
      overrides: { taskResourceLocalHandlers: handlers as never },
      context: this.contextObject(input),
      noThrowOnAbort: true,
    });
    const logging = (async () => {
      for await (const event of execution.eventLogs) this.onEngineEvent(event as EngineEvent);
    })();
    const onAbort = () => execution.abort();
    this.signal.addEventListener('abort', onAbort, { once: true });
    const timer = new AbortController();
    if (this.prepared.timeoutSeconds !== undefined) {
      const ctx = this.ctx();
      ctx.clock.sleep(this.prepared.timeoutSeconds, timer.signal).then(
        () =>
          this.stop({
            status: 'TIMED_OUT',
            error: STATES_TIMEOUT,
            cause: 'The execution ran longer than TimeoutSeconds',
          }),
        () => undefined,
      );
    }
    let outcome: Outcome;
    try {
      const output = await execution.result;
      outcome = this.stopOutcome ?? { status: 'SUCCEEDED', output: text(output) };
    } catch (error) {
      outcome = this.stopOutcome ?? failureOutcome(error);
    } finally {
      timer.abort();
      this.signal.removeEventListener('abort', onAbort);
    }
    await logging;
    this.finish(outcome);
  }

  private finish(outcome: Outcome): void {
    if (this.closed) return;
    try {
      if (this.abandoned) return;
      const detail = {
        ...(outcome.error === undefined ? {} : { error: outcome.error }),
        ...(outcome.cause === undefined ? {} : { cause: outcome.cause }),
      };
      if (outcome.status === 'SUCCEEDED') {
        this.append('ExecutionSucceeded', {
          executionSucceededEventDetails: { output: outcome.output, outputDetails: { truncated: false } },
        });
      } else if (outcome.status === 'FAILED') {
        this.append('ExecutionFailed', { executionFailedEventDetails: detail });
      } else if (outcome.status === 'ABORTED') {
        this.append('ExecutionAborted', { executionAbortedEventDetails: detail });
      } else {
        this.append('ExecutionTimedOut', { executionTimedOutEventDetails: detail });
      }
      const ctx = this.ctx();
      const stopped: ExecutionRecord = {
        ...this.record,
        status: outcome.status,
        stopDate: ctx.clock.now().toISOString(),
        eventCount: this.lastEventId,
        ...(outcome.output === undefined ? {} : { output: outcome.output }),
        ...(outcome.error === undefined ? {} : { error: outcome.error }),
        ...(outcome.cause === undefined ? {} : { cause: outcome.cause }),
      };
      ctx.transact((tx) => tx.put(EXECUTIONS_TABLE, this.record.arn, stopped));
      this.engine.stopped(stopped);
      emitStatusChange(this.engine.runtime, ctx, stopped);
    } finally {
      this.closed = true;
      this.resolveFinished();
    }
  }

  private originalType(name: string, fallback: string): string {
    return this.prepared.states.get(name)?.type ?? fallback;
  }

  /** The engine's event log, in Step Functions' history terms. */
  private onEngineEvent(event: EngineEvent): void {
    const state = event.state;
    switch (event.type) {
      case 'StateEntered': {
        if (!state) return;
        const type = STATE_EVENT_TYPES[this.originalType(state.name, state.type)] ?? state.type;
        this.append(`${type}StateEntered`, {
          stateEnteredEventDetails: { name: state.name, input: text(state.input), inputDetails: { truncated: false } },
        });
        if (type === 'Parallel') this.append('ParallelStateStarted');
        if (type === 'Map') this.append('MapStateStarted');
        return;
      }
      case 'StateExited': {
        if (!state) return;
        const type = STATE_EVENT_TYPES[this.originalType(state.name, state.type)] ?? state.type;
        if (type === 'Parallel') this.append('ParallelStateSucceeded');
        if (type === 'Map') this.append('MapStateSucceeded');
        this.append(`${type}StateExited`, {
          stateExitedEventDetails: {
            name: state.name,
            output: text(state.output),
            outputDetails: { truncated: false },
          },
        });
        return;
      }
      case 'StateFailed': {
        if (!state) return;
        const type = this.originalType(state.name, state.type);
        if (type === 'Parallel') this.append('ParallelStateFailed');
        if (type === 'Map') this.append('MapStateFailed');
        return;
      }
      case 'MapIterationStarted':
      case 'MapIterationSucceeded':
      case 'MapIterationFailed': {
        const key = `${event.type.charAt(0).toLowerCase()}${event.type.slice(1)}EventDetails`;
        this.append(event.type, { [key]: { name: event.parentState?.name, index: event.index } });
        return;
      }
      default:
        return;
    }
  }

  /**
   * The state machine role's session, for this attempt's calls (the trust policy is evaluated each
   * time; the session itself is kept). A role that can no longer be assumed fails the task.
   */
  private credentials(): Credentials {
    try {
      return machineCredentials(this.ctx(), { arn: this.record.stateMachineArn, roleArn: this.record.roleArn });
    } catch (error) {
      if (error instanceof RoleTrustError) throw new TaskError('States.Runtime', ROLE_NOT_ASSUMABLE);
      throw error;
    }
  }

  /** Every Task (and rewritten Wait) of the execution runs here. */
  private async handle(info: StateInfo, payload: JsonObject): Promise<Json> {
    // The engine calls a handler in the same tick it logs StateEntered; let the log catch up so
    // the history keeps Step Functions' order.
    await nextTick();
    if (this.signal.aborted) throw this.signal.reason;
    if (info.type === 'Wait') return this.wait(info, payload);
    return this.runTask(info, payload);
  }

  private async wait(info: StateInfo, payload: JsonObject): Promise<Json> {
    const state = info.original;
    const clock = this.ctx().clock;
    let targetMs: number;
    const seconds = typeof state.Seconds === 'number' ? state.Seconds : payload[PAYLOAD.seconds];
    const timestamp = typeof state.Timestamp === 'string' ? state.Timestamp : payload[PAYLOAD.timestamp];
    if (seconds !== undefined) {
      if (typeof seconds !== 'number' || !Number.isInteger(seconds) || seconds < 0) {
        throw new TaskError(
          'States.Runtime',
          `The Wait state's seconds must be a non-negative integer, got ${text(seconds)}`,
        );
      }
      targetMs = clock.nowMs() + seconds * 1000;
    } else if (typeof timestamp === 'string' && !Number.isNaN(Date.parse(timestamp))) {
      targetMs = Date.parse(timestamp);
    } else {
      throw new TaskError('States.Runtime', `The Wait state's timestamp is not a valid timestamp: ${text(timestamp)}`);
    }
    await clock.sleepUntil(targetMs, this.signal);
    return payload[PAYLOAD.input] ?? null;
  }

  private positiveSeconds(state: JsonObject, field: 'TimeoutSeconds' | 'HeartbeatSeconds', payload: JsonObject) {
    const fromPath = payload[field === 'TimeoutSeconds' ? PAYLOAD.timeoutSeconds : PAYLOAD.heartbeatSeconds];
    const value = state[field] ?? fromPath;
    if (value === undefined) return undefined;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
      throw new TaskError('States.Runtime', `${field}Path must select a positive integer, got ${text(value)}`);
    }
    return value;
  }

  private async runTask(info: StateInfo, payload: JsonObject): Promise<Json> {
    const state = info.original;
    const resource = String(state.Resource);
    const parsed = parseResource(resource);
    const retriers = (Array.isArray(state.Retry) ? state.Retry : []) as unknown as Retrier[];
    const attempts: number[] = [];
    const enteredTime = this.ctx().clock.now().toISOString();
    let retryCount = 0;
    for (;;) {
      try {
        if (!parsed) throw new TaskError('States.Runtime', `The sandbox cannot run the resource '${resource}'`);
        const timeoutSeconds = this.positiveSeconds(state, 'TimeoutSeconds', payload);
        const heartbeatSeconds = this.positiveSeconds(state, 'HeartbeatSeconds', payload);
        const token = parsed.waitForTaskToken ? newToken() : undefined;
        const parameters = fillContextMarkers(payload[PAYLOAD.parameters] ?? null, {
          'Task.Token': token ?? null,
          'State.Name': info.name,
          'State.EnteredTime': enteredTime,
          'State.RetryCount': retryCount,
        });
        return await this.attempt(info, parsed, parameters, token, timeoutSeconds, heartbeatSeconds);
      } catch (error) {
        if (this.signal.aborted) throw error;
        const failure = error instanceof TaskError ? error : new TaskError('States.TaskFailed', String(error));
        const delay = retryDelaySeconds(retriers, attempts, failure.error);
        if (delay !== undefined) {
          await this.ctx().clock.sleep(delay, this.signal);
          retryCount += 1;
          continue;
        }
        this.routeToCatcher(info, failure.error);
        throw failure;
      }
    }
  }

  /**
   * Points the engine's copy of the Catch at the catcher Step Functions would pick: that catcher
   * learns the error name (the choice depends on the name alone, so it never conflicts).
   */
  private routeToCatcher(info: StateInfo, error: string): void {
    const original = info.original.Catch;
    const engineCatch = info.engine.Catch;
    if (!Array.isArray(original) || !Array.isArray(engineCatch)) return;
    const index = catcherFor(original as unknown as { ErrorEquals: unknown[] }[], error);
    const catcher = engineCatch[index] as { ErrorEquals?: Json[] } | undefined;
    if (catcher && Array.isArray(catcher.ErrorEquals) && !catcher.ErrorEquals.includes(error)) {
      catcher.ErrorEquals.push(error);
    }
  }

  private taskEvents(parsed: ParsedResource) {
    const lambdaFunction = parsed.integration.kind === 'lambda-function';
    const common = { resourceType: parsed.resourceType, resource: parsed.resource };
    return {
      scheduled: (parameters: Json, timeout?: number, heartbeat?: number) =>
        lambdaFunction
          ? this.append('LambdaFunctionScheduled', {
              lambdaFunctionScheduledEventDetails: {
                resource: parsed.resource,
                input: text(parameters),
                inputDetails: { truncated: false },
                ...(timeout === undefined ? {} : { timeoutInSeconds: timeout }),
              },
            })
          : this.append('TaskScheduled', {
              taskScheduledEventDetails: {
                ...common,
                region: this.record.region,
                parameters: text(parameters),
                ...(timeout === undefined ? {} : { timeoutInSeconds: timeout }),
                ...(heartbeat === undefined ? {} : { heartbeatInSeconds: heartbeat }),
              },
            }),
      started: () =>
        lambdaFunction
          ? this.append('LambdaFunctionStarted')
          : this.append('TaskStarted', { taskStartedEventDetails: common }),
      submitted: (output: Json) =>
        this.append('TaskSubmitted', {
          taskSubmittedEventDetails: { ...common, output: text(output), outputDetails: { truncated: false } },
        }),
      succeeded: (output: Json) =>
        lambdaFunction
          ? this.append('LambdaFunctionSucceeded', {
              lambdaFunctionSucceededEventDetails: { output: text(output), outputDetails: { truncated: false } },
            })
          : this.append('TaskSucceeded', {
              taskSucceededEventDetails: { ...common, output: text(output), outputDetails: { truncated: false } },
            }),
      failed: (failure: TaskError) => {
        const timedOut = failure.error === STATES_TIMEOUT || failure.error === STATES_HEARTBEAT_TIMEOUT;
        const details = { error: failure.error, ...(failure.causeText === '' ? {} : { cause: failure.causeText }) };
        if (lambdaFunction) {
          const type = timedOut ? 'LambdaFunctionTimedOut' : 'LambdaFunctionFailed';
          const key = timedOut ? 'lambdaFunctionTimedOutEventDetails' : 'lambdaFunctionFailedEventDetails';
          this.append(type, { [key]: details });
        } else {
          const type = timedOut ? 'TaskTimedOut' : 'TaskFailed';
          const key = timedOut ? 'taskTimedOutEventDetails' : 'taskFailedEventDetails';
          this.append(type, { [key]: { ...common, ...details } });
        }
      },
    };
  }

  private async attempt(
    info: StateInfo,
    parsed: ParsedResource,
    parameters: Json,
    token: string | undefined,
    timeoutSeconds: number | undefined,
    heartbeatSeconds: number | undefined,
  ): Promise<Json> {
    const events = this.taskEvents(parsed);
    const clock = this.ctx().clock;
    const attempt = new AbortController();
    const signal = AbortSignal.any([this.signal, attempt.signal]);
    events.scheduled(parameters, timeoutSeconds, heartbeatSeconds);
    events.started();
    let heartbeatDeadline = heartbeatSeconds === undefined ? undefined : clock.nowMs() + heartbeatSeconds * 1000;
    const work = (async (): Promise<Json> => {
      let callback: Promise<Json> | undefined;
      if (token) {
        callback = new Promise<Json>((resolve, reject) => {
          this.engine.registerCallback(
            token,
            {
              executionArn: this.record.arn,
              resolve,
              reject,
              heartbeat: () => {
                if (heartbeatSeconds !== undefined) heartbeatDeadline = clock.nowMs() + heartbeatSeconds * 1000;
              },
            },
            info.name,
          );
          signal.addEventListener('abort', () => reject(signal.reason), { once: true });
        });
        callback.catch(() => undefined);
      }
      const result = await dispatch(parsed, parameters, {
        runtime: this.engine.runtime,
        region: this.record.region,
        signal,
        credentials: this.credentials(),
        waitForExecution: (arn, waitSignal) => this.engine.waitForExecution(arn, waitSignal),
      });
      if (!callback) return result;
      events.submitted(result);
      return callback;
    })();
    work.catch(() => undefined);
    const guards: Promise<never>[] = [];
    if (timeoutSeconds !== undefined) {
      guards.push(
        clock.sleep(timeoutSeconds, signal).then(() => {
          throw new TaskError(STATES_TIMEOUT, '');
        }),
      );
    }
    if (heartbeatSeconds !== undefined && token) {
      guards.push(
        (async () => {
          for (;;) {
            const deadline = heartbeatDeadline ?? 0;
            await clock.sleepUntil(deadline, signal);
            if (clock.nowMs() >= (heartbeatDeadline ?? 0)) throw new TaskError(STATES_HEARTBEAT_TIMEOUT, '');
          }
        })(),
      );
    }
    for (const guard of guards) guard.catch(() => undefined);
    try {
      const output = await Promise.race([work, ...guards]);
      events.succeeded(output);
      return output;
    } catch (error) {
      if (!this.signal.aborted) {
        events.failed(error instanceof TaskError ? error : new TaskError('States.TaskFailed', String(error)));
      }
      throw error;
    } finally {
      attempt.abort(new Error('attempt finished'));
      if (token) this.engine.finishCallback(token);
    }
  }
}

/** An execution the engine ended with an error: its Error and Cause as Step Functions reports them. */
const failureOutcome = (error: unknown): Outcome => {
  const cause = error instanceof Error && error.cause instanceof Error ? error.cause : error;
  if (!(cause instanceof Error)) return { status: 'FAILED', error: 'States.Runtime', cause: String(cause) };
  // A Fail state without Error/Cause: the engine's defaults stand for "none".
  const name = cause.name === 'FailStateError' || cause.name === '' ? undefined : cause.name;
  const message = cause.message === 'Execution failed because of a Fail state' ? undefined : cause.message;
  return {
    status: 'FAILED',
    ...(name === undefined ? {} : { error: name }),
    ...(message === undefined || message === '' ? {} : { cause: message }),
  };
};
