/**
 * EC2 launch templates and their versions: CreateLaunchTemplate, CreateLaunchTemplateVersion,
 * ModifyLaunchTemplate, DescribeLaunchTemplates, DescribeLaunchTemplateVersions (`$Latest`,
 * `$Default`, MinVersion/MaxVersion, ResolveAlias for `resolve:ssm:` image ids),
 * DeleteLaunchTemplate and DeleteLaunchTemplateVersions.
 *
 * Launch template data is kept as lowerCamel JSON named after the request members
 * (`blockDeviceMappings`, `securityGroupIds`, `tagSpecifications[].tags`, `metadataOptions`…);
 * responses rename lists to the element names EC2 answers with (`blockDeviceMappingSet`, …).
 * Like EC2, image ids are checked loosely: a bad or unknown AMI is a `warning`, not an error.
 */
import { AwsError, invalidParameterValue, missingParameter } from '../../errors';
import {
  filters,
  indexedList,
  optionalBool,
  optionalInt,
  optionalString,
  type QueryParams,
  substruct,
  type XmlValue,
} from '../../protocol/query';
import type { QueryAction, ServiceContext } from '../../service';
import { compileFilters, isWellFormedId, type Page, paginate, tagSet, tagSpecifications } from './common';
import { nowIso } from './lifecycle';
import {
  Ec2Table,
  type ImageRecord,
  type LaunchTemplateRecord,
  type LaunchTemplateVersionRecord,
  launchTemplateVersionKey,
  newId,
} from './model';

/** The SSM parameter table (owned by the SSM service): keyed by name, `value` is the plaintext. */
const SSM_PARAMETERS_TABLE = 'ssm.parameters';
const RESOLVE_SSM = 'resolve:ssm:';
const MAX_RESULTS = 200;
const NAME_PATTERN = /^[a-zA-Z0-9().\-/_]{3,128}$/;

type TemplateData = Record<string, unknown>;

// ---------------------------------------------------------------- errors

const templateIdNotFound = (id: string): AwsError =>
  new AwsError(
    'InvalidLaunchTemplateId.NotFound',
    `The specified launch template, with template ID ${id}, does not exist.`,
  );

const templateNameNotFound = (name: string): AwsError =>
  new AwsError(
    'InvalidLaunchTemplateName.NotFoundException',
    `The specified launch template, with template name ${name}, does not exist.`,
  );

const versionNotFound = (version: string, id: string): AwsError =>
  new AwsError(
    'InvalidLaunchTemplateId.VersionNotFound',
    `Could not find launch template version ${version} for launch template ${id}.`,
  );

const checkTemplateId = (id: string): string => {
  if (!isWellFormedId('lt', id)) {
    throw new AwsError('InvalidLaunchTemplateId.Malformed', `The specified launch template ID ${id} is not valid.`);
  }
  return id;
};

const checkTemplateName = (name: string): string => {
  if (!NAME_PATTERN.test(name)) {
    throw new AwsError(
      'InvalidLaunchTemplateName.MalformedException',
      `A launch template name must be between 3 and 128 characters, and may contain letters, numbers, and the following characters: - ( ) . / _.'`,
    );
  }
  return name;
};

// ---------------------------------------------------------------- finding templates and versions

export const findByName = (ctx: ServiceContext, name: string): LaunchTemplateRecord | undefined => {
  for (const template of ctx.store.table<LaunchTemplateRecord>(Ec2Table.LaunchTemplates).values()) {
    if (template.launchTemplateName === name) return template;
  }
  return undefined;
};

export interface TemplateReference {
  readonly launchTemplateId?: string | undefined;
  readonly launchTemplateName?: string | undefined;
}

/** The template named by id or name, with EC2's errors for malformed and unknown ones. */
export const findLaunchTemplate = (ctx: ServiceContext, ref: TemplateReference): LaunchTemplateRecord => {
  if (ref.launchTemplateId !== undefined && ref.launchTemplateName !== undefined) {
    throw new AwsError(
      'InvalidParameterCombination',
      'Only one of the parameters LaunchTemplateId and LaunchTemplateName can be specified.',
    );
  }
  if (ref.launchTemplateId !== undefined) {
    const id = checkTemplateId(ref.launchTemplateId);
    const template = ctx.store.get<LaunchTemplateRecord>(Ec2Table.LaunchTemplates, id);
    if (!template) throw templateIdNotFound(id);
    return template;
  }
  if (ref.launchTemplateName !== undefined) {
    const template = findByName(ctx, ref.launchTemplateName);
    if (!template) throw templateNameNotFound(ref.launchTemplateName);
    return template;
  }
  throw missingParameter('LaunchTemplateId or LaunchTemplateName');
};

