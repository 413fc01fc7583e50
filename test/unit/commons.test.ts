import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { mockClient } from 'aws-sdk-client-mock';
import fc from 'fast-check';
import { beforeEach, describe, expect, it } from 'vitest';
// Loaded as every Lambda bundle loads it: families.ts builds its schemas with the full zod, whose
// first schema installs English messages for all of zod, zod/mini included. The contract's wording
// must hold with them (it held only in a file that never loaded them: a bake request rejected by
// StartBake read `Invalid input: expected string, received number`, with no fix).
import '../../functions/commons/families';
import { readEnv, readIntEnv } from '../../functions/commons/env';
import { errorNameOf, messageOf } from '../../functions/commons/errors';
import {
  bakeRequestSchema,
  DetailType,
  describeIssues,
  janitorReportSchema,
  parseContract,
} from '../../functions/commons/events';
import { canonicalJson, sha256Hex, uuidFrom } from '../../functions/commons/hashing';
import { eachPage } from '../../functions/commons/pages';
import { publishEvent } from '../../functions/commons/publish';

const events = mockClient(EventBridgeClient);

beforeEach(() => {
  events.reset();
});

describe('bakeRequestSchema', () => {
  it('keeps every field a sender may give', () => {
    // Prepare
    const detail = {
      version: '1.0',
      family: 'al2023-base',
      reason: 'CVE-2026-0001',
      requestedBy: 'team-payments',
      idempotencyKey: 'payments:2026-01-14',
      force: true,
    };

    // Act
    const parsed = bakeRequestSchema.parse(structuredClone(detail));

    // Assess
    expect(parsed).toEqual(detail);
  });

  it('describes every problem as "field: problem", with (detail) for the whole detail', () => {
    // Prepare
    const missing = parseContract(bakeRequestSchema, { family: '', requestedBy: 'x' });
    const notAnObject = parseContract(bakeRequestSchema, 'al2023-base');

    // Act
    const described = [missing, notAnObject].map((r) => (r.success ? 'accepted' : describeIssues(r.error)));

    // Assess
    expect(described[0]).toBe('family: name the family to bake');
    expect(described[1]).toMatch(/^\(detail\): /);
  });

  it('words the checks the schema has no message for, each with a fix', () => {
    // Prepare
    const cases = [
      { family: 'f', requestedBy: 'x', colour: 'blue' },
      { family: 'f', requestedBy: 7 },
      { family: 'f', requestedBy: 'x', reason: 'r'.repeat(513) },
    ];

    // Act
    const described = cases.map((c) => {
      const result = parseContract(bakeRequestSchema, c);
      return result.success ? 'accepted' : describeIssues(result.error);
    });

    // Assess
    expect(described).toEqual([
      '(detail): unknown field(s) colour. Fix: remove them or correct the spelling',
      'requestedBy: must be a string (it is missing or of another type). Fix: send a string',
      'reason: must be at most 512 characters long',
    ]);
  });

  it('words an array, an object and a value outside an enum as a reader would', () => {
    // Act
    const result = parseContract(janitorReportSchema, {
      deregistered: 'ami-0123456789abcdef0',
      kept: 3,
      items: [{ kind: 'image', id: 'ami-0123456789abcdef0', family: null, action: 'exploded', reason: 'r' }],
    });
    const described = result.success ? [] : describeIssues(result.error).split('; ');

    // Assess
    expect(described).toContain(
      'deregistered: must be an array (it is missing or of another type). Fix: send an array',
    );
    expect(described).toContain('kept: must be an object (it is missing or of another type). Fix: send an object');
    expect(described).toContain(
      'items.0.action: must be one of "kept", "marked", "deprecated", "disabled", "deregistered", "deleted", "unmarked", "failed"',
    );
  });

  it('rejects a version that is not major.minor', () => {
    // Act
    const result = parseContract(bakeRequestSchema, { version: '1', family: 'f', requestedBy: 'x' });

    // Assess
    expect(result.success).toBe(false);
    expect(result.success ? '' : describeIssues(result.error)).toContain("version: use 'major.minor'");
  });
});

describe('hashing', () => {
  it('canonicalJson sorts keys at every level and keeps array order', () => {
    // Act
    const text = canonicalJson({ b: 1, a: { d: [3, { z: 1, y: 2 }], c: null } });

    // Assess
    expect(text).toBe('{"a":{"c":null,"d":[3,{"y":2,"z":1}]},"b":1}');
  });

  it('canonicalJson is the same for any key order of the same value', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string(), fc.jsonValue()), (value) => {
        // Prepare
        const reversed = Object.fromEntries(Object.entries(value).reverse());

        // Act / Assess
        expect(canonicalJson(reversed)).toBe(canonicalJson(value));
      }),
    );
  });

  it('sha256Hex is the hex digest of the text', () => {
    // Act
    const digest = sha256Hex('abc');

    // Assess
    expect(digest).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });

  it('uuidFrom gives a version-5-shaped UUID, stable for the same text', () => {
    fc.assert(
      fc.property(fc.string(), fc.string(), (a, b) => {
        fc.pre(a !== b);

        // Act
        const id = uuidFrom(a);

        // Assess
        expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
        expect(uuidFrom(a)).toBe(id);
        expect(uuidFrom(b)).not.toBe(id);
      }),
    );
  });
});

