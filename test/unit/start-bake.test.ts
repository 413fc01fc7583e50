import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import fc from 'fast-check';
import { beforeEach, describe, expect, it } from 'vitest';
import { bakeIdFor } from '../../functions/commons/bake-id';
import {
  type BakeRequestedEvent,
  type StartBakeDeps,
  startBake,
  validateBakeRequest,
} from '../../functions/start-bake/core';
import { awsError, bakeConfig, recordingLogger, STATE_MACHINE_ARN } from './support/bake-factories';

const sfn = mockClient(SFNClient);
const events = mockClient(EventBridgeClient);
const BUS = 'bakehouse-test';

const startDeps = (overrides: Partial<StartBakeDeps> = {}): StartBakeDeps => ({
  config: bakeConfig(),
  sfn: new SFNClient({}),
  stateMachineArn: STATE_MACHINE_ARN,
  logger: recordingLogger(),
  events: new EventBridgeClient({}),
  eventTarget: { busName: BUS, source: 'bakehouse' },
  ...overrides,
});

/** The details of the events put of `detailType`. */
const published = (detailType: string): Record<string, unknown>[] =>
  events
    .commandCalls(PutEventsCommand)
    .flatMap((c) => c.args[0].input.Entries ?? [])
    .filter((e) => e.DetailType === detailType)
    .map((e) => JSON.parse(e.Detail ?? '{}') as Record<string, unknown>);

const bakeRequested = (
  detail: Record<string, unknown> = {},
  id = '6f0e3c7a-1b2d-4e5f-8a9b-0c1d2e3f4a5b',
): BakeRequestedEvent => ({
  id,
  source: 'bakehouse',
  'detail-type': 'Bake Requested',
  detail: { family: 'al2023-base', requestedBy: 'cli:alice', reason: 'new agent', ...detail },
});

const EXECUTION_PREFIX = 'arn:aws:states:eu-west-1:111122223333:execution:bakehouse-bake:';

beforeEach(() => {
  sfn.reset();
  events.reset();
  events.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [{ EventId: 'rejected-1' }] });
});

describe('bakeIdFor', () => {
  const lower = 'abcdefghijklmnopqrstuvwxyz';
  const familyName = fc
    .tuple(
      fc.constantFrom(...lower),
      fc.string({ unit: fc.constantFrom(...`${lower}0123456789-`), minLength: 1, maxLength: 38, size: 'max' }),
      fc.constantFrom(...`${lower}0123456789`),
    )
    .map(([first, middle, last]) => `${first}${middle}${last}`);

  it('is a valid Step Functions execution name of at most 80 characters', () => {
    fc.assert(
      fc.property(familyName, fc.string({ minLength: 1, maxLength: 256 }), (family, key) => {
        // Act
        const bakeId = bakeIdFor(family, key);

        // Assess
        expect(bakeId.length).toBeLessThanOrEqual(80);
        expect(bakeId).toMatch(/^[A-Za-z0-9_-]+$/);
        expect(bakeId.startsWith(`${family}-`)).toBe(true);
      }),
    );
  });

  it('fits the longest family name a config allows into 80 characters', () => {
    // Prepare
    const longest = `f${'a'.repeat(38)}z`;

    // Act
    const bakeId = bakeIdFor(longest, 'k'.repeat(256));

    // Assess
    expect(longest).toHaveLength(40);
    expect(bakeId.length).toBeLessThanOrEqual(80);
  });

  it('is the same for the same family and key, and differs when either changes', () => {
    fc.assert(
      fc.property(familyName, familyName, fc.string(), fc.string(), (familyA, familyB, keyA, keyB) => {
        fc.pre(familyA !== familyB && keyA !== keyB);

        // Act
        const id = bakeIdFor(familyA, keyA);

        // Assess
        expect(bakeIdFor(familyA, keyA)).toBe(id);
        expect(bakeIdFor(familyA, keyB)).not.toBe(id);
        expect(bakeIdFor(familyB, keyA)).not.toBe(id);
      }),
    );
  });
});