/** `$Latest`, `$Default` or a version number → the version number of `template`. */
export const versionNumberOf = (template: LaunchTemplateRecord, version: string | undefined): number => {
  if (version === undefined || version === '$Default') return template.defaultVersionNumber;
  if (version === '$Latest') return template.latestVersionNumber;
  if (!/^\d+$/.test(version)) {
    throw invalidParameterValue(
      `The launch template version '${version}' is not valid. Specify a version number, $Latest or $Default.`,
    );
  }
  return Number(version);
};

/** What a launch template version's data gives a RunInstances that does not say it itself. */
export interface LaunchDefaults {
  /** As the data holds it: a `resolve:ssm:` id is resolved by the caller (resolveSsmImageId). */
  readonly imageId?: string;
  readonly instanceType?: string;
  /** The first network interface's subnet. */
  readonly subnetId?: string;
  /** SecurityGroupIds, then the first network interface's groups. */
  readonly securityGroupIds: readonly string[];
  readonly profileArn?: string;
  readonly profileName?: string;
}

/** The launch parameters in a version's data (lowerCamel JSON of RequestLaunchTemplateData). */
export const launchDefaultsOf = (data: Readonly<Record<string, unknown>>): LaunchDefaults => {
  const text = (value: unknown): string | undefined => (typeof value === 'string' && value !== '' ? value : undefined);
  const texts = (value: unknown): string[] =>
    Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
  const nic = (Array.isArray(data.networkInterfaces) ? data.networkInterfaces[0] : undefined) as
    | Record<string, unknown>
    | undefined;
  const profile = data.iamInstanceProfile as Record<string, unknown> | undefined;
  const found = {
    imageId: text(data.imageId),
    instanceType: text(data.instanceType),
    subnetId: text(nic?.subnetId),
    profileArn: text(profile?.arn),
    profileName: text(profile?.name),
  };
  return {
    ...Object.fromEntries(Object.entries(found).filter(([, v]) => v !== undefined)),
    securityGroupIds: [...texts(data.securityGroupIds), ...texts(nic?.groups)],
  };
};

/** The version `version` (`$Latest`, `$Default`, a number; default `$Default`) of a template. */
export const resolveLaunchTemplateVersion = (
  ctx: ServiceContext,
  ref: TemplateReference & { readonly version?: string | undefined },
): { template: LaunchTemplateRecord; version: LaunchTemplateVersionRecord } => {
  const template = findLaunchTemplate(ctx, ref);
  const number = versionNumberOf(template, ref.version);
  const version = ctx.store.get<LaunchTemplateVersionRecord>(
    Ec2Table.LaunchTemplateVersions,
    launchTemplateVersionKey(template.launchTemplateId, number),
  );
  if (!version) throw versionNotFound(String(number), template.launchTemplateId);
  return { template, version };
};

// ---------------------------------------------------------------- resolve:ssm:

/**
 * `resolve:ssm:<name>`, `resolve:ssm:<name>:<version>` or `resolve:ssm:<parameter ARN>` → the AMI id
 * the parameter holds, read from the SSM parameter store table.
 */
export const resolveSsmImageId = (ctx: ServiceContext, imageId: string): string => {
  if (!imageId.startsWith(RESOLVE_SSM)) return imageId;
  const reference = imageId.slice(RESOLVE_SSM.length);
  const arn = /^arn:aws[a-z-]*:ssm:[^:]*:[^:]*:parameter(\/[^:]*)(?::(\w+))?$/.exec(reference);
  const [name, selector] = arn
    ? [(arn[1] as string).indexOf('/', 1) === -1 ? (arn[1] as string).slice(1) : (arn[1] as string), arn[2]]
    : (reference.split(':') as [string, string | undefined]);
  const parameter = ctx.store.get<{ value: string; version?: number; history?: { version: number; value: string }[] }>(
    SSM_PARAMETERS_TABLE,
    name,
  );
  const value =
    selector === undefined
      ? parameter?.value
      : parameter?.history?.find((entry) => String(entry.version) === selector)?.value;
  if (value === undefined) {
    throw invalidParameterValue(`The SSM parameter '${reference}' in the image id '${imageId}' cannot be resolved.`);
  }
  return value;
};

