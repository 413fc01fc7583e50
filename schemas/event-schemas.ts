/**
 * The JSON Schema files of the public event contract, made from the one source of the detail
 * shapes (`detailSchemas` in functions/commons/events.ts) with zod's own JSON Schema conversion.
 *
 * Each file describes a whole EventBridge event (the envelope) with `detail` as zod converts the
 * detail schema, in JSON Schema draft-04: the dialect the EventBridge schema registry takes
 * (`JSONSchemaDraft4`). Draft-04 has no `$id` and no `const`: the files carry `id` and a
 * one-value `enum` instead.
 *
 * One rule has no JSON Schema form in zod's conversion: the `version` refinement (same major,
 * any minor). The generator writes it into the pattern of `detail.version` (`^1\.\d+$`), so both
 * validators reject another major version.
 *
 * `npm run schemas` writes the files; test/unit/event-schemas.test.ts fails when one is stale.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as z from 'zod/mini';
import { DEFAULT_EVENT_SOURCE, DetailType, detailSchemas, EVENT_VERSION } from '../functions/commons/events';

export type ContractDetailType = keyof typeof detailSchemas;

/** Every detail-type of the contract, in the order `detailSchemas` declares them. */
export const CONTRACT_DETAIL_TYPES = Object.keys(detailSchemas) as ContractDetailType[];

export const JSON_SCHEMA_DRAFT_04 = 'http://json-schema.org/draft-04/schema#';

/** When each event is published: the `description` of its schema file and registry entry. */
const WHEN: Record<ContractDetailType, string> = {
  [DetailType.BakeRequested]:
    'Asks Bakehouse to bake a family: sent by its schedules, the CLI and other teams (accounts allowed by the bus policy).',
  [DetailType.BakeStarted]: 'The bake automation of a family started.',
  [DetailType.BakeSkipped]: 'The same bake key (source AMI and recipe) already produced an available AMI.',
  [DetailType.AmiBaked]: 'A new AMI is available.',
  [DetailType.BakeFailed]: 'A bake failed; the builder was cleaned up.',
  [DetailType.AmiTested]: 'The tests of a new AMI finished.',
  [DetailType.PromoteRequested]: 'Asks Bakehouse to move a channel to an AMI (manual promotion).',
  [DetailType.AmiPromoted]: 'A channel of a family now points at the AMI.',
  [DetailType.AmiRevoked]:
    'Asks Bakehouse to revoke an AMI: disable it and move the channels pointing at it back. Its outcome is Revocation Completed or Revocation Rejected.',
  [DetailType.RevocationCompleted]:
    'Revoke revoked an AMI (and, with cascade, the images built on it): the images disabled, the channels moved back and those stranded.',
  [DetailType.RevocationRejected]:
    'Revoke refused an AMI Revoked request: nothing was revoked; the reason names the field and the fix.',
  [DetailType.BakeRejected]:
    'StartBake refused a Bake Requested (malformed, or a family the deployment does not have): no bake starts; the reason names the field, fix says what to change.',
  [DetailType.PromotionRejected]:
    'Promote refused a promotion (Promote Requested, or AMI Baked, AMI Tested or Canary Judged): no channel moved; the reason names the field, fix says what to change.',
  [DetailType.JanitorReport]: 'A janitor run ended.',
  [DetailType.CanaryStarted]:
    "A canary of a tested AMI started: baseline instances (the canary channel's image) and canary instances (the new image) joined the family's Auto Scaling group in pairs.",
  [DetailType.CanaryJudged]:
    'A canary ended: its verdict (pass moves the canary channel to the AMI), the score and the per-metric scorecard, and what cleaning up its instances did.',
};

/** `AMI Promoted` → `ami-promoted`. */
export const kebabOf = (detailType: string): string =>
  detailType
    .trim()
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-|-$/g, '');

/**
 * The registry's schema name, as EventBridge names discovered schemas (`<source>@<DetailType>`):
 * `bakehouse@AMIPromoted`. Schema names allow `[A-Za-z0-9-_.@]` only.
 */
export const registrySchemaName = (detailType: string, source: string = DEFAULT_EVENT_SOURCE): string =>
  `${source.replace(/[^A-Za-z0-9\-_.]/g, '-')}@${detailType.replace(/[^A-Za-z0-9]/g, '')}`;

