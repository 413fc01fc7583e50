/**
 * The public event contract's JSON Schema files: generated from `detailSchemas` (stale files fail
 * here), draft-04 for the EventBridge schema registry, and in agreement with zod: every valid and
 * invalid detail of the table below gets the same verdict from `parseEvent` and from a JSON Schema
 * validator (Ajv, draft-04) reading the file.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseEvent } from '../../functions/commons/contract';
import { InvalidEventError } from '../../functions/commons/errors';
import { DetailType, detailSchemas } from '../../functions/commons/events';
import {
  CONTRACT_DETAIL_TYPES,
  type ContractDetailType,
  EVENT_SCHEMAS_DIR,
  EXAMPLES_DIR,
  generateSchemas,
  JSON_SCHEMA_DRAFT_04,
  kebabOf,
  readEventSchema,
  registrySchemaName,
  schemaFileOf,
} from '../../schemas/event-schemas';
import { createEventValidator } from '../../schemas/validator';

type Detail = Record<string, unknown>;

const AMI = 'ami-0fedcba9876543210';
const OTHER_AMI = 'ami-0123456789abcdef0';
const BAKE_ID = 'al2023-base-7d1e4c2a9b8f6e5d4c3b2a1908f7e6d5';
const BAKE_KEY = 'b7a3c1d9e5f20486a1c3e5f7092b4d6f8a0c2e4f6a8b0d2f4e6a8c0e2f4a6b8d';
const AUTOMATION = '4b1c9e0a-6f2d-4a53-9d7e-2c8b1f0e3a64';

/** One valid detail per detail-type, with every field the schema knows. */
const VALID: Record<ContractDetailType, Detail> = {
  [DetailType.BakeRequested]: {
    version: '1.0',
    family: 'al2023-base',
    reason: 'CVE fix',
    requestedBy: 'team-payments',
    idempotencyKey: 'payments:cve-1',
    force: true,
  },
  [DetailType.BakeStarted]: {
    version: '1.0',
    bakeId: BAKE_ID,
    family: 'al2023-base',
    sourceAmiId: OTHER_AMI,
    bakeKey: BAKE_KEY,
    automationExecutionId: AUTOMATION,
  },
  [DetailType.BakeSkipped]: {
    version: '1.0',
    bakeId: BAKE_ID,
    family: 'al2023-base',
    amiId: AMI,
    bakeKey: BAKE_KEY,
    sourceAmiId: OTHER_AMI,
  },
  [DetailType.AmiBaked]: {
    version: '1.0',
    bakeId: BAKE_ID,
    family: 'al2023-web',
    os: 'linux',
    amiId: AMI,
    region: 'us-east-1',
    name: 'bakehouse/al2023-web/20261122T030005Z-3c91aa',
    sourceAmiId: OTHER_AMI,
    bakeKey: BAKE_KEY,
    parentFamily: 'al2023-base',
    durationSeconds: 1260,
    automationExecutionId: AUTOMATION,
    outputs: { 'createImage.ImageId': [AMI] },
    release: { policy: 'latest', target: '2023.9.20261122.0', before: '2023.9.20261101.0', after: '2023.9.20261122.0' },
  },
  [DetailType.BakeFailed]: {
    version: '1.0',
    bakeId: BAKE_ID,
    family: 'al2023-base',
    failedStep: null,
    reason: 'yum exited with 1',
    automationExecutionId: AUTOMATION,
    cleanup: {
      errors: [{ step: 'terminate builders', resource: 'i-0b0b0b0b0b0b0b0b0', error: 'UnauthorizedOperation: denied' }],
      builderTerminated: false,
    },
  },
  [DetailType.AmiTested]: {
    version: '1.0',
    bakeId: BAKE_ID,
    family: 'al2023-base',
    amiId: AMI,
    passed: false,
    results: [
      { name: 'sshd running', passed: true },
      { name: 'port 443 open', passed: false, output: 'connection refused' },
    ],
    testExecutionId: null,
  },
  [DetailType.PromoteRequested]: {
    version: '1.0',
    family: 'al2023-base',
    channel: 'stable',
    amiId: AMI,
    requestedBy: 'cli:alice',
    reason: 'hotfix',
  },
  [DetailType.AmiPromoted]: {
    version: '1.0',
    bakeId: null,
    family: 'al2023-base',
    amiId: AMI,
    channel: 'dev',
    previousAmiId: null,
    cause: 'baked',
    promotedBy: 'bakehouse:baked',
    targets: {
      parameter: '/bakehouse/al2023-base/dev',
      launchTemplates: [{ id: 'lt-0abc1234def567890', version: 3, isDefault: false }],
      autoScalingGroups: [{ name: 'web', instanceRefreshId: null }],
      regions: [],
      accounts: [],
    },
    outdatedChildren: [{ family: 'al2023-web', amiId: null }],
  },
  [DetailType.AmiRevoked]: {
    version: '1.0',
    amiId: AMI,
    reason: 'leaked key in the image',
    requestedBy: 'team-security',
    cascade: true,
  },
  [DetailType.RevocationCompleted]: {
    version: '1.0',
    requestEventId: '7bf73129-1428-4cd3-a780-95db273d1602',
    amiId: AMI,
    family: 'al2023-base',
    reason: 'leaked key in the image',
    requestedBy: 'team-security',
    cascade: true,
    revoked: [AMI, OTHER_AMI],
    channelsMoved: [{ family: 'al2023-base', channel: 'stable', from: AMI, to: 'ami-00000000000000001' }],
    stranded: [{ family: 'al2023-web', channel: 'stable', amiId: OTHER_AMI }],
  },
  [DetailType.RevocationRejected]: {
    version: '1.0',
    requestEventId: '7bf73129-1428-4cd3-a780-95db273d1602',
    amiId: AMI,
    requestedBy: 'team-security',
    reason: `rejected AMI Revoked 7bf73129: amiId: ${AMI} is not a Bakehouse image`,
  },
  [DetailType.BakeRejected]: {
    version: '1.0',
    requestEventId: '0d6f1e2a-3b4c-4d5e-8f60-718293a4b5c6',
    family: 'al2023-ghost',
    idempotencyKey: 'cli:alice:2026-12-05',
    requestedBy: 'cli:alice',
    bakeId: 'al2023-ghost-7d1e4c2a9b8f6e5d4c3b2a1908f7e6d5',
    reason: "family: no family named 'al2023-ghost' in this deployment",
    fix: 'use one of al2023-base, al2023-web',
  },
  [DetailType.PromotionRejected]: {
    version: '1.0',
    requestEventId: '1e7a2f3b-4c5d-4e6f-8a7b-8c9d0e1f2a3b',
    requestDetailType: 'Promote Requested',
    family: 'al2023-web',
    channel: 'stable',
    amiId: AMI,
    requestedBy: 'cli:alice',
    bakeId: null,
    reason: `refused to promote ${AMI} to al2023-web/stable: it belongs to family 'al2023-base'`,
    fix: "promote an image of family 'al2023-web'",
  },
  [DetailType.JanitorReport]: {
    version: '1.0',
    runId: 'janitor-2026-11-22',
    dryRun: true,
    deregistered: [AMI],
    snapshotsDeleted: ['snap-0123456789abcdef0'],
    completed: true,
    stoppedBecause: null,
    kept: { newest: 3, 'in-use': 1 },
    counts: { deregistered: 1, deleted: 1, kept: 4 },
    items: [
      { kind: 'image', id: AMI, family: 'al2023-base', action: 'deregistered', reason: 'unused for 30 days' },
      { kind: 'image', id: OTHER_AMI, family: 'al2023-base', action: 'kept', reason: 'in-use: instance' },
    ],
    itemsTruncated: false,
    errors: [{ resource: OTHER_AMI, error: 'AccessDenied' }],
    durationSeconds: 12.5,
  },
  [DetailType.CanaryStarted]: {
    version: '1.0',
    canaryId: 'canary-al2023-web-7d1e4c2a',
    executionArn: 'arn:aws:states:us-east-1:123456789012:execution:bakehouse-dev-canary:canary-al2023-web-7d1e4c2a',
    family: 'al2023-web',
    channel: 'prod',
    amiId: AMI,
    baselineAmiId: OTHER_AMI,
    bakeId: BAKE_ID,
    autoScalingGroup: 'bakehouse-example-web',
    pairs: 2,
    instances: {
      baseline: ['i-0a0a0a0a0a0a0a0a0', 'i-0b0b0b0b0b0b0b0b0'],
      canary: ['i-0c0c0c0c0c0c0c0c0', 'i-0d0d0d0d0d0d0d0d0'],
    },
    warmupMinutes: 10,
    analysisMinutes: 30,
    intervalMinutes: 10,
  },
  [DetailType.CanaryJudged]: {
    version: '1.0',
    canaryId: 'canary-al2023-web-7d1e4c2a',
    executionArn: 'arn:aws:states:us-east-1:123456789012:execution:bakehouse-dev-canary:canary-al2023-web-7d1e4c2a',
    family: 'al2023-web',
    channel: 'prod',
    amiId: AMI,
    baselineAmiId: OTHER_AMI,
    bakeId: BAKE_ID,
    verdict: 'fail',
    score: 0,
    reason: 'latency (critical) is 40% higher on the canary (p=0.002).',
    intervalsJudged: 3,
    failedCritical: ['latency'],
    metrics: [
      {
        name: 'latency',
        classification: 'High',
        passed: false,
        critical: true,
        weight: 2,
        baselineMedian: 120,
        canaryMedian: 168,
        change: 1.4,
        pValue: 0.002,
        baselineCount: 60,
        canaryCount: 60,
      },
    ],
    cleanup: { errors: [], instancesTerminated: 4 },
  },
};