// ---------------------------------------------------------------- LaunchTemplateData (request → JSON)

/** Query list names whose JSON name is not lowerCamel(name) + 's'. */
const LIST_NAMES: Record<string, string> = {
  Ipv6Addresses: 'ipv6Addresses',
  PrivateIpAddresses: 'privateIpAddresses',
};

/** JSON list names whose response element is not singular + 'Set'. */
const RESPONSE_LIST_NAMES: Record<string, string> = {
  licenseSpecifications: 'licenseSet',
  groups: 'groupSet',
  ipv6Addresses: 'ipv6AddressesSet',
  privateIpAddresses: 'privateIpAddressesSet',
};

/** Leaves kept as text even when they look like numbers or booleans. */
const TEXT_LEAVES = new Set(['key', 'value', 'userData', 'keyName', 'description', 'name', 'imageId', 'instanceType']);

const lowerCamel = (name: string): string => name.charAt(0).toLowerCase() + name.slice(1);

const jsonListName = (queryName: string, parentList: string | undefined): string => {
  if (queryName === 'SecurityGroupId' && parentList === 'networkInterfaces') return 'groups';
  return LIST_NAMES[queryName] ?? `${lowerCamel(queryName)}s`;
};

const leafValue = (name: string, value: string): unknown => {
  if (TEXT_LEAVES.has(name)) return value;
  if (value === 'true' || value === 'false') return value === 'true';
  if (/^-?\d{1,15}$/.test(value)) return Number(value);
  return value;
};

type Tree = Record<string, unknown>;

/** `LaunchTemplateData.BlockDeviceMapping.1.Ebs.VolumeSize=8` → `{ blockDeviceMappings: [{ ebs: { volumeSize: 8 } }] }`. */
export const parseLaunchTemplateData = (params: QueryParams): TemplateData => {
  const root: Tree = {};
  const lists = new WeakSet<Tree>();
  for (const [key, value] of substruct(params, 'LaunchTemplateData')) {
    const segments = key.split('.');
    let node = root;
    let parentList: string | undefined;
    for (let index = 0; index < segments.length; index += 1) {
      const segment = segments[index] as string;
      const next = segments[index + 1];
      const isLast = next === undefined;
      const isIndex = /^\d+$/.test(segment);
      const name = isIndex
        ? segment
        : next !== undefined && /^\d+$/.test(next)
          ? jsonListName(segment, parentList)
          : lowerCamel(segment);
      if (isLast) {
        node[name] = isIndex ? value : leafValue(name, value);
        break;
      }
      const existing = node[name] ?? {};
      if (typeof existing !== 'object' || existing === null) {
        throw invalidParameterValue(`The parameter LaunchTemplateData.${key} conflicts with another parameter.`);
      }
      const child = existing as Tree;
      node[name] = child;
      if (!isIndex && /^\d+$/.test(next)) {
        lists.add(child);
        parentList = name;
      }
      node = child;
    }
  }
  return finishLists(root, lists) as TemplateData;
};

const finishLists = (node: unknown, lists: WeakSet<Tree>): unknown => {
  if (typeof node !== 'object' || node === null) return node;
  const tree = node as Tree;
  if (lists.has(tree)) {
    return Object.entries(tree)
      .sort((a, b) => Number(a[0]) - Number(b[0]))
      .map(([, child]) => finishLists(child, lists));
  }
  return Object.fromEntries(Object.entries(tree).map(([key, child]) => [key, finishLists(child, lists)]));
};

const responseListName = (name: string): string =>
  RESPONSE_LIST_NAMES[name] ?? `${name.endsWith('s') ? name.slice(0, -1) : name}Set`;

