/**
 * KMS through the SDK: keys with their key policies (the default one when none is given), aliases,
 * and KMS's errors (KMS API Reference: CreateKey, DescribeKey, CreateAlias, ListAliases,
 * GetKeyPolicy, PutKeyPolicy). A role session's calls on a key need the key policy to allow them.
 */
import {
  CreateAliasCommand,
  CreateKeyCommand,
  DescribeKeyCommand,
  GetKeyPolicyCommand,
  KMSClient,
  ListAliasesCommand,
  PutKeyPolicyCommand,
} from '@aws-sdk/client-kms';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PolicyDocument } from '../../src/iam';
import { errorOf } from '../../src/testing/ec2';
import { roleSession } from '../../src/testing/iam';
import { failure, startTestSandbox, type TestSandbox } from '../../src/testing/sandbox';

const ACCOUNT = '000000000000';
const REGION = 'us-east-1';
const ROOT = `arn:aws:iam::${ACCOUNT}:root`;

/** A key policy with one statement per principal: each may do everything with the key. */
const keyPolicy = (...principals: string[]): PolicyDocument => ({
  Version: '2012-10-17',
  Statement: principals.map((principal) => ({
    Effect: 'Allow',
    Principal: { AWS: principal },
    Action: 'kms:*',
    Resource: '*',
  })),
});

let sandbox: TestSandbox;
let kms: KMSClient;

beforeAll(async () => {
  sandbox = await startTestSandbox();
  kms = new KMSClient(sandbox.clientConfig);
});
afterAll(async () => sandbox.stop());

const newKey = async (policy?: PolicyDocument): Promise<string> => {
  const created = await kms.send(
    new CreateKeyCommand({
      Description: 'test key',
      ...(policy === undefined ? {} : { Policy: JSON.stringify(policy), BypassPolicyLockoutSafetyCheck: true }),
    }),
  );
  return created.KeyMetadata?.KeyId as string;
};

describe('keys', () => {
  it('creates a symmetric customer managed key in the caller account and region', async () => {
    // Act
    const created = await kms.send(new CreateKeyCommand({ Description: 'volumes' }));

    // Assess
    const metadata = created.KeyMetadata;
    expect(metadata).toMatchObject({
      AWSAccountId: ACCOUNT,
      Description: 'volumes',
      Enabled: true,
      KeyState: 'Enabled',
      KeyManager: 'CUSTOMER',
      KeyUsage: 'ENCRYPT_DECRYPT',
      KeySpec: 'SYMMETRIC_DEFAULT',
      Origin: 'AWS_KMS',
    });
    expect(metadata?.Arn).toBe(`arn:aws:kms:${REGION}:${ACCOUNT}:key/${metadata?.KeyId}`);
    expect(metadata?.CreationDate).toBeInstanceOf(Date);
  });

  it('gives a key created without a policy the default key policy: the account root may do kms:*', async () => {
    // Prepare
    const keyId = await newKey();

    // Act
    const got = await kms.send(new GetKeyPolicyCommand({ KeyId: keyId, PolicyName: 'default' }));

    // Assess
    expect(JSON.parse(got.Policy as string)).toEqual({
      Version: '2012-10-17',
      Id: 'key-default-1',
      Statement: [
        {
          Sid: 'Enable IAM User Permissions',
          Effect: 'Allow',
          Principal: { AWS: ROOT },
          Action: 'kms:*',
          Resource: '*',
        },
      ],
    });
  });

  it('describes a key by id, key ARN, alias name and alias ARN', async () => {
    // Prepare
    const keyId = await newKey();
    await kms.send(new CreateAliasCommand({ AliasName: 'alias/describe-me', TargetKeyId: keyId }));
    const arn = `arn:aws:kms:${REGION}:${ACCOUNT}:key/${keyId}`;

    // Act
    const ids = await Promise.all(
      [keyId, arn, 'alias/describe-me', `arn:aws:kms:${REGION}:${ACCOUNT}:alias/describe-me`].map(
        async (id) => (await kms.send(new DescribeKeyCommand({ KeyId: id }))).KeyMetadata?.KeyId,
      ),
    );

    // Assess
    expect(ids).toEqual([keyId, keyId, keyId, keyId]);
  });

  it('answers NotFoundException for a key or an alias that does not exist', async () => {
    // Act
    const byId = await errorOf(kms.send(new DescribeKeyCommand({ KeyId: '11111111-2222-4333-8444-555555555555' })));
    const byAlias = await errorOf(kms.send(new DescribeKeyCommand({ KeyId: 'alias/nothing-here' })));

    // Assess
    expect(byId).toEqual({ name: 'NotFoundException', status: 400 });
    expect(byAlias).toEqual({ name: 'NotFoundException', status: 400 });
  });

  it('refuses a policy that does not parse or has a statement without a principal with MalformedPolicyDocumentException', async () => {
    // Prepare
    const noPrincipal = { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'kms:*', Resource: '*' }] };

    // Act
    const unparsable = await errorOf(kms.send(new CreateKeyCommand({ Policy: '{not json' })));
    const withoutPrincipal = await errorOf(kms.send(new CreateKeyCommand({ Policy: JSON.stringify(noPrincipal) })));

    // Assess
    expect(unparsable.name).toBe('MalformedPolicyDocumentException');
    expect(withoutPrincipal.name).toBe('MalformedPolicyDocumentException');
  });

  it('applies the lockout safety check: a policy that would not let the caller change it again is refused unless bypassed', async () => {
    // Prepare
    const other = keyPolicy(`arn:aws:iam::${ACCOUNT}:role/someone-else`);

    // Act
    const refused = await errorOf(kms.send(new CreateKeyCommand({ Policy: JSON.stringify(other) })));
    const bypassed = await kms.send(
      new CreateKeyCommand({ Policy: JSON.stringify(other), BypassPolicyLockoutSafetyCheck: true }),
    );

    // Assess
    expect(refused.name).toBe('MalformedPolicyDocumentException');
    expect(bypassed.KeyMetadata?.KeyId).toBeDefined();
  });

  it('replaces the key policy with PutKeyPolicy and returns it as given', async () => {
    // Prepare
    const keyId = await newKey();
    const policy = JSON.stringify(keyPolicy(ROOT, `arn:aws:iam::${ACCOUNT}:role/key-user`));

    // Act
    await kms.send(new PutKeyPolicyCommand({ KeyId: keyId, PolicyName: 'default', Policy: policy }));

    // Assess
    const got = await kms.send(new GetKeyPolicyCommand({ KeyId: keyId }));
    expect(got.Policy).toBe(policy);
  });
});

