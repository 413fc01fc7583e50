/**
 * A bad family fails the stack factory before anything is built, with the family, the field and
 * the fix: what `sst deploy` and `npm run synth` print.
 */
import { describe, expect, it } from 'vitest';
import shippedConfig from '../../bakehouse.config';
import { ConfigError } from '../../functions/commons/errors';
import type { ConfigInput } from '../../functions/commons/families';
import { createBakePipeline } from '../../stacks/bake-pipeline';

type MutableFamily = Record<string, unknown> & { name: string; builder: Record<string, unknown> };

/** A fresh copy of the shipped configuration with one family changed. */
const withFamily = (name: string, change: (family: MutableFamily) => void): ConfigInput => {
  const config = structuredClone(shippedConfig) as ConfigInput & { families: MutableFamily[] };
  const family = config.families.find((f) => f.name === name);
  if (!family) throw new Error(`no family ${name} in bakehouse.config.ts`);
  change(family);
  return config;
};

const problemOf = (config: ConfigInput): string => {
  try {
    createBakePipeline(config);
  } catch (error) {
    if (error instanceof ConfigError) return error.message;
    throw error;
  }
  throw new Error('createBakePipeline accepted the configuration');
};

describe('createBakePipeline', () => {
  it('accepts the shipped configuration', () => {
    // Act
    const stack = createBakePipeline(shippedConfig);

    // Assess
    expect(stack.name).toBe('BakePipeline');
  });

  it('rejects a schedule in an unknown time zone, naming the family, the field and the fix', () => {
    // Prepare
    const config = withFamily('al2023-base', (family) => {
      family.schedule = { cron: '0 3 ? * SUN *', timezone: 'Mars/Base' };
    });

    // Act
    const message = problemOf(config);

    // Assess
    expect(message).toContain("family 'al2023-base'");
    expect(message).toContain('schedule.timezone');
    expect(message).toContain("'Mars/Base' is not an IANA time zone");
    expect(message).toMatch(/Fix: use a name such as 'Europe\/Berlin'/);
  });

  it('rejects a builder subnet that is not a subnet id', () => {
    // Prepare
    const config = withFamily('windows-2022-base', (family) => {
      family.builder = { ...family.builder, subnetId: 'my-subnet' };
    });

    // Act
    const message = problemOf(config);

    // Assess
    expect(message).toContain("family 'windows-2022-base': builder.subnetId");
    expect(message).toContain("Fix: use a subnet id such as 'subnet-0123456789abcdef0'");
  });

  it("rejects a family's own builder instance profile without its role's ARN, naming the family, the field and the fix", () => {
    // Prepare
    const config = withFamily('ubuntu-2404-base', (family) => {
      family.builder = { ...family.builder, instanceProfile: 'team-builder' };
    });

    // Act
    const message = problemOf(config);

    // Assess
    expect(message).toContain("family 'ubuntu-2404-base': builder.instanceRoleArn");
    expect(message).toContain("instance profile 'team-builder'");
    expect(message).toMatch(/Fix: .*aws iam get-instance-profile --instance-profile-name team-builder/);
  });

  it('rejects sharing images encrypted with the default aws/ebs key with other accounts, naming the family, the field and the fix', () => {
    // Prepare
    const config = withFamily('al2023-base', (family) => {
      family.distribution = { accounts: ['444455556666'] };
    });

    // Act
    const message = problemOf(config);

    // Assess
    expect(message).toContain("family 'al2023-base': builder.kmsKeyId");
    expect(message).toContain("AWS managed key 'alias/aws/ebs' (the default)");
    expect(message).toContain('444455556666');
    expect(message).toMatch(/Fix: set builder\.kmsKeyId to a customer managed KMS key/);
  });

  it('rejects a family built on a family that does not exist', () => {
    // Prepare
    const config = withFamily('al2023-web', (family) => {
      family.source = { family: 'al2023-bsae', channel: 'stable' };
    });

    // Act
    const message = problemOf(config);

    // Assess
    expect(message).toContain("family 'al2023-web': source.family: no family named 'al2023-bsae'");
    expect(message).toContain('Fix: name one of');
  });
});
