/**
 * The automation engine: runs each execution as background work, one step at a time, on the
 * sandbox clock. It follows AWS's flow rules (nextStep, isEnd, onFailure Abort / Continue /
 * step:X, onCancel, maxAttempts, timeoutSeconds per attempt, isCritical), keeps every change in
 * the store, and emits the execution and step status-change events AWS sends to EventBridge.
 *
 * One engine per store (an in-process test may run several sandboxes). In-flight work cannot
 * survive a restart: `recoverExecutions` fails what a previous process left running.
 */
import { randomUUID } from 'node:crypto';
import type { Credentials } from '../../../authz/identity';
import { assumeAsService, credentialsOfKey, RoleTrustError } from '../../../authz/sessions';
import type { SandboxClock } from '../../../clock';
import type { SandboxRuntime } from '../../../runtime';
import type { ServiceContext } from '../../../service';
import type { Store } from '../../../store';
import { ACTIONS, type ActionResult, DEFAULT_TIMEOUT_SECONDS, StepFailure, type StepPorts } from './actions';
import { InterpolationError, interpolate, type Lookup } from './interpolate';
import {
  EXECUTIONS_TABLE,
  type ExecutionRecord,
  type ExecutionStatus,
  isTerminalStatus,
  type StepRecord,
  type StepStatus,
} from './model';
import { SelectorError, select } from './selector';
import { coerce, isPlainObject, isValueType, toStringList, ValueTypeError } from './values';

export const DOCUMENT_SNAPSHOTS_TABLE = 'ssm.automationDocuments';
export const SSM_EVENT_SOURCE = 'aws.ssm';
export const EXECUTION_STATUS_DETAIL_TYPE = 'EC2 Automation Execution Status-change Notification';
export const STEP_STATUS_DETAIL_TYPE = 'EC2 Automation Step Status-change Notification';
export const RESTARTED_MESSAGE =
  'The sandbox restarted while this automation was running; in-flight automations cannot resume, so it was marked Failed.';
export const NO_OUTPUT = 'No output available yet because the step is not successfully executed';

type StepDefinition = Record<string, unknown> & { readonly name: string; readonly action: string };

/** Why a step's signal was aborted. */
const CANCEL = Symbol('cancel');
const TIMEOUT = Symbol('timeout');
const SHUTDOWN = Symbol('shutdown');

class ShutdownError extends Error {
  constructor() {
    super('the sandbox is closing');
    this.name = 'ShutdownError';
  }
}

interface Runner {
  readonly record: ExecutionRecord;
  readonly document: Record<string, unknown>;
  stop?: 'Cancel' | 'Complete';
  /** Aborts the step now running (undefined between steps and while an onCancel step runs). */
  stepController?: AbortController;
}

/**
 * The action references (aws:executeAwsApi, aws:waitForAwsResourceProperty, aws:changeInstanceState,
 * aws:createImage: https://docs.aws.amazon.com/systems-manager/latest/userguide/automation-action-waitForAwsResourceProperty.html
 * and its siblings) document an automatic retry for throttled calls only. Any other API error fails
 * the attempt, EC2's NotFound for a resource created moments ago included (eventual consistency,
 * https://docs.aws.amazon.com/ec2/latest/devguide/eventual-consistency.html): only the step's
 * maxAttempts retries it, so a document that describes a new resource by id must tolerate that
 * itself (waiting by filter, where the resource is simply absent until EC2 knows it).
 */
const THROTTLING = new Set(['RequestLimitExceeded', 'Throttling', 'ThrottlingException', 'TooManyRequestsException']);

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** The time format AWS uses in automation event details: `Nov 29, 2024 7:43:25 PM` (UTC). */
export const eventTime = (iso: string): string => {
  const date = new Date(iso);
  const hours = date.getUTCHours();
  const pad = (value: number) => String(value).padStart(2, '0');
  return `${MONTHS[date.getUTCMonth()]} ${date.getUTCDate()}, ${date.getUTCFullYear()} ${hours % 12 === 0 ? 12 : hours % 12}:${pad(date.getUTCMinutes())}:${pad(date.getUTCSeconds())} ${hours < 12 ? 'AM' : 'PM'}`;
};

const pad2 = (value: number): string => String(value).padStart(2, '0');

