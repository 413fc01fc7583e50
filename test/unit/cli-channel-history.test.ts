/**
 * `bakehouse channel history <family> <channel>` through `main`, against a mocked SSM: the moves
 * read from the channel parameter's history (GetParameterHistory, paginated), newest first, with
 * who moved it and why from each version's description.
 */
import { EC2Client } from '@aws-sdk/client-ec2';
import { GetParameterHistoryCommand, type ParameterHistory, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import type { ChannelHistory } from '../../cli/commands/channel-history';
import type { Clients } from '../../cli/context';
import { describeMove } from '../../functions/commons/channels';
import { loadConfig } from '../../functions/commons/families';
import { configInput, linuxFamily } from './support/bake-factories';
import { cliRunner } from './support/cli';

const ssm = new SSMClient({ region: 'eu-west-1' });
const ec2 = new EC2Client({ region: 'eu-west-1' });
const ssmMock = mockClient(ssm);

const PARAMETER = '/bakehouse/al2023-base/stable';
const A = 'ami-0a0000000000000a1';
const B = 'ami-0b0000000000000b1';
const C = 'ami-0c0000000000000c1';
const BAKE = 'al2023-base-0123456789abcdef0123456789abcdef';

const version = (
  n: number,
  value: string,
  at: string,
  description?: string,
  user = 'arn:aws:sts::111122223333:assumed-role/promote/x',
): ParameterHistory => ({
  Name: PARAMETER,
  Version: n,
  Value: value,
  LastModifiedDate: new Date(at),
  LastModifiedUser: user,
  ...(description === undefined ? {} : { Description: description }),
});

const cli = cliRunner(() => ({
  config: loadConfig(configInput([linuxFamily()])),
  clients: () => ({ ssm, ec2 }) as unknown as Clients,
}));

beforeEach(() => ssmMock.reset());

describe('bakehouse channel history <family> <channel>', () => {
  it('lists every move newest first: when, from, to, who and why, over every page of the history', async () => {
    // Prepare: a tested promotion, a hand edit in the console, a rollback; two pages
    ssmMock.on(GetParameterHistoryCommand).resolves({
      Parameters: [
        version(
          1,
          A,
          '2026-12-01T10:00:00Z',
          describeMove({ ami: A, by: 'schedule', cause: 'tested', bakeId: BAKE, prev: null }),
        ),
        version(2, B, '2026-12-02T10:00:00Z', undefined, 'arn:aws:iam::111122223333:user/bob'),
      ],
      NextToken: 'page-2',
    });
    ssmMock.on(GetParameterHistoryCommand, { NextToken: 'page-2' }).resolves({
      Parameters: [
        version(
          3,
          A,
          '2026-12-03T10:00:00Z',
          describeMove({ ami: A, by: 'cli:alice', cause: 'rollback', bakeId: null, prev: B }),
        ),
      ],
    });

    // Act
    const json = await cli(['channel', 'history', 'al2023-base', 'stable', '--json']);
    const text = await cli(['channel', 'history', 'al2023-base', 'stable']);

    // Assess
    expect(json.code, json.err).toBe(0);
    const { history } = JSON.parse(json.out) as { history: ChannelHistory };
    expect(history).toEqual({
      family: 'al2023-base',
      channel: 'stable',
      parameter: PARAMETER,
      truncated: false,
      moves: [
        {
          version: 3,
          at: '2026-12-03T10:00:00.000Z',
          fromAmiId: B,
          toAmiId: A,
          by: 'cli:alice',
          cause: 'rollback',
          bakeId: null,
          current: true,
        },
        {
          version: 2,
          at: '2026-12-02T10:00:00.000Z',
          fromAmiId: A,
          toAmiId: B,
          by: 'arn:aws:iam::111122223333:user/bob',
          cause: 'unknown',
          bakeId: null,
          current: false,
        },
        {
          version: 1,
          at: '2026-12-01T10:00:00.000Z',
          fromAmiId: null,
          toAmiId: A,
          by: 'schedule',
          cause: 'tested',
          bakeId: BAKE,
          current: false,
        },
      ],
    });
    expect(ssmMock).toHaveReceivedCommandWith(GetParameterHistoryCommand, { Name: PARAMETER, NextToken: 'page-2' });
    expect(text.code, text.err).toBe(0);
    const lines = text.out.split('\n');
    expect(lines[0]).toBe(`channel al2023-base/stable (${PARAMETER}), newest first:`);
    expect(lines[1]).toMatch(/^WHEN \(LOCAL\)\s+VERSION\s+FROM\s+TO\s+BY\s+WHY\s+BAKE$/);
    expect(lines[3]).toMatch(new RegExp(`3\\s+${B}\\s+${A} \\(current\\)\\s+cli:alice\\s+rollback\\s+-$`));
    expect(lines[5]).toMatch(new RegExp(`1\\s+-\\s+${A}\\s+schedule\\s+tested\\s+${BAKE}$`));
  });

  it('says a channel that was never moved has no history', async () => {
    // Prepare
    ssmMock
      .on(GetParameterHistoryCommand)
      .rejects(Object.assign(new Error('not found'), { name: 'ParameterNotFound' }));

    // Act
    const text = await cli(['channel', 'history', 'al2023-base', 'dev']);
    const json = await cli(['channel', 'history', 'al2023-base', 'dev', '--json']);

    // Assess
    expect(text.code, text.err).toBe(0);
    expect(text.out).toContain(
      'channel al2023-base/dev has never been moved (no parameter /bakehouse/al2023-base/dev yet)',
    );
    expect(JSON.parse(json.out)).toMatchObject({ history: { moves: [], truncated: false } });
  });

  it('says when Parameter Store no longer holds the oldest moves', async () => {
    // Prepare: versions 1..100 are gone
    ssmMock.on(GetParameterHistoryCommand).resolves({
      Parameters: [
        version(
          101,
          C,
          '2026-12-04T10:00:00Z',
          describeMove({ ami: C, by: 'schedule', cause: 'baked', bakeId: BAKE, prev: B }),
        ),
      ],
    });

    // Act
    const text = await cli(['channel', 'history', 'al2023-base', 'stable']);

    // Assess
    expect(text.code, text.err).toBe(0);
    expect(text.out).toContain('Parameter Store keeps the 100 newest versions');
  });

  it('refuses an unknown family or channel with a usage error before any AWS call', async () => {
    // Act
    const family = await cli(['channel', 'history', 'al2023-bsae', 'stable']);
    const channel = await cli(['channel', 'history', 'al2023-base', 'prod']);

    // Assess
    expect(family.code).toBe(2);
    expect(family.err).toContain("no family named 'al2023-bsae'. Did you mean al2023-base?");
    expect(channel.code).toBe(2);
    expect(channel.err).toContain("family 'al2023-base' has no channel 'prod'. Fix: use one of dev, stable");
    expect(ssmMock).not.toHaveReceivedCommand(GetParameterHistoryCommand);
  });
});