describe('readEnv', () => {
  it('returns the named variables', () => {
    // Act
    const env = readEnv(['EVENT_BUS_NAME', 'STATE_MACHINE_ARN'], {
      EVENT_BUS_NAME: 'bus',
      STATE_MACHINE_ARN: 'arn',
      OTHER: 'x',
    });

    // Assess
    expect(env).toEqual({ EVENT_BUS_NAME: 'bus', STATE_MACHINE_ARN: 'arn' });
  });

  it('names every missing or empty variable at once, with the fix', () => {
    // Act
    const act = () =>
      readEnv(['EVENT_BUS_NAME', 'STATE_MACHINE_ARN', 'AWS_REGION'], { AWS_REGION: 'eu-west-1', EVENT_BUS_NAME: '' });

    // Assess
    expect(act).toThrow(
      expect.objectContaining({
        name: 'MissingEnvironmentError',
        message:
          'missing environment variable(s) EVENT_BUS_NAME, STATE_MACHINE_ARN. Fix: deploy through the Bakehouse stack, which sets them',
      }),
    );
  });

  it.each(['0', '-5', '1.5', 'ten', ''])('readIntEnv refuses %j', (value) => {
    // Act
    const act = () => readIntEnv(value, 'AUTOMATION_WAIT_SECONDS');

    // Assess
    expect(act).toThrow(`AUTOMATION_WAIT_SECONDS must be a positive integer, got '${value}'`);
  });

  it('readIntEnv reads a positive integer', () => {
    // Act
    const value = readIntEnv('600', 'AUTOMATION_WAIT_SECONDS');

    // Assess
    expect(value).toBe(600);
  });
});

describe('errors', () => {
  it('errorNameOf reads the name of an Error, of an error-shaped object, and of nothing else', () => {
    // Act
    const names = [
      errorNameOf(Object.assign(new Error('x'), { name: 'ParameterNotFound' })),
      errorNameOf({ name: 'TaskTimedOut' }),
      errorNameOf('boom'),
      errorNameOf(null),
    ];

    // Assess
    expect(names).toEqual(['ParameterNotFound', 'TaskTimedOut', undefined, undefined]);
  });

  it('messageOf reads the message of an Error and stringifies anything else', () => {
    // Act
    const messages = [messageOf(new Error('disk full')), messageOf(42)];

    // Assess
    expect(messages).toEqual(['disk full', '42']);
  });
});

describe('publishEvent', () => {
  it('puts one entry on the bus with the source, the detail-type and the JSON detail', async () => {
    // Prepare
    events.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [{ EventId: 'evt-9' }] });

    // Act
    const id = await publishEvent(
      new EventBridgeClient({}),
      { busName: 'bus', source: 'bakehouse' },
      DetailType.BakeSkipped,
      {
        version: '1.0',
        bakeId: 'b',
      },
    );

    // Assess
    expect(id).toBe('evt-9');
    expect(events).toHaveReceivedCommandExactlyOnceWith(PutEventsCommand, {
      Entries: [
        {
          EventBusName: 'bus',
          Source: 'bakehouse',
          DetailType: 'Bake Skipped',
          Detail: '{"version":"1.0","bakeId":"b"}',
        },
      ],
    });
  });

  it('treats an answer without an event id as a failure', async () => {
    // Prepare
    events.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [] });

    // Act
    const act = publishEvent(
      new EventBridgeClient({}),
      { busName: 'bus', source: 'bakehouse' },
      DetailType.AmiBaked,
      {},
    );

    // Assess
    await expect(act).rejects.toMatchObject({
      name: 'PublishError',
      message: "could not put 'AMI Baked' on bus: unknown",
    });
  });
});

describe('eachPage', () => {
  it('follows NextToken until a page has none', async () => {
    // Prepare
    const tokens: (string | undefined)[] = [];
    const pages: Record<string, { items: number[]; NextToken?: string }> = {
      start: { items: [1], NextToken: 'a' },
      a: { items: [2], NextToken: 'b' },
      b: { items: [3] },
    };

    // Act
    const seen: number[] = [];
    for await (const page of eachPage(async (token) => {
      tokens.push(token);
      return pages[token ?? 'start'] ?? { items: [] };
    })) {
      seen.push(...page.items);
    }

    // Assess
    expect(seen).toEqual([1, 2, 3]);
    expect(tokens).toEqual([undefined, 'a', 'b']);
  });

  it('stops when a service hands back the token it was given', async () => {
    // Prepare
    let calls = 0;

    // Act
    for await (const _page of eachPage(async () => {
      calls += 1;
      return { NextToken: 'same' };
    })) {
      if (calls > 5) break;
    }

    // Assess
    expect(calls).toBe(2);
  });
});
