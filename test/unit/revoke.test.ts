import {
  CreateLaunchTemplateVersionCommand,
  CreateTagsCommand,
  DescribeLaunchTemplatesCommand,
  DescribeLaunchTemplateVersionsCommand,
  DisableImageCommand,
  ModifyLaunchTemplateCommand,
} from '@aws-sdk/client-ec2';
import { PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { GetParameterCommand, PutParameterCommand } from '@aws-sdk/client-ssm';
import fc from 'fast-check';
import { beforeEach, describe, expect, it } from 'vitest';
import { Tag } from '../../functions/commons/bake-plan';
import { TESTED_TAG } from '../../functions/commons/channels';
import { type BakehouseConfig, type FamilyInput, loadConfig } from '../../functions/commons/families';
import { promote } from '../../functions/promote/core';
import { revoke } from '../../functions/revoke/core';
import { childFamily, configInput, lambdaContext, linuxFamily } from './support/bake-factories';
import {
  ami,
  envelope,
  type FakeAws,
  fakeAws,
  fakeTargets,
  PREFIX,
  promotionDeps,
  stubHandlerEnvironment,
} from './support/promotion-fakes';

const BASE = 'al2023-base';
const WEB = 'al2023-web';
const APP = 'al2023-app';

const baseFamily = (): FamilyInput =>
  linuxFamily({
    name: BASE,
    channels: [
      { name: 'dev', promoteOn: 'baked' },
      { name: 'stable', promoteOn: 'tested', launchTemplates: [{ template: 'web-stable' }] },
      { name: 'gold', promoteOn: 'manual' },
    ],
  });

const config = (): BakehouseConfig =>
  loadConfig(configInput([baseFamily(), childFamily(BASE, 'stable', WEB), childFamily(WEB, 'stable', APP)]));

let aws: FakeAws;
let fakes: ReturnType<typeof fakeTargets>;
const deps = () => promotionDeps(config(), fakes.targets);

beforeEach(() => {
  aws = fakeAws();
  fakes = fakeTargets();
});

const revoked = (amiId: string, overrides: Record<string, unknown> = {}) =>
  envelope('AMI Revoked', {
    version: '1.0',
    amiId,
    reason: 'CVE-2026-0001 in openssl',
    requestedBy: 'cli:security',
    ...overrides,
  });

/** Puts images in a channel, oldest first, the way an operator would (Promote Requested). */
const promoteAll = async (family: string, channel: string, ids: readonly string[]) => {
  for (const amiId of ids) {
    await promote(
      envelope('Promote Requested', { version: '1.0', family, channel, amiId, requestedBy: 'cli:ops' }),
      deps(),
    );
  }
};

const channelOf = (family: string, channel: string) =>
  aws.parameters.get(`${PREFIX}/${family}/${channel}`)?.at(-1)?.value;

const expectNoWrites = () => {
  expect(aws.ec2).not.toReceiveCommand(CreateTagsCommand);
  expect(aws.ec2).not.toReceiveCommand(DisableImageCommand);
  expect(aws.ssm).not.toReceiveCommand(PutParameterCommand);
  const putTypes = aws.events.commandCalls(PutEventsCommand).flatMap((c) => c.args[0].input.Entries ?? []);
  expect(putTypes.map((e) => e.DetailType).filter((t) => t === 'AMI Promoted')).toEqual([]);
};

/** A refused request changes nothing and says so once, in one `Revocation Rejected`. */
const expectRefused = (amiId: string | null, reason: RegExp) => {
  expectNoWrites();
  expect(aws.published('Revocation Completed')).toEqual([]);
  expect(aws.published('Revocation Rejected')).toEqual([
    {
      version: '1.0',
      requestEventId: expect.any(String),
      amiId,
      requestedBy: 'cli:security',
      reason: expect.stringMatching(reason),
    },
  ]);
};

describe('validation', () => {
  it('rejects an image that does not exist, before any write', async () => {
    // Act & Assess
    await expect(revoke(revoked(ami(404)), deps())).rejects.toMatchObject({
      name: 'ImageNotFoundError',
      message: expect.stringContaining(`amiId: no image ${ami(404)}`),
    });
    expectRefused(ami(404), /no image/);
  });

  it('rejects an image Bakehouse did not make', async () => {
    // Prepare
    const foreign = aws.addImage(1, BASE, { [Tag.Managed]: 'false' });

    // Act & Assess
    await expect(revoke(revoked(foreign), deps())).rejects.toMatchObject({
      name: 'UnmanagedImageError',
      message: expect.stringContaining('bakehouse:managed=true'),
    });
    expectRefused(foreign, /not a Bakehouse image/);
  });

  it('says who asked and what for each try of a refused request, with the request event id', async () => {
    // Prepare: Lambda retries a refusal twice; each try publishes the same requestEventId
    const foreign = aws.addImage(1, BASE, { [Tag.Managed]: 'false' });
    const request = envelope(
      'AMI Revoked',
      { version: '1.0', amiId: foreign, reason: 'x', requestedBy: 'cli:security' },
      'req-7',
    );

    // Act
    for (let attempt = 0; attempt < 3; attempt += 1) await revoke(request, deps()).catch(() => undefined);

    // Assess
    expect(new Set(aws.published('Revocation Rejected').map((d) => d.requestEventId))).toEqual(new Set(['req-7']));
  });

  it('throws the refusal even when Revocation Rejected cannot be published, so Lambda retries it', async () => {
    // Prepare
    const foreign = aws.addImage(1, BASE, { [Tag.Managed]: 'false' });
    aws.failPublishes(1);

    // Act & Assess
    await expect(revoke(revoked(foreign), deps())).rejects.toThrow();
    expectNoWrites();
  });

  it.each([
    ['an empty reason', { reason: '' }, /reason: say why/],
    ['a missing requestedBy', { requestedBy: undefined }, /requestedBy/],
    ['a cascade that is not a boolean', { cascade: 'yes' }, /cascade/],
  ])('rejects %s with InvalidEventError naming the field, calling nothing', async (_what, overrides, field) => {
    // Prepare
    const a = aws.addImage(1, BASE);

    // Act & Assess
    await expect(revoke(revoked(a, overrides), deps())).rejects.toMatchObject({
      name: 'InvalidEventError',
      message: expect.stringMatching(field),
    });
    expect(aws.ec2.calls()).toHaveLength(0);
    expect(aws.ssm.calls()).toHaveLength(0);
    expect(aws.published('Revocation Rejected')).toEqual([
      expect.objectContaining({ amiId: a, reason: expect.stringMatching(field) }),
    ]);
  });

  it('rejects a request whose amiId is not an AMI id, naming it as given', async () => {
    // Act & Assess
    await expect(revoke(revoked('not-an-ami'), deps())).rejects.toMatchObject({ name: 'InvalidEventError' });
    expectRefused('not-an-ami', /amiId/);
  });
});

describe('the outcome', () => {
  it('publishes Revocation Completed with the images revoked and the channels moved and stranded', async () => {
    // Prepare: stable held a then b and moves back to a; dev only ever held b and is stranded
    const [a, b] = [aws.addImage(1, BASE), aws.addImage(2, BASE)];
    await promoteAll(BASE, 'stable', [a, b]);
    await promoteAll(BASE, 'dev', [b]);

    // Act
    await revoke(
      envelope('AMI Revoked', { version: '1.0', amiId: b, reason: 'CVE', requestedBy: 'cli:security' }, 'req-1'),
      deps(),
    );

    // Assess
    expect(aws.published('Revocation Completed')).toEqual([
      {
        version: '1.0',
        requestEventId: 'req-1',
        amiId: b,
        family: BASE,
        reason: 'CVE',
        requestedBy: 'cli:security',
        cascade: false,
        revoked: [b],
        channelsMoved: [{ family: BASE, channel: 'stable', from: b, to: a }],
        stranded: [{ family: BASE, channel: 'dev', amiId: b }],
      },
    ]);
    expect(aws.published('Revocation Rejected')).toEqual([]);
  });

  it('publishes Revocation Completed for a revocation that moves no channel', async () => {
    // Prepare: an image no channel holds
    const a = aws.addImage(1, BASE);

    // Act
    await revoke(revoked(a), deps());

    // Assess
    expect(aws.promoted()).toEqual([]);
    expect(aws.published('Revocation Completed')).toEqual([
      expect.objectContaining({ amiId: a, revoked: [a], channelsMoved: [], stranded: [] }),
    ]);
  });

  it('publishes it after the channels moved, so a failed publish is retried and the redelivery says it', async () => {
    // Prepare: the AMI Promoted goes out, Revocation Completed fails once
    const [a, b] = [aws.addImage(1, BASE), aws.addImage(2, BASE)];
    await promoteAll(BASE, 'stable', [a, b]);
    const d = deps();
    const request = revoked(b);
    aws.events.resetHistory();
    let calls = 0;
    const send = d.events.send.bind(d.events);
    const flaky = {
      ...d,
      events: {
        send: (async (command: PutEventsCommand) => {
          calls += 1;
          if (command.input.Entries?.[0]?.DetailType === 'Revocation Completed' && calls < 3) {
            throw Object.assign(new Error('internal'), { name: 'InternalException' });
          }
          return send(command);
        }) as typeof d.events.send,
      },
    };

    // Act
    await expect(revoke(request, flaky)).rejects.toThrow('internal');
    await revoke(request, flaky);

    // Assess
    expect(channelOf(BASE, 'stable')).toBe(a);
    expect(aws.published('Revocation Completed')).toEqual([expect.objectContaining({ amiId: b, revoked: [b] })]);
  });
});

describe('revoking one image', () => {
  it('tags it revoked with the reason and who asked, and disables it', async () => {
    // Prepare
    const a = aws.addImage(1, BASE);

    // Act
    const summary = await revoke(revoked(a), deps());

    // Assess
    expect(summary.revoked).toEqual([a]);
    expect(aws.tag(a, Tag.Revoked)).toBe('true');
    expect(aws.tag(a, Tag.RevokedReason)).toBe('CVE-2026-0001 in openssl');
    expect(aws.tag(a, Tag.RevokedBy)).toBe('cli:security');
    expect(aws.ec2).toReceiveCommandWith(DisableImageCommand, { ImageId: a });
    expect(aws.images.get(a)?.State).toBe('disabled');
  });

  it('moves every channel that points at it back to the previous good image, with its targets', async () => {
    // Prepare
    const [a, b] = [aws.addImage(1, BASE), aws.addImage(2, BASE)];
    await promoteAll(BASE, 'stable', [a, b]);
    await promoteAll(BASE, 'gold', [a, b]);
    await promoteAll(BASE, 'dev', [b, a]);

    // Act
    const summary = await revoke(revoked(b), deps());

    // Assess
    expect(channelOf(BASE, 'stable')).toBe(a);
    expect(channelOf(BASE, 'gold')).toBe(a);
    expect(channelOf(BASE, 'dev')).toBe(a);
    expect(summary.channelsMoved).toEqual([
      { family: BASE, channel: 'stable', from: b, to: a },
      { family: BASE, channel: 'gold', from: b, to: a },
    ]);
    expect(fakes.templates.get('web-stable')?.amiId).toBe(a);
  });

  it("publishes AMI Promoted per moved channel with cause 'revocation'", async () => {
    // Prepare
    const [a, b] = [aws.addImage(1, BASE), aws.addImage(2, BASE)];
    await promoteAll(BASE, 'stable', [a, b]);
    const before = aws.promoted().length;

    // Act
    await revoke(revoked(b), deps());

    // Assess
    expect(aws.promoted().slice(before)).toEqual([
      expect.objectContaining({
        family: BASE,
        channel: 'stable',
        amiId: a,
        previousAmiId: b,
        cause: 'revocation',
        promotedBy: 'cli:security',
        bakeId: 'bake-1',
      }),
    ]);
    const [latest] = await deps().channels.channelHistory(BASE, 'stable');
    expect(latest).toMatchObject({ amiId: a, cause: 'revocation', by: 'cli:security', previousAmiId: b });
  });

  it('rolls back past images that are revoked, failed or gone', async () => {
    // Prepare
    const good = aws.addImage(1, BASE);
    const gone = aws.addImage(2, BASE);
    const failed = aws.addImage(3, BASE);
    const earlierRevoked = aws.addImage(4, BASE);
    const bad = aws.addImage(5, BASE);
    await promoteAll(BASE, 'stable', [good, gone, failed, earlierRevoked, bad]);
    aws.images.delete(gone);
    await new (await import('@aws-sdk/client-ec2')).EC2Client({}).send(
      new CreateTagsCommand({ Resources: [failed], Tags: [{ Key: TESTED_TAG, Value: 'failed' }] }),
    );
    await revoke(revoked(earlierRevoked), deps());

    // Act
    await revoke(revoked(bad), deps());

    // Assess
    expect(channelOf(BASE, 'stable')).toBe(good);
  });

  it('leaves a channel with no earlier good image where it is and reports it stranded', async () => {
    // Prepare
    const a = aws.addImage(1, BASE);
    await promoteAll(BASE, 'stable', [a]);
    const d = deps();

    // Act
    const summary = await revoke(revoked(a), d);

    // Assess
    expect(summary.stranded).toEqual([{ family: BASE, channel: 'stable', amiId: a }]);
    expect(summary.channelsMoved).toEqual([]);
    expect(channelOf(BASE, 'stable')).toBe(a);
    expect(aws.images.get(a)?.State).toBe('disabled');
    expect(d.logger.error).toHaveBeenCalledWith(
      expect.stringContaining('stranded'),
      expect.objectContaining({ channel: 'stable', amiId: a }),
    );
  });
});

describe('redelivery', () => {
  it('does not tag or disable an already revoked image again, and moves nothing twice', async () => {
    // Prepare
    const [a, b] = [aws.addImage(1, BASE), aws.addImage(2, BASE)];
    await promoteAll(BASE, 'stable', [a, b]);
    await revoke(revoked(b), deps());
    aws.ec2.resetHistory();
    aws.ssm.resetHistory();
    aws.events.resetHistory();

    // Act
    const again = await revoke(revoked(b), deps());

    // Assess
    expect(again).toEqual({ revoked: [b], channelsMoved: [], stranded: [] });
    expectNoWrites();
    expect(aws.ssm).toReceiveCommandWith(GetParameterCommand, { Name: `${PREFIX}/${BASE}/stable` });
  });

  it('still moves the channels of an image revoked by a run that stopped halfway', async () => {
    // Prepare: tagged and disabled, channels not moved yet
    const a = aws.addImage(1, BASE);
    const b = aws.addImage(2, BASE);
    await promoteAll(BASE, 'stable', [a, b]);
    aws.images.set(b, {
      ...aws.images.get(b),
      State: 'disabled',
      Tags: [...(aws.images.get(b)?.Tags ?? []), { Key: Tag.Revoked, Value: 'true' }],
    });

    // Act
    const summary = await revoke(revoked(b), deps());

    // Assess
    expect(summary.channelsMoved).toEqual([{ family: BASE, channel: 'stable', from: b, to: a }]);
    expect(aws.ec2).not.toReceiveCommand(DisableImageCommand);
  });
});

describe('cascade', () => {
  /** base b0 ← b1; web w0 ← w1 (built on b1); app a0 ← a1 (built on w1): channels at the newest. */
  const lineage = async () => {
    const b0 = aws.addImage(1, BASE);
    const b1 = aws.addImage(2, BASE);
    const w0 = aws.addImage(10, WEB, { [Tag.SourceAmi]: b0 });
    const w1 = aws.addImage(11, WEB, { [Tag.SourceAmi]: b1 });
    const a0 = aws.addImage(20, APP, { [Tag.SourceAmi]: w0 });
    const a1 = aws.addImage(21, APP, { [Tag.SourceAmi]: w1 });
    await promoteAll(BASE, 'stable', [b0, b1]);
    await promoteAll(WEB, 'stable', [w0, w1]);
    await promoteAll(APP, 'stable', [a0, a1]);
    return { b0, b1, w0, w1, a0, a1 };
  };

  it('revokes descendants over two generations, naming the parent in the reason, and moves their channels back', async () => {
    // Prepare
    const { b0, b1, w0, w1, a0, a1 } = await lineage();

    // Act
    const summary = await revoke(revoked(b1, { cascade: true }), deps());

    // Assess
    expect(summary.revoked).toEqual([b1, w1, a1]);
    expect(aws.tag(w1, Tag.RevokedReason)).toBe(`parent ${b1} revoked: CVE-2026-0001 in openssl`);
    expect(aws.tag(a1, Tag.RevokedReason)).toBe(`parent ${w1} revoked: CVE-2026-0001 in openssl`);
    expect([b1, w1, a1].map((id) => aws.images.get(id)?.State)).toEqual(['disabled', 'disabled', 'disabled']);
    expect([channelOf(BASE, 'stable'), channelOf(WEB, 'stable'), channelOf(APP, 'stable')]).toEqual([b0, w0, a0]);
    expect(summary.stranded).toEqual([]);
  });

  it('reports the children of the rolled-back channel as outdated', async () => {
    // Prepare
    const { b1 } = await lineage();
    const before = aws.promoted().length;

    // Act
    await revoke(revoked(b1, { cascade: true }), deps());

    // Assess: web's newest launchable image (w0) is built on b0, the channel's image again
    const [base, web] = aws.promoted().slice(before);
    expect(base).toMatchObject({ family: BASE, outdatedChildren: [] });
    expect(web).toMatchObject({ family: WEB, outdatedChildren: [] });
  });

  it('leaves descendants alone without cascade', async () => {
    // Prepare
    const { b1, w1 } = await lineage();

    // Act
    const summary = await revoke(revoked(b1), deps());

    // Assess
    expect(summary.revoked).toEqual([b1]);
    expect(aws.tag(w1, Tag.Revoked)).toBeUndefined();
    expect(aws.images.get(w1)?.State).toBe('available');
  });

  it('ends on a cycle of source-ami tags, revoking each image once', async () => {
    // Prepare
    const x = aws.addImage(1, BASE, { [Tag.SourceAmi]: ami(2) });
    const y = aws.addImage(2, WEB, { [Tag.SourceAmi]: x });

    // Act
    const summary = await revoke(revoked(x, { cascade: true }), deps());

    // Assess
    expect(summary.revoked).toEqual([x, y]);
    expect(aws.ec2).toReceiveCommandTimes(DisableImageCommand, 2);
  });
});

describe('property: after a revoke no channel stays on a revoked image when an earlier good one exists', () => {
  const CHANNELS = ['dev', 'stable', 'gold'] as const;

  it('holds for any sequence of promotions', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.integer({ min: 1, max: 5 }), fc.constantFrom(...CHANNELS)), {
          minLength: 1,
          maxLength: 12,
        }),
        fc.integer({ min: 1, max: 5 }),
        async (promotions, victim) => {
          aws = fakeAws();
          fakes = fakeTargets();
          for (let n = 1; n <= 5; n += 1) aws.addImage(n, BASE);
          for (const [n, channel] of promotions) await promoteAll(BASE, channel, [ami(n)]);

          const summary = await revoke(revoked(ami(victim)), deps());

          for (const channel of CHANNELS) {
            const held = [...new Set(promotions.filter(([, c]) => c === channel).map(([n]) => ami(n)))];
            const current = channelOf(BASE, channel);
            const earlierGood = held.some((id) => id !== ami(victim));
            if (current === ami(victim)) {
              // Only when the channel never held another image.
              expect(earlierGood).toBe(false);
              expect(summary.stranded).toContainEqual({ family: BASE, channel, amiId: ami(victim) });
            } else if (current !== undefined) {
              expect(aws.tag(current, Tag.Revoked)).toBeUndefined();
            }
          }
        },
      ),
      { numRuns: 60 },
    );
  });
});

