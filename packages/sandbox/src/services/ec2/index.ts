/**
 * EC2 (query protocol, API version 2016-11-15). Its actions are spread over the files of this
 * folder by resource; this module puts them together.
 */
import type { QueryAction, QueryService } from '../../service';
import { withEventualConsistency } from './consistency';
import { imageActions } from './images';
import { instanceActions } from './instances';
import { launchTemplateActions } from './launch-templates';
import { tickEc2 } from './lifecycle';
import { withRateLimits } from './rate-limits';
import { seedEc2 } from './seed';
import { snapshotActions } from './snapshots';
import { tagActions } from './tags';
import { volumeActions } from './volumes';

export const EC2_XMLNS = 'http://ec2.amazonaws.com/doc/2016-11-15/';

/** Each resource file exports its actions; add the map here. */
const actionMaps: readonly Readonly<Record<string, QueryAction>>[] = [
  imageActions,
  instanceActions,
  launchTemplateActions,
  snapshotActions,
  tagActions,
  volumeActions,
];

export const ec2: QueryService = {
  signingName: 'ec2',
  protocol: 'ec2',
  xmlns: EC2_XMLNS,
  // Every action draws from its request bucket first (on by default: rate-limits.ts); then eventual
  // consistency after creates wraps the actions it concerns (off unless the sandbox turns it on).
  actions: withRateLimits(withEventualConsistency(Object.assign({}, ...actionMaps))),
  tick: tickEc2,
  seed: seedEc2,
};
