import { describe, expect, it } from 'vitest';
import { durationSeconds, timestampMs } from '../../src/services/ssm/automation/duration';
import { builtinValue } from '../../src/services/ssm/automation/engine';
import { InterpolationError, interpolate, type Lookup } from '../../src/services/ssm/automation/interpolate';
import { select } from '../../src/services/ssm/automation/selector';

const values: Record<string, unknown> = {
  SourceAmiId: 'ami-0123456789abcdef0',
  SecurityGroupIds: ['sg-1', 'sg-2'],
  VolumeSize: 8,
  Encrypted: true,
  'launch.InstanceIds': ['i-0abc'],
};
const lookup: Lookup = (name) => (name in values ? { found: true, value: values[name] } : { found: false });

describe('interpolate', () => {
  it('gives a whole-string reference the referenced value with its type', () => {
    const resolved = interpolate(
      { Groups: '{{ SecurityGroupIds }}', Size: '{{VolumeSize}}', Encrypted: ' {{ Encrypted }} ' },
      lookup,
    );
    expect(resolved).toEqual({ Groups: ['sg-1', 'sg-2'], Size: 8, Encrypted: true });
  });

  it('replaces references inside longer text with the value as text', () => {
    expect(
      interpolate('image from {{ SourceAmiId }}, {{ VolumeSize }} GiB, groups {{ SecurityGroupIds }}', lookup),
    ).toBe('image from ami-0123456789abcdef0, 8 GiB, groups ["sg-1","sg-2"]');
  });

  it('splices a list into the list that references it', () => {
    expect(interpolate(['{{ launch.InstanceIds }}', 'i-0def'], lookup)).toEqual(['i-0abc', 'i-0def']);
  });

  it('resolves deeply and leaves non-string values alone', () => {
    const input = { Tags: [{ Key: 'src', Value: '{{ SourceAmiId }}' }], MinCount: 1, Flag: false };
    expect(interpolate(input, lookup)).toEqual({
      Tags: [{ Key: 'src', Value: values.SourceAmiId }],
      MinCount: 1,
      Flag: false,
    });
  });

  it('throws InterpolationError naming a reference nothing defines', () => {
    expect(() => interpolate({ a: 'x {{ nope.Output }}' }, lookup)).toThrow(InterpolationError);
    expect(() => interpolate('{{ missing }}', lookup)).toThrow('{{ missing }}');
  });
});

describe('builtinValue', () => {
  const context = {
    executionId: 'exec-1',
    account: '123456789012',
    region: 'eu-west-1',
    nowMs: Date.UTC(2026, 0, 2, 3, 4, 5),
  };

  it('answers the global and automation variables', () => {
    expect(builtinValue('global:ACCOUNT_ID', context)).toEqual({ found: true, value: '123456789012' });
    expect(builtinValue('global:REGION', context)).toEqual({ found: true, value: 'eu-west-1' });
    expect(builtinValue('global:AWS_PARTITION', context)).toEqual({ found: true, value: 'aws' });
    expect(builtinValue('global:DATE', context)).toEqual({ found: true, value: '2026-01-02' });
    expect(builtinValue('global:DATE_TIME', context)).toEqual({ found: true, value: '2026-01-02_03.04.05' });
    expect(builtinValue('automation:EXECUTION_ID', context)).toEqual({ found: true, value: 'exec-1' });
  });

  it('does not know other names', () => {
    expect(builtinValue('global:NOPE', context)).toEqual({ found: false });
  });
});

describe('select', () => {
  const response = {
    Reservations: [{ Instances: [{ InstanceId: 'i-1', State: { Name: 'running' } }, { InstanceId: 'i-2' }] }],
    ImageId: 'ami-1',
  };

  it('selects one value by members and indexes', () => {
    expect(select(response, '$.Reservations[0].Instances[0].State.Name')).toEqual({ found: true, value: 'running' });
    expect(select(response, "$['ImageId']")).toEqual({ found: true, value: 'ami-1' });
    expect(select(response, '$.Reservations[0].Instances[-1].InstanceId')).toEqual({ found: true, value: 'i-2' });
  });

  it('selects lists with wildcards and recursive descent', () => {
    expect(select(response, '$.Reservations[0].Instances[*].InstanceId').value).toEqual(['i-1', 'i-2']);
    expect(select(response, '$..InstanceId').value).toEqual(['i-1', 'i-2']);
  });

  it('finds nothing for a path that is not there, and refuses what is not a JSONPath', () => {
    expect(select(response, '$.Images[0].State')).toEqual({ found: false });
    expect(() => select(response, 'Images[0]')).toThrow('must start with $');
    expect(() => select(response, '$.Images[?(@.x)]')).toThrow('not a supported JSONPath');
  });
});

describe('durations and timestamps', () => {
  it('reads ISO-8601 durations in seconds', () => {
    expect(durationSeconds('PT10M')).toBe(600);
    expect(durationSeconds('P1DT2H3S')).toBe(93_603);
    expect(durationSeconds('PT0.5S')).toBe(0.5);
  });

  it('refuses malformed durations and timestamps', () => {
    expect(durationSeconds('10 minutes')).toBeUndefined();
    expect(durationSeconds('PT')).toBeUndefined();
    expect(timestampMs('2026-11-30')).toBeUndefined();
    expect(timestampMs('2026-11-30T12:00:00Z')).toBe(Date.UTC(2026, 10, 30, 12));
  });
});
