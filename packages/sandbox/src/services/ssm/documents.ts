/**
 * SSM documents: Command and Automation documents in JSON or YAML, with versions, a SHA-256 hash
 * of each version's content, the default and latest versions, and the AWS-owned command documents
 * Bakehouse sends (seeded, owner Amazon). Records live in `ssm.documents` keyed by name.
 */
import { createHash } from 'node:crypto';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { AwsError } from '../../errors';
import {
  epochSeconds,
  type Input,
  maxResults,
  optionalObjectList,
  optionalString,
  optionalStringList,
  page,
  pageStart,
  requiredString,
  validationError,
} from '../../protocol/json';
import type { JsonAction, ServiceContext } from '../../service';

export const DOCUMENTS_TABLE = 'ssm.documents';
const AMAZON = 'Amazon';

type DocumentFormat = 'JSON' | 'YAML';

export interface DocumentParameter {
  readonly name: string;
  readonly type: string;
  readonly description?: string;
  readonly defaultValue?: string;
}

export interface DocumentVersionRecord {
  readonly documentVersion: string;
  readonly versionName?: string;
  readonly content: string;
  readonly format: DocumentFormat;
  readonly hash: string;
  readonly createdDate: string;
  readonly description?: string;
  readonly schemaVersion: string;
  readonly parameters: readonly DocumentParameter[];
  readonly platformTypes: readonly string[];
  /** Plugin (step) names and actions, for Run Command invocations. */
  readonly steps: readonly { readonly name: string; readonly action: string }[];
}

export interface DocumentRecord extends Record<string, unknown> {
  readonly name: string;
  readonly owner: string;
  readonly documentType: 'Command' | 'Automation';
  readonly targetType?: string;
  readonly createdDate: string;
  readonly defaultVersion: string;
  readonly latestVersion: string;
  readonly tags: Record<string, string>;
  readonly versions: readonly DocumentVersionRecord[];
}

const DOCUMENT_TYPES: readonly string[] = ['Command', 'Automation'];
const NAME = /^[a-zA-Z0-9_\-.:/]{3,128}$/;
const RESERVED_PREFIXES = ['aws-', 'amazon', 'amzn'];

const documentNotFound = (): AwsError => new AwsError('InvalidDocument', 'The specified document does not exist.');
const versionNotFound = (): AwsError =>
  new AwsError('InvalidDocumentVersion', 'The document version is not valid or does not exist.');
const invalidContent = (why: string): AwsError => new AwsError('InvalidDocumentContent', why);

const parseFormat = (value: string | undefined): DocumentFormat => {
  const format = value ?? 'JSON';
  if (format !== 'JSON' && format !== 'YAML') {
    throw validationError(`DocumentFormat ${format} is not supported. Valid formats are JSON and YAML.`);
  }
  return format;
};

const parseContent = (content: string, format: DocumentFormat): Record<string, unknown> => {
  let parsed: unknown;
  try {
    parsed = format === 'JSON' ? JSON.parse(content) : parseYaml(content);
  } catch {
    throw invalidContent(format === 'JSON' ? 'JSON not well-formed.' : 'YAML not well-formed.');
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw invalidContent(`${format} not well-formed: the document must be an object.`);
  }
  return parsed as Record<string, unknown>;
};

const describeParameters = (content: Record<string, unknown>): DocumentParameter[] => {
  const declared = content.parameters;
  if (declared === undefined) return [];
  if (!declared || typeof declared !== 'object' || Array.isArray(declared)) {
    throw invalidContent('parameters must be a map of parameter names to definitions.');
  }
  return Object.entries(declared as Record<string, unknown>).map(([name, definition]) => {
    const spec = (definition && typeof definition === 'object' ? definition : {}) as Record<string, unknown>;
    if (typeof spec.type !== 'string') throw invalidContent(`Parameter ${name} must declare a type.`);
    const fallback = spec.default;
    return {
      name,
      type: spec.type,
      ...(typeof spec.description === 'string' ? { description: spec.description } : {}),
      ...(fallback === undefined
        ? {}
        : { defaultValue: typeof fallback === 'string' ? fallback : JSON.stringify(fallback) }),
    };
  });
};