/** Requests from outside take no unknown field; Bakehouse's own events ignore one. */
const STRICT: readonly ContractDetailType[] = [
  DetailType.BakeRequested,
  DetailType.PromoteRequested,
  DetailType.AmiRevoked,
];

const envelope = (detailType: string, detail: unknown) => ({
  version: '0',
  id: 'c7d1f1d2-7f35-4b8e-9d61-9e0d6f7a3b21',
  'detail-type': detailType,
  source: 'bakehouse',
  account: '123456789012',
  time: '2026-11-22T03:21:05Z',
  region: 'us-east-1',
  resources: [],
  detail,
});

const validate = createEventValidator();

/** Both verdicts on one detail, and zod's message. */
const verdicts = (detailType: ContractDetailType, detail: unknown) => {
  const event = envelope(detailType, detail);
  const json = validate(detailType, event);
  let zodMessage: string | undefined;
  try {
    parseEvent(event, [detailType]);
  } catch (error) {
    if (!(error instanceof InvalidEventError)) throw error;
    zodMessage = error.message;
  }
  return { zod: zodMessage === undefined, json: json.valid, zodMessage, jsonErrors: json.errors };
};

interface Case {
  readonly name: string;
  readonly detail: Detail;
  readonly valid: boolean;
  /** The field the rejection must name. */
  readonly field?: string;
}

