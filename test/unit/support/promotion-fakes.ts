/**
 * Stateful fakes for the promotion and revocation tests: an SSM parameter store that keeps
 * version history (as GetParameterHistory pages it), EC2 images with tags and states, and the
 * three promotion targets. Installed on aws-sdk-client-mock mocks, so tests still assert calls
 * with `toReceiveCommandWith`.
 */
import {
  CreateTagsCommand,
  DescribeImagesCommand,
  DisableImageCommand,
  EC2Client,
  type Filter,
  type Image,
} from '@aws-sdk/client-ec2';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import {
  GetParameterCommand,
  GetParameterHistoryCommand,
  type ParameterHistory,
  PutParameterCommand,
  SSMClient,
} from '@aws-sdk/client-ssm';
import { DeleteCommand, DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';
import { type AwsClientStub, mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, vi } from 'vitest';
import { Tag } from '../../../functions/commons/bake-plan';
import { bindChannels } from '../../../functions/commons/channels';
import type { AmiPromoted } from '../../../functions/commons/events';
import type { BakehouseConfig, Family } from '../../../functions/commons/families';
import type { PromotionDeps, PromotionTargets } from '../../../functions/commons/promotion';
import type { Channel, TargetDeps, TargetProblem } from '../../../functions/commons/promotion-targets';
import { awsError, recordingLogger } from './bake-factories';
import { memoryLocks } from './memory-locks';

export const PREFIX = '/bakehouse';
export const BUS = 'bakehouse-test';
export const SOURCE = 'bakehouse';

/** A fresh AMI id from a number: ami-000…0<n> (17 hex digits). */
export const ami = (n: number): string => `ami-${n.toString(16).padStart(17, '0')}`;

interface StoredVersion {
  readonly value: string;
  readonly version: number;
  readonly description?: string;
  readonly at: Date;
  readonly user: string;
}

export interface FakeAws {
  readonly ssm: AwsClientStub<SSMClient>;
  readonly ec2: AwsClientStub<EC2Client>;
  readonly events: AwsClientStub<EventBridgeClient>;
  readonly parameters: Map<string, StoredVersion[]>;
  readonly images: Map<string, Image>;
  /** Adds an image (available, managed, of the family) and returns its id. */
  addImage(n: number, family: string, tags?: Record<string, string>, overrides?: Partial<Image>): string;
  /** The details of every `AMI Promoted` put on the bus, oldest first. */
  promoted(): AmiPromoted[];
  /** The details PutEvents accepted of one detail-type, in order. */
  published(detailType: string): Record<string, unknown>[];
  tag(amiId: string, key: string): string | undefined;
  /** Makes the next `n` PutEvents calls fail (InternalException). */
  failPublishes(n: number): void;
  /** Moves the SSM clock (LastModifiedDate) one second per write. */
  now: number;
}

const matches = (image: Image, filters: readonly Filter[] | undefined): boolean =>
  (filters ?? []).every((filter) => {
    const name = filter.Name ?? '';
    if (!name.startsWith('tag:')) throw new Error(`fake DescribeImages: unsupported filter ${name}`);
    const value = image.Tags?.find((t) => t.Key === name.slice(4))?.Value;
    return value !== undefined && (filter.Values ?? []).includes(value);
  });

/** Installs the stateful fakes on fresh mocks of SSM, EC2 and EventBridge. */
export const fakeAws = (): FakeAws => {
  const ssm = mockClient(SSMClient);
  const ec2 = mockClient(EC2Client);
  const events = mockClient(EventBridgeClient);
  // The handlers' channel locks (tests of the cores use memoryLocks): every lock is free.
  mockClient(DynamoDBDocumentClient).on(PutCommand).resolves({}).on(DeleteCommand).resolves({});
  const parameters = new Map<string, StoredVersion[]>();
  const images = new Map<string, Image>();
  /** The entries PutEvents accepted (a failed call puts nothing). */
  const accepted: { DetailType: string; Detail: string }[] = [];
  const fake: FakeAws = {
    ssm,
    ec2,
    events,
    parameters,
    images,
    now: Date.parse('2026-11-01T00:00:00Z'),
    addImage: (n, family, tags = {}, overrides = {}) => {
      const id = ami(n);
      const allTags = { [Tag.Managed]: 'true', [Tag.Family]: family, [Tag.BakeId]: `bake-${n}`, ...tags };
      images.set(id, {
        ImageId: id,
        Name: `bakehouse/${family}/${n}`,
        State: 'available',
        CreationDate: new Date(Date.parse('2026-10-01T00:00:00Z') + n * 60_000).toISOString(),
        Tags: Object.entries(allTags).map(([Key, Value]) => ({ Key, Value })),
        ...overrides,
      });
      return id;
    },
    promoted: () =>
      accepted
        .filter((entry) => entry.DetailType === 'AMI Promoted')
        .map((entry) => JSON.parse(entry.Detail) as AmiPromoted),
    published: (detailType) =>
      accepted
        .filter((entry) => entry.DetailType === detailType)
        .map((entry) => JSON.parse(entry.Detail) as Record<string, unknown>),
    tag: (amiId, key) => images.get(amiId)?.Tags?.find((t) => t.Key === key)?.Value,
    failPublishes: () => undefined,
  };

  ssm.on(GetParameterCommand).callsFake((input: { Name: string }) => {
    const versions = parameters.get(input.Name);
    const latest = versions?.at(-1);
    if (!latest) throw awsError('ParameterNotFound');
    return { Parameter: { Name: input.Name, Value: latest.value, Version: latest.version, DataType: 'aws:ec2:image' } };
  });
  ssm.on(PutParameterCommand).callsFake((input) => {
    const name = input.Name as string;
    const value = input.Value as string;
    const versions = parameters.get(name) ?? [];
    if (versions.length > 0 && !input.Overwrite) throw awsError('ParameterAlreadyExists');
    if (input.DataType === 'aws:ec2:image' && images.get(value)?.State !== 'available') {
      throw awsError('ValidationException', `Unable to validate aws:ec2:image value ${value}`);
    }
    const description = input.Description ?? versions.at(-1)?.description;
    fake.now += 1000;
    versions.push({
      value,
      version: versions.length + 1,
      ...(description === undefined ? {} : { description }),
      at: new Date(fake.now),
      user: 'arn:aws:sts::111122223333:assumed-role/promote/fn',
    });
    parameters.set(name, versions);
    return { Version: versions.length, Tier: 'Standard' };
  });
  ssm.on(GetParameterHistoryCommand).callsFake((input) => {
    const versions = parameters.get(input.Name as string);
    if (!versions) throw awsError('ParameterNotFound');
    const start = Number(input.NextToken ?? '0');
    const size = input.MaxResults ?? 50;
    const page = versions.slice(start, start + size);
    const Parameters: ParameterHistory[] = page.map((v) => ({
      Name: input.Name,
      Value: v.value,
      Version: v.version,
      LastModifiedDate: v.at,
      LastModifiedUser: v.user,
      ...(v.description === undefined ? {} : { Description: v.description }),
      DataType: 'aws:ec2:image',
    }));
    return { Parameters, ...(start + size < versions.length ? { NextToken: String(start + size) } : {}) };
  });

  ec2.on(DescribeImagesCommand).callsFake((input) => {
    const visible = (image: Image) => image.State !== 'disabled' || input.IncludeDisabled === true;
    if (input.ImageIds?.length) {
      const found = input.ImageIds.map((id: string) => images.get(id));
      if (found.some((image: Image | undefined) => !image)) throw awsError('InvalidAMIID.NotFound');
      return { Images: structuredClone((found as Image[]).filter(visible)) };
    }
    return {
      Images: structuredClone([...images.values()].filter((i) => visible(i) && matches(i, input.Filters))),
    };
  });
  ec2.on(CreateTagsCommand).callsFake((input) => {
    for (const id of input.Resources ?? []) {
      const image = images.get(id);
      if (!image) throw awsError('InvalidAMIID.NotFound');
      const tags = new Map((image.Tags ?? []).map((t) => [t.Key, t.Value]));
      for (const t of input.Tags ?? []) tags.set(t.Key, t.Value);
      images.set(id, { ...image, Tags: [...tags].map(([Key, Value]) => ({ Key, Value })) });
    }
    return {};
  });
  ec2.on(DisableImageCommand).callsFake((input) => {
    const image = images.get(input.ImageId as string);
    if (!image) throw awsError('InvalidAMIID.NotFound');
    if (image.State !== 'available') throw awsError('InvalidAMIID.Unavailable');
    images.set(image.ImageId as string, { ...image, State: 'disabled' });
    return { Return: true };
  });
  let eventNumber = 0;
  let failures = 0;
  fake.failPublishes = (n) => {
    failures = n;
  };
  events.on(PutEventsCommand).callsFake((input) => {
    if (failures > 0) {
      failures -= 1;
      throw awsError('InternalException');
    }
    for (const entry of input.Entries ?? []) {
      accepted.push({ DetailType: entry.DetailType ?? '', Detail: entry.Detail ?? '{}' });
    }
    eventNumber += 1;
    return { FailedEntryCount: 0, Entries: [{ EventId: `event-${eventNumber}` }] };
  });
  return fake;
};

/** Fakes of the targets module: idempotent per template/group and AMI, recording their calls. */
export const fakeTargets = () => {
  const templates = new Map<string, { amiId: string; version: number }>();
  const groups = new Map<string, string>();
  const targets = {
    // Every configured template can be moved unless a test says otherwise.
    checkLaunchTemplates: vi.fn(
      async (_list: Channel['launchTemplates'], _deps: TargetDeps): Promise<TargetProblem[]> => [],
    ),
    updateLaunchTemplates: vi.fn(async (list: Channel['launchTemplates'], amiId: string, _deps: TargetDeps) =>
      list.map(({ template, makeDefault }) => {
        const current = templates.get(template);
        if (current?.amiId === amiId) {
          return { id: template, version: current.version, isDefault: makeDefault, changed: false };
        }
        const version = (current?.version ?? 0) + 1;
        templates.set(template, { amiId, version });
        return { id: template, version, isDefault: makeDefault, changed: true };
      }),
    ),
    refreshAutoScalingGroups: vi.fn(async (list: Channel['autoScalingGroups'], amiId: string, _deps: TargetDeps) =>
      list.map(({ name }) => {
        if (groups.get(name) === amiId) return { name, instanceRefreshId: null };
        groups.set(name, amiId);
        return { name, instanceRefreshId: `refresh-${name}-${amiId}` };
      }),
    ),
    distributeImage: vi.fn(async (family: Family, image: { amiId: string }, _deps: TargetDeps) => ({
      regions: family.distribution.regions.map(({ region }) => ({ region, amiId: `${image.amiId}-${region}` })),
      accounts: family.distribution.accounts.map(({ account }) => account),
    })),
  } satisfies PromotionTargets;
  return { targets, templates, groups };
};

const targetDeps = (): TargetDeps => ({
  ec2: () => new EC2Client({}),
  autoScaling: { send: vi.fn() } as unknown as TargetDeps['autoScaling'],
  ec2As: async () => new EC2Client({}),
  homeRegion: 'eu-central-1',
  logger: recordingLogger(),
});

/** Promotion deps over the fakes (the clients are the mocked SDK classes). */
export const promotionDeps = (
  config: BakehouseConfig,
  targets: PromotionTargets,
  overrides: Partial<PromotionDeps> = {},
): PromotionDeps & { logger: ReturnType<typeof recordingLogger> } => {
  const ec2 = new EC2Client({ region: 'eu-central-1' });
  return {
    config,
    ec2,
    channels: bindChannels({ ssm: new SSMClient({ region: 'eu-central-1' }), ec2, parameterPrefix: PREFIX }),
    targets,
    targetDeps: targetDeps(),
    events: new EventBridgeClient({ region: 'eu-central-1' }),
    eventTarget: { busName: BUS, source: SOURCE },
    clock: () => new Date('2026-11-29T12:00:00.000Z'),
    logger: recordingLogger(),
    locks: memoryLocks(() => new Date('2026-11-29T12:00:00.000Z')),
    sleep: async () => undefined,
    ...overrides,
  } as PromotionDeps & { logger: ReturnType<typeof recordingLogger> };
};

/** An EventBridge envelope around a detail. */
export const envelope = (detailType: string, detail: unknown, id = 'event-1') => ({
  version: '0',
  id,
  source: SOURCE,
  account: '111122223333',
  time: '2026-11-29T12:00:00Z',
  region: 'eu-central-1',
  resources: [],
  'detail-type': detailType,
  detail,
});

/** The handlers' cold start, per test: fresh modules and the environment the stack sets (logs silent). */
export const stubHandlerEnvironment = (): void => {
  beforeEach(() => {
    vi.resetModules();
    vi.stubEnv('EVENT_BUS_NAME', 'bakehouse-prod');
    vi.stubEnv('AWS_REGION', 'eu-central-1');
    vi.stubEnv('STATE_TABLE_NAME', 'bakehouse-prod-state');
    vi.stubEnv('POWERTOOLS_LOG_LEVEL', 'SILENT');
  });
  afterEach(() => {
    vi.unstubAllEnvs();
  });
};
