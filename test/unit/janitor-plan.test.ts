import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Tag } from '../../functions/commons/bake-plan';
import type {
  JanitorSettings,
  Plan,
  PlannedAction,
  World,
  WorldImage,
  WorldSnapshot,
} from '../../functions/janitor/model';
import {
  amiIdsIn,
  CAPPED,
  DEFERRED,
  GRACE_PERIOD,
  IMAGE_EXISTS,
  imagesWhereLaunchPermissionsDecide,
  isStop,
  type JanitorPlanResult,
  launchPermissionReads,
  parseResolveSsm,
  planJanitor,
  snapshotImageHint,
} from '../../functions/janitor/plan';

const DAY = 86_400_000;
const ACCOUNT = '111111111111';
const OTHER = '222222222222';
const NOW = '2026-06-01T00:00:00.000Z';
const daysAgo = (days: number): string => new Date(Date.parse(NOW) - days * DAY).toISOString();

const SETTINGS: JanitorSettings = {
  keepNewest: 0,
  minAgeDays: 7,
  recentLaunchDays: 30,
  graceDays: 7,
  maxActionsPerRun: 100,
  maxInUseShrink: 0.5,
  parameterPrefix: '/bakehouse',
};

const managed = (family = 'web'): Record<string, string> => ({ [Tag.Managed]: 'true', [Tag.Family]: family });

const anImage = (id: string, over: Partial<WorldImage> = {}): WorldImage => ({
  id,
  name: `bakehouse-${id}`,
  ownerId: ACCOUNT,
  creationDate: daysAgo(200),
  state: 'available',
  lastLaunchedTime: daysAgo(150),
  deprecationTime: undefined,
  deregistrationProtection: false,
  launchPermissions: [],
  snapshotIds: [],
  tags: managed(),
  ...over,
});

const aSnapshot = (id: string, over: Partial<WorldSnapshot> = {}): WorldSnapshot => ({
  id,
  ownerId: ACCOUNT,
  startTime: daysAgo(200),
  description: '',
  tags: {},
  ...over,
});

const aWorld = (over: Partial<World> = {}): World => ({
  now: NOW,
  account: ACCOUNT,
  images: [],
  snapshots: [],
  instances: [],
  launchTemplateVersions: [],
  launchConfigurations: [],
  autoScalingGroups: [],
  parameters: [],
  confirmedUnusedShares: [],
  ...over,
});

const plan = (world: World, settings: JanitorSettings = SETTINGS, previous?: { inUseCount: number }): Plan => {
  const result = planJanitor(world, settings, previous);
  if (isStop(result)) throw new Error(`unexpected stop: ${result.stop}`);
  return result;
};

const actionFor = (p: Plan, id: string): PlannedAction | undefined => p.actions.find((a) => a.id === id);
const keptFor = (p: Plan, id: string) => p.kept.find((k) => k.id === id)?.reason;

const staged = (stage: string, sinceDaysAgo: number): Record<string, string> => ({
  ...managed(),
  [Tag.JanitorStage]: stage,
  [Tag.JanitorSince]: daysAgo(sinceDaysAgo),
});

