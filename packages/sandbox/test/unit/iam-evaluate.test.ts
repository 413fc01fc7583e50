/**
 * The IAM evaluator's decisions, from the cases in the IAM User Guide: "Policy evaluation logic",
 * "Policy evaluation for requests within a single account", "Cross-account policy evaluation
 * logic", "Permissions boundaries for IAM entities", "IAM JSON policy elements: NotAction /
 * NotResource / NotPrincipal / Resource", "IAM policy elements: Variables and tags".
 */
import { describe, expect, it } from 'vitest';
import {
  compilePolicy,
  type EvaluateInput,
  evaluate,
  MalformedPolicyDocumentError,
  type PolicyDocument,
  type PolicyStatement,
  type Principal,
} from '../../src/iam';

const ACCOUNT = '111111111111';
const OTHER = '222222222222';
const ROLE_ARN = `arn:aws:iam::${ACCOUNT}:role/service/bakehouse-Builder`;
const SESSION_ARN = `arn:aws:sts::${ACCOUNT}:assumed-role/bakehouse-Builder/bake-1`;
const BUCKET = 'arn:aws:s3:::amzn-s3-demo-bucket';
const OBJECT = `${BUCKET}/logs/today.txt`;

const session = (account = ACCOUNT): Principal => ({
  type: 'AssumedRole',
  arn: `arn:aws:sts::${account}:assumed-role/bakehouse-Builder/bake-1`,
  account,
  roleArn: `arn:aws:iam::${account}:role/service/bakehouse-Builder`,
});

const user = (name = 'carlossalazar', account = ACCOUNT): Principal => ({
  type: 'User',
  arn: `arn:aws:iam::${account}:user/${name}`,
  account,
});

const policy = (...statements: PolicyStatement[]): PolicyDocument => ({ Version: '2012-10-17', Statement: statements });

const allow = (action: string | string[], resource: string | string[] = '*', extra: Partial<PolicyStatement> = {}) =>
  ({ Effect: 'Allow', Action: action, Resource: resource, ...extra }) as PolicyStatement;
const deny = (action: string | string[], resource: string | string[] = '*', extra: Partial<PolicyStatement> = {}) =>
  ({ Effect: 'Deny', Action: action, Resource: resource, ...extra }) as PolicyStatement;

const input = (overrides: Partial<EvaluateInput> = {}): EvaluateInput => ({
  request: { principal: session(), action: 's3:GetObject', resource: OBJECT },
  identityPolicies: [],
  resourceAccount: ACCOUNT,
  ...overrides,
});

