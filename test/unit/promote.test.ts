import { CreateTagsCommand } from '@aws-sdk/client-ec2';
import { PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { PutParameterCommand } from '@aws-sdk/client-ssm';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { Tag } from '../../functions/commons/bake-plan';
import { TESTED_TAG } from '../../functions/commons/channels';
import { type BakehouseConfig, type FamilyInput, loadConfig } from '../../functions/commons/families';
import { channelTagKey } from '../../functions/commons/promotion';
import { promote } from '../../functions/promote/core';
import { childFamily, configInput, lambdaContext, linuxFamily, withCustomerKey } from './support/bake-factories';
import { type MemoryLocks, memoryLocks } from './support/memory-locks';
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

/** Shares with another account, so its builder uses a customer managed key. */
const baseFamily = (): FamilyInput =>
  withCustomerKey(
    linuxFamily({
      name: BASE,
      channels: [
        {
          name: 'dev',
          promoteOn: 'baked',
          launchTemplates: [{ template: 'web-dev' }],
          autoScalingGroups: [{ name: 'web-dev-asg' }],
        },
        { name: 'canary', promoteOn: 'baked' },
        {
          name: 'stable',
          promoteOn: 'tested',
          launchTemplates: [{ template: 'lt-0123456789abcdef0', makeDefault: false }],
        },
        { name: 'gold', promoteOn: 'manual' },
        {
          name: 'prod',
          promoteOn: 'canary',
          canary: {
            autoScalingGroup: 'web-prod-asg',
            metrics: [{ name: 'cpu', namespace: 'AWS/EC2', metricName: 'CPUUtilization', badDirection: 'increase' }],
          },
          autoScalingGroups: [{ name: 'web-prod-asg' }],
        },
      ],
      distribution: { regions: ['eu-west-1'], accounts: ['444455556666'] },
    }),
  );

const config = (): BakehouseConfig =>
  loadConfig(configInput([baseFamily(), childFamily(BASE, 'stable', WEB), childFamily(WEB, 'stable', 'al2023-app')]));

let aws: FakeAws;
let fakes: ReturnType<typeof fakeTargets>;
const deps = () => promotionDeps(config(), fakes.targets);

beforeEach(() => {
  aws = fakeAws();
  fakes = fakeTargets();
});

const baked = (amiId: string, overrides: Record<string, unknown> = {}) =>
  envelope('AMI Baked', {
    version: '1.0',
    bakeId: 'bake-1',
    family: BASE,
    os: 'linux',
    amiId,
    region: 'eu-central-1',
    name: 'bakehouse/al2023-base/1',
    sourceAmiId: ami(999),
    bakeKey: 'k'.repeat(64),
    parentFamily: null,
    durationSeconds: 600,
    automationExecutionId: 'exec-1',
    ...overrides,
  });

const tested = (amiId: string, passed: boolean, overrides: Record<string, unknown> = {}) =>
  envelope('AMI Tested', {
    version: '1.0',
    bakeId: 'bake-1',
    family: BASE,
    amiId,
    passed,
    results: [
      { name: 'ssm agent running', passed: true },
      { name: 'jq present', passed },
    ],
    testExecutionId: 'exec-2',
    ...overrides,
  });

const requested = (amiId: string, channel: string, overrides: Record<string, unknown> = {}) =>
  envelope('Promote Requested', {
    version: '1.0',
    family: BASE,
    channel,
    amiId,
    requestedBy: 'cli:alice',
    reason: 'hotfix',
    ...overrides,
  });

const judged = (amiId: string, verdict: string, overrides: Record<string, unknown> = {}) =>
  envelope('Canary Judged', {
    version: '1.0',
    canaryId: 'canary-1',
    executionArn: 'arn:aws:states:eu-central-1:111122223333:execution:bakehouse-test-canary:canary-1',
    family: BASE,
    channel: 'prod',
    amiId,
    baselineAmiId: ami(900),
    bakeId: 'bake-7',
    verdict,
    score: verdict === 'pass' ? 100 : verdict === 'fail' ? 0 : verdict === 'marginal' ? 60 : null,
    reason: `the canary was judged ${verdict}`,
    intervalsJudged: 3,
    failedCritical: [],
    metrics: [],
    cleanup: { errors: [], instancesTerminated: 2 },
    ...overrides,
  });

const channelOf = (channel: string, family = BASE) =>
  aws.parameters.get(`${PREFIX}/${family}/${channel}`)?.at(-1)?.value;

/** The detail-types put on the bus, in order. */
const publishedTypes = () =>
  aws.events.commandCalls(PutEventsCommand).flatMap((c) => (c.args[0].input.Entries ?? []).map((e) => e.DetailType));

/** Nothing was written anywhere; a refusal is answered with Promotion Rejected alone. */
const expectNoSideEffects = () => {
  expect(aws.ssm).not.toReceiveCommand(PutParameterCommand);
  expect(aws.ec2).not.toReceiveCommand(CreateTagsCommand);
  expect(publishedTypes().filter((t) => t !== 'Promotion Rejected')).toEqual([]);
  expect(fakes.targets.updateLaunchTemplates).not.toHaveBeenCalled();
  expect(fakes.targets.refreshAutoScalingGroups).not.toHaveBeenCalled();
  expect(fakes.targets.distributeImage).not.toHaveBeenCalled();
};

describe('AMI Baked', () => {
  it("moves only the channels promoted on 'baked', with their launch templates and groups", async () => {
    // Prepare
    const a = aws.addImage(1, BASE);

    // Act
    const result = await promote(baked(a), deps());

    // Assess
    expect(result.channels.map((c) => [c.channel, c.changed, c.published])).toEqual([
      ['dev', true, true],
      ['canary', true, true],
    ]);
    expect(channelOf('dev')).toBe(a);
    expect(channelOf('canary')).toBe(a);
    expect(channelOf('stable')).toBeUndefined();
    expect(fakes.targets.updateLaunchTemplates).toHaveBeenCalledWith(
      [{ template: 'web-dev', makeDefault: true }],
      a,
      expect.anything(),
    );
    expect(fakes.targets.refreshAutoScalingGroups).toHaveBeenCalledWith(
      [{ name: 'web-dev-asg', minHealthyPercentage: 90 }],
      a,
      expect.anything(),
    );
  });

  it('publishes AMI Promoted per channel with the targets, and distributes the image once', async () => {
    // Prepare
    const a = aws.addImage(1, BASE);

    // Act
    await promote(baked(a), deps());

    // Assess
    expect(fakes.targets.distributeImage).toHaveBeenCalledTimes(1);
    const [dev, canary] = aws.promoted();
    expect(dev).toEqual({
      version: '1.0',
      bakeId: 'bake-1',
      family: BASE,
      amiId: a,
      channel: 'dev',
      previousAmiId: null,
      cause: 'baked',
      promotedBy: 'bakehouse:baked',
      targets: {
        parameter: `${PREFIX}/${BASE}/dev`,
        launchTemplates: [{ id: 'web-dev', version: 1, isDefault: true }],
        autoScalingGroups: [{ name: 'web-dev-asg', instanceRefreshId: `refresh-web-dev-asg-${a}` }],
        regions: [{ region: 'eu-west-1', amiId: `${a}-eu-west-1` }],
        accounts: ['444455556666'],
      },
      outdatedChildren: [],
    });
    expect(canary).toMatchObject({ channel: 'canary', targets: { launchTemplates: [], autoScalingGroups: [] } });
    expect(aws.events).toReceiveCommandWith(PutEventsCommand, {
      Entries: [
        expect.objectContaining({ EventBusName: 'bakehouse-test', Source: 'bakehouse', DetailType: 'AMI Promoted' }),
      ],
    });
  });

  it('tags the image with each channel and the time of the promotion', async () => {
    // Prepare
    const a = aws.addImage(1, BASE);

    // Act
    await promote(baked(a), deps());

    // Assess
    expect(aws.tag(a, channelTagKey('dev'))).toBe('2026-11-29T12:00:00.000Z');
    expect(aws.tag(a, channelTagKey('canary'))).toBe('2026-11-29T12:00:00.000Z');
    expect(aws.tag(a, channelTagKey('stable'))).toBeUndefined();
  });

  it('records the previous AMI of the channel', async () => {
    // Prepare
    const a = aws.addImage(1, BASE);
    const b = aws.addImage(2, BASE);
    await promote(baked(a), deps());

    // Act
    await promote(baked(b, { bakeId: 'bake-2' }), deps());

    // Assess
    expect(aws.promoted().at(-1)).toMatchObject({ amiId: b, previousAmiId: a, bakeId: 'bake-2' });
    const [latest] = await deps().channels.channelHistory(BASE, 'canary');
    expect(latest).toMatchObject({
      amiId: b,
      by: 'bakehouse:baked',
      cause: 'baked',
      bakeId: 'bake-2',
      previousAmiId: a,
    });
  });
});

describe('AMI Tested', () => {
  it("moves the channels promoted on 'tested' when the tests passed", async () => {
    // Prepare
    const a = aws.addImage(1, BASE);

    // Act
    await promote(tested(a, true), deps());

    // Assess
    expect(channelOf('stable')).toBe(a);
    expect(channelOf('dev')).toBeUndefined();
    expect(aws.promoted()).toEqual([
      expect.objectContaining({
        channel: 'stable',
        cause: 'tested',
        promotedBy: 'bakehouse:tested',
        targets: expect.objectContaining({
          launchTemplates: [{ id: 'lt-0123456789abcdef0', version: 1, isDefault: false }],
        }),
      }),
    ]);
  });

  it('promotes nothing when the tests failed, and says why', async () => {
    // Prepare
    const a = aws.addImage(1, BASE);
    const d = deps();

    // Act
    const result = await promote(tested(a, false), d);

    // Assess
    expect(result.skipped).toMatch(/tests failed \(jq present\)/);
    expectNoSideEffects();
    expect(d.logger.info).toHaveBeenCalledWith('promoting nothing', expect.objectContaining({ amiId: a }));
  });

  it('skips, without an error, an image marked failed or revoked since the event was sent', async () => {
    // Prepare
    const failed = aws.addImage(1, BASE, { [TESTED_TAG]: 'failed' });
    const revoked = aws.addImage(2, BASE, { [Tag.Revoked]: 'true' });

    // Act
    const results = [await promote(tested(failed, true), deps()), await promote(baked(revoked), deps())];

    // Assess
    expect(results.map((r) => r.skipped)).toEqual([
      expect.stringContaining('its tests failed'),
      expect.stringContaining('it is revoked'),
    ]);
    expectNoSideEffects();
  });
});

describe('Canary Judged', () => {
  it("moves the event's canary channel to the image on verdict pass, with cause canary and the canary's bake", async () => {
    // Prepare
    const a = aws.addImage(1, BASE);

    // Act
    const result = await promote(judged(a, 'pass'), deps());

    // Assess
    expect(result.channels.map((c) => [c.channel, c.changed, c.published])).toEqual([['prod', true, true]]);
    expect(channelOf('prod')).toBe(a);
    for (const other of ['dev', 'canary', 'stable', 'gold']) expect(channelOf(other)).toBeUndefined();
    expect(aws.promoted()).toEqual([
      expect.objectContaining({
        channel: 'prod',
        amiId: a,
        cause: 'canary',
        promotedBy: 'bakehouse:canary',
        bakeId: 'bake-7',
        targets: expect.objectContaining({
          autoScalingGroups: [{ name: 'web-prod-asg', instanceRefreshId: `refresh-web-prod-asg-${a}` }],
        }),
      }),
    ]);
    expect(fakes.targets.refreshAutoScalingGroups).toHaveBeenCalledWith(
      [{ name: 'web-prod-asg', minHealthyPercentage: 90 }],
      expect.anything(),
      expect.anything(),
    );
  });

  it.each(['marginal', 'fail', 'skipped', 'aborted', 'error'])(
    'promotes nothing on verdict %s, and says why',
    async (verdict) => {
      // Prepare
      const a = aws.addImage(1, BASE);

      // Act
      const result = await promote(judged(a, verdict), deps());

      // Assess
      expect(result.channels).toEqual([]);
      expect(result.skipped).toBe(`canary canary-1 judged ${verdict}: promoted nowhere`);
      expectNoSideEffects();
    },
  );

  it('does not move the canary channel back over a newer image of the family', async () => {
    // Prepare
    const older = aws.addImage(1, BASE);
    const newer = aws.addImage(2, BASE);
    await promote(judged(newer, 'pass'), deps());

    // Act
    const result = await promote(judged(older, 'pass'), deps());

    // Assess
    expect(channelOf('prod')).toBe(newer);
    expect(result.channels).toEqual([]);
    expect(result.skipped).toContain('a newer image of the family');
  });

  it('refuses an image of another family, changing nothing', async () => {
    // Prepare
    const a = aws.addImage(1, WEB);

    // Act & Assess
    await expect(promote(judged(a, 'pass'), deps())).rejects.toMatchObject({
      name: 'PromotionRefusedError',
      message: expect.stringContaining("it belongs to family 'al2023-web'"),
    });
    expectNoSideEffects();
  });

  it('refuses a channel the family does not have, naming the channel and the fix', async () => {
    // Act & Assess
    await expect(promote(judged(ami(1), 'pass', { channel: 'nope' }), deps())).rejects.toMatchObject({
      name: 'UnknownChannelError',
      message: expect.stringContaining("channel: family 'al2023-base' has no channel 'nope'"),
    });
    expectNoSideEffects();
  });

  it("moves nothing when the named channel is no longer promoted on 'canary' (the config changed during the canary)", async () => {
    // Prepare
    const a = aws.addImage(1, BASE);

    // Act
    const result = await promote(judged(a, 'pass', { channel: 'stable' }), deps());

    // Assess
    expect(result.skipped).toBe(
      "channel 'stable' of family 'al2023-base' is promoted on 'tested', not 'canary': the canary's pass moves nothing",
    );
    expectNoSideEffects();
  });

  it('never moves a canary channel on AMI Baked or AMI Tested', async () => {
    // Prepare
    const a = aws.addImage(1, BASE);
    const b = aws.addImage(2, BASE);

    // Act
    await promote(baked(a), deps());
    await promote(tested(b, true), deps());

    // Assess
    expect(channelOf('stable')).toBe(b);
    expect(channelOf('prod')).toBeUndefined();
    expect(aws.promoted().map((p) => p.channel)).not.toContain('prod');
  });
});

describe('events out of order', () => {
  // EventBridge does not promise order, and a retried test or Lambda invocation lands late: an
  // automatic promotion of an older bake must not move a channel back over a newer image.
  it('leaves a channel on a newer image of the family when an older image passes its tests late', async () => {
    // Prepare
    const older = aws.addImage(1, BASE);
    const newer = aws.addImage(2, BASE);
    await promote(tested(newer, true, { bakeId: 'bake-2' }), deps());
    const d = deps();

    // Act
    const result = await promote(tested(older, true), d);

    // Assess
    expect(channelOf('stable')).toBe(newer);
    expect(result.channels).toEqual([]);
    expect(result.skipped).toBe(
      `not promoting ${older} to al2023-base/stable: the channel holds ${newer}, a newer image of the family`,
    );
    expect(aws.promoted().map((p) => p.amiId)).toEqual([newer]);
    expect(d.logger.warn).toHaveBeenCalledWith(
      'channel holds a newer image; not moving it back',
      expect.objectContaining({ channel: 'stable', amiId: older, heldAmiId: newer }),
    );
  });

  it('moves the channels that hold older images and leaves the ones that hold newer', async () => {
    // Prepare
    const older = aws.addImage(1, BASE);
    const newer = aws.addImage(2, BASE);
    await promote(requested(newer, 'dev'), deps());

    // Act
    const result = await promote(baked(older), deps());

    // Assess
    expect(channelOf('dev')).toBe(newer);
    expect(channelOf('canary')).toBe(older);
    expect(result.channels.map((c) => c.channel)).toEqual(['canary']);
  });

  it('still lets an operator move a channel back on purpose', async () => {
    // Prepare
    const older = aws.addImage(1, BASE);
    const newer = aws.addImage(2, BASE);
    await promote(tested(newer, true), deps());

    // Act
    await promote(requested(older, 'stable'), deps());

    // Assess
    expect(channelOf('stable')).toBe(older);
  });
});

describe('Promote Requested', () => {
  it('moves a manual channel, recording who asked', async () => {
    // Prepare
    const a = aws.addImage(1, BASE);

    // Act
    await promote(requested(a, 'gold'), deps());

    // Assess
    expect(channelOf('gold')).toBe(a);
    expect(aws.promoted()).toEqual([
      expect.objectContaining({ channel: 'gold', cause: 'manual', promotedBy: 'cli:alice', bakeId: 'bake-1' }),
    ]);
    const [latest] = await deps().channels.channelHistory(BASE, 'gold');
    expect(latest).toMatchObject({ by: 'cli:alice', cause: 'manual' });
  });

  it("records a rollback as one (cause 'rollback'), so the next rollback walks further back", async () => {
    // Prepare: stable held a, then b; the operator rolls back to a
    const a = aws.addImage(1, BASE);
    const b = aws.addImage(2, BASE);
    await promote(tested(a, true), deps());
    await promote(tested(b, true), deps());

    // Act
    await promote(requested(a, 'stable', { cause: 'rollback', reason: 'rollback' }), deps());

    // Assess
    expect(channelOf('stable')).toBe(a);
    expect(aws.promoted().at(-1)).toMatchObject({ amiId: a, previousAmiId: b, cause: 'rollback' });
    const [latest] = await deps().channels.channelHistory(BASE, 'stable');
    expect(latest).toMatchObject({ by: 'cli:alice', cause: 'rollback', previousAmiId: b });
    expect(await deps().channels.previousGood(BASE, 'stable')).toBeNull();
  });

  it('refuses a Promote Requested cause other than manual or rollback, naming the field', async () => {
    // Prepare
    const a = aws.addImage(1, BASE);

    // Act
    const refused = promote(requested(a, 'gold', { cause: 'baked' }), deps());

    // Assess
    await expect(refused).rejects.toThrow(/cause/);
    expectNoSideEffects();
  });

  it('may override any channel of the family, for example roll stable back to an earlier image', async () => {
    // Prepare
    const a = aws.addImage(1, BASE);
    const b = aws.addImage(2, BASE);
    await promote(tested(a, true), deps());
    await promote(tested(b, true), deps());

    // Act
    await promote(requested(a, 'stable', { requestedBy: 'cli:bob' }), deps());

    // Assess
    expect(channelOf('stable')).toBe(a);
    expect(aws.promoted().at(-1)).toMatchObject({ amiId: a, previousAmiId: b, promotedBy: 'cli:bob' });
  });

  it.each([
    ['its tests failed', () => aws.addImage(1, BASE, { [TESTED_TAG]: 'failed' })],
    ['it is revoked', () => aws.addImage(1, BASE, { [Tag.Revoked]: 'true' })],
    ["it belongs to family 'al2023-web'", () => aws.addImage(1, WEB)],
    ['it is disabled, not available', () => aws.addImage(1, BASE, {}, { State: 'disabled' })],
    ['it is pending, not available', () => aws.addImage(1, BASE, {}, { State: 'pending' })],
    ['it does not exist', () => ami(404)],
  ])('refuses an image when %s, with a named error and no side effects', async (reason, image) => {
    // Prepare
    const amiId = image();

    // Act & Assess
    await expect(promote(requested(amiId, 'gold'), deps())).rejects.toMatchObject({
      name: 'PromotionRefusedError',
      message: expect.stringContaining(reason),
    });
    expectNoSideEffects();
  });

  it('refuses a channel the family does not have, naming the channel', async () => {
    // Prepare
    const a = aws.addImage(1, BASE);

    // Act & Assess
    await expect(promote(requested(a, 'beta'), deps())).rejects.toMatchObject({
      name: 'UnknownChannelError',
      message: expect.stringMatching(/channel: family 'al2023-base' has no channel 'beta'.*dev, canary, stable, gold/),
    });
    expectNoSideEffects();
    expect(aws.ec2.calls()).toHaveLength(0);
  });
});

describe('a refused promotion', () => {
  it("of another family's image is answered with Promotion Rejected: the request, the reason and the fix", async () => {
    // Prepare
    const a = aws.addImage(1, BASE);
    const event = { ...requested(a, 'stable', { family: WEB }), id: 'req-1' };

    // Act
    const act = promote(event, deps());

    // Assess: still thrown, so the request lands in the PromoteRejected queue
    await expect(act).rejects.toMatchObject({ name: 'PromotionRefusedError' });
    expect(aws.published('Promotion Rejected')).toEqual([
      {
        version: '1.0',
        requestEventId: 'req-1',
        requestDetailType: 'Promote Requested',
        family: WEB,
        channel: 'stable',
        amiId: a,
        requestedBy: 'cli:alice',
        bakeId: null,
        reason: `refused to promote ${a} to al2023-web/stable: it belongs to family 'al2023-base'`,
        fix: `promote an image of family 'al2023-web' (bakehouse images al2023-web lists its images), or this image to a channel of 'al2023-base'`,
      },
    ]);
    expectNoSideEffects();
  });

  it.each([
    ['its tests failed', { [TESTED_TAG]: 'failed' }, {}, /or bake one: bakehouse bake al2023-base/],
    ['it is revoked', { [Tag.Revoked]: 'true' }, {}, /promote another image of 'al2023-base'/],
    ['it is pending', {}, { State: 'pending' as const }, /wait until the image is available/],
  ])(
    "of this family's image when %s names the fix, and the image's bake for its thread",
    async (_what, tags, overrides, fix) => {
      // Prepare
      const a = aws.addImage(1, BASE, tags, overrides);

      // Act
      await promote(requested(a, 'gold'), deps()).catch(() => undefined);

      // Assess
      expect(aws.published('Promotion Rejected')).toEqual([
        expect.objectContaining({
          family: BASE,
          channel: 'gold',
          amiId: a,
          bakeId: 'bake-1',
          fix: expect.stringMatching(fix),
        }),
      ]);
    },
  );

  it('of an image that does not exist names the fix', async () => {
    // Act
    await promote(requested(ami(404), 'gold'), deps()).catch(() => undefined);

    // Assess
    expect(aws.published('Promotion Rejected')).toEqual([
      expect.objectContaining({
        amiId: ami(404),
        bakeId: null,
        reason: expect.stringContaining('it does not exist'),
        fix: expect.stringContaining('name an image that exists'),
      }),
    ]);
  });

  it('that breaks the contract names each field, with the fix the issues give', async () => {
    // Act
    await promote({ ...requested(ami(1), 'gold', { version: '2.0' }), id: 'req-2' }, deps()).catch(() => undefined);

    // Assess
    expect(aws.published('Promotion Rejected')).toEqual([
      expect.objectContaining({
        requestEventId: 'req-2',
        reason: 'version: this Bakehouse accepts major version 1',
        fix: "send detail.version '1.0'",
      }),
    ]);
  });

  it('from an automatic event carries the bake of the event, for its thread', async () => {
    // Act
    await promote(tested(ami(1), true, { family: 'al2023-gone', bakeId: 'bake-9' }), deps()).catch(() => undefined);

    // Assess
    expect(aws.published('Promotion Rejected')).toEqual([
      expect.objectContaining({
        requestDetailType: 'AMI Tested',
        family: 'al2023-gone',
        channel: null,
        requestedBy: null,
        bakeId: 'bake-9',
        reason: "family: no family named 'al2023-gone'",
      }),
    ]);
  });

  it('is thrown even when Promotion Rejected cannot be published, so Lambda retries it', async () => {
    // Prepare
    const a = aws.addImage(1, WEB);
    aws.events.on(PutEventsCommand).rejects(Object.assign(new Error('throttled'), { name: 'ThrottlingException' }));

    // Act & Assess
    await expect(promote(requested(a, 'gold'), deps())).rejects.toMatchObject({ name: 'ThrottlingException' });
  });

  it('is not what an event that promotes nothing gets (tests failed, verdict not pass)', async () => {
    // Prepare
    const a = aws.addImage(1, BASE);

    // Act
    await promote(tested(a, false), deps());
    await promote(judged(a, 'fail'), deps());

    // Assess
    expect(aws.events).not.toReceiveCommand(PutEventsCommand);
  });
});

describe('concurrent moves of one channel', () => {
  /** Each invocation has deps of its own (as Lambda's containers do); they share the state table's locks. */
  const invocations = (locks: MemoryLocks) => () => promotionDeps(config(), fakes.targets, { locks });
  /** The clock promotionDeps gives the functions: the locks judge expiry on it too. */
  const promotionClock = () => deps().clock();

  it('take turns: the history is a chain, and each move is announced once', async () => {
    // Prepare: 20 operators promote gold to 20 images at once
    const images = Array.from({ length: 20 }, (_, i) => aws.addImage(i + 1, BASE));
    const locks = memoryLocks(promotionClock);
    const invocation = invocations(locks);

    // Act
    await Promise.all(images.map((amiId) => promote(requested(amiId, 'gold'), invocation())));

    // Assess
    const history = await deps().channels.channelHistory(BASE, 'gold');
    expect(history).toHaveLength(20);
    const oldestFirst = [...history].reverse();
    oldestFirst.forEach((version, i) => {
      expect(version.previousAmiId).toBe(i === 0 ? null : oldestFirst[i - 1]?.amiId);
    });
    expect(new Set(history.map((h) => h.amiId)).size).toBe(20);
    const announced = aws.promoted().filter((p) => p.channel === 'gold');
    expect(announced.map((p) => [p.previousAmiId, p.amiId])).toEqual(
      oldestFirst.map((h) => [h.previousAmiId, h.amiId]),
    );
    expect(locks.maxConcurrentHolders()).toBe(1);
  });

  it('announce one move requested three times at once only once', async () => {
    // Prepare
    const a = aws.addImage(1, BASE);
    const invocation = invocations(memoryLocks(promotionClock));

    // Act
    await Promise.all([1, 2, 3].map(() => promote(requested(a, 'gold'), invocation())));

    // Assess
    expect(aws.promoted().filter((p) => p.channel === 'gold')).toHaveLength(1);
    expect(await deps().channels.channelHistory(BASE, 'gold')).toHaveLength(1);
  });

  it('waits for a channel another promotion holds, and gives it back when the move fails', async () => {
    // Prepare: someone holds gold; it lets go after three tries
    const a = aws.addImage(1, BASE);
    const locks = memoryLocks();
    const holder = await locks.acquire('lock#channel#al2023-base/gold', 'other', new Date(Date.now() + 60_000));
    expect(holder.acquired).toBe(true);
    let waits = 0;
    const sleep = async () => {
      waits += 1;
      if (waits === 3) await locks.release('lock#channel#al2023-base/gold', 'other');
    };
    aws.failPublishes(1);

    // Act
    await expect(
      promote(requested(a, 'gold'), promotionDeps(config(), fakes.targets, { locks, sleep })),
    ).rejects.toThrow();

    // Assess: it waited its turn, moved, and freed the channel though publishing failed
    expect(waits).toBe(3);
    expect(channelOf('gold')).toBe(a);
    expect(await locks.read('lock#channel#al2023-base/gold')).toBeUndefined();
  });

  it('fails with ChannelBusyError, changing nothing, when the channel stays held longer than it waits', async () => {
    // Prepare
    const a = aws.addImage(1, BASE);
    const locks = memoryLocks();
    await locks.acquire('lock#channel#al2023-base/gold', 'stuck', new Date(Date.now() + 600_000));
    const clock = performance.now.bind(performance);
    let elapsed = 0;
    const sleep = async () => {
      elapsed += 30_000;
    };
    const spy = vi.spyOn(performance, 'now').mockImplementation(() => clock() + elapsed);

    // Act & Assess
    try {
      await expect(
        promote(requested(a, 'gold'), promotionDeps(config(), fakes.targets, { locks, sleep })),
      ).rejects.toMatchObject({ name: 'ChannelBusyError', message: expect.stringContaining('al2023-base/gold') });
    } finally {
      spy.mockRestore();
    }
    expectNoSideEffects();
  });

  it('does not promote an image revoked while it waited for the channel', async () => {
    // Prepare: a revocation holds stable and revokes the image the late AMI Tested names
    const a = aws.addImage(1, BASE);
    const locks = memoryLocks();
    await locks.acquire('lock#channel#al2023-base/stable', 'revoke', new Date(Date.now() + 60_000));
    const sleep = async () => {
      aws.images.set(a, {
        ...aws.images.get(a),
        State: 'disabled',
        Tags: [...(aws.images.get(a)?.Tags ?? []), { Key: Tag.Revoked, Value: 'true' }],
      });
      await locks.release('lock#channel#al2023-base/stable', 'revoke');
    };

    // Act
    const result = await promote(tested(a, true), promotionDeps(config(), fakes.targets, { locks, sleep }));

    // Assess
    expect(result.channels).toEqual([]);
    expect(result.skipped).toMatch(/al2023-base\/stable: .*revoked/);
    expect(channelOf('stable')).toBeUndefined();
  });
});

describe('redelivery', () => {
  it('changes nothing and publishes nothing the second time', async () => {
    // Prepare
    const a = aws.addImage(1, BASE);
    const d = deps();
    await promote(baked(a), d);
    const published = aws.promoted().length;

    // Act
    const again = await promote(baked(a), d);

    // Assess
    expect(again.channels.map((c) => [c.changed, c.published])).toEqual([
      [false, false],
      [false, false],
    ]);
    expect(aws.promoted()).toHaveLength(published);
    expect(aws.ssm).toReceiveCommandTimes(PutParameterCommand, 2);
    expect(fakes.templates.get('web-dev')).toEqual({ amiId: a, version: 1 });
    expect(d.logger.info).toHaveBeenCalledWith(
      'redelivered event: every channel already points at the image',
      expect.anything(),
    );
  });

  it('publishes, on the retry, what a failed publish left out, with the previous AMI', async () => {
    // Prepare
    const a = aws.addImage(1, BASE);
    const b = aws.addImage(2, BASE);
    await promote(tested(a, true), deps());
    aws.failPublishes(1);

    // Act
    await expect(promote(tested(b, true), deps())).rejects.toThrow('InternalException');
    await promote(tested(b, true), deps());

    // Assess
    expect(channelOf('stable')).toBe(b);
    expect(aws.promoted().filter((e) => e.amiId === b)).toEqual([
      expect.objectContaining({ channel: 'stable', previousAmiId: a }),
    ]);
    expect(aws.tag(b, channelTagKey('stable'))).toBeDefined();
  });
});

describe('outdated children', () => {
  it('names the families built on the channel whose newest image has another parent, or none', async () => {
    // Prepare
    const oldBase = aws.addImage(1, BASE);
    const newBase = aws.addImage(2, BASE);
    aws.addImage(10, WEB, { [Tag.SourceAmi]: oldBase });
    const newestWeb = aws.addImage(11, WEB, { [Tag.SourceAmi]: oldBase });

    // Act
    await promote(tested(newBase, true), deps());

    // Assess: al2023-app is built on al2023-web, not on this channel
    expect(aws.promoted()[0]?.outdatedChildren).toEqual([{ family: WEB, amiId: newestWeb }]);
  });

  it('is empty when the child is already built on the new image, and null for a child with no image', async () => {
    // Prepare
    const base = aws.addImage(1, BASE);
    aws.addImage(10, WEB, { [Tag.SourceAmi]: base });

    // Act
    await promote(tested(base, true), deps());
    await promote(requested(aws.addImage(11, WEB), 'stable', { family: WEB }), deps());

    // Assess
    expect(aws.promoted().map((e) => e.outdatedChildren)).toEqual([[], [{ family: 'al2023-app', amiId: null }]]);
  });
});

describe('bad events', () => {
  it.each([
    ['a missing amiId', () => baked('x', { amiId: undefined }), /amiId/],
    ['a malformed amiId', () => tested('ami-nothex', true), /amiId: use an AMI id/],
    [
      'an unknown major version',
      () => requested(ami(1), 'gold', { version: '2.0' }),
      /version: this Bakehouse accepts major version 1/,
    ],
    ['an unknown field in a request', () => requested(ami(1), 'gold', { urgent: true }), /\(detail\): .*urgent/],
    ['another detail-type', () => envelope('AMI Revoked', { amiId: ami(1) }), /detail-type/],
  ])('rejects %s with InvalidEventError naming the field, touching nothing', async (_what, event, field) => {
    // Act & Assess
    await expect(promote(event(), deps())).rejects.toMatchObject({
      name: 'InvalidEventError',
      message: expect.stringMatching(field),
    });
    expectNoSideEffects();
    expect(aws.ec2.calls()).toHaveLength(0);
    expect(aws.ssm.calls()).toHaveLength(0);
  });

  it('rejects an unknown family before any AWS call', async () => {
    // Act & Assess
    await expect(promote(baked(ami(1), { family: 'nope' }), deps())).rejects.toMatchObject({
      name: 'UnknownFamilyError',
      message: expect.stringContaining("family: no family named 'nope'"),
    });
    expect(aws.ec2.calls()).toHaveLength(0);
    expect(aws.ssm.calls()).toHaveLength(0);
  });
});

describe('handler', () => {
  stubHandlerEnvironment();

  it('promotes with the bundled configuration and publishes on the bus named at cold start', async () => {
    // Prepare: the shipped al2023-base promotes dev on AMI Baked
    const a = aws.addImage(1, BASE);
    const { handler } = await import('../../functions/promote/handler');

    // Act
    const result = await handler(baked(a), lambdaContext('bakehouse-test-Promote'));

    // Assess
    expect(result.channels.map((c) => c.channel)).toEqual(['dev']);
    expect(channelOf('dev')).toBe(a);
    expect(aws.events).toReceiveCommandWith(PutEventsCommand, {
      Entries: [expect.objectContaining({ EventBusName: 'bakehouse-prod', DetailType: 'AMI Promoted' })],
    });
  });

  it('fails a bad event with InvalidEventError, writing nothing', async () => {
    // Prepare
    const { handler } = await import('../../functions/promote/handler');

    // Act & Assess
    await expect(handler(baked('ami-bad'), lambdaContext('bakehouse-test-Promote'))).rejects.toMatchObject({
      name: 'InvalidEventError',
    });
    expectNoSideEffects();
  });
});