describe('aliases', () => {
  it('lists the aliases of a key with their ARNs and target', async () => {
    // Prepare
    const keyId = await newKey();
    await kms.send(new CreateAliasCommand({ AliasName: 'alias/listed-b', TargetKeyId: keyId }));
    await kms.send(new CreateAliasCommand({ AliasName: 'alias/listed-a', TargetKeyId: keyId }));

    // Act
    const listed = await kms.send(new ListAliasesCommand({ KeyId: keyId }));

    // Assess
    expect(listed.Aliases?.map((alias) => [alias.AliasName, alias.AliasArn, alias.TargetKeyId])).toEqual([
      ['alias/listed-a', `arn:aws:kms:${REGION}:${ACCOUNT}:alias/listed-a`, keyId],
      ['alias/listed-b', `arn:aws:kms:${REGION}:${ACCOUNT}:alias/listed-b`, keyId],
    ]);
    expect(listed.Truncated).toBe(false);
  });

  it('pages the account aliases with Limit and NextMarker', async () => {
    // Prepare
    const keyId = await newKey();
    for (const name of ['paged-1', 'paged-2', 'paged-3']) {
      await kms.send(new CreateAliasCommand({ AliasName: `alias/${name}`, TargetKeyId: keyId }));
    }

    // Act
    const first = await kms.send(new ListAliasesCommand({ KeyId: keyId, Limit: 2 }));
    const second = await kms.send(new ListAliasesCommand({ KeyId: keyId, Limit: 2, Marker: first.NextMarker }));

    // Assess
    expect(first.Aliases?.map((alias) => alias.AliasName)).toEqual(['alias/paged-1', 'alias/paged-2']);
    expect(first.Truncated).toBe(true);
    expect(second.Aliases?.map((alias) => alias.AliasName)).toEqual(['alias/paged-3']);
    expect(second.Truncated).toBe(false);
  });

  it('refuses an alias taken, a reserved or malformed name, and an unknown target with AWS codes', async () => {
    // Prepare
    const keyId = await newKey();
    await kms.send(new CreateAliasCommand({ AliasName: 'alias/taken', TargetKeyId: keyId }));

    // Act
    const taken = await errorOf(kms.send(new CreateAliasCommand({ AliasName: 'alias/taken', TargetKeyId: keyId })));
    const reserved = await errorOf(
      kms.send(new CreateAliasCommand({ AliasName: 'alias/aws/mine', TargetKeyId: keyId })),
    );
    const malformed = await errorOf(kms.send(new CreateAliasCommand({ AliasName: 'no-prefix', TargetKeyId: keyId })));
    const unknown = await errorOf(
      kms.send(
        new CreateAliasCommand({ AliasName: 'alias/orphan', TargetKeyId: '11111111-2222-4333-8444-555555555555' }),
      ),
    );

    // Assess
    expect([taken.name, reserved.name, malformed.name, unknown.name]).toEqual([
      'AlreadyExistsException',
      'InvalidAliasNameException',
      'InvalidAliasNameException',
      'NotFoundException',
    ]);
  });
});

describe('key policies decide for role sessions', () => {
  const describeAll: PolicyDocument = {
    Version: '2012-10-17',
    Statement: [{ Effect: 'Allow', Action: 'kms:DescribeKey', Resource: '*' }],
  };

  it('lets a role whose IAM policy allows DescribeKey describe a key whose policy delegates to the account', async () => {
    // Prepare
    const keyId = await newKey(keyPolicy(ROOT));
    const session = await roleSession(sandbox, { roleName: 'kms-describer', policy: describeAll });
    const asRole = new KMSClient(session.clientConfig);

    // Act
    const described = await asRole.send(new DescribeKeyCommand({ KeyId: keyId }));

    // Assess
    expect(described.KeyMetadata?.KeyId).toBe(keyId);
  });

  it('refuses the same role on a key whose policy names only another principal, whatever its IAM policy says', async () => {
    // Prepare
    const keyId = await newKey(keyPolicy(`arn:aws:iam::${ACCOUNT}:role/someone-else`));
    const session = await roleSession(sandbox, { roleName: 'kms-outsider', policy: describeAll });
    const asRole = new KMSClient(session.clientConfig);

    // Act
    const error = await failure(asRole.send(new DescribeKeyCommand({ KeyId: keyId })));

    // Assess
    expect(error.name).toBe('AccessDeniedException');
    expect(error.message).toBe(
      `User: ${session.sessionArn} is not authorized to perform: kms:DescribeKey on resource: arn:aws:kms:${REGION}:${ACCOUNT}:key/${keyId} because no resource-based policy allows the kms:DescribeKey action`,
    );
  });
});
