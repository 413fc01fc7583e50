/**
 * EC2 uses a customer managed KMS key for the caller when it creates encrypted volumes and
 * snapshots: the caller needs kms:CreateGrant, Decrypt, DescribeKey and
 * GenerateDataKeyWithoutPlaintext on the key through EC2 (`kms:ViaService`), and the key policy must
 * allow it too (directly, or by naming the account). A launch the key refuses ends as AWS ends it:
 * the instance goes from pending to terminated with the state reason Client.InternalError.
 */
import {
  CopyImageCommand,
  CreateImageCommand,
  DescribeImagesCommand,
  DescribeInstancesCommand,
  DescribeVolumesCommand,
  EC2Client,
  type Instance,
  RunInstancesCommand,
} from '@aws-sdk/client-ec2';
import { CreateAliasCommand, CreateKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PolicyDocument, PolicyStatement } from '../../src/iam';
import { AL2023_X86, advance } from '../../src/testing/ec2';
import { roleSession } from '../../src/testing/iam';
import { startTestSandbox, type TestSandbox } from '../../src/testing/sandbox';

const ACCOUNT = '000000000000';
const REGION = 'us-east-1';
const ROOT = `arn:aws:iam::${ACCOUNT}:root`;
const VIA_EC2 = `ec2.${REGION}.amazonaws.com`;
const owned = (resource: string): string => `arn:aws:ec2:${REGION}:${ACCOUNT}:${resource}`;

/** What RunInstances, CreateImage and CopyImage need of EC2 itself, and the reads the tests make. */
const EC2_WORK: PolicyStatement[] = [
  {
    Effect: 'Allow',
    Action: 'ec2:RunInstances',
    Resource: [
      `arn:aws:ec2:${REGION}::image/*`,
      owned('instance/*'),
      owned('volume/*'),
      owned('network-interface/*'),
      owned('security-group/*'),
      owned('subnet/*'),
    ],
  },
  {
    Effect: 'Allow',
    Action: ['ec2:CreateImage', 'ec2:CopyImage'],
    Resource: [owned('instance/*'), `arn:aws:ec2:${REGION}::image/*`, `arn:aws:ec2:${REGION}::snapshot/*`],
  },
  { Effect: 'Allow', Action: ['ec2:Describe*'], Resource: '*' },
];

/** The KMS actions EC2 performs for the caller (EBS User Guide, "Requirements for Amazon EBS encryption"). */
const EBS_KMS_ACTIONS = [
  'kms:CreateGrant',
  'kms:Decrypt',
  'kms:DescribeKey',
  'kms:GenerateDataKeyWithoutPlaintext',
  'kms:ReEncryptFrom',
  'kms:ReEncryptTo',
];

const policy = (...statements: PolicyStatement[]): PolicyDocument => ({
  Version: '2012-10-17',
  Statement: [...EC2_WORK, ...statements],
});

const kmsViaEc2 = (resource: string | string[], condition: PolicyStatement['Condition'] = {}): PolicyStatement => ({
  Effect: 'Allow',
  Action: EBS_KMS_ACTIONS,
  Resource: resource,
  Condition: { StringEquals: { 'kms:ViaService': VIA_EC2 }, ...condition },
});

const keyPolicyNaming = (principal: string): PolicyDocument => ({
  Version: '2012-10-17',
  Statement: [{ Effect: 'Allow', Principal: { AWS: principal }, Action: 'kms:*', Resource: '*' }],
});

let sandbox: TestSandbox;
let kms: KMSClient;

beforeAll(async () => {
  sandbox = await startTestSandbox();
  kms = new KMSClient(sandbox.clientConfig);
});
afterAll(async () => sandbox.stop());

/** A key with `keyPolicy` (the default one, delegating to the account, if omitted) and its ARN. */
const newKey = async (keyPolicy?: PolicyDocument, alias?: string): Promise<string> => {
  const created = await kms.send(
    new CreateKeyCommand(
      keyPolicy === undefined ? {} : { Policy: JSON.stringify(keyPolicy), BypassPolicyLockoutSafetyCheck: true },
    ),
  );
  const metadata = created.KeyMetadata;
  if (alias !== undefined) await kms.send(new CreateAliasCommand({ AliasName: alias, TargetKeyId: metadata?.KeyId }));
  return metadata?.Arn as string;
};

