/**
 * What the configuration asks promotions to touch besides the channel parameters, apart from the
 * constructs (stacks/promotion.ts grants on it): plain data, so its tests load neither CDK nor SST.
 */
import { type BakehouseConfig, isLaunchTemplateId } from '../functions/commons/families';

/** What the configuration asks promotions to touch besides the channel parameters. */
export const promotionTargetsOf = (config: BakehouseConfig) => {
  const channels = config.families.flatMap((f) => f.channels);
  const templates = [...new Set(channels.flatMap((c) => c.launchTemplates.map((t) => t.template)))].sort();
  const families = config.families.filter((f) => f.distribution.regions.length + f.distribution.accounts.length > 0);
  return {
    templateIds: templates.filter(isLaunchTemplateId),
    templateNames: templates.filter((t) => !isLaunchTemplateId(t)),
    groups: [...new Set(channels.flatMap((c) => c.autoScalingGroups.map((g) => g.name)))].sort(),
    regions: [...new Set(config.families.flatMap((f) => f.distribution.regions.map((r) => r.region)))].sort(),
    /** The copies' keys, per region, as configured (id, ARN or alias). */
    regionKeys: config.families.flatMap((f) =>
      f.distribution.regions.flatMap((r) => (r.kmsKeyId ? [{ region: r.region, key: r.kmsKeyId }] : [])),
    ),
    /** The keys of the images distributed (the copy decrypts the source snapshots with them). */
    sourceKeys: families.map((f) => f.builder.kmsKeyId).filter((key) => !/(^|\/)aws\/ebs$/.test(key)),
    sharesWithAccounts: families.some((f) => f.distribution.accounts.length > 0),
    tagRoleArns: [
      ...new Set(config.families.flatMap((f) => f.distribution.accounts.flatMap((a) => a.tagRoleArn ?? []))),
    ].sort(),
  };
};
