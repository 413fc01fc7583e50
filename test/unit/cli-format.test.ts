import { describe, expect, it } from 'vitest';
import { progressLine } from '../../cli/commands/bake';
import { type BakeSummary, failureFromHistory, renderBake, summarize } from '../../cli/commands/bakes';
import { renderEvent } from '../../cli/commands/events';
import { renderFamilies } from '../../cli/commands/families';
import { renderLineage } from '../../cli/commands/images';
import { renderJanitorReport } from '../../cli/commands/janitor';
import { resolveTarget } from '../../cli/context';
import { explainError, UsageError } from '../../cli/errors';
import { duration, localTime, table, tree } from '../../cli/format';
import type { JanitorReport } from '../../functions/commons/events';
import { nextRun } from '../../functions/commons/schedule';

describe('table', () => {
  it('aligns columns two spaces apart under a rule, right-aligning where asked, with no trailing spaces', () => {
    // Prepare
    const rows = [
      { a: 'al2023-base', n: '5' },
      { a: 'x', n: '120' },
    ];

    // Act
    const text = table(rows, [
      { header: 'FAMILY', value: (r) => r.a },
      { header: 'N', value: (r) => r.n, align: 'right' },
    ]);

    // Assess
    expect(text).toBe(['FAMILY         N', '───────────  ───', 'al2023-base    5', 'x            120'].join('\n'));
  });
});

describe('tree', () => {
  it('draws children with box characters and keeps the branch line for non-last children', () => {
    const text = tree({
      label: 'root',
      children: [
        { label: 'a', children: [{ label: 'a1', children: [] }] },
        { label: 'b', children: [] },
      ],
    });
    expect(text).toBe(['root', '├── a', '│   └── a1', '└── b'].join('\n'));
  });
});

describe('duration and localTime', () => {
  it.each([
    [null, '-'],
    [42, '42s'],
    [185, '3m 05s'],
    [7260, '2h 01m'],
  ])('duration(%s) is %s', (seconds, text) => {
    expect(duration(seconds)).toBe(text);
  });

  it('writes an instant as local date and time with the zone', () => {
    expect(localTime('2026-11-29T16:04:00Z', 'Europe/Berlin')).toBe('2026-11-29 17:04 CET');
    expect(localTime(null)).toBe('-');
  });
});

describe('families', () => {
  it('finds the next Patch-Tuesday-plus-one run, skipping the weekly firings outside the window', () => {
    // Prepare: the second Tuesday of December 2026 is the 8th; the bake runs Wednesday the 9th.
    const family = {
      schedule: {
        nthWeekday: { weekday: 'TUE' as const, nth: 2, offsetDays: 1 },
        at: '04:00',
        timezone: 'America/New_York',
      },
    };

    // Act
    const next = nextRun(family, new Date('2026-11-29T12:00:00Z'));

    // Assess: 04:00 in New York (EST, UTC-5).
    expect(next?.toISOString()).toBe('2026-12-09T09:00:00.000Z');
  });

  it('has no next run for a family without a schedule', () => {
    expect(nextRun({ schedule: undefined } as never, new Date())).toBeNull();
  });

  it('renders a family built on another as "on <family>/<channel>"', () => {
    const text = renderFamilies(
      [
        {
          name: 'al2023-web',
          os: 'linux',
          description: null,
          parent: { family: 'al2023-base', channel: 'stable' },
          schedule: null,
          channels: { candidate: null, stable: 'ami-0123456789abcdef0' },
        },
      ],
      'UTC',
    );
    expect(text.split('\n')[2]).toBe(
      'al2023-web  linux  on al2023-base/stable  -                 candidate=- stable=ami-0123456789abcdef0',
    );
  });
});

describe('bakes', () => {
  it('reads a skipped bake from the execution output', () => {
    const bake = summarize(
      {
        $metadata: {},
        name: 'al2023-base-0123456789abcdef0123456789abcdef',
        executionArn: 'arn:x',
        status: 'SUCCEEDED',
        startDate: new Date('2026-11-29T10:00:00Z'),
        stopDate: new Date('2026-11-29T10:00:42Z'),
        input: JSON.stringify({ family: 'al2023-base', requestedBy: 'cli:alice' }),
        output: JSON.stringify({ plan: { action: 'skip', existingAmiId: 'ami-0123456789abcdef0' } }),
        stateMachineArn: 'arn:m',
      },
      undefined,
    );
    expect(bake).toMatchObject({
      outcome: 'skipped',
      amiId: 'ami-0123456789abcdef0',
      durationSeconds: 42,
      reason: null,
    });
  });

  it('takes the failed step and automation from the clean-up state in the history', () => {
    const failure = failureFromHistory([
      {
        timestamp: new Date(),
        type: 'TaskStateExited',
        id: 5,
        stateExitedEventDetails: {
          name: 'StartAutomation',
          output: JSON.stringify({ automation: { automationExecutionId: 'auto-1' } }),
        },
      },
      {
        timestamp: new Date(),
        type: 'TaskStateExited',
        id: 9,
        stateExitedEventDetails: {
          name: 'CleanUpFailedBake',
          output: JSON.stringify({
            failed: { failedStep: 'WaitForAutomation/patchPackages', automationExecutionId: 'auto-1' },
          }),
        },
      },
    ]);
    expect(failure).toEqual({ failedStep: 'WaitForAutomation/patchPackages', automationExecutionId: 'auto-1' });
  });

  it('renders a failed bake with its step and reason', () => {
    const bake: BakeSummary = {
      bakeId: 'b',
      family: 'f',
      status: 'FAILED',
      outcome: 'failed',
      amiId: null,
      requestedBy: null,
      startedAt: null,
      stoppedAt: null,
      durationSeconds: null,
      failedStep: 'PlanBake',
      reason: 'no source',
      automationExecutionId: null,
      executionArn: 'arn',
    };
    expect(renderBake(bake)).toContain('failed step:  PlanBake\nreason:       no source');
  });

  it('shows the latest step that left Pending as progress', () => {
    expect(
      progressLine(
        [
          { name: 'launch', status: 'Success' },
          { name: 'patch', status: 'InProgress' },
          { name: 'image', status: 'Pending' },
        ],
        3,
      ),
    ).toBe('[2/3] patch InProgress');
    expect(progressLine([], null)).toBe('waiting for the automation to start');
  });
});

