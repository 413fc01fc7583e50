/**
 * The checks EC2's authorization mappers make of a request (Service Authorization Reference,
 * "Actions, resources, and condition keys for Amazon EC2"): one per resource, its ARN from the
 * reference's format, the resource's stored tags and the request's tags as condition keys,
 * ec2:CreateTags for tags given at creation, and iam:PassRole for an instance profile's role.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Authorizer, type AuthzCheck } from '../../src/authz/authorizer';
import { type IamCatalog, loadCatalog } from '../../src/authz/catalog';
import { administrator } from '../../src/authz/identity';
import type { QueryParams } from '../../src/protocol/query';
import type { ServiceContext } from '../../src/service';
import { ec2 } from '../../src/services/ec2';
import { ec2Authz } from '../../src/services/ec2/authz';
import {
  AMAZON_OWNER_ID,
  Ec2Table,
  type ImageRecord,
  type InstanceRecord,
  type LaunchTemplateRecord,
  type SnapshotRecord,
} from '../../src/services/ec2/model';
import { IamTable, type InstanceProfileRecord, type RoleRecord } from '../../src/services/iam/model';
import { Store } from '../../src/store';

const ACCOUNT = '111111111111';
const REGION = 'eu-west-1';
const owned = (resource: string): string => `arn:aws:ec2:${REGION}:${ACCOUNT}:${resource}`;
const unowned = (resource: string, region = REGION): string => `arn:aws:ec2:${region}::${resource}`;

const PUBLIC_IMAGE = 'ami-0000000000000000a';
const OWN_IMAGE = 'ami-0000000000000000b';
const INSTANCE = 'i-0000000000000000c';
const SNAPSHOT = 'snap-0000000000000000d';
const TEMPLATE = 'lt-0000000000000000e';
const ROLE_ARN = `arn:aws:iam::${ACCOUNT}:role/builders/bakehouse-builder`;
const PROFILE_ARN = `arn:aws:iam::${ACCOUNT}:instance-profile/bakehouse-builder`;

const image = (imageId: string, ownerId: string, overrides: Partial<ImageRecord> = {}): ImageRecord => ({
  imageId,
  ownerId,
  name: imageId,
  state: 'available',
  creationDate: '2026-01-01T00:00:00.000Z',
  architecture: 'x86_64',
  platformDetails: 'Linux/UNIX',
  rootDeviceName: '/dev/xvda',
  rootDeviceType: 'ebs',
  virtualizationType: 'hvm',
  enaSupport: true,
  blockDeviceMappings: [],
  isPublic: false,
  launchPermissions: [],
  tags: {},
  ...overrides,
});

const instance: InstanceRecord = {
  instanceId: INSTANCE,
  reservationId: 'r-0000000000000000f',
  imageId: OWN_IMAGE,
  instanceType: 't3.micro',
  state: 'running',
  launchTime: '2026-01-01T00:00:00.000Z',
  securityGroupIds: [],
  iamInstanceProfile: PROFILE_ARN,
  architecture: 'x86_64',
  rootDeviceName: '/dev/xvda',
  metadataOptions: { httpTokens: 'required', httpEndpoint: 'enabled' },
  volumes: [],
  privateIpAddress: '172.31.0.4',
  tags: { 'bakehouse:role': 'builder' },
};

const snapshot: SnapshotRecord = {
  snapshotId: SNAPSHOT,
  ownerId: ACCOUNT,
  volumeId: 'vol-00000000000000001',
  volumeSize: 8,
  state: 'completed',
  startTime: '2026-01-01T00:00:00.000Z',
  progress: '100%',
  description: 'test',
  encrypted: false,
  tags: { 'bakehouse:managed': 'true' },
};

const template: LaunchTemplateRecord = {
  launchTemplateId: TEMPLATE,
  launchTemplateName: 'web-servers',
  createTime: '2026-01-01T00:00:00.000Z',
  createdBy: `arn:aws:iam::${ACCOUNT}:root`,
  defaultVersionNumber: 1,
  latestVersionNumber: 1,
  tags: { 'bakehouse:launch-template': 'web-servers' },
};

let catalog: IamCatalog;
const dirs: string[] = [];

beforeAll(async () => {
  catalog = await loadCatalog();
});
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A context over a fresh store holding the records above (and the builder profile and role in IAM). */
const contextOf = (): ServiceContext => {
  const dir = mkdtempSync(join(tmpdir(), 'authz-ec2-'));
  dirs.push(dir);
  const store = Store.open(dir);
  store.transact(0, (tx) => {
    tx.put(Ec2Table.Images, PUBLIC_IMAGE, image(PUBLIC_IMAGE, AMAZON_OWNER_ID, { isPublic: true }));
    tx.put(Ec2Table.Images, OWN_IMAGE, image(OWN_IMAGE, ACCOUNT, { tags: { 'bakehouse:managed': 'true' } }));
    tx.put(Ec2Table.Instances, INSTANCE, instance);
    tx.put(Ec2Table.Snapshots, SNAPSHOT, snapshot);
    tx.put(Ec2Table.LaunchTemplates, TEMPLATE, template);
    tx.put<Partial<InstanceProfileRecord>>(IamTable.InstanceProfiles, `${ACCOUNT}:bakehouse-builder`, {
      account: ACCOUNT,
      instanceProfileName: 'bakehouse-builder',
      arn: PROFILE_ARN,
      roles: ['bakehouse-builder'],
    });
    tx.put<Partial<RoleRecord>>(IamTable.Roles, `${ACCOUNT}:bakehouse-builder`, {
      account: ACCOUNT,
      roleName: 'bakehouse-builder',
      arn: ROLE_ARN,
    });
  });
  return {
    store,
    account: ACCOUNT,
    region: REGION,
    caller: administrator(ACCOUNT),
    authorizer: new Authorizer(true, catalog),
  } as unknown as ServiceContext;
};