/** `{{ global:… }}` and `{{ automation:… }}` values at sandbox time `nowMs`. */
export const builtinValue = (
  name: string,
  context: { executionId: string; account: string; region: string; nowMs: number },
): { found: true; value: string } | { found: false } => {
  const now = new Date(context.nowMs);
  const date = `${now.getUTCFullYear()}-${pad2(now.getUTCMonth() + 1)}-${pad2(now.getUTCDate())}`;
  switch (name) {
    case 'automation:EXECUTION_ID':
      return { found: true, value: context.executionId };
    case 'global:ACCOUNT_ID':
      return { found: true, value: context.account };
    case 'global:REGION':
      return { found: true, value: context.region };
    case 'global:AWS_PARTITION':
      return { found: true, value: 'aws' };
    case 'global:DATE':
      return { found: true, value: date };
    case 'global:DATE_TIME':
      return {
        found: true,
        value: `${date}_${pad2(now.getUTCHours())}.${pad2(now.getUTCMinutes())}.${pad2(now.getUTCSeconds())}`,
      };
    default:
      return { found: false };
  }
};

const successor = (steps: readonly StepDefinition[], step: StepDefinition): string | undefined => {
  if (step.isEnd === true) return undefined;
  if (typeof step.nextStep === 'string') return step.nextStep;
  const index = steps.findIndex((candidate) => candidate.name === step.name);
  return steps[index + 1]?.name;
};

const stepTarget = (route: string | undefined): string | undefined =>
  route?.startsWith('step:') ? route.slice('step:'.length) : undefined;

/** A step's failure routing and criticality, with AWS's defaults. */
const stepPolicy = (step: StepDefinition) => {
  const onFailure = typeof step.onFailure === 'string' ? step.onFailure : 'Abort';
  const onCancel = typeof step.onCancel === 'string' ? step.onCancel : 'Abort';
  const isCritical = typeof step.isCritical === 'boolean' ? step.isCritical : onFailure !== 'Continue';
  const maxAttempts = typeof step.maxAttempts === 'number' && step.maxAttempts >= 1 ? Math.floor(step.maxAttempts) : 1;
  const declaredTimeout = typeof step.timeoutSeconds === 'number' ? step.timeoutSeconds : undefined;
  const timeoutSeconds = declaredTimeout ?? DEFAULT_TIMEOUT_SECONDS[step.action];
  return { onFailure, onCancel, isCritical, maxAttempts, declaredTimeout, timeoutSeconds };
};

/**
 * A step's timeout counts the sandbox time the step spends waiting (sleeps, polls), not the time
 * its API calls are in flight: on AWS a call takes milliseconds of a timeout of minutes, while a
 * fast sandbox clock (1200x) turns a slow loopback call into sandbox minutes.
 */
class TimeoutBudget {
  private inFlight = 0;
  private callStartMs = 0;
  private excludedMs = 0;
  private idle: (() => void) | undefined;

  constructor(private readonly startMs: number) {}

  /** Marks a call in flight; the returned function ends it. */
  callStarted(nowMs: number): (nowMs: number) => void {
    if (this.inFlight === 0) this.callStartMs = nowMs;
    this.inFlight += 1;
    let ended = false;
    return (endMs) => {
      if (ended) return;
      ended = true;
      this.inFlight -= 1;
      if (this.inFlight === 0) {
        this.excludedMs += endMs - this.callStartMs;
        this.idle?.();
      }
    };
  }

  /** Resolves once `seconds` of waiting time have passed with no call in flight. */
  async expire(clock: SandboxClock, seconds: number, signal: AbortSignal): Promise<void> {
    for (;;) {
      await clock.sleepUntil(this.startMs + this.excludedMs + seconds * 1000, signal);
      if (this.inFlight === 0) {
        if (clock.nowMs() >= this.startMs + this.excludedMs + seconds * 1000) return;
        continue;
      }
      await new Promise<void>((resolve, reject) => {
        this.idle = resolve;
        signal.addEventListener('abort', () => reject(signal.reason), { once: true });
      });
      this.idle = undefined;
    }
  }
}

/** Races `work` with the signal, so a stopped step ends even if its call does not notice. */
const abortable = <T>(work: Promise<T>, signal: AbortSignal): Promise<T> => {
  work.catch(() => undefined);
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
};

