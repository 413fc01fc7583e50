import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import shippedConfig from '../../bakehouse.config';
import { ConfigError } from '../../functions/commons/errors';
import {
  ancestorsOf,
  type ConfigInput,
  channelParameterName,
  type FamilyInput,
  findFamily,
  loadConfig,
} from '../../functions/commons/families';
import { childFamily, configInput, filteredFamily, linuxFamily, windowsFamily } from './support/bake-factories';

/** The problems loadConfig reports for an input, or fails the test when it loads. */
const problemsOf = (input: unknown): readonly string[] => {
  try {
    loadConfig(input);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  throw new Error('expected the configuration to be rejected');
};

/**
 * A valid config holding a fresh copy of one family with some fields changed: each key is a
 * dotted path into the family ('builder.subnetId', 'channels.2'); the value undefined removes it.
 */
/** A customer managed key: the only kind of key whose images other accounts may use. */
const CUSTOMER_KEY = 'arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab';

const withFamily = (family: FamilyInput, changes: Record<string, unknown>): ConfigInput => {
  const input = configInput([family]);
  for (const [path, value] of Object.entries(changes)) {
    const keys = path.split('.');
    const last = keys.pop() ?? path;
    let node = input.families[0] as Record<string, unknown>;
    for (const key of keys) node = node[key] as Record<string, unknown>;
    if (value === undefined) delete node[last];
    else node[last] = structuredClone(value);
  }
  return input;
};

describe('the shipped bakehouse.config.ts', () => {
  it('loads, with every example family', () => {
    // Act
    const config = loadConfig(structuredClone(shippedConfig));

    // Assess
    expect(config.families.map((f) => f.name)).toEqual([
      'al2023-base',
      'ubuntu-2404-base',
      'windows-2022-base',
      'al2023-web',
    ]);
    expect(config.settings.parameterPrefix).toBe('/bakehouse');
  });

  it('builds al2023-web on al2023-base, which is its only ancestor', () => {
    // Prepare
    const config = loadConfig(structuredClone(shippedConfig));
    const web = findFamily(config, 'al2023-web');

    // Act
    const ancestors = web ? ancestorsOf(config, web).map((f) => f.name) : undefined;

    // Assess
    expect(ancestors).toEqual(['al2023-base']);
  });
});

describe('loadConfig defaults', () => {
  it('fills in the safe builder defaults: IMDSv2, encrypted volumes, the AWS-managed EBS key', () => {
    // Act
    const [family] = loadConfig(configInput([linuxFamily()])).families;

    // Assess
    expect(family?.builder).toMatchObject({
      requireImdsv2: true,
      encryptVolumes: true,
      kmsKeyId: 'alias/aws/ebs',
      timeoutMinutes: 120,
    });
  });

  it('gives a family without channels a stable channel promoted on tested images', () => {
    // Prepare
    const input = withFamily(linuxFamily(), { channels: undefined });

    // Act
    const [family] = loadConfig(input).families;

    // Assess
    expect(family?.channels).toEqual([
      { name: 'stable', promoteOn: 'tested', launchTemplates: [], autoScalingGroups: [] },
    ]);
    expect(family?.retention).toEqual({ keep: 3, minAgeDays: 7 });
  });

  it('defaults a Windows family to critical, security and rollup updates', () => {
    // Prepare
    const input = withFamily(windowsFamily(), { patch: {} });

    // Act
    const [family] = loadConfig(input).families;

    // Assess
    expect(family?.os === 'windows' && family.patch.categories).toEqual([
      'CriticalUpdates',
      'SecurityUpdates',
      'UpdateRollups',
    ]);
  });

  it('defaults a schedule time zone to UTC and an nthWeekday offset to 0', () => {
    // Prepare
    const input = withFamily(windowsFamily(), { schedule: { nthWeekday: { weekday: 'TUE', nth: 2 }, at: '04:00' } });

    // Act
    const [family] = loadConfig(input).families;

    // Assess
    expect(family?.schedule).toEqual({
      nthWeekday: { weekday: 'TUE', nth: 2, offsetDays: 0 },
      at: '04:00',
      timezone: 'UTC',
    });
  });
});

describe('loadConfig field errors name the family, the field and the fix', () => {
  const cases: ReadonlyArray<readonly [string, () => FamilyInput, Record<string, unknown>, string]> = [
    ['a malformed subnet id', linuxFamily, { 'builder.subnetId': 'subnet-xyz' }, 'builder.subnetId'],
    ['no security group', linuxFamily, { 'builder.securityGroupIds': [] }, 'builder.securityGroupIds'],
    ['a bake timeout under 15 minutes', linuxFamily, { 'builder.timeoutMinutes': 5 }, 'builder.timeoutMinutes'],
    ['an unknown builder field', linuxFamily, { 'builder.instanceTyp': 'm7i.large' }, 'builder'],
    ['a missing builder', linuxFamily, { builder: undefined }, 'builder'],
    ['a five-field cron', linuxFamily, { 'schedule.cron': '0 3 * * SUN' }, 'schedule.cron'],
    ['a cron with a misspelled weekday', linuxFamily, { 'schedule.cron': '0 3 ? * SUNDAY *' }, 'schedule.cron'],
    ['an unknown time zone', linuxFamily, { 'schedule.timezone': 'Europe/Atlantis' }, 'schedule.timezone'],
    ['an HH:MM time out of range', windowsFamily, { 'schedule.at': '24:00' }, 'schedule.at'],
    ['a fifth weekday', windowsFamily, { 'schedule.nthWeekday.nth': 5 }, 'schedule.nthWeekday.nth'],
    [
      'an offset past day 28',
      windowsFamily,
      { 'schedule.nthWeekday': { weekday: 'TUE', nth: 4, offsetDays: 1 } },
      'schedule.nthWeekday.offsetDays',
    ],
    ['a relative SSM parameter', linuxFamily, { source: { ssmParameter: 'aws/service/x' } }, 'source.ssmParameter'],
    ['an empty source', linuxFamily, { source: {} }, 'source'],
    [
      'an AMI filter without owners',
      linuxFamily,
      { source: { amiFilter: { owners: [], filters: { name: ['x'] } } } },
      'source.amiFilter.owners',
    ],
    ['a reserved channel name', linuxFamily, { 'channels.2': { name: 'locks' } }, 'channels.2.name'],
    ['an unknown promotion rule', linuxFamily, { 'channels.0.promoteOn': 'always' }, 'channels.0.promoteOn'],
    ['an unknown architecture', linuxFamily, { architecture: 'sparc' }, 'architecture'],
    ['an unknown os', linuxFamily, { os: 'macos' }, 'os'],
    ['a Linux package name with a space', linuxFamily, { 'install.packages': ['j q'] }, 'install.packages.0'],
    ['retention keeping no image', linuxFamily, { retention: { keep: 0 } }, 'retention.keep'],
    ['a distribution region typo', linuxFamily, { distribution: { regions: ['eu-west'] } }, 'distribution.regions.0'],
    ['a malformed KB id', windowsFamily, { 'patch.excludeKbs': ['5034439'] }, 'patch.excludeKbs.0'],
    [
      'a plain-http chocolatey feed',
      windowsFamily,
      { 'install.chocolatey.source': 'http://feed' },
      'install.chocolatey.source',
    ],
    ['a Linux patch field on Windows', windowsFamily, { 'patch.securityOnly': true }, 'patch'],
    ['a tag key EC2 reserves', linuxFamily, { tags: { 'aws:cost-center': 'x' } }, 'tags.aws:cost-center'],
    [
      "an instance profile's ARN given as its role's",
      linuxFamily,
      {
        'builder.instanceProfile': 'team-builder',
        'builder.instanceRoleArn': 'arn:aws:iam::111122223333:instance-profile/team-builder',
      },
      'builder.instanceRoleArn',
    ],
    [
      'a role name given as its ARN',
      linuxFamily,
      { 'builder.instanceProfile': 'team-builder', 'builder.instanceRoleArn': 'TeamBuilderRole' },
      'builder.instanceRoleArn',
    ],
    [
      'a wildcard role ARN',
      linuxFamily,
      { 'builder.instanceProfile': 'team-builder', 'builder.instanceRoleArn': 'arn:aws:iam::111122223333:role/*' },
      'builder.instanceRoleArn',
    ],
  ];

  it.each(cases)('rejects %s', (_what, family, changes, field) => {
    // Prepare
    const input = withFamily(family(), changes);
    const name = (input.families[0] as { name: string }).name;

    // Act
    const problems = problemsOf(input);

    // Assess
    expect(problems).toContainEqual(expect.stringContaining(`family '${name}': ${field}: `));
    for (const problem of problems) expect(problem).toMatch(/Fix: \S/);
  });

  it("refuses a custom instance profile without its role's ARN, naming the family, the field and the fix", () => {
    // Prepare
    const input = withFamily(linuxFamily(), { 'builder.instanceProfile': 'team-builder' });

    // Act
    const problems = problemsOf(input);

    // Assess
    expect(problems).toEqual([
      expect.stringMatching(
        /^family 'al2023-base': builder\.instanceRoleArn: .*instance profile 'team-builder'.*Fix: .*get-instance-profile --instance-profile-name team-builder/,
      ),
    ]);
  });

  it("refuses a role ARN without a custom instance profile: the default builder's role is the stack's own", () => {
    // Prepare
    const input = withFamily(linuxFamily(), {
      'builder.instanceRoleArn': 'arn:aws:iam::111122223333:role/TeamBuilderRole',
    });

    // Act
    const problems = problemsOf(input);

    // Assess
    expect(problems).toEqual([
      expect.stringMatching(/^family 'al2023-base': builder\.instanceRoleArn: .*Fix: .*instanceProfile/),
    ]);
  });

  it.each([
    'arn:aws:iam::111122223333:role/TeamBuilderRole',
    'arn:aws:iam::111122223333:role/platform/images/Team.Builder+Role@eu=1,2_x-y',
    'arn:aws-us-gov:iam::111122223333:role/TeamBuilderRole',
    'arn:aws-cn:iam::111122223333:role/service-role/TeamBuilderRole',
  ])('accepts a custom instance profile with its role ARN %s', (instanceRoleArn) => {
    // Prepare
    const input = withFamily(linuxFamily(), {
      'builder.instanceProfile': 'team-builder',
      'builder.instanceRoleArn': instanceRoleArn,
    });

    // Act
    const [family] = loadConfig(input).families;

    // Assess
    expect(family?.builder).toMatchObject({ instanceProfile: 'team-builder', instanceRoleArn });
  });

  it('names a family whose own name is invalid by that name', () => {
    // Prepare
    const input = withFamily(linuxFamily(), { name: 'Al2023' });

    // Act
    const problems = problemsOf(input);

    // Assess
    expect(problems).toEqual([expect.stringMatching(/^family 'Al2023': name: .*Fix: /)]);
  });

  it('names a family without a usable name by its position', () => {
    // Prepare
    const input = configInput([linuxFamily(), linuxFamily({ name: 'second-family' })]);
    (input.families[1] as Record<string, unknown>).name = 42;

    // Act
    const problems = problemsOf(input);

    // Assess
    expect(problems).toEqual([expect.stringMatching(/^families\[1\]: name: .*Fix: /)]);
  });

  it('reports every problem of every family at once', () => {
    // Prepare
    const linux = linuxFamily();
    const windows = windowsFamily();
    const input = configInput([
      { ...linux, builder: { ...linux.builder, subnetId: 'nope' } },
      { ...windows, builder: { ...windows.builder, instanceType: 'large' } },
    ]);

    // Act
    const problems = problemsOf(input);

    // Assess
    expect(problems).toEqual([
      expect.stringContaining("family 'al2023-base': builder.subnetId: "),
      expect.stringContaining("family 'windows-2022-base': builder.instanceType: "),
    ]);
  });

  it('throws a ConfigError whose message lists each problem on its own line', () => {
    // Prepare
    const input = withFamily(linuxFamily(), { 'builder.subnetId': 'nope' });

    // Act
    const act = () => loadConfig(input);

    // Assess
    expect(act).toThrow(ConfigError);
    expect(act).toThrow(/^Bakehouse configuration is invalid:\n {2}- family 'al2023-base': builder\.subnetId: /);
  });

  it('names the settings field, with a fix, when a setting is wrong', () => {
    // Prepare
    const input = { ...configInput(), settings: { parameterPrefix: 'bakehouse' } };

    // Act
    const problems = problemsOf(input);

    // Assess
    expect(problems).toEqual([expect.stringMatching(/^settings\.parameterPrefix: .*Fix: /)]);
  });

  it('asks for at least one family', () => {
    // Act
    const problems = problemsOf({ families: [] });

    // Assess
    expect(problems).toEqual([expect.stringMatching(/^families: .*Fix: .*at least one family/)]);
  });

  it('accepts an nthWeekday rule exactly when its last possible day is day 28 or earlier', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 0, max: 14 }), (nth, offsetDays) => {
        // Prepare
        const input = withFamily(windowsFamily(), { 'schedule.nthWeekday': { weekday: 'MON', nth, offsetDays } });

        // Act
        const loads = (() => {
          try {
            loadConfig(input);
            return true;
          } catch {
            return false;
          }
        })();

        // Assess
        expect(loads).toBe(nth * 7 + offsetDays <= 28);
      }),
    );
  });
});