describe('planJanitor rules', () => {
  const target = 'ami-0000000a';

  it('marks an unused managed image (the baseline every rule below changes)', () => {
    // Prepare
    const world = aWorld({ images: [anImage(target)] });
    // Act
    const p = plan(world);
    // Assess
    expect(actionFor(p, target)).toMatchObject({ stage: 'mark', kind: 'image', family: 'web' });
  });

  const cases: [string, Partial<World>, Partial<WorldImage>, JanitorSettings | undefined, string][] = [
    ['an image without the managed tag', {}, { tags: { [Tag.Family]: 'web' } }, undefined, 'not-managed'],
    ['an image another account owns', {}, { ownerId: OTHER }, undefined, 'not-managed'],
    [
      'a stopped instance',
      { instances: [{ id: 'i-1', imageId: target, state: 'stopped' }] },
      {},
      undefined,
      'instance',
    ],
    [
      'an old launch template version',
      { launchTemplateVersions: [{ templateId: 'lt-1', templateName: 'web', version: 1, imageId: target }] },
      {},
      undefined,
      'launch-template',
    ],
    [
      'a launch template version resolving an SSM parameter',
      {
        launchTemplateVersions: [
          { templateId: 'lt-1', templateName: 'web', version: 4, imageId: 'resolve:ssm:/team/web-ami' },
        ],
        parameters: [{ name: '/team/web-ami', value: target }],
      },
      {},
      undefined,
      'launch-template',
    ],
    [
      'a launch template pinning an older version of a parameter',
      {
        launchTemplateVersions: [
          { templateId: 'lt-1', templateName: 'web', version: 4, imageId: 'resolve:ssm:/team/web-ami:3' },
        ],
        parameters: [{ name: '/team/web-ami', value: 'ami-0000000b', history: ['ami-0000000b', target] }],
      },
      {},
      undefined,
      'launch-template',
    ],
    [
      'a launch configuration attached to nothing',
      { launchConfigurations: [{ name: 'lc-old', imageId: target }] },
      {},
      undefined,
      'launch-configuration',
    ],
    [
      'the current target of a channel',
      { parameters: [{ name: '/bakehouse/web/prod', value: target }] },
      {},
      undefined,
      'channel',
    ],
    [
      "a channel's rollback target",
      { parameters: [{ name: '/bakehouse/web/prod', value: 'ami-0000000b', history: ['ami-0000000b', target] }] },
      {},
      undefined,
      'rollback-target',
    ],
    [
      'any other parameter holding the AMI id',
      { parameters: [{ name: '/other-team/golden', value: target }] },
      {},
      undefined,
      'parameter',
    ],
    ['a launch within the window', {}, { lastLaunchedTime: daysAgo(3) }, undefined, 'recently-launched'],
    [
      'an unknown launch time on an image younger than 90 days',
      {},
      { lastLaunchedTime: undefined, creationDate: daysAgo(60) },
      undefined,
      'launch-time-unknown',
    ],
    ['a share with another account', {}, { launchPermissions: [OTHER] }, undefined, 'shared'],
    [
      'a public image, even with every account confirmed unused',
      { confirmedUnusedShares: [OTHER, 'all'] },
      { launchPermissions: ['all'] },
      undefined,
      'shared',
    ],
    ['keep-N (the newest of its family)', {}, {}, { ...SETTINGS, keepNewest: 1 }, 'newest'],
    [
      'an image younger than the minimum age',
      {},
      { creationDate: daysAgo(3), lastLaunchedTime: daysAgo(40) },
      { ...SETTINGS, recentLaunchDays: 1 },
      'too-young',
    ],
    ['bakehouse:keep=true', {}, { tags: { ...managed(), [Tag.Keep]: 'true' } }, undefined, 'keep-tag'],
    ['deregistration protection', {}, { deregistrationProtection: true }, undefined, 'deregistration-protection'],
  ];

  it.each(cases)('keeps an image protected by %s', (_name, worldOver, imageOver, settings, reason) => {
    // Prepare
    const world = aWorld({ images: [anImage(target, imageOver)], ...worldOver });
    // Act
    const p = plan(world, settings);
    // Assess
    expect(actionFor(p, target)).toBeUndefined();
    expect(keptFor(p, target)).toBe(reason);
  });

  it('protects every version of a template an auto scaling group names, whatever its version spec', () => {
    // Prepare: the group names the template by name with $Default; version 1 holds the image.
    const world = aWorld({
      images: [anImage(target)],
      launchTemplateVersions: [{ templateId: 'lt-1', templateName: 'web', version: 1, imageId: target }],
      autoScalingGroups: [
        { name: 'asg', launchTemplates: [{ name: 'web', version: '$Default' }], launchConfigurationName: undefined },
      ],
    });
    // Act
    const p = plan(world);
    // Assess: the first rule (the template) is reported, and the image is in use.
    expect(keptFor(p, target)).toBe('launch-template');
    expect(p.inUse).toContain(target);
  });

  it('ignores a shared account once its usage is confirmed empty', () => {
    const world = aWorld({
      images: [anImage(target, { launchPermissions: [OTHER, ACCOUNT] })],
      confirmedUnusedShares: [OTHER],
    });
    expect(actionFor(plan(world), target)?.stage).toBe('mark');
  });

  it('treats a missing launch time on an old image as no protection of its own', () => {
    const world = aWorld({ images: [anImage(target, { lastLaunchedTime: undefined, creationDate: daysAgo(120) })] });
    expect(actionFor(plan(world), target)?.stage).toBe('mark');
  });

  it('terminated instances do not protect', () => {
    const world = aWorld({
      images: [anImage(target)],
      instances: [{ id: 'i-1', imageId: target, state: 'terminated' }],
    });
    expect(actionFor(plan(world), target)?.stage).toBe('mark');
  });

  it("applies a family's retention over the defaults: its own keep-N and minimum age", () => {
    // Prepare: 'web' keeps 1 and 'api' keeps the default 2; 'api' images must be 500 days old
    const images = [
      anImage('ami-00000001', { creationDate: daysAgo(300) }),
      anImage('ami-00000002', { creationDate: daysAgo(200) }),
      anImage('ami-00000003', { creationDate: daysAgo(400), tags: managed('api') }),
      anImage('ami-00000004', { creationDate: daysAgo(350), tags: managed('api') }),
      anImage('ami-00000006', { creationDate: daysAgo(450), tags: managed('api') }),
    ];
    const settings = {
      ...SETTINGS,
      keepNewest: 2,
      families: { web: { keepNewest: 1, minAgeDays: 0 }, api: { keepNewest: 2, minAgeDays: 500 } },
    };
    // Act
    const p = plan(aWorld({ images }), settings);
    // Assess
    expect(keptFor(p, 'ami-00000002')).toBe('newest');
    expect(actionFor(p, 'ami-00000001')?.stage).toBe('mark');
    expect(keptFor(p, 'ami-00000004')).toBe('newest');
    expect(keptFor(p, 'ami-00000003')).toBe('newest');
    expect(keptFor(p, 'ami-00000006')).toBe('too-young');
  });

  it('keeps the newest N per family, disabled images counted, and marks the rest', () => {
    // Prepare
    const images = [
      anImage('ami-00000001', { creationDate: daysAgo(300) }),
      anImage('ami-00000002', { creationDate: daysAgo(200), state: 'disabled' }),
      anImage('ami-00000003', { creationDate: daysAgo(100) }),
      anImage('ami-00000004', { creationDate: daysAgo(50), state: 'failed' }),
      anImage('ami-00000005', { creationDate: daysAgo(400), tags: managed('api') }),
    ];
    // Act
    const p = plan(aWorld({ images }), { ...SETTINGS, keepNewest: 2 });
    // Assess
    expect(keptFor(p, 'ami-00000003')).toBe('newest');
    expect(keptFor(p, 'ami-00000002')).toBe('newest');
    expect(keptFor(p, 'ami-00000005')).toBe('newest');
    expect(actionFor(p, 'ami-00000001')?.stage).toBe('mark');
    expect(actionFor(p, 'ami-00000004')?.stage).toBe('mark');
  });

  it('reports the first protecting rule when several apply', () => {
    const world = aWorld({
      images: [anImage(target, { tags: { ...managed(), [Tag.Keep]: 'true' }, launchPermissions: [OTHER] })],
      instances: [{ id: 'i-1', imageId: target, state: 'running' }],
    });
    expect(keptFor(plan(world), target)).toBe('instance');
  });
});

describe('planJanitor parameters', () => {
  const target = 'ami-0123456789abcdef0';
  const short = 'ami-0000000a';

  it.each([
    ["another team's text parameter", '/team/web/ami-id', target],
    ['a JSON value', '/team/api/config', `{"ami":"${target}","size":"m7g.large"}`],
    ['a nested JSON value', '/team/batch/fleet', `{"pools":[{"image":{"id":"${target}"}}],"n":2}`],
    ['a StringList item', '/team/list', `ami-0123456789abcdef9,${target}`],
    ['a line of text', '/team/notes', `golden image: ${target} (approved)`],
  ])('keeps an image whose id %s holds, naming the parameter', (_what, name, value) => {
    // Prepare
    const world = aWorld({ images: [anImage(target)], parameters: [{ name, value }] });
    // Act
    const p = plan(world);
    // Assess
    expect(actionFor(p, target)).toBeUndefined();
    expect(p.kept.find((k) => k.id === target)).toMatchObject({ reason: 'parameter', by: name });
    expect(p.inUse).toContain(target);
  });

  it('names the channel behind a channel or rollback-target reason, and in the unmark of a staged image', () => {
    // Prepare
    const world = aWorld({
      images: [anImage(target), anImage(short, { tags: staged('marked', 1) })],
      parameters: [{ name: '/bakehouse/web/prod', value: target, history: [target, short] }],
    });
    // Act
    const p = plan(world);
    // Assess
    expect(p.kept.find((k) => k.id === target)).toMatchObject({ reason: 'channel', by: '/bakehouse/web/prod' });
    expect(actionFor(p, short)).toMatchObject({ stage: 'unmark', reason: 'rollback-target /bakehouse/web/prod' });
  });

  it.each([
    ['a longer hex run', `${target}0`],
    ['a word character before it', `xami-0000000a`],
    ['a 9-digit id', 'ami-00000000a'],
  ])('does not read an id out of %s', (_what, value) => {
    // Prepare
    const world = aWorld({
      images: [anImage(target), anImage(short)],
      parameters: [{ name: '/team/x', value: `{"v":"${value}"}` }],
    });
    // Act
    const p = plan(world);
    // Assess
    expect(actionFor(p, target)?.stage).toBe('mark');
    expect(actionFor(p, short)?.stage).toBe('mark');
  });

  it('finds every id in a value, in order, 8 and 17 hex digits', () => {
    // Act / Assess
    expect(amiIdsIn(`["${target}", "ami-0000000a", {"x": "ami-0000000b"}] ami-0000000c,ami-0000000d`)).toEqual([
      target,
      'ami-0000000a',
      'ami-0000000b',
      'ami-0000000c',
      'ami-0000000d',
    ]);
  });
});

