/**
 * `POST /_sandbox/events/emit`: an event AWS itself would put on the default bus (what the
 * sandbox does not emulate, such as a CloudWatch alarm changing state), for `aws.*` sources only.
 */
import { describe, expect, it, vi } from 'vitest';
import type { SandboxClock } from '../../src/clock';
import { type ControlDeps, handleControl } from '../../src/control';
import type { Faults } from '../../src/faults';
import type { ServiceEvent } from '../../src/runtime';
import type { Store } from '../../src/store';

const alarm = () => ({
  source: 'aws.cloudwatch',
  detailType: 'CloudWatch Alarm State Change',
  detail: { alarmName: 'bakehouse-dev-BakeExecutionsFailed', state: { value: 'ALARM' } },
  resources: ['arn:aws:cloudwatch:us-east-1:000000000000:alarm:bakehouse-dev-BakeExecutionsFailed'],
  region: 'us-east-1',
});

const depsWith = (emitted: ServiceEvent[], runtime = true): ControlDeps => ({
  store: {} as Store,
  clock: {} as SandboxClock,
  faults: {} as Faults,
  services: new Map(),
  ...(runtime ? { runtime: { emit: vi.fn((event: ServiceEvent) => void emitted.push(event)) } } : {}),
});

describe('POST /_sandbox/events/emit', () => {
  it('emits the event on the default bus as the service would', () => {
    // Prepare
    const emitted: ServiceEvent[] = [];

    // Act
    const reply = handleControl('POST', '/_sandbox/events/emit', JSON.stringify(alarm()), depsWith(emitted));

    // Assess
    expect(reply.status).toBe(200);
    expect(emitted).toEqual([alarm()]);
  });

  it('refuses a source of your own: those go through PutEvents', () => {
    // Prepare
    const emitted: ServiceEvent[] = [];

    // Act
    const reply = handleControl(
      'POST',
      '/_sandbox/events/emit',
      JSON.stringify({ ...alarm(), source: 'bakehouse' }),
      depsWith(emitted),
    );

    // Assess
    expect(reply.status).toBe(400);
    expect(JSON.stringify(reply.body)).toContain('PutEvents');
    expect(emitted).toEqual([]);
  });

  it.each([
    ['no detail-type', { detailType: '' }, 'detailType'],
    ['a detail that is not an object', { detail: 'ALARM' }, 'detail must be'],
    ['resources that are not ARNs', { resources: [1] }, 'resources'],
    ['a region that is not one', { region: 'moon' }, 'region'],
  ])('refuses %s', (_, change, message) => {
    // Prepare
    const emitted: ServiceEvent[] = [];

    // Act
    const reply = handleControl(
      'POST',
      '/_sandbox/events/emit',
      JSON.stringify({ ...alarm(), ...change }),
      depsWith(emitted),
    );

    // Assess
    expect(reply.status).toBe(400);
    expect(JSON.stringify(reply.body)).toContain(message);
    expect(emitted).toEqual([]);
  });

  it('refuses a body that is not JSON', () => {
    expect(handleControl('POST', '/_sandbox/events/emit', '{', depsWith([])).status).toBe(400);
  });

  it('answers 503 when the sandbox has no runtime to emit with', () => {
    expect(handleControl('POST', '/_sandbox/events/emit', JSON.stringify(alarm()), depsWith([], false)).status).toBe(
      503,
    );
  });
});