describe('lineage', () => {
  it('draws source → family image → child image, marking the selected one', () => {
    const text = renderLineage({
      amiId: 'ami-00000000000000001',
      name: 'al2023-ami',
      family: null,
      channels: [],
      revoked: false,
      selected: false,
      children: [
        {
          amiId: 'ami-00000000000000002',
          name: 'base-1',
          family: 'al2023-base',
          channels: ['stable'],
          revoked: false,
          selected: true,
          children: [
            {
              amiId: 'ami-00000000000000003',
              name: 'web-1',
              family: 'al2023-web',
              channels: [],
              revoked: true,
              selected: false,
              children: [],
            },
          ],
        },
      ],
    });
    expect(text).toBe(
      [
        'ami-00000000000000001  (source)  al2023-ami',
        '└── ami-00000000000000002  [al2023-base]  base-1  channels: stable  ◀',
        '    └── ami-00000000000000003  [al2023-web]  web-1  REVOKED',
      ].join('\n'),
    );
  });
});

describe('janitor report', () => {
  it('separates what goes from what stays and says it is a dry run', () => {
    const report: JanitorReport = {
      version: '1.0',
      runId: 'r1',
      dryRun: true,
      completed: true,
      stoppedBecause: null,
      deregistered: ['ami-0123456789abcdef0'],
      snapshotsDeleted: [],
      kept: {},
      counts: {},
      items: [
        { kind: 'image', id: 'ami-0123456789abcdef0', family: 'f', action: 'deregistered', reason: 'old' },
        { kind: 'image', id: 'ami-0fedcba9876543210', family: 'f', action: 'kept', reason: 'in use by i-1' },
      ],
      itemsTruncated: false,
      errors: [],
      durationSeconds: 1,
    };
    const text = renderJanitorReport(report);
    expect(text).toMatch(/^janitor run r1 \(dry run: nothing changed\)\n\nwould change:\nKIND/);
    expect(text).toMatch(/stays:\nKIND.*\n.*\nimage\s+ami-0fedcba9876543210\s+f\s+kept\s+in use by i-1/);
    expect(text).toContain('would deregister 1 image(s), would delete 0 snapshot(s)');
  });
});

describe('events', () => {
  it('renders an event on one line with its key fields', () => {
    expect(
      renderEvent({
        id: '1',
        time: '2026-11-29T10:00:00Z',
        source: 'bakehouse',
        detailType: 'AMI Baked',
        detail: { family: 'f', bakeId: 'b', amiId: 'ami-1', os: 'linux' },
      }),
    ).toBe('2026-11-29T10:00:00Z  AMI Baked         family=f bakeId=b amiId=ami-1');
  });
});

describe('target and errors', () => {
  it('--sandbox without a URL is the default sandbox with fake credentials; AWS_ENDPOINT_URL on loopback counts as the sandbox', () => {
    expect(resolveTarget({ sandbox: true }, {})).toEqual({
      endpoint: 'http://127.0.0.1:4566',
      sandbox: true,
      region: 'us-east-1',
    });
    expect(resolveTarget({}, { AWS_ENDPOINT_URL: 'http://localhost:4566', AWS_REGION: 'eu-west-1' })).toEqual({
      endpoint: 'http://localhost:4566',
      sandbox: true,
      region: 'eu-west-1',
    });
    expect(resolveTarget({}, {})).toEqual({ endpoint: undefined, sandbox: false, region: undefined });
  });

  it('explains missing credentials and a refused connection with the fix', () => {
    const context = { endpoint: 'http://127.0.0.1:4566', sandbox: true, stage: 'dev' };
    const noCredentials = Object.assign(new Error('Could not load credentials from any providers'), {
      name: 'CredentialsProviderError',
    });
    expect(explainError(noCredentials, { ...context, sandbox: false }).message).toContain('use --sandbox');
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:4566'), { code: 'ECONNREFUSED' });
    expect(explainError(refused, context).message).toContain('npm run sandbox');
    expect(explainError(new UsageError('x'), context).exitCode).toBe(2);
  });
});
