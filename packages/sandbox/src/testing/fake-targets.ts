/**
 * Stand-ins for Lambda and Step Functions that record what EventBridge and Scheduler send them,
 * for `startTestSandbox({ services: [...] })`. A function whose name is in `failing` answers with a
 * ServiceException (a retryable error) every time.
 */
import { AwsError } from '../errors';
import type { JsonService, RestJsonService } from '../service';

export interface Invocation {
  readonly functionName: string;
  readonly payload: string;
}

export interface FakeTargets {
  readonly lambda: RestJsonService;
  readonly states: JsonService;
  readonly invocations: Invocation[];
  readonly executions: Record<string, unknown>[];
  readonly failing: Set<string>;
}

export const fakeTargets = (): FakeTargets => {
  const invocations: Invocation[] = [];
  const executions: Record<string, unknown>[] = [];
  const failing = new Set<string>();
  return {
    invocations,
    executions,
    failing,
    lambda: {
      protocol: 'rest-json',
      signingName: 'lambda',
      routes: [
        {
          method: 'POST',
          path: /\/2015-03-31\/functions\/(?<name>[^/]+)\/invocations/,
          action: 'Invoke',
          handle: (request) => {
            const functionName = (request.params.name ?? '').split(':').slice(-1)[0] ?? '';
            invocations.push({ functionName, payload: request.body });
            if (failing.has(functionName)) throw new AwsError('ServiceException', `${functionName} is failing`, 500);
            return { status: 202 };
          },
        },
      ],
    },
    states: {
      protocol: 'json',
      jsonVersion: '1.0',
      signingName: 'states',
      targetPrefix: 'AWSStepFunctions',
      actions: {
        StartExecution: (input) => {
          executions.push(input);
          return { executionArn: `${String(input.stateMachineArn)}:exec-${executions.length}`, startDate: 0 };
        },
      },
    },
  };
};

/**
 * Polls `check` until it returns a value other than undefined (fails after `timeoutMs`). `explain`,
 * when given, is asked once on failure for what the test saw, so a timeout says more than "not met".
 */
export const eventually = async <T>(
  check: () => T | undefined | Promise<T | undefined>,
  timeoutMs = 5000,
  explain?: () => string | Promise<string>,
): Promise<T> => {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) {
      const seen = explain
        ? await Promise.resolve(explain()).catch((error: unknown) => `(explain failed: ${String(error)})`)
        : '';
      throw new Error(seen ? `condition not met in time; ${seen}` : 'condition not met in time');
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
};