/** The denials of the sandbox's services (JSON, query and EC2): a step failing with one failed on permissions. */
const DENIALS = new Set(['AccessDeniedException', 'AccessDenied', 'UnauthorizedOperation']);

const ASSUME_ROLE_FAILED = 'The defined assume role is unable to be assumed.';

/** Who an automation's steps act as (see `automationCredentials`). */
const actingAs = (ctx: ServiceContext, record: ExecutionRecord): Credentials | undefined =>
  record.assumeRole === undefined
    ? credentialsOfKey(ctx.store, record.startedWithKey)
    : automationCredentials(ctx, {
        executionId: record.executionId,
        region: record.region,
        assumeRole: record.assumeRole,
      });

/**
 * The session of an automation's `AutomationAssumeRole`, assumed by `ssm.amazonaws.com` with
 * `aws:SourceArn` = the execution's ARN (`arn:aws:ssm:REGION:ACCOUNT:automation-execution/ID`) and
 * `aws:SourceAccount` (Systems Manager User Guide, "Cross-service confused deputy prevention";
 * the trust policies it shows match `automation-execution/*`). Throws `RoleTrustError` when the
 * trust policy refuses. Without an assume role an automation acts as whoever started it.
 */
export const automationCredentials = (
  ctx: ServiceContext,
  execution: { readonly executionId: string; readonly region: string; readonly assumeRole: string },
): Credentials =>
  assumeAsService(ctx, {
    roleArn: execution.assumeRole,
    service: 'ssm.amazonaws.com',
    sessionName: execution.executionId,
    context: {
      'aws:SourceArn': `arn:aws:ssm:${execution.region}:${ctx.account}:automation-execution/${execution.executionId}`,
      'aws:SourceAccount': ctx.account,
    },
  });

const errorName = (error: unknown): string =>
  error instanceof Error ? error.name : typeof error === 'string' ? error : 'Error';
const errorMessage = (error: unknown): string => (error instanceof Error ? error.message : String(error));

export class AutomationEngine {
  private readonly runners = new Map<string, Runner>();
  private closed = false;
  private readonly shutdown = new AbortController();

  constructor(
    readonly runtime: SandboxRuntime,
    private readonly store: Store,
  ) {}

  get isClosed(): boolean {
    return this.closed;
  }

  /** Starts running a freshly stored execution in the background. */
  launch(record: ExecutionRecord, document: Record<string, unknown>): void {
    const runner: Runner = { record, document };
    this.runners.set(record.executionId, runner);
    this.runtime.spawn(`automation ${record.executionId}`, async () => {
      try {
        await this.run(runner);
      } catch (error) {
        if (error instanceof ShutdownError || this.closed) return;
        // An engine bug must still end the execution, never leave it InProgress.
        this.finish(runner, 'Failed', `The sandbox's automation engine failed: ${errorMessage(error)}`);
        throw error;
      } finally {
        this.runners.delete(record.executionId);
      }
    });
  }

  /** StopAutomationExecution: false when the execution is not running here. */
  requestStop(executionId: string, type: 'Cancel' | 'Complete'): boolean {
    const runner = this.runners.get(executionId);
    if (!runner || isTerminalStatus(runner.record.status) || runner.stop) return runner?.stop !== undefined;
    runner.stop = type;
    this.setStatus(runner, 'Cancelling');
    runner.stepController?.abort(CANCEL);
    return true;
  }

  close(): void {
    this.closed = true;
    this.shutdown.abort(SHUTDOWN);
  }

  // ---------- running ----------

  private context(runner: Runner): ServiceContext {
    return this.runtime.context(runner.record.region);
  }

  private persist(runner: Runner): void {
    if (this.closed) throw new ShutdownError();
    this.context(runner).transact((tx) => tx.put(EXECUTIONS_TABLE, runner.record.executionId, runner.record));
  }

  private nowIso(): string {
    return this.runtime.context().clock.now().toISOString();
  }

  private setStatus(runner: Runner, status: ExecutionStatus): void {
    runner.record.status = status;
    this.persist(runner);
    this.emitExecution(runner);
  }