describe('loadConfig keeps automation parameters within what SSM accepts', () => {
  it('rejects install scripts that render past 512 characters, naming the field and the fix', () => {
    // Prepare
    const input = withFamily(linuxFamily(), {
      'install.scripts': [{ name: 'long', run: 'echo x\n'.repeat(80) }],
    });

    // Act
    const problems = problemsOf(input);

    // Assess
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^family 'al2023-base': install\.scripts: renders to \d+ characters/);
    expect(problems[0]).toContain('at most 512');
    expect(problems[0]).toContain('Fix:');
  });

  it('accepts a script of exactly 512 rendered characters', () => {
    // Prepare
    const header = '# bakehouse step: s\n';
    const input = withFamily(linuxFamily(), {
      'install.scripts': [{ name: 's', run: 'x'.repeat(512 - header.length) }],
    });

    // Act
    const config = loadConfig(input);

    // Assess
    expect(config.families[0]?.install.scripts).toHaveLength(1);
  });

  it('rejects a Windows Chocolatey package list past the limit', () => {
    // Prepare
    const packages = Array.from({ length: 60 }, (_, i) => `package-number-${i}`);
    const input = withFamily(windowsFamily(), {
      'install.chocolatey': { source: 'https://feed.example.internal/choco', packages },
    });

    // Act
    const problems = problemsOf(input);

    // Assess
    expect(problems.join('\n')).toContain('install.chocolatey.packages: renders to');
  });

  it('refuses unencrypted volumes with a fix instead of ignoring the setting', () => {
    // Prepare
    const input = withFamily(linuxFamily(), { 'builder.encryptVolumes': false });

    // Act
    const problems = problemsOf(input);

    // Assess
    expect(problems).toHaveLength(1);
    expect(problems[0]).toContain('builder.encryptVolumes');
    expect(problems[0]).toContain('always encrypts');
    expect(problems[0]).toContain('Fix:');
  });
});

