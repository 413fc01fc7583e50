import { Aws } from 'aws-cdk-lib';
import { describe, expect, it } from 'vitest';
import shippedConfig from '../../bakehouse.config';
import { ConfigError } from '../../functions/commons/errors';
import { type ConfigInput, loadConfig } from '../../functions/commons/families';
import { arnsOf } from '../../stacks/arns';
import {
  automationRoleStatements,
  commandDocumentsOf,
  instanceRoleArnsOf,
  kmsKeysOf,
} from '../../stacks/automation-role';
import { useScratchStacks } from './support/scratch-stack';

const scratchStack = useScratchStacks();
const stack = () => scratchStack({ env: { account: '123456789012', region: 'eu-west-1' } });

/** The shipped configuration with the first two families' KMS keys replaced. */
const withKeys = (...keys: string[]): ConfigInput => {
  const config = structuredClone(shippedConfig) as ConfigInput & { families: { builder: Record<string, unknown> }[] };
  keys.forEach((key, i) => {
    const family = config.families[i];
    if (family) family.builder = { ...family.builder, kmsKeyId: key };
  });
  return config;
};

describe('commandDocumentsOf', () => {
  it('lists the documents of the runCommand steps, once each', () => {
    // Prepare
    const document = {
      mainSteps: [
        { action: 'aws:runCommand', inputs: { DocumentName: 'AWS-RunShellScript' } },
        { action: 'aws:executeAwsApi', inputs: { Service: 'ec2', Api: 'RunInstances', DocumentName: 'ignored' } },
        { action: 'aws:runCommand', inputs: { DocumentName: 'AWS-RunShellScript' } },
        { action: 'aws:runCommand', inputs: { DocumentName: 'AWS-ConfigureAWSPackage' } },
      ],
    };

    // Act
    const names = commandDocumentsOf(document);

    // Assess
    expect(names).toEqual(['AWS-ConfigureAWSPackage', 'AWS-RunShellScript']);
  });

  it('finds none in something that is not a document', () => {
    // Assess
    expect(commandDocumentsOf(null)).toEqual([]);
    expect(commandDocumentsOf({ mainSteps: 'x' })).toEqual([]);
  });
});

describe('kmsKeysOf', () => {
  it('needs no grant for the AWS managed EBS key', () => {
    // Act
    const keys = kmsKeysOf(loadConfig(shippedConfig), arnsOf(stack()));

    // Assess
    expect(keys).toEqual({ keyArns: [], aliases: [] });
  });

  it('grants keys by ARN, by id and by alias', () => {
    // Prepare
    const config = loadConfig(
      withKeys(
        '1234abcd-12ab-34cd-56ef-1234567890ab',
        'arn:aws:kms:eu-west-1:123456789012:alias/images',
        'alias/aws/ebs',
      ),
    );
    const s = stack();

    // Act
    const keys = kmsKeysOf(config, arnsOf(s));

    // Assess
    expect(keys.aliases).toEqual(['alias/images']);
    expect(keys.keyArns.map((arn) => JSON.stringify(s.resolve(arn)))).toEqual([
      expect.stringContaining(':kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab'),
    ]);
  });
});

/** The shipped configuration with families given their own instance profile and its role's ARN. */
const withProfiles = (...profiles: (readonly [profile: string, roleArn: string] | undefined)[]): ConfigInput => {
  const config = structuredClone(shippedConfig) as ConfigInput & { families: { builder: Record<string, unknown> }[] };
  profiles.forEach((profile, i) => {
    const family = config.families[i];
    if (family && profile) {
      family.builder = { ...family.builder, instanceProfile: profile[0], instanceRoleArn: profile[1] };
    }
  });
  return config;
};

