/**
 * channels.ts against the sandbox's SSM and EC2: real parameter history with aws:ec2:image values
 * of images created in the sandbox, a real DisableImage, and the rollback that skips it.
 */
import { CreateTagsCommand, DisableImageCommand, EC2Client } from '@aws-sdk/client-ec2';
import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import {
  advance,
  availableImage,
  failure,
  runningInstance,
  startTestSandbox,
  type TestSandbox,
} from '@bakehouse/sandbox/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Tag } from '../../functions/commons/bake-plan';
import { bindChannels, type Channels } from '../../functions/commons/channels';

const FAMILY = 'al2023-base';

let sandbox: TestSandbox;
let ec2: EC2Client;
let ssm: SSMClient;
let channels: Channels;
let images: string[];

beforeAll(async () => {
  sandbox = await startTestSandbox();
  ec2 = new EC2Client(sandbox.clientConfig);
  ssm = new SSMClient(sandbox.clientConfig);
  channels = bindChannels({ ssm, ec2, parameterPrefix: '/bakehouse' });
  const instance = await runningInstance(sandbox, ec2);
  images = [];
  for (const n of [1, 2, 3]) {
    images.push(
      await availableImage(sandbox, ec2, instance, `bakehouse-${FAMILY}-${n}`, [
        { Key: Tag.Managed, Value: 'true' },
        { Key: Tag.Family, Value: FAMILY },
      ]),
    );
  }
});
afterAll(async () => sandbox.stop());

describe('channels in the sandbox', () => {
  it('moves a channel through three images and reads the history back newest first', async () => {
    // Prepare
    const [a, b, c] = images as [string, string, string];

    // Act
    const moves = [];
    for (const [i, amiId] of [a, b, c].entries()) {
      moves.push(
        await channels.moveChannel({
          family: FAMILY,
          channel: 'stable',
          amiId,
          by: `cli:user-${i}`,
          cause: i === 0 ? 'baked' : 'tested',
          bakeId: `bake-${i}`,
        }),
      );
      await advance(sandbox, 60);
    }
    const history = await channels.channelHistory(FAMILY, 'stable');
    const parameter = await ssm.send(new GetParameterCommand({ Name: `/bakehouse/${FAMILY}/stable` }));

    // Assess
    expect(moves).toEqual([
      { changed: true, previousAmiId: null },
      { changed: true, previousAmiId: a },
      { changed: true, previousAmiId: b },
    ]);
    expect(parameter.Parameter).toMatchObject({ Value: c, DataType: 'aws:ec2:image', Version: 3 });
    expect(history.map((e) => [e.amiId, e.version, e.by, e.cause, e.bakeId, e.previousAmiId])).toEqual([
      [c, 3, 'cli:user-2', 'tested', 'bake-2', b],
      [b, 2, 'cli:user-1', 'tested', 'bake-1', a],
      [a, 1, 'cli:user-0', 'baked', 'bake-0', null],
    ]);
    expect(Date.parse(history[0]?.at ?? '')).toBeGreaterThan(Date.parse(history[2]?.at ?? ''));
  });

  it('writes nothing when the channel already points at the image', async () => {
    // Prepare
    const c = images[2] as string;

    // Act
    const again = await channels.moveChannel({
      family: FAMILY,
      channel: 'stable',
      amiId: c,
      by: 'cli:user-2',
      cause: 'tested',
      bakeId: 'bake-2',
    });

    // Assess
    expect(again).toEqual({ changed: false, previousAmiId: c });
    expect(await channels.channelHistory(FAMILY, 'stable')).toHaveLength(3);
  });

  it('finds the previous good image past a revoked, disabled one', async () => {
    // Prepare: b is revoked and disabled; c (current) is being revoked
    const [a, b, c] = images as [string, string, string];
    await ec2.send(new CreateTagsCommand({ Resources: [b], Tags: [{ Key: Tag.Revoked, Value: 'true' }] }));
    await ec2.send(new DisableImageCommand({ ImageId: b }));

    // Act
    const previous = await channels.previousGood(FAMILY, 'stable', { exclude: [c] });

    // Assess
    expect(previous).toBe(a);
  });

  it('cannot point a channel at a disabled image: SSM validates aws:ec2:image values', async () => {
    // Prepare
    const b = images[1] as string;

    // Act
    const error = await failure(
      channels.moveChannel({ family: FAMILY, channel: 'dev', amiId: b, by: 'cli:x', cause: 'manual', bakeId: null }),
    );

    // Assess
    expect(error.name).toBe('ValidationException');
  });
});
