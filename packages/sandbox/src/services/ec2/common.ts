/**
 * Helpers the EC2 resource files share: id checks, EC2 pagination, filters with `*`/`?`
 * wildcards, tags (TagSpecification.N, tagSet) and the XML shapes several actions answer with.
 */
import { AwsError, invalidParameterValue } from '../../errors';
import { decodeOffsetToken, type Page, pageOf } from '../../pagination';
import {
  type Filter,
  indexedList,
  indexedStructs,
  optionalInt,
  optionalString,
  type QueryParams,
  type XmlValue,
} from '../../protocol/query';
import type { Tags } from './model';

// ---------------------------------------------------------------- ids

type IdKind = 'ami' | 'snap' | 'vol' | 'i';

const ID_ERRORS: Record<IdKind, { malformed: string; notFound: string; notFoundMessage: (id: string) => string }> = {
  ami: {
    malformed: 'InvalidAMIID.Malformed',
    notFound: 'InvalidAMIID.NotFound',
    notFoundMessage: (id) => `The image id '[${id}]' does not exist`,
  },
  snap: {
    malformed: 'InvalidSnapshotID.Malformed',
    notFound: 'InvalidSnapshot.NotFound',
    notFoundMessage: (id) => `The snapshot '${id}' does not exist.`,
  },
  vol: {
    malformed: 'InvalidVolumeID.Malformed',
    notFound: 'InvalidVolume.NotFound',
    notFoundMessage: (id) => `The volume '${id}' does not exist.`,
  },
  i: {
    malformed: 'InvalidInstanceID.Malformed',
    notFound: 'InvalidInstanceID.NotFound',
    notFoundMessage: (id) => `The instance ID '${id}' does not exist`,
  },
};

/** AWS ids: prefix, dash, 8 or 17 lower-case hex digits. */
export const isWellFormedId = (kind: string, id: string): boolean =>
  new RegExp(`^${kind}-(?:[0-9a-f]{8}|[0-9a-f]{17})$`).test(id);

export const checkId = (kind: IdKind, id: string): string => {
  if (!isWellFormedId(kind, id)) throw new AwsError(ID_ERRORS[kind].malformed, `Invalid id: "${id}"`);
  return id;
};

export const notFound = (kind: IdKind, id: string): AwsError =>
  new AwsError(ID_ERRORS[kind].notFound, ID_ERRORS[kind].notFoundMessage(id));

// ---------------------------------------------------------------- pagination

export type { Page };

/**
 * MaxResults/NextToken as EC2 reads them: MaxResults 5–1000 (AWS answers with InvalidParameterValue
 * outside that range), not allowed with an id list; without MaxResults everything comes back at once.
 */
export const readPage = (params: QueryParams, idListKey: string, idCount: number): Page => {
  const maxResults = optionalInt(params, 'MaxResults');
  const token = optionalString(params, 'NextToken');
  if (idCount > 0 && (maxResults !== undefined || token !== undefined)) {
    throw new AwsError(
      'InvalidParameterCombination',
      `The parameter ${idListKey} cannot be used with the parameter ${maxResults !== undefined ? 'maxResults' : 'nextToken'}`,
    );
  }
  if (maxResults !== undefined && (maxResults < 5 || maxResults > 1000)) {
    throw invalidParameterValue(
      `Value ( ${maxResults} ) for parameter maxResults is invalid. Expecting a value between 5 and 1000.`,
    );
  }
  return { offset: token === undefined ? 0 : decodeToken(token), limit: maxResults ?? Number.POSITIVE_INFINITY };
};

const decodeToken = (token: string): number => {
  const offset = decodeOffsetToken(token);
  if (offset === undefined) throw invalidParameterValue(`Invalid value '${token}' for nextToken`);
  return offset;
};

/** One pass over `records` (see sandbox/pagination.ts). */
export const paginate = pageOf;

// ---------------------------------------------------------------- filters

/** EC2 filter values accept `*` (any run) and `?` (any one character); `\` escapes them. */
export const wildcardMatcher = (pattern: string): ((value: string) => boolean) => {
  if (!/[*?]/.test(pattern)) return (value) => value === pattern;
  let source = '';
  for (let index = 0; index < pattern.length; index += 1) {
    const char = pattern[index] as string;
    if (char === '\\' && index + 1 < pattern.length) {
      index += 1;
      source += escapeRegExp(pattern[index] as string);
    } else if (char === '*') source += '.*';
    else if (char === '?') source += '.';
    else source += escapeRegExp(char);
  }
  const regex = new RegExp(`^${source}$`, 's');
  return (value) => regex.test(value);
};

