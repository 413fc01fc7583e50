/**
 * Follows a running sandbox from the outside, as an operator would: the event log
 * (`/_sandbox/events`) and the automation executions (SSM API), printing each new event and each
 * automation step as its status changes.
 */
import {
  DescribeAutomationExecutionsCommand,
  DescribeAutomationStepExecutionsCommand,
  type SSMClient,
} from '@aws-sdk/client-ssm';
import { type LoggedEvent, renderEvent, renderStep } from './render';

export interface WatchOptions {
  readonly endpoint: string;
  readonly ssm: SSMClient;
  readonly print: (line: string) => void;
  /** Real milliseconds between polls. */
  readonly intervalMs?: number;
}

export class Watcher {
  private readonly seenEvents = new Set<string>();
  readonly events: LoggedEvent[] = [];
  /** AWS service events (aws.*) that no rule wanted: counted, not printed. */
  unroutedServiceEvents = 0;
  private readonly stepStatus = new Map<string, string>();
  private readonly finishedAutomations = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private polling: Promise<void> | undefined;
  private readonly waiters = new Set<() => void>();

  constructor(private readonly options: WatchOptions) {}

  start(): void {
    const loop = () => {
      this.polling = this.poll()
        .catch((error: unknown) => this.options.print(`(watch: ${error instanceof Error ? error.message : error})`))
        .finally(() => {
          if (this.timer !== undefined) this.timer = setTimeout(loop, this.options.intervalMs ?? 100);
        });
    };
    this.timer = setTimeout(loop, 0);
  }

  async stop(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.polling;
    await this.poll();
  }

  /** Resolves with the first logged event (old or new) that satisfies `test`, or rejects after `timeoutMs` real ms. */
  waitFor(description: string, test: (entry: LoggedEvent) => boolean, timeoutMs: number): Promise<LoggedEvent> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const found = this.events.find(test);
        if (!found) return;
        clearTimeout(timer);
        this.waiters.delete(check);
        resolve(found);
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(new Error(`timed out after ${Math.round(timeoutMs / 1000)} s waiting for ${description}`));
      }, timeoutMs);
      this.waiters.add(check);
      check();
    });
  }

  private async poll(): Promise<void> {
    await this.pollAutomations();
    await this.pollEvents();
    for (const waiter of [...this.waiters]) waiter();
  }

  private async pollEvents(): Promise<void> {
    const response = await fetch(`${this.options.endpoint}/_sandbox/events`);
    if (!response.ok) throw new Error(`GET /_sandbox/events answered ${response.status}`);
    const body = (await response.json()) as { events?: LoggedEvent[] } | LoggedEvent[];
    const entries = Array.isArray(body) ? body : (body.events ?? []);
    for (const entry of entries) {
      const key = entry.event.id;
      const settled = entry.deliveries.every((d) => d.status !== 'pending');
      // Print an event once its deliveries are known, so the line says where it went.
      if (this.seenEvents.has(key) || !settled) continue;
      this.seenEvents.add(key);
      this.events.push(entry);
      if (entry.event.source.startsWith('aws.') && entry.matchedRules.length === 0) {
        this.unroutedServiceEvents++;
        continue;
      }
      this.options.print(`event  ${renderEvent(entry)}`);
    }
  }

  private async pollAutomations(): Promise<void> {
    const { AutomationExecutionMetadataList: executions = [] } = await this.options.ssm.send(
      new DescribeAutomationExecutionsCommand({ MaxResults: 50 }),
    );
    for (const execution of executions) {
      const id = execution.AutomationExecutionId;
      if (!id || this.finishedAutomations.has(id)) continue;
      const { StepExecutions: steps = [] } = await this.options.ssm.send(
        new DescribeAutomationStepExecutionsCommand({ AutomationExecutionId: id }),
      );
      const label = `${execution.DocumentName ?? 'automation'}/${id.slice(0, 8)}`;
      for (const step of steps) {
        const key = `${id}/${step.StepExecutionId ?? step.StepName}`;
        if (step.StepStatus === 'Pending' || this.stepStatus.get(key) === step.StepStatus) continue;
        this.stepStatus.set(key, step.StepStatus ?? '');
        this.options.print(`step   ${renderStep(label, step)}`);
      }
      const status = execution.AutomationExecutionStatus ?? '';
      if (!['Pending', 'InProgress', 'Waiting', 'Cancelling', 'RunbookInProgress'].includes(status)) {
        this.finishedAutomations.add(id);
        this.options.print(`auto   ${label} ${status}`);
      }
    }
  }
}