describe('validateBakeRequest', () => {
  it('fills in the defaults of a minimal request', () => {
    // Act
    const request = validateBakeRequest({ family: 'al2023-base', requestedBy: 'team-payments' }, bakeConfig());

    // Assess
    expect(request).toEqual({
      version: '1.0',
      family: 'al2023-base',
      requestedBy: 'team-payments',
      reason: 'requested',
      force: false,
    });
  });

  it.each([
    ['no requestedBy', { family: 'al2023-base' }, 'requestedBy'],
    ['an unknown field', { family: 'al2023-base', requestedBy: 'x', priority: 'high' }, 'priority'],
    [
      'an idempotency key with spaces',
      { family: 'al2023-base', requestedBy: 'x', idempotencyKey: 'a b' },
      'idempotencyKey',
    ],
    ['force as a string', { family: 'al2023-base', requestedBy: 'x', force: 'yes' }, 'force'],
  ])('rejects a request with %s, naming the field', (_what, detail, field) => {
    // Act
    const act = () => validateBakeRequest(detail, bakeConfig());

    // Assess
    expect(act).toThrow(
      expect.objectContaining({ name: 'InvalidBakeRequestError', message: expect.stringContaining(`${field}`) }),
    );
    expect(act).toThrow(/^rejected Bake Requested: /);
  });

  it('words each rejection with its fix, in the handler as it is bundled (with the full zod loaded)', () => {
    // Act: bakeConfig() built the configuration with the full zod, as the bundle does at cold start
    const act = () => validateBakeRequest({ family: 'al2023-base', requestedBy: 7, priority: 'high' }, bakeConfig());

    // Assess
    expect(act).toThrow(
      'rejected Bake Requested: requestedBy: must be a string (it is missing or of another type). Fix: send a string; ' +
        '(detail): unknown field(s) priority. Fix: remove them or correct the spelling',
    );
  });

  it('rejects another major version with the version it accepts as the fix', () => {
    // Act
    const act = () => validateBakeRequest({ version: '2.0', family: 'al2023-base', requestedBy: 'x' }, bakeConfig());

    // Assess
    expect(act).toThrow("version: this Bakehouse accepts major version 1. Fix: send detail.version '1.0'");
  });

  it('accepts a newer minor version of the same major', () => {
    // Act
    const request = validateBakeRequest({ version: '1.7', family: 'al2023-base', requestedBy: 'x' }, bakeConfig());

    // Assess
    expect(request.version).toBe('1.7');
  });

  it('rejects an unknown family, naming the family and the fix', () => {
    // Act
    const act = () => validateBakeRequest({ family: 'al2022-base', requestedBy: 'x' }, bakeConfig());

    // Assess
    expect(act).toThrow(
      expect.objectContaining({
        name: 'UnknownFamilyError',
        message: expect.stringMatching(
          /family: no family named 'al2022-base' in this deployment\. Fix: use one of al2023-base, /,
        ),
      }),
    );
  });
});

describe('startBake', () => {
  it('starts one execution named after the family and the idempotency key', async () => {
    // Prepare
    sfn.on(StartExecutionCommand).resolves({ executionArn: `${EXECUTION_PREFIX}from-sfn`, startDate: new Date() });

    // Act
    const result = await startBake(bakeRequested({ idempotencyKey: 'ticket-42' }), startDeps());

    // Assess
    const bakeId = bakeIdFor('al2023-base', 'ticket-42');
    expect(result).toEqual({ status: 'started', bakeId, executionArn: `${EXECUTION_PREFIX}from-sfn` });
    expect(sfn).toHaveReceivedCommandExactlyOnceWith(StartExecutionCommand, {
      stateMachineArn: STATE_MACHINE_ARN,
      name: bakeId,
    });
  });

  it('passes the validated request, with its defaults, as the execution input', async () => {
    // Prepare
    sfn.on(StartExecutionCommand).resolves({ executionArn: `${EXECUTION_PREFIX}x` });

    // Act
    await startBake(bakeRequested({ idempotencyKey: 'ticket-42' }), startDeps());

    // Assess
    const input = JSON.parse(sfn.commandCalls(StartExecutionCommand)[0]?.args[0].input.input ?? '{}');
    expect(input).toEqual({
      version: '1.0',
      family: 'al2023-base',
      requestedBy: 'cli:alice',
      reason: 'new agent',
      idempotencyKey: 'ticket-42',
      force: false,
    });
  });

  it('uses the event id as the idempotency key when the sender gave none, so a redelivery starts nothing new', async () => {
    // Prepare
    sfn.on(StartExecutionCommand).resolves({ executionArn: `${EXECUTION_PREFIX}x` });
    const event = bakeRequested();

    // Act
    const first = await startBake(event, startDeps());
    const redelivered = await startBake(structuredClone(event), startDeps());

    // Assess
    expect(redelivered.bakeId).toBe(first.bakeId);
    expect(first.bakeId).toBe(bakeIdFor('al2023-base', `event:${event.id}`));
    expect(sfn).toHaveReceivedCommandWith(StartExecutionCommand, {
      input: expect.stringContaining(`"idempotencyKey":"event:${event.id}"`),
    });
  });

  it('reports a duplicate, with the execution it would have started, when the name is taken', async () => {
    // Prepare
    sfn.on(StartExecutionCommand).rejects(awsError('ExecutionAlreadyExists'));
    const logger = recordingLogger();

    // Act
    const result = await startBake(bakeRequested({ idempotencyKey: 'ticket-42' }), startDeps({ logger }));

    // Assess
    const bakeId = bakeIdFor('al2023-base', 'ticket-42');
    expect(result).toEqual({ status: 'duplicate', bakeId, executionArn: `${EXECUTION_PREFIX}${bakeId}` });
    expect(logger.info).toHaveBeenCalledWith(expect.stringContaining('duplicate'), expect.objectContaining({ bakeId }));
  });

  it('lets other Step Functions errors through, so EventBridge retries the event', async () => {
    // Prepare
    sfn.on(StartExecutionCommand).rejects(awsError('ThrottlingException'));

    // Act
    const act = startBake(bakeRequested(), startDeps());

    // Assess
    await expect(act).rejects.toMatchObject({ name: 'ThrottlingException' });
  });

  it('starts nothing for an invalid request', async () => {
    // Act
    const act = startBake(bakeRequested({ family: 'no-such-family' }), startDeps());

    // Assess
    await expect(act).rejects.toMatchObject({ name: 'UnknownFamilyError' });
    expect(sfn).not.toHaveReceivedAnyCommand();
  });
});