const escapeRegExp = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Reads a record's values for one filter name; `undefined` means the filter name is unknown. */
export type FilterFields<T> = (record: T, name: string) => readonly (string | undefined)[] | undefined;

/**
 * Compiles Filter.N into one predicate: every filter must match (AND), any value of a filter may
 * match (OR). `tag:K` and `tag-key` are handled here for every resource with `tags`.
 */
export const compileFilters = <T extends { readonly tags: Tags }>(
  list: readonly Filter[],
  fields: FilterFields<T>,
  sample: (name: string) => boolean,
): ((record: T) => boolean) => {
  const predicates = list.map((filter) => {
    const matchers = filter.values.map(wildcardMatcher);
    const anyValue = (values: readonly (string | undefined)[]): boolean =>
      values.some((value) => value !== undefined && matchers.some((match) => match(value)));
    if (filter.name.startsWith('tag:')) {
      const key = filter.name.slice(4);
      return (record: T) => anyValue([record.tags[key]]);
    }
    if (filter.name === 'tag-key') return (record: T) => anyValue(Object.keys(record.tags));
    if (filter.name === 'tag-value') return (record: T) => anyValue(Object.values(record.tags));
    if (!sample(filter.name)) throw invalidParameterValue(`The filter '${filter.name}' is invalid`);
    return (record: T) => anyValue(fields(record, filter.name) ?? []);
  });
  return (record) => predicates.every((predicate) => predicate(record));
};

// ---------------------------------------------------------------- tags

export type TaggableType = 'image' | 'snapshot' | 'instance' | 'volume' | 'launch-template';

/** `TagSpecification.N.ResourceType` / `.Tag.M.Key|Value`, merged per resource type. */
export const tagSpecifications = (params: QueryParams, allowed: readonly TaggableType[]): Map<string, Tags> => {
  const byType = new Map<string, Tags>();
  for (const spec of indexedStructs(params, 'TagSpecification')) {
    const type = spec.get('ResourceType');
    if (!type) throw new AwsError('MissingParameter', 'The request must contain the parameter ResourceType');
    if (!(allowed as readonly string[]).includes(type)) {
      throw invalidParameterValue(`'${type}' is not a valid taggable resource type for this operation.`);
    }
    byType.set(type, { ...byType.get(type), ...readTags(spec, 'Tag') });
  }
  return byType;
};

/** `Tag.N.Key` / `Tag.N.Value`, checked as EC2 checks them (keys 1–128, values ≤ 256, no `aws:`). */
export const readTags = (params: QueryParams, prefix: string): Tags => {
  const tags: Tags = {};
  for (const tag of indexedStructs(params, prefix)) {
    const key = tag.get('Key');
    if (key === undefined || key === '') throw new AwsError('InvalidParameterValue', 'Tag key must not be empty');
    if (key.length > 128) throw invalidParameterValue(`Tag key exceeds the maximum length of 128 characters`);
    if (key.toLowerCase().startsWith('aws:')) {
      throw invalidParameterValue(`Tag keys starting with 'aws:' are reserved for internal use`);
    }
    const value = tag.get('Value') ?? '';
    if (value.length > 256) throw invalidParameterValue(`Tag value exceeds the maximum length of 256 characters`);
    tags[key] = value;
  }
  if (Object.keys(tags).length > 50) throw new AwsError('TagLimitExceeded', 'The maximum number of tags is 50');
  return tags;
};

export const tagSet = (tags: Tags): XmlValue =>
  Object.keys(tags).length === 0 ? undefined : Object.entries(tags).map(([key, value]) => ({ key, value }));

export const idList = (params: QueryParams, prefix: string): string[] => indexedList(params, prefix);

/** Reads an optional boolean the way EC2 does (`true`/`false`, case-insensitive). */
export const boolParam = (params: QueryParams, key: string): boolean | undefined => {
  const value = params.get(key);
  if (value === undefined) return undefined;
  const lower = value.toLowerCase();
  if (lower !== 'true' && lower !== 'false') throw invalidParameterValue(`Invalid value '${value}' for ${key}.`);
  return lower === 'true';
};

export const returnTrue = (): Record<string, XmlValue> => ({ return: true });