const without = (detail: Detail, field: string): Detail => {
  const copy = structuredClone(detail);
  delete copy[field];
  return copy;
};

/** A value of another JSON type than `value`. */
const wrongTypeFor = (value: unknown): unknown => (value !== null && typeof value === 'object' ? 42 : { wrong: true });

const casesFor = (detailType: ContractDetailType): Case[] => {
  const valid = VALID[detailType];
  const required = (readEventSchema(detailType).properties as { detail: { required?: string[] } }).detail.required;
  return [
    { name: 'valid', detail: structuredClone(valid), valid: true },
    { name: 'a newer minor version', detail: { ...structuredClone(valid), version: '1.7' }, valid: true },
    { name: 'another major version', detail: { ...structuredClone(valid), version: '2.0' }, valid: false },
    { name: 'a version that is not major.minor', detail: { ...structuredClone(valid), version: '1' }, valid: false },
    ...(required ?? []).map((field) => ({
      name: `missing ${field}`,
      detail: without(valid, field),
      valid: false,
      field,
    })),
    ...Object.keys(valid).map((field) => ({
      name: `${field} of the wrong type`,
      detail: { ...structuredClone(valid), [field]: wrongTypeFor(valid[field]) },
      valid: false,
      field,
    })),
    {
      name: 'an unknown field',
      detail: { ...structuredClone(valid), addedInSomeFutureMinor: 'x' },
      valid: !STRICT.includes(detailType),
    },
  ];
};

