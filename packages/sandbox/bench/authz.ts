/**
 * What IAM enforcement costs per request, measured on the server side's own call: one
 * `Authorizer.authorize` for a role session, with the role stored in IAM as provisioning leaves it
 * (an inline policy of 15 statements, a few with conditions, and a customer managed policy). Each
 * request shape carries the checks the service's mapper makes for it: a Describe on `*`, a
 * CreateTags on an image with its tags and a tag-key condition, a RunInstances of seven checks
 * (image, instance, volume, network interface, security group, subnet, launch template) with
 * tag-on-create and PassRole. Goal (issue 13): 0.2 ms median or less.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Authorizer, type AuthzCheck, DENIAL_STYLES } from '../src/authz/authorizer';
import { loadCatalog } from '../src/authz/catalog';
import { type Caller, type SessionRecord, StsTable, sessionPrincipal } from '../src/authz/identity';
import type { PolicyDocument } from '../src/iam';
import { IamTable, type PolicyRecord, type RoleRecord } from '../src/services/iam/model';
import { Store } from '../src/store';

const ACCOUNT = '000000000000';
const REGION = 'us-east-1';
const ROLE = 'bakehouse-dev-Builder';
const ROLE_ARN = `arn:aws:iam::${ACCOUNT}:role/${ROLE}`;
const arn = (type: string, id: string, owner = ACCOUNT) => `arn:aws:ec2:${REGION}:${owner}:${type}/${id}`;
const managedTag = { StringEquals: { 'aws:ResourceTag/bakehouse:managed': 'true' } };

/** A builder-like role: 15 statements, four with conditions. */
const INLINE: PolicyDocument = {
  Version: '2012-10-17',
  Statement: [
    { Sid: 'Describe', Effect: 'Allow', Action: ['ec2:Describe*', 'autoscaling:Describe*'], Resource: '*' },
    {
      Sid: 'ReadParameters',
      Effect: 'Allow',
      Action: ['ssm:GetParameter', 'ssm:GetParameters'],
      Resource: `arn:aws:ssm:${REGION}:${ACCOUNT}:parameter/bakehouse/*`,
    },
    {
      Sid: 'PublicParameters',
      Effect: 'Allow',
      Action: 'ssm:GetParameter',
      Resource: `arn:aws:ssm:${REGION}::parameter/aws/service/*`,
    },
    {
      Sid: 'RunFromImages',
      Effect: 'Allow',
      Action: 'ec2:RunInstances',
      Resource: [
        `arn:aws:ec2:${REGION}::image/*`,
        arn('subnet', '*'),
        arn('security-group', '*'),
        arn('launch-template', '*'),
      ],
    },
    {
      Sid: 'RunTagged',
      Effect: 'Allow',
      Action: 'ec2:RunInstances',
      Resource: [arn('instance', '*'), arn('volume', '*'), arn('network-interface', '*')],
      Condition: { StringEquals: { 'aws:RequestTag/bakehouse:managed': 'true' } },
    },
    {
      Sid: 'TagOnCreate',
      Effect: 'Allow',
      Action: 'ec2:CreateTags',
      Resource: '*',
      Condition: { StringEquals: { 'ec2:CreateAction': ['RunInstances', 'CreateImage', 'CreateSnapshot'] } },
    },
    {
      Sid: 'TagManagedImages',
      Effect: 'Allow',
      Action: 'ec2:CreateTags',
      Resource: `arn:aws:ec2:${REGION}::image/*`,
      Condition: { ...managedTag, 'ForAllValues:StringLike': { 'aws:TagKeys': ['bakehouse:*'] } },
    },
    {
      Sid: 'StopManaged',
      Effect: 'Allow',
      Action: ['ec2:StopInstances', 'ec2:TerminateInstances'],
      Resource: arn('instance', '*'),
      Condition: managedTag,
    },
    { Sid: 'Images', Effect: 'Allow', Action: ['ec2:CreateImage', 'ec2:CopyImage'], Resource: '*' },
    { Sid: 'Snapshots', Effect: 'Allow', Action: 'ec2:CreateSnapshot', Resource: '*' },
    {
      Sid: 'PassBuilder',
      Effect: 'Allow',
      Action: 'iam:PassRole',
      Resource: `arn:aws:iam::${ACCOUNT}:role/bakehouse-*`,
      Condition: { StringEquals: { 'iam:PassedToService': 'ec2.amazonaws.com' } },
    },
    {
      Sid: 'Automation',
      Effect: 'Allow',
      Action: ['ssm:StartAutomationExecution', 'ssm:GetAutomationExecution'],
      Resource: '*',
    },
    {
      Sid: 'Commands',
      Effect: 'Allow',
      Action: 'ssm:SendCommand',
      Resource: [`arn:aws:ssm:${REGION}::document/AWS-RunShellScript`, arn('instance', '*')],
    },
    {
      Sid: 'Events',
      Effect: 'Allow',
      Action: 'events:PutEvents',
      Resource: `arn:aws:events:${REGION}:${ACCOUNT}:event-bus/bakehouse-dev`,
    },
    {
      Sid: 'NeverDeregisterOthers',
      Effect: 'Deny',
      Action: 'ec2:DeregisterImage',
      Resource: '*',
      Condition: { StringNotEquals: { 'aws:ResourceTag/bakehouse:managed': 'true' } },
    },
  ],
};
const MANAGED: PolicyDocument = {
  Version: '2012-10-17',
  Statement: [
    {
      Effect: 'Allow',
      Action: ['secretsmanager:GetSecretValue'],
      Resource: `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:bakehouse/*`,
    },
  ],
};

