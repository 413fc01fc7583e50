import type { Image } from '@aws-sdk/client-ec2';
import { describe, expect, it } from 'vitest';
import {
  channelOverview,
  dashboardOf,
  newestPerFamily,
  type Overview,
  renderOverview,
} from '../../cli/commands/overview';
import { bakehouseNames } from '../../functions/commons/stage-names';

const NOW = new Date('2026-12-06T12:00:00Z');
const image = (overrides: Partial<Image> = {}, tags: Record<string, string> = {}): Image => ({
  ImageId: 'ami-0123456789abcdef0',
  CreationDate: '2026-12-05T12:00:00.000Z',
  State: 'available',
  Tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })),
  ...overrides,
});

describe('a channel in the overview', () => {
  it('is ok with the age of its image', () => {
    expect(channelOverview('stable', 'ami-0123456789abcdef0', image(), NOW)).toEqual({
      channel: 'stable',
      amiId: 'ami-0123456789abcdef0',
      state: 'ok',
      createdAt: '2026-12-05T12:00:00.000Z',
      ageSeconds: 86_400,
      revokedReason: null,
    });
  });

  it('is stranded on a revoked image, and the candidate merely revoked', () => {
    const revoked = image({}, { 'bakehouse:revoked': 'true', 'bakehouse:revoked-reason': 'CVE' });
    expect(channelOverview('stable', 'ami-0123456789abcdef0', revoked, NOW)).toMatchObject({
      state: 'stranded',
      revokedReason: 'CVE',
    });
    expect(channelOverview('candidate', 'ami-0123456789abcdef0', revoked, NOW).state).toBe('revoked');
  });

  it('is empty when never written, gone when its image is, disabled when its image is', () => {
    expect(channelOverview('dev', null, undefined, NOW).state).toBe('empty');
    expect(channelOverview('dev', 'ami-0123456789abcdef0', undefined, NOW).state).toBe('gone');
    expect(channelOverview('dev', 'ami-0123456789abcdef0', image({ State: 'disabled' }), NOW).state).toBe('disabled');
  });
});

describe('the last bake of each family', () => {
  it('is the newest execution named after the family, whatever the listing order', () => {
    const newest = newestPerFamily(
      [
        { name: `a-${'0'.repeat(32)}`, startDate: new Date('2026-12-01T00:00:00Z') } as never,
        { name: `a-${'1'.repeat(32)}`, startDate: new Date('2026-12-03T00:00:00Z') } as never,
        { name: `a-b-${'2'.repeat(32)}`, startDate: new Date('2026-12-02T00:00:00Z') } as never,
        { name: `other-${'3'.repeat(32)}`, startDate: new Date('2026-12-04T00:00:00Z') } as never,
        { name: 'not-a-bake', startDate: new Date('2026-12-05T00:00:00Z') } as never,
      ],
      ['a', 'a-b'],
    );
    expect(Object.fromEntries([...newest].map(([family, e]) => [family, e.name]))).toEqual({
      a: `a-${'1'.repeat(32)}`,
      'a-b': `a-b-${'2'.repeat(32)}`,
    });
  });
});