describe('planJanitor stages', () => {
  const id = 'ami-0000000a';
  it.each([
    ['marked', 'deprecate'],
    ['deprecated', 'disable'],
    ['disabled', 'deregister'],
  ])('advances %s after the grace period to %s', (stage, next) => {
    const p = plan(aWorld({ images: [anImage(id, { tags: staged(stage, 7) })] }));
    expect(actionFor(p, id)?.stage).toBe(next);
  });

  it('keeps a staged image whose grace period has not passed', () => {
    const p = plan(aWorld({ images: [anImage(id, { tags: staged('deprecated', 6) })] }));
    expect(actionFor(p, id)).toBeUndefined();
    expect(keptFor(p, id)).toBe(GRACE_PERIOD);
  });

  it('unmarks a staged image that came back into use', () => {
    const world = aWorld({
      images: [anImage(id, { tags: staged('disabled', 30), state: 'disabled' })],
      instances: [{ id: 'i-1', imageId: id, state: 'running' }],
    });
    expect(actionFor(plan(world), id)).toMatchObject({ stage: 'unmark', reason: 'instance' });
  });

  it('restarts an image with unreadable stage tags at mark', () => {
    const tags = { ...managed(), [Tag.JanitorStage]: 'disabled', [Tag.JanitorSince]: 'yesterday' };
    expect(actionFor(plan(aWorld({ images: [anImage(id, { tags })] })), id)?.stage).toBe('mark');
  });

  it('deregisters with the snapshots only that image uses', () => {
    const world = aWorld({
      images: [
        anImage(id, { tags: staged('disabled', 10), snapshotIds: ['snap-1', 'snap-2'] }),
        anImage('ami-0000000b', { snapshotIds: ['snap-2'], tags: { ...managed(), [Tag.Keep]: 'true' } }),
      ],
      snapshots: [aSnapshot('snap-1'), aSnapshot('snap-2')],
    });
    const p = plan(world);
    expect(actionFor(p, id)).toMatchObject({ stage: 'deregister', snapshotIds: ['snap-1'] });
    expect(keptFor(p, 'snap-2')).toBe(IMAGE_EXISTS);
    expect(keptFor(p, 'snap-1')).toBeUndefined();
  });

  it('caps the actions of a run: unmarks always, then the oldest deregistrations first', () => {
    // Prepare
    const images = [
      anImage('ami-00000001', { tags: staged('disabled', 10), creationDate: daysAgo(100) }),
      anImage('ami-00000002', { tags: staged('disabled', 10), creationDate: daysAgo(300) }),
      anImage('ami-00000003', { creationDate: daysAgo(500) }),
      anImage('ami-00000004', { tags: staged('marked', 10) }),
    ];
    const world = aWorld({ images, instances: [{ id: 'i-1', imageId: 'ami-00000004', state: 'running' }] });
    // Act
    const p = plan(world, { ...SETTINGS, maxActionsPerRun: 1 });
    // Assess
    expect(p.actions.map((a) => [a.id, a.stage])).toEqual([
      ['ami-00000004', 'unmark'],
      ['ami-00000002', 'deregister'],
    ]);
    expect(keptFor(p, 'ami-00000001')).toBe(CAPPED);
    expect(keptFor(p, 'ami-00000003')).toBe(CAPPED);
  });
});

describe('planJanitor snapshots', () => {
  const forAmi = (ami: string) => `Created by CreateImage(i-0abc) for ${ami} from vol-0abc`;

  it('reads the AMI a description names, for CreateImage and CopyImage', () => {
    expect(snapshotImageHint(forAmi('ami-0123'))).toBe('ami-0123');
    expect(
      snapshotImageHint('Copied for DestinationAmi ami-0456 from SourceAmi ami-0123 for SourceSnapshot snap-1'),
    ).toBe('ami-0456');
    expect(snapshotImageHint('my backup')).toBeUndefined();
  });

  it('parses resolve:ssm references, pinned or by ARN', () => {
    expect(parseResolveSsm('resolve:ssm:/a/b')).toEqual({ name: '/a/b', pinned: false });
    expect(parseResolveSsm('resolve:ssm:/a/b:3')).toEqual({ name: '/a/b', pinned: true });
    expect(parseResolveSsm('resolve:ssm:arn:aws:ssm:us-east-1:1:parameter/a/b')).toEqual({
      name: '/a/b',
      pinned: false,
    });
    expect(parseResolveSsm('ami-1')).toBeUndefined();
  });

  it('deletes a managed snapshot whose image is gone', () => {
    const world = aWorld({ snapshots: [aSnapshot('snap-1', { description: forAmi('ami-0dead'), tags: managed() })] });
    expect(actionFor(plan(world), 'snap-1')).toMatchObject({ kind: 'snapshot', stage: 'delete-snapshot' });
  });

  it('never takes a description alone as proof: an untagged snapshot of a gone image is kept', () => {
    const world = aWorld({ snapshots: [aSnapshot('snap-1', { description: forAmi('ami-0dead') })] });
    expect(keptFor(plan(world), 'snap-1')).toBe('not-managed');
  });

  it('keeps a managed snapshot whose image still exists, disabled or deprecated', () => {
    const world = aWorld({
      images: [
        anImage('ami-0a', {
          state: 'disabled',
          deprecationTime: daysAgo(1),
          tags: { ...managed(), [Tag.Keep]: 'true' },
        }),
      ],
      snapshots: [aSnapshot('snap-1', { description: forAmi('ami-0a'), tags: managed() })],
    });
    const p = plan(world);
    expect(actionFor(p, 'snap-1')).toBeUndefined();
    expect(keptFor(p, 'snap-1')).toBe(IMAGE_EXISTS);
  });

  it('keeps young, kept and foreign orphan snapshots', () => {
    const world = aWorld({
      snapshots: [
        aSnapshot('snap-1', { tags: managed(), startTime: daysAgo(1) }),
        aSnapshot('snap-2', { tags: { ...managed(), [Tag.Keep]: 'true' } }),
        aSnapshot('snap-3', { tags: managed(), ownerId: OTHER }),
      ],
    });
    const p = plan(world);
    expect(p.actions).toEqual([]);
    expect(p.kept.map((k) => k.reason)).toEqual(['too-young', 'keep-tag', 'not-managed']);
  });

  it('repairs a crash between deregistering and deleting snapshots', () => {
    // Prepare: the run deregisters; the apply side tagged the snapshots, then the process died.
    const image = anImage('ami-0a', { tags: staged('disabled', 10), snapshotIds: ['snap-1', 'snap-2'] });
    const snapshots = [aSnapshot('snap-1', { description: forAmi('ami-0a') }), aSnapshot('snap-2')];
    const first = plan(aWorld({ images: [image], snapshots }));
    expect(actionFor(first, 'ami-0a')?.snapshotIds).toEqual(['snap-1', 'snap-2']);
    const afterCrash = aWorld({ snapshots: snapshots.map((s) => ({ ...s, tags: { ...s.tags, ...managed() } })) });
    // Act
    const second = plan(afterCrash);
    // Assess
    expect(second.actions.map((a) => [a.id, a.stage])).toEqual([
      ['snap-1', 'delete-snapshot'],
      ['snap-2', 'delete-snapshot'],
    ]);
  });
});