const PLATFORM_OF_ACTION: Record<string, readonly string[]> = {
  'aws:runShellScript': ['Linux', 'MacOS'],
  'aws:runPowerShellScript': ['Windows', 'Linux'],
};

/** Steps of a command document (schema 2.x `mainSteps`, 1.2 `runtimeConfig`) or an automation. */
const describeSteps = (content: Record<string, unknown>, documentType: string): DocumentVersionRecord['steps'] => {
  if (content.schemaVersion === '1.2') {
    const runtime = content.runtimeConfig;
    if (!runtime || typeof runtime !== 'object') throw invalidContent('A 1.2 document must have runtimeConfig.');
    return Object.keys(runtime).map((action) => ({ name: action, action }));
  }
  const steps = content.mainSteps;
  if (!Array.isArray(steps) || steps.length === 0) {
    throw invalidContent(`A ${documentType} document must have at least one step in mainSteps.`);
  }
  return steps.map((step: unknown, index) => {
    const spec = (step && typeof step === 'object' ? step : {}) as Record<string, unknown>;
    if (typeof spec.action !== 'string' || typeof spec.name !== 'string') {
      throw invalidContent(`Step ${index + 1} in mainSteps must have a name and an action.`);
    }
    return { name: spec.name, action: spec.action };
  });
};

const SCHEMA_VERSIONS: Record<string, readonly string[]> = {
  Command: ['1.2', '2.0', '2.2'],
  Automation: ['0.3'],
};

const buildVersion = (
  ctx: ServiceContext,
  input: {
    content: string;
    format: DocumentFormat;
    documentType: string;
    documentVersion: string;
    versionName?: string;
  },
): DocumentVersionRecord => {
  const content = parseContent(input.content, input.format);
  const schemaVersion = content.schemaVersion;
  if (typeof schemaVersion !== 'string' || !(SCHEMA_VERSIONS[input.documentType] ?? []).includes(schemaVersion)) {
    throw new AwsError(
      'InvalidDocumentSchemaVersion',
      `The schemaVersion ${String(schemaVersion)} is not supported for ${input.documentType} documents. Supported: ${(SCHEMA_VERSIONS[input.documentType] ?? []).join(', ')}.`,
    );
  }
  const steps = describeSteps(content, input.documentType);
  const platforms = new Set(steps.flatMap((step) => PLATFORM_OF_ACTION[step.action] ?? []));
  return {
    documentVersion: input.documentVersion,
    ...(input.versionName === undefined ? {} : { versionName: input.versionName }),
    content: input.content,
    format: input.format,
    hash: createHash('sha256').update(input.content).digest('hex'),
    createdDate: ctx.clock.now().toISOString(),
    ...(typeof content.description === 'string' ? { description: content.description } : {}),
    schemaVersion,
    parameters: describeParameters(content),
    platformTypes: platforms.size > 0 ? [...platforms] : ['Windows', 'Linux', 'MacOS'],
    steps,
  };
};

const documentDescription = (ctx: ServiceContext, record: DocumentRecord, version: DocumentVersionRecord) => ({
  Sha1: createHash('sha1').update(version.content).digest('hex'),
  Hash: version.hash,
  HashType: 'Sha256',
  Name: record.name,
  ...(version.versionName === undefined ? {} : { VersionName: version.versionName }),
  Owner: record.owner,
  CreatedDate: epochSeconds(version.createdDate),
  Status: 'Active',
  DocumentVersion: version.documentVersion,
  ...(version.description === undefined ? {} : { Description: version.description }),
  Parameters: version.parameters.map((parameter) => ({
    Name: parameter.name,
    Type: parameter.type,
    ...(parameter.description === undefined ? {} : { Description: parameter.description }),
    ...(parameter.defaultValue === undefined ? {} : { DefaultValue: parameter.defaultValue }),
  })),
  PlatformTypes: version.platformTypes,
  DocumentType: record.documentType,
  SchemaVersion: version.schemaVersion,
  LatestVersion: record.latestVersion,
  DefaultVersion: record.defaultVersion,
  DocumentFormat: version.format,
  ...(record.targetType === undefined ? {} : { TargetType: record.targetType }),
  Tags: Object.entries(record.tags).map(([Key, Value]) => ({ Key, Value })),
  ...(record.owner === AMAZON ? {} : { ARN: `arn:aws:ssm:${ctx.region}:${ctx.account}:document/${record.name}` }),
});