describe('loadConfig checks families against each other', () => {
  it('rejects two families with the same name', () => {
    // Act
    const problems = problemsOf(configInput([linuxFamily(), linuxFamily({ description: 'again' })]));

    // Assess
    expect(problems).toEqual([expect.stringMatching(/^family 'al2023-base': name is declared twice\. Fix: /)]);
  });

  it('rejects a channel listed twice', () => {
    // Act
    const problems = problemsOf(configInput([linuxFamily({ channels: [{ name: 'stable' }, { name: 'stable' }] })]));

    // Assess
    expect(problems).toEqual([expect.stringMatching(/^family 'al2023-base': channels: 'stable' .*Fix: /)]);
  });

  it('rejects candidate as a declared channel, since every bake writes it', () => {
    // Act
    const problems = problemsOf(configInput([linuxFamily({ channels: [{ name: 'candidate' }] })]));

    // Assess
    expect(problems).toEqual([expect.stringMatching(/^family 'al2023-base': channels: 'candidate' .*Fix: remove/)]);
  });

  it('rejects a parent family that does not exist, listing the ones that do', () => {
    // Act
    const problems = problemsOf(configInput([linuxFamily(), childFamily('al2022-base')]));

    // Assess
    expect(problems).toEqual([
      "family 'al2023-web': source.family: no family named 'al2022-base'. Fix: name one of al2023-base, al2023-web",
    ]);
  });

  it('rejects a parent channel the parent does not have, listing the ones it has', () => {
    // Act
    const problems = problemsOf(configInput([linuxFamily(), childFamily('al2023-base', 'prod')]));

    // Assess
    expect(problems).toEqual([
      "family 'al2023-web': source.channel: family 'al2023-base' has no channel 'prod'. Fix: use one of candidate, dev, stable",
    ]);
  });

  it("accepts building on a parent's candidate channel", () => {
    // Act
    const config = loadConfig(configInput([linuxFamily(), childFamily('al2023-base', 'candidate')]));

    // Assess
    expect(config.families[1]?.source).toEqual({ family: 'al2023-base', channel: 'candidate' });
  });

  it('rejects a Linux family built on a Windows family', () => {
    // Act
    const problems = problemsOf(configInput([windowsFamily(), childFamily('windows-2022-base')]));

    // Assess
    expect(problems).toEqual([
      expect.stringMatching(/^family 'al2023-web': os: .*'windows-2022-base' is 'windows'\. Fix: /),
    ]);
  });

  it('rejects a family built on itself', () => {
    // Act
    const problems = problemsOf(configInput([childFamily('loop-family', 'candidate', 'loop-family')]));

    // Assess
    expect(problems).toEqual([
      "family 'loop-family': source.family: the chain loop-family -> loop-family is a cycle. Fix: build the foundation from an SSM parameter or an AMI filter",
    ]);
  });

  it('rejects a cycle through several families, naming each family in it', () => {
    // Prepare
    const input = configInput([
      childFamily('family-b', 'candidate', 'family-a'),
      childFamily('family-a', 'candidate', 'family-b'),
    ]);

    // Act
    const problems = problemsOf(input);

    // Assess
    expect(problems).toEqual([
      expect.stringMatching(
        /^family 'family-a': source\.family: the chain family-a -> family-b -> family-a is a cycle\. Fix: /,
      ),
      expect.stringMatching(
        /^family 'family-b': source\.family: the chain family-b -> family-a -> family-b is a cycle\. Fix: /,
      ),
    ]);
  });
});

