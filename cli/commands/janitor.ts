/**
 * `bakehouse janitor [--apply] [--yes]`: invokes the deployed Janitor function (a dry run unless
 * --apply) and prints its report (the `Janitor Report` detail schema) as a table.
 */
import { InvokeCommand, type InvokeCommandOutput } from '@aws-sdk/client-lambda';
import { describeIssues, type JanitorReport, janitorReportSchema, parseContract } from '../../functions/commons/events';
import { type CommandContext, say, sayJson } from '../context';
import { CliError, UsageError } from '../errors';
import { table } from '../format';

export const JANITOR_FUNCTION_ID = 'Janitor';

const invokeJanitor = async (ctx: CommandContext, dryRun: boolean): Promise<JanitorReport> => {
  const functionName = ctx.names.function(JANITOR_FUNCTION_ID);
  let response: InvokeCommandOutput;
  try {
    response = await ctx.clients.lambda.send(
      new InvokeCommand({ FunctionName: functionName, Payload: new TextEncoder().encode(JSON.stringify({ dryRun })) }),
    );
  } catch (error) {
    if ((error as { name?: string }).name === 'ResourceNotFoundException') {
      throw new CliError(
        `the function ${functionName} does not exist. Fix: deploy stage '${ctx.stage}' with the janitor (npx sst deploy --stage ${ctx.stage}) or pass the right --stage`,
      );
    }
    throw error;
  }
  const text = response.Payload ? new TextDecoder().decode(response.Payload) : '';
  if (response.FunctionError) {
    let message = text;
    try {
      const parsed = JSON.parse(text) as { errorType?: string; errorMessage?: string };
      message = `${parsed.errorType ?? 'Error'}: ${parsed.errorMessage ?? text}`;
    } catch {}
    throw new CliError(`${functionName} failed: ${message}`);
  }
  let payload: unknown;
  try {
    payload = JSON.parse(text);
  } catch {
    throw new CliError(`${functionName} returned no report (${text.slice(0, 200)})`);
  }
  // Each field named with its problem (as rejections word them), not zod's issues as JSON.
  const parsed = parseContract(janitorReportSchema, payload);
  if (!parsed.success) {
    throw new CliError(
      `${functionName} returned an unexpected report: ${describeIssues(parsed.error)}. Fix: deploy this version of Bakehouse to stage '${ctx.stage}', or use the CLI of the version deployed there`,
    );
  }
  return parsed.data;
};

export const renderJanitorReport = (report: JanitorReport): string => {
  const go = report.items.filter((i) => i.action !== 'kept');
  const stay = report.items.filter((i) => i.action === 'kept');
  const columns = [
    { header: 'KIND', value: (i: JanitorReport['items'][number]) => i.kind },
    { header: 'ID', value: (i: JanitorReport['items'][number]) => i.id },
    { header: 'FAMILY', value: (i: JanitorReport['items'][number]) => i.family ?? '-' },
    { header: 'ACTION', value: (i: JanitorReport['items'][number]) => i.action },
    { header: 'WHY', value: (i: JanitorReport['items'][number]) => i.reason },
  ];
  const lines = [
    `janitor run ${report.runId}${report.dryRun ? ' (dry run: nothing changed)' : ''}`,
    '',
    report.dryRun ? 'would change:' : 'changed:',
    go.length === 0 ? '  nothing' : table(go, columns),
    '',
    'stays:',
    stay.length === 0 ? '  nothing' : table(stay, columns),
  ];
  if (report.itemsTruncated) lines.push('', '(the list is cut; run with --json for the function output)');
  if (!report.completed)
    lines.push('', `stopped before changing anything: ${report.stoppedBecause ?? 'no reason given'}`);
  for (const e of report.errors) lines.push(`error: ${e.resource}: ${e.error}`);
  lines.push(
    '',
    `${report.dryRun ? 'would deregister' : 'deregistered'} ${report.deregistered.length} image(s), ${report.dryRun ? 'would delete' : 'deleted'} ${report.snapshotsDeleted.length} snapshot(s)`,
  );
  return lines.join('\n');
};

export const janitorCommand = async (
  ctx: CommandContext,
  options: { apply: boolean; yes: boolean },
): Promise<number> => {
  const plan = await invokeJanitor(ctx, true);
  if (!options.apply) {
    if (ctx.json) sayJson(ctx, { report: plan });
    else say(ctx, renderJanitorReport(plan));
    return plan.completed && plan.errors.length === 0 ? 0 : 1;
  }
  if (!ctx.json) say(ctx, renderJanitorReport(plan));
  if (!options.yes) {
    if (!ctx.io.confirm) {
      throw new UsageError(
        'janitor --apply changes images and asks first, and there is no terminal to ask on. Fix: add --yes',
      );
    }
    const count = plan.deregistered.length + plan.snapshotsDeleted.length;
    if (!(await ctx.io.confirm(`apply this plan (${count} deletion(s)) to stage '${ctx.stage}'?`))) {
      throw new CliError('not applied: the answer was no');
    }
  }
  const applied = await invokeJanitor(ctx, false);
  if (ctx.json) sayJson(ctx, { plan, report: applied });
  else say(ctx, `\napplied:\n${renderJanitorReport(applied)}`);
  return applied.completed && applied.errors.length === 0 ? 0 : 1;
};
