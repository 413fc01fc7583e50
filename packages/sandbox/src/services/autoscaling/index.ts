import type { QueryService } from '../../service';
import {
  attachInstances,
  createAutoScalingGroup,
  deleteAutoScalingGroup,
  describeAutoScalingGroups,
  describeAutoScalingInstances,
  detachInstances,
  updateAutoScalingGroup,
} from './groups';
import {
  cancelInstanceRefresh,
  describeInstanceRefreshes,
  startInstanceRefresh,
  tickAutoScaling,
} from './instance-refreshes';
import {
  createLaunchConfiguration,
  deleteLaunchConfiguration,
  describeLaunchConfigurations,
} from './launch-configurations';
import { XMLNS } from './model';

export const autoScaling: QueryService = {
  signingName: 'autoscaling',
  protocol: 'awsquery',
  xmlns: XMLNS,
  actions: {
    CreateLaunchConfiguration: createLaunchConfiguration,
    DescribeLaunchConfigurations: describeLaunchConfigurations,
    DeleteLaunchConfiguration: deleteLaunchConfiguration,
    CreateAutoScalingGroup: createAutoScalingGroup,
    DescribeAutoScalingGroups: describeAutoScalingGroups,
    DescribeAutoScalingInstances: describeAutoScalingInstances,
    UpdateAutoScalingGroup: updateAutoScalingGroup,
    DeleteAutoScalingGroup: deleteAutoScalingGroup,
    AttachInstances: attachInstances,
    DetachInstances: detachInstances,
    StartInstanceRefresh: startInstanceRefresh,
    CancelInstanceRefresh: cancelInstanceRefresh,
    DescribeInstanceRefreshes: describeInstanceRefreshes,
  },
  tick: tickAutoScaling,
};