describe('handler', () => {
  stubHandlerEnvironment();

  it('revokes with the bundled configuration', async () => {
    // Prepare: the shipped al2023-base has dev and stable, and stable's launch template is on b
    const [a, b] = [aws.addImage(1, BASE), aws.addImage(2, BASE)];
    await promoteAll(BASE, 'stable', [a, b]);
    const template = { LaunchTemplateId: 'lt-0123456789abcdef0', LaunchTemplateName: 'bakehouse-example-web' };
    aws.ec2
      .on(DescribeLaunchTemplatesCommand)
      .resolves({ LaunchTemplates: [{ ...template, LatestVersionNumber: 2, DefaultVersionNumber: 2 }] })
      .on(DescribeLaunchTemplateVersionsCommand)
      .resolves({ LaunchTemplateVersions: [{ ...template, VersionNumber: 2, LaunchTemplateData: { ImageId: b } }] })
      .on(CreateLaunchTemplateVersionCommand)
      .resolves({ LaunchTemplateVersion: { ...template, VersionNumber: 3 } })
      .on(ModifyLaunchTemplateCommand)
      .resolves({ LaunchTemplate: { ...template, DefaultVersionNumber: 3 } });
    const { handler } = await import('../../functions/revoke/handler');

    // Act
    const summary = await handler(revoked(b), lambdaContext('bakehouse-test-Revoke'));

    // Assess
    expect(summary.channelsMoved).toEqual([{ family: BASE, channel: 'stable', from: b, to: a }]);
    expect(aws.ec2).toReceiveCommandWith(CreateLaunchTemplateVersionCommand, {
      LaunchTemplateId: template.LaunchTemplateId,
      LaunchTemplateData: { ImageId: a },
    });
    expect(aws.events).toReceiveCommandWith(PutEventsCommand, {
      Entries: [expect.objectContaining({ EventBusName: 'bakehouse-prod', DetailType: 'AMI Promoted' })],
    });
  });

  it('fails a bad event with InvalidEventError, calling nothing', async () => {
    // Prepare
    const { handler } = await import('../../functions/revoke/handler');

    // Act & Assess
    await expect(
      handler(revoked(ami(1), { reason: '' }), lambdaContext('bakehouse-test-Revoke')),
    ).rejects.toMatchObject({
      name: 'InvalidEventError',
    });
    expect(aws.ec2.calls()).toHaveLength(0);
  });
});