/** JSON launch template data → the XML shape of ResponseLaunchTemplateData. */
const renderData = (value: unknown): XmlValue => {
  if (Array.isArray(value)) return value.map(renderData);
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(
      Object.entries(value).map(([key, child]) => [
        Array.isArray(child) ? responseListName(key) : key,
        renderData(child),
      ]),
    );
  }
  return value as XmlValue;
};

// ---------------------------------------------------------------- validation warnings

const imageWarnings = (ctx: ServiceContext, data: TemplateData): { code: string; message: string }[] => {
  const imageId = data.imageId;
  if (typeof imageId !== 'string' || imageId.startsWith(RESOLVE_SSM)) return [];
  if (!isWellFormedId('ami', imageId)) {
    return [{ code: 'InvalidAMIID.Malformed', message: `Invalid id: "${imageId}" (expecting "ami-...")` }];
  }
  if (!ctx.store.get<ImageRecord>(Ec2Table.Images, imageId)) {
    return [{ code: 'InvalidAMIID.NotFound', message: `The image id '[${imageId}]' does not exist` }];
  }
  return [];
};

const warningOf = (ctx: ServiceContext, data: TemplateData): XmlValue => {
  const errors = imageWarnings(ctx, data);
  return errors.length === 0 ? undefined : { errorSet: errors };
};

const requireData = (params: QueryParams): TemplateData => {
  const data = parseLaunchTemplateData(params);
  if (Object.keys(data).length === 0) throw missingParameter('LaunchTemplateData');
  if (data.imageId !== undefined && typeof data.imageId !== 'string') {
    throw invalidParameterValue('LaunchTemplateData.ImageId must be a string');
  }
  return data;
};

// ---------------------------------------------------------------- XML shapes

const templateXml = (template: LaunchTemplateRecord): Record<string, XmlValue> => ({
  launchTemplateId: template.launchTemplateId,
  launchTemplateName: template.launchTemplateName,
  createTime: template.createTime,
  createdBy: template.createdBy,
  defaultVersionNumber: template.defaultVersionNumber,
  latestVersionNumber: template.latestVersionNumber,
  tagSet: tagSet(template.tags),
});

const versionXml = (
  ctx: ServiceContext,
  template: LaunchTemplateRecord,
  version: LaunchTemplateVersionRecord,
  resolveAlias: boolean,
): Record<string, XmlValue> => {
  const imageId = version.data.imageId;
  const data =
    resolveAlias && typeof imageId === 'string' && imageId.startsWith(RESOLVE_SSM)
      ? { ...version.data, imageId: resolveSsmImageId(ctx, imageId) }
      : version.data;
  return {
    launchTemplateId: template.launchTemplateId,
    launchTemplateName: template.launchTemplateName,
    versionNumber: version.versionNumber,
    versionDescription: version.versionDescription,
    createTime: version.createTime,
    createdBy: template.createdBy,
    defaultVersion: version.versionNumber === template.defaultVersionNumber,
    launchTemplateData: renderData(data),
  };
};

const createdBy = (ctx: ServiceContext): string => `arn:aws:iam::${ctx.account}:user/sandbox`;

// ---------------------------------------------------------------- actions

const createLaunchTemplate: QueryAction = (params, ctx) => {
  const name = params.get('LaunchTemplateName');
  if (name === undefined || name === '') throw missingParameter('LaunchTemplateName');
  checkTemplateName(name);
  const data = requireData(params);
  const tags = tagSpecifications(params, ['launch-template']).get('launch-template') ?? {};
  const description = optionalString(params, 'VersionDescription');
  if (description !== undefined && description.length > 255) {
    throw invalidParameterValue('VersionDescription must be 255 characters or fewer');
  }
  if (findByName(ctx, name)) {
    throw new AwsError('InvalidLaunchTemplateName.AlreadyExistsException', `Launch template name already in use.`);
  }
  const now = nowIso(ctx);
  const template: LaunchTemplateRecord = {
    launchTemplateId: newId('lt'),
    launchTemplateName: name,
    createTime: now,
    createdBy: createdBy(ctx),
    defaultVersionNumber: 1,
    latestVersionNumber: 1,
    tags,
  };
  const version: LaunchTemplateVersionRecord = {
    launchTemplateId: template.launchTemplateId,
    versionNumber: 1,
    ...(description === undefined ? {} : { versionDescription: description }),
    createTime: now,
    data,
  };
  ctx.transact((tx) => {
    tx.put(Ec2Table.LaunchTemplates, template.launchTemplateId, template);
    tx.put(Ec2Table.LaunchTemplateVersions, launchTemplateVersionKey(template.launchTemplateId, 1), version);
  });
  return { launchTemplate: templateXml(template), warning: warningOf(ctx, data) };
};

