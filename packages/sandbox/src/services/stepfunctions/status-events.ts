/**
 * Step Functions' own events: "Step Functions Execution Status Change" (source `aws.states`) on
 * the account's default bus, as AWS sends them for Standard workflows when an execution changes
 * status (Step Functions Developer Guide, "Automating Step Functions event delivery with
 * EventBridge": https://docs.aws.amazon.com/step-functions/latest/dg/eventbridge-integration.html;
 * EventBridge Events Reference, "AWS Step Functions events":
 * https://docs.aws.amazon.com/eventbridge/latest/ref/events-ref-states.html). The detail carries
 * the execution as DescribeExecution describes it, dates in epoch milliseconds, `resources` the
 * execution's ARN. Delivery is best effort on AWS; in the sandbox every stop is sent.
 *
 * The sandbox sends the terminal statuses (SUCCEEDED, FAILED, TIMED_OUT, ABORTED), including
 * for the executions its restart recovery fails; it does not send RUNNING.
 */
import type { SandboxRuntime } from '../../runtime';
import type { ServiceContext } from '../../service';
import type { ExecutionRecord } from './model';

export const STATES_EVENT_SOURCE = 'aws.states';
export const EXECUTION_STATUS_CHANGE = 'Step Functions Execution Status Change';

const epochMs = (iso: string | undefined): number | null => (iso === undefined ? null : Date.parse(iso));

/** The event's detail for an execution record. */
export const statusChangeDetail = (record: ExecutionRecord): Record<string, unknown> => ({
  executionArn: record.arn,
  stateMachineArn: record.stateMachineArn,
  name: record.name,
  status: record.status,
  startDate: epochMs(record.startDate),
  stopDate: epochMs(record.stopDate),
  input: record.input,
  output: record.output ?? null,
  inputDetails: { included: true },
  outputDetails: record.output === undefined ? null : { included: true },
  error: record.error ?? null,
  cause: record.cause ?? null,
});

/** Sends the status change of `record` to the default bus of its region. */
export const emitStatusChange = (runtime: SandboxRuntime, ctx: ServiceContext, record: ExecutionRecord): void => {
  runtime.emit(
    {
      source: STATES_EVENT_SOURCE,
      detailType: EXECUTION_STATUS_CHANGE,
      region: record.region,
      resources: [record.arn],
      detail: statusChangeDetail(record),
    },
    ctx,
  );
};
