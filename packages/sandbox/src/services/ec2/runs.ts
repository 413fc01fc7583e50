/**
 * When each instance was `running`: the history CloudWatch's synthesized metrics are computed
 * from (services/cloudwatch/synth.ts), kept apart from the instance records because EC2 forgets a
 * terminated instance after about an hour while CloudWatch keeps its one-minute data for 15 days
 * (CloudWatch User Guide, "Metrics concepts", metric retention).
 *
 * A run opens when a pending instance starts running (at the time its boot was due, not when the
 * sandbox's tick noticed it, so a fast clock does not shift it) and closes when StopInstances or
 * TerminateInstances takes the instance out of `running`.
 */
import type { Store, Transaction } from '../../store';
import { TIMINGS } from './lifecycle';
import { Ec2Table, type InstanceRecord } from './model';

export const INSTANCE_RUNS_TABLE = 'ec2.instanceRuns';

export interface InstanceRun {
  /** ISO, sandbox clock. */
  readonly from: string;
  /** ISO; absent while the run goes on. */
  readonly to?: string;
}

export interface InstanceRunsRecord extends Record<string, unknown> {
  readonly instanceId: string;
  readonly imageId: string;
  readonly runs: readonly InstanceRun[];
}

/** The instance entered `running` at `at`. */
export const recordRunStart = (tx: Transaction, instance: InstanceRecord, at: string): void => {
  const existing = tx.get<InstanceRunsRecord>(INSTANCE_RUNS_TABLE, instance.instanceId);
  const runs = (existing?.runs ?? []).filter((run) => run.to !== undefined);
  tx.put<InstanceRunsRecord>(INSTANCE_RUNS_TABLE, instance.instanceId, {
    instanceId: instance.instanceId,
    imageId: instance.imageId,
    runs: [...runs, { from: at }],
  });
};

/** The instance left `running` at `at` (stopping or shutting down). */
export const recordRunEnd = (tx: Transaction, instance: InstanceRecord, at: string): void => {
  const existing = tx.get<InstanceRunsRecord>(INSTANCE_RUNS_TABLE, instance.instanceId) ?? fallbackRuns(instance);
  tx.put<InstanceRunsRecord>(INSTANCE_RUNS_TABLE, instance.instanceId, {
    ...existing,
    runs: existing.runs.map((run) => (run.to === undefined ? { ...run, to: at } : run)),
  });
};

/**
 * A running instance of a store written before runs were recorded: running since its last boot
 * (launch or start) plus the pending time.
 */
const fallbackRuns = (instance: InstanceRecord): InstanceRunsRecord => ({
  instanceId: instance.instanceId,
  imageId: instance.imageId,
  runs:
    instance.state === 'running'
      ? [
          {
            from: new Date(
              Date.parse(instance.startedAt ?? instance.launchTime) + TIMINGS.pending * 1000,
            ).toISOString(),
          },
        ]
      : [],
});

/** Every instance's runs: the recorded history, and running instances that predate it. */
export const instanceRuns = (store: Store): InstanceRunsRecord[] => {
  const recorded = store.table<InstanceRunsRecord>(INSTANCE_RUNS_TABLE);
  const found = [...recorded.values()];
  for (const instance of store.table<InstanceRecord>(Ec2Table.Instances).values()) {
    if (instance.state === 'running' && !recorded.has(instance.instanceId)) found.push(fallbackRuns(instance));
  }
  return found;
};