const referenceOf = (params: QueryParams): TemplateReference => ({
  launchTemplateId: optionalString(params, 'LaunchTemplateId'),
  launchTemplateName: optionalString(params, 'LaunchTemplateName'),
});

const createLaunchTemplateVersion: QueryAction = (params, ctx) => {
  const template = findLaunchTemplate(ctx, referenceOf(params));
  const overrides = requireData(params);
  const sourceVersion = optionalString(params, 'SourceVersion');
  const source =
    sourceVersion === undefined
      ? undefined
      : resolveLaunchTemplateVersion(ctx, { launchTemplateId: template.launchTemplateId, version: sourceVersion })
          .version;
  const description = optionalString(params, 'VersionDescription');
  const number = template.latestVersionNumber + 1;
  const data = { ...(source?.data ?? {}), ...overrides };
  const version: LaunchTemplateVersionRecord = {
    launchTemplateId: template.launchTemplateId,
    versionNumber: number,
    ...(description === undefined ? {} : { versionDescription: description }),
    createTime: nowIso(ctx),
    data,
  };
  const updated: LaunchTemplateRecord = { ...template, latestVersionNumber: number };
  ctx.transact((tx) => {
    tx.put(Ec2Table.LaunchTemplates, template.launchTemplateId, updated);
    tx.put(Ec2Table.LaunchTemplateVersions, launchTemplateVersionKey(template.launchTemplateId, number), version);
  });
  const resolveAlias = optionalBool(params, 'ResolveAlias') ?? false;
  return {
    launchTemplateVersion: versionXml(ctx, updated, version, resolveAlias),
    warning: warningOf(ctx, data),
  };
};

const modifyLaunchTemplate: QueryAction = (params, ctx) => {
  const template = findLaunchTemplate(ctx, referenceOf(params));
  const requested = optionalString(params, 'SetDefaultVersion');
  if (requested === undefined) return { launchTemplate: templateXml(template) };
  const { version } = resolveLaunchTemplateVersion(ctx, {
    launchTemplateId: template.launchTemplateId,
    version: requested,
  });
  const updated: LaunchTemplateRecord = { ...template, defaultVersionNumber: version.versionNumber };
  ctx.transact((tx) => tx.put(Ec2Table.LaunchTemplates, template.launchTemplateId, updated));
  return { launchTemplate: templateXml(updated) };
};

/** MaxResults 1–200 and an opaque NextToken (an offset into the matching records). */
const readPage = (params: QueryParams): Page => {
  const maxResults = optionalInt(params, 'MaxResults');
  if (maxResults !== undefined && (maxResults < 1 || maxResults > MAX_RESULTS)) {
    throw invalidParameterValue(
      `Value ( ${maxResults} ) for parameter maxResults is invalid. Expecting a value between 1 and ${MAX_RESULTS}.`,
    );
  }
  const token = optionalString(params, 'NextToken');
  let offset = 0;
  if (token !== undefined) {
    const match = /^o:(\d+)$/.exec(Buffer.from(token, 'base64url').toString('utf8'));
    if (!match) throw invalidParameterValue(`Invalid value '${token}' for nextToken`);
    offset = Number(match[1]);
  }
  return { offset, limit: maxResults ?? Number.POSITIVE_INFINITY };
};

const TEMPLATE_FILTERS = new Set(['create-time', 'launch-template-name']);

const templateField = (template: LaunchTemplateRecord, name: string): readonly (string | undefined)[] | undefined => {
  if (name === 'create-time') return [template.createTime];
  if (name === 'launch-template-name') return [template.launchTemplateName];
  return undefined;
};

