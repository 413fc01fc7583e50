/**
 * A promotion is all or nothing as seen from outside (issue 18): every launch template a channel
 * names is checked before the channel moves (exists, carries `bakehouse:launch-template=<name>`
 * when named), a bad one refuses the whole promotion with `Promotion Rejected`; a target that still
 * fails after the move is listed in `AMI Promoted`'s `failedTargets`, with the reason and the fix.
 */
import { DescribeLaunchTemplatesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { type AwsClientStub, mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { describeFailedTargets, failedTargetsOf } from '../../cli/commands/outcomes';
import { LaunchTemplateNotFoundError } from '../../functions/commons/errors';
import { amiPromotedSchema } from '../../functions/commons/events';
import { type BakehouseConfig, loadConfig } from '../../functions/commons/families';
import { checkLaunchTemplates, type TargetDeps } from '../../functions/commons/promotion-targets';
import { promotedStandalone } from '../../functions/notify/messages';
import { promote } from '../../functions/promote/core';
import { awsError, configInput, linuxFamily, recordingLogger } from './support/bake-factories';
import { envelope, type FakeAws, fakeAws, fakeTargets, PREFIX, promotionDeps } from './support/promotion-fakes';

const HOME = 'eu-central-1';
const FAMILY = 'al2023-base';

const depsWith = (ec2: EC2Client): TargetDeps => ({
  ec2: () => ec2,
  autoScaling: { send: async () => ({}) } as unknown as TargetDeps['autoScaling'],
  ec2As: async () => ec2,
  homeRegion: HOME,
  logger: recordingLogger(),
});

describe('checkLaunchTemplates', () => {
  const ec2 = new EC2Client({ region: HOME });
  let mock: AwsClientStub<EC2Client>;
  afterEach(() => mock.restore());
  beforeEach(() => {
    mock = mockClient(ec2);
    mock.on(DescribeLaunchTemplatesCommand).callsFake((input) => {
      const name = input.LaunchTemplateNames?.[0];
      const id = input.LaunchTemplateIds?.[0];
      if (name === 'web-dev') {
        return {
          LaunchTemplates: [
            {
              LaunchTemplateId: 'lt-0aaaaaaaaaaaaaaa1',
              LaunchTemplateName: name,
              Tags: [{ Key: 'bakehouse:launch-template', Value: 'web-dev' }],
            },
          ],
        };
      }
      if (name === 'untagged')
        return { LaunchTemplates: [{ LaunchTemplateId: 'lt-0aaaaaaaaaaaaaaa2', LaunchTemplateName: name, Tags: [] }] };
      if (name === 'tagged-other') {
        return {
          LaunchTemplates: [
            {
              LaunchTemplateId: 'lt-0aaaaaaaaaaaaaaa3',
              LaunchTemplateName: name,
              Tags: [{ Key: 'bakehouse:launch-template', Value: 'web-dev' }],
            },
          ],
        };
      }
      if (id === 'lt-0123456789abcdef0')
        return { LaunchTemplates: [{ LaunchTemplateId: id, LaunchTemplateName: 'by-id', Tags: [] }] };
      throw id ? awsError('InvalidLaunchTemplateId.NotFound') : awsError('InvalidLaunchTemplateName.NotFoundException');
    });
  });

  it('finds nothing wrong with a tagged template named by name, or one given by id (granted by its ARN)', async () => {
    const problems = await checkLaunchTemplates(
      [
        { template: 'web-dev', makeDefault: true },
        { template: 'lt-0123456789abcdef0', makeDefault: false },
      ],
      depsWith(ec2),
    );
    expect(problems).toEqual([]);
  });

  it('names a template that does not exist, with the field and the fix', async () => {
    const problems = await checkLaunchTemplates(
      [
        { template: 'no-such-template', makeDefault: true },
        { template: 'lt-0fffffffffffffff0', makeDefault: true },
      ],
      depsWith(ec2),
    );
    expect(problems).toEqual([
      {
        kind: 'launchTemplate',
        target: 'no-such-template',
        reason: expect.stringContaining(`launch template 'no-such-template' does not exist in ${HOME}`),
        fix: expect.stringContaining('launchTemplates'),
      },
      expect.objectContaining({ kind: 'launchTemplate', target: 'lt-0fffffffffffffff0' }),
    ]);
  });

  it('names a template configured by name that lacks the tag Promote is allowed by, or names another', async () => {
    const problems = await checkLaunchTemplates(
      [
        { template: 'untagged', makeDefault: true },
        { template: 'tagged-other', makeDefault: true },
      ],
      depsWith(ec2),
    );
    expect(problems.map((p) => p.target)).toEqual(['untagged', 'tagged-other']);
    expect(problems[0]?.reason).toContain('bakehouse:launch-template');
    expect(problems[0]?.fix).toContain('bakehouse:launch-template=untagged');
    expect(problems[1]?.reason).toContain("'web-dev'");
  });
});

// ---------------------------------------------------------------- Promote

const config = (): BakehouseConfig =>
  loadConfig(
    configInput([
      linuxFamily({
        name: FAMILY,
        channels: [
          { name: 'dev', promoteOn: 'baked', launchTemplates: [{ template: 'web-dev' }] },
          { name: 'stable', promoteOn: 'manual', launchTemplates: [{ template: 'web-stable' }, { template: 'web-b' }] },
        ],
      }),
    ]),
  );

let aws: FakeAws;
let fakes: ReturnType<typeof fakeTargets>;

const freshAws = () => {
  aws = fakeAws();
  fakes = fakeTargets();
};

const requested = (amiId: string, channel: string) =>
  envelope('Promote Requested', {
    version: '1.0',
    family: FAMILY,
    channel,
    amiId,
    requestedBy: 'cli:alice',
    reason: 'hotfix',
  });

const channelOf = (channel: string) => aws.parameters.get(`${PREFIX}/${FAMILY}/${channel}`)?.at(-1)?.value;

describe('a promotion whose launch template is unknown before the move', () => {
  beforeEach(freshAws);
  it('is refused whole: Promotion Rejected names the template and the fix, the channel does not move, nothing is updated', async () => {
    const amiId = aws.addImage(1, FAMILY);
    fakes.targets.checkLaunchTemplates.mockResolvedValueOnce([
      {
        kind: 'launchTemplate',
        target: 'web-stable',
        reason: `launch template 'web-stable' does not exist in ${HOME}`,
        fix: 'create it, or correct or remove it in the family config',
      },
    ]);

    await expect(promote(requested(amiId, 'stable'), promotionDeps(config(), fakes.targets))).rejects.toMatchObject({
      name: 'PromotionRefusedError',
    });

    expect(channelOf('stable')).toBeUndefined();
    expect(fakes.targets.updateLaunchTemplates).not.toHaveBeenCalled();
    expect(aws.promoted()).toEqual([]);
    const [rejected] = aws.published('Promotion Rejected');
    expect(rejected).toMatchObject({
      family: FAMILY,
      channel: 'stable',
      amiId,
      requestedBy: 'cli:alice',
      reason: expect.stringContaining("launch template 'web-stable' does not exist"),
      fix: expect.stringContaining('create it'),
    });
  });
});

describe('a target that fails after the channel moved', () => {
  beforeEach(freshAws);
  it('is listed in AMI Promoted with the reason and the fix; the other template still moves', async () => {
    const amiId = aws.addImage(2, FAMILY);
    const update = fakes.targets.updateLaunchTemplates.getMockImplementation();
    fakes.targets.updateLaunchTemplates.mockImplementation(async (list, ami, deps) => {
      if (list.some((t) => t.template === 'web-stable')) {
        throw new LaunchTemplateNotFoundError(
          `launch template 'web-stable' (a channel's launchTemplates) does not exist in ${HOME}. Fix: create it, or correct or remove it in the family config`,
        );
      }
      return (update as NonNullable<typeof update>)(list, ami, deps);
    });

    const result = await promote(requested(amiId, 'stable'), promotionDeps(config(), fakes.targets));

    expect(channelOf('stable')).toBe(amiId);
    expect(result.channels).toEqual([expect.objectContaining({ channel: 'stable', published: true })]);
    const [promoted] = aws.promoted();
    expect(amiPromotedSchema.parse(promoted)).toBeTruthy();
    expect(promoted?.targets.launchTemplates).toEqual([{ id: 'web-b', version: 1, isDefault: true }]);
    expect(promoted?.failedTargets).toEqual([
      {
        kind: 'launchTemplate',
        target: 'web-stable',
        reason: expect.stringContaining("launch template 'web-stable'"),
        fix: expect.stringContaining(amiId),
      },
    ]);
  });

  it('is not there when every target moved (the field is optional)', async () => {
    const amiId = aws.addImage(3, FAMILY);
    await promote(requested(amiId, 'stable'), promotionDeps(config(), fakes.targets));
    expect(aws.promoted()[0]).not.toHaveProperty('failedTargets');
  });
});

describe("Slack's promotion message", () => {
  it('says the move is partial: which targets failed, why, and the fix', () => {
    const message = promotedStandalone({
      version: '1.1',
      bakeId: null,
      family: FAMILY,
      amiId: 'ami-0123456789abcdef0',
      channel: 'stable',
      previousAmiId: null,
      cause: 'manual',
      promotedBy: 'cli:alice',
      targets: {
        parameter: '/bakehouse/al2023-base/stable',
        launchTemplates: [],
        autoScalingGroups: [],
        regions: [],
        accounts: [],
      },
      outdatedChildren: [],
      failedTargets: [
        {
          kind: 'launchTemplate',
          target: 'web-stable',
          reason: "launch template 'web-stable' does not exist in eu-central-1",
          fix: 'recreate it and give it a version with the image',
        },
      ],
    });
    const text = JSON.stringify(message);
    expect(message.text).toContain('1 target did not follow');
    expect(text).toContain('web-stable');
    expect(text).toContain('does not exist in eu-central-1');
    expect(text).toContain('recreate it and give it a version with the image');
  });
});

describe("the CLI's partial move", () => {
  it('reads the failed targets out of AMI Promoted and prints each with why and the fix', () => {
    const failed = failedTargetsOf({
      failedTargets: [
        {
          kind: 'launchTemplate',
          target: 'web-stable',
          reason: 'InvalidLaunchTemplateId.NotFound: gone.',
          fix: 'recreate it',
        },
        { kind: 'autoScalingGroup', target: 'web-asg', reason: 'Throttling', fix: 'start the refresh' },
        { reason: 'no target named' },
      ],
    });
    expect(failed.map((f) => f.target)).toEqual(['web-stable', 'web-asg']);
    expect(describeFailedTargets(failed)).toBe(
      [
        '  launch template web-stable: InvalidLaunchTemplateId.NotFound: gone.',
        '  Fix: recreate it',
        '  Auto Scaling group web-asg: Throttling.',
        '  Fix: start the refresh',
      ].join('\n'),
    );
    expect(failedTargetsOf({})).toEqual([]);
  });
});
