/**
 * Every EventBridge Scheduler schedule in the stack names a role that Scheduler can assume.
 *
 * Scheduler assumes a schedule's execution role with `aws:SourceAccount` set to the account and
 * `aws:SourceArn` set to the schedule GROUP's ARN, not the schedule's: "The value of
 * aws:SourceArn must be your EventBridge Scheduler schedule group ARN … Do not scope the
 * aws:SourceArn statement to a specific schedule or a schedule name prefix" (EventBridge
 * Scheduler User Guide, "Confused deputy prevention"). A trust condition on schedule ARNs denies
 * every AssumeRole, and no schedule fires. So each role's trust policy is evaluated here with the
 * context keys Scheduler sets, as IAM evaluates `StringEquals` and `ArnLike`.
 */
import { describe, expect, it } from 'vitest';
import shippedConfig from '../../bakehouse.config';
import type { ConfigInput } from '../../functions/commons/families';
import { asList, pipelineStack, type Resource, type Statement } from './support/pipeline';

const STAGE = 'trust';
const ACCOUNT = '123456789012';
const REGION = 'eu-central-1';
const PSEUDO: Record<string, string> = {
  'AWS::Partition': 'aws',
  'AWS::Region': REGION,
  'AWS::AccountId': ACCOUNT,
  'AWS::URLSuffix': 'amazonaws.com',
};

const stack = pipelineStack({
  stage: STAGE,
  account: ACCOUNT,
  region: REGION,
  config: structuredClone(shippedConfig) as ConfigInput,
});

/** A template value as a string: pseudo parameters, a schedule group's Ref, `Fn::Join`, a role's `Fn::GetAtt … Arn`. */
const resolve = (value: unknown, resources: Record<string, Resource>): string => {
  if (typeof value === 'string') return value;
  const node = value as Record<string, unknown>;
  if ('Ref' in node) {
    const ref = node.Ref as string;
    if (ref in PSEUDO) return PSEUDO[ref] as string;
    // A schedule group's Ref is its name.
    if (resources[ref]?.Type === 'AWS::Scheduler::ScheduleGroup')
      return resolve(resources[ref]?.Properties?.Name, resources);
    throw new Error(`cannot resolve Ref ${ref}`);
  }
  if ('Fn::Join' in node) {
    const [separator, parts] = node['Fn::Join'] as [string, unknown[]];
    return parts.map((part) => resolve(part, resources)).join(separator);
  }
  if ('Fn::GetAtt' in node) {
    const [id, attribute] = node['Fn::GetAtt'] as [string, string];
    if (resources[id]?.Type === 'AWS::IAM::Role' && attribute === 'Arn') return `role:${id}`;
  }
  throw new Error(`cannot resolve ${JSON.stringify(value)}`);
};

/** IAM's ArnLike/ArnEquals: each of the six colon-separated fields matched with `*` and `?` wildcards. */
const arnLike = (pattern: string, arn: string): boolean => {
  const fields = (text: string) => {
    const parts = text.split(':');
    return [...parts.slice(0, 5), parts.slice(5).join(':')];
  };
  const glob = (p: string) =>
    new RegExp(
      `^${p
        .replace(/[.+^${}()|[\]\\]/g, '\\$&')
        .replace(/\*/g, '.*')
        .replace(/\?/g, '.')}$`,
    );
  const [want, have] = [fields(pattern), fields(arn)];
  return want.length === have.length && want.every((p, i) => glob(p).test(have[i] as string));
};

