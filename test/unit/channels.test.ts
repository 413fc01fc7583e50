import { DescribeImagesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { GetParameterHistoryCommand, PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import fc from 'fast-check';
import { beforeEach, describe, expect, it } from 'vitest';
import { Tag } from '../../functions/commons/bake-plan';
import {
  bindChannels,
  type ChannelDeps,
  describeMove,
  MAX_DESCRIPTION,
  readMoveRecord,
  rollbackCandidates,
  TESTED_TAG,
} from '../../functions/commons/channels';
import { awsError } from './support/bake-factories';
import { ami, type FakeAws, fakeAws, PREFIX } from './support/promotion-fakes';

const FAMILY = 'al2023-base';
const PARAMETER = `${PREFIX}/${FAMILY}/stable`;

let aws: FakeAws;
const deps = (): ChannelDeps => ({ ssm: new SSMClient({}), ec2: new EC2Client({}), parameterPrefix: PREFIX });
const channels = () => bindChannels(deps());

beforeEach(() => {
  aws = fakeAws();
});

const move = (amiId: string, overrides: Partial<Parameters<ReturnType<typeof channels>['moveChannel']>[0]> = {}) =>
  channels().moveChannel({
    family: FAMILY,
    channel: 'stable',
    amiId,
    by: 'cli:alice',
    cause: 'manual',
    bakeId: 'bake-1',
    ...overrides,
  });

describe('readChannel', () => {
  it('is null for a channel never written', async () => {
    // Act
    const current = await channels().readChannel(FAMILY, 'stable');

    // Assess
    expect(current).toBeNull();
  });

  it('is the AMI the channel points at', async () => {
    // Prepare
    const a = aws.addImage(1, FAMILY);
    await move(a);

    // Act
    const current = await channels().readChannel(FAMILY, 'stable');

    // Assess
    expect(current).toBe(a);
  });

  it('lets errors other than ParameterNotFound through', async () => {
    // Prepare
    aws.ssm.rejects(awsError('AccessDeniedException'));

    // Act & Assess
    await expect(channels().readChannel(FAMILY, 'stable')).rejects.toThrow('AccessDeniedException');
  });
});

describe('moveChannel', () => {
  it('writes an aws:ec2:image parameter whose description records who, why, the bake and the previous AMI', async () => {
    // Prepare
    const a = aws.addImage(1, FAMILY);
    const b = aws.addImage(2, FAMILY);
    await move(a, { cause: 'baked', by: 'bakehouse:baked', bakeId: 'bake-a' });

    // Act
    const result = await move(b, { cause: 'tested', by: 'bakehouse:tested', bakeId: 'bake-b' });

    // Assess
    expect(result).toEqual({ changed: true, previousAmiId: a });
    expect(aws.ssm).toReceiveCommandWith(PutParameterCommand, {
      Name: PARAMETER,
      Value: b,
      Type: 'String',
      DataType: 'aws:ec2:image',
      Overwrite: true,
    });
    const description = aws.parameters.get(PARAMETER)?.at(-1)?.description;
    expect(JSON.parse(description ?? '')).toEqual({
      ami: b,
      by: 'bakehouse:tested',
      cause: 'tested',
      bakeId: 'bake-b',
      prev: a,
    });
  });

  it('writes nothing when the channel already points at the AMI', async () => {
    // Prepare
    const a = aws.addImage(1, FAMILY);
    await move(a);

    // Act
    const result = await move(a);

    // Assess
    expect(result).toEqual({ changed: false, previousAmiId: a });
    expect(aws.ssm).toReceiveCommandTimes(PutParameterCommand, 1);
  });

  it('reports no previous AMI for a new channel', async () => {
    // Prepare
    const a = aws.addImage(1, FAMILY);

    // Act
    const result = await move(a);

    // Assess
    expect(result).toEqual({ changed: true, previousAmiId: null });
  });
});

describe('describeMove', () => {
  it('keeps the description within SSM’s 1024 characters by shortening who', () => {
    // Prepare
    const record = {
      ami: ami(1),
      by: 'x'.repeat(5000),
      cause: 'manual' as const,
      bakeId: 'b'.repeat(200),
      prev: ami(2),
    };

    // Act
    const text = describeMove(record);

    // Assess
    expect(text.length).toBeLessThanOrEqual(MAX_DESCRIPTION);
    expect(readMoveRecord(text, ami(1))).toMatchObject({ cause: 'manual', bakeId: 'b'.repeat(200), prev: ami(2) });
  });

  it('always fits and always reads back, whatever the fields (property)', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 2000 }), fc.option(fc.string({ maxLength: 300 })), (by, bakeId) => {
        const text = describeMove({ ami: ami(7), by, cause: 'rollback', bakeId, prev: null });
        expect(text.length).toBeLessThanOrEqual(MAX_DESCRIPTION);
        expect(readMoveRecord(text, ami(7))?.cause).toBe('rollback');
      }),
    );
  });

  it.each(['baked', 'tested', 'manual', 'rollback', 'revocation', 'canary'] as const)(
    'reads back a move of cause %s (every cause AMI Promoted has)',
    (cause) => {
      // Act
      const text = describeMove({ ami: ami(3), by: 'bakehouse:canary', cause, bakeId: 'bake-1', prev: ami(2) });

      // Assess
      expect(readMoveRecord(text, ami(3))?.cause).toBe(cause);
    },
  );

  it('does not read a record that names another AMI (a hand edit that kept the description)', () => {
    // Assess
    expect(
      readMoveRecord(describeMove({ ami: ami(1), by: 'a', cause: 'manual', bakeId: null, prev: null }), ami(2)),
    ).toBe(undefined);
    expect(readMoveRecord('set by hand', ami(1))).toBeUndefined();
    expect(readMoveRecord('{not json', ami(1))).toBeUndefined();
  });
});