const ec2As = async (roleName: string, document: PolicyDocument): Promise<EC2Client> => {
  const session = await roleSession(sandbox, { roleName, policy: document });
  return new EC2Client(session.clientConfig);
};

/** Launches with an encrypted root volume under `kmsKeyId`; returns the instance after two minutes (two ticks). */
const launchEncrypted = async (ec2: EC2Client, kmsKeyId: string): Promise<Instance> => {
  const reservation = await ec2.send(
    new RunInstancesCommand({
      ImageId: AL2023_X86,
      MinCount: 1,
      MaxCount: 1,
      InstanceType: 't3.micro',
      BlockDeviceMappings: [{ DeviceName: '/dev/xvda', Ebs: { Encrypted: true, KmsKeyId: kmsKeyId } }],
    }),
  );
  const instanceId = reservation.Instances?.[0]?.InstanceId as string;
  expect(reservation.Instances?.[0]?.State?.Name).toBe('pending');
  let described = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }));
  for (const _tick of [1, 2]) {
    await advance(sandbox, 60);
    described = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }));
  }
  return described.Reservations?.[0]?.Instances?.[0] as Instance;
};

const REFUSED = { Code: 'Client.InternalError', Message: 'Client.InternalError: Client error on launch' };

describe('RunInstances with a customer managed key', () => {
  it('launches for a role allowed the key through EC2 when the key policy delegates to the account', async () => {
    // Prepare
    const keyArn = await newKey(keyPolicyNaming(ROOT));
    const ec2 = await ec2As('kms-launcher', policy(kmsViaEc2(keyArn)));

    // Act
    const instance = await launchEncrypted(ec2, keyArn);

    // Assess
    expect(instance.State?.Name).toBe('running');
    const volumeId = instance.BlockDeviceMappings?.[0]?.Ebs?.VolumeId as string;
    const volumes = await ec2.send(new DescribeVolumesCommand({ VolumeIds: [volumeId] }));
    expect(volumes.Volumes?.[0]).toMatchObject({ Encrypted: true, KmsKeyId: keyArn });
  });

  it('terminates the instance with Client.InternalError when the key policy names only another principal', async () => {
    // Prepare
    const keyArn = await newKey(keyPolicyNaming(`arn:aws:iam::${ACCOUNT}:role/someone-else`));
    const ec2 = await ec2As('kms-not-in-key-policy', policy(kmsViaEc2(keyArn)));

    // Act
    const instance = await launchEncrypted(ec2, keyArn);

    // Assess
    expect(instance.State?.Name).toBe('terminated');
    expect(instance.StateReason).toEqual(REFUSED);
  });

  it('terminates the instance when the IAM policy allows the key only through another service (kms:ViaService)', async () => {
    // Prepare
    const keyArn = await newKey();
    const throughRds: PolicyStatement = {
      ...kmsViaEc2(keyArn),
      Condition: { StringEquals: { 'kms:ViaService': `rds.${REGION}.amazonaws.com` } },
    };
    const ec2 = await ec2As('kms-via-rds', policy(throughRds));

    // Act
    const instance = await launchEncrypted(ec2, keyArn);

    // Assess
    expect(instance.State?.Name).toBe('terminated');
    expect(instance.StateReason).toEqual(REFUSED);
  });

  it('terminates the instance when the role may not create the grant for an AWS resource (no kms:CreateGrant)', async () => {
    // Prepare
    const keyArn = await newKey();
    const withoutGrant: PolicyStatement = {
      ...kmsViaEc2(keyArn),
      Action: EBS_KMS_ACTIONS.filter((action) => action !== 'kms:CreateGrant'),
    };
    const ec2 = await ec2As('kms-without-grant', policy(withoutGrant));

    // Act
    const instance = await launchEncrypted(ec2, keyArn);

    // Assess
    expect(instance.State?.Name).toBe('terminated');
  });

  it('launches with a key named by alias when the IAM policy matches it by kms:ResourceAliases, and not with another alias', async () => {
    // Prepare
    await newKey(undefined, 'alias/bakehouse-builder');
    await newKey(undefined, 'alias/someone-elses');
    const byAlias = kmsViaEc2(`arn:aws:kms:${REGION}:${ACCOUNT}:key/*`, {
      'ForAnyValue:StringEquals': { 'kms:ResourceAliases': ['alias/bakehouse-builder'] },
    });
    const ec2 = await ec2As('kms-by-alias', policy(byAlias));

    // Act
    const allowed = await launchEncrypted(ec2, 'alias/bakehouse-builder');
    const refused = await launchEncrypted(ec2, 'alias/someone-elses');

    // Assess
    expect(allowed.State?.Name).toBe('running');
    expect(refused.State?.Name).toBe('terminated');
    expect(refused.StateReason).toEqual(REFUSED);
  });

  it('terminates the instance with Client.InvalidKMSKey.InvalidState when the key does not exist', async () => {
    // Prepare
    await newKey();
    const ec2 = await ec2As('kms-missing-key', policy(kmsViaEc2('*')));

    // Act
    const instance = await launchEncrypted(
      ec2,
      `arn:aws:kms:${REGION}:${ACCOUNT}:key/11111111-2222-4333-8444-555555555555`,
    );

    // Assess
    expect(instance.State?.Name).toBe('terminated');
    expect(instance.StateReason?.Code).toBe('Client.InvalidKMSKey.InvalidState');
  });

  it('does not check the AWS managed key alias/aws/ebs', async () => {
    // Prepare
    const ec2 = await ec2As('kms-aws-managed', policy());

    // Act
    const instance = await launchEncrypted(ec2, 'alias/aws/ebs');

    // Assess
    expect(instance.State?.Name).toBe('running');
  });
});