const describeLaunchTemplates: QueryAction = (params, ctx) => {
  const ids = indexedList(params, 'LaunchTemplateId').map(checkTemplateId);
  const names = indexedList(params, 'LaunchTemplateName');
  const page = readPage(params);
  const matches = compileFilters<LaunchTemplateRecord>(filters(params), templateField, (name) =>
    TEMPLATE_FILTERS.has(name),
  );
  let candidates: Iterable<LaunchTemplateRecord> = ctx.store
    .table<LaunchTemplateRecord>(Ec2Table.LaunchTemplates)
    .values();
  if (ids.length > 0 || names.length > 0) {
    const found: LaunchTemplateRecord[] = [];
    for (const id of ids) found.push(findLaunchTemplate(ctx, { launchTemplateId: id }));
    for (const name of names) {
      const template = findByName(ctx, name);
      if (!template) {
        throw new AwsError(
          'InvalidLaunchTemplateName.NotFoundException',
          'At least one of the launch templates specified in the request does not exist.',
        );
      }
      found.push(template);
    }
    candidates = new Map(found.map((template) => [template.launchTemplateId, template])).values();
  }
  const { items, nextToken } = paginate(candidates, matches, page);
  return { launchTemplates: items.map(templateXml), nextToken };
};

interface VersionMatch {
  readonly template: LaunchTemplateRecord;
  readonly version: LaunchTemplateVersionRecord;
  readonly tags: Record<string, string>;
}

const VERSION_FILTERS = new Set([
  'create-time',
  'image-id',
  'instance-type',
  'is-default-version',
  'iam-instance-profile',
  'http-tokens',
  'http-endpoint',
  'ebs-optimized',
  'kernel-id',
  'ram-disk-id',
]);

const text = (value: unknown): string | undefined =>
  typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean' ? String(value) : undefined;

const versionField = (match: VersionMatch, name: string): readonly (string | undefined)[] | undefined => {
  const data = match.version.data;
  const metadata = (data.metadataOptions ?? {}) as Record<string, unknown>;
  const profile = (data.iamInstanceProfile ?? {}) as Record<string, unknown>;
  switch (name) {
    case 'create-time':
      return [match.version.createTime];
    case 'image-id':
      return [text(data.imageId)];
    case 'instance-type':
      return [text(data.instanceType)];
    case 'is-default-version':
      return [String(match.version.versionNumber === match.template.defaultVersionNumber)];
    case 'iam-instance-profile':
      return [text(profile.arn), text(profile.name)];
    case 'http-tokens':
      return [text(metadata.httpTokens)];
    case 'http-endpoint':
      return [text(metadata.httpEndpoint)];
    case 'ebs-optimized':
      return [text(data.ebsOptimized)];
    case 'kernel-id':
      return [text(data.kernelId)];
    case 'ram-disk-id':
      return [text(data.ramDiskId)];
    default:
      return undefined;
  }
};

const optionalVersionBound = (params: QueryParams, key: string): number | undefined => {
  const value = optionalString(params, key);
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value))
    throw invalidParameterValue(`The value '${value}' for ${key} is not a valid version number.`);
  return Number(value);
};

function* versionsOf(
  ctx: ServiceContext,
  template: LaunchTemplateRecord,
  selected: readonly string[],
  min: number | undefined,
  max: number | undefined,
): Generator<VersionMatch> {
  const tags = template.tags;
  const get = (number: number): LaunchTemplateVersionRecord | undefined =>
    ctx.store.get<LaunchTemplateVersionRecord>(
      Ec2Table.LaunchTemplateVersions,
      launchTemplateVersionKey(template.launchTemplateId, number),
    );
  if (selected.length > 0) {
    const seen = new Set<number>();
    for (const requested of selected) {
      const number = versionNumberOf(template, requested);
      const version = get(number);
      if (!version) throw versionNotFound(requested, template.launchTemplateId);
      if (seen.has(number)) continue;
      seen.add(number);
      yield { template, version, tags };
    }
    return;
  }
  for (
    let number = min ?? 1;
    number <= Math.min(max ?? template.latestVersionNumber, template.latestVersionNumber);
    number += 1
  ) {
    const version = get(number);
    if (version) yield { template, version, tags };
  }
}

