/**
 * Least privilege from the other side: every API action a function's role grants is one its
 * deployed bundle can call. The bundles are the synthesized assets (esbuild keeps only the AWS SDK
 * commands a function imports, so the `GetParametersCommand` class is in a bundle exactly when the
 * function can send it). A grant whose command is in no bundle is a permission nothing uses.
 *
 * Grants that are not calls of their own are left out: `iam:PassRole`, tags written at creation
 * (statements conditioned on `ec2:CreateAction`), `ssm:AddTagsToResource` where the function starts
 * automations with tags, and services without an SDK command in the bundle (Logs, X-Ray, SQS:
 * Lambda's runtime and its destinations use those).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { synthesizeForSandbox } from '../../dev/synth';

type Statement = { Effect: string; Action: string | string[]; Condition?: Record<string, Record<string, unknown>> };
type Resource = { Type: string; Properties: Record<string, unknown> };

/** Services whose grants are SDK calls the functions make themselves. */
const CALLED_SERVICES = new Set([
  'autoscaling',
  'ec2',
  'events',
  'lambda',
  'scheduler',
  'secretsmanager',
  'ssm',
  'states',
  'sts',
]);

const asList = <T>(value: T | T[]): T[] => (Array.isArray(value) ? value : [value]);

let resources: Record<string, Resource>;
let assemblyDir: string;

beforeAll(async () => {
  ({ assemblyDir } = await synthesizeForSandbox({ account: '000000000000', region: 'us-east-1' }));
  const template = readdirSync(assemblyDir).find((file) => file.endsWith('.template.json')) as string;
  resources = (JSON.parse(readFileSync(join(assemblyDir, template), 'utf8')) as { Resources: Record<string, Resource> })
    .Resources;
}, 300_000);

/** The SDK command class names in a bundle directory, e.g. `GetParameter`. */
const commandsIn = (dir: string): Set<string> => {
  const names = new Set<string>();
  const visit = (path: string): void => {
    for (const entry of readdirSync(path, { withFileTypes: true })) {
      const full = join(path, entry.name);
      if (entry.isDirectory()) visit(full);
      else if (/\.m?js$/.test(entry.name)) {
        const text = readFileSync(full, 'utf8');
        // `class GetParameterCommand` unminified; minified bundles keep the name as `c(this,"GetParameterCommand")`.
        for (const match of text.matchAll(/class (\w+)Command\b|"(\w+)Command"\)/g))
          names.add((match[1] ?? match[2]) as string);
        // DeregisterImage with DeleteAssociatedSnapshots deletes the image's snapshots too: the grant
        // to delete them is kept with it (the EC2 API does the deletion, under the caller's permissions).
        if (/DeleteAssociatedSnapshots\s*:\s*(?:!0|true)/.test(text)) names.add('DeleteSnapshot');
      }
    }
  };
  visit(dir);
  return names;
};

const statementsOfRole = (roleId: string): Statement[] =>
  Object.values(resources)
    .filter((r) => r.Type === 'AWS::IAM::Policy' && JSON.stringify(r.Properties.Roles).includes(`"${roleId}"`))
    .flatMap((r) => asList((r.Properties.PolicyDocument as { Statement: Statement | Statement[] }).Statement));

describe("each function's role grants only calls its bundle makes", () => {
  it('finds a bundle for every function', () => {
    // Act
    const functions = Object.values(resources).filter((r) => r.Type === 'AWS::Lambda::Function');

    // Assess
    expect(functions.length).toBeGreaterThanOrEqual(12);
    for (const fn of functions) {
      const key = String((fn.Properties.Code as { S3Key?: string }).S3Key ?? '').replace(/\.zip$/, '');
      expect(existsSync(join(assemblyDir, `asset.${key}`)), key).toBe(true);
    }
  });

  it('grants no API action that no command in the bundle sends', () => {
    // Act
    const unused: string[] = [];
    for (const [id, fn] of Object.entries(resources)) {
      if (fn.Type !== 'AWS::Lambda::Function') continue;
      const key = String((fn.Properties.Code as { S3Key?: string }).S3Key ?? '').replace(/\.zip$/, '');
      const commands = commandsIn(join(assemblyDir, `asset.${key}`));
      const roleId = (fn.Properties.Role as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
      const statements = statementsOfRole(roleId).filter((s) => s.Effect === 'Allow');
      const startsAutomations = statements.some((s) => asList(s.Action).includes('ssm:StartAutomationExecution'));
      for (const statement of statements) {
        if (statement.Condition?.StringEquals?.['ec2:CreateAction'] !== undefined) continue;
        for (const action of asList(statement.Action)) {
          const [service = '', name = ''] = action.split(':');
          if (!CALLED_SERVICES.has(service)) continue;
          if (action === 'ssm:AddTagsToResource' && startsAutomations) continue;
          if (!commands.has(name)) unused.push(`${id}: ${action}`);
        }
      }
    }

    // Assess
    expect([...new Set(unused)].sort()).toEqual([]);
  });
});