describe('planJanitor fails closed', () => {
  const inUseWorld = (count: number) =>
    aWorld({
      instances: Array.from({ length: count }, (_, i) => ({ id: `i-${i}`, imageId: `ami-${i}`, state: 'running' })),
    });

  it('stops when the in-use set shrank more than allowed', () => {
    const result = planJanitor(inUseWorld(4), SETTINGS, { inUseCount: 10 });
    expect(isStop(result) && result.stop).toMatch(/shrank from 10 to 4/);
  });

  it('goes on when the shrink is within the threshold', () => {
    expect(isStop(planJanitor(inUseWorld(5), SETTINGS, { inUseCount: 10 }))).toBe(false);
  });

  it('stops on unreadable settings or clock', () => {
    expect(isStop(planJanitor(aWorld(), { ...SETTINGS, keepNewest: -1 }))).toBe(true);
    expect(isStop(planJanitor(aWorld({ now: 'soon' }), SETTINGS))).toBe(true);
  });
});

// ---------------------------------------------------------------------------------------------
// Property-based: generated worlds against an independent, naive oracle of "protected".

// Real-format ids (8 and 17 hex digits): parameters hold them inside text, lists and JSON.
const IDS = [
  'ami-00000001',
  'ami-00000002',
  'ami-00000003',
  'ami-0000000000000004a',
  'ami-0000000000000005b',
  'ami-0000000000000006c',
];
const NO_IMAGE = 'ami-000000ff';
const PARAMS = [
  '/bakehouse/web/prod',
  '/bakehouse/web/candidate',
  '/team/golden',
  '/bakehouse/lock',
  '/team/web/ami-id',
  '/team/api/config',
];

/** A JSON value holding `ids` at generated depths, next to other keys; the ids it holds, for the oracle. */
const arbJsonHolding = (ids: readonly string[]): fc.Arbitrary<string> =>
  fc
    .tuple(fc.array(fc.integer({ min: 0, max: 4 }), { minLength: ids.length, maxLength: ids.length }), fc.boolean())
    .map(([depths, asArray]) => {
      const nest = (id: string, depth: number): unknown =>
        depth === 0
          ? id
          : depth % 2 === 1
            ? { [`k${depth}`]: nest(id, depth - 1), size: 'm7g.large' }
            : [nest(id, depth - 1), 3];
      const leaves = ids.map((id, i) => nest(id, depths[i] ?? 0));
      return JSON.stringify(asArray ? leaves : { ami: leaves[0] ?? null, rest: leaves.slice(1), enabled: true });
    });

/** A parameter value in one of the forms teams store: an id, a StringList, text, nested JSON, or none. */
const arbParameterValue: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(...IDS, NO_IMAGE, 'locked'),
  fc.subarray([...IDS, NO_IMAGE], { minLength: 1, maxLength: 3 }).map((ids) => ids.join(',')),
  fc.constantFrom(...IDS).map((id) => `golden image ${id} (approved)`),
  fc.subarray([...IDS, NO_IMAGE], { minLength: 1, maxLength: 3 }).chain(arbJsonHolding),
);

/** The ids a value holds, found apart from the planner: split on anything but word characters and '-'. */
const idsHeld = (value: string): string[] => value.split(/[^\w-]+/).filter((token) => IDS.includes(token));
const SNAPS = ['snap-1', 'snap-2', 'snap-3', 'snap-4', 'snap-5'];
const ACCOUNTS = [ACCOUNT, OTHER, '333333333333', 'all'];

const arbDays = fc.oneof(fc.constant(undefined), fc.integer({ min: 0, max: 200 }));
const arbImage = (id: string) =>
  fc
    .record({
      exists: fc.boolean(),
      owned: fc.boolean(),
      managed: fc.boolean(),
      family: fc.constantFrom('web', 'api', undefined),
      age: fc.integer({ min: 0, max: 200 }),
      state: fc.constantFrom('available', 'available', 'disabled', 'failed', 'pending'),
      launched: arbDays,
      protection: fc.boolean(),
      keep: fc.boolean(),
      perms: fc.subarray(ACCOUNTS, { maxLength: 2 }),
      snaps: fc.subarray(SNAPS, { maxLength: 2 }),
      stage: fc.constantFrom(undefined, 'marked', 'deprecated', 'disabled', 'bogus'),
      since: fc.integer({ min: 0, max: 20 }),
    })
    .map((g): WorldImage | undefined => {
      if (!g.exists) return undefined;
      const tags: Record<string, string> = {};
      if (g.managed) tags[Tag.Managed] = 'true';
      if (g.family) tags[Tag.Family] = g.family;
      if (g.keep) tags[Tag.Keep] = 'true';
      if (g.stage) {
        tags[Tag.JanitorStage] = g.stage;
        tags[Tag.JanitorSince] = daysAgo(g.since);
      }
      return anImage(id, {
        ownerId: g.owned ? ACCOUNT : OTHER,
        creationDate: daysAgo(g.age),
        state: g.state,
        lastLaunchedTime: g.launched === undefined ? undefined : daysAgo(g.launched),
        deregistrationProtection: g.protection,
        launchPermissions: g.perms,
        snapshotIds: g.snaps,
        tags,
      });
    });

