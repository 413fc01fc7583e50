/**
 * `bakehouse bake steps <bake-id>` and `bakehouse bake cancel <bake-id>`: a bake's automation step
 * by step, and stopping a bake.
 *
 * A bake is one execution of `bakehouse-<stage>-bake` named by its bake id (bakes.ts); its
 * StartAutomation state's output names the SSM Automation execution (`automation.
 * automationExecutionId`, read from the history by `failureFromHistory`).
 *
 * `steps` reads GetAutomationExecution's StepExecutions. The fields used are the StepExecution
 * data type's (SSM API Reference, "StepExecution",
 * https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_StepExecution.html):
 * StepName, Action, StepStatus, ExecutionStartTime (absent while Pending), ExecutionEndTime (absent
 * until the step concludes), Outputs (returned values), Response and FailureMessage ("if a step
 * failed, this message explains why"). GetAutomationExecution may leave steps out
 * (StepExecutionsTruncated, https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_AutomationExecution.html);
 * then they are read with DescribeAutomationStepExecutions, paginated.
 *
 * `cancel` calls StopExecution
 * (https://docs.aws.amazon.com/step-functions/latest/apireference/API_StopExecution.html) with a
 * cause naming who cancelled. Step Functions runs no Catch for a stopped execution; the stack's
 * BakeExecutionStopped rule (stacks/stopped-bakes.ts) runs CleanUpFailedBake on the ABORTED status
 * change (functions/clean-up-failed-bake/stopped-execution.ts): it cancels the automation,
 * terminates the builder, discards unpublished images, releases the family lock and publishes
 * `Bake Failed` with `cleanup`. The CLI watches the bus for that `Bake Failed` (outcomes.ts) and
 * checks the result itself: the automation ended and no builder tagged with the bake id is left.
 */
import { DescribeInstancesCommand } from '@aws-sdk/client-ec2';
import { DescribeExecutionCommand, StopExecutionCommand } from '@aws-sdk/client-sfn';
import {
  type AutomationExecution,
  DescribeAutomationStepExecutionsCommand,
  GetAutomationExecutionCommand,
  type StepExecution,
} from '@aws-sdk/client-ssm';
import { isTerminal } from '../../functions/commons/automation-status';
import { BAKE_ID } from '../../functions/commons/bake-id';
import { BUILDER_ROLE, Tag } from '../../functions/commons/bake-plan';
import { errorNameOf } from '../../functions/commons/errors';
import { DetailType } from '../../functions/commons/events';
import { INVENTORY_STEP } from '../../functions/commons/inventory';
import { eachPage } from '../../functions/commons/pages';
import { type CommandContext, say, sayJson } from '../context';
import { CliError, UsageError } from '../errors';
import { duration, localTime, orDash, table } from '../format';
import {
  type BakeSummary,
  describeBake,
  executionArnOf,
  executionHistory,
  failureFromHistory,
  stateMachineArn,
} from './bakes';
import type { TailedEvent } from './events';
import { watchOutcomes } from './outcomes';
import { requireFamilyOfBakeId } from './shared';

/** The form of a bake id (functions/commons/bake-id.ts), for usage errors. */
export const BAKE_ID_FORM = '<family>-<32 hex>';

/**
 * Builder states that still count as running: `shutting-down` is already on its way to terminated
 * (EC2 User Guide, "Amazon EC2 instance state changes").
 */
const RUNNING_STATES = ['pending', 'running', 'stopping', 'stopped'];

/**
 * How long `cancel` waits for `Bake Failed` once the automation has ended and no builder runs. On
 * AWS the watch's new rule may miss the first events (outcomes.ts), and a watch that could not
 * start sees nothing: the state AWS shows then stands for the clean-up, and the report says
 * `Bake Failed` was not seen.
 */
export const ANNOUNCEMENT_GRACE_SECONDS = 30;

/** The bake a command names: a usage error (exit 2) names the id form for a malformed or unknown id. */
export const requireBake = async (ctx: CommandContext, bakeId: string): Promise<BakeSummary> => {
  if (!BAKE_ID.test(bakeId)) {
    throw new UsageError(
      `'${bakeId}' is not a bake id. Fix: give one as \`bakehouse bake\`, \`bakehouse status\` or \`bakehouse history <family>\` print it (${BAKE_ID_FORM})`,
      { bakeId },
    );
  }
  requireFamilyOfBakeId(ctx, bakeId);
  const bake = await describeBake(ctx, executionArnOf(await stateMachineArn(ctx), bakeId));
  if (!bake) {
    throw new UsageError(
      `no bake ${bakeId} in stage '${ctx.stage}'. Fix: give the id of a bake of this stage (${BAKE_ID_FORM}) as \`bakehouse status\` or \`bakehouse history <family>\` list them, or check --stage`,
      { bakeId },
    );
  }
  return bake;
};

