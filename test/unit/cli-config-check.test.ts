/**
 * `bakehouse config check` through `main` against mocked SSM and EC2: the checks of sources a bake
 * would otherwise find only when it runs, a target that cannot be asked, the problem lines split
 * into family, field, message and fix, and the deployed configuration unreadable for lack of access.
 */
import { DescribeImagesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { GetParameterCommand, ParameterNotFound, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { parseProblem } from '../../cli/commands/config';
import type { Clients } from '../../cli/context';
import { main } from '../../cli/main';
import type { ConfigInput } from '../../functions/commons/families';
import { childFamily, configInput, filteredFamily, linuxFamily } from './support/bake-factories';

const ssm = new SSMClient({ region: 'eu-west-1' });
const ec2 = new EC2Client({ region: 'eu-west-1' });
const ssmMock = mockClient(ssm);
const ec2Mock = mockClient(ec2);

beforeEach(() => {
  ssmMock.reset();
  ec2Mock.reset();
  ssmMock.on(GetParameterCommand).rejects(new ParameterNotFound({ message: 'not found', $metadata: {} }));
});

const check = async (local: ConfigInput, args: string[] = []) => {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(
    ['config', 'check', '--region', 'eu-west-1', ...args],
    { stdout: { write: (t: string) => out.push(t) }, stderr: { write: (t: string) => err.push(t) }, env: {} },
    { clients: () => ({ ssm, ec2 }) as unknown as Clients, localConfig: async () => local },
  );
  return { code, stdout: out.join(''), stderr: err.join('') };
};

describe('bakehouse config check: sources', () => {
  it("finds a child family whose parent has another architecture, without asking AWS about the child's source", async () => {
    // Prepare
    const parent = linuxFamily({
      name: 'al2023-base',
      source: { amiFilter: { owners: ['amazon'], filters: { name: ['al2023-*'] } } },
    });
    const child = { ...childFamily('al2023-base', 'stable', 'al2023-arm'), architecture: 'arm64' as const };
    ec2Mock.on(DescribeImagesCommand).resolves({
      Images: [
        {
          ImageId: 'ami-0123456789abcdef0',
          Architecture: 'x86_64',
          State: 'available',
          CreationDate: '2026-11-01T00:00:00Z',
        },
      ],
    });

    // Act
    const run = await check(configInput([parent, child]));

    // Assess
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(
      /family 'al2023-arm': architecture: the family is arm64, but its parent 'al2023-base' is x86_64.*Fix: set architecture: 'x86_64'/,
    );
  });

  it('finds an amiFilter that matches no available image in the region', async () => {
    ec2Mock.on(DescribeImagesCommand).resolves({ Images: [] });
    const run = await check(configInput([filteredFamily('rocky-9-base')]));
    expect(run.code).toBe(1);
    expect(run.stdout).toContain(
      "family 'rocky-9-base': source.amiFilter: matches no available image in eu-west-1. Fix: check the owners and filters",
    );
  });

  it('says the sources were not checked when the target cannot be asked, and passes a valid file', async () => {
    ssmMock
      .on(GetParameterCommand)
      .rejects(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:4566'), { code: 'ECONNREFUSED' }));
    const run = await check(configInput([linuxFamily()]), ['--json']);
    const document = JSON.parse(run.stdout) as { valid: boolean; sources: { checked: boolean; reason: string } };
    expect(run.code).toBe(0);
    expect(document.valid).toBe(true);
    expect(document.sources.checked).toBe(false);
    expect(document.sources.reason).toMatch(/cannot reach AWS/);
  });
});

describe('the deployed configuration, unreadable', () => {
  it('is reported with the permission to grant, and the file is still checked', async () => {
    ssmMock
      .on(GetParameterCommand, { Name: '/bakehouse/_config/dev' })
      .rejects(Object.assign(new Error('not authorized'), { name: 'AccessDeniedException' }));
    ec2Mock.on(DescribeImagesCommand).resolves({
      Images: [{ ImageId: 'ami-0123456789abcdef0', Architecture: 'x86_64', State: 'available' }],
    });
    ssmMock
      .on(GetParameterCommand, { Name: '/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64' })
      .resolves({ Parameter: { Value: 'ami-0123456789abcdef0' } });
    const run = await check(configInput([linuxFamily()]));
    expect(run.code, run.stdout).toBe(0);
    expect(run.stdout).toContain('ssm:GetParameter denied');
  });
});

describe('parseProblem', () => {
  it.each([
    [
      "family 'al2023-base': schedule.timezone: 'Mars/Base' is not an IANA time zone. Fix: use a name such as 'UTC'",
      {
        family: 'al2023-base',
        field: 'schedule.timezone',
        message: "'Mars/Base' is not an IANA time zone",
        fix: "use a name such as 'UTC'",
      },
    ],
    [
      "family 'web': install.scripts[0].run line 3: SC2164 (warning) cd without a check. Fix: use cd dir || exit",
      {
        family: 'web',
        field: 'install.scripts[0].run line 3',
        message: 'SC2164 (warning) cd without a check',
        fix: 'use cd dir || exit',
      },
    ],
    [
      'settings.parameterPrefix: Invalid string. Fix: use a path such as /bakehouse',
      {
        family: null,
        field: 'settings.parameterPrefix',
        message: 'Invalid string',
        fix: 'use a path such as /bakehouse',
      },
    ],
  ])('splits %j', (text, expected) => {
    expect(parseProblem(text)).toEqual({ ...expected, text });
  });
});