describe('a refused request', () => {
  it('is answered with Bake Rejected: the request as given, the bake id it would have had, the reason and the fix', async () => {
    // Act
    const act = startBake(bakeRequested({ family: 'al2023-ghost', idempotencyKey: 'ticket-9' }, 'req-1'), startDeps());

    // Assess: still thrown, so the request lands in the queue of rejected requests
    await expect(act).rejects.toMatchObject({ name: 'UnknownFamilyError' });
    expect(events).toHaveReceivedCommandWith(PutEventsCommand, {
      Entries: [expect.objectContaining({ EventBusName: BUS, Source: 'bakehouse', DetailType: 'Bake Rejected' })],
    });
    expect(published('Bake Rejected')).toEqual([
      {
        version: '1.0',
        requestEventId: 'req-1',
        family: 'al2023-ghost',
        idempotencyKey: 'ticket-9',
        requestedBy: 'cli:alice',
        bakeId: bakeIdFor('al2023-ghost', 'ticket-9'),
        reason: "family: no family named 'al2023-ghost' in this deployment",
        fix: expect.stringMatching(/^use one of al2023-base, .*deploy the configuration that declares 'al2023-ghost'/),
      },
    ]);
    expect(sfn).not.toHaveReceivedAnyCommand();
  });

  it('names the bake by the event id when the request has no idempotency key, as StartBake would have', async () => {
    // Act
    await startBake(bakeRequested({ family: 'al2023-ghost' }, 'req-2'), startDeps()).catch(() => undefined);

    // Assess
    expect(published('Bake Rejected')[0]).toMatchObject({
      idempotencyKey: null,
      bakeId: bakeIdFor('al2023-ghost', 'event:req-2'),
    });
  });

  it('that breaks the contract is answered with each field and each fix, once', async () => {
    // Act
    const act = startBake(
      { id: 'req-3', source: 'team-x', 'detail-type': 'Bake Requested', detail: { family: 7, extra: true } },
      startDeps(),
    );

    // Assess
    await expect(act).rejects.toMatchObject({ name: 'InvalidBakeRequestError' });
    const [rejected] = published('Bake Rejected');
    expect(rejected).toMatchObject({ requestEventId: 'req-3', family: null, requestedBy: null, bakeId: null });
    expect(rejected?.reason).toMatch(/^family: .*string.*; requestedBy: .*; \(detail\): .*extra/);
    expect(rejected?.fix).toBe('send a string; remove them or correct the spelling');
  });

  it('that breaks the contract is answered with a fix to fall back on when the issues name none', async () => {
    // Act: the schema's own message for an empty family names no fix
    const act = startBake(
      { id: 'req-4', source: 'team-x', 'detail-type': 'Bake Requested', detail: { family: '', requestedBy: 'x' } },
      startDeps(),
    );

    // Assess
    await expect(act).rejects.toMatchObject({ name: 'InvalidBakeRequestError' });
    const [rejected] = published('Bake Rejected');
    expect(rejected?.reason).toBe('family: name the family to bake');
    expect(rejected?.fix).toMatch(/schemas\/events\/bake-requested\.json/);
  });

  it('is thrown even when Bake Rejected cannot be published, so Lambda retries it', async () => {
    // Prepare
    events.on(PutEventsCommand).rejects(awsError('ThrottlingException'));

    // Act
    const act = startBake(bakeRequested({ family: 'al2023-ghost' }), startDeps());

    // Assess
    await expect(act).rejects.toMatchObject({ name: 'ThrottlingException' });
  });

  it('publishes nothing for a request it starts, or for an error a retry may fix', async () => {
    // Prepare
    sfn
      .on(StartExecutionCommand)
      .resolvesOnce({ executionArn: `${EXECUTION_PREFIX}x` })
      .rejects(awsError('ThrottlingException'));

    // Act
    await startBake(bakeRequested({ idempotencyKey: 'a' }), startDeps());
    await startBake(bakeRequested({ idempotencyKey: 'b' }), startDeps()).catch(() => undefined);

    // Assess
    expect(events).not.toHaveReceivedAnyCommand();
  });
});