const params = (entries: Record<string, string>): QueryParams => new Map(Object.entries(entries));

const checksOf = (action: string, request: Record<string, string>): readonly AuthzCheck[] => {
  const mapper = ec2Authz[action];
  if (!mapper) throw new Error(`no mapper for ${action}`);
  return mapper(params(request), contextOf());
};

const find = (checks: readonly AuthzCheck[], action: string, resource: string): AuthzCheck => {
  const found = checks.find((check) => check.action === action && check.resource === resource);
  if (!found) throw new Error(`no ${action} check on ${resource} in ${JSON.stringify(checks, null, 2)}`);
  return found;
};

describe('EC2 authorization mappers', () => {
  it('maps every EC2 action the sandbox answers that has resource types in the reference', () => {
    // Act
    const unmapped = Object.keys(ec2.actions).filter((name) => {
      const action = catalog.action('ec2', name);
      return action !== undefined && !action.wildcardOnly && action.resourceTypes.length > 0 && !(name in ec2Authz);
    });

    // Assess
    expect(unmapped).toEqual([]);
  });

  it('checks RunInstances on each resource it uses or creates, with tag-on-create and PassRole', () => {
    // Act
    const checks = checksOf('RunInstances', {
      ImageId: PUBLIC_IMAGE,
      MinCount: '1',
      MaxCount: '1',
      InstanceType: 't3.micro',
      SubnetId: 'subnet-00000000000000001',
      'SecurityGroupId.1': 'sg-00000000000000001',
      KeyName: 'builders',
      'IamInstanceProfile.Name': 'bakehouse-builder',
      'TagSpecification.1.ResourceType': 'instance',
      'TagSpecification.1.Tag.1.Key': 'bakehouse:role',
      'TagSpecification.1.Tag.1.Value': 'builder',
    });

    // Assess
    expect(checks.map((check) => `${check.action} ${check.resource}`)).toEqual([
      `ec2:RunInstances ${unowned(`image/${PUBLIC_IMAGE}`)}`,
      `ec2:RunInstances ${owned('instance/*')}`,
      `ec2:RunInstances ${owned('volume/*')}`,
      `ec2:RunInstances ${owned('network-interface/*')}`,
      `ec2:RunInstances ${owned('security-group/sg-00000000000000001')}`,
      `ec2:RunInstances ${owned('subnet/subnet-00000000000000001')}`,
      `ec2:RunInstances ${owned('key-pair/builders')}`,
      `ec2:CreateTags ${owned('instance/*')}`,
      `iam:PassRole ${ROLE_ARN}`,
    ]);
    const imageCheck = find(checks, 'ec2:RunInstances', unowned(`image/${PUBLIC_IMAGE}`));
    expect(imageCheck.resourceAccount).toBe(AMAZON_OWNER_ID);
    expect(imageCheck.resourcePolicy).toBeDefined();
    expect(imageCheck.context).toMatchObject({
      'ec2:ImageID': PUBLIC_IMAGE,
      'ec2:Owner': 'amazon',
      'ec2:Public': 'true',
    });
    expect(find(checks, 'ec2:RunInstances', owned('instance/*')).context).toMatchObject({
      'aws:RequestTag/bakehouse:role': 'builder',
      'aws:TagKeys': ['bakehouse:role'],
      'ec2:InstanceProfile': PROFILE_ARN,
      'ec2:InstanceType': 't3.micro',
      'ec2:Region': REGION,
    });
    expect(find(checks, 'ec2:RunInstances', owned('volume/*')).context).not.toHaveProperty('aws:TagKeys');
    expect(find(checks, 'ec2:CreateTags', owned('instance/*')).context).toMatchObject({
      'ec2:CreateAction': 'RunInstances',
      'aws:RequestTag/bakehouse:role': 'builder',
    });
    expect(find(checks, 'iam:PassRole', ROLE_ARN).context).toEqual({ 'iam:PassedToService': 'ec2.amazonaws.com' });
  });

  it('checks RunInstances of an own image without a resource policy and in the default subnet and group', () => {
    // Act
    const checks = checksOf('RunInstances', { ImageId: OWN_IMAGE, MinCount: '1', MaxCount: '1' });

    // Assess
    const imageCheck = find(checks, 'ec2:RunInstances', unowned(`image/${OWN_IMAGE}`));
    expect(imageCheck.resourceAccount).toBe(ACCOUNT);
    expect(imageCheck.resourcePolicy).toBeUndefined();
    expect(imageCheck.context).toMatchObject({
      'aws:ResourceTag/bakehouse:managed': 'true',
      'ec2:ResourceTag/bakehouse:managed': 'true',
    });
    expect(checks.map((check) => check.resource)).toEqual(
      expect.arrayContaining([owned('security-group/sg-0a0b0c0d0e0f00001'), owned('subnet/subnet-0a0b0c0d0e0f00001')]),
    );
    expect(checks.some((check) => check.action !== 'ec2:RunInstances')).toBe(false);
  });

  it('checks CreateImage on the instance with its tags and on the new image and snapshots with the request tags', () => {
    // Act
    const checks = checksOf('CreateImage', {
      InstanceId: INSTANCE,
      Name: 'baked',
      'TagSpecification.1.ResourceType': 'image',
      'TagSpecification.1.Tag.1.Key': 'bakehouse:managed',
      'TagSpecification.1.Tag.1.Value': 'true',
      'TagSpecification.2.ResourceType': 'snapshot',
      'TagSpecification.2.Tag.1.Key': 'bakehouse:managed',
      'TagSpecification.2.Tag.1.Value': 'true',
    });

    // Assess
    expect(checks.map((check) => `${check.action} ${check.resource}`)).toEqual([
      `ec2:CreateImage ${owned(`instance/${INSTANCE}`)}`,
      `ec2:CreateImage ${unowned('image/*')}`,
      `ec2:CreateImage ${unowned('snapshot/*')}`,
      `ec2:CreateTags ${unowned('image/*')}`,
      `ec2:CreateTags ${unowned('snapshot/*')}`,
    ]);
    expect(find(checks, 'ec2:CreateImage', owned(`instance/${INSTANCE}`)).context).toMatchObject({
      'aws:ResourceTag/bakehouse:role': 'builder',
      'ec2:ResourceTag/bakehouse:role': 'builder',
      'ec2:InstanceID': INSTANCE,
      'ec2:InstanceProfile': PROFILE_ARN,
    });
    const snapshots = find(checks, 'ec2:CreateImage', unowned('snapshot/*'));
    expect(snapshots.resourceAccount).toBe(ACCOUNT);
    expect(snapshots.context).toMatchObject({ 'aws:RequestTag/bakehouse:managed': 'true' });
    expect(find(checks, 'ec2:CreateTags', unowned('image/*')).context).toMatchObject({
      'ec2:CreateAction': 'CreateImage',
      'aws:TagKeys': ['bakehouse:managed'],
    });
  });

  it('checks CopyImage on the source image in its region and on the copies in the request region', () => {
    // Act
    const checks = checksOf('CopyImage', {
      SourceImageId: OWN_IMAGE,
      SourceRegion: 'us-east-1',
      Name: 'copy',
      'TagSpecification.1.ResourceType': 'image',
      'TagSpecification.1.Tag.1.Key': 'bakehouse:managed',
      'TagSpecification.1.Tag.1.Value': 'true',
    });

    // Assess
    expect(checks.map((check) => `${check.action} ${check.resource}`)).toEqual([
      `ec2:CopyImage ${unowned(`image/${OWN_IMAGE}`, 'us-east-1')}`,
      `ec2:CopyImage ${unowned('image/*')}`,
      `ec2:CopyImage ${unowned('snapshot/*')}`,
      `ec2:CreateTags ${unowned('image/*')}`,
    ]);
    expect(find(checks, 'ec2:CreateTags', unowned('image/*')).context).toMatchObject({
      'ec2:CreateAction': 'CopyImage',
    });
  });

  it('checks CreateTags on each resource with the tags it has and the tags the request writes', () => {
    // Act
    const checks = checksOf('CreateTags', {
      'ResourceId.1': SNAPSHOT,
      'ResourceId.2': OWN_IMAGE,
      'ResourceId.3': INSTANCE,
      'Tag.1.Key': 'bakehouse:family',
      'Tag.1.Value': 'web',
    });

    // Assess
    expect(checks.map((check) => check.resource)).toEqual([
      unowned(`snapshot/${SNAPSHOT}`),
      unowned(`image/${OWN_IMAGE}`),
      owned(`instance/${INSTANCE}`),
    ]);
    const onSnapshot = find(checks, 'ec2:CreateTags', unowned(`snapshot/${SNAPSHOT}`));
    expect(onSnapshot.resourceAccount).toBe(ACCOUNT);
    expect(onSnapshot.context).toMatchObject({
      'aws:ResourceTag/bakehouse:managed': 'true',
      'aws:RequestTag/bakehouse:family': 'web',
      'aws:TagKeys': ['bakehouse:family'],
    });
    expect(onSnapshot.context).not.toHaveProperty('ec2:CreateAction');
  });

  it('checks DeleteTags with every named key and the values of the tags named with one', () => {
    // Act
    const checks = checksOf('DeleteTags', {
      'ResourceId.1': OWN_IMAGE,
      'Tag.1.Key': 'bakehouse:janitor-stage',
      'Tag.2.Key': 'bakehouse:janitor-since',
      'Tag.2.Value': '2026-01-01',
    });

    // Assess
    const [check] = checks;
    expect(check?.resource).toBe(unowned(`image/${OWN_IMAGE}`));
    expect(check?.context).toMatchObject({
      'aws:TagKeys': ['bakehouse:janitor-stage', 'bakehouse:janitor-since'],
      'aws:RequestTag/bakehouse:janitor-since': '2026-01-01',
      'aws:ResourceTag/bakehouse:managed': 'true',
    });
    expect(check?.context).not.toHaveProperty('aws:RequestTag/bakehouse:janitor-stage');
  });

  it.each([
    ['DeleteSnapshot', { SnapshotId: SNAPSHOT }, unowned(`snapshot/${SNAPSHOT}`)],
    ['DeregisterImage', { ImageId: OWN_IMAGE }, unowned(`image/${OWN_IMAGE}`)],
    ['DisableImage', { ImageId: OWN_IMAGE }, unowned(`image/${OWN_IMAGE}`)],
    [
      'EnableImageDeprecation',
      { ImageId: OWN_IMAGE, DeprecateAt: '2027-01-01T00:00:00Z' },
      unowned(`image/${OWN_IMAGE}`),
    ],
    ['ModifyImageAttribute', { ImageId: OWN_IMAGE }, unowned(`image/${OWN_IMAGE}`)],
  ])('checks %s on the resource with its owner and tags', (action, request, resource) => {
    // Act
    const checks = checksOf(action, request);

    // Assess
    expect(checks).toEqual([
      expect.objectContaining({
        action: `ec2:${action}`,
        resource,
        resourceAccount: ACCOUNT,
        context: expect.objectContaining({ 'aws:ResourceTag/bakehouse:managed': 'true', 'ec2:Owner': ACCOUNT }),
      }),
    ]);
  });

  it('checks StopInstances on each instance with its tags', () => {
    // Act
    const checks = checksOf('StopInstances', { 'InstanceId.1': INSTANCE });

    // Assess
    expect(checks).toEqual([
      expect.objectContaining({
        action: 'ec2:StopInstances',
        resource: owned(`instance/${INSTANCE}`),
        context: expect.objectContaining({ 'aws:ResourceTag/bakehouse:role': 'builder' }),
      }),
    ]);
  });

  it('checks a launch template named by name on its id ARN with its tags', () => {
    // Act
    const checks = checksOf('ModifyLaunchTemplate', { LaunchTemplateName: 'web-servers', SetDefaultVersion: '1' });

    // Assess
    expect(checks).toEqual([
      expect.objectContaining({
        action: 'ec2:ModifyLaunchTemplate',
        resource: owned(`launch-template/${TEMPLATE}`),
        context: expect.objectContaining({ 'aws:ResourceTag/bakehouse:launch-template': 'web-servers' }),
      }),
    ]);
  });

  it('checks CreateLaunchTemplate on the new template with its tags, and tagging it at creation', () => {
    // Act
    const checks = checksOf('CreateLaunchTemplate', {
      LaunchTemplateName: 'new',
      'TagSpecification.1.ResourceType': 'launch-template',
      'TagSpecification.1.Tag.1.Key': 'team',
      'TagSpecification.1.Tag.1.Value': 'bakehouse',
    });

    // Assess
    expect(checks).toEqual([
      expect.objectContaining({
        action: 'ec2:CreateLaunchTemplate',
        resource: owned('launch-template/*'),
        context: expect.objectContaining({ 'aws:RequestTag/team': 'bakehouse' }),
      }),
      expect.objectContaining({
        action: 'ec2:CreateTags',
        resource: owned('launch-template/*'),
        context: expect.objectContaining({ 'ec2:CreateAction': 'CreateLaunchTemplate' }),
      }),
    ]);
  });
});
