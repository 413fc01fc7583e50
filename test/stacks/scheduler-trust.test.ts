/**
 * Every EventBridge Scheduler schedule in the stack names a role that Scheduler can assume.
 *
 * Scheduler assumes a schedule's execution role with `aws:SourceAccount` set to the account and
 * `aws:SourceArn` set to the schedule GROUP's ARN, not the schedule's: "The value of
 * aws:SourceArn must be your EventBridge Scheduler schedule group ARN … Do not scope the
 * aws:SourceArn statement to a specific schedule or a schedule name prefix" (EventBridge
 * Scheduler User Guide, "Confused deputy prevention"). A trust condition on schedule ARNs denies
 * every AssumeRole, and no schedule fires. So each role's trust policy is evaluated here with the
 * context keys Scheduler sets, by the sandbox's IAM evaluator.
 */
import { mayAssume, type PolicyDocument } from '@bakehouse/sandbox';
import { describe, expect, it } from 'vitest';
import shippedConfig from '../../bakehouse.config';
import type { ConfigInput } from '../../functions/commons/families';
import { resolvedDeep, resolver } from './support/evaluate';
import { pipelineStack, type Resource } from './support/pipeline';

const STAGE = 'shipped';
const ACCOUNT = '123456789012';
const REGION = 'eu-central-1';

const stack = pipelineStack({
  stage: STAGE,
  account: ACCOUNT,
  region: REGION,
  config: structuredClone(shippedConfig) as ConfigInput,
});

const resolve = resolver({ account: ACCOUNT, region: REGION });

/** Whether Scheduler may assume the role with the trust policy as synthesized (pseudo parameters resolved). */
const schedulerMayAssume = (trust: unknown, context: Record<string, string>) =>
  mayAssume({
    trustPolicy: resolvedDeep(trust, resolve) as PolicyDocument,
    principal: { type: 'Service', arn: 'scheduler.amazonaws.com', account: ACCOUNT },
    roleArn: `arn:aws:iam::${ACCOUNT}:role/scheduler-role`,
    context,
  }).decision === 'Allow';

/** The schedule's group (a Ref to the group is its name) and the logical id of the role it names. */
const targetOf = (schedule: Resource, resources: Record<string, Resource>) => {
  const props = schedule.Properties as { GroupName?: unknown; Target: { RoleArn: unknown } };
  const groupRef = (props.GroupName as { Ref?: string } | undefined)?.Ref;
  const group =
    props.GroupName === undefined
      ? 'default'
      : groupRef === undefined
        ? resolve(props.GroupName)
        : String(resources[groupRef]?.Properties?.Name);
  const [roleId] = (props.Target.RoleArn as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'];
  return { group, roleId };
};

describe('the roles EventBridge Scheduler assumes', () => {
  it('is denied for a trust scoped to schedules, as IAM decides it', () => {
    // Arrange: the trust this stack had before, on schedule ARNs
    const onSchedules = {
      Version: '2012-10-17',
      Statement: [
        {
          Effect: 'Allow',
          Principal: { Service: 'scheduler.amazonaws.com' },
          Action: 'sts:AssumeRole',
          Condition: { ArnLike: { 'aws:SourceArn': `arn:aws:scheduler:${REGION}:${ACCOUNT}:schedule/g/*` } },
        },
      ],
    };
    const context = { 'aws:SourceArn': `arn:aws:scheduler:${REGION}:${ACCOUNT}:schedule-group/g` };

    // Act and assess
    expect(schedulerMayAssume(onSchedules, context)).toBe(false);
  });

  it('trust Scheduler with the context it sets: the schedule group ARN and the account', () => {
    // Arrange
    const { resources, ofType } = stack;
    const schedules = ofType('AWS::Scheduler::Schedule');

    // Act: for each schedule, the trust of the role it names, with Scheduler's context keys
    const verdicts = schedules.map(([id, schedule]) => {
      const { group, roleId } = targetOf(schedule, resources);
      const trust = resources[roleId]?.Properties?.AssumeRolePolicyDocument;
      const context = {
        'aws:SourceAccount': ACCOUNT,
        'aws:SourceArn': `arn:aws:scheduler:${REGION}:${ACCOUNT}:schedule-group/${group}`,
      };
      return `${id} (${group}, ${roleId}): ${schedulerMayAssume(trust, context) ? 'assumable' : 'denied'}`;
    });

    // Assess: the families' schedules and the janitor's, each assumable
    expect(schedules.length).toBeGreaterThanOrEqual(2);
    expect(verdicts.filter((verdict) => verdict.endsWith('denied'))).toEqual([]);
  });

  it('is not assumable for a schedule group of another account or another group', () => {
    // Arrange
    const { resources, ofType } = stack;
    const roles = new Set(
      ofType('AWS::Scheduler::Schedule').map(([, schedule]) => targetOf(schedule, resources).roleId),
    );

    // Act
    const assumable = [...roles].flatMap((roleId) => {
      const trust = resources[roleId]?.Properties?.AssumeRolePolicyDocument;
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
        .filter((context) => schedulerMayAssume(trust, context))
        .map((context) => `${roleId} ← ${context['aws:SourceArn']}`);
    });

    // Assess
    expect(roles.size).toBeGreaterThanOrEqual(2);
    expect(assumable).toEqual([]);
  });
});
