/**
 * Stand-ins the Step Functions e2e tests register through `startTestSandbox({ services })`: a
 * Lambda whose functions are plain test functions, and an EventBridge that records PutEvents.
 * Each test file makes its own (no state is shared between files).
 */
import { AwsError } from '../errors';
import type { JsonService, RestJsonService } from '../service';

/** What a fake function returns: a payload, or the error it "threw". */
export type FakeResult = { readonly payload: unknown } | { readonly errorType: string; readonly errorMessage: string };
export type FakeFunction = (payload: unknown) => FakeResult | Promise<FakeResult>;

export interface FakeLambda {
  readonly service: RestJsonService;
  readonly functions: Map<string, FakeFunction>;
  /** Every invocation, in order: function name and payload. */
  readonly invocations: { name: string; payload: unknown }[];
}

/** `my-fn`, `arn:aws:lambda:…:function:my-fn` and `…:my-fn:live` all name `my-fn`. */
const functionName = (nameOrArn: string): string => {
  const match = /^arn:aws:lambda:[^:]+:\d+:function:([^:]+)/.exec(nameOrArn);
  return match?.[1] ?? nameOrArn;
};

export const fakeLambda = (): FakeLambda => {
  const functions = new Map<string, FakeFunction>();
  const invocations: { name: string; payload: unknown }[] = [];
  const service: RestJsonService = {
    signingName: 'lambda',
    protocol: 'rest-json',
    routes: [
      {
        method: 'POST',
        path: /^\/2015-03-31\/functions\/(?<name>[^/]+)\/invocations$/,
        action: 'Invoke',
        handle: async (request) => {
          const name = functionName(request.params.name ?? '');
          const run = functions.get(name);
          if (!run) throw new AwsError('ResourceNotFoundException', `Function not found: ${name}`, 404);
          const payload = request.body === '' ? null : (JSON.parse(request.body) as unknown);
          invocations.push({ name, payload });
          const result = await run(payload);
          const headers = { 'x-amz-executed-version': '$LATEST' };
          if ('errorType' in result) {
            return {
              headers: { ...headers, 'x-amz-function-error': 'Unhandled' },
              body: JSON.stringify({ errorType: result.errorType, errorMessage: result.errorMessage, trace: [] }),
            };
          }
          return { headers, body: JSON.stringify(result.payload ?? null) };
        },
      },
    ],
  };
  return { service, functions, invocations };
};

export interface PutEntry {
  readonly Source?: string;
  readonly DetailType?: string;
  readonly Detail?: string;
  readonly EventBusName?: string;
}

export interface FakeEventBridge {
  readonly service: JsonService;
  readonly entries: PutEntry[];
  /** Entries with this detail-type fail (FailedEntryCount > 0). */
  failDetailType: string | undefined;
}

export const fakeEventBridge = (): FakeEventBridge => {
  const fake: FakeEventBridge = {
    entries: [],
    failDetailType: undefined,
    service: {
      signingName: 'events',
      protocol: 'json',
      targetPrefix: 'AWSEvents',
      actions: {
        PutEvents: (input) => {
          const entries = (input.Entries ?? []) as PutEntry[];
          const results = entries.map((entry, index) => {
            if (entry.DetailType === fake.failDetailType) {
              return { ErrorCode: 'InternalFailure', ErrorMessage: 'injected by the test' };
            }
            fake.entries.push(entry);
            return { EventId: `event-${fake.entries.length}-${index}` };
          });
          return { FailedEntryCount: results.filter((result) => 'ErrorCode' in result).length, Entries: results };
        },
      },
    },
  };
  return fake;
};

export interface FakeSsm {
  readonly service: JsonService;
  /** Every call: action and input. */
  readonly calls: { action: string; input: Record<string, unknown> }[];
}

/**
 * An SSM that starts automations without running them and records parameter writes; deleting a
 * parameter answers ParameterNotFound (as when the family lock is already gone).
 */
export const fakeSsm = (automationExecutionId: string): FakeSsm => {
  const calls: { action: string; input: Record<string, unknown> }[] = [];
  const record = (action: string, output: Record<string, unknown>) => (input: Record<string, unknown>) => {
    calls.push({ action, input });
    return output;
  };
  return {
    calls,
    service: {
      signingName: 'ssm',
      protocol: 'json',
      targetPrefix: 'AmazonSSM',
      actions: {
        StartAutomationExecution: record('StartAutomationExecution', { AutomationExecutionId: automationExecutionId }),
        PutParameter: record('PutParameter', { Version: 1, Tier: 'Standard' }),
        DeleteParameter: (input) => {
          calls.push({ action: 'DeleteParameter', input });
          throw new AwsError('ParameterNotFound', `Parameter ${String(input.Name)} not found.`);
        },
      },
    },
  };
};
