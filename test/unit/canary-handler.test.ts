/**
 * The canary function's composition root (functions/canary/index.ts): environment read at cold
 * start, the action dispatched, an unknown action refused with the fix. The handler sees the
 * shipped configuration (al2023-web's prod canary), as its bundle does.
 */
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { lambdaContext } from './support/bake-factories';

const events = mockClient(EventBridgeClient);

beforeEach(() => {
  vi.resetModules();
  events.reset();
  vi.stubEnv('POWERTOOLS_LOG_LEVEL', 'SILENT');
  vi.stubEnv('AWS_REGION', 'eu-west-1');
});

afterEach(() => {
  vi.unstubAllEnvs();
});

const importHandler = async () => (await import('../../functions/canary/index')).handler;

describe('canary handler', () => {
  it('fails at cold start without EVENT_BUS_NAME, naming it', async () => {
    // Prepare
    vi.stubEnv('EVENT_BUS_NAME', '');

    // Act / Assess
    await expect(importHandler()).rejects.toThrow(/EVENT_BUS_NAME/);
  });

  it('publishes a skipped canary on the bus and with the source of its environment', async () => {
    // Prepare
    vi.stubEnv('EVENT_BUS_NAME', 'bakehouse-test');
    vi.stubEnv('EVENT_SOURCE', 'bakehouse.test');
    events.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [{ EventId: 'e-1' }] });
    const handler = await importHandler();

    // Act
    const result = await handler(
      {
        action: 'finish',
        state: {
          skip: true,
          canaryId: 'c-1',
          executionArn: 'arn:aws:states:eu-west-1:111122223333:execution:bakehouse-test-canary:c-1',
          family: 'al2023-web',
          amiId: 'ami-0aaaaaaaaaaaaaaa1',
          bakeId: 'bake-1',
          channel: 'prod',
          baselineAmiId: null,
          reason: 'nothing to compare',
        },
      },
      lambdaContext(),
    );

    // Assess
    expect(result).toEqual({ verdict: 'skipped', published: true });
    const [entry] = events.commandCalls(PutEventsCommand)[0]?.args[0].input.Entries ?? [];
    expect(entry).toMatchObject({
      EventBusName: 'bakehouse-test',
      Source: 'bakehouse.test',
      DetailType: 'Canary Judged',
    });
  });

  it('refuses an unknown action with the fix', async () => {
    // Prepare
    vi.stubEnv('EVENT_BUS_NAME', 'bakehouse-test');
    const handler = await importHandler();

    // Act
    const calling = handler({ action: 'promote' } as never, lambdaContext());

    // Assess
    await expect(calling).rejects.toMatchObject({
      name: 'UnknownCanaryActionError',
      message: expect.stringMatching(/unknown action 'promote'.*Fix: send one of start, check, judge/),
    });
  });
});
