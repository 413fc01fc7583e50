/** CreateLaunchConfiguration, DescribeLaunchConfigurations, DeleteLaunchConfiguration. */
import { randomUUID } from 'node:crypto';
import { AwsError } from '../../errors';
import { pageOf } from '../../pagination';
import { indexedStructs, memberList, type QueryParams, substruct, validationError } from '../../protocol/query';
import type { QueryAction, ServiceContext } from '../../service';
import { isWellFormedId } from '../ec2/common';
import { Ec2Table, type ImageRecord } from '../ec2/model';
import {
  launchConfigurationNotFound,
  launchConfigurationXml,
  lowerFirst,
  optionalFlag,
  optionalText,
  readRecordsPage,
  requiredText,
} from './common';
import { AutoScalingTable, type GroupRecord, type LaunchConfigurationRecord } from './model';

const camelStruct = (params: QueryParams): Record<string, unknown> => {
  const out: Record<string, unknown> = {};
  for (const [key, value] of params) {
    const path = key.split('.').map(lowerFirst);
    let node = out;
    for (const segment of path.slice(0, -1)) {
      node[segment] = (node[segment] ?? {}) as Record<string, unknown>;
      node = node[segment] as Record<string, unknown>;
    }
    const leaf = path[path.length - 1] as string;
    node[leaf] =
      value === 'true' || value === 'false'
        ? value === 'true'
        : /^\d{1,9}$/.test(value) && leaf !== 'deviceName'
          ? Number(value)
          : value;
  }
  return out;
};

const checkImage = (ctx: ServiceContext, imageId: string): void => {
  if (!isWellFormedId('ami', imageId) || !ctx.store.get<ImageRecord>(Ec2Table.Images, imageId)) {
    throw validationError(`The image id '[${imageId}]' does not exist`);
  }
};

export const createLaunchConfiguration: QueryAction = (params, ctx) => {
  const name = requiredText(params, 'LaunchConfigurationName', 'launchConfigurationName');
  if (params.get('InstanceId') !== undefined) {
    throw validationError('The sandbox creates launch configurations from ImageId and InstanceType, not InstanceId.');
  }
  const imageId = params.get('ImageId');
  if (imageId === undefined)
    throw validationError('Valid requests must contain either the ImageId or the InstanceId parameter.');
  const instanceType = params.get('InstanceType');
  if (instanceType === undefined) {
    throw validationError('Valid requests must contain either the InstanceType or the InstanceId parameter.');
  }
  checkImage(ctx, imageId);
  if (ctx.store.get(AutoScalingTable.LaunchConfigurations, name)) {
    throw new AwsError(
      'AlreadyExists',
      `Launch Configuration by this name already exists - A launch configuration already exists with the name ${name}`,
    );
  }
  const keyName = optionalText(params, 'KeyName', 'keyName');
  const userData = optionalText(params, 'UserData', 'userData', 21_847);
  const iamInstanceProfile = optionalText(params, 'IamInstanceProfile', 'iamInstanceProfile', 1600);
  const associatePublicIpAddress = optionalFlag(params, 'AssociatePublicIpAddress');
  const metadata = substruct(params, 'MetadataOptions');
  const record: LaunchConfigurationRecord = {
    launchConfigurationName: name,
    launchConfigurationArn: `arn:aws:autoscaling:${ctx.region}:${ctx.account}:launchConfiguration:${randomUUID()}:launchConfigurationName/${name}`,
    imageId,
    instanceType,
    ...(keyName === undefined ? {} : { keyName }),
    securityGroups: memberList(params, 'SecurityGroups'),
    ...(userData === undefined ? {} : { userData }),
    ...(iamInstanceProfile === undefined ? {} : { iamInstanceProfile }),
    blockDeviceMappings: indexedStructs(params, 'BlockDeviceMappings.member').map(camelStruct),
    instanceMonitoring: optionalFlag(params, 'InstanceMonitoring.Enabled') ?? true,
    ebsOptimized: optionalFlag(params, 'EbsOptimized') ?? false,
    ...(associatePublicIpAddress === undefined ? {} : { associatePublicIpAddress }),
    ...(metadata.size === 0 ? {} : { metadataOptions: camelStruct(metadata) }),
    createdTime: ctx.clock.now().toISOString(),
  };
  ctx.transact((tx) => tx.put(AutoScalingTable.LaunchConfigurations, name, record));
  return {};
};

export const describeLaunchConfigurations: QueryAction = (params, ctx) => {
  const names = memberList(params, 'LaunchConfigurationNames');
  if (names.length > 50) throw validationError('LaunchConfigurationNames may contain at most 50 names.');
  const page = readRecordsPage(params);
  const table = ctx.store.table<LaunchConfigurationRecord>(AutoScalingTable.LaunchConfigurations);
  const candidates =
    names.length === 0
      ? table.values()
      : [...new Set(names)].flatMap((name) => {
          const record = table.get(name);
          return record ? [record] : [];
        });
  const { items, nextToken } = pageOf(candidates, () => true, page);
  return { LaunchConfigurations: items.map(launchConfigurationXml), NextToken: nextToken };
};

const groupUsing = (ctx: ServiceContext, launchConfigurationName: string): GroupRecord | undefined => {
  for (const group of ctx.store.table<GroupRecord>(AutoScalingTable.Groups).values()) {
    if (group.launchConfigurationName === launchConfigurationName) return group;
  }
  return undefined;
};

export const deleteLaunchConfiguration: QueryAction = (params, ctx) => {
  const name = requiredText(params, 'LaunchConfigurationName', 'launchConfigurationName');
  if (!ctx.store.get(AutoScalingTable.LaunchConfigurations, name)) throw launchConfigurationNotFound(name);
  const user = groupUsing(ctx, name);
  if (user) {
    throw new AwsError(
      'ResourceInUse',
      `Cannot delete launch configuration ${name} because it is attached to AutoScalingGroup ${user.autoScalingGroupName}`,
    );
  }
  ctx.transact((tx) => tx.delete(AutoScalingTable.LaunchConfigurations, name));
  return {};
};
