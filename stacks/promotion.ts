/**
 * Promotion, distribution and revocation (issue 5): the Promote function ("the deploy Lambda") on
 * `AMI Baked`, `AMI Tested` and `Promote Requested`, the Revoke function on `AMI Revoked`, their
 * rules on the Bakehouse bus, dead-letter queues, and least-privilege roles: channel parameters of
 * the configured families only, image writes only on images tagged `bakehouse:managed=true` and
 * tag writes only of the keys the functions write, launch templates (by id, or by the
 * `bakehouse:launch-template` tag an operator puts on a template configured by name), Auto Scaling
 * groups, regions, KMS keys and tagging roles as configured.
 */

import { ArnFormat, type Stack } from 'aws-cdk-lib';
import { Rule } from 'aws-cdk-lib/aws-events';
import { Effect, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { Tag } from '../functions/commons/bake-plan';
import { STATE_TABLE_NAME_KEY } from '../functions/commons/env';
import { DetailType } from '../functions/commons/events';
import type { BakehouseConfig } from '../functions/commons/families';
import { channelTagKey } from '../functions/commons/promotion';
import { lockKeyPattern } from '../functions/commons/state-table';
import { PromotionFunction } from './names';
import { lambdaTarget, type PipelineContext, retryAsyncInto } from './pipeline-context';
import { promotionTargetsOf } from './promotion-targets';

const managedImage = { StringEquals: { [`aws:ResourceTag/${Tag.Managed}`]: 'true' } };

/**
 * The tag that makes a launch template configured by name changeable by Promote and Revoke: its
 * value is the name the configuration uses (`bakehouse:launch-template=web-dev`). The operator who
 * owns the template puts it there; a template without it, or with a name the configuration does
 * not list, cannot be changed.
 */
export const LAUNCH_TEMPLATE_TAG = Tag.LaunchTemplate;

/** The tag keys Revoke writes on the image it revokes (functions/revoke/core.ts), besides the channel keys. */
const REVOCATION_TAG_KEYS = [Tag.Revoked, Tag.RevokedReason, Tag.RevokedBy];

/** ARNs of a resource in a given region (copies live in other regions). */
const regional = (stack: Stack, region: string) => ({
  image: () =>
    stack.formatArn({
      service: 'ec2',
      region,
      account: '',
      resource: 'image/*',
      arnFormat: ArnFormat.NO_RESOURCE_NAME,
    }),
  snapshot: () =>
    stack.formatArn({
      service: 'ec2',
      region,
      account: '',
      resource: 'snapshot/*',
      arnFormat: ArnFormat.NO_RESOURCE_NAME,
    }),
  kmsKey: (id: string) =>
    stack.formatArn({
      service: 'kms',
      region,
      resource: 'key',
      resourceName: id,
      arnFormat: ArnFormat.SLASH_RESOURCE_NAME,
    }),
});

interface Statements {
  readonly statements: PolicyStatement[];
  /** The wildcard resources among them, for the cdk-nag suppression. */
  readonly wildcards: string[];
}

/** The `bakehouse:channel:<channel>` keys promoteChannel writes, one per configured channel name. */
const channelTagKeysOf = (config: BakehouseConfig): string[] =>
  [...new Set(config.families.flatMap((f) => f.channels.map((c) => channelTagKey(c.name))))].sort();

/**
 * The channel parameters, image reads and managed-image writes of a function. Tags are written
 * only on images that are managed already, and only the keys the function writes: CreateTags on
 * `image` takes aws:ResourceTag/${TagKey} and aws:TagKeys (Service Authorization Reference,
 * "Actions, resources, and condition keys for Amazon EC2"), so a key such as `bakehouse:keep` or
 * the janitor's stage tags cannot be rewritten. `ForAllValues` holds for every key of the request.
 */
const channelStatements = (
  context: PipelineContext,
  writes: { readonly tagKeys: readonly string[]; readonly disable: boolean },
): Statements => {
  const { config, arns } = context;
  const parameters = config.families.flatMap((f) => f.channels.map((c) => context.parameter(`${f.name}/${c.name}`)));
  const images = arns.ec2Unowned('image/*');
  return {
    statements: [
      new PolicyStatement({
        sid: 'MoveChannels',
        effect: Effect.ALLOW,
        actions: ['ssm:GetParameter', 'ssm:GetParameterHistory', 'ssm:PutParameter'],
        resources: parameters,
      }),
      // DescribeImages supports no resource-level permissions; SSM also checks aws:ec2:image values with it.
      new PolicyStatement({
        sid: 'DescribeImages',
        effect: Effect.ALLOW,
        actions: ['ec2:DescribeImages'],
        resources: ['*'],
      }),
      new PolicyStatement({
        sid: 'TagManagedImages',
        effect: Effect.ALLOW,
        actions: ['ec2:CreateTags'],
        resources: [images],
        conditions: {
          ...managedImage,
          'ForAllValues:StringEquals': { 'aws:TagKeys': [...writes.tagKeys] },
        },
      }),
      ...(writes.disable
        ? [
            new PolicyStatement({
              sid: 'DisableManagedImages',
              effect: Effect.ALLOW,
              actions: ['ec2:DisableImage'],
              resources: [images],
              conditions: managedImage,
            }),
          ]
        : []),
    ],
    wildcards: [images],
  };
};

/** Launch templates, Auto Scaling groups, copies, shares, keys and tagging roles (targets.ts). */
const targetStatements = (context: PipelineContext): Statements => {
  const { stack, arns, config } = context;
  const targets = promotionTargetsOf(config);
  const statements: PolicyStatement[] = [];
  const wildcards: string[] = [];
  const home = stack.region;

  const describe = [
    ...(targets.templateIds.length + targets.templateNames.length > 0
      ? ['ec2:DescribeLaunchTemplates', 'ec2:DescribeLaunchTemplateVersions']
      : []),
    ...(targets.groups.length > 0 ? ['ec2:DescribeInstances'] : []),
    ...(targets.sharesWithAccounts ? ['ec2:DescribeImageAttribute'] : []),
  ];
  if (describe.length > 0) {
    statements.push(
      new PolicyStatement({ sid: 'DescribeTargets', effect: Effect.ALLOW, actions: describe, resources: ['*'] }),
    );
  }

  // CreateLaunchTemplateVersion and ModifyLaunchTemplate take one resource, `launch-template*`,
  // whose ARN holds the template's id, never its name, and no condition key for the name: only
  // aws:ResourceTag/${TagKey}, ec2:ResourceTag/${TagKey}, ec2:Region and ec2:ManagedResourceOperator
  // (and ec2:Attribute for ModifyLaunchTemplate) (Service Authorization Reference, "Actions,
  // resources, and condition keys for Amazon EC2"). So a template configured by id is granted by
  // its ARN, and one configured by name through the tag LAUNCH_TEMPLATE_TAG whose value is that
  // name. A template the configuration does not name matches neither: it cannot be changed.
  if (targets.templateIds.length > 0) {
    statements.push(
      new PolicyStatement({
        sid: 'UpdateLaunchTemplatesById',
        effect: Effect.ALLOW,
        actions: ['ec2:CreateLaunchTemplateVersion', 'ec2:ModifyLaunchTemplate'],
        resources: targets.templateIds.map((id) => arns.ec2(`launch-template/${id}`)),
      }),
    );
  }
  if (targets.templateNames.length > 0) {
    wildcards.push(arns.ec2('launch-template/*'));
    statements.push(
      new PolicyStatement({
        sid: 'UpdateLaunchTemplatesByTag',
        effect: Effect.ALLOW,
        actions: ['ec2:CreateLaunchTemplateVersion', 'ec2:ModifyLaunchTemplate'],
        resources: [arns.ec2('launch-template/*')],
        conditions: { StringEquals: { [`aws:ResourceTag/${LAUNCH_TEMPLATE_TAG}`]: targets.templateNames } },
      }),
    );
  }

  if (targets.groups.length > 0) {
    statements.push(
      new PolicyStatement({
        sid: 'DescribeAutoScaling',
        effect: Effect.ALLOW,
        actions: ['autoscaling:DescribeAutoScalingGroups', 'autoscaling:DescribeInstanceRefreshes'],
        resources: ['*'],
      }),
    );
    const groupArns = targets.groups.map((name) =>
      stack.formatArn({
        service: 'autoscaling',
        resource: 'autoScalingGroup',
        resourceName: `*:autoScalingGroupName/${name}`,
        arnFormat: ArnFormat.COLON_RESOURCE_NAME,
      }),
    );
    wildcards.push(...groupArns);
    statements.push(
      new PolicyStatement({
        sid: 'RefreshAutoScalingGroups',
        effect: Effect.ALLOW,
        actions: ['autoscaling:StartInstanceRefresh'],
        resources: groupArns,
      }),
    );
  }

  if (targets.regions.length > 0) {
    const inRegions = targets.regions.map((r) => regional(stack, r));
    const copies = [...inRegions.map((r) => r.image()), ...inRegions.map((r) => r.snapshot())];
    wildcards.push(...copies, arns.ec2Unowned('image/*'));
    statements.push(
      new PolicyStatement({
        sid: 'CopyImagesToRegions',
        effect: Effect.ALLOW,
        actions: ['ec2:CopyImage'],
        // CopyImage authorizes the source image and the image and snapshots it creates (Service
        // Authorization Reference: image and snapshot are required resource types of CopyImage).
        resources: [arns.ec2Unowned('image/*'), ...copies],
      }),
      // The copies are tagged only as CopyImage creates them (TagSpecifications, ec2:CreateAction);
      // nothing rewrites a copy's tags afterwards (shared accounts tag through their own role).
      new PolicyStatement({
        sid: 'TagCopiesWhenCreated',
        effect: Effect.ALLOW,
        actions: ['ec2:CreateTags'],
        resources: copies,
        conditions: { StringEquals: { 'ec2:CreateAction': 'CopyImage' } },
      }),
    );
  }

  if (targets.sharesWithAccounts) {
    const images = [arns.ec2Unowned('image/*'), ...targets.regions.map((r) => regional(stack, r).image())];
    wildcards.push(...images);
    statements.push(
      new PolicyStatement({
        sid: 'ShareManagedImages',
        effect: Effect.ALLOW,
        actions: ['ec2:ModifyImageAttribute'],
        resources: images,
        conditions: managedImage,
      }),
    );
  }

  // Keys: the copies' (per region) and the sources' (home region), by ARN, id or alias.
  // Named one by one: no action wildcards (GenerateDataKey*, ReEncrypt* spelled out).
  const kmsActions = [
    'kms:CreateGrant',
    'kms:Decrypt',
    'kms:DescribeKey',
    'kms:Encrypt',
    'kms:GenerateDataKey',
    'kms:GenerateDataKeyWithoutPlaintext',
    'kms:ReEncryptFrom',
    'kms:ReEncryptTo',
  ];
  const keyArns = new Set<string>();
  const aliases = new Map<string, Set<string>>();
  const addKey = (region: string, key: string) => {
    const alias = /(?:^|:)(alias\/.+)$/.exec(key)?.[1];
    if (alias) aliases.set(region, (aliases.get(region) ?? new Set()).add(alias));
    else keyArns.add(key.startsWith('arn:') ? key : regional(stack, region).kmsKey(key));
  };
  for (const { region, key } of targets.regionKeys) addKey(region, key);
  if (targets.regions.length > 0) for (const key of targets.sourceKeys) addKey(home, key);
  if (keyArns.size > 0) {
    statements.push(
      new PolicyStatement({
        sid: 'EncryptCopiesWithKeys',
        effect: Effect.ALLOW,
        actions: kmsActions,
        resources: [...keyArns],
      }),
    );
  }
  for (const [region, names] of aliases) {
    const anyKey = regional(stack, region).kmsKey('*');
    wildcards.push(anyKey);
    statements.push(
      new PolicyStatement({
        sid: `EncryptCopiesWithAliasedKeys${region.replace(/[^a-z0-9]/g, '')}`,
        effect: Effect.ALLOW,
        actions: kmsActions,
        resources: [anyKey],
        conditions: { 'ForAnyValue:StringEquals': { 'kms:ResourceAliases': [...names].sort() } },
      }),
    );
  }

  if (targets.tagRoleArns.length > 0) {
    statements.push(
      new PolicyStatement({
        sid: 'TagInSharedAccounts',
        effect: Effect.ALLOW,
        actions: ['sts:AssumeRole'],
        resources: targets.tagRoleArns,
      }),
    );
  }
  return { statements, wildcards: [...new Set(wildcards)] };
};

const TARGETS_REASON =
  'DescribeImages, Describe* of launch templates, instances and image attributes, and Auto Scaling Describe* support no resource-level permissions; image and snapshot ids (copies in the configured regions, promoted images) are only known at run time, so image writes require bakehouse:managed=true (tag writes also name their keys with aws:TagKeys) and tags at creation require ec2:CreateAction=CopyImage; Auto Scaling group ARNs carry a generated id before the configured name; a launch template configured by name has an ARN of its id only, so it is matched by the bakehouse:launch-template tag naming it; aliased KMS keys are matched by kms:ResourceAliases.';

export const addPromotion = (context: PipelineContext): void => {
  const { stack, config, bus, publishEvents } = context;
  const targets = targetStatements(context);

  const channelKeys = channelTagKeysOf(config);
  // Moves of one channel take turns through its lock in the state table (functions/commons/promotion.ts).
  const channelLocks = (sid: string) =>
    context.stateTableAccess(
      sid,
      ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:DeleteItem'],
      [lockKeyPattern('channel')],
    );
  const stateTable = { [STATE_TABLE_NAME_KEY]: context.stateTable.tableName };
  const promoteChannels = channelStatements(context, { tagKeys: channelKeys, disable: false });
  const promote = context.addFunction(PromotionFunction.Promote, {
    handler: 'functions/promote/handler.handler',
    description: 'AMI Baked / AMI Tested / Promote Requested: moves channels, launch templates, groups; distributes',
    timeout: '2 minutes',
    environment: stateTable,
    statements: [
      ...promoteChannels.statements,
      ...targets.statements,
      publishEvents,
      channelLocks('PromoteChannelLocks'),
    ],
    wildcards: {
      resources: [...new Set([...promoteChannels.wildcards, ...targets.wildcards])],
      reason: TARGETS_REASON,
    },
  });

  // Revoke tags the image revoked, then moves channels back with promoteChannel (channel keys).
  const revokeChannels = channelStatements(context, {
    tagKeys: [...REVOCATION_TAG_KEYS, ...channelKeys],
    disable: true,
  });
  const revoke = context.addFunction(PromotionFunction.Revoke, {
    handler: 'functions/revoke/handler.handler',
    description: 'AMI Revoked: tags and disables the image (and descendants), moves its channels back',
    timeout: '5 minutes',
    environment: stateTable,
    statements: [
      ...revokeChannels.statements,
      ...targets.statements,
      publishEvents,
      channelLocks('RevokeChannelLocks'),
    ],
    wildcards: { resources: [...new Set([...revokeChannels.wildcards, ...targets.wildcards])], reason: TARGETS_REASON },
  });

  // A bad event fails at once with a named error; Lambda's async retries (2) repeat it
  // deterministically, then the on-failure destination keeps the event and the error.
  const queues = {
    promoteEvents: context.addDeadLetterQueue('PromoteEventsDlq'),
    promoteRejected: context.addDeadLetterQueue('PromoteRejected'),
    revokeEvents: context.addDeadLetterQueue('RevokeEventsDlq'),
    revokeRejected: context.addDeadLetterQueue('RevokeRejected'),
  };
  retryAsyncInto(promote, queues.promoteRejected);
  retryAsyncInto(revoke, queues.revokeRejected);

  new Rule(stack, 'PromoteOnBakedOrTested', {
    eventBus: bus,
    description: 'New and tested AMIs from Bakehouse itself: Promote moves the channels whose rule matches',
    eventPattern: { source: [config.settings.eventSource], detailType: [DetailType.AmiBaked, DetailType.AmiTested] },
    targets: [lambdaTarget(promote, queues.promoteEvents)],
  });
  // Only a pass moves a channel; every other verdict would be an invocation that does nothing.
  // Content filtering on detail fields: https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-event-patterns-content-based-filtering.html
  new Rule(stack, 'PromoteOnCanaryPassed', {
    eventBus: bus,
    description: "Canaries Bakehouse judged pass: Promote moves the family's canary channel to the image",
    eventPattern: {
      source: [config.settings.eventSource],
      detailType: [DetailType.CanaryJudged],
      detail: { verdict: ['pass'] },
    },
    targets: [lambdaTarget(promote, queues.promoteEvents)],
  });
  new Rule(stack, 'PromoteRequested', {
    eventBus: bus,
    description: 'Manual promotions (CLI, approvals): Promote validates them',
    eventPattern: { detailType: [DetailType.PromoteRequested] },
    targets: [lambdaTarget(promote, queues.promoteEvents)],
  });
  new Rule(stack, 'AmiRevoked', {
    eventBus: bus,
    description: 'Revocations (CLI, security tooling): Revoke disables the image and moves its channels back',
    eventPattern: { detailType: [DetailType.AmiRevoked] },
    targets: [lambdaTarget(revoke, queues.revokeEvents)],
  });
};
