/**
 * EC2 tags on any resource the sandbox keeps, found by id prefix: ami-, snap-, i-, vol-, lt-.
 * CreateTags, DeleteTags, DescribeTags.
 */
import { AwsError, invalidParameterValue, missingParameter } from '../../errors';
import { type Filter, filters, indexedStructs, type QueryParams } from '../../protocol/query';
import type { QueryAction, ServiceContext } from '../../service';
import { idList, isWellFormedId, paginate, readPage, readTags, returnTrue, wildcardMatcher } from './common';
import { imageTagsFor, imageViewer, visibleImage } from './images';
import { Ec2Table, type ImageRecord, type Tags } from './model';

interface TaggableKind {
  readonly table: string;
  readonly resourceType: string;
  readonly notFound: (id: string) => AwsError;
  /** Whether the caller may see and tag the record (images: only its own). */
  readonly owned: (record: Record<string, unknown>, account: string) => boolean;
}

const ownAccount = (record: Record<string, unknown>, account: string): boolean => record.ownerId === account;
const always = (): boolean => true;

const KINDS: Record<string, TaggableKind> = {
  ami: {
    table: Ec2Table.Images,
    resourceType: 'image',
    notFound: (id) => new AwsError('InvalidAMIID.NotFound', `The image id '[${id}]' does not exist`),
    owned: ownAccount,
  },
  snap: {
    table: Ec2Table.Snapshots,
    resourceType: 'snapshot',
    notFound: (id) => new AwsError('InvalidSnapshot.NotFound', `The snapshot '${id}' does not exist.`),
    owned: ownAccount,
  },
  i: {
    table: Ec2Table.Instances,
    resourceType: 'instance',
    notFound: (id) => new AwsError('InvalidInstanceID.NotFound', `The instance ID '${id}' does not exist`),
    owned: always,
  },
  vol: {
    table: Ec2Table.Volumes,
    resourceType: 'volume',
    notFound: (id) => new AwsError('InvalidVolume.NotFound', `The volume '${id}' does not exist.`),
    owned: always,
  },
  lt: {
    table: Ec2Table.LaunchTemplates,
    resourceType: 'launch-template',
    notFound: (id) =>
      new AwsError(
        'InvalidLaunchTemplateId.NotFound',
        `The specified launch template, with template ID ${id}, does not exist.`,
      ),
    owned: always,
  },
};

type Tagged = Record<string, unknown> & { readonly tags: Tags };

/**
 * Another account tagging an image shared with it (credentials from AssumeRole): its tags are its
 * own, kept apart from the owner's, as AWS keeps them.
 */
const sharedWithCaller = (ctx: ServiceContext, kind: TaggableKind, record: Tagged): boolean =>
  kind.table === Ec2Table.Images &&
  imageViewer(ctx) !== ctx.account &&
  (record as ImageRecord).ownerId !== imageViewer(ctx) &&
  visibleImage(ctx, record as ImageRecord);

/** Whether the caller may see and tag the record. */
const mayTag = (ctx: ServiceContext, kind: TaggableKind, record: Tagged): boolean =>
  kind.table === Ec2Table.Images
    ? visibleImage(ctx, record as ImageRecord) &&
      (kind.owned(record, imageViewer(ctx)) || sharedWithCaller(ctx, kind, record))
    : kind.owned(record, ctx.account);

/** The tags the caller sees on a record. */
const tagsOf = (ctx: ServiceContext, kind: TaggableKind, record: Tagged): Tags =>
  kind.table === Ec2Table.Images ? imageTagsFor(ctx, record as ImageRecord) : record.tags;

/** The record with the caller's tags replaced by `tags`. */
const withTags = (ctx: ServiceContext, kind: TaggableKind, record: Tagged, tags: Tags): Tagged => {
  if (!sharedWithCaller(ctx, kind, record)) return { ...record, tags };
  const image = record as ImageRecord;
  return { ...record, sharedTags: { ...image.sharedTags, [imageViewer(ctx)]: tags } };
};

const kindOf = (resourceId: string): TaggableKind => {
  const prefix = resourceId.split('-')[0] ?? '';
  const kind = KINDS[prefix];
  if (!kind || !isWellFormedId(prefix, resourceId))
    throw new AwsError('InvalidID', `The ID '${resourceId}' is not valid`);
  return kind;
};

const resources = (ctx: ServiceContext, params: QueryParams): { kind: TaggableKind; id: string; record: Tagged }[] => {
  const ids = idList(params, 'ResourceId');
  if (ids.length === 0) throw missingParameter('ResourceId');
  return [...new Set(ids)].map((id) => {
    const kind = kindOf(id);
    const record = ctx.store.get<Tagged>(kind.table, id);
    if (!record || !mayTag(ctx, kind, record)) throw kind.notFound(id);
    return { kind, id, record };
  });
};