describe('instanceRoleArnsOf', () => {
  it('is empty when every family launches with the stack builder profile', () => {
    // Act
    const roles = instanceRoleArnsOf(loadConfig(shippedConfig).families, '123456789012');

    // Assess
    expect(roles).toEqual([]);
  });

  it("lists the configured role ARN of each family's own profile once, never a role named after the profile", () => {
    // Prepare
    const config = loadConfig(
      withProfiles(
        ['team-builder', 'arn:aws:iam::123456789012:role/platform/TeamBuilderRole'],
        undefined,
        ['ops-builder', 'arn:aws:iam::123456789012:role/OpsBuilderRole'],
        ['team-builder', 'arn:aws:iam::123456789012:role/platform/TeamBuilderRole'],
      ),
    );

    // Act
    const roles = instanceRoleArnsOf(config.families, '123456789012');

    // Assess
    expect(roles).toEqual([
      'arn:aws:iam::123456789012:role/OpsBuilderRole',
      'arn:aws:iam::123456789012:role/platform/TeamBuilderRole',
    ]);
  });
  it('refuses a role of another account, which EC2 could never launch with, naming the family, the field and the fix', () => {
    // Prepare
    const config = loadConfig(withProfiles(['team-builder', 'arn:aws:iam::444455556666:role/TeamBuilderRole']));

    // Act
    const act = () => instanceRoleArnsOf(config.families, '123456789012');

    // Assess
    expect(act).toThrow(ConfigError);
    expect(act).toThrow(
      /family 'al2023-base': builder\.instanceRoleArn: the role is in account 444455556666, but Bakehouse deploys to account 123456789012.*Fix: /,
    );
  });

  it('leaves the account check to deployment when the stack account is not known at synth', () => {
    // Prepare
    const config = loadConfig(withProfiles(['team-builder', 'arn:aws:iam::444455556666:role/TeamBuilderRole']));

    // Act
    const roles = instanceRoleArnsOf(config.families, Aws.ACCOUNT_ID);

    // Assess
    expect(roles).toEqual(['arn:aws:iam::444455556666:role/TeamBuilderRole']);
  });
});

describe('automationRoleStatements', () => {
  const render = (config: ConfigInput) => {
    const s = stack();
    return automationRoleStatements({
      arns: arnsOf(s),
      config: loadConfig(config),
      documents: [],
      builderRoleArns: ['arn:aws:iam::123456789012:role/builder'],
      region: 'eu-west-1',
    }).map((statement) => s.resolve(statement.toStatementJson()) as { Sid: string; Condition?: unknown });
  };

  it('uses customer keys only through EC2 in the region', () => {
    // Act
    const statements = render(withKeys('arn:aws:kms:eu-west-1:123456789012:key/abc', 'alias/images'));

    // Assess
    expect(statements.find((s) => s.Sid === 'EncryptVolumesWithKeys')?.Condition).toEqual({
      StringEquals: { 'kms:ViaService': 'ec2.eu-west-1.amazonaws.com' },
    });
    expect(statements.find((s) => s.Sid === 'EncryptVolumesWithAliasedKeys')?.Condition).toEqual({
      StringEquals: { 'kms:ViaService': 'ec2.eu-west-1.amazonaws.com' },
      'ForAnyValue:StringEquals': { 'kms:ResourceAliases': ['alias/images'] },
    });
  });

  it('has no KMS statement when every family uses the AWS managed key', () => {
    // Act
    const sids = render(shippedConfig).map((s) => s.Sid);

    // Assess
    expect(sids.filter((sid) => sid.startsWith('EncryptVolumes'))).toEqual([]);
    expect(sids).toContain('ManageBuilders');
  });

  it('launches builders only into the configured subnets and security groups', () => {
    // Act
    const launch = render(shippedConfig).find((s) => s.Sid === 'LaunchBuilderFrom');

    // Assess
    const resources = JSON.stringify(launch);
    expect(resources).toContain('subnet/subnet-0b1a2e3d4c5f60718');
    expect(resources).toContain('security-group/sg-0b1a2e3d4c5f60718');
    expect(resources).not.toContain('subnet/*');
    expect(resources).not.toContain('security-group/*');
  });
});