const parseTags = (input: Input): Record<string, string> =>
  Object.fromEntries(
    (optionalObjectList(input, 'Tags') ?? []).map((tag) => [requiredString(tag, 'Key'), requiredString(tag, 'Value')]),
  );

const createDocument: JsonAction = (input, ctx) => {
  const name = requiredString(input, 'Name');
  const content = requiredString(input, 'Content');
  const format = parseFormat(optionalString(input, 'DocumentFormat'));
  const documentType = optionalString(input, 'DocumentType') ?? 'Command';
  const versionName = optionalString(input, 'VersionName');
  const targetType = optionalString(input, 'TargetType');
  if (!NAME.test(name)) {
    throw validationError(
      `1 validation error detected: Value '${name}' at 'name' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[a-zA-Z0-9_\\-.]{3,128}$`,
    );
  }
  if (RESERVED_PREFIXES.some((prefix) => name.toLowerCase().startsWith(prefix))) {
    throw validationError(`Document name ${name} is reserved: names can't begin with AWS-, Amazon or amzn.`);
  }
  if (!DOCUMENT_TYPES.includes(documentType)) {
    throw new AwsError('InvalidDocumentType', `The document type ${documentType} is not supported by the sandbox.`);
  }
  if (ctx.store.get(DOCUMENTS_TABLE, name)) {
    throw new AwsError('DocumentAlreadyExists', 'The specified document already exists.');
  }
  const version = buildVersion(ctx, {
    content,
    format,
    documentType,
    documentVersion: '1',
    ...(versionName === undefined ? {} : { versionName }),
  });
  const record: DocumentRecord = {
    name,
    owner: ctx.account,
    documentType: documentType as DocumentRecord['documentType'],
    ...(targetType === undefined ? {} : { targetType }),
    createdDate: version.createdDate,
    defaultVersion: '1',
    latestVersion: '1',
    tags: parseTags(input),
    versions: [version],
  };
  ctx.transact((tx) => tx.put(DOCUMENTS_TABLE, name, record));
  return { DocumentDescription: documentDescription(ctx, record, version) };
};

export const findDocument = (ctx: ServiceContext, name: string): DocumentRecord | undefined => {
  const arnName = /^arn:aws[a-z-]*:ssm:[^:]*:[^:]*:document\/(.+)$/.exec(name)?.[1];
  return ctx.store.get<DocumentRecord>(DOCUMENTS_TABLE, arnName ?? name);
};

/** The version named by DocumentVersion (`$LATEST`, `$DEFAULT`, a number) and/or VersionName. */
export const selectDocumentVersion = (
  record: DocumentRecord,
  documentVersion: string | undefined,
  versionName?: string,
): DocumentVersionRecord => {
  const wanted =
    documentVersion === undefined || documentVersion === '$DEFAULT'
      ? versionName === undefined
        ? record.defaultVersion
        : undefined
      : documentVersion === '$LATEST'
        ? record.latestVersion
        : documentVersion;
  if (wanted !== undefined && !/^\d+$/.test(wanted)) throw versionNotFound();
  const version = record.versions.find(
    (candidate) =>
      (wanted === undefined || candidate.documentVersion === wanted) &&
      (versionName === undefined || candidate.versionName === versionName),
  );
  if (!version) throw versionNotFound();
  return version;
};