  private async run(runner: Runner): Promise<void> {
    const steps = (runner.document.mainSteps as StepDefinition[] | undefined) ?? [];
    this.setStatus(runner, 'InProgress');
    let name: string | undefined = steps[0]?.name;
    let criticalFailure: StepRecord | undefined;
    let nonCriticalFailure = false;
    while (name !== undefined) {
      const definition = steps.find((step) => step.name === name);
      if (!definition) {
        this.finish(runner, 'Failed', `The next step ${name} does not exist in the document.`);
        return;
      }
      const policy = stepPolicy(definition);
      if (runner.stop) {
        await this.cancelled(runner, steps, runner.stop === 'Cancel' ? stepTarget(policy.onCancel) : undefined);
        return;
      }
      const { step, nextStep } = await this.runStep(runner, definition, false);
      if (step.status === 'Success') {
        name = nextStep ?? successor(steps, definition);
        continue;
      }
      if (step.status === 'Cancelled') {
        await this.cancelled(runner, steps, runner.stop === 'Cancel' ? stepTarget(policy.onCancel) : undefined);
        return;
      }
      if (policy.isCritical) criticalFailure ??= step;
      else nonCriticalFailure = true;
      const target = stepTarget(policy.onFailure);
      if (target !== undefined) {
        name = target;
      } else if (policy.onFailure === 'Continue') {
        name = successor(steps, definition);
      } else {
        if (policy.isCritical) this.finish(runner, step.status as ExecutionStatus, failureText(step));
        else this.finish(runner, 'CompletedWithFailure', failureText(step));
        return;
      }
    }
    if (criticalFailure) this.finish(runner, 'Failed', failureText(criticalFailure));
    else this.finish(runner, nonCriticalFailure ? 'CompletedWithFailure' : 'Success');
  }

  /** Runs the onCancel step (if the cancelled step names one), then ends the execution Cancelled. */
  private async cancelled(runner: Runner, steps: readonly StepDefinition[], onCancelStep: string | undefined) {
    const definition = onCancelStep === undefined ? undefined : steps.find((step) => step.name === onCancelStep);
    if (definition) await this.runStep(runner, definition, true);
    this.finish(
      runner,
      'Cancelled',
      runner.stop === 'Complete' ? 'Stopped (Complete) by StopAutomationExecution.' : undefined,
    );
  }

  private finish(runner: Runner, status: ExecutionStatus, failureMessage?: string): void {
    const { record } = runner;
    record.endTime = this.nowIso();
    delete record.currentStepName;
    delete record.currentAction;
    if (failureMessage !== undefined && status !== 'Success') record.failureMessage = failureMessage;
    record.outputs = executionOutputs(runner.document, record);
    this.setStatus(runner, status);
  }

  private lookup(runner: Runner): Lookup {
    const { record } = runner;
    const ctx = this.context(runner);
    return (name) => {
      const builtin = builtinValue(name, {
        executionId: record.executionId,
        account: ctx.account,
        region: record.region,
        nowMs: ctx.clock.nowMs(),
      });
      if (builtin.found) return builtin;
      if (name in record.parameters) return { found: true, value: record.parameters[name] };
      const dot = name.indexOf('.');
      if (dot > 0) {
        const stepName = name.slice(0, dot);
        const output = name.slice(dot + 1);
        const step = [...record.steps]
          .reverse()
          .find((candidate) => candidate.stepName === stepName && candidate.status === 'Success');
        const value = step?.outputs[output];
        if (value) return { found: true, value: value.value };
      }
      return { found: false };
    };
  }

  private ports(runner: Runner, signal: AbortSignal, budget: TimeoutBudget): StepPorts {
    const ctx = this.context(runner);
    return {
      signal,
      region: runner.record.region,
      executionId: runner.record.executionId,
      nowMs: () => ctx.clock.nowMs(),
      sleep: (seconds) => ctx.clock.sleep(seconds, signal),
      sleepUntil: (ms) => ctx.clock.sleepUntil(ms, signal),
      callAws: async (service, api, input) => {
        const done = budget.callStarted(ctx.clock.nowMs());
        try {
          const credentials = actingAs(ctx, runner.record);
          return await abortable(
            this.runtime.callAws(service, api, input, {
              region: runner.record.region,
              signal,
              ...(credentials ? { credentials } : {}),
            }),
            signal,
          );
        } catch (error) {
          if (signal.aborted) throw signal.reason;
          if (error instanceof RoleTrustError) {
            throw new StepFailure(ASSUME_ROLE_FAILED, {
              type: 'Permission',
              details: { Service: [service], Api: [api] },
            });
          }
          const name = errorName(error);
          throw new StepFailure(`${service} ${api} failed: ${name}: ${errorMessage(error)}`, {
            type: THROTTLING.has(name) ? 'Throttling' : DENIALS.has(name) ? 'Permission' : 'Action',
            details: { ExceptionMessage: [errorMessage(error)], ErrorCode: [name], Service: [service], Api: [api] },
          });
        } finally {
          done(ctx.clock.nowMs());
        }
      },
    };
  }