const describeLaunchTemplateVersions: QueryAction = (params, ctx) => {
  const reference = referenceOf(params);
  const selected = indexedList(params, 'LaunchTemplateVersion');
  const min = optionalVersionBound(params, 'MinVersion');
  const max = optionalVersionBound(params, 'MaxVersion');
  const resolveAlias = optionalBool(params, 'ResolveAlias') ?? false;
  const page = readPage(params);
  const matches = compileFilters<VersionMatch>(filters(params), versionField, (name) => VERSION_FILTERS.has(name));
  const named = reference.launchTemplateId !== undefined || reference.launchTemplateName !== undefined;
  if (!named && selected.some((version) => version !== '$Latest' && version !== '$Default')) {
    throw invalidParameterValue(
      'To describe versions of all launch templates, specify only $Latest or $Default; otherwise specify a launch template.',
    );
  }
  const templates = named
    ? [findLaunchTemplate(ctx, reference)]
    : ctx.store.table<LaunchTemplateRecord>(Ec2Table.LaunchTemplates).values();
  const all = function* (): Generator<VersionMatch> {
    for (const template of templates) yield* versionsOf(ctx, template, selected, min, max);
  };
  const { items, nextToken } = paginate(all(), matches, page);
  return {
    launchTemplateVersionSet: items.map((match) => versionXml(ctx, match.template, match.version, resolveAlias)),
    nextToken,
  };
};

const deleteLaunchTemplate: QueryAction = (params, ctx) => {
  const template = findLaunchTemplate(ctx, referenceOf(params));
  ctx.transact((tx) => {
    for (let number = 1; number <= template.latestVersionNumber; number += 1) {
      const key = launchTemplateVersionKey(template.launchTemplateId, number);
      if (tx.get(Ec2Table.LaunchTemplateVersions, key)) tx.delete(Ec2Table.LaunchTemplateVersions, key);
    }
    tx.delete(Ec2Table.LaunchTemplates, template.launchTemplateId);
  });
  return { launchTemplate: templateXml(template) };
};

const deleteLaunchTemplateVersions: QueryAction = (params, ctx) => {
  const template = findLaunchTemplate(ctx, referenceOf(params));
  const requested = indexedList(params, 'LaunchTemplateVersion');
  if (requested.length === 0) throw missingParameter('LaunchTemplateVersion');
  if (requested.length > 200) throw invalidParameterValue('You can delete up to 200 launch template versions at once.');
  const succeeded: Record<string, XmlValue>[] = [];
  const failed: Record<string, XmlValue>[] = [];
  const names = { launchTemplateId: template.launchTemplateId, launchTemplateName: template.launchTemplateName };
  ctx.transact((tx) => {
    for (const entry of requested) {
      const number = /^\d+$/.test(entry) ? Number(entry) : undefined;
      const key = number === undefined ? undefined : launchTemplateVersionKey(template.launchTemplateId, number);
      if (number === undefined || key === undefined || !tx.get(Ec2Table.LaunchTemplateVersions, key)) {
        failed.push({
          ...names,
          versionNumber: number,
          responseError: {
            code: 'launchTemplateVersionDoesNotExist',
            message: `The specified launch template version does not exist.`,
          },
        });
      } else if (number === template.defaultVersionNumber) {
        failed.push({
          ...names,
          versionNumber: number,
          responseError: {
            code: 'unexpectedError',
            message: 'Cannot delete the default version of a launch template.',
          },
        });
      } else {
        tx.delete(Ec2Table.LaunchTemplateVersions, key);
        succeeded.push({ ...names, versionNumber: number });
      }
    }
  });
  return {
    successfullyDeletedLaunchTemplateVersionSet: succeeded,
    unsuccessfullyDeletedLaunchTemplateVersionSet: failed,
  };
};

export const launchTemplateActions: Readonly<Record<string, QueryAction>> = {
  CreateLaunchTemplate: createLaunchTemplate,
  CreateLaunchTemplateVersion: createLaunchTemplateVersion,
  ModifyLaunchTemplate: modifyLaunchTemplate,
  DescribeLaunchTemplates: describeLaunchTemplates,
  DescribeLaunchTemplateVersions: describeLaunchTemplateVersions,
  DeleteLaunchTemplate: deleteLaunchTemplate,
  DeleteLaunchTemplateVersions: deleteLaunchTemplateVersions,
};