const arbRef = fc.oneof(
  fc.constantFrom(...IDS, NO_IMAGE),
  fc.constantFrom(...PARAMS, '/missing').map((p) => `resolve:ssm:${p}`),
  fc.constantFrom(...PARAMS).map((p) => `resolve:ssm:${p}:2`),
);

const arbWorld: fc.Arbitrary<World> = fc
  .record({
    images: fc.tuple(...IDS.map(arbImage)),
    snapshots: fc.array(
      fc.record({
        id: fc.constantFrom(...SNAPS),
        owned: fc.boolean(),
        managed: fc.boolean(),
        hint: fc.constantFrom(undefined, ...IDS, NO_IMAGE),
        age: fc.integer({ min: 0, max: 200 }),
      }),
      { maxLength: 5 },
    ),
    instances: fc.array(
      fc.record({
        imageId: fc.constantFrom(...IDS, NO_IMAGE),
        state: fc.constantFrom('running', 'stopped', 'terminated'),
      }),
      { maxLength: 3 },
    ),
    versions: fc.array(
      fc.record({ template: fc.constantFrom('a', 'b', 'c'), imageId: fc.option(arbRef, { nil: undefined }) }),
      {
        maxLength: 4,
      },
    ),
    lcs: fc.array(fc.constantFrom(...IDS), { maxLength: 2 }),
    groups: fc.array(
      fc.record({
        templates: fc.subarray(['a', 'b', 'c', 'x']),
        byName: fc.boolean(),
        lc: fc.option(fc.constantFrom('lc-0', 'lc-1', 'lc-9'), { nil: undefined }),
      }),
      { maxLength: 2 },
    ),
    parameters: fc.array(
      fc.record({
        name: fc.constantFrom(...PARAMS),
        value: arbParameterValue,
        history: fc.array(fc.constantFrom(...IDS), { maxLength: 3 }),
      }),
      { maxLength: 6 },
    ),
    confirmed: fc.subarray([OTHER, '333333333333']),
  })
  .map((g): World => {
    const parameters = new Map(g.parameters.map((p) => [p.name, p]));
    return aWorld({
      images: g.images.filter((i): i is WorldImage => i !== undefined),
      snapshots: [...new Map(g.snapshots.map((s) => [s.id, s])).values()].map((s) =>
        aSnapshot(s.id, {
          ownerId: s.owned ? ACCOUNT : OTHER,
          startTime: daysAgo(s.age),
          description: s.hint ? `Created by CreateImage(i-0abc) for ${s.hint} from vol-1` : '',
          tags: s.managed ? managed() : {},
        }),
      ),
      instances: g.instances.map((i, n) => ({ id: `i-${n}`, ...i })),
      launchTemplateVersions: g.versions.map((v, n) => ({
        templateId: `lt-${v.template}`,
        templateName: v.template,
        version: n + 1,
        imageId: v.imageId,
      })),
      launchConfigurations: g.lcs.map((imageId, n) => ({ name: `lc-${n}`, imageId })),
      autoScalingGroups: g.groups.map((group, n) => ({
        name: `asg-${n}`,
        launchTemplates: group.templates.map((t) =>
          group.byName ? { name: t, version: '$Latest' } : { id: `lt-${t}` },
        ),
        launchConfigurationName: group.lc,
      })),
      parameters: [...parameters.values()],
      confirmedUnusedShares: g.confirmed,
    });
  });

const arbSettings: fc.Arbitrary<JanitorSettings> = fc.record({
  keepNewest: fc.integer({ min: 0, max: 3 }),
  minAgeDays: fc.integer({ min: 0, max: 30 }),
  recentLaunchDays: fc.integer({ min: 0, max: 120 }),
  graceDays: fc.integer({ min: 1, max: 10 }),
  maxActionsPerRun: fc.integer({ min: 0, max: 20 }),
  maxInUseShrink: fc.constant(1),
  parameterPrefix: fc.constant('/bakehouse'),
});

/** The oracle: written apart from the planner, as plainly as possible (loops over everything). */
const oracleProtected = (world: World, settings: JanitorSettings, image: WorldImage): boolean => {
  const id = image.id;
  const now = Date.parse(world.now);
  if (image.ownerId !== world.account || image.tags[Tag.Managed] !== 'true') return true;
  const resolves = (ref: string | undefined): boolean => {
    if (ref === undefined) return false;
    if (!ref.startsWith('resolve:ssm:')) return ref === id;
    const [name, version] = ref.slice('resolve:ssm:'.length).split(':');
    return world.parameters.some(
      (p) => p.name === name && (p.value === id || (version !== undefined && (p.history ?? []).includes(id))),
    );
  };
  if (world.instances.some((i) => i.imageId === id && i.state !== 'terminated')) return true;
  if (world.launchTemplateVersions.some((v) => resolves(v.imageId))) return true;
  if (world.launchConfigurations.some((lc) => lc.imageId === id)) return true;
  for (const group of world.autoScalingGroups) {
    for (const ref of group.launchTemplates) {
      const versions = world.launchTemplateVersions.filter(
        (v) => v.templateId === ref.id || v.templateName === ref.name,
      );
      if (versions.some((v) => resolves(v.imageId))) return true;
    }
    if (world.launchConfigurations.some((lc) => lc.name === group.launchConfigurationName && lc.imageId === id))
      return true;
  }
  // Any parameter holding the id, whatever the form of its value.
  if (world.parameters.some((p) => p.value === id || idsHeld(p.value).includes(id))) return true;
  for (const p of world.parameters) {
    if (/^\/bakehouse\/[^/]+\/[^/]+$/.test(p.name) && p.value.startsWith('ami-')) {
      if ((p.history ?? []).find((h) => h !== p.value) === id) return true;
    }
  }
  const age = (now - Date.parse(image.creationDate)) / DAY;
  if (image.lastLaunchedTime === undefined) {
    if (age < Math.max(90, settings.recentLaunchDays)) return true;
  } else if ((now - Date.parse(image.lastLaunchedTime)) / DAY < settings.recentLaunchDays) return true;
  if (
    image.launchPermissions.some(
      (a) => a !== world.account && (a === 'all' || !world.confirmedUnusedShares.includes(a)),
    )
  ) {
    return true;
  }
  const family = image.tags[Tag.Family];
  const newer = world.images.filter(
    (o) =>
      o.ownerId === world.account &&
      o.tags[Tag.Managed] === 'true' &&
      o.tags[Tag.Family] === family &&
      o.state !== 'failed' &&
      o.state !== 'deregistered' &&
      Date.parse(o.creationDate) > Date.parse(image.creationDate),
  );
  if (image.state !== 'failed' && newer.length < settings.keepNewest) return true;
  if (age < settings.minAgeDays) return true;
  return image.tags[Tag.Keep] === 'true' || image.deregistrationProtection;
};