describe('channelHistory', () => {
  it('lists every version newest first with who, when, why and the previous AMI, across pages', async () => {
    // Prepare: 60 moves, more than one 50-version page
    const ids = Array.from({ length: 60 }, (_, i) => aws.addImage(i + 1, FAMILY));
    for (const [i, id] of ids.entries()) await move(id, { by: `user-${i}`, bakeId: `bake-${i}` });

    // Act
    const history = await channels().channelHistory(FAMILY, 'stable');

    // Assess
    expect(history).toHaveLength(60);
    expect(history[0]).toEqual({
      amiId: ids[59],
      version: 60,
      at: expect.stringMatching(/^2026-11-01T00:01:00\.000Z$/),
      by: 'user-59',
      cause: 'manual',
      bakeId: 'bake-59',
      previousAmiId: ids[58],
    });
    expect(history.at(-1)).toMatchObject({ amiId: ids[0], version: 1, previousAmiId: null });
    expect(aws.ssm).toReceiveCommandTimes(GetParameterHistoryCommand, 2);
  });

  it('names the writer and the version before for a version Bakehouse did not write', async () => {
    // Prepare
    const a = aws.addImage(1, FAMILY);
    const b = aws.addImage(2, FAMILY);
    await move(a);
    await new SSMClient({}).send(
      new PutParameterCommand({
        Name: PARAMETER,
        Value: b,
        Type: 'String',
        DataType: 'aws:ec2:image',
        Overwrite: true,
      }),
    );

    // Act
    const [latest] = await channels().channelHistory(FAMILY, 'stable');

    // Assess
    expect(latest).toMatchObject({
      amiId: b,
      cause: 'unknown',
      by: expect.stringContaining('assumed-role'),
      previousAmiId: a,
    });
  });

  it('is empty for a channel never written', async () => {
    // Assess
    expect(await channels().channelHistory(FAMILY, 'stable')).toEqual([]);
  });
});