const ec2Context = (extra: Record<string, string | string[]> = {}) => ({ 'ec2:Region': REGION, ...extra });
const requestTags = { 'aws:RequestTag/bakehouse:managed': 'true', 'aws:TagKeys': ['bakehouse:managed'] };

/** Request shapes, each as the checks its mapper makes. */
const REQUESTS: Record<string, readonly AuthzCheck[]> = {
  describeImages: [{ action: 'ec2:DescribeImages', resource: '*' }],
  createTagsOnImage: [
    {
      action: 'ec2:CreateTags',
      resource: `arn:aws:ec2:${REGION}::image/ami-0123456789abcdef0`,
      resourceAccount: ACCOUNT,
      context: ec2Context({
        'aws:ResourceTag/bakehouse:managed': 'true',
        'ec2:ResourceTag/bakehouse:managed': 'true',
        'aws:TagKeys': ['bakehouse:stage'],
        'aws:RequestTag/bakehouse:stage': 'tested',
      }),
    },
  ],
  runInstances: [
    {
      action: 'ec2:RunInstances',
      resource: `arn:aws:ec2:${REGION}::image/ami-0123456789abcdef0`,
      resourceAccount: ACCOUNT,
      context: ec2Context(),
    },
    { action: 'ec2:RunInstances', resource: arn('instance', '*'), context: ec2Context(requestTags) },
    { action: 'ec2:RunInstances', resource: arn('volume', '*'), context: ec2Context(requestTags) },
    { action: 'ec2:RunInstances', resource: arn('network-interface', '*'), context: ec2Context(requestTags) },
    { action: 'ec2:RunInstances', resource: arn('security-group', 'sg-0123456789abcdef0'), context: ec2Context() },
    { action: 'ec2:RunInstances', resource: arn('subnet', 'subnet-0123456789abcdef0'), context: ec2Context() },
    { action: 'ec2:RunInstances', resource: arn('launch-template', 'lt-0123456789abcdef0'), context: ec2Context() },
    {
      action: 'ec2:CreateTags',
      resource: arn('instance', '*'),
      context: ec2Context({ ...requestTags, 'ec2:CreateAction': 'RunInstances' }),
    },
    {
      action: 'iam:PassRole',
      resource: `arn:aws:iam::${ACCOUNT}:role/bakehouse-dev-BuilderInstance`,
      context: { 'iam:PassedToService': 'ec2.amazonaws.com' },
    },
  ],
  getParameter: [
    { action: 'ssm:GetParameter', resource: `arn:aws:ssm:${REGION}:${ACCOUNT}:parameter/bakehouse/al2023-base/stable` },
  ],
};

