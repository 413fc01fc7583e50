/**
 * Invoking a target by its ARN, with retries and a dead-letter queue: shared by EventBridge rules
 * and EventBridge Scheduler schedules. Targets are called through the sandbox's own APIs
 * (`ctx.runtime.callAws`), so they see what a deployed caller would:
 *
 * | ARN | call |
 * | --- | --- |
 * | `arn:aws:lambda:…:function:…` | Lambda Invoke, `InvocationType: Event` |
 * | `arn:aws:states:…:stateMachine:…` | Step Functions StartExecution |
 * | `arn:aws:events:…:event-bus/…` | the caller's `putOnBus` (rules), else PutEvents |
 * | `arn:aws:sqs:…` | a message recorded in `sqs.messages` (no SQS API) |
 * | `arn:aws:scheduler:::aws-sdk:<service>:<action>` | that API with the payload as its input (Scheduler's universal targets) |
 *
 * A failure is retried with a short exponential back-off on the sandbox clock (1, 2, 4 … 60 s)
 * until RetryPolicy's MaximumRetryAttempts or MaximumEventAgeInSeconds is reached; errors that a
 * retry cannot fix (a missing function, denied access) are not retried, as on AWS. Then the
 * payload goes to the DeadLetterConfig queue with the attributes AWS adds, or is dropped.
 *
 * Who calls: a target with a role (a schedule's `RoleArn`, a rule target's `RoleArn`) is invoked as
 * that role's session (`DeliveryPlan.credentials`), so the role's identity policy must allow the
 * call; a rule's Lambda target is invoked by `events.amazonaws.com` once the function's
 * resource-based policy allows it (`DeliveryPlan.permit`). A refused role or permission fails the
 * attempt with `AccessDeniedException`, which is not retried. Messages onto queues are authorized
 * for the role (`sqs:SendMessage`); without a role, the caller's `permitQueue` decides (EventBridge
 * sends as `events.amazonaws.com`, which only the queue's policy can allow: `services/sqs.ts`).
 *
 * The dead-letter queue is authorized the same way (`DeliveryPlan.permitDeadLetter`). A refused
 * send loses the event: AWS counts it in `InvocationsFailedToBeSentToDlq` (EventBridge User Guide,
 * "Using dead-letter queues to process undelivered events"); the delivery is `failed` and its error
 * says why, after the target's own error.
 */
import { AccessDeniedError, DENIAL_STYLES } from '../../authz/authorizer';
import type { Credentials } from '../../authz/identity';
import { authorizeAs } from '../../authz/sessions';
import { AwsError } from '../../errors';
import type { ContextKeys } from '../../iam/types';
import type { ServiceContext } from '../../service';
import { serviceMaySend } from '../sqs';
import { appendMessage } from './model';

export class TargetError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = 'TargetError';
    this.code = code;
  }
}

/** Errors a retry cannot fix: AWS sends the event to the DLQ at once. */
const NOT_RETRYABLE = new Set([
  'ResourceNotFoundException',
  'StateMachineDoesNotExist',
  'StateMachineDeleting',
  'AccessDeniedException',
  'InvalidArn',
  'InvalidExecutionInput',
  'InvalidRequestContentException',
  'ValidationException',
  'UnknownService',
  'UnknownApiError',
  'UnknownOperationException',
  'InvalidTarget',
]);

export const errorCode = (error: unknown): string => {
  if (error instanceof TargetError || error instanceof AwsError) return error.code;
  if (error instanceof Error) return error.name;
  return 'InternalFailure';
};

const errorMessage = (error: unknown): string => (error instanceof Error ? error.message : String(error));

export interface InvokeOptions {
  /** Rules deliver onto another bus themselves (the envelope travels unchanged). */
  readonly putOnBus?: (busArn: string, payload: string, credentials?: Credentials) => Promise<void> | void;
  /** Scheduler's EventBridgeParameters. */
  readonly eventBridge?: { readonly Source: string; readonly DetailType: string };
  /** Message attributes when the target is a queue. */
  readonly queueAttributes?: Record<string, string>;
  /** Sign every call as this role session (the sandbox administrator when omitted). */
  readonly credentials?: Credentials;
  /** Throws a `TargetError` when the queue's policy refuses the sender (a queue target without a role). */
  readonly permitQueue?: (queueArn: string) => void;
}

const regionOf = (arn: string): string | undefined => arn.split(':')[3] || undefined;

