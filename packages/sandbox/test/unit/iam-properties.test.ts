/**
 * Properties of IAM evaluation that hold for every policy ("Policy evaluation logic": an explicit
 * deny overrides any allow; statements are a set, so their order never matters), checked over
 * generated policies and requests.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type EvaluateInput, evaluate, type PolicyDocument, type PolicyStatement, type Principal } from '../../src/iam';

const ACCOUNTS = ['111111111111', '222222222222'];
const ACTIONS = ['s3:GetObject', 's3:PutObject', 'ec2:RunInstances', 'sts:AssumeRole'];
const ACTION_PATTERNS = [...ACTIONS, 's3:*', '*', 's3:?etObject', 'ec2:Run*', 'S3:GETOBJECT'];
const RESOURCES = [
  'arn:aws:s3:::bucket/a.txt',
  'arn:aws:s3:::bucket/b/c.txt',
  'arn:aws:ec2:eu-central-1:111111111111:instance/i-1',
  '*',
];
const RESOURCE_PATTERNS = [...RESOURCES, 'arn:aws:s3:::bucket/*', 'arn:aws:*:*:*:*', 'arn:aws:s3:::bucket/?.txt'];

const principalArb: fc.Arbitrary<Principal> = fc.constantFrom(...ACCOUNTS).chain((account) =>
  fc.constantFrom<Principal>(
    {
      type: 'AssumedRole',
      arn: `arn:aws:sts::${account}:assumed-role/R/s`,
      account,
      roleArn: `arn:aws:iam::${account}:role/R`,
    },
    { type: 'User', arn: `arn:aws:iam::${account}:user/u`, account },
    { type: 'Service', arn: 'events.amazonaws.com', account },
  ),
);

const conditionArb = fc.option(
  fc.constantFrom(
    { StringEquals: { 'aws:RequestedRegion': 'eu-central-1' } },
    { 'ForAllValues:StringEquals': { 'aws:TagKeys': ['team'] } },
    { Null: { 'aws:TokenIssueTime': 'true' } },
    { StringNotEqualsIfExists: { 'aws:SourceAccount': '111111111111' } },
  ),
  { nil: undefined },
);

const principalElementArb = fc.constantFrom(
  '*' as const,
  { AWS: '111111111111' },
  { AWS: 'arn:aws:iam::222222222222:role/R' },
  { AWS: 'arn:aws:sts::111111111111:assumed-role/R/s' },
  { Service: 'events.amazonaws.com' },
);

const statementArb = (resourceBased: boolean): fc.Arbitrary<PolicyStatement> =>
  fc
    .record({
      effect: fc.constantFrom<'Allow' | 'Deny'>('Allow', 'Allow', 'Deny'),
      not: fc.boolean(),
      actions: fc.subarray(ACTION_PATTERNS, { minLength: 1, maxLength: 3 }),
      resources: fc.subarray(RESOURCE_PATTERNS, { minLength: 1, maxLength: 2 }),
      condition: conditionArb,
      principal: principalElementArb,
    })
    .map(({ effect, not, actions, resources, condition, principal }) => ({
      Effect: effect,
      ...(not ? { NotAction: actions } : { Action: actions }),
      Resource: resources,
      ...(condition === undefined ? {} : { Condition: condition }),
      ...(resourceBased ? { Principal: principal } : {}),
    }));

const policyArb = (resourceBased: boolean) =>
  fc
    .array(statementArb(resourceBased), { minLength: 1, maxLength: 4 })
    .map((statements): PolicyDocument => ({ Version: '2012-10-17', Statement: statements }));

const inputArb: fc.Arbitrary<EvaluateInput> = fc
  .record({
    principal: principalArb,
    action: fc.constantFrom(...ACTIONS),
    resource: fc.constantFrom(...RESOURCES),
    region: fc.constantFrom('eu-central-1', 'us-east-1'),
    tagKeys: fc.option(fc.subarray(['team', 'owner']), { nil: undefined }),
    identity: fc.array(policyArb(false), { maxLength: 2 }),
    resourcePolicy: fc.option(policyArb(true), { nil: undefined }),
    boundary: fc.option(policyArb(false), { nil: undefined }),
    session: fc.option(fc.array(policyArb(false), { minLength: 1, maxLength: 2 }), { nil: undefined }),
    resourceAccount: fc.constantFrom(...ACCOUNTS),
  })
  .map((r) => ({
    request: {
      principal: r.principal,
      action: r.action,
      resource: r.resource,
      context: { 'aws:RequestedRegion': r.region, ...(r.tagKeys === undefined ? {} : { 'aws:TagKeys': r.tagKeys }) },
    },
    identityPolicies: r.identity,
    resourceAccount: r.resourceAccount,
    ...(r.resourcePolicy === undefined ? {} : { resourcePolicy: r.resourcePolicy }),
    ...(r.boundary === undefined ? {} : { permissionsBoundary: r.boundary }),
    ...(r.session === undefined ? {} : { sessionPolicies: r.session }),
  }));

const statementsOf = (policy: PolicyDocument): PolicyStatement[] =>
  Array.isArray(policy.Statement) ? [...policy.Statement] : [policy.Statement as PolicyStatement];

const withStatements = (policy: PolicyDocument, statements: PolicyStatement[]): PolicyDocument => ({
  ...policy,
  Statement: statements,
});

describe('iam evaluate: properties', () => {
  it('adding a Deny statement that matches the request makes it an explicit deny, never an Allow', () => {
    fc.assert(
      fc.property(inputArb, fc.nat(), (input, where) => {
        // Prepare: a Deny naming exactly this action and resource, added to one identity policy
        const matchingDeny: PolicyStatement = {
          Effect: 'Deny',
          Action: input.request.action,
          Resource: input.request.resource,
        };
        const identity =
          input.identityPolicies.length === 0 ? [{ Version: '2012-10-17', Statement: [] }] : input.identityPolicies;
        const index = where % identity.length;
        const withDeny = identity.map((policy, i) =>
          i === index
            ? withStatements(policy as PolicyDocument, [...statementsOf(policy as PolicyDocument), matchingDeny])
            : policy,
        );

        // Act
        const result = evaluate({ ...input, identityPolicies: withDeny });

        // Assess
        expect(result.decision).toBe('ExplicitDeny');
      }),
      { numRuns: 300 },
    );
  });

  it('adding any Deny statement never turns a decision into Allow', () => {
    fc.assert(
      fc.property(inputArb, statementArb(false), (input, extra) => {
        const before = evaluate(input).decision;
        const deny: PolicyStatement = { ...extra, Effect: 'Deny' };
        const after = evaluate({
          ...input,
          identityPolicies: [...input.identityPolicies, { Version: '2012-10-17', Statement: [deny] }],
        }).decision;

        if (before !== 'Allow') expect(after).not.toBe('Allow');
        if (before === 'ExplicitDeny') expect(after).toBe('ExplicitDeny');
      }),
      { numRuns: 300 },
    );
  });

  it('the order of statements and of identity policies never changes the decision', () => {
    fc.assert(
      fc.property(inputArb, (input) => {
        const reverse = (policy: PolicyDocument) => withStatements(policy, statementsOf(policy).reverse());
        const reordered: EvaluateInput = {
          ...input,
          identityPolicies: [...input.identityPolicies].reverse().map((policy) => reverse(policy as PolicyDocument)),
          ...(input.resourcePolicy === undefined
            ? {}
            : { resourcePolicy: reverse(input.resourcePolicy as PolicyDocument) }),
          ...(input.sessionPolicies === undefined
            ? {}
            : { sessionPolicies: input.sessionPolicies.map((policy) => reverse(policy as PolicyDocument)) }),
        };

        expect(evaluate(reordered).decision).toBe(evaluate(input).decision);
      }),
      { numRuns: 300 },
    );
  });
});
