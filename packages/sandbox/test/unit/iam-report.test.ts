import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { leastPrivilegeReport, summarizeReport } from '../../src/authz/report';
import { Usage } from '../../src/authz/usage';
import type { PolicyDocument } from '../../src/iam';
import { IamTable, type PolicyRecord, type RoleRecord } from '../../src/services/iam/model';
import { Store } from '../../src/store';

const account = '000000000000';
const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A small stand-in for the Service Authorization Reference. */
const CATALOG: Record<string, readonly string[]> = {
  ec2: ['CreateImage', 'CreateTags', 'DeleteSnapshot', 'DescribeImages', 'DescribeInstances', 'DescribeSnapshots'],
  ssm: ['GetParameter', 'PutParameter'],
  logs: ['CreateLogStream', 'PutLogEvents'],
};
const actionsOf = (prefix: string) => CATALOG[prefix];

const role = (name: string, inline: Record<string, PolicyDocument>, attached: string[] = []): RoleRecord => ({
  account,
  roleName: name,
  roleId: `AROA${name.toUpperCase()}`,
  path: '/',
  arn: `arn:aws:iam::${account}:role/${name}`,
  createDate: '2026-12-01T00:00:00.000Z',
  assumeRolePolicyDocument: JSON.stringify({
    Version: '2012-10-17',
    Statement: [{ Effect: 'Allow', Principal: { Service: 'lambda.amazonaws.com' }, Action: 'sts:AssumeRole' }],
  }),
  maxSessionDuration: 3600,
  tags: [],
  inlinePolicies: Object.fromEntries(Object.entries(inline).map(([key, doc]) => [key, JSON.stringify(doc)])),
  attachedPolicies: attached,
});

const snapshots = `arn:aws:ec2:us-east-1:${account}:snapshot/*`;
const managedArn = `arn:aws:iam::${account}:policy/read-parameters`;
/** An AWS managed policy the sandbox does not carry (aws-managed-policies.json). */
const awsManaged = 'arn:aws:iam::aws:policy/AmazonEC2FullAccess';

/** A run: the janitor described images and deleted one snapshot, and was refused CreateTags once. */
const handMadeRun = () => {
  const store = Store.open(mkdtempSync(join(tmpdir(), 'bakehouse-report-')));
  dirs.push(store.dir);
  const janitor = role(
    'janitor',
    {
      janitor: {
        Version: '2012-10-17',
        Statement: [
          { Sid: 'Describe', Effect: 'Allow', Action: 'ec2:Describe*', Resource: '*' },
          { Sid: 'DeleteSnapshots', Effect: 'Allow', Action: ['ec2:DeleteSnapshot'], Resource: snapshots },
          { Sid: 'NoImages', Effect: 'Deny', Action: 'ec2:CreateImage', Resource: '*' },
          { Sid: 'Logs', Effect: 'Allow', Action: 'logs:*', Resource: '*' },
        ],
      },
    },
    [managedArn, awsManaged],
  );
  const idle = role('idle', {
    idle: { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'ssm:GetParameter', Resource: '*' }] },
  });
  const managed: PolicyRecord = {
    account,
    policyName: 'read-parameters',
    policyId: 'ANPAREAD',
    path: '/',
    arn: managedArn,
    createDate: '2026-12-01T00:00:00.000Z',
    document: JSON.stringify({
      Version: '2012-10-17',
      Statement: [{ Effect: 'Allow', Action: 'ssm:*', Resource: '*' }],
    }),
  };
  store.transact(0, (tx) => {
    tx.put(IamTable.Roles, `${account}:janitor`, janitor);
    tx.put(IamTable.Roles, `${account}:idle`, idle);
    tx.put(IamTable.Policies, managedArn, managed);
  });
  const usage = new Usage();
  usage.used(janitor.arn, 'ec2:DescribeImages', '*');
  usage.used(janitor.arn, 'ec2:DescribeSnapshots', '*');
  usage.used(janitor.arn, 'ec2:DeleteSnapshot', `arn:aws:ec2:us-east-1:${account}:snapshot/snap-1`);
  usage.used(janitor.arn, 'ssm:GetParameter', `arn:aws:ssm:us-east-1:${account}:parameter/bakehouse/x`);
  usage.denied(janitor.arn, {
    action: 'ec2:CreateTags',
    resource: `arn:aws:ec2:us-east-1:${account}:snapshot/snap-1`,
    reason: 'no policy allows it',
    atMs: 5,
    enforced: true,
  });
  return { store, usage, janitor, idle };
};