/** The bake's automation execution: from its summary, else from the history (a running bake). */
const automationIdOf = async (ctx: CommandContext, bake: BakeSummary): Promise<string | null> =>
  bake.automationExecutionId ??
  failureFromHistory(await executionHistory(ctx, bake.executionArn)).automationExecutionId;

// ---------- bake steps ----------

/** One automation step, the shape `bake steps --json` prints. */
export interface AutomationStepView {
  readonly name: string;
  readonly action: string | null;
  /** SSM's StepStatus: Pending, InProgress, Waiting, Success, TimedOut, Cancelling, Cancelled, Failed… */
  readonly status: string;
  readonly startedAt: string | null;
  readonly endedAt: string | null;
  readonly durationSeconds: number | null;
  /** The step's returned values (StepExecution Outputs). */
  readonly outputs: Readonly<Record<string, readonly string[]>>;
  readonly response: string | null;
  readonly failureMessage: string | null;
}

export interface BakeSteps {
  readonly bake: Pick<BakeSummary, 'bakeId' | 'family' | 'status' | 'outcome' | 'executionArn'>;
  readonly automation: {
    readonly automationExecutionId: string;
    /** SSM's AutomationExecutionStatus; null when SSM no longer knows the execution. */
    readonly status: string | null;
    readonly documentName: string | null;
    readonly startedAt: string | null;
    readonly endedAt: string | null;
    readonly failureMessage: string | null;
  } | null;
  readonly steps: readonly AutomationStepView[];
  /** Why there are no steps (the bake never reached its automation, SSM does not know it). */
  readonly note: string | null;
}

const iso = (value: Date | undefined): string | null => (value ? new Date(value).toISOString() : null);

export const stepView = (step: StepExecution): AutomationStepView => {
  const startedAt = iso(step.ExecutionStartTime);
  const endedAt = iso(step.ExecutionEndTime);
  return {
    name: step.StepName ?? '?',
    action: step.Action ?? null,
    status: step.StepStatus ?? 'Pending',
    startedAt,
    endedAt,
    durationSeconds: startedAt && endedAt ? Math.round((Date.parse(endedAt) - Date.parse(startedAt)) / 1000) : null,
    outputs: step.Outputs ?? {},
    response: step.Response || null,
    failureMessage: step.FailureMessage || null,
  };
};

/** Every step of the automation; null when SSM does not know the execution. */
const readAutomation = async (
  ctx: CommandContext,
  automationExecutionId: string,
): Promise<{ automation: NonNullable<BakeSteps['automation']>; steps: StepExecution[] } | null> => {
  let execution: AutomationExecution | undefined;
  try {
    ({ AutomationExecution: execution } = await ctx.clients.ssm.send(
      new GetAutomationExecutionCommand({ AutomationExecutionId: automationExecutionId }),
    ));
  } catch (error) {
    if (errorNameOf(error) === 'AutomationExecutionNotFoundException') return null;
    throw error;
  }
  let steps = execution?.StepExecutions ?? [];
  if (execution?.StepExecutionsTruncated) {
    steps = [];
    for await (const page of eachPage((NextToken) =>
      ctx.clients.ssm.send(
        new DescribeAutomationStepExecutionsCommand({
          AutomationExecutionId: automationExecutionId,
          MaxResults: 50,
          NextToken,
        }),
      ),
    )) {
      steps.push(...(page.StepExecutions ?? []));
    }
  }
  return {
    automation: {
      automationExecutionId,
      status: execution?.AutomationExecutionStatus ?? null,
      documentName: execution?.DocumentName ?? null,
      startedAt: iso(execution?.ExecutionStartTime),
      endedAt: iso(execution?.ExecutionEndTime),
      failureMessage: execution?.FailureMessage || null,
    },
    steps,
  };
};