describe('family lookups', () => {
  it('lists ancestors nearest first', () => {
    // Prepare
    const config = loadConfig(
      configInput([
        linuxFamily(),
        childFamily('al2023-base', 'stable', 'al2023-web'),
        childFamily('al2023-web', 'stable', 'al2023-shop'),
      ]),
    );
    const shop = findFamily(config, 'al2023-shop');

    // Act
    const ancestors = shop ? ancestorsOf(config, shop).map((f) => f.name) : [];

    // Assess
    expect(ancestors).toEqual(['al2023-web', 'al2023-base']);
  });

  it('finds no family for an unknown name', () => {
    // Act
    const found = findFamily(loadConfig(configInput([filteredFamily()])), 'al2023-base');

    // Assess
    expect(found).toBeUndefined();
  });

  it('places channel parameters under the configured prefix', () => {
    // Prepare
    const config = loadConfig({ ...configInput(), settings: { parameterPrefix: '/platform/images' } });

    // Act
    const name = channelParameterName(config.settings, 'al2023-base', 'stable');

    // Assess
    expect(name).toBe('/platform/images/al2023-base/stable');
  });
});

describe('loadConfig promotion targets and distribution', () => {
  it('normalizes region and account shorthands to objects', () => {
    // Prepare
    const input = withFamily(linuxFamily(), {
      'builder.kmsKeyId': CUSTOMER_KEY,
      distribution: {
        regions: ['eu-west-1', { region: 'eu-central-1', kmsKeyId: 'alias/images' }],
        accounts: [
          '111122223333',
          { account: '444455556666', tagRoleArn: 'arn:aws:iam::444455556666:role/ami-tagger' },
        ],
      },
    });

    // Act
    const [family] = loadConfig(input).families;

    // Assess
    expect(family?.distribution).toEqual({
      regions: [
        { region: 'eu-west-1', kmsKeyId: undefined },
        { region: 'eu-central-1', kmsKeyId: 'alias/images' },
      ],
      accounts: [
        { account: '111122223333', tagRoleArn: undefined },
        { account: '444455556666', tagRoleArn: 'arn:aws:iam::444455556666:role/ami-tagger' },
      ],
    });
  });

  it('defaults launch templates to become the default version and groups to 90% healthy', () => {
    // Prepare
    const input = withFamily(linuxFamily(), {
      channels: [
        { name: 'stable', launchTemplates: [{ template: 'web-servers' }], autoScalingGroups: [{ name: 'web' }] },
      ],
    });

    // Act
    const [family] = loadConfig(input).families;

    // Assess
    expect(family?.channels[0]).toMatchObject({
      launchTemplates: [{ template: 'web-servers', makeDefault: true }],
      autoScalingGroups: [{ name: 'web', minHealthyPercentage: 90 }],
    });
  });

  it.each([
    ['the default key', undefined],
    ['alias/aws/ebs', 'alias/aws/ebs'],
    ['the alias ARN of aws/ebs', 'arn:aws:kms:us-east-1:123456789012:alias/aws/ebs'],
  ])(
    'refuses sharing with other accounts images encrypted with the AWS managed key (%s), naming the family, the field and the fix',
    (_, kmsKeyId) => {
      // Prepare
      const input = withFamily(linuxFamily(), {
        ...(kmsKeyId === undefined ? {} : { 'builder.kmsKeyId': kmsKeyId }),
        distribution: { accounts: ['111122223333'] },
      });

      // Act
      const problems = problemsOf(input);

      // Assess
      expect(problems).toHaveLength(1);
      expect(problems[0]).toMatch(/^family 'al2023-base': builder\.kmsKeyId: /);
      expect(problems[0]).toContain('AWS managed key');
      expect(problems[0]).toContain('111122223333');
      expect(problems[0]).toMatch(/Fix: set builder\.kmsKeyId to a customer managed KMS key/);
    },
  );

  it('refuses a regional copy encrypted with the AWS managed key when the family shares with accounts', () => {
    // Prepare
    const input = withFamily(linuxFamily(), {
      'builder.kmsKeyId': CUSTOMER_KEY,
      distribution: {
        regions: ['eu-west-1', { region: 'eu-central-1', kmsKeyId: 'alias/aws/ebs' }],
        accounts: ['111122223333'],
      },
    });

    // Act
    const problems = problemsOf(input);

    // Assess
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^family 'al2023-base': distribution\.regions\.1\.kmsKeyId: the copy in eu-central-1/);
    expect(problems[0]).toMatch(/Fix: set distribution\.regions\.1\.kmsKeyId to a customer managed KMS key/);
  });

  it('accepts the AWS managed key when the family shares with no account, and a customer key when it does', () => {
    // Prepare
    const unshared = withFamily(linuxFamily(), { distribution: { regions: ['eu-west-1'] } });
    const shared = withFamily(linuxFamily(), {
      'builder.kmsKeyId': CUSTOMER_KEY,
      distribution: { regions: [{ region: 'eu-west-1', kmsKeyId: 'alias/images' }], accounts: ['111122223333'] },
    });

    // Act + Assess
    expect(loadConfig(unshared).families[0]?.builder.kmsKeyId).toBe('alias/aws/ebs');
    expect(loadConfig(shared).families[0]?.distribution.accounts).toEqual([
      { account: '111122223333', tagRoleArn: undefined },
    ]);
  });

  it('names the field and the fix for a malformed role ARN', () => {
    // Prepare
    const input = withFamily(linuxFamily(), {
      distribution: { accounts: [{ account: '111122223333', tagRoleArn: 'ami-tagger' }] },
    });

    // Act + Assess
    expect(() => loadConfig(input)).toThrow('distribution.accounts.0.tagRoleArn: Fix: use an IAM role ARN');
  });
});