export const invokeTarget = async (
  ctx: ServiceContext,
  arn: string,
  payload: string,
  options: InvokeOptions = {},
): Promise<void> => {
  const region = regionOf(arn);
  const credentials = options.credentials;
  const call = (service: string, action: string, input: Record<string, unknown>) =>
    ctx.runtime.callAws(service, action, input, {
      ...(region ? { region } : {}),
      ...(credentials ? { credentials } : {}),
    });
  if (/^arn:aws:lambda:[^:]+:\d{12}:function:/.test(arn)) {
    await call('lambda', 'Invoke', {
      FunctionName: arn,
      InvocationType: 'Event',
      Payload: new TextEncoder().encode(payload),
    });
    return;
  }
  if (/^arn:aws:states:[^:]+:\d{12}:stateMachine:/.test(arn)) {
    await call('sfn', 'StartExecution', { stateMachineArn: arn, input: payload });
    return;
  }
  if (/^arn:aws:events:[^:]+:\d{12}:event-bus\//.test(arn)) {
    if (options.putOnBus) {
      await options.putOnBus(arn, payload, credentials);
      return;
    }
    const output = await call('events', 'PutEvents', {
      Entries: [
        {
          EventBusName: arn,
          Source: options.eventBridge?.Source,
          DetailType: options.eventBridge?.DetailType,
          Detail: payload,
        },
      ],
    });
    const [entry] = (output.Entries ?? []) as { ErrorCode?: string; ErrorMessage?: string }[];
    if (entry?.ErrorCode) throw new TargetError(entry.ErrorCode, entry.ErrorMessage ?? 'PutEvents failed');
    return;
  }
  if (/^arn:aws:sqs:[^:]+:\d{12}:[A-Za-z0-9_-]+$/.test(arn)) {
    if (credentials) authorizeAs(ctx, credentials, [{ action: 'sqs:SendMessage', resource: arn }]);
    else options.permitQueue?.(arn);
    appendMessage(ctx, { queueArn: arn, kind: 'target', body: payload, attributes: options.queueAttributes ?? {} });
    return;
  }
  const universal = /^arn:aws:scheduler:::aws-sdk:([a-z0-9-]+):([A-Za-z0-9]+)$/.exec(arn);
  if (universal) {
    let input: unknown;
    try {
      input = JSON.parse(payload === '' ? '{}' : payload);
    } catch {
      throw new TargetError('ValidationException', 'The input of a universal target must be a JSON object');
    }
    await ctx.runtime.callAws(
      universal[1] as string,
      universal[2] as string,
      input as Record<string, unknown>,
      credentials ? { credentials } : {},
    );
    return;
  }
  throw new TargetError('InvalidTarget', `The sandbox cannot deliver to ${arn}`);
};

/** What a queue without a policy is evaluated against (it allows no service). */
const NO_POLICY = { Version: '2012-10-17', Statement: [] } as const;

export interface ServiceSender {
  /** The service principal, e.g. `events.amazonaws.com`. */
  readonly service: string;
  /** The account the service works for. */
  readonly account: string;
  /** Where refusals are recorded in the report (the rule's ARN). */
  readonly on: string;
  /** The keys the service sets: `aws:SourceArn`, `aws:SourceAccount`. */
  readonly context: ContextKeys;
}

/**
 * Throws a `TargetError` (`AccessDeniedException`, in IAM's wording) when the queue's policy does
 * not let the service send to it; with enforcement off the refusal is only recorded.
 */
export const permitServiceSend = (ctx: ServiceContext, sender: ServiceSender, queueArn: string): void => {
  const { evaluation, policy } = serviceMaySend(ctx.store, queueArn, sender.service, sender.account, sender.context);
  if (evaluation.decision === 'Allow') return;
  ctx.authorizer.usage.denied(sender.on, {
    action: 'sqs:SendMessage',
    resource: queueArn,
    reason: `${sender.service}: ${evaluation.reason}`,
    atMs: ctx.clock.nowMs(),
    enforced: ctx.authorizer.enabled,
  });
  if (!ctx.authorizer.enabled) return;
  const denial = new AccessDeniedError(
    {
      check: {
        action: 'sqs:SendMessage',
        resource: queueArn,
        context: sender.context,
        resourcePolicy: policy ?? NO_POLICY,
      },
      principal: { type: 'Service', arn: sender.service, account: sender.account },
      evaluation,
    },
    DENIAL_STYLES.json,
  );
  throw new TargetError(denial.code, denial.message);
};