export const bakeSteps = async (ctx: CommandContext, bake: BakeSummary): Promise<BakeSteps> => {
  const summary = {
    bakeId: bake.bakeId,
    family: bake.family,
    status: bake.status,
    outcome: bake.outcome,
    executionArn: bake.executionArn,
  };
  const automationExecutionId = await automationIdOf(ctx, bake);
  if (!automationExecutionId) {
    const note =
      bake.outcome === 'skipped'
        ? `the bake was skipped: ${bake.amiId ?? 'an image'} was already baked from the same source, so no automation ran`
        : bake.outcome === 'running'
          ? 'the bake has not reached its automation yet (it is planning or starting it)'
          : `the bake ended (${bake.outcome}${bake.failedStep ? ` in ${bake.failedStep}` : ''}) before it reached its automation${bake.reason ? `: ${bake.reason}` : ''}`;
    return { bake: summary, automation: null, steps: [], note };
  }
  const read = await readAutomation(ctx, automationExecutionId);
  if (!read) {
    return {
      bake: summary,
      automation: {
        automationExecutionId,
        status: null,
        documentName: null,
        startedAt: null,
        endedAt: null,
        failureMessage: null,
      },
      steps: [],
      note: `SSM does not know automation ${automationExecutionId} (any more)`,
    };
  }
  return { bake: summary, automation: read.automation, steps: read.steps.map(stepView), note: null };
};

/**
 * A step's outputs as `key=value` pairs. The inventory step's Output is the image's package list,
 * compressed and base64-encoded (functions/commons/inventory.ts): kilobytes no one reads here, so
 * it is named and measured instead (`--json` keeps it whole).
 */
const outputText = (step: AutomationStepView): string =>
  Object.entries(step.outputs)
    .map(([key, values]) =>
      step.name === INVENTORY_STEP && key === 'Output'
        ? `${key}=<the image's package inventory, ${values.join(',').length} characters, which bakehouse diff reads>`
        : `${key}=${values.join(',')}`,
    )
    .join(' ');

export const renderBakeSteps = (view: BakeSteps): string => {
  const head = `bake ${view.bake.bakeId}: ${view.bake.outcome} (${view.bake.status})`;
  if (!view.automation) return `${head}\n${view.note ?? 'no automation'}`;
  const automation = `automation ${view.automation.automationExecutionId}: ${view.automation.status ?? 'unknown'}${view.automation.documentName ? ` (${view.automation.documentName})` : ''}`;
  if (view.steps.length === 0) return [head, automation, view.note ?? 'no steps yet'].join('\n');
  const lines = [
    head,
    automation,
    table(
      view.steps.map((step, i) => ({ step, i })),
      [
        { header: '#', value: ({ i }) => String(i + 1), align: 'right' },
        { header: 'STEP', value: ({ step }) => step.name },
        { header: 'ACTION', value: ({ step }) => orDash(step.action) },
        { header: 'STATUS', value: ({ step }) => step.status },
        { header: 'STARTED (LOCAL)', value: ({ step }) => localTime(step.startedAt) },
        { header: 'ENDED (LOCAL)', value: ({ step }) => localTime(step.endedAt) },
        { header: 'DURATION', value: ({ step }) => duration(step.durationSeconds), align: 'right' },
      ],
    ),
  ];
  // Outputs and failures are printed whole under the table (a cut failure message hides the
  // cause), a command's multi-line output indented under its step.
  const indented = (text: string) => text.trimEnd().replace(/\n/g, '\n    ');
  for (const [i, step] of view.steps.entries()) {
    if (step.failureMessage) lines.push(`${i + 1} ${step.name} failed: ${indented(step.failureMessage)}`);
    else if (Object.keys(step.outputs).length > 0)
      lines.push(`${i + 1} ${step.name} output: ${indented(outputText(step))}`);
  }
  if (view.automation.failureMessage && !view.steps.some((s) => s.failureMessage)) {
    lines.push(`automation failed: ${view.automation.failureMessage}`);
  }
  return lines.join('\n');
};

export const bakeStepsCommand = async (ctx: CommandContext, bakeId: string): Promise<number> => {
  const view = await bakeSteps(ctx, await requireBake(ctx, bakeId));
  if (ctx.json) sayJson(ctx, view);
  else say(ctx, renderBakeSteps(view));
  return 0;
};

// ---------- bake cancel ----------

export interface BuilderView {
  readonly instanceId: string;
  readonly state: string;
}