const ADVANCING = new Set(['mark', 'deprecate', 'disable', 'deregister']);

/** Applies a plan in memory, as apply.ts does it (tags, stages, deletions). */
const applyInMemory = (world: World, p: Plan, crash = false): World => {
  const byId = new Map(p.actions.map((a) => [a.id, a]));
  const deletedSnapshots = new Set<string>();
  const crashedSnapshots = new Set<string>();
  const images: WorldImage[] = [];
  for (const image of world.images) {
    const action = byId.get(image.id);
    if (!action) {
      images.push(image);
      continue;
    }
    const { [Tag.JanitorStage]: _stage, [Tag.JanitorSince]: _since, ...rest } = image.tags;
    const since = { [Tag.JanitorSince]: world.now };
    switch (action.stage) {
      case 'mark':
        images.push({ ...image, tags: { ...rest, ...since, [Tag.JanitorStage]: 'marked' } });
        break;
      case 'deprecate':
        images.push({
          ...image,
          deprecationTime: world.now,
          tags: { ...rest, ...since, [Tag.JanitorStage]: 'deprecated' },
        });
        break;
      case 'disable':
        // EC2 disables available images; a failed one stays failed (apply only tags it).
        images.push({
          ...image,
          state: image.state === 'available' ? 'disabled' : image.state,
          tags: { ...rest, ...since, [Tag.JanitorStage]: 'disabled' },
        });
        break;
      case 'unmark':
        images.push({
          ...image,
          state: image.state === 'disabled' ? 'available' : image.state,
          deprecationTime: undefined,
          tags: rest,
        });
        break;
      case 'deregister':
        for (const s of action.snapshotIds ?? []) (crash ? crashedSnapshots : deletedSnapshots).add(s);
        break;
      default:
        throw new Error(`unexpected ${action.stage} on an image`);
    }
  }
  for (const a of p.actions) if (a.stage === 'delete-snapshot') deletedSnapshots.add(a.id);
  const snapshots = world.snapshots
    .filter((s) => !deletedSnapshots.has(s.id))
    .map((s) => (crashedSnapshots.has(s.id) ? { ...s, tags: { ...s.tags, [Tag.Managed]: 'true' } } : s));
  return { ...world, images, snapshots };
};

const planned = (result: JanitorPlanResult): Plan => {
  if (isStop(result)) throw new Error(result.stop);
  return result;
};

describe('planJanitor properties', () => {
  it('never advances the stage of an image any rule protects (10,000 worlds)', () => {
    fc.assert(
      fc.property(arbWorld, arbSettings, (world, settings) => {
        const p = planned(planJanitor(world, settings));
        const images = new Map(world.images.map((i) => [i.id, i]));
        for (const action of p.actions) {
          if (action.kind === 'image' && ADVANCING.has(action.stage)) {
            const image = images.get(action.id) as WorldImage;
            expect(oracleProtected(world, settings, image), `${action.stage} ${action.id}`).toBe(false);
          }
          if (action.stage === 'delete-snapshot') {
            const used = world.images.some((i) => i.snapshotIds.includes(action.id));
            expect(used, `delete ${action.id} while an image uses it`).toBe(false);
          }
          if (action.stage === 'deregister') {
            for (const s of action.snapshotIds ?? []) {
              expect(world.images.filter((i) => i.snapshotIds.includes(s))).toHaveLength(1);
            }
          }
        }
        const advancing = p.actions.filter((a) => a.stage !== 'unmark');
        expect(advancing.length).toBeLessThanOrEqual(settings.maxActionsPerRun);
        // Each stage only from the one before it, after a full grace period.
        const from: Record<string, string> = { deprecate: 'marked', disable: 'deprecated', deregister: 'disabled' };
        for (const action of advancing) {
          const previousStage = from[action.stage];
          if (action.kind !== 'image' || previousStage === undefined) continue;
          const tags = (images.get(action.id) as WorldImage).tags;
          expect(tags[Tag.JanitorStage]).toBe(previousStage);
          const since = Date.parse(tags[Tag.JanitorSince] ?? '');
          expect(Date.parse(world.now) - since).toBeGreaterThanOrEqual(settings.graceDays * DAY);
        }
        // And the other way round: every staged image the oracle protects is unmarked, every
        // unprotected candidate is acted on or waits (grace period, cap).
        const acted = new Map(p.actions.map((a) => [a.id, a.stage]));
        const keptReason = new Map(p.kept.map((k) => [k.id, k.reason]));
        for (const image of world.images) {
          const isProtected = oracleProtected(world, settings, image);
          if (isProtected && image.ownerId === ACCOUNT && image.tags[Tag.JanitorStage] !== undefined) {
            expect(acted.get(image.id), `unmark ${image.id}`).toBe('unmark');
          }
          if (!isProtected) {
            const ok =
              ADVANCING.has(acted.get(image.id) ?? '') ||
              [GRACE_PERIOD, CAPPED].includes(keptReason.get(image.id) ?? '');
            expect(ok, `${image.id} unprotected but ${acted.get(image.id) ?? keptReason.get(image.id)}`).toBe(true);
          }
        }
      }),
      { numRuns: 10_000 },
    );
  });

  it('never retires an image a text, StringList or JSON parameter holds (5,000 worlds)', () => {
    fc.assert(
      fc.property(arbWorld, arbSettings, (world, settings) => {
        const held = new Set(world.parameters.flatMap((p) => idsHeld(p.value)));
        const p = planned(planJanitor(world, settings));
        for (const action of p.actions) {
          if (action.kind === 'image' && ADVANCING.has(action.stage)) {
            expect(held.has(action.id), `${action.stage} ${action.id}, which a parameter holds`).toBe(false);
          }
        }
        for (const id of held) {
          const image = world.images.find((i) => i.id === id);
          if (image && image.ownerId === world.account && image.tags[Tag.Managed] === 'true') {
            const kept = p.kept.find((k) => k.id === id);
            const unmark = p.actions.find((a) => a.id === id && a.stage === 'unmark');
            expect(kept !== undefined || unmark !== undefined, `${id} neither kept nor unmarked`).toBe(true);
          }
        }
      }),
      { numRuns: 5_000 },
    );
  });

  it('re-planning after applying a plan changes nothing that plan finished', () => {
    fc.assert(
      fc.property(arbWorld, arbSettings, (world, settings) => {
        const first = planned(planJanitor(world, settings));
        const after = applyInMemory(world, first);
        const second = planned(planJanitor(after, settings));
        const done = new Set(first.actions.map((a) => a.id));
        const capped = new Set(first.kept.filter((k) => k.reason === CAPPED).map((k) => k.id));
        const deregistered = new Set(first.actions.filter((a) => a.stage === 'deregister').map((a) => a.id));
        for (const action of second.actions) {
          expect(done.has(action.id), `${action.stage} ${action.id} again`).toBe(false);
          if (action.kind === 'image') {
            expect(capped.has(action.id), `${action.stage} ${action.id} out of nowhere`).toBe(true);
          } else {
            // Only a snapshot the cap left, or one whose image (named by its description) just went.
            const hint = snapshotImageHint(world.snapshots.find((s) => s.id === action.id)?.description ?? '');
            expect(capped.has(action.id) || (hint !== undefined && deregistered.has(hint))).toBe(true);
          }
        }
      }),
      { numRuns: 5_000 },
    );
  });

  it('repairs any crash between deregistering and deleting snapshots on the next plan', () => {
    fc.assert(
      fc.property(arbWorld, arbSettings, (world, settings) => {
        const first = planned(planJanitor(world, settings));
        const left = first.actions.flatMap((a) => (a.stage === 'deregister' ? (a.snapshotIds ?? []) : []));
        const deregistered = new Set(first.actions.filter((a) => a.stage === 'deregister').map((a) => a.id));
        const second = planned(planJanitor(applyInMemory(world, first, true), { ...settings, maxActionsPerRun: 1000 }));
        for (const s of left) {
          const action = actionFor(second, s);
          const kept = keptFor(second, s);
          // Kept only for a reason of its own; a description naming another, existing image keeps it (conservative).
          const hint = snapshotImageHint(world.snapshots.find((x) => x.id === s)?.description ?? '');
          const namesExisting =
            hint !== undefined && world.images.some((i) => i.id === hint && !deregistered.has(i.id));
          const ok =
            action?.stage === 'delete-snapshot' ||
            kept === 'too-young' ||
            kept === 'keep-tag' ||
            (kept === IMAGE_EXISTS && namesExisting);
          expect(ok, `${s}: ${kept}`).toBe(true);
        }
      }),
      { numRuns: 5_000 },
    );
  });
});