describe('the Linux release policy (patch.release)', () => {
  it.each(['latest', '2023.9.20261122', '2023.9.20261122.0'])("accepts '%s'", (release) => {
    // Act
    const config = loadConfig(withFamily(linuxFamily(), { 'patch.release': release }));

    // Assess
    const family = config.families[0];
    expect(family?.os === 'linux' ? family.patch.release : undefined).toBe(release);
  });

  it.each(['2023', 'newest', '2023.9', 'ami-0123456789abcdef0', '3.0.8-1.amzn2023'])(
    "rejects '%s', naming the family, the field and the fix",
    (release) => {
      // Act
      const problems = problemsOf(withFamily(linuxFamily(), { 'patch.release': release }));

      // Assess
      expect(problems).toEqual([
        expect.stringMatching(
          /^family 'al2023-base': patch\.release: Fix: use 'latest' or an Amazon Linux 2023 release version such as '2023\.9\.20261122\.0'/,
        ),
      ]);
    },
  );

  it('rejects a release policy on a family whose source is another Linux', () => {
    // Prepare
    const ubuntu = linuxFamily({
      name: 'ubuntu-base',
      source: { ssmParameter: '/aws/service/canonical/ubuntu/server/24.04/stable/current/amd64/hvm/ebs-gp3/ami-id' },
      patch: { release: 'latest' },
    });

    // Act
    const problems = problemsOf(configInput([ubuntu]));

    // Assess
    expect(problems).toEqual([
      expect.stringMatching(
        /^family 'ubuntu-base': patch\.release: 'latest' is an Amazon Linux 2023 release policy.*Fix: remove patch\.release$/,
      ),
    ]);
  });

  it('accepts a pinned release on a child of an AL2023 family and on a family whose filter cannot tell', () => {
    // Prepare
    const child = { ...childFamily('al2023-base'), patch: { release: '2023.9.20261122.0' } } as FamilyInput;
    const filtered = { ...filteredFamily('golden-base'), patch: { release: 'latest' } } as FamilyInput;

    // Act
    const config = loadConfig(configInput([linuxFamily(), child, filtered]));

    // Assess
    expect(config.families).toHaveLength(3);
  });
});

describe('values rendered into scripts', () => {
  // rendered-values.test.ts covers each way out of each script; this proves loadConfig applies them.
  it('refuses a Chocolatey source with a quote and a Linux script holding the here-document sentinel', () => {
    const windows = windowsFamily({
      install: { chocolatey: { source: "https://feed.example/it's", packages: ['7zip'] }, scripts: [] },
    });
    const linux = linuxFamily({ preScript: 'echo one\nBAKEHOUSE_SCRIPT_END\necho escaped' });
    const problems = problemsOf(configInput([linux, windows]));
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/family '[\w-]+': install\.chocolatey\.source: .*Fix: /),
        expect.stringMatching(/family '[\w-]+': preScript: .*BAKEHOUSE_SCRIPT_END.*Fix: /),
      ]),
    );
  });
});