/**
 * This folder. When SST bundles the stacks into one file at the project root, `import.meta.url`
 * points there instead, so the root's `schemas/` folder is looked for as well.
 */
const schemasDir = (): string => {
  const here = dirname(fileURLToPath(import.meta.url));
  const candidates = [here, join(here, 'schemas'), join(process.cwd(), 'schemas')];
  return candidates.find((dir) => existsSync(join(dir, 'events'))) ?? here;
};

export const SCHEMAS_DIR = schemasDir();
export const EVENT_SCHEMAS_DIR = join(SCHEMAS_DIR, 'events');
export const EXAMPLES_DIR = join(SCHEMAS_DIR, 'examples');

/** `schemas/events/ami-promoted.json`, absolute. */
export const schemaFileOf = (detailType: ContractDetailType): string =>
  join(EVENT_SCHEMAS_DIR, `${kebabOf(detailType)}.json`);

export type JsonSchema = { readonly [key: string]: unknown };

const MAJOR = EVENT_VERSION.split('.')[0] as string;
/** The pattern zod gives `version`; the generator narrows it to the accepted major. */
const ZOD_VERSION_PATTERN = '^\\d+\\.\\d+$';
export const VERSION_PATTERN = `^${MAJOR}\\.\\d+$`;

/** The detail schema of a detail-type in draft-04, with the version rule as a pattern. */
export const detailJsonSchema = (detailType: ContractDetailType): Record<string, unknown> => {
  const { $schema: _dialect, ...schema } = z.toJSONSchema(detailSchemas[detailType] as z.ZodMiniType, {
    target: 'draft-04',
    // What a sender may send: a field with a default is optional.
    io: 'input',
  }) as Record<string, unknown>;
  const properties = schema.properties as Record<string, Record<string, unknown>> | undefined;
  const version = properties?.version;
  if (version?.pattern !== ZOD_VERSION_PATTERN) {
    throw new Error(
      `${detailType}: detail.version converted to ${JSON.stringify(version)}, not the 'major.minor' string the generator narrows to major ${MAJOR}; update schemas/event-schemas.ts`,
    );
  }
  properties!.version = {
    ...version,
    pattern: VERSION_PATTERN,
    description: `'major.minor': major ${MAJOR} is accepted with any minor (a newer minor only adds optional fields); another major is rejected.`,
  };
  return schema;
};

/** The whole EventBridge event of a detail-type, as its schema file holds it. */
export const eventJsonSchema = (detailType: ContractDetailType): Record<string, unknown> => ({
  $schema: JSON_SCHEMA_DRAFT_04,
  id: `urn:bakehouse:schemas:events:${kebabOf(detailType)}`,
  title: detailType,
  description: `${WHEN[detailType]} Published on the Bakehouse event bus with detail-type '${detailType}'; detail.version '${EVENT_VERSION}'.`,
  type: 'object',
  properties: {
    version: { type: 'string', enum: ['0'], description: "The EventBridge envelope's version, always '0'." },
    id: { type: 'string', minLength: 1 },
    'detail-type': { type: 'string', enum: [detailType] },
    source: {
      type: 'string',
      minLength: 1,
      description: `The deployment's settings.eventSource ('${DEFAULT_EVENT_SOURCE}' unless configured otherwise).`,
    },
    account: { type: 'string', pattern: '^\\d{12}$' },
    time: { type: 'string', pattern: '^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}(\\.\\d+)?Z$' },
    region: { type: 'string', minLength: 1 },
    resources: { type: 'array', items: { type: 'string' } },
    detail: detailJsonSchema(detailType),
  },
  required: ['version', 'id', 'detail-type', 'source', 'account', 'time', 'region', 'resources', 'detail'],
});

/** Every schema file's path and content, as `npm run schemas` writes them. */
export const generateSchemas = (): Map<string, Record<string, unknown>> =>
  new Map(CONTRACT_DETAIL_TYPES.map((detailType) => [schemaFileOf(detailType), eventJsonSchema(detailType)]));

/** The schema file of a detail-type as it is in the repository (what the stack deploys). */
export const readEventSchema = (detailType: ContractDetailType): JsonSchema =>
  JSON.parse(readFileSync(schemaFileOf(detailType), 'utf8')) as JsonSchema;

export const registryDescriptionOf = (detailType: ContractDetailType): string => WHEN[detailType];