describe('the rendered overview', () => {
  const overview: Overview = {
    now: NOW.toISOString(),
    clock: 'sandbox',
    families: [
      {
        name: 'al2023-base',
        os: 'linux',
        lastBake: {
          bakeId: `al2023-base-${'0'.repeat(32)}`,
          outcome: 'failed',
          startedAt: '2026-12-06T10:00:00.000Z',
          ageSeconds: 7_200,
          requestedBy: 'cli:alice',
          requestReason: 'openssl',
          failure: 'patch failed',
          amiId: null,
        },
        channels: [
          {
            channel: 'stable',
            amiId: 'ami-0123456789abcdef0',
            state: 'stranded',
            createdAt: null,
            ageSeconds: 3_600,
            revokedReason: 'CVE',
          },
        ],
        nextRun: '2026-12-13T02:00:00.000Z',
      },
    ],
    deadLetters: [{ queue: 'PromoteRejected', messages: 2 }],
    dashboard: { name: 'bakehouse-prod', url: null },
  };

  it('says whose clock, what needs attention with the fix, and the dead letters', () => {
    const text = renderOverview(overview);
    expect(text).toContain('(sandbox clock)');
    expect(text).toContain('failed 2h ago');
    expect(text).toContain('cli:alice: openssl');
    expect(text).toContain('stable=ami-0123456789abcdef0 (1h STRANDED)');
    expect(text).toContain('al2023-base: last bake failed: patch failed');
    expect(text).toContain('al2023-base/stable: stranded on revoked ami-0123456789abcdef0 (CVE). Fix:');
    expect(text).toContain('Dead letters:\n  PromoteRejected: 2');
  });

  it('says when nothing is dead-lettered', () => {
    expect(renderOverview({ ...overview, deadLetters: [] })).toContain('Dead letters: none');
  });

  it('links the dashboard on AWS', () => {
    // Prepare
    const url =
      'https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1#dashboards/dashboard/bakehouse-prod';

    // Act
    const text = renderOverview({ ...overview, dashboard: { name: 'bakehouse-prod', url } });

    // Assess
    expect(text).toContain(`Dashboard: ${url}`);
  });

  it('says the sandbox has no dashboards', () => {
    // Act
    const text = renderOverview(overview);

    // Assess
    expect(text).toContain('Dashboard: none (the sandbox has no CloudWatch dashboards; bakehouse-prod is on AWS)');
  });
});

describe('the dashboard link', () => {
  it("names the stage's dashboard as the stack does, in the region of the CLI's clients", async () => {
    // Prepare
    const { SQSClient } = await import('@aws-sdk/client-sqs');
    const ctx = {
      names: bakehouseNames('prod'),
      target: { sandbox: false },
      clients: { sqs: new SQSClient({ region: 'eu-west-1' }) },
    };

    // Act
    const dashboard = await dashboardOf(ctx as never);

    // Assess
    expect(dashboard).toEqual({
      name: bakehouseNames('prod').dashboard,
      url: 'https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1#dashboards/dashboard/bakehouse-prod',
    });
  });

  it('has no URL in the sandbox', async () => {
    // Prepare
    const { SQSClient } = await import('@aws-sdk/client-sqs');
    const ctx = {
      names: bakehouseNames('dev'),
      target: { sandbox: true },
      clients: { sqs: new SQSClient({ region: 'us-east-1' }) },
    };

    // Act
    const dashboard = await dashboardOf(ctx as never);

    // Assess
    expect(dashboard).toEqual({ name: 'bakehouse-dev', url: null });
  });
});

describe('dead letters on AWS', () => {
  it("lists the stage's queues by SST's stack-name prefix, across pages, with their message counts", async () => {
    // Prepare
    const { mockClient } = await import('aws-sdk-client-mock');
    const { GetQueueAttributesCommand, ListQueuesCommand, SQSClient } = await import('@aws-sdk/client-sqs');
    const { deadLettersOnAws } = await import('../../cli/commands/overview');
    const sqs = mockClient(SQSClient);
    const url = (name: string) => `https://sqs.us-east-1.amazonaws.com/123456789012/${name}`;
    sqs
      .on(ListQueuesCommand, { QueueNamePrefix: 'prod-bakehouse-' })
      .resolvesOnce({ QueueUrls: [url('prod-bakehouse-Bake-PromoteRejected-X')], NextToken: 't' })
      .resolvesOnce({ QueueUrls: [url('prod-bakehouse-Bake-JanitorDlq-Y')] });
    sqs
      .on(GetQueueAttributesCommand, { QueueUrl: url('prod-bakehouse-Bake-PromoteRejected-X') })
      .resolves({ Attributes: { ApproximateNumberOfMessages: '3' } })
      .on(GetQueueAttributesCommand, { QueueUrl: url('prod-bakehouse-Bake-JanitorDlq-Y') })
      .resolves({ Attributes: { ApproximateNumberOfMessages: '0' } });

    // Act
    const found = await deadLettersOnAws({ stage: 'prod', clients: { sqs: new SQSClient({}) } } as never);

    // Assess
    expect(found).toEqual([
      { queue: 'prod-bakehouse-Bake-PromoteRejected-X', messages: 3 },
      { queue: 'prod-bakehouse-Bake-JanitorDlq-Y', messages: 0 },
    ]);
    expect(sqs.commandCalls(ListQueuesCommand)[1]?.args[0].input.NextToken).toBe('t');
    sqs.restore();
  });
});
