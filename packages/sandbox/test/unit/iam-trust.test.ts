/**
 * Role trust policies through `mayAssume`: the trust policy must itself allow ("IAM role trust
 * policies … must explicitly allow access for principals", "How AWS enforcement code logic
 * evaluates requests"), with the context keys the assuming service sets. EventBridge Scheduler sets
 * `aws:SourceAccount` and `aws:SourceArn` to the schedule GROUP's ARN (EventBridge Scheduler User
 * Guide, "Confused deputy prevention"), so a trust scoped to schedule ARNs denies every AssumeRole.
 */
import { describe, expect, it } from 'vitest';
import { mayAssume, type PolicyDocument, type Principal } from '../../src/iam';

const ACCOUNT = '123456789012';
const OTHER = '210987654321';
const REGION = 'eu-central-1';
const ROLE_ARN = `arn:aws:iam::${ACCOUNT}:role/bakehouse-dev-ScheduleRole`;
const GROUP_ARN = `arn:aws:scheduler:${REGION}:${ACCOUNT}:schedule-group/bakehouse-dev`;

const scheduler: Principal = { type: 'Service', arn: 'scheduler.amazonaws.com', account: ACCOUNT };
const schedulerContext = { 'aws:SourceAccount': ACCOUNT, 'aws:SourceArn': GROUP_ARN };

const schedulerTrust = (sourceArn: string): PolicyDocument => ({
  Version: '2012-10-17',
  Statement: [
    {
      Effect: 'Allow',
      Principal: { Service: 'scheduler.amazonaws.com' },
      Action: 'sts:AssumeRole',
      Condition: { StringEquals: { 'aws:SourceAccount': ACCOUNT }, ArnLike: { 'aws:SourceArn': sourceArn } },
    },
  ],
});

const sessionOf = (account: string): Principal => ({
  type: 'AssumedRole',
  arn: `arn:aws:sts::${account}:assumed-role/Operator/alice`,
  account,
  roleArn: `arn:aws:iam::${account}:role/Operator`,
});

const assumeAllowed: PolicyDocument = {
  Version: '2012-10-17',
  Statement: { Effect: 'Allow', Action: 'sts:AssumeRole', Resource: ROLE_ARN },
};

describe('iam trust: EventBridge Scheduler', () => {
  it('may assume a role whose trust names the schedule group ARN', () => {
    // Prepare
    const trust = schedulerTrust(GROUP_ARN);

    // Act
    const result = mayAssume({
      trustPolicy: trust,
      principal: scheduler,
      roleArn: ROLE_ARN,
      context: schedulerContext,
    });

    // Assess
    expect(result.decision).toBe('Allow');
    expect(result.matched).toEqual([{ policy: 'resource', kind: 'resource', index: 0, effect: 'Allow' }]);
  });

  it('may not assume a role whose trust names a schedule ARN pattern', () => {
    const trust = schedulerTrust(`arn:aws:scheduler:${REGION}:${ACCOUNT}:schedule/bakehouse-dev/*`);

    const result = mayAssume({
      trustPolicy: trust,
      principal: scheduler,
      roleArn: ROLE_ARN,
      context: schedulerContext,
    });

    expect(result.decision).toBe('ImplicitDeny');
  });

  it('may not assume it for another account (aws:SourceAccount) or without the context keys', () => {
    const trust = schedulerTrust(GROUP_ARN);

    const otherAccount = mayAssume({
      trustPolicy: trust,
      principal: scheduler,
      roleArn: ROLE_ARN,
      context: { ...schedulerContext, 'aws:SourceAccount': OTHER },
    });
    const noContext = mayAssume({ trustPolicy: trust, principal: scheduler, roleArn: ROLE_ARN });

    expect(otherAccount.decision).toBe('ImplicitDeny');
    expect(noContext.decision).toBe('ImplicitDeny');
  });

  it('another service may not assume a role trusting only Scheduler', () => {
    const lambda: Principal = { type: 'Service', arn: 'lambda.amazonaws.com', account: ACCOUNT };

    const result = mayAssume({ trustPolicy: schedulerTrust(GROUP_ARN), principal: lambda, context: schedulerContext });

    expect(result.decision).toBe('ImplicitDeny');
  });
});

describe('iam trust: IAM principals', () => {
  const trustNaming = (aws: string): PolicyDocument => ({
    Version: '2012-10-17',
    Statement: { Effect: 'Allow', Principal: { AWS: aws }, Action: 'sts:AssumeRole' },
  });

  it('a trust naming the caller role lets it assume within the account without an identity policy', () => {
    const caller = sessionOf(ACCOUNT);

    const result = mayAssume({
      trustPolicy: trustNaming(caller.roleArn as string),
      principal: caller,
      roleArn: ROLE_ARN,
    });

    expect(result.decision).toBe('Allow');
  });

  it('a trust naming the account needs the caller identity policy too, even within the account', () => {
    const caller = sessionOf(ACCOUNT);
    const trust = trustNaming(`arn:aws:iam::${ACCOUNT}:root`);

    const without = mayAssume({ trustPolicy: trust, principal: caller, roleArn: ROLE_ARN });
    const withPolicy = mayAssume({
      trustPolicy: trust,
      principal: caller,
      roleArn: ROLE_ARN,
      identityPolicies: [assumeAllowed],
    });

    expect(without.decision).toBe('ImplicitDeny');
    expect(withPolicy.decision).toBe('Allow');
  });

  it('across accounts both the trust and the caller identity policy must allow', () => {
    const caller = sessionOf(OTHER);
    const trust = trustNaming(OTHER);

    const trustOnly = mayAssume({ trustPolicy: trust, principal: caller, roleArn: ROLE_ARN });
    const both = mayAssume({
      trustPolicy: trust,
      principal: caller,
      roleArn: ROLE_ARN,
      identityPolicies: [assumeAllowed],
    });

    expect(trustOnly.decision).toBe('ImplicitDeny');
    expect(both.decision).toBe('Allow');
  });

  it('an identity policy alone never lets a principal assume a role the trust does not name', () => {
    const caller = sessionOf(ACCOUNT);

    const result = mayAssume({
      trustPolicy: trustNaming(`arn:aws:iam::${ACCOUNT}:role/SomeoneElse`),
      principal: caller,
      roleArn: ROLE_ARN,
      identityPolicies: [assumeAllowed],
    });

    expect(result.decision).toBe('ImplicitDeny');
    expect(result.reason).toMatch(/trust policy/);
  });

  it('an sts:ExternalId condition holds only with the right external id', () => {
    const caller = sessionOf(OTHER);
    const trust: PolicyDocument = {
      Version: '2012-10-17',
      Statement: {
        Effect: 'Allow',
        Principal: { AWS: OTHER },
        Action: 'sts:AssumeRole',
        Condition: { StringEquals: { 'sts:ExternalId': 'bakehouse-42' } },
      },
    };
    const attempt = (externalId: string) =>
      mayAssume({
        trustPolicy: trust,
        principal: caller,
        roleArn: ROLE_ARN,
        identityPolicies: [assumeAllowed],
        context: { 'sts:ExternalId': externalId },
      }).decision;

    expect(attempt('bakehouse-42')).toBe('Allow');
    expect(attempt('guess')).toBe('ImplicitDeny');
  });
});
