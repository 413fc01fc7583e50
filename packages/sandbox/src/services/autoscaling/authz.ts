/**
 * Which resources and condition keys each Auto Scaling action authorizes (Service Authorization
 * Reference, "Actions, resources, and condition keys for Amazon EC2 Auto Scaling"). Actions not
 * listed are authorized as autoscaling:Action on * (DescribeAutoScalingGroups,
 * DescribeAutoScalingInstances, DescribeLaunchConfigurations, DescribeInstanceRefreshes: no
 * resource types).
 *
 * Groups are `autoScalingGroup:ID:autoScalingGroupName/NAME`, launch configurations
 * `launchConfiguration:ID:launchConfigurationName/NAME`: the ARN the sandbox stores, or, for one
 * that does not exist yet (its id is only made when it is created), `*` in place of the id, which
 * policies naming the group by name (`autoScalingGroup:*:autoScalingGroupName/NAME`) match. A
 * group's tags are read as `autoscaling:ResourceTag/KEY` and `aws:ResourceTag/KEY`.
 */
import type { AuthzCheck } from '../../authz/authorizer';
import type { QueryParams } from '../../protocol/query';
import type { AuthzMapper, ServiceContext } from '../../service';
import { AutoScalingTable, type GroupRecord, type LaunchConfigurationRecord } from './model';

const groupCheck = (action: string, params: QueryParams, ctx: ServiceContext): AuthzCheck => {
  const name = params.get('AutoScalingGroupName') ?? '';
  const group = ctx.store.get<GroupRecord>(AutoScalingTable.Groups, name);
  const resource =
    group?.autoScalingGroupArn ??
    `arn:aws:autoscaling:${ctx.region}:${ctx.account}:autoScalingGroup:*:autoScalingGroupName/${name}`;
  const context: Record<string, string> = {};
  for (const tag of group?.tags ?? []) {
    context[`autoscaling:ResourceTag/${tag.key}`] = tag.value;
    context[`aws:ResourceTag/${tag.key}`] = tag.value;
  }
  return Object.keys(context).length > 0 ? { action, resource, context } : { action, resource };
};

const onGroup =
  (action: string): AuthzMapper<QueryParams> =>
  (params, ctx) => [groupCheck(action, params, ctx)];

const onLaunchConfiguration =
  (action: string): AuthzMapper<QueryParams> =>
  (params, ctx) => {
    const name = params.get('LaunchConfigurationName') ?? '';
    const config = ctx.store.get<LaunchConfigurationRecord>(AutoScalingTable.LaunchConfigurations, name);
    return [
      {
        action,
        resource:
          config?.launchConfigurationArn ??
          `arn:aws:autoscaling:${ctx.region}:${ctx.account}:launchConfiguration:*:launchConfigurationName/${name}`,
      },
    ];
  };

export const autoScalingAuthz: Readonly<Record<string, AuthzMapper<QueryParams>>> = {
  CreateLaunchConfiguration: onLaunchConfiguration('autoscaling:CreateLaunchConfiguration'),
  DeleteLaunchConfiguration: onLaunchConfiguration('autoscaling:DeleteLaunchConfiguration'),
  CreateAutoScalingGroup: onGroup('autoscaling:CreateAutoScalingGroup'),
  UpdateAutoScalingGroup: onGroup('autoscaling:UpdateAutoScalingGroup'),
  DeleteAutoScalingGroup: onGroup('autoscaling:DeleteAutoScalingGroup'),
  AttachInstances: onGroup('autoscaling:AttachInstances'),
  DetachInstances: onGroup('autoscaling:DetachInstances'),
  StartInstanceRefresh: onGroup('autoscaling:StartInstanceRefresh'),
  CancelInstanceRefresh: onGroup('autoscaling:CancelInstanceRefresh'),
};