  private async runStep(
    runner: Runner,
    definition: StepDefinition,
    ignoreStop: boolean,
  ): Promise<{ step: StepRecord; nextStep?: string }> {
    const policy = stepPolicy(definition);
    const steps = (runner.document.mainSteps as StepDefinition[] | undefined) ?? [];
    const step: StepRecord = {
      stepExecutionId: randomUUID(),
      stepName: definition.name,
      action: definition.action,
      ...(policy.declaredTimeout === undefined ? {} : { timeoutSeconds: policy.declaredTimeout }),
      onFailure: policy.onFailure,
      onCancel: policy.onCancel,
      maxAttempts: policy.maxAttempts,
      isEnd: definition.isEnd === true,
      ...(typeof definition.nextStep === 'string' ? { nextStep: definition.nextStep } : {}),
      isCritical: policy.isCritical,
      validNextSteps: validNextSteps(steps, definition),
      status: 'InProgress',
      startTime: this.nowIso(),
      inputs: {},
      outputs: {},
    };
    runner.record.steps.push(step);
    runner.record.currentStepName = step.stepName;
    runner.record.currentAction = step.action;
    this.persist(runner);
    this.emitStep(runner, step);

    let nextStep: string | undefined;
    const end = (status: StepStatus, failure?: StepFailure) => {
      step.status = status;
      step.endTime = this.nowIso();
      if (failure) {
        step.failureMessage = failure.message;
        step.failureDetails = failure.details;
      }
      this.persist(runner);
      this.emitStep(runner, step);
      return nextStep === undefined ? { step } : { step, nextStep };
    };

    let inputs: Record<string, unknown>;
    try {
      const resolved = interpolate(definition.inputs ?? {}, this.lookup(runner));
      inputs = isPlainObject(resolved) ? resolved : {};
    } catch (error) {
      if (!(error instanceof InterpolationError)) throw error;
      return end('Failed', new StepFailure(error.message, { stage: 'InputValidation', type: 'Verification' }));
    }
    step.inputs = inputs;
    const action = ACTIONS[definition.action];
    if (!action) {
      return end(
        'Failed',
        new StepFailure(
          `The action ${definition.action} (step ${definition.name}) is not supported by the sandbox's Automation engine. It runs ${Object.keys(ACTIONS).join(', ')}.`,
          { stage: 'InputValidation', type: 'Verification' },
        ),
      );
    }

    let lastFailure: StepFailure | undefined;
    let lastStatus: StepStatus = 'Failed';
    for (let attempt = 1; attempt <= policy.maxAttempts; attempt += 1) {
      if (runner.stop && !ignoreStop) return end('Cancelled');
      const controller = new AbortController();
      if (!ignoreStop) runner.stepController = controller;
      const timer = new AbortController();
      const onShutdown = () => controller.abort(SHUTDOWN);
      this.shutdown.signal.addEventListener('abort', onShutdown, { once: true });
      const clock = this.context(runner).clock;
      const budget = new TimeoutBudget(clock.nowMs());
      if (policy.timeoutSeconds !== undefined) {
        budget.expire(clock, policy.timeoutSeconds, timer.signal).then(
          () => controller.abort(TIMEOUT),
          () => undefined,
        );
      }
      try {
        const result = await abortable(
          action(inputs, this.ports(runner, controller.signal, budget)),
          controller.signal,
        );
        step.outputs = { ...(result.outputs ?? {}), ...documentOutputs(definition, result) };
        if (result.response !== undefined) step.response = result.response;
        if (result.responseCode !== undefined) step.responseCode = result.responseCode;
        nextStep = result.nextStep;
        return end('Success');
      } catch (error) {
        const reason: unknown = controller.signal.aborted ? controller.signal.reason : undefined;
        if (reason === SHUTDOWN || this.closed) throw new ShutdownError();
        if (reason === CANCEL) return end('Cancelled');
        if (reason === TIMEOUT) {
          lastStatus = 'TimedOut';
          lastFailure = new StepFailure(
            `Step timed out after ${policy.timeoutSeconds} seconds (attempt ${attempt} of ${policy.maxAttempts}).`,
            { type: 'Verification' },
          );
        } else {
          lastStatus = 'Failed';
          lastFailure = toStepFailure(error);
        }
      } finally {
        timer.abort();
        this.shutdown.signal.removeEventListener('abort', onShutdown);
        if (runner.stepController === controller) delete runner.stepController;
      }
    }
    return end(lastStatus, lastFailure);
  }

