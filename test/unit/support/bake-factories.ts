/**
 * Small factories for the unit tests of the bake functions. Every call returns a fresh value
 * (structuredClone of a frozen template), so no test can leak a mutation into another.
 */
import type { Context } from 'aws-lambda';
import { vi } from 'vitest';
import type { AwsTag } from '../../../functions/commons/bake-plan';
import type { BakehouseConfig, ConfigInput, FamilyInput } from '../../../functions/commons/families';
import { loadConfig } from '../../../functions/commons/families';

export const SUBNET = 'subnet-0123456789abcdef0';
export const SECURITY_GROUP = 'sg-0123456789abcdef0';
export const STATE_MACHINE_ARN = 'arn:aws:states:eu-west-1:111122223333:stateMachine:bakehouse-bake';

const LINUX_FAMILY = Object.freeze({
  name: 'al2023-base',
  os: 'linux',
  source: { ssmParameter: '/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64' },
  schedule: { cron: '0 3 ? * SUN *', timezone: 'Europe/Berlin' },
  builder: { instanceType: 'm7i.large', subnetId: SUBNET, securityGroupIds: [SECURITY_GROUP] },
  patch: { excludePackages: ['kernel-livepatch*'] },
  install: {
    packages: ['jq', 'amazon-cloudwatch-agent'],
    scripts: [{ name: 'enable agents', run: 'systemctl enable x' }],
  },
  channels: [
    { name: 'dev', promoteOn: 'baked' },
    { name: 'stable', promoteOn: 'tested' },
  ],
} satisfies FamilyInput);

const WINDOWS_FAMILY = Object.freeze({
  name: 'windows-2022-base',
  os: 'windows',
  source: { ssmParameter: '/aws/service/ami-windows-latest/Windows_Server-2022-English-Full-Base' },
  schedule: { nthWeekday: { weekday: 'TUE', nth: 2, offsetDays: 1 }, at: '04:00', timezone: 'America/New_York' },
  builder: { instanceType: 'm7i.xlarge', subnetId: SUBNET, securityGroupIds: [SECURITY_GROUP], timeoutMinutes: 240 },
  patch: { severityLevels: ['Critical', 'Important'], includeKbs: ['KB5034439'] },
  install: { chocolatey: { source: 'https://feed.example.internal/chocolatey', packages: ['7zip', 'git'] } },
} satisfies FamilyInput);

/** A Linux family built from an SSM public parameter, with a weekly cron schedule. */
export const linuxFamily = (overrides: Partial<FamilyInput> = {}): FamilyInput =>
  ({ ...structuredClone(LINUX_FAMILY), ...structuredClone(overrides) }) as FamilyInput;

/**
 * A customer managed key for families that share their images with other accounts: AWS does not
 * share an AMI whose snapshots use the AWS managed key (configuration validation refuses it).
 */
export const CUSTOMER_KEY_ARN = 'arn:aws:kms:us-east-1:000000000000:key/0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b';

/** `family` with its builder's volumes encrypted under CUSTOMER_KEY_ARN. */
export const withCustomerKey = (family: FamilyInput): FamilyInput =>
  ({ ...family, builder: { ...family.builder, kmsKeyId: CUSTOMER_KEY_ARN } }) as FamilyInput;

/** A Windows family on the "second Tuesday + 1 day" schedule, with a chocolatey feed. */
export const windowsFamily = (overrides: Partial<FamilyInput> = {}): FamilyInput =>
  ({ ...structuredClone(WINDOWS_FAMILY), ...structuredClone(overrides) }) as FamilyInput;

/** A Linux family built on another family's channel. */
export const childFamily = (parent: string, channel = 'stable', name = 'al2023-web'): FamilyInput =>
  linuxFamily({ name, source: { family: parent, channel }, schedule: undefined, channels: [{ name: 'stable' }] });

/** A Linux family whose source is the newest image matching an AMI filter. */
export const filteredFamily = (name = 'rocky-9-base'): FamilyInput =>
  linuxFamily({
    name,
    source: { amiFilter: { owners: ['792107900819'], filters: { name: ['Rocky-9-EC2-Base-*'] } } },
    schedule: undefined,
  });

export const configInput = (families: FamilyInput[] = [linuxFamily(), windowsFamily()]): ConfigInput => ({
  settings: {},
  families: structuredClone(families),
});

/** A validated configuration: the four kinds of family plan-bake resolves sources for. */
export const bakeConfig = (): BakehouseConfig =>
  loadConfig(configInput([linuxFamily(), windowsFamily(), childFamily('al2023-base'), filteredFamily('rocky-9-base')]));

/** A logger port that records calls and prints nothing. */
export const recordingLogger = () => ({ debug: vi.fn(), info: vi.fn(), warn: vi.fn(), error: vi.fn() });

/** An AWS SDK service exception as the SDK raises it: an Error whose `name` is the error code. */
export const awsError = (name: string, message = `${name} (test)`): Error =>
  Object.assign(new Error(message), { name });

export const tagValue = (tags: readonly AwsTag[], key: string): string | undefined =>
  tags.find((t) => t.Key === key)?.Value;

/** Enough of a Lambda context for middy and the Powertools logger. */
export const lambdaContext = (functionName = 'bakehouse-test'): Context => ({
  callbackWaitsForEmptyEventLoop: false,
  functionName,
  functionVersion: '$LATEST',
  invokedFunctionArn: `arn:aws:lambda:eu-west-1:111122223333:function:${functionName}`,
  memoryLimitInMB: '256',
  awsRequestId: 'c6af9ac6-7b61-11e6-9a41-93e812345678',
  logGroupName: `/aws/lambda/${functionName}`,
  logStreamName: '2026/01/14/[$LATEST]abcdef',
  getRemainingTimeInMillis: () => 30_000,
  done: () => undefined,
  fail: () => undefined,
  succeed: () => undefined,
});