describe('launch permissions read only where they decide (two-phase)', () => {
  const target = 'ami-0000000a';
  /**
   * The safety proof of the inventory's two-phase read: a pre-pass with only public images known
   * as shared names the images whose permissions are read; every other image keeps the
   * permissions DescribeImages shows (public or none). The plan of that world must equal the plan
   * with every image's permissions read: never retire (or even mark) an image the full read keeps.
   */
  const twoPhase = (world: World, settings: JanitorSettings, previous?: { inUseCount: number }) => {
    const read = new Set(imagesWhereLaunchPermissionsDecide(world, settings));
    const partial: World = {
      ...world,
      images: world.images.map((i) =>
        read.has(i.id) ? i : { ...i, launchPermissions: i.launchPermissions.filter((p) => p === 'all') },
      ),
    };
    return { read, result: planJanitor(partial, settings, previous) };
  };

  it('plans exactly as with every launch permission read, for random worlds, shares and caps', () => {
    fc.assert(
      fc.property(
        arbWorld,
        arbSettings,
        fc.option(fc.integer({ min: 0, max: 8 }), { nil: undefined }),
        (world, settings, before) => {
          const previous = before === undefined ? undefined : { inUseCount: before };
          const full = planJanitor(world, settings, previous);
          const { result } = twoPhase(world, settings, previous);
          expect(result).toEqual(full);
        },
      ),
      { numRuns: 5_000 },
    );
  });

  it('plans exactly as with every launch permission read, for many candidates, random shares and small caps', () => {
    // Worlds of unused candidates (where shares and the cap meet), staged or not, some too young.
    const arbCandidates = fc.array(
      fc.record({
        age: fc.integer({ min: 0, max: 400 }),
        perms: fc.subarray(ACCOUNTS, { maxLength: 2 }),
        stage: fc.constantFrom(undefined, 'marked', 'deprecated', 'disabled'),
        since: fc.integer({ min: 0, max: 20 }),
      }),
      { minLength: 1, maxLength: 12 },
    );
    fc.assert(
      fc.property(arbCandidates, fc.integer({ min: 0, max: 6 }), fc.subarray([OTHER]), (gs, cap, confirmed) => {
        const world = aWorld({
          images: gs.map((g, n) =>
            anImage(`ami-${(n + 1).toString(16).padStart(8, '0')}`, {
              creationDate: daysAgo(g.age),
              launchPermissions: g.perms,
              tags: g.stage ? staged(g.stage, g.since) : managed(),
            }),
          ),
          confirmedUnusedShares: confirmed,
        });
        const settings = { ...SETTINGS, maxActionsPerRun: cap };
        expect(twoPhase(world, settings).result).toEqual(planJanitor(world, settings));
      }),
      { numRuns: 3_000 },
    );
  });

  it('reads an image that the cap holds back: a share elsewhere can let the cap admit it', () => {
    // Two unused images, a cap of one: the older goes first. Once the older one reads as shared,
    // the cap admits the younger, so both must be read although one run changes only one.
    const world = aWorld({
      images: [
        anImage('ami-00000001', { creationDate: daysAgo(300), launchPermissions: [OTHER] }),
        anImage('ami-00000002', { creationDate: daysAgo(200) }),
      ],
    });
    const settings = { ...SETTINGS, maxActionsPerRun: 1 };
    expect(imagesWhereLaunchPermissionsDecide(world, settings).sort()).toEqual(['ami-00000001', 'ami-00000002']);
    const { result } = twoPhase(world, settings);
    expect(keptFor(planned(result), 'ami-00000001')).toBe('shared');
    expect(actionFor(planned(result), 'ami-00000002')?.stage).toBe('mark');
  });

  it('reads a staged image in its grace period: a share unmarks it', () => {
    const world = aWorld({ images: [anImage(target, { tags: staged('deprecated', 2), launchPermissions: [OTHER] })] });
    expect(imagesWhereLaunchPermissionsDecide(world, SETTINGS)).toEqual([target]);
    expect(actionFor(plan(world), target)).toMatchObject({ stage: 'unmark', reason: 'shared' });
  });

  it('reads none of the images another rule keeps, whatever their shares', () => {
    const world = aWorld({
      images: [
        anImage('ami-00000001', { lastLaunchedTime: daysAgo(1), launchPermissions: [OTHER] }),
        anImage('ami-00000002', { tags: { ...managed(), [Tag.Keep]: 'true' }, launchPermissions: [OTHER] }),
        anImage('ami-00000003', { creationDate: daysAgo(2), lastLaunchedTime: daysAgo(100) }),
        anImage('ami-00000004', { launchPermissions: ['all'] }),
      ],
    });
    expect(imagesWhereLaunchPermissionsDecide(world, { ...SETTINGS, recentLaunchDays: 10 })).toEqual([]);
  });
});