  // ---------- events ----------

  private resources(runner: Runner, account: string): string[] {
    const { record } = runner;
    return [
      `arn:aws:ssm:${record.region}:${account}:automation-execution/${record.executionId}`,
      `arn:aws:ssm:${record.region}:${account}:automation-definition/${record.documentName}:${record.documentVersion}`,
    ];
  }

  private emitExecution(runner: Runner): void {
    const ctx = this.context(runner);
    const { record } = runner;
    const end = record.endTime ?? ctx.clock.now().toISOString();
    this.runtime.emit(
      {
        source: SSM_EVENT_SOURCE,
        detailType: EXECUTION_STATUS_DETAIL_TYPE,
        region: record.region,
        resources: this.resources(runner, ctx.account),
        detail: {
          ExecutionId: record.executionId,
          Definition: record.documentName,
          DefinitionVersion: Number(record.documentVersion),
          Status: record.status,
          StartTime: eventTime(record.startTime),
          ...(record.endTime === undefined ? {} : { EndTime: eventTime(record.endTime) }),
          Time: Math.max(0, Date.parse(end) - Date.parse(record.startTime)),
          ExecutedBy: record.executedBy,
        },
      },
      ctx,
    );
  }

  private emitStep(runner: Runner, step: StepRecord): void {
    const ctx = this.context(runner);
    const { record } = runner;
    const start = step.startTime ?? record.startTime;
    const end = step.endTime ?? ctx.clock.now().toISOString();
    this.runtime.emit(
      {
        source: SSM_EVENT_SOURCE,
        detailType: STEP_STATUS_DETAIL_TYPE,
        region: record.region,
        resources: this.resources(runner, ctx.account),
        detail: {
          ExecutionId: record.executionId,
          Definition: record.documentName,
          DefinitionVersion: Number(record.documentVersion),
          Status: step.status,
          StartTime: eventTime(start),
          ...(step.endTime === undefined ? {} : { EndTime: eventTime(step.endTime) }),
          Time: Math.max(0, Date.parse(end) - Date.parse(start)),
          StepName: step.stepName,
          Action: step.action,
          ExecutedBy: record.executedBy,
        },
      },
      ctx,
    );
  }

  /** Fails what a previous process left running (and says so in an event). */
  recover(ctx: ServiceContext): void {
    const stale = [...this.store.table<ExecutionRecord>(EXECUTIONS_TABLE).values()].filter(
      (record) => !isTerminalStatus(record.status),
    );
    const now = ctx.clock.now().toISOString();
    const recovered: { record: ExecutionRecord; document: Record<string, unknown> }[] = [];
    for (const stored of stale) {
      const record = structuredClone(stored);
      for (const step of record.steps) {
        if (step.status === 'InProgress' || step.status === 'Pending') {
          step.status = 'Failed';
          step.endTime = now;
          step.failureMessage = RESTARTED_MESSAGE;
          step.failureDetails = { FailureStage: 'Invocation', FailureType: 'Internal' };
        }
      }
      record.status = 'Failed';
      record.endTime = now;
      record.failureMessage = RESTARTED_MESSAGE;
      delete record.currentStepName;
      delete record.currentAction;
      const document = ctx.store.get<Record<string, unknown>>(DOCUMENT_SNAPSHOTS_TABLE, record.executionId) ?? {};
      record.outputs = executionOutputs(document, record);
      ctx.transact((tx) => tx.put(EXECUTIONS_TABLE, record.executionId, record));
      recovered.push({ record, document });
    }
    if (recovered.length === 0) return;
    // SSM starts before EventBridge (services/index.ts order), so an event emitted from this start
    // hook found no bus to take it and was dropped. The status changes go out on the next turn of
    // the event loop, once the start hooks have run.
    this.runtime.spawn('status changes of recovered automations', async () => {
      await new Promise((resolve) => setImmediate(resolve));
      for (const runner of recovered) this.emitExecution(runner);
    });
  }
}