/** What `bake cancel` found, the shape `bake cancel --json` prints (`{cancel}`). */
export interface CancelReport {
  readonly bakeId: string;
  readonly family: string | null;
  readonly executionArn: string;
  /** Step Functions' status after the stop: ABORTED once cancelled. */
  readonly status: string;
  readonly cancelledBy: string;
  readonly automation: { readonly automationExecutionId: string; readonly status: string | null } | null;
  /** Every instance tagged with the bake id as its builder, and its state. */
  readonly builders: readonly BuilderView[];
  /** What the stopped-bake clean-up said in `Bake Failed` (null when it was not seen). */
  readonly cleanup: {
    readonly reason: string | null;
    readonly errors: readonly { step: string; resource: string | null; error: string }[];
    readonly builderTerminated: boolean | null;
  } | null;
  /** Stopped, the automation ended, no builder running, and the clean-up reported no error. */
  readonly clean: boolean;
}

export interface CancelOptions {
  /** How long to wait for the clean-up, in seconds. */
  readonly timeoutSeconds: number;
}

const buildersOf = async (ctx: CommandContext, bakeId: string): Promise<BuilderView[]> => {
  const builders: BuilderView[] = [];
  for await (const page of eachPage((NextToken) =>
    ctx.clients.ec2.send(
      new DescribeInstancesCommand({
        Filters: [
          { Name: `tag:${Tag.BakeId}`, Values: [bakeId] },
          { Name: `tag:${Tag.Role}`, Values: [BUILDER_ROLE] },
        ],
        MaxResults: 100,
        NextToken,
      }),
    ),
  )) {
    for (const reservation of page.Reservations ?? []) {
      for (const instance of reservation.Instances ?? []) {
        if (instance.InstanceId)
          builders.push({ instanceId: instance.InstanceId, state: instance.State?.Name ?? 'unknown' });
      }
    }
  }
  return builders;
};

const automationStatus = async (ctx: CommandContext, id: string): Promise<string | null> => {
  try {
    const { AutomationExecution } = await ctx.clients.ssm.send(
      new GetAutomationExecutionCommand({ AutomationExecutionId: id }),
    );
    return AutomationExecution?.AutomationExecutionStatus ?? null;
  } catch (error) {
    if (errorNameOf(error) === 'AutomationExecutionNotFoundException') return null;
    throw error;
  }
};

type Announcement = NonNullable<CancelReport['cleanup']> & { readonly automationExecutionId: string | null };

const announcementOf = (event: TailedEvent, bakeId: string): Announcement | undefined => {
  if (event.detailType !== DetailType.BakeFailed || event.detail.bakeId !== bakeId) return undefined;
  const cleanup = (event.detail.cleanup ?? null) as {
    errors?: Announcement['errors'];
    builderTerminated?: boolean;
  } | null;
  return {
    reason: typeof event.detail.reason === 'string' ? event.detail.reason : null,
    errors: cleanup?.errors ?? [],
    builderTerminated: typeof cleanup?.builderTerminated === 'boolean' ? cleanup.builderTerminated : null,
    automationExecutionId:
      typeof event.detail.automationExecutionId === 'string' ? event.detail.automationExecutionId : null,
  };
};

const alreadyEnded = (bake: BakeSummary): CliError => {
  const fix =
    bake.outcome === 'baked'
      ? `its image ${bake.amiId ?? ''} is baked and may be in channels already: to keep it from being launched, \`bakehouse revoke ${bake.amiId ?? '<ami-id>'} --reason <why>\``
      : `see what it did with \`bakehouse bake steps ${bake.bakeId}\``;
  return new CliError(
    `bake ${bake.bakeId} already ended (${bake.outcome}, ${bake.status}${bake.stoppedAt ? ` at ${bake.stoppedAt}` : ''}): there is nothing to cancel. Fix: ${fix.replace(/ {2}/g, ' ')}`,
    { details: { bakeId: bake.bakeId, status: bake.status, outcome: bake.outcome } },
  );
};

export const renderCancel = (report: CancelReport): string => {
  const lines = [`cancelled bake ${report.bakeId} (${report.cancelledBy}): execution ${report.status}`];
  lines.push(
    report.automation
      ? `automation ${report.automation.automationExecutionId}: ${report.automation.status ?? 'unknown to SSM'}`
      : 'automation: none started',
  );
  lines.push(
    report.builders.length === 0
      ? 'builders: none launched'
      : `builders: ${report.builders.map((b) => `${b.instanceId} (${b.state})`).join(', ')}`,
  );
  if (report.cleanup) {
    lines.push(
      report.cleanup.errors.length === 0
        ? 'clean-up: Bake Failed published, no clean-up errors'
        : `clean-up errors: ${report.cleanup.errors.map((e) => `${e.step}${e.resource ? ` (${e.resource})` : ''}: ${e.error}`).join('; ')}`,
    );
  } else lines.push('clean-up: its Bake Failed was not seen; the state above is what AWS shows');
  return lines.join('\n');
};