describe('images of volumes under a customer managed key', () => {
  it('creates an image whose snapshots carry the key, and launches from it, for a role allowed the key', async () => {
    // Prepare
    const keyArn = await newKey();
    const ec2 = await ec2As('kms-imager', policy(kmsViaEc2(keyArn)));
    const instance = await launchEncrypted(ec2, keyArn);

    // Act
    const created = await ec2.send(new CreateImageCommand({ InstanceId: instance.InstanceId, Name: 'encrypted' }));
    await advance(sandbox, 600);

    // Assess
    const image = (await ec2.send(new DescribeImagesCommand({ ImageIds: [created.ImageId as string] }))).Images?.[0];
    expect(image?.State).toBe('available');
    expect(image?.BlockDeviceMappings?.[0]?.Ebs).toMatchObject({ Encrypted: true, KmsKeyId: keyArn });
  });

  it('fails a copy encrypted with a key the role may not use: the image ends failed with Client.InternalError', async () => {
    // Prepare
    const allowedKey = await newKey();
    const refusedKey = await newKey(keyPolicyNaming(`arn:aws:iam::${ACCOUNT}:role/someone-else`));
    const ec2 = await ec2As('kms-copier', policy(kmsViaEc2([allowedKey, refusedKey])));
    const instance = await launchEncrypted(ec2, allowedKey);
    const created = await ec2.send(new CreateImageCommand({ InstanceId: instance.InstanceId, Name: 'to-copy' }));
    await advance(sandbox, 600);

    // Act
    const copy = await ec2.send(
      new CopyImageCommand({
        SourceImageId: created.ImageId,
        SourceRegion: REGION,
        Name: 'copy',
        Encrypted: true,
        KmsKeyId: refusedKey,
      }),
    );
    await advance(sandbox, 600);

    // Assess
    const image = (await ec2.send(new DescribeImagesCommand({ ImageIds: [copy.ImageId as string] }))).Images?.[0];
    expect(image?.State).toBe('failed');
    expect(image?.StateReason).toEqual(REFUSED);
  });
});