describe('the schema files', () => {
  it('exist for every detail-type of detailSchemas, and for nothing else', () => {
    // Act
    const files = readdirSync(EVENT_SCHEMAS_DIR).filter((name) => name.endsWith('.json'));

    // Assess
    expect(files.sort()).toEqual(
      Object.keys(detailSchemas)
        .map((type) => `${kebabOf(type)}.json`)
        .sort(),
    );
    expect(files).toContain('ami-promoted.json');
    expect(files).toContain('bake-requested.json');
  });

  it.each(CONTRACT_DETAIL_TYPES)('%s: the file is what npm run schemas generates (run it when this fails)', (type) => {
    // Prepare
    const generated = generateSchemas().get(schemaFileOf(type));

    // Act
    const onDisk: unknown = JSON.parse(readFileSync(schemaFileOf(type), 'utf8'));

    // Assess
    expect(onDisk).toEqual(generated);
  });

  it.each(CONTRACT_DETAIL_TYPES)('%s: draft-04 with id, title, description and the detail-type pinned', (type) => {
    // Act
    const schema = readEventSchema(type);

    // Assess
    expect(schema).toMatchObject({
      $schema: JSON_SCHEMA_DRAFT_04,
      id: `urn:bakehouse:schemas:events:${kebabOf(type)}`,
      title: type,
      type: 'object',
      properties: { 'detail-type': { enum: [type] }, detail: { type: 'object' } },
    });
    expect(String(schema.description).length).toBeGreaterThan(20);
    // Draft-04 has neither keyword; a validator of that draft would ignore them.
    expect(JSON.stringify(schema)).not.toMatch(/"\$id"|"const"|"propertyNames"|"\$defs"/);
  });

  it('names each registry schema as EventBridge allows ([A-Za-z0-9-_.@], 385 at most), all different', () => {
    // Act
    const names = CONTRACT_DETAIL_TYPES.map((type) => registrySchemaName(type));

    // Assess
    expect(names).toContain('bakehouse@AMIPromoted');
    expect(names).toContain('bakehouse@BakeRequested');
    for (const name of names) expect(name).toMatch(/^[A-Za-z0-9\-_.@]{1,385}$/);
    expect(new Set(names).size).toBe(names.length);
    expect(registrySchemaName(DetailType.AmiPromoted, 'com.example/bakehouse')).toBe(
      'com.example-bakehouse@AMIPromoted',
    );
  });
});

describe.each(CONTRACT_DETAIL_TYPES)('%s: zod and the JSON Schema file agree', (type) => {
  const cases = casesFor(type);

  it('has at least three invalid cases and a newer minor version', () => {
    // Assess
    expect(cases.filter((c) => !c.valid).length).toBeGreaterThanOrEqual(3);
    expect(cases.some((c) => c.name === 'a newer minor version' && c.valid)).toBe(true);
  });

  it.each(cases)('$name: valid=$valid for both', ({ detail, valid, field }) => {
    // Act
    const got = verdicts(type, detail);

    // Assess
    expect({ zod: got.zod, json: got.json }, `${got.zodMessage ?? ''} | ${got.jsonErrors.join('; ')}`).toEqual({
      zod: valid,
      json: valid,
    });
    if (field) {
      expect(got.zodMessage).toContain(`${field}:`);
      expect(got.jsonErrors.join('; ')).toContain(field);
    }
  });
});

describe('the README examples', () => {
  const examples = readdirSync(EXAMPLES_DIR).filter((name) => name.endsWith('.json'));

  it('are there for Bake Requested and AMI Promoted', () => {
    // Assess
    expect(examples.sort()).toEqual(['ami-promoted.json', 'bake-requested.json']);
  });

  it.each(examples)('%s validates against its schema file and parses with parseEvent', (name) => {
    // Prepare
    const event = JSON.parse(readFileSync(join(EXAMPLES_DIR, name), 'utf8')) as { 'detail-type': ContractDetailType };
    const type = event['detail-type'];

    // Act
    const json = validate(type, event);
    const parsed = parseEvent(event, [type]);

    // Assess
    expect(kebabOf(type)).toBe(name.replace(/\.json$/, ''));
    expect(json.errors).toEqual([]);
    expect(json.valid).toBe(true);
    expect(parsed.detailType).toBe(type);
  });

  it.each(CONTRACT_DETAIL_TYPES)('%s is in the README table with its schema file and registry name', (type) => {
    // Prepare
    const readme = readFileSync(join(EVENT_SCHEMAS_DIR, '..', '..', 'README.md'), 'utf8');

    // Act
    const row = readme.split('\n').find((line) => line.startsWith(`| \`${type}\` | [\`schemas/events/`));

    // Assess
    expect(row).toContain(`[\`schemas/events/${kebabOf(type)}.json\`](schemas/events/${kebabOf(type)}.json)`);
    expect(row).toContain(`\`${registrySchemaName(type)}\``);
  });

  it.each(examples)('%s is the example the README shows', (name) => {
    // Prepare
    const example: unknown = JSON.parse(readFileSync(join(EXAMPLES_DIR, name), 'utf8'));
    const readme = readFileSync(join(EVENT_SCHEMAS_DIR, '..', '..', 'README.md'), 'utf8');

    // Act
    const blocks = [...readme.matchAll(/```json\n([\s\S]*?)```/g)].flatMap((match) => {
      try {
        return [JSON.parse(match[1] as string) as unknown];
      } catch {
        return [];
      }
    });

    // Assess
    expect(blocks).toContainEqual(example);
  });
});
