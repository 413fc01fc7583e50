/**
 * The least-privilege summary `npm start` ends with: the sandbox's report (every role, what it
 * used, every denial, every granted action it never used) written as JSON, and a few lines that
 * say whether the run was clean. Goal: 0 denials; every unused grant removed or justified.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { type LeastPrivilegeReport, summarizeReport } from '@bakehouse/sandbox';
import { shortName } from './render';

/** Where `npm start` writes the report of its last run (`npm run iam-report` prints it). */
export const DEFAULT_IAM_REPORT = join(import.meta.dirname, '..', '..', '.sandbox', 'iam-report.json');

/** How many denials the summary names; the JSON has them all. */
const SHOWN_DENIALS = 5;

export const writeIamReport = (report: LeastPrivilegeReport, path: string): void => {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, `${JSON.stringify(report, null, 2)}\n`);
};

/** The summary lines: totals, the first denials by role, the roles with most unused grants, and the JSON's path. */
export const renderIamSummary = (report: LeastPrivilegeReport, path: string): string[] => {
  const lines = ['\n== IAM least privilege', summarizeReport(report)];
  const denials = report.roles.flatMap((role) =>
    role.denials.map((denial) => ({ role: shortName(role.roleArn), ...denial })),
  );
  for (const denial of denials.slice(0, SHOWN_DENIALS)) {
    lines.push(
      `  denied${denial.enforced ? '' : ' (not enforced)'} ${denial.role}: ${denial.action} on ${denial.resource}`,
    );
  }
  if (denials.length > SHOWN_DENIALS) lines.push(`  … and ${denials.length - SHOWN_DENIALS} more denials`);
  const unused = report.roles
    .filter((role) => role.unusedActions > 0)
    .sort((a, b) => b.unusedActions - a.unusedActions || (a.roleArn < b.roleArn ? -1 : 1))
    .map((role) => `${shortName(role.roleArn)} ${role.unusedActions}`);
  if (unused.length > 0) lines.push(`  unused grants by role: ${unused.join(', ')}`);
  lines.push(
    denials.length === 0 ? 'no denials (goal: 0)' : `${denials.length} denial(s): the goal is 0`,
    `report: ${path}`,
  );
  return lines;
};