const updateDocument: JsonAction = (input, ctx) => {
  const name = requiredString(input, 'Name');
  const content = requiredString(input, 'Content');
  const target = optionalString(input, 'DocumentVersion') ?? '$LATEST';
  const versionName = optionalString(input, 'VersionName');
  const record = findDocument(ctx, name);
  if (!record) throw documentNotFound();
  if (record.owner === AMAZON) {
    throw new AwsError('InvalidDocumentOperation', 'You can not update a document owned by Amazon.');
  }
  if (target !== '$LATEST' && target !== record.latestVersion) {
    throw new AwsError('InvalidDocumentVersion', 'You can only update the latest version of a document ($LATEST).');
  }
  const latest = selectDocumentVersion(record, '$LATEST');
  const format = parseFormat(optionalString(input, 'DocumentFormat') ?? latest.format);
  if (record.versions.some((version) => version.content === content)) {
    throw new AwsError(
      'DuplicateDocumentContent',
      'The content of the association document matches another document. Change the content of the document and try again.',
    );
  }
  if (versionName !== undefined && record.versions.some((version) => version.versionName === versionName)) {
    throw new AwsError(
      'DuplicateDocumentVersionName',
      `The version name ${versionName} is already used by a version of this document.`,
    );
  }
  const version = buildVersion(ctx, {
    content,
    format,
    documentType: record.documentType,
    documentVersion: String(Number(record.latestVersion) + 1),
    ...(versionName === undefined ? {} : { versionName }),
  });
  const updated: DocumentRecord = {
    ...record,
    latestVersion: version.documentVersion,
    versions: [...record.versions, version],
  };
  ctx.transact((tx) => tx.put(DOCUMENTS_TABLE, record.name, updated));
  return { DocumentDescription: documentDescription(ctx, updated, version) };
};

const convertContent = (version: DocumentVersionRecord, format: DocumentFormat): string => {
  if (format === version.format) return version.content;
  const parsed = parseContent(version.content, version.format);
  return format === 'JSON' ? JSON.stringify(parsed, null, 2) : stringifyYaml(parsed);
};

const getDocument: JsonAction = (input, ctx) => {
  const record = findDocument(ctx, requiredString(input, 'Name'));
  if (!record) throw documentNotFound();
  const version = selectDocumentVersion(
    record,
    optionalString(input, 'DocumentVersion'),
    optionalString(input, 'VersionName'),
  );
  const requestedFormat = optionalString(input, 'DocumentFormat');
  const format = requestedFormat === undefined ? version.format : parseFormat(requestedFormat);
  return {
    Name: record.name,
    CreatedDate: epochSeconds(version.createdDate),
    ...(version.versionName === undefined ? {} : { VersionName: version.versionName }),
    DocumentVersion: version.documentVersion,
    Status: 'Active',
    Content: convertContent(version, format),
    DocumentType: record.documentType,
    DocumentFormat: format,
  };
};

const describeDocument: JsonAction = (input, ctx) => {
  const record = findDocument(ctx, requiredString(input, 'Name'));
  if (!record) throw documentNotFound();
  const version = selectDocumentVersion(
    record,
    optionalString(input, 'DocumentVersion'),
    optionalString(input, 'VersionName'),
  );
  return { Document: documentDescription(ctx, record, version) };
};

interface DocumentFilter {
  readonly key: string;
  readonly values: readonly string[];
}

const FILTER_KEYS = ['Owner', 'DocumentType', 'Name', 'PlatformTypes', 'SearchKeyword'];

const parseDocumentFilters = (input: Input): DocumentFilter[] => {
  const legacy = (optionalObjectList(input, 'DocumentFilterList') ?? []).map((filter) => ({
    key: requiredString(filter, 'key').replace(/^./, (c) => c.toUpperCase()),
    values: [requiredString(filter, 'value')],
  }));
  const filters = (optionalObjectList(input, 'Filters') ?? []).map((filter) => ({
    key: requiredString(filter, 'Key'),
    values: optionalStringList(filter, 'Values') ?? [],
  }));
  const all = [...legacy, ...filters];
  for (const filter of all) {
    if (!FILTER_KEYS.includes(filter.key) && !filter.key.startsWith('tag:')) {
      throw new AwsError('InvalidFilterKey', `The filter key ${filter.key} is not valid.`);
    }
  }
  return all;
};

const matchesOwner = (ctx: ServiceContext, record: DocumentRecord, owner: string): boolean => {
  switch (owner) {
    case 'Self':
    case 'Private':
      return record.owner === ctx.account;
    case 'Amazon':
    case 'Public':
      return record.owner === AMAZON;
    case 'All':
      return true;
    default:
      return record.owner === owner;
  }
};