const failureText = (step: StepRecord): string =>
  `Step ${step.stepName} ${step.status === 'TimedOut' ? 'timed out' : step.status === 'Cancelled' ? 'was cancelled' : 'failed'}: ${step.failureMessage ?? 'no reason given'}`;

const toStepFailure = (error: unknown): StepFailure => {
  if (error instanceof StepFailure) return error;
  if (error instanceof SelectorError || error instanceof ValueTypeError) {
    return new StepFailure(error.message, { stage: 'PostVerification', type: 'Verification' });
  }
  return new StepFailure(`${errorName(error)}: ${errorMessage(error)}`, { type: 'Internal' });
};

const validNextSteps = (steps: readonly StepDefinition[], step: StepDefinition): string[] => {
  const next = new Set<string>();
  const following = successor(steps, step);
  if (following) next.add(following);
  for (const route of [step.onFailure, step.onCancel]) {
    const target = stepTarget(typeof route === 'string' ? route : undefined);
    if (target) next.add(target);
  }
  if (step.action === 'aws:branch' && isPlainObject(step.inputs)) {
    for (const choice of Array.isArray(step.inputs.Choices) ? step.inputs.Choices : []) {
      if (isPlainObject(choice) && typeof choice.NextStep === 'string') next.add(choice.NextStep);
    }
    if (typeof step.inputs.Default === 'string') next.add(step.inputs.Default);
  }
  return [...next];
};

/** The step's document-declared `outputs` (Name, Selector, Type) read from the action's result. */
const documentOutputs = (definition: StepDefinition, result: ActionResult): StepRecord['outputs'] => {
  const declared = Array.isArray(definition.outputs) ? definition.outputs : [];
  const source =
    result.selectable ??
    Object.fromEntries(Object.entries(result.outputs ?? {}).map(([name, output]) => [name, output.value]));
  const outputs: StepRecord['outputs'] = {};
  for (const output of declared) {
    if (!isPlainObject(output) || typeof output.Name !== 'string' || typeof output.Selector !== 'string') continue;
    const type = isValueType(output.Type) ? output.Type : 'String';
    const selected = select(source, output.Selector);
    if (!selected.found) continue;
    outputs[output.Name] = { type, value: coerce(selected.value, type, `Output ${output.Name}`) };
  }
  return outputs;
};

/** The document's `outputs` ("step.Output") as the API shows them. */
export const executionOutputs = (
  document: Record<string, unknown>,
  record: Pick<ExecutionRecord, 'steps'>,
): Record<string, string[]> => {
  const declared = Array.isArray(document.outputs) ? document.outputs.filter((o) => typeof o === 'string') : [];
  const outputs: Record<string, string[]> = {};
  for (const name of declared as string[]) {
    const dot = name.indexOf('.');
    const step = [...record.steps]
      .reverse()
      .find((candidate) => candidate.stepName === name.slice(0, dot) && candidate.status === 'Success');
    const value = step?.outputs[name.slice(dot + 1)];
    outputs[name] = value ? toStringList(value.value) : [NO_OUTPUT];
  }
  return outputs;
};

const engines = new Map<Store, AutomationEngine>();

/** The engine of the sandbox `ctx` belongs to. */
export const engineFor = (ctx: ServiceContext): AutomationEngine => {
  let engine = engines.get(ctx.store);
  if (!engine || engine.isClosed) {
    engine = new AutomationEngine(ctx.runtime, ctx.store);
    engines.set(ctx.store, engine);
  }
  return engine;
};

/** On close: stops the engines of sandboxes that are closing (their runtime closed first). */
export const closeEngines = (): void => {
  for (const [store, engine] of engines) {
    if (!engine.runtime.isClosed) continue;
    engine.close();
    engines.delete(store);
  }
};