describe('previousGood', () => {
  it('is the newest earlier AMI', async () => {
    // Prepare
    const [a, b, c] = [1, 2, 3].map((n) => aws.addImage(n, FAMILY)) as [string, string, string];
    for (const id of [a, b, c]) await move(id);

    // Act
    const previous = await channels().previousGood(FAMILY, 'stable');

    // Assess
    expect(previous).toBe(b);
  });

  it('skips revoked, failed, excluded, disabled and deregistered images', async () => {
    // Prepare
    const good = aws.addImage(1, FAMILY);
    const deregistered = aws.addImage(2, FAMILY);
    const disabled = aws.addImage(3, FAMILY);
    const failed = aws.addImage(4, FAMILY, { [TESTED_TAG]: 'failed' });
    const excluded = aws.addImage(5, FAMILY);
    const revoked = aws.addImage(6, FAMILY, { [Tag.Revoked]: 'true' });
    const current = aws.addImage(7, FAMILY);
    for (const id of [good, deregistered, disabled, failed, excluded, revoked, current]) await move(id);
    aws.images.delete(deregistered);
    aws.images.set(disabled, { ...aws.images.get(disabled), State: 'disabled' });

    // Act
    const previous = await channels().previousGood(FAMILY, 'stable', { exclude: [excluded] });

    // Assess
    expect(previous).toBe(good);
  });

  it('does not go back to the current AMI when the channel held it before', async () => {
    // Prepare
    const a = aws.addImage(1, FAMILY);
    const b = aws.addImage(2, FAMILY);
    for (const id of [a, b, a]) await move(id);

    // Act
    const previous = await channels().previousGood(FAMILY, 'stable');

    // Assess
    expect(previous).toBe(b);
  });

  it('walks back through rollbacks instead of toggling: a, b, c, rollback to b, rollback to a', async () => {
    // Prepare
    const [a, b, c] = [1, 2, 3].map((n) => aws.addImage(n, FAMILY)) as [string, string, string];
    for (const id of [a, b, c]) await move(id);

    // Act
    const first = await channels().previousGood(FAMILY, 'stable');
    await move(first as string, { cause: 'rollback' });
    const second = await channels().previousGood(FAMILY, 'stable');
    await move(second as string, { cause: 'rollback' });
    const third = await channels().previousGood(FAMILY, 'stable');

    // Assess: c and b were moved away from by rollbacks; nothing before a
    expect([first, second, third]).toEqual([b, a, null]);
  });

  it('offers an image a rollback left once it is promoted again, and never the one the rollback left', async () => {
    // Prepare: a, b, c, rollback to b (leaving c), then d is promoted
    const [a, b, c, d] = [1, 2, 3, 4].map((n) => aws.addImage(n, FAMILY)) as [string, string, string, string];
    for (const id of [a, b, c]) await move(id);
    await move(b, { cause: 'rollback' });
    await move(d);

    // Act
    const previous = await channels().previousGood(FAMILY, 'stable');
    await move(previous as string, { cause: 'rollback' });
    const next = await channels().previousGood(FAMILY, 'stable');

    // Assess: back to b (what the channel held before d), then a: c stays left behind
    expect([previous, next]).toEqual([b, a]);
  });

  it('offers each earlier AMI once, never the current one, only AMIs of the history (rollbackCandidates)', () => {
    const causes = ['baked', 'tested', 'manual', 'rollback', 'revocation', 'canary'] as const;
    fc.assert(
      fc.property(
        fc.array(fc.record({ ami: fc.integer({ min: 1, max: 6 }), cause: fc.constantFrom(...causes) }), {
          maxLength: 30,
        }),
        (moves) => {
          // Newest first, each entry recording the AMI it replaced, as channelHistory returns them
          const entries = moves.map((m, i) => ({
            amiId: ami(m.ami),
            version: i + 1,
            at: '',
            by: 'x',
            cause: m.cause,
            bakeId: null,
            previousAmiId: i > 0 ? ami((moves[i - 1] as { ami: number }).ami) : null,
          }));
          const history = entries.reverse();
          const candidates = rollbackCandidates(history);
          expect(new Set(candidates).size).toBe(candidates.length);
          if (history[0]) expect(candidates).not.toContain(history[0].amiId);
          for (const id of candidates) expect(history.some((e) => e.amiId === id)).toBe(true);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('is null when no earlier image is good', async () => {
    // Prepare
    const a = aws.addImage(1, FAMILY, { [Tag.Revoked]: 'true' });
    const b = aws.addImage(2, FAMILY);
    for (const id of [a, b]) await move(id);

    // Act
    const previous = await channels().previousGood(FAMILY, 'stable');

    // Assess
    expect(previous).toBeNull();
  });

  it('asks EC2 about disabled images too (IncludeDisabled), one id at a time', async () => {
    // Prepare
    const a = aws.addImage(1, FAMILY);
    const b = aws.addImage(2, FAMILY);
    for (const id of [a, b]) await move(id);

    // Act
    await channels().previousGood(FAMILY, 'stable');

    // Assess
    expect(aws.ec2).toReceiveCommandWith(DescribeImagesCommand, { ImageIds: [a], IncludeDisabled: true });
  });
});