const matchesDocumentFilter = (ctx: ServiceContext, record: DocumentRecord, filter: DocumentFilter): boolean => {
  const latest = record.versions.find((version) => version.documentVersion === record.defaultVersion);
  const { key, values } = filter;
  if (key.startsWith('tag:')) {
    const tag = record.tags[key.slice(4)];
    return tag !== undefined && (values.length === 0 || values.includes(tag));
  }
  switch (key) {
    case 'Owner':
      return values.some((owner) => matchesOwner(ctx, record, owner));
    case 'DocumentType':
      return values.includes(record.documentType);
    case 'Name':
      return values.some((value) => record.name.startsWith(value));
    case 'PlatformTypes':
      return values.some((value) => latest?.platformTypes.includes(value) ?? false);
    case 'SearchKeyword':
      return values.some((value) => record.name.toLowerCase().includes(value.toLowerCase()));
    default:
      return false;
  }
};

const listDocuments: JsonAction = (input, ctx) => {
  const size = maxResults(input, 1, 50, 50);
  const start = pageStart(input);
  const filters = parseDocumentFilters(input);
  const matching = [...ctx.store.table<DocumentRecord>(DOCUMENTS_TABLE).values()]
    .filter((record) => filters.every((filter) => matchesDocumentFilter(ctx, record, filter)))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const result = page(matching, start, size);
  return {
    DocumentIdentifiers: result.items.map((record) => {
      const version = selectDocumentVersion(record, '$DEFAULT');
      return {
        Name: record.name,
        CreatedDate: epochSeconds(record.createdDate),
        Owner: record.owner,
        ...(version.versionName === undefined ? {} : { VersionName: version.versionName }),
        PlatformTypes: version.platformTypes,
        DocumentVersion: version.documentVersion,
        DocumentType: record.documentType,
        SchemaVersion: version.schemaVersion,
        DocumentFormat: version.format,
        ...(record.targetType === undefined ? {} : { TargetType: record.targetType }),
        Tags: Object.entries(record.tags).map(([Key, Value]) => ({ Key, Value })),
      };
    }),
    ...(result.nextToken ? { NextToken: result.nextToken } : {}),
  };
};

const deleteDocument: JsonAction = (input, ctx) => {
  const record = findDocument(ctx, requiredString(input, 'Name'));
  if (!record) throw documentNotFound();
  if (record.owner === AMAZON) {
    throw new AwsError('InvalidDocumentOperation', 'You can not delete a document owned by Amazon.');
  }
  const documentVersion = optionalString(input, 'DocumentVersion');
  const versionName = optionalString(input, 'VersionName');
  if (documentVersion === undefined && versionName === undefined) {
    ctx.transact((tx) => tx.delete(DOCUMENTS_TABLE, record.name));
    return {};
  }
  const version = selectDocumentVersion(record, documentVersion, versionName);
  if (version.documentVersion === record.defaultVersion) {
    throw new AwsError('InvalidDocumentOperation', 'You can not delete the default version of a document.');
  }
  const versions = record.versions.filter((candidate) => candidate !== version);
  const latestVersion = versions.reduce((latest, candidate) =>
    Number(candidate.documentVersion) > Number(latest.documentVersion) ? candidate : latest,
  ).documentVersion;
  ctx.transact((tx) => tx.put(DOCUMENTS_TABLE, record.name, { ...record, versions, latestVersion }));
  return {};
};

export const documentActions: Readonly<Record<string, JsonAction>> = {
  CreateDocument: createDocument,
  UpdateDocument: updateDocument,
  GetDocument: getDocument,
  DescribeDocument: describeDocument,
  ListDocuments: listDocuments,
  DeleteDocument: deleteDocument,
};