describe('launch permissions, read in the order the cap admits, and no further than it needs', () => {
  /**
   * The run's read: `order` in batches, stopping once `enough` says the plan is settled or after
   * `budget` reads (the invocation's time). Unread images whose reads the budget cut carry
   * `launchPermissionsUnread`, as the inventory marks them.
   */
  const sequential = (world: World, settings: JanitorSettings, options: { batch?: number; budget?: number } = {}) => {
    const { order, enough } = launchPermissionReads(world, settings);
    const byId = new Map(world.images.map((i) => [i.id, i]));
    const read = new Map<string, readonly string[]>();
    const batch = options.batch ?? 1;
    let next = 0;
    while (next < order.length && !enough(read) && next < (options.budget ?? Number.POSITIVE_INFINITY)) {
      for (const id of order.slice(next, next + batch)) read.set(id, byId.get(id)?.launchPermissions ?? []);
      next += batch;
    }
    const cut = next < order.length && !enough(read) ? new Set(order.slice(next)) : new Set<string>();
    const partial: World = {
      ...world,
      images: world.images.map((i) =>
        read.has(i.id)
          ? i
          : {
              ...i,
              launchPermissions: i.launchPermissions.filter((p) => p === 'all'),
              ...(cut.has(i.id) ? { launchPermissionsUnread: true } : {}),
            },
      ),
    };
    return { read, cut, order, result: planJanitor(partial, settings) };
  };

  const arbCandidates = fc.array(
    fc.record({
      age: fc.integer({ min: 0, max: 400 }),
      perms: fc.subarray(ACCOUNTS, { maxLength: 2 }),
      stage: fc.constantFrom(undefined, 'marked', 'deprecated', 'disabled'),
      since: fc.integer({ min: 0, max: 20 }),
      snapshot: fc.boolean(),
    }),
    { minLength: 1, maxLength: 14 },
  );
  const worldOf = (
    gs: readonly { age: number; perms: string[]; stage: string | undefined; since: number; snapshot: boolean }[],
  ) =>
    aWorld({
      images: gs.map((g, n) =>
        anImage(`ami-${(n + 1).toString(16).padStart(8, '0')}`, {
          creationDate: daysAgo(g.age),
          launchPermissions: g.perms,
          tags: g.stage ? staged(g.stage, g.since) : managed(),
        }),
      ),
      // Orphan snapshots: deletions the cap counts between deregistrations and the other stages.
      snapshots: gs.flatMap((g, n) =>
        g.snapshot ? [aSnapshot(`snap-${n}`, { startTime: daysAgo(g.age), tags: managed() })] : [],
      ),
    });

  it('stops reading where the cap fills, and plans the same actions as with every permission read', () => {
    fc.assert(
      fc.property(arbCandidates, fc.integer({ min: 0, max: 6 }), fc.integer({ min: 1, max: 4 }), (gs, cap, batch) => {
        const world = worldOf(gs);
        const settings = { ...SETTINGS, maxActionsPerRun: cap };
        const full = planned(planJanitor(world, settings));
        const { read, result } = sequential(world, settings, { batch });
        const partial = planned(result);
        expect(partial.actions).toEqual(full.actions);
        expect(partial.inUse).toEqual(full.inUse);
        // Only an image past the cap that was never read reads as capped rather than shared.
        for (const k of full.kept) {
          const reason = partial.kept.find((p) => p.id === k.id)?.reason;
          if (reason !== k.reason) expect([k.reason, reason, read.has(k.id)]).toEqual(['shared', CAPPED, false]);
        }
      }),
      { numRuns: 3_000 },
    );
  });

  it('when the time runs out first, acts on no unread image and unmarks no unread staged one', () => {
    fc.assert(
      fc.property(arbCandidates, fc.integer({ min: 0, max: 6 }), fc.integer({ min: 0, max: 14 }), (gs, cap, budget) => {
        const world = worldOf(gs);
        const settings = { ...SETTINGS, maxActionsPerRun: cap };
        const full = planned(planJanitor(world, settings));
        const { cut, result } = sequential(world, settings, { budget });
        const partial = planned(result);
        for (const action of partial.actions) {
          expect(cut.has(action.id)).toBe(false);
          // Every image action is one the full read makes too, or one the cap held back there.
          if (action.kind === 'image') {
            const same = full.actions.find((a) => a.id === action.id);
            if (same) expect(same.stage).toBe(action.stage);
            else expect(keptFor(full, action.id)).toBe(CAPPED);
          }
        }
        for (const id of cut) expect(keptFor(partial, id)).toBe(DEFERRED);
      }),
      { numRuns: 3_000 },
    );
  });

  it('reads the staged images in their grace period first, then the pending ones oldest first', () => {
    const world = aWorld({
      images: [
        anImage('ami-00000001', { creationDate: daysAgo(100) }),
        anImage('ami-00000002', { creationDate: daysAgo(300) }),
        anImage('ami-00000003', { tags: staged('disabled', 2) }),
      ],
    });
    expect(launchPermissionReads(world, SETTINGS).order).toEqual(['ami-00000003', 'ami-00000002', 'ami-00000001']);
  });

  it('reads 200 of 10,000 unused images when the cap is 200 and none is shared', () => {
    const world = aWorld({
      images: Array.from({ length: 10_000 }, (_, n) =>
        anImage(`ami-${(n + 1).toString(16).padStart(8, '0')}`, { creationDate: daysAgo(100 + (n % 300)) }),
      ),
    });
    const settings = { ...SETTINGS, maxActionsPerRun: 200 };
    const { read, result } = sequential(world, settings, { batch: 8 });
    expect(read.size).toBe(200);
    expect(planned(result).actions).toHaveLength(200);
  });

  it('keeps a staged image whose read the time cut as deferred, without unmarking it', () => {
    const target = 'ami-0000000a';
    const world = aWorld({ images: [anImage(target, { tags: staged('disabled', 10) })] });
    const { result } = sequential(world, SETTINGS, { budget: 0 });
    expect(keptFor(planned(result), target)).toBe(DEFERRED);
    expect(planned(result).actions).toEqual([]);
  });
});