const createTags: QueryAction = (params, ctx) => {
  const targets = resources(ctx, params);
  const tags = readTags(params, 'Tag');
  if (Object.keys(tags).length === 0) throw missingParameter('Tag');
  ctx.transact((tx) => {
    for (const { kind, id } of targets) {
      const current = tx.get<Tagged>(kind.table, id);
      if (!current) continue;
      const merged = { ...tagsOf(ctx, kind, current), ...tags };
      if (Object.keys(merged).length > 50) {
        throw new AwsError('TagLimitExceeded', `The maximum number of tags for resource ${id} has been reached.`);
      }
      tx.put<Tagged>(kind.table, id, withTags(ctx, kind, current, merged));
    }
  });
  return returnTrue();
};

const deleteTags: QueryAction = (params, ctx) => {
  const targets = resources(ctx, params);
  const selections = indexedStructs(params, 'Tag').map((tag) => {
    const key = tag.get('Key');
    if (key === undefined) throw missingParameter('Tag.N.Key');
    return { key, value: tag.get('Value') };
  });
  ctx.transact((tx) => {
    for (const { kind, id } of targets) {
      const current = tx.get<Tagged>(kind.table, id);
      if (!current) continue;
      const tags = { ...tagsOf(ctx, kind, current) };
      if (selections.length === 0) for (const key of Object.keys(tags)) delete tags[key];
      for (const { key, value } of selections) {
        if (value === undefined || tags[key] === value) delete tags[key];
      }
      tx.put<Tagged>(kind.table, id, withTags(ctx, kind, current, tags));
    }
  });
  return returnTrue();
};

// ---------------------------------------------------------------- DescribeTags

interface TagEntry {
  readonly resourceId: string;
  readonly resourceType: string;
  readonly key: string;
  readonly value: string;
}

const TAG_FILTERS = new Set(['key', 'value', 'resource-id', 'resource-type']);

const tagFilter = (filter: Filter): ((entry: TagEntry) => boolean) => {
  const matchers = filter.values.map(wildcardMatcher);
  const any = (text: string) => matchers.some((match) => match(text));
  if (filter.name.startsWith('tag:')) {
    const key = filter.name.slice(4);
    return (entry) => entry.key === key && any(entry.value);
  }
  if (!TAG_FILTERS.has(filter.name)) throw invalidParameterValue(`The filter '${filter.name}' is invalid`);
  const field =
    filter.name === 'resource-id' ? 'resourceId' : filter.name === 'resource-type' ? 'resourceType' : filter.name;
  return (entry) => any(entry[field as keyof TagEntry]);
};

/** Ids named exactly by a resource-id filter: looked up directly instead of scanning every table. */
const exactResourceIds = (list: readonly Filter[]): string[] | undefined => {
  const filter = list.find((candidate) => candidate.name === 'resource-id');
  if (!filter || filter.values.some((value) => /[*?]/.test(value))) return undefined;
  return [...filter.values];
};

function* taggedRecords(
  ctx: ServiceContext,
  onlyIds: readonly string[] | undefined,
): Generator<readonly [TaggableKind, string, Tagged]> {
  if (onlyIds) {
    for (const id of onlyIds) {
      const kind = KINDS[id.split('-')[0] ?? ''];
      const record = kind && ctx.store.get<Tagged>(kind.table, id);
      if (kind && record) yield [kind, id, record];
    }
    return;
  }
  for (const kind of Object.values(KINDS)) {
    for (const [id, record] of ctx.store.table<Tagged>(kind.table)) yield [kind, id, record];
  }
}

function* tagEntries(ctx: ServiceContext, onlyIds: readonly string[] | undefined): Generator<TagEntry> {
  for (const [kind, id, record] of taggedRecords(ctx, onlyIds)) {
    if (!mayTag(ctx, kind, record) || !record.tags) continue;
    for (const [key, value] of Object.entries(tagsOf(ctx, kind, record))) {
      yield { resourceId: id, resourceType: kind.resourceType, key, value };
    }
  }
}

const describeTags: QueryAction = (params, ctx) => {
  const page = readPage(params, '', 0);
  const list = filters(params);
  const predicates = list.map(tagFilter);
  const { items, nextToken } = paginate(
    tagEntries(ctx, exactResourceIds(list)),
    (entry) => predicates.every((predicate) => predicate(entry)),
    page,
  );
  return { tagSet: items.map((entry) => ({ ...entry })), nextToken };
};

export const tagActions: Readonly<Record<string, QueryAction>> = {
  CreateTags: createTags,
  DeleteTags: deleteTags,
  DescribeTags: describeTags,
};