const percentile = (sorted: readonly number[], p: number): number =>
  sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))] as number;
const micro = (ms: number): number => Math.round(ms * 10_000) / 10; // ms → µs, one decimal

/** Median and p99 (µs) of one authorize call per request shape, and over all shapes mixed. */
export const authorizationBench = async (iterations = 20_000) => {
  const dir = mkdtempSync(join(tmpdir(), 'bakehouse-bench-authz-'));
  const store = Store.open(dir);
  try {
    const managedArn = `arn:aws:iam::${ACCOUNT}:policy/bakehouse-secrets`;
    const role: RoleRecord = {
      account: ACCOUNT,
      roleName: ROLE,
      roleId: 'AROABENCH',
      path: '/',
      arn: ROLE_ARN,
      createDate: new Date(0).toISOString(),
      assumeRolePolicyDocument: JSON.stringify({
        Version: '2012-10-17',
        Statement: [{ Effect: 'Allow', Principal: { Service: 'lambda.amazonaws.com' }, Action: 'sts:AssumeRole' }],
      }),
      maxSessionDuration: 3600,
      tags: [],
      inlinePolicies: { builder: JSON.stringify(INLINE) },
      attachedPolicies: [managedArn, 'arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole'],
    };
    const policy: PolicyRecord = {
      account: ACCOUNT,
      policyName: 'bakehouse-secrets',
      policyId: 'ANPABENCH',
      path: '/',
      arn: managedArn,
      createDate: new Date(0).toISOString(),
      document: JSON.stringify(MANAGED),
    };
    const session: SessionRecord = {
      accessKeyId: 'ASIABENCH0000000000',
      secretAccessKey: 'bench',
      sessionToken: 'bench',
      account: ACCOUNT,
      roleArn: ROLE_ARN,
      roleName: ROLE,
      sessionName: 'bench',
      assumedBy: 'lambda.amazonaws.com',
    };
    store.transact(0, (tx) => {
      tx.put(IamTable.Roles, `${ACCOUNT}:${ROLE}`, role);
      tx.put(IamTable.Policies, managedArn, policy);
      tx.put(StsTable.Sessions, session.accessKeyId, session);
    });
    const caller: Caller = { kind: 'role-session', principal: sessionPrincipal(session), session };
    const authorizer = new Authorizer(true, await loadCatalog());
    const once = (checks: readonly AuthzCheck[]): number => {
      const started = performance.now();
      authorizer.authorize(store, ACCOUNT, caller, checks, DENIAL_STYLES.ec2, 0);
      return performance.now() - started;
    };
    // Every shape is allowed: a denial would throw and measure the error path instead.
    for (const checks of Object.values(REQUESTS)) once(checks);
    for (let i = 0; i < 2_000; i++) for (const checks of Object.values(REQUESTS)) once(checks);

    const shapes = Object.entries(REQUESTS);
    const all: number[] = [];
    const byShape: Record<string, number[]> = Object.fromEntries(shapes.map(([name]) => [name, []]));
    for (let i = 0; i < iterations; i++) {
      const [name, checks] = shapes[i % shapes.length] as [string, readonly AuthzCheck[]];
      const ms = once(checks);
      all.push(ms);
      byShape[name]?.push(ms);
    }
    const stats = (samples: number[]) => {
      const sorted = [...samples].sort((a, b) => a - b);
      return { medianUs: micro(percentile(sorted, 50)), p99Us: micro(percentile(sorted, 99)) };
    };
    return {
      role: {
        statements: 16,
        conditions: 6,
        policies: 'inline (15 statements) + customer managed (1) + 1 AWS managed',
      },
      requests: iterations,
      mixed: { ...stats(all), goalMedianUs: 200 },
      byRequest: Object.fromEntries(
        shapes.map(([name, checks]) => [name, { checks: checks.length, ...stats(byShape[name] ?? []) }]),
      ),
    };
  } finally {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  }
};
