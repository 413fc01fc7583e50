/**
 * `bakehouse diff <a> <b>` through `main`, against mocked AWS: the state table named by
 * WaitForAutomation's environment, the two inventory items read consistently, channels resolved
 * through their parameters, and each error naming the image and the fix.
 */
import { gzipSync } from 'node:zlib';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DescribeImagesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { GetFunctionConfigurationCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import type { Clients } from '../../cli/context';
import { loadConfig } from '../../functions/commons/families';
import { awsError, configInput, linuxFamily, windowsFamily } from './support/bake-factories';
import { cliRunner } from './support/cli';

const ssm = new SSMClient({ region: 'eu-west-1' });
const ec2 = new EC2Client({ region: 'eu-west-1' });
const lambda = new LambdaClient({ region: 'eu-west-1' });
const dynamodb = new DynamoDBClient({ region: 'eu-west-1' });
const ssmMock = mockClient(ssm);
const ec2Mock = mockClient(ec2);
const lambdaMock = mockClient(lambda);
const table = mockClient(DynamoDBDocumentClient);

const TABLE = 'dev-bakehouse-BakePipeline-StateTable0A1B2C3D-XYZ';
const OLD = 'ami-0a0000000000000a1';
const NEW = 'ami-0b0000000000000b1';
const WIN = 'ami-0c0000000000000c1';

const encode = (lines: readonly string[]) => ({
  count: lines.length,
  gzipBase64: gzipSync(Buffer.from(lines.map((l) => `${l}\n`).join(''))).toString('base64'),
});

const item = (imageId: string, overrides: Record<string, unknown> = {}) => ({
  pk: `image#${imageId}#inventory`,
  format: 1,
  imageId,
  family: 'al2023-base',
  bakeId: `al2023-base-${imageId.slice(-4)}`,
  automationExecutionId: 'a-1',
  recordedAt: '2026-12-01T10:00:00.000Z',
  os: 'linux',
  ...overrides,
});

const OLD_ITEM = item(OLD, {
  release: '2023.9.20261101.0',
  packages: encode([
    'curl-minimal 8.5.0-1.amzn2023.0.4.x86_64',
    'glibc 2.34-196.amzn2023.0.1.x86_64',
    'vim-minimal 9.1.1418-1.amzn2023.0.1.x86_64',
  ]),
});
const NEW_ITEM = item(NEW, {
  release: '2023.9.20261122.0',
  packages: encode([
    'curl-minimal 8.11.1-4.amzn2023.0.1.x86_64',
    'glibc 2.34-196.amzn2023.0.2.x86_64',
    'jq 1.7.1-49.amzn2023.0.2.x86_64',
  ]),
});

const givenItems = (...items: Record<string, unknown>[]) => {
  table.on(GetCommand).resolves({});
  for (const found of items)
    table.on(GetCommand, { TableName: TABLE, Key: { pk: found.pk } }).resolves({ Item: found });
};

const cli = cliRunner(() => ({
  config: loadConfig(configInput([linuxFamily(), windowsFamily()])),
  clients: () => ({ ssm, ec2, lambda, dynamodb }) as unknown as Clients,
}));

beforeEach(() => {
  ssmMock.reset();
  ec2Mock.reset();
  lambdaMock.reset();
  table.reset();
  lambdaMock
    .on(GetFunctionConfigurationCommand, { FunctionName: 'bakehouse-dev-WaitForAutomation' })
    .resolves({ Environment: { Variables: { STATE_TABLE_NAME: TABLE, CALLBACK_PARAMETER_PREFIX: '/x' } } });
  givenItems(OLD_ITEM, NEW_ITEM);
});

describe('bakehouse diff <a> <b>', () => {
  it('prints the release move and each package upgraded, added and removed, read consistently from the state table', async () => {
    // Act
    const { code, out, err } = await cli(['diff', OLD, NEW]);

    // Assess
    expect(err).toBe('');
    expect(code).toBe(0);
    expect(out).toBe(
      [
        `from ${OLD}  al2023-base, bake al2023-base-00a1`,
        `to   ${NEW}  al2023-base, bake al2023-base-00b1`,
        '',
        'release: 2023.9.20261101.0 → 2023.9.20261122.0',
        'packages upgraded (2):',
        '  curl-minimal  8.5.0-1.amzn2023.0.4.x86_64 → 8.11.1-4.amzn2023.0.1.x86_64',
        '  glibc         2.34-196.amzn2023.0.1.x86_64 → 2.34-196.amzn2023.0.2.x86_64',
        'packages added (1):',
        '  jq  1.7.1-49.amzn2023.0.2.x86_64',
        'packages removed (1):',
        '  vim-minimal  9.1.1418-1.amzn2023.0.1.x86_64',
        '',
      ].join('\n'),
    );
    expect(table).toHaveReceivedCommandWith(GetCommand, {
      TableName: TABLE,
      Key: { pk: `image#${OLD}#inventory` },
      ConsistentRead: true,
    });
  });

  it('resolves <family>:<channel> through the channel parameter, and says so next to the image', async () => {
    // Prepare
    ssmMock.on(GetParameterCommand, { Name: '/bakehouse/al2023-base/stable' }).resolves({ Parameter: { Value: NEW } });

    // Act
    const { code, out } = await cli(['diff', OLD, 'al2023-base:stable']);

    // Assess
    expect(code).toBe(0);
    expect(out).toContain(`to   ${NEW} (al2023-base:stable)  al2023-base`);
  });

  it('prints the documented JSON with --json', async () => {
    // Act
    const { code, out } = await cli(['diff', OLD, NEW, '--json']);

    // Assess
    expect(code).toBe(0);
    const document = JSON.parse(out);
    expect(document).toMatchObject({
      from: { ref: OLD, imageId: OLD, family: 'al2023-base', os: 'linux', release: '2023.9.20261101.0' },
      to: { ref: NEW, imageId: NEW, release: '2023.9.20261122.0' },
      os: 'linux',
      release: { from: '2023.9.20261101.0', to: '2023.9.20261122.0' },
      kbs: { added: [], removed: [] },
    });
    expect(document.packages.upgraded).toContainEqual({
      name: 'glibc',
      from: ['2.34-196.amzn2023.0.1.x86_64'],
      to: ['2.34-196.amzn2023.0.2.x86_64'],
    });
    expect(document.packages.added).toEqual([{ name: 'jq', from: [], to: ['1.7.1-49.amzn2023.0.2.x86_64'] }]);
  });

  it('says there is no difference between an image and itself', async () => {
    // Act
    const { code, out } = await cli(['diff', NEW, NEW]);

    // Assess
    expect(code).toBe(0);
    expect(out).toContain('no differences: the same release and packages');
  });

  it('prints the hotfixes added and removed, and the programs, on Windows', async () => {
    // Prepare
    const other = 'ami-0d0000000000000d1';
    givenItems(
      item(WIN, {
        os: 'windows',
        family: 'windows-2022-base',
        kbs: ['KB1', 'KB2'],
        programs: encode(['7-Zip\t23.01']),
      }),
      item(other, {
        os: 'windows',
        family: 'windows-2022-base',
        kbs: ['KB2', 'KB3'],
        programs: encode(['7-Zip\t24.08']),
      }),
    );

    // Act
    const { code, out } = await cli(['diff', WIN, other]);

    // Assess
    expect(code).toBe(0);
    expect(out).toContain('programs upgraded (1):\n  7-Zip  23.01 → 24.08');
    expect(out).toContain('hotfixes added (1): KB3');
    expect(out).toContain('hotfixes removed (1): KB1');
  });

  it('refuses a Linux image against a Windows one, naming both', async () => {
    // Prepare
    givenItems(OLD_ITEM, item(WIN, { os: 'windows', family: 'windows-2022-base', kbs: [] }));

    // Act
    const { code, err } = await cli(['diff', OLD, WIN]);

    // Assess
    expect(code).toBe(1);
    expect(err).toContain(`${OLD} (al2023-base) is a linux image and ${WIN} (windows-2022-base) a windows one`);
    expect(err).toContain('Fix: compare two linux images');
  });

  it('says a Bakehouse image without a record was baked before inventories were kept, naming the bake to run', async () => {
    // Prepare
    givenItems(NEW_ITEM);
    ec2Mock.on(DescribeImagesCommand).resolves({
      Images: [
        {
          ImageId: OLD,
          Tags: [
            { Key: 'bakehouse:managed', Value: 'true' },
            { Key: 'bakehouse:family', Value: 'al2023-base' },
            { Key: 'bakehouse:bake-id', Value: 'al2023-base-1234' },
          ],
        },
      ],
    });

    // Act
    const { code, err } = await cli(['diff', OLD, NEW]);

    // Assess
    expect(code).toBe(1);
    expect(err).toContain(`${OLD} (family al2023-base, bake al2023-base-1234) has no inventory record`);
    expect(err).toContain('baked before inventories were kept');
    expect(err).toContain('Fix: bake the family again (bakehouse bake al2023-base)');
  });

  it('says an image without the bakehouse:managed tag is not a Bakehouse image', async () => {
    // Prepare
    ec2Mock.on(DescribeImagesCommand).resolves({ Images: [{ ImageId: WIN, Tags: [] }] });

    // Act
    const { code, err } = await cli(['diff', WIN, NEW]);

    // Assess
    expect(code).toBe(1);
    expect(err).toContain(`${WIN} is not a Bakehouse image (it has no bakehouse:managed tag)`);
  });

  it('says an inventory that was too large to keep is missing, and where to read it instead', async () => {
    // Prepare
    givenItems(item(OLD, { tooLarge: { section: 'packages', bytes: 31337 } }), NEW_ITEM);

    // Act
    const { code, err, out } = await cli(['diff', OLD, NEW, '--json']);

    // Assess
    expect(code).toBe(1);
    expect(err).toContain(`${OLD} (al2023-base) has no package list on record: its bake found it too large to keep`);
    expect(err).toContain('/var/lib/bakehouse/packages-after.txt');
    expect(JSON.parse(out)).toMatchObject({ reason: 'too-large', bytes: 31337, exitCode: 1 });
  });

  it('says a channel that points at nothing has no image to compare', async () => {
    // Prepare
    ssmMock.on(GetParameterCommand).rejects(awsError('ParameterNotFound'));

    // Act
    const { code, err } = await cli(['diff', 'al2023-base:dev', NEW]);

    // Assess
    expect(code).toBe(1);
    expect(err).toContain('channel al2023-base/dev points at no image yet');
  });

  it('says the stage was deployed before inventories when WaitForAutomation has no STATE_TABLE_NAME', async () => {
    // Prepare
    lambdaMock.on(GetFunctionConfigurationCommand).resolves({ Environment: { Variables: {} } });

    // Act
    const { code, err } = await cli(['diff', OLD, NEW]);

    // Assess
    expect(code).toBe(1);
    expect(err).toContain('deployed by a Bakehouse from before image inventories were kept');
    expect(table).not.toHaveReceivedCommand(GetCommand);
  });

  it.each([
    [['diff', 'ami-xyz', NEW], "'ami-xyz' is not an AMI id"],
    [['diff', 'al2023-base', NEW], "'al2023-base' is neither an AMI id nor <family>:<channel>"],
    [['diff', 'al2023-bsae:stable', NEW], "no family named 'al2023-bsae'. Did you mean al2023-base?"],
    [['diff', 'al2023-base:prod', NEW], "family 'al2023-base' has no channel 'prod'"],
  ])('refuses %j as a usage error (exit 2) before any AWS call', async (args, message) => {
    // Act
    const { code, err } = await cli(args);

    // Assess
    expect(code).toBe(2);
    expect(err).toContain(message);
    expect(lambdaMock).not.toHaveReceivedAnyCommand();
    expect(table).not.toHaveReceivedAnyCommand();
  });
});