const AMAZON_COMMAND_DOCUMENTS: readonly { name: string; content: Record<string, unknown> }[] = [
  {
    name: 'AWS-RunShellScript',
    content: {
      schemaVersion: '1.2',
      description: 'Run a shell script or specify the commands to run.',
      parameters: {
        commands: {
          type: 'StringList',
          description: '(Required) Specify a shell script or a command to run.',
          minItems: 1,
        },
        workingDirectory: {
          type: 'String',
          default: '',
          description: '(Optional) The path to the working directory on your instance.',
        },
        executionTimeout: {
          type: 'String',
          default: '3600',
          description:
            '(Optional) The time in seconds for a command to complete before it is considered to have failed.',
        },
      },
      runtimeConfig: {
        'aws:runShellScript': {
          properties: [
            {
              id: '0.aws:runShellScript',
              runCommand: '{{ commands }}',
              workingDirectory: '{{ workingDirectory }}',
              timeoutSeconds: '{{ executionTimeout }}',
            },
          ],
        },
      },
    },
  },
  {
    name: 'AWS-RunPowerShellScript',
    content: {
      schemaVersion: '1.2',
      description: 'Run a PowerShell script or specify the paths to scripts to run.',
      parameters: {
        commands: {
          type: 'StringList',
          description: '(Required) Specify the commands to run or the paths to an existing script on the instance.',
          minItems: 1,
        },
        workingDirectory: {
          type: 'String',
          default: '',
          description: '(Optional) The path to the working directory on your instance.',
        },
        executionTimeout: {
          type: 'String',
          default: '3600',
          description:
            '(Optional) The time in seconds for a command to be completed before it is considered to have failed.',
        },
      },
      runtimeConfig: {
        'aws:runPowerShellScript': {
          properties: [
            {
              id: '0.aws:runPowerShellScript',
              runCommand: '{{ commands }}',
              workingDirectory: '{{ workingDirectory }}',
              timeoutSeconds: '{{ executionTimeout }}',
            },
          ],
        },
      },
    },
  },
  {
    name: 'AWS-InstallWindowsUpdates',
    content: {
      schemaVersion: '2.2',
      description: 'Installs missing Windows updates.',
      parameters: {
        Action: {
          type: 'String',
          default: 'Install',
          allowedValues: ['Install', 'Scan'],
          description: '(Optional) Install or Scan.',
        },
        AllowReboot: {
          type: 'String',
          default: 'False',
          allowedValues: ['True', 'False'],
          description: '(Optional) Allow the instance to reboot.',
        },
        IncludeKbs: { type: 'String', default: '', description: '(Optional) KB articles to include.' },
        ExcludeKbs: { type: 'String', default: '', description: '(Optional) KB articles to exclude.' },
        Categories: { type: 'String', default: '', description: '(Optional) Update categories.' },
        SeverityLevels: { type: 'String', default: '', description: '(Optional) MSRC severity levels.' },
        PublishedDaysOld: {
          type: 'String',
          default: '',
          description: '(Optional) Only updates at least this many days old.',
        },
      },
      mainSteps: [
        {
          action: 'aws:runPowerShellScript',
          name: 'InstallWindowsUpdates',
          inputs: { runCommand: ['# Windows Update'] },
        },
      ],
    },
  },
  {
    name: 'AWS-ConfigureAWSPackage',
    content: {
      schemaVersion: '2.2',
      description: 'Install or uninstall a Distributor package.',
      parameters: {
        action: {
          type: 'String',
          allowedValues: ['Install', 'Uninstall'],
          description: '(Required) Install or uninstall.',
        },
        installationType: {
          type: 'String',
          default: 'Uninstall and reinstall',
          description: '(Optional) Installation type.',
        },
        name: { type: 'String', description: '(Required) The package to install or uninstall.' },
        version: { type: 'String', default: '', description: '(Optional) The package version.' },
        additionalArguments: { type: 'StringMap', default: {}, description: '(Optional) Additional parameters.' },
      },
      mainSteps: [
        {
          action: 'aws:configurePackage',
          name: 'configurePackage',
          inputs: { name: '{{ name }}', action: '{{ action }}' },
        },
      ],
    },
  },
];

/** Seeds the AWS-owned command documents (idempotent: present ones are left alone). */
export const seedAmazonDocuments = (ctx: ServiceContext): void => {
  const missing = AMAZON_COMMAND_DOCUMENTS.filter((document) => !ctx.store.get(DOCUMENTS_TABLE, document.name));
  if (missing.length === 0) return;
  ctx.transact((tx) => {
    for (const document of missing) {
      const version = buildVersion(ctx, {
        content: JSON.stringify(document.content, null, 2),
        format: 'JSON',
        documentType: 'Command',
        documentVersion: '1',
      });
      const record: DocumentRecord = {
        name: document.name,
        owner: AMAZON,
        documentType: 'Command',
        createdDate: version.createdDate,
        defaultVersion: '1',
        latestVersion: '1',
        tags: {},
        versions: [version],
      };
      tx.put(DOCUMENTS_TABLE, record.name, record);
    }
  });
};