describe('iam evaluate: allow and deny', () => {
  it('denies implicitly when no policy applies', () => {
    // Act
    const result = evaluate(input());

    // Assess
    expect(result.decision).toBe('ImplicitDeny');
    expect(result.matched).toEqual([]);
  });

  it('allows with an identity-based Allow and names the statement that decided', () => {
    // Prepare
    const identity = compilePolicy(policy({ ...allow('s3:GetObject', `${BUCKET}/*`), Sid: 'Read' }), 'builder-read');

    // Act
    const result = evaluate(input({ identityPolicies: [identity] }));

    // Assess
    expect(result.decision).toBe('Allow');
    expect(result.matched).toEqual([
      { policy: 'builder-read', kind: 'identity', index: 0, sid: 'Read', effect: 'Allow' },
    ]);
  });

  it('an explicit Deny beats an Allow in the same policy', () => {
    const identity = policy(allow('s3:*', '*'), deny('s3:GetObject', `${BUCKET}/*`));

    const result = evaluate(input({ identityPolicies: [identity] }));

    expect(result.decision).toBe('ExplicitDeny');
    expect(result.matched).toEqual([{ policy: 'identity#0', kind: 'identity', index: 1, effect: 'Deny' }]);
  });

  it('an explicit Deny in the resource policy beats an identity Allow', () => {
    const bucketPolicy = policy(deny('s3:GetObject', `${BUCKET}/*`, { Principal: '*' }));

    const result = evaluate(input({ identityPolicies: [policy(allow('s3:*'))], resourcePolicy: bucketPolicy }));

    expect(result.decision).toBe('ExplicitDeny');
    expect(result.matched[0]?.kind).toBe('resource');
  });

  it('an explicit Deny in a permissions boundary beats everything, even a resource policy naming the session', () => {
    const result = evaluate(
      input({
        resourcePolicy: policy(allow('s3:GetObject', `${BUCKET}/*`, { Principal: { AWS: SESSION_ARN } })),
        permissionsBoundary: policy(allow('*'), deny('s3:GetObject')),
      }),
    );

    expect(result.decision).toBe('ExplicitDeny');
    expect(result.matched[0]?.kind).toBe('boundary');
  });

  it('a Deny whose condition does not hold does not deny', () => {
    const identity = policy(
      allow('s3:GetObject'),
      deny('s3:GetObject', '*', { Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
    );

    const result = evaluate(
      input({
        identityPolicies: [identity],
        request: {
          principal: session(),
          action: 's3:GetObject',
          resource: OBJECT,
          context: { 'aws:SecureTransport': true },
        },
      }),
    );

    expect(result.decision).toBe('Allow');
  });
});

describe('iam evaluate: within one account', () => {
  it('a resource policy naming the role allows without any identity policy', () => {
    const bucketPolicy = policy(allow('s3:GetObject', `${BUCKET}/*`, { Principal: { AWS: ROLE_ARN } }));

    const result = evaluate(input({ resourcePolicy: bucketPolicy }));

    expect(result.decision).toBe('Allow');
    expect(result.matched).toEqual([{ policy: 'resource', kind: 'resource', index: 0, effect: 'Allow' }]);
  });

  it('a resource policy naming the user allows carlossalazar without an identity policy', () => {
    const bucketPolicy = policy(allow('s3:PutObject', `${BUCKET}/*`, { Principal: { AWS: user().arn } }));

    const result = evaluate(
      input({ request: { principal: user(), action: 's3:PutObject', resource: OBJECT }, resourcePolicy: bucketPolicy }),
    );

    expect(result.decision).toBe('Allow');
  });

  it('a resource policy for another principal does not apply', () => {
    const bucketPolicy = policy(allow('s3:GetObject', `${BUCKET}/*`, { Principal: { AWS: user('someone-else').arn } }));

    expect(evaluate(input({ resourcePolicy: bucketPolicy })).decision).toBe('ImplicitDeny');
  });

  it('a resource policy naming the role is limited by an implicit deny in the permissions boundary', () => {
    const result = evaluate(
      input({
        resourcePolicy: policy(allow('s3:GetObject', `${BUCKET}/*`, { Principal: { AWS: ROLE_ARN } })),
        permissionsBoundary: policy(allow('ec2:*')),
      }),
    );

    expect(result.decision).toBe('ImplicitDeny');
    expect(result.reason).toMatch(/permissions boundary/);
  });

  it('a resource policy naming the role session directly is not limited by the boundary or session policies', () => {
    const result = evaluate(
      input({
        resourcePolicy: policy(allow('s3:GetObject', `${BUCKET}/*`, { Principal: { AWS: SESSION_ARN } })),
        permissionsBoundary: policy(allow('ec2:*')),
        sessionPolicies: [policy(allow('ec2:DescribeImages'))],
      }),
    );

    expect(result.decision).toBe('Allow');
    expect(result.reason).toMatch(/directly/);
  });

  it('a resource policy naming the role is limited by an implicit deny in a session policy', () => {
    const result = evaluate(
      input({
        resourcePolicy: policy(allow('s3:GetObject', `${BUCKET}/*`, { Principal: { AWS: ROLE_ARN } })),
        sessionPolicies: [policy(allow('ec2:DescribeImages'))],
      }),
    );

    expect(result.decision).toBe('ImplicitDeny');
  });

  it('an identity Allow needs the permissions boundary to allow too', () => {
    const identity = policy(allow(['s3:GetObject', 'iam:CreateUser']));
    const boundary = policy(allow('s3:*'));

    const s3 = evaluate(input({ identityPolicies: [identity], permissionsBoundary: boundary }));
    const iam = evaluate(
      input({
        identityPolicies: [identity],
        permissionsBoundary: boundary,
        request: { principal: session(), action: 'iam:CreateUser', resource: '*' },
      }),
    );

    expect(s3.decision).toBe('Allow');
    expect(iam.decision).toBe('ImplicitDeny');
  });

  it('a permissions boundary alone grants nothing', () => {
    expect(evaluate(input({ permissionsBoundary: policy(allow('*')) })).decision).toBe('ImplicitDeny');
  });

  it('session policies intersect the identity policies; any one of them allowing is enough', () => {
    const identity = policy(allow('s3:*'));

    const allowed = evaluate(
      input({ identityPolicies: [identity], sessionPolicies: [policy(allow('ec2:*')), policy(allow('s3:Get*'))] }),
    );
    const denied = evaluate(input({ identityPolicies: [identity], sessionPolicies: [policy(allow('s3:Put*'))] }));
    const grantsNothing = evaluate(input({ sessionPolicies: [policy(allow('s3:*'))] }));

    expect(allowed.decision).toBe('Allow');
    expect(denied.decision).toBe('ImplicitDeny');
    expect(grantsNothing.decision).toBe('ImplicitDeny');
  });

  it("the root user has full access to its own account's resources, except an explicit deny", () => {
    const root: Principal = { type: 'Root', arn: `arn:aws:iam::${ACCOUNT}:root`, account: ACCOUNT };

    const allowed = evaluate(input({ request: { principal: root, action: 's3:DeleteBucket', resource: BUCKET } }));
    const denied = evaluate(
      input({
        request: { principal: root, action: 's3:DeleteBucket', resource: BUCKET },
        resourcePolicy: policy(deny('s3:DeleteBucket', BUCKET, { Principal: '*' })),
      }),
    );

    expect(allowed.decision).toBe('Allow');
    expect(denied.decision).toBe('ExplicitDeny');
  });
});

describe('iam evaluate: across accounts', () => {
  const crossRequest = { principal: session(OTHER), action: 's3:GetObject', resource: OBJECT };
  const bucketPolicy = policy(allow('s3:GetObject', `${BUCKET}/*`, { Principal: { AWS: OTHER } }));
  const identity = policy(allow('s3:GetObject', `${BUCKET}/*`));

  it('allows when both the identity policy and the resource policy allow', () => {
    const result = evaluate(
      input({ request: crossRequest, identityPolicies: [identity], resourcePolicy: bucketPolicy }),
    );

    expect(result.decision).toBe('Allow');
    expect(result.matched.map((statement) => statement.kind).sort()).toEqual(['identity', 'resource']);
  });

  it('denies with only the resource policy', () => {
    const result = evaluate(input({ request: crossRequest, resourcePolicy: bucketPolicy }));

    expect(result.decision).toBe('ImplicitDeny');
    expect(result.reason).toMatch(/cross-account/);
  });

  it('denies with only the identity policy', () => {
    expect(evaluate(input({ request: crossRequest, identityPolicies: [identity] })).decision).toBe('ImplicitDeny');
  });

  it('a resource policy naming the session directly still needs the identity side across accounts', () => {
    const direct = policy(allow('s3:GetObject', `${BUCKET}/*`, { Principal: { AWS: session(OTHER).arn } }));

    expect(evaluate(input({ request: crossRequest, resourcePolicy: direct })).decision).toBe('ImplicitDeny');
  });

  it('an account named as its root ARN matches its principals', () => {
    const rootNamed = policy(
      allow('s3:GetObject', `${BUCKET}/*`, { Principal: { AWS: `arn:aws:iam::${OTHER}:root` } }),
    );

    const result = evaluate(input({ request: crossRequest, identityPolicies: [identity], resourcePolicy: rootNamed }));

    expect(result.decision).toBe('Allow');
  });

  it("the other account's permissions boundary limits its identity side", () => {
    const result = evaluate(
      input({
        request: crossRequest,
        identityPolicies: [identity],
        resourcePolicy: bucketPolicy,
        permissionsBoundary: policy(allow('ec2:*')),
      }),
    );

    expect(result.decision).toBe('ImplicitDeny');
  });
});

describe('iam evaluate: service principals', () => {
  const events: Principal = { type: 'Service', arn: 'events.amazonaws.com', account: ACCOUNT };
  const fn = `arn:aws:lambda:eu-central-1:${ACCOUNT}:function:bakehouse-dev-PlanBake`;
  const request = { principal: events, action: 'lambda:InvokeFunction', resource: fn };

  it('a service is allowed by the resource policy that names it', () => {
    const permission = policy(allow('lambda:InvokeFunction', fn, { Principal: { Service: 'events.amazonaws.com' } }));

    expect(evaluate(input({ request, resourcePolicy: permission })).decision).toBe('Allow');
  });

  it('a service is not allowed by a statement naming another service, nor without a resource policy', () => {
    const permission = policy(allow('lambda:InvokeFunction', fn, { Principal: { Service: 'sns.amazonaws.com' } }));

    expect(evaluate(input({ request, resourcePolicy: permission })).decision).toBe('ImplicitDeny');
    expect(evaluate(input({ request })).decision).toBe('ImplicitDeny');
  });
});

describe('iam evaluate: Action, NotAction, Resource, NotResource', () => {
  const identityFor = (statement: PolicyStatement) => [policy(statement)];
  const decide = (statement: PolicyStatement, action: string, resource = OBJECT) =>
    evaluate(input({ identityPolicies: identityFor(statement), request: { principal: session(), action, resource } }))
      .decision;

  it('matches actions case-insensitively', () => {
    expect(decide(allow('S3:getobject'), 's3:GetObject')).toBe('Allow');
    expect(decide(allow('s3:GetObject'), 'S3:GETOBJECT')).toBe('Allow');
  });

  it('matches action wildcards * and ?', () => {
    expect(decide(allow('s3:Get*'), 's3:GetObjectTagging')).toBe('Allow');
    expect(decide(allow('s3:*Object'), 's3:PutObject')).toBe('Allow');
    expect(decide(allow('s3:?etObject'), 's3:GetObject')).toBe('Allow');
    expect(decide(allow('s3:?etObject'), 's3:PutObjectAcl')).toBe('ImplicitDeny');
    expect(decide(allow('s3:Get*'), 'ec2:GetConsoleOutput')).toBe('ImplicitDeny');
    expect(decide(allow('*'), 'ec2:RunInstances')).toBe('Allow');
  });

  it('matches resources case-sensitively', () => {
    expect(decide(allow('s3:GetObject', `${BUCKET}/logs/*`), 's3:GetObject')).toBe('Allow');
    expect(decide(allow('s3:GetObject', `${BUCKET}/LOGS/*`), 's3:GetObject')).toBe('ImplicitDeny');
  });

  it('a resource wildcard in the sixth component crosses slashes and colons; ? is one character', () => {
    const logStream = `arn:aws:logs:eu-central-1:${ACCOUNT}:log-group:/aws/lambda/fn:log-stream:2026/12/05`;
    expect(
      decide(
        allow('logs:PutLogEvents', `arn:aws:logs:*:${ACCOUNT}:log-group:/aws/lambda/*`),
        'logs:PutLogEvents',
        logStream,
      ),
    ).toBe('Allow');
    expect(decide(allow('s3:GetObject', `${BUCKET}/logs/today.tx?`), 's3:GetObject')).toBe('Allow');
    expect(decide(allow('s3:GetObject', `${BUCKET}/logs/today.?`), 's3:GetObject')).toBe('ImplicitDeny');
  });

  it('a wildcard in one of the first five ARN components does not reach into the next', () => {
    const image = `arn:aws:ec2:eu-central-1::image/ami-0abc`;
    expect(decide(allow('ec2:DescribeImages', 'arn:aws:ec2:*:image/*'), 'ec2:DescribeImages', image)).toBe(
      'ImplicitDeny',
    );
    expect(decide(allow('ec2:DescribeImages', 'arn:aws:ec2:*::image/*'), 'ec2:DescribeImages', image)).toBe('Allow');
  });

  it('Resource "*" matches a request without resource-level permissions; an ARN pattern does not', () => {
    expect(decide(allow('ec2:DescribeImages', '*'), 'ec2:DescribeImages', '*')).toBe('Allow');
    expect(decide(allow('ec2:DescribeImages', 'arn:aws:ec2:*'), 'ec2:DescribeImages', '*')).toBe('ImplicitDeny');
  });

  it('NotAction with Allow allows every action it does not list', () => {
    const statement: PolicyStatement = { Effect: 'Allow', NotAction: 'iam:*', Resource: '*' };

    expect(decide(statement, 's3:GetObject')).toBe('Allow');
    expect(decide(statement, 'iam:CreateUser')).toBe('ImplicitDeny');
  });

  it('NotAction with Deny denies everything but the listed actions (the MFA example)', () => {
    const identity = policy(allow('*'), {
      Effect: 'Deny',
      NotAction: 'iam:*',
      Resource: '*',
      Condition: { BoolIfExists: { 'aws:MultiFactorAuthPresent': 'false' } },
    });
    const run = (action: string, mfa?: boolean) =>
      evaluate(
        input({
          identityPolicies: [identity],
          request: {
            principal: session(),
            action,
            resource: '*',
            ...(mfa === undefined ? {} : { context: { 'aws:MultiFactorAuthPresent': mfa } }),
          },
        }),
      ).decision;

    expect(run('ec2:RunInstances', false)).toBe('ExplicitDeny');
    expect(run('ec2:RunInstances')).toBe('ExplicitDeny');
    expect(run('iam:ListUsers', false)).toBe('Allow');
    expect(run('ec2:RunInstances', true)).toBe('Allow');
  });

  it('NotResource allows every resource it does not list', () => {
    const statement: PolicyStatement = { Effect: 'Allow', Action: 's3:*', NotResource: [BUCKET, `${BUCKET}/*`] };

    expect(decide(statement, 's3:GetObject', 'arn:aws:s3:::another-bucket/x')).toBe('Allow');
    expect(decide(statement, 's3:GetObject')).toBe('ImplicitDeny');
  });
});

describe('iam evaluate: NotPrincipal', () => {
  const crossSession = session(OTHER);
  const exempt = (arns: string[]) =>
    policy(allow('s3:GetObject', `${BUCKET}/*`, { Principal: { AWS: OTHER } }), {
      Effect: 'Deny',
      NotPrincipal: { AWS: arns },
      Action: 's3:*',
      Resource: [BUCKET, `${BUCKET}/*`],
    });
  const decide = (bucketPolicy: PolicyDocument, principal = crossSession, boundary?: PolicyDocument) =>
    evaluate(
      input({
        request: { principal, action: 's3:GetObject', resource: OBJECT },
        identityPolicies: [policy(allow('s3:*'))],
        resourcePolicy: bucketPolicy,
        ...(boundary === undefined ? {} : { permissionsBoundary: boundary }),
      }),
    ).decision;

  it('a Deny with NotPrincipal exempts a session listed with its role and account', () => {
    const listed = exempt([crossSession.arn, crossSession.roleArn as string, `arn:aws:iam::${OTHER}:root`]);

    expect(decide(listed)).toBe('Allow');
  });

  it('a Deny with NotPrincipal still denies a session whose account is not listed', () => {
    expect(decide(exempt([crossSession.arn, crossSession.roleArn as string]))).toBe('ExplicitDeny');
  });

  it('a Deny with NotPrincipal denies anyone not listed', () => {
    expect(decide(exempt([`arn:aws:iam::${OTHER}:user/auditor`, `arn:aws:iam::${OTHER}:root`]))).toBe('ExplicitDeny');
  });

  it('a Deny with NotPrincipal always denies a principal that has a permissions boundary', () => {
    const listed = exempt([crossSession.arn, crossSession.roleArn as string, `arn:aws:iam::${OTHER}:root`]);

    expect(decide(listed, crossSession, policy(allow('*')))).toBe('ExplicitDeny');
  });
});

describe('iam evaluate: policy variables', () => {
  const home = policy(allow('s3:*', `${BUCKET}/home/\${aws:username}/*`));
  const decide = (document: PolicyDocument, principal: Principal, resource: string) =>
    evaluate(input({ identityPolicies: [document], request: { principal, action: 's3:GetObject', resource } }))
      .decision;

  it('the aws:username variable is the IAM user name', () => {
    expect(decide(home, user('carlos'), `${BUCKET}/home/carlos/notes.txt`)).toBe('Allow');
    expect(decide(home, user('carlos'), `${BUCKET}/home/maria/notes.txt`)).toBe('ImplicitDeny');
  });

  it('a variable whose key is missing matches nothing (a role session has no aws:username)', () => {
    expect(decide(home, session(), `${BUCKET}/home/bake-1/notes.txt`)).toBe('ImplicitDeny');
  });

  it('substituted text is literal: a * in the value is not a wildcard', () => {
    expect(decide(home, user('*'), `${BUCKET}/home/carlos/notes.txt`)).toBe('ImplicitDeny');
    expect(decide(home, user('*'), `${BUCKET}/home/*/notes.txt`)).toBe('Allow');
  });

  it('an aws:PrincipalTag variable with a default, and the literal-star variable', () => {
    const byTeam = policy(allow('s3:GetObject', `${BUCKET}/\${aws:PrincipalTag/team, 'shared'}/\${*}`));
    const tagged: Principal = { ...session(), tags: { team: 'bakers' } };

    expect(decide(byTeam, tagged, `${BUCKET}/bakers/*`)).toBe('Allow');
    expect(decide(byTeam, tagged, `${BUCKET}/bakers/x`)).toBe('ImplicitDeny');
    expect(decide(byTeam, session(), `${BUCKET}/shared/*`)).toBe('Allow');
  });

  it('with Version 2008-10-17 a variable is plain text', () => {
    const old: PolicyDocument = {
      Version: '2008-10-17',
      Statement: allow('s3:*', `${BUCKET}/home/\${aws:username}/*`),
    };

    expect(decide(old, user('carlos'), `${BUCKET}/home/carlos/x`)).toBe('ImplicitDeny');
    expect(decide(old, user('carlos'), `${BUCKET}/home/\${aws:username}/x`)).toBe('Allow');
  });
});

describe('iam evaluate: malformed policies', () => {
  it('refuses an unknown effect, Action with NotAction, an unknown operator and an action without a vendor', () => {
    const bad: unknown[] = [
      { Effect: 'Permit', Action: 's3:*', Resource: '*' },
      { Effect: 'Allow', Action: 's3:*', NotAction: 'iam:*', Resource: '*' },
      { Effect: 'Allow', Action: 's3:*', Resource: '*', Condition: { StringMaybe: { 'aws:username': 'x' } } },
      { Effect: 'Allow', Action: 'GetObject', Resource: '*' },
      { Effect: 'Allow', Action: 's3:*', Resource: '*', Condition: { NullIfExists: { 'aws:username': 'true' } } },
    ];

    for (const statement of bad)
      expect(() => compilePolicy({ Statement: statement as PolicyStatement })).toThrow(MalformedPolicyDocumentError);
  });
});
