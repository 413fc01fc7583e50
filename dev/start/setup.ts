/**
 * What `npm start` (dev/start/main.ts) loads while the stacks are synthesized: the sandbox, the
 * lifecycle and the helpers that read the provisioned sandbox. Kept apart from main.ts so that
 * loading them (about 2 s) overlaps the synthesis child process instead of preceding it.
 */
import type { GetScheduleOutput } from '@aws-sdk/client-scheduler';
import { firstOccurrence, parseExpression, type Sandbox } from '@bakehouse/sandbox';
import type { loadConfig } from '../../functions/commons/families';
import type { Outcome } from './lifecycle';

export {
  DEFAULT_ACCOUNT,
  iamReport,
  provisionFromAssembly,
  readAssemblyStack,
  startSandbox,
  summarizeProvisioning,
} from '@bakehouse/sandbox';
export { default as rawConfig } from '../../bakehouse.config';
export { Tag } from '../../functions/commons/bake-plan';
export { canaryChannelOf, loadConfig } from '../../functions/commons/families';
export { compileSchedule, isDue } from '../../functions/commons/schedule';
export { alarmStateChangeFor } from './alarm';
export { DEFAULT_IAM_REPORT, renderIamSummary, writeIamReport } from './iam';
export { runLifecycle } from './lifecycle';

/**
 * When the named schedule next fires after `nowMs` with the family due (read back from the
 * sandbox's Scheduler): a "second Tuesday + 1" schedule fires every Wednesday and ScheduleTick
 * lets only the right one through, so firings are walked until one is due.
 */
export const nextFiring = async (
  sandbox: Sandbox,
  name: string,
  group: string,
  nowMs: number,
  due: (atMs: number) => boolean,
): Promise<number> => {
  const schedule: GetScheduleOutput = await sandbox.runtime.callAws('scheduler', 'GetSchedule', {
    Name: name,
    GroupName: group,
  });
  const expression = parseExpression(schedule.ScheduleExpression ?? '');
  if (typeof expression === 'string') throw new Error(`schedule ${name}: ${expression}`);
  let after = nowMs;
  for (let i = 0; i < 60; i++) {
    const next = firstOccurrence(expression, schedule.ScheduleExpressionTimezone ?? 'UTC', { startMs: 0 }, after + 1);
    if (next === undefined) break;
    if (due(next)) return next;
    after = next;
  }
  throw new Error(`schedule ${name} is not due in its next 60 firings`);
};

/** The image a family's source names, read from the sandbox (public parameter or filter). */
export const sourceImage = async (
  sandbox: Sandbox,
  config: ReturnType<typeof loadConfig>,
  familyName: string,
): Promise<string> => {
  const family = config.families.find((f) => f.name === familyName);
  if (family && 'ssmParameter' in family.source) {
    const { Parameter } = await sandbox.runtime.callAws('ssm', 'GetParameter', { Name: family.source.ssmParameter });
    return String((Parameter as { Value?: string } | undefined)?.Value);
  }
  const { Images = [] } = await sandbox.runtime.callAws('ec2', 'DescribeImages', { Owners: ['amazon'] });
  return String((Images as { ImageId?: string }[])[0]?.ImageId);
};

export const printSummary = (outcomes: readonly Outcome[], print: (line: string) => void): void => {
  print('\n== Summary');
  const width = Math.max(...outcomes.map((o) => `${o.scenario} ${o.family}`.length));
  for (const outcome of outcomes) {
    print(
      `${outcome.ok ? 'ok  ' : 'FAIL'} ${`${outcome.scenario} ${outcome.family}`.padEnd(width)}  ${outcome.actual}${
        outcome.ok ? '' : ` (expected ${outcome.expected})`
      }  ${outcome.detail}`,
    );
  }
};