describe('the least-privilege report', () => {
  it('lists what each role used and every denial', () => {
    // Prepare
    const { store, usage, janitor } = handMadeRun();

    // Act
    const report = leastPrivilegeReport({ store, usage: usage.snapshot(), enforced: true, actionsOf });

    // Assess
    const entry = report.roles.find((r) => r.roleArn === janitor.arn);
    expect(entry?.used['ec2:DeleteSnapshot']).toEqual([`arn:aws:ec2:us-east-1:${account}:snapshot/snap-1`]);
    expect(entry?.denials).toEqual([
      expect.objectContaining({ action: 'ec2:CreateTags', enforced: true, reason: 'no policy allows it' }),
    ]);
  });

  it('lists, per Allow statement, the granted actions the role never used, wildcards expanded from the catalog', () => {
    // Prepare
    const { store, usage, janitor } = handMadeRun();

    // Act
    const report = leastPrivilegeReport({ store, usage: usage.snapshot(), enforced: true, actionsOf });

    // Assess: DescribeInstances is granted by Describe* and never used; the managed ssm:* grants
    // PutParameter unused; DeleteSnapshot was used; Deny statements grant nothing
    const entry = report.roles.find((r) => r.roleArn === janitor.arn);
    expect(entry?.unusedGrants).toEqual([
      {
        policy: 'janitor',
        policyType: 'inline',
        statement: 0,
        sid: 'Describe',
        granted: 3,
        unused: ['ec2:DescribeInstances'],
        unobserved: [],
      },
      {
        policy: 'janitor',
        policyType: 'inline',
        statement: 3,
        sid: 'Logs',
        granted: 2,
        unused: [],
        unobserved: ['logs:CreateLogStream', 'logs:PutLogEvents'],
      },
      {
        policy: 'read-parameters',
        policyType: 'managed',
        statement: 0,
        granted: 2,
        unused: ['ssm:PutParameter'],
        unobserved: [],
      },
    ]);
    expect(entry?.unusedActions).toBe(2);
    expect(entry?.unobservedActions).toBe(2);
  });

  it('counts an action as used by a statement only on a resource that statement grants', () => {
    // Prepare: the snapshot deleted is outside what the statement grants (another account's)
    const { store, janitor } = handMadeRun();
    const usage = new Usage();
    usage.used(janitor.arn, 'ec2:DeleteSnapshot', 'arn:aws:ec2:us-east-1:111111111111:snapshot/snap-2');

    // Act
    const report = leastPrivilegeReport({ store, usage: usage.snapshot(), enforced: true, actionsOf });

    // Assess
    const grants = report.roles.find((r) => r.roleArn === janitor.arn)?.unusedGrants ?? [];
    expect(grants.find((g) => g.sid === 'DeleteSnapshots')?.unused).toEqual(['ec2:DeleteSnapshot']);
  });

  it('lists a role that never acted with all its grants unused, and the AWS managed policies it cannot evaluate', () => {
    // Prepare
    const { store, usage, idle, janitor } = handMadeRun();

    // Act
    const report = leastPrivilegeReport({ store, usage: usage.snapshot(), enforced: true, actionsOf });

    // Assess
    const entry = report.roles.find((r) => r.roleArn === idle.arn);
    expect(entry?.used).toEqual({});
    expect(entry?.unusedGrants.map((g) => g.unused)).toEqual([['ssm:GetParameter']]);
    expect(report.roles.find((r) => r.roleArn === janitor.arn)?.unknownManaged).toEqual([awsManaged]);
  });

  it('totals roles, denials (enforced or only recorded) and unused grants, and says it in one line', () => {
    // Prepare
    const { store, usage, janitor } = handMadeRun();
    usage.denied(janitor.arn, {
      action: 'ec2:CreateImage',
      resource: '*',
      reason: 'explicit deny',
      atMs: 6,
      enforced: false,
    });

    // Act
    const report = leastPrivilegeReport({ store, usage: usage.snapshot(), enforced: false, actionsOf });

    // Assess
    expect(report.enforcement).toBe('off');
    expect(report.totals).toEqual({
      roles: 2,
      rolesThatActed: 1,
      denials: 2,
      enforcedDenials: 1,
      unusedActions: 3,
      unobservedActions: 2,
      unknownManaged: 1,
    });
    expect(summarizeReport(report)).toBe(
      'IAM (enforcement off): 2 roles (1 acted), 2 denials (1 enforced), 3 granted actions never used, 2 of services the sandbox does not authorize (Logs, X-Ray, KMS, SQS reads), 1 AWS managed policy not evaluated',
    );
  });

  it('keeps roles that acted but are not in IAM (another account), with their usage only', () => {
    // Prepare
    const { store } = handMadeRun();
    const usage = new Usage();
    usage.used('arn:aws:iam::222222222222:role/elsewhere', 'ec2:DescribeImages', '*');

    // Act
    const report = leastPrivilegeReport({ store, usage: usage.snapshot(), enforced: true, actionsOf });

    // Assess
    const entry = report.roles.find((r) => r.roleArn === 'arn:aws:iam::222222222222:role/elsewhere');
    expect(entry).toMatchObject({ inIam: false, used: { 'ec2:DescribeImages': ['*'] }, unusedGrants: [] });
  });
});
