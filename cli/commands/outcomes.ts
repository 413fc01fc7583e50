/**
 * The outcome of a request a command puts on the bus (issue 18, "outcomes, not silence"): the
 * function that takes the request answers with an event, a success (`AMI Promoted`, `Revocation
 * Completed`, `Bake Started`) or a rejection (`Promotion Rejected`, `Revocation Rejected`, `Bake
 * Rejected`) carrying the reason and the fix. A command starts watching the bus before it puts the
 * request (so no answer can come before the watch), with the machinery of `events tail` (the
 * sandbox's event log; on AWS a temporary rule and SQS queue, removed by `close`), and correlates
 * the answer by the id PutEvents gave the request (`requestEventId`) or the bake id.
 *
 * On AWS a new rule may take a short time to match ("PutRule": "allow a short period of time for
 * changes to take effect", https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_PutRule.html),
 * so each command keeps its old signal (the channel parameter, the execution, the timeout) as the
 * fallback when no answer is seen.
 */

import { messageOf } from '../../functions/commons/errors';
import { splitFix } from '../../functions/commons/rejections';
import type { CommandContext } from '../context';
import { eventsTailCommand, type TailedEvent } from './events';

export interface OutcomeWatch {
  /** The first event seen so far that `match` maps to a value (events are kept in order). */
  find<T>(match: (event: TailedEvent) => T | undefined): T | undefined;
  /** Stops watching and removes what the watch made (on AWS: the rule and the queue). */
  close(): Promise<void>;
}

/** A watch that sees nothing: the command falls back to its old signal. */
const blind: OutcomeWatch = { find: () => undefined, close: async () => undefined };

/**
 * Starts watching the bus for at most `maxSeconds`; resolves once events put from now on are
 * seen. A watch that cannot start (no SQS permissions on AWS, say) is said on stderr and the
 * command goes on without it.
 */
export const watchOutcomes = async (ctx: CommandContext, maxSeconds: number): Promise<OutcomeWatch> => {
  const stop = new AbortController();
  const seen: TailedEvent[] = [];
  const ready = Promise.withResolvers<void>();
  let watching = false;
  const tail = eventsTailCommand(
    { ...ctx, signal: AbortSignal.any([ctx.signal, stop.signal]) },
    {
      forSeconds: maxSeconds,
      all: false,
      onEvent: (event) => {
        seen.push(event);
      },
      onReady: () => {
        watching = true;
        ready.resolve();
      },
    },
  ).then(
    () => ready.resolve(),
    (error: unknown) => {
      if (!ctx.json) ctx.io.stderr.write(`(not watching the bus for the outcome: ${messageOf(error)})\n`);
      ready.resolve();
    },
  );
  await ready.promise;
  if (!watching) return blind;
  return {
    find: <T>(match: (event: TailedEvent) => T | undefined): T | undefined => {
      for (const event of seen) {
        const value = match(event);
        if (value !== undefined) return value;
      }
      return undefined;
    },
    close: async () => {
      stop.abort();
      await tail;
    },
  };
};

/** A refusal as a command prints it: the reason and the fix. */
export interface Rejection {
  readonly detailType: string;
  readonly requestEventId: string | null;
  readonly reason: string;
  readonly fix: string;
}

const text = (value: unknown): string | null => (typeof value === 'string' && value.length > 0 ? value : null);

/**
 * The rejection in `event` of the request `requestEventId` (or of the bake `bakeId`), or undefined.
 * `Revocation Rejected` carries the fix inside its reason (`… Fix: …`); the others carry it apart.
 */
export const rejectionOf = (
  event: TailedEvent,
  detailType: string,
  request: { readonly eventId: string | undefined; readonly bakeId?: string },
): Rejection | undefined => {
  if (event.detailType !== detailType) return undefined;
  const { detail } = event;
  const byEvent = request.eventId !== undefined && detail.requestEventId === request.eventId;
  const byBake = request.bakeId !== undefined && detail.bakeId === request.bakeId;
  if (!byEvent && !byBake) return undefined;
  const given = splitFix(text(detail.reason) ?? 'no reason given', 'see the reason');
  return {
    detailType,
    requestEventId: text(detail.requestEventId),
    reason: given.reason,
    fix: text(detail.fix) ?? given.fix,
  };
};

/** `<reason>.\nFix: <fix>`: how every command prints a rejection. */
export const describeRejection = (rejection: Rejection): string =>
  `${rejection.reason.replace(/\.$/, '')}.\nFix: ${rejection.fix}`;

/** A target that did not follow a channel that moved (`AMI Promoted`'s `failedTargets`). */
export interface FailedTarget {
  readonly kind: string;
  readonly target: string;
  readonly reason: string;
  readonly fix: string;
}

/** The failed targets an `AMI Promoted` lists (none when the field is absent: every target moved). */
export const failedTargetsOf = (detail: Record<string, unknown>): FailedTarget[] => {
  const listed = Array.isArray(detail.failedTargets) ? detail.failedTargets : [];
  return listed.flatMap((entry: unknown) => {
    const t = (entry ?? {}) as Record<string, unknown>;
    const target = text(t.target);
    return target === null
      ? []
      : [
          {
            kind: text(t.kind) ?? 'target',
            target,
            reason: text(t.reason) ?? 'no reason given',
            fix: text(t.fix) ?? 'see the reason',
          },
        ];
  });
};

/** A partial move as a command prints it: each target that did not follow, why, and the fix. */
export const describeFailedTargets = (failed: readonly FailedTarget[]): string =>
  failed
    .map(
      (f) =>
        `  ${f.kind === 'launchTemplate' ? 'launch template' : f.kind === 'autoScalingGroup' ? 'Auto Scaling group' : f.kind} ${f.target}: ${f.reason.replace(/\.$/, '')}.\n  Fix: ${f.fix}`,
    )
    .join('\n');