/** Whether a trust statement lets `service` assume the role with these context keys. */
const allows = (
  statement: Statement,
  service: string,
  context: Record<string, string>,
  resources: Record<string, Resource>,
) => {
  const principal = statement.Principal as { Service?: string | string[] } | undefined;
  if (statement.Effect !== 'Allow' || !asList(principal?.Service ?? []).includes(service)) return false;
  if (!asList(statement.Action).includes('sts:AssumeRole')) return false;
  return Object.entries(statement.Condition ?? {}).every(([operator, keys]) =>
    Object.entries(keys).every(([key, expected]) => {
      const actual = context[key];
      if (actual === undefined) return false;
      const values = asList(expected as unknown).map((v) => resolve(v, resources));
      if (operator === 'StringEquals') return values.includes(actual);
      // ArnEquals and ArnLike match alike (IAM User Guide, "IAM JSON policy elements: Condition operators").
      if (operator === 'ArnLike' || operator === 'ArnEquals') return values.some((pattern) => arnLike(pattern, actual));
      throw new Error(`the test does not evaluate ${operator}`);
    }),
  );
};

describe('the roles EventBridge Scheduler assumes', () => {
  it('evaluates ArnLike as IAM does: a schedule pattern does not match its group', () => {
    expect(arnLike('arn:aws:scheduler:*:1:schedule-group/g', 'arn:aws:scheduler:eu-central-1:1:schedule-group/g')).toBe(
      true,
    );
    expect(arnLike('arn:aws:scheduler:*:1:schedule/g/*', 'arn:aws:scheduler:eu-central-1:1:schedule-group/g')).toBe(
      false,
    );
  });

  it('trust Scheduler with the context it sets: the schedule group ARN and the account', () => {
    // Arrange
    const { resources, ofType } = stack;
    const schedules = ofType('AWS::Scheduler::Schedule');

    // Act: for each schedule, the trust of the role it names, with Scheduler's context keys
    const verdicts = schedules.map(([id, schedule]) => {
      const props = schedule.Properties as { GroupName?: unknown; Target: { RoleArn: unknown } };
      const group = props.GroupName === undefined ? 'default' : resolve(props.GroupName, resources);
      const roleId = resolve(props.Target.RoleArn, resources).replace(/^role:/, '');
      const trust = resources[roleId]?.Properties?.AssumeRolePolicyDocument as { Statement: Statement[] };
      const context = {
        'aws:SourceAccount': ACCOUNT,
        'aws:SourceArn': `arn:aws:scheduler:${REGION}:${ACCOUNT}:schedule-group/${group}`,
      };
      return `${id} (${group}, ${roleId}): ${trust.Statement.some((s) => allows(s, 'scheduler.amazonaws.com', context, resources)) ? 'assumable' : 'denied'}`;
    });

    // Assess: the families' schedules and the janitor's, each assumable
    expect(schedules.length).toBeGreaterThanOrEqual(2);
    expect(verdicts.filter((verdict) => verdict.endsWith('denied'))).toEqual([]);
  });

  it('is not assumable for a schedule group of another account or another group', () => {
    // Arrange
    const { resources, ofType } = stack;
    const roles = new Set(
      ofType('AWS::Scheduler::Schedule').map(([, s]) =>
        resolve((s.Properties as { Target: { RoleArn: unknown } }).Target.RoleArn, resources).replace(/^role:/, ''),
      ),
    );

    // Act
    const assumable = [...roles].flatMap((roleId) => {
      const trust = resources[roleId]?.Properties?.AssumeRolePolicyDocument as { Statement: Statement[] };
      const contexts = [
        {
          'aws:SourceAccount': '999999999999',
          'aws:SourceArn': `arn:aws:scheduler:${REGION}:999999999999:schedule-group/${STAGE}`,
        },
        {
          'aws:SourceAccount': ACCOUNT,
          'aws:SourceArn': `arn:aws:scheduler:${REGION}:${ACCOUNT}:schedule-group/someone-else`,
        },
      ];
      return contexts
        .filter((context) => trust.Statement.some((s) => allows(s, 'scheduler.amazonaws.com', context, resources)))
        .map((context) => `${roleId} ← ${context['aws:SourceArn']}`);
    });

    // Assess
    expect(roles.size).toBeGreaterThanOrEqual(2);
    expect(assumable).toEqual([]);
  });
});
