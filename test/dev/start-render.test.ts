import { describe, expect, it } from 'vitest';
import {
  type LoggedEvent,
  mrkdwnToText,
  renderEvent,
  renderSlackConversation,
  renderSlackMessage,
  renderStep,
} from '../../dev/start/render';

const logged = (overrides: Partial<LoggedEvent> = {}): LoggedEvent => ({
  bus: 'arn:aws:events:us-east-1:000000000000:event-bus/bakehouse-dev',
  event: {
    id: 'e-1',
    source: 'bakehouse',
    'detail-type': 'AMI Baked',
    time: '2026-11-29T03:00:00Z',
    detail: { family: 'al2023-base', amiId: 'ami-0123456789abcdef0', durationSeconds: 900 },
  },
  matchedRules: ['arn:aws:events:us-east-1:000000000000:rule/bakehouse-dev/Promote'],
  deliveries: [
    { targetArn: 'arn:aws:lambda:us-east-1:000000000000:function:bakehouse-dev-Deploy', status: 'delivered' },
  ],
  ...overrides,
});

describe('npm start rendering', () => {
  it('renders an event with its key fields, bus and where it went', () => {
    // Act
    const line = renderEvent(logged());

    // Assess
    expect(line).toBe(
      'AMI Baked [bakehouse on bakehouse-dev] family=al2023-base amiId=ami-0123456789abcdef0 → bakehouse-dev-Deploy (delivered)',
    );
  });

  it("shows the Amazon Linux release an AMI Baked moved its image between, from the bake's report", () => {
    // Prepare
    const report = 'bakehouse-report 1\nrelease-before 2023.9.20261101\nrelease-after 2023.9.20261122\nchanges 0\n';
    const entry = logged();
    const baked = {
      ...entry,
      event: { ...entry.event, detail: { ...entry.event.detail, outputs: { 'collectReport.Output': [report] } } },
    };
    const ubuntu = {
      ...entry,
      event: {
        ...entry.event,
        detail: {
          ...entry.event.detail,
          outputs: { 'collectReport.Output': ['bakehouse-report 1\nrelease-before -\nrelease-after -\nchanges 0'] },
        },
      },
    };

    // Act
    const line = renderEvent(baked);
    const none = renderEvent(ubuntu);

    // Assess
    expect(line).toContain('amiId=ami-0123456789abcdef0 release=2023.9.20261101→2023.9.20261122 →');
    expect(none).not.toContain('release=');
  });

  it('says when no rule matched, and names matched rules without deliveries', () => {
    // Act
    const none = renderEvent(logged({ matchedRules: [], deliveries: [] }));
    const matched = renderEvent(logged({ deliveries: [] }));

    // Assess
    expect(none).toMatch(/→ no rule matched$/);
    expect(matched).toMatch(/→ matched Promote$/);
  });

  it('shows a failed delivery with its error', () => {
    // Act
    const line = renderEvent(
      logged({ deliveries: [{ targetArn: 'arn:aws:sqs:us-east-1:0:dlq', status: 'failed', error: 'Throttled' }] }),
    );

    // Assess
    expect(line).toMatch(/→ dlq \(failed: Throttled\)$/);
  });

  it('renders an automation step with its failure message', () => {
    // Act
    const line = renderStep('bakehouse-dev-bake-linux/1234abcd', {
      StepName: 'patchPackages',
      Action: 'aws:runCommand',
      StepStatus: 'Failed',
      FailureMessage: 'Step fails when it is Executing. Command failed',
    });

    // Assess
    expect(line).toBe(
      'bakehouse-dev-bake-linux/1234abcd patchPackages (aws:runCommand) Failed: Step fails when it is Executing. Command failed',
    );
  });

  it('turns Slack mrkdwn links and emphasis into plain text', () => {
    // Act + Assess
    expect(mrkdwnToText('*AMI baked*: <https://console.example/ami|ami-1> for _al2023-base_.')).toBe(
      'AMI baked: ami-1 (https://console.example/ami) for al2023-base.',
    );
    // A cron expression's stars are not emphasis.
    expect(mrkdwnToText('scheduled: cron 0 3 ? * SUN * (Europe/Berlin)')).toBe(
      'scheduled: cron 0 3 ? * SUN * (Europe/Berlin)',
    );
  });

  it('renders Block Kit messages block by block, and plain text messages as their text', () => {
    // Prepare
    const payload = {
      text: 'fallback',
      blocks: [
        { type: 'header', text: { type: 'plain_text', text: 'al2023-base baked' } },
        {
          type: 'section',
          text: { type: 'mrkdwn', text: '*ami-1* is available' },
          fields: [
            { type: 'mrkdwn', text: '*Source*\nami-0' },
            { type: 'mrkdwn', text: '*Duration*\n15 min' },
          ],
        },
        { type: 'divider' },
        {
          type: 'context',
          elements: [
            { type: 'mrkdwn', text: 'bake b-1' },
            { type: 'plain_text', text: 'eu' },
          ],
        },
        { type: 'actions', elements: [{ type: 'button', text: { type: 'plain_text', text: 'Promote' } }] },
      ],
    };

    // Act + Assess
    expect(renderSlackMessage(payload)).toBe(
      [
        'AL2023-BASE BAKED',
        'ami-1 is available',
        '  Source ami-0',
        '  Duration 15 min',
        '────────',
        'bake b-1 · eu',
        '[Promote]',
      ].join('\n'),
    );
    expect(renderSlackMessage({ text: 'plain *news*' })).toBe('plain news');
  });

  it('shows a Slack conversation as the channel ends up: parents in their last version, replies under them', () => {
    // Prepare
    const text = (t: string) => ({ text: t });
    const calls = [
      { method: 'chat.postMessage', channel: 'C1', ts: '1.1', accepted: true, payload: text('bake requested') },
      {
        method: 'chat.postMessage',
        channel: 'C1',
        ts: '1.2',
        accepted: true,
        payload: { ...text('started'), thread_ts: '1.1' },
      },
      { method: 'chat.update', channel: 'C1', ts: '1.1', accepted: true, payload: text('AMI baked') },
      { method: 'chat.postMessage', channel: 'C1', ts: '1.3', accepted: false, payload: text('refused') },
      { method: 'webhook', accepted: true, payload: text('janitor ran') },
    ];

    // Act
    const conversation = renderSlackConversation(calls);

    // Assess
    expect(conversation).toEqual(['  C1 (updated 1x)\n  | AMI baked\n  |   ↳ started', '  | janitor ran']);
  });
});