export interface RetryPolicy {
  readonly maximumRetryAttempts: number;
  readonly maximumEventAgeInSeconds: number;
}

export interface DeliveryOutcome {
  readonly status: 'delivered' | 'failed' | 'dead-lettered';
  readonly attempts: number;
  readonly error?: string;
}

export interface DeliveryPlan {
  readonly targetArn: string;
  /** The payload for an attempt (1-based); Scheduler substitutes the attempt number. */
  readonly payload: (attempt: number) => string;
  readonly retry: RetryPolicy;
  readonly deadLetterArn?: string;
  /** When the event happened (age counts from it), sandbox ms. */
  readonly sinceMs: number;
  /** What the DLQ record carries besides ERROR_CODE, ERROR_MESSAGE and RETRY_ATTEMPTS. */
  readonly deadLetterAttributes: Record<string, string>;
  readonly invoke?: InvokeOptions;
  /**
   * The role session each attempt acts as (its trust evaluated again each time); throws a
   * `TargetError` when the role cannot be assumed.
   */
  readonly credentials?: () => Credentials | undefined;
  /** Throws a `TargetError` when a resource-based policy refuses the service (Lambda permissions). */
  readonly permit?: () => void;
  /** Throws a `TargetError` when the dead-letter queue refuses the sender (its queue policy). */
  readonly permitDeadLetter?: (queueArn: string) => void;
  /** Told after every attempt (status `pending` while a retry is due). */
  readonly progress: (status: 'pending' | DeliveryOutcome['status'], attempts: number, error?: string) => void;
}

/** Back-off before retry `n` (1-based): 1, 2, 4 … capped at 60 sandbox seconds. */
export const backoffSeconds = (retry: number): number => Math.min(2 ** (retry - 1), 60);

export const deliver = async (ctx: ServiceContext, plan: DeliveryPlan): Promise<DeliveryOutcome> => {
  for (let attempt = 1; ; attempt++) {
    const payload = plan.payload(attempt);
    try {
      plan.permit?.();
      const credentials = plan.credentials?.();
      await invokeTarget(ctx, plan.targetArn, payload, {
        ...plan.invoke,
        ...(credentials ? { credentials } : {}),
      });
      plan.progress('delivered', attempt);
      return { status: 'delivered', attempts: attempt };
    } catch (error) {
      if (ctx.runtime.isClosed) throw error;
      const code = errorCode(error);
      const message = errorMessage(error);
      const summary = `${code}: ${message}`;
      const delay = backoffSeconds(attempt);
      const ageAfterDelay = (ctx.clock.nowMs() + delay * 1000 - plan.sinceMs) / 1000;
      const mayRetry =
        !NOT_RETRYABLE.has(code) &&
        attempt - 1 < plan.retry.maximumRetryAttempts &&
        ageAfterDelay <= plan.retry.maximumEventAgeInSeconds;
      if (mayRetry) {
        plan.progress('pending', attempt, summary);
        await ctx.clock.sleep(delay);
        if (ctx.runtime.isClosed) return { status: 'failed', attempts: attempt, error: 'the sandbox stopped' };
        continue;
      }
      if (plan.deadLetterArn) {
        try {
          plan.permitDeadLetter?.(plan.deadLetterArn);
        } catch (refusal) {
          if (ctx.runtime.isClosed) throw refusal;
          const lost = `${summary}; not sent to the dead-letter queue ${plan.deadLetterArn} (InvocationsFailedToBeSentToDlq): ${errorMessage(refusal)}`;
          plan.progress('failed', attempt, lost);
          return { status: 'failed', attempts: attempt, error: lost };
        }
        appendMessage(ctx, {
          queueArn: plan.deadLetterArn,
          kind: 'dead-letter',
          body: payload,
          attributes: {
            ...plan.deadLetterAttributes,
            ERROR_CODE: code,
            ERROR_MESSAGE: message,
            RETRY_ATTEMPTS: String(attempt - 1),
          },
        });
        plan.progress('dead-lettered', attempt, summary);
        return { status: 'dead-lettered', attempts: attempt, error: summary };
      }
      plan.progress('failed', attempt, summary);
      return { status: 'failed', attempts: attempt, error: summary };
    }
  }
};