export const bakeCancelCommand = async (
  ctx: CommandContext,
  bakeId: string,
  options: CancelOptions,
): Promise<number> => {
  const bake = await requireBake(ctx, bakeId);
  if (bake.status !== 'RUNNING') throw alreadyEnded(bake);
  const cancelledBy = `cli:${ctx.user}`;
  // Watch from before the stop, so the clean-up's Bake Failed cannot come before the watch.
  const watch = await watchOutcomes(ctx, options.timeoutSeconds);
  try {
    await ctx.clients.sfn.send(
      new StopExecutionCommand({
        executionArn: bake.executionArn,
        error: 'BakeCancelled',
        cause: `cancelled by ${cancelledBy}`,
      }),
    );
    // A bake may end between the look and the stop: what it ended as, DescribeExecution says.
    const after = await ctx.clients.sfn.send(new DescribeExecutionCommand({ executionArn: bake.executionArn }));
    if (after.status !== 'ABORTED') {
      const ended = await describeBake(ctx, bake.executionArn);
      throw alreadyEnded(ended ?? { ...bake, status: after.status ?? 'UNKNOWN' });
    }
    if (!ctx.json) ctx.io.stderr.write(`stopped bake ${bakeId}; waiting for its clean-up…\n`);

    const deadline = Date.now() + options.timeoutSeconds * 1000;
    let automationId = await automationIdOf(ctx, bake);
    let settledSince: number | null = null;
    for (;;) {
      const announced = watch.find((event) => announcementOf(event, bakeId));
      automationId ??= announced?.automationExecutionId ?? null;
      const status = automationId ? await automationStatus(ctx, automationId) : null;
      const builders = await buildersOf(ctx, bakeId);
      const running = builders.filter((b) => RUNNING_STATES.includes(b.state));
      const automationDone = !automationId || status === null || isTerminal(status);
      const settled = automationDone && running.length === 0;
      settledSince = settled ? (settledSince ?? Date.now()) : null;
      const graceOver = settledSince !== null && Date.now() - settledSince >= ANNOUNCEMENT_GRACE_SECONDS * 1000;
      const timedOut = Date.now() >= deadline;
      if ((settled && (announced || graceOver)) || timedOut) {
        const cleanup = announced
          ? { reason: announced.reason, errors: announced.errors, builderTerminated: announced.builderTerminated }
          : null;
        const report: CancelReport = {
          bakeId,
          family: bake.family,
          executionArn: bake.executionArn,
          status: after.status,
          cancelledBy,
          automation: automationId ? { automationExecutionId: automationId, status } : null,
          builders,
          cleanup,
          clean: settled && (cleanup?.errors.length ?? 0) === 0,
        };
        if (!settled) {
          const left = [
            ...(automationDone ? [] : [`automation ${automationId} is ${status}`]),
            ...running.map((b) => `builder ${b.instanceId} is ${b.state}`),
          ];
          throw new CliError(
            `bake ${bakeId} is stopped, but its clean-up has not finished after ${options.timeoutSeconds}s: ${left.join(', ')}. Fix: check the CleanUpFailedBake function's logs and the StoppedBakes dead-letter queue (\`bakehouse overview\`); stop what is left by hand (aws ssm stop-automation-execution --automation-execution-id <id> --type Cancel, aws ec2 terminate-instances --instance-ids <id>), or let the hourly reaper terminate the builder once it expires`,
            { details: { cancel: report } },
          );
        }
        if (!report.clean) {
          throw new CliError(
            `bake ${bakeId} is stopped, but its clean-up reported errors: ${report.cleanup?.errors.map((e) => `${e.step}${e.resource ? ` (${e.resource})` : ''}: ${e.error}`).join('; ')}. Fix: see the reason in its Bake Failed; a family lock left behind is taken over as stale by the next bake, a builder left behind is terminated by the hourly reaper once it expires`,
            { details: { cancel: report } },
          );
        }
        if (ctx.json) sayJson(ctx, { cancel: report });
        else say(ctx, renderCancel(report));
        return 0;
      }
      if (ctx.signal.aborted) {
        throw new CliError(`interrupted while waiting for the clean-up of bake ${bakeId}; the bake is stopped`, {
          exitCode: 130,
        });
      }
      await ctx.sleep(ctx.pollMs);
    }
  } finally {
    await watch.close();
  }
};
