/**
 * What leaves no builder behind (issue 15), as it deploys (shipped configuration, synthesized
 * offline once, with cdk-nag): the rule on Step Functions' status changes that runs the failure
 * path for bakes stopped outside it, and the hourly reaper with its schedule, DLQ and role.
 */
import { Match } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import shippedConfig from '../../bakehouse.config';
import type { ConfigInput } from '../../functions/commons/families';
import { bakehouseNames } from '../../functions/commons/stage-names';
import { BakeFunction, REAPER_SCHEDULE, ReaperFunction } from '../../stacks/names';
import { allows, type Context, resolver } from './support/evaluate';
import { asList, pipelineStack } from './support/pipeline';

const STAGE = 'shipped';
const ACCOUNT = '123456789012';
const REGION = 'eu-central-1';
const names = bakehouseNames(STAGE);

const stack = pipelineStack({
  stage: STAGE,
  account: ACCOUNT,
  region: REGION,
  config: structuredClone(shippedConfig) as ConfigInput,
});
const resolve = resolver({ account: ACCOUNT, region: REGION });
const INSTANCE = `arn:aws:ec2:${REGION}:${ACCOUNT}:instance/i-0123456789abcdef0`;
const EXECUTION = `arn:aws:states:${REGION}:${ACCOUNT}:execution:${names.stateMachine}:al2023-base-0123`;
const OTHER_EXECUTION = `arn:aws:states:${REGION}:${ACCOUNT}:execution:someone-else:run-1`;
const tagged = (tags: Record<string, string>): Context =>
  Object.fromEntries(Object.entries(tags).map(([key, value]) => [`aws:ResourceTag/${key}`, value]));

const reaperCan = (action: string, resource: string, context: Context = {}): boolean =>
  allows(stack.functionStatements(ReaperFunction.Reaper), { action, resource, context }, resolve);
const cleanUpCan = (action: string, resource: string): boolean =>
  allows(stack.functionStatements(BakeFunction.CleanUpFailedBake), { action, resource, context: {} }, resolve);

describe('bakes stopped outside their failure path', () => {
  const rule = () => {
    const rules = stack
      .ofType('AWS::Events::Rule')
      .filter(([, r]) => JSON.stringify(r.Properties?.EventPattern ?? {}).includes('aws.states'))
      // The canary machine has its own rule (stacks/canary.ts, test/stacks/canary.test.ts).
      .filter(([, r]) => JSON.stringify(r.Properties?.EventPattern ?? {}).includes('BakeStateMachine'));
    expect(rules).toHaveLength(1);
    return (rules[0] as [string, { Properties?: Record<string, unknown> }])[1].Properties ?? {};
  };

  it("go to CleanUpFailedBake from the default bus, for this state machine's ABORTED, TIMED_OUT and foreign FAILED", () => {
    // Act
    const properties = rule();

    // Assess
    expect(properties.EventBusName).toBeUndefined();
    expect(properties.EventPattern).toEqual({
      source: ['aws.states'],
      'detail-type': ['Step Functions Execution Status Change'],
      detail: {
        stateMachineArn: [{ Ref: stack.logicalIdOf('AWS::StepFunctions::StateMachine', 'BakeStateMachine') }],
        $or: [{ status: ['ABORTED', 'TIMED_OUT'] }, { status: ['FAILED'], error: [{ 'anything-but': 'BakeFailed' }] }],
      },
    });
    const targets = properties.Targets as { Arn: unknown; DeadLetterConfig?: unknown }[];
    expect(targets).toHaveLength(1);
    expect(JSON.stringify(targets[0]?.Arn)).toContain(stack.functionId(BakeFunction.CleanUpFailedBake));
    expect(targets[0]?.DeadLetterConfig).toEqual({ Arn: stack.queueArn('StoppedBakesDlq') });
  });

  it("let CleanUpFailedBake read only its own state machine's histories and publish Bake Failed", () => {
    // Assess
    expect(cleanUpCan('states:GetExecutionHistory', EXECUTION)).toBe(true);
    expect(cleanUpCan('states:GetExecutionHistory', OTHER_EXECUTION)).toBe(false);
    // The bus ARN is a GetAtt; the evaluator names it <LogicalId.Arn>.
    const bus = `<${stack.logicalIdOf('AWS::Events::EventBus', 'Bus')}.Arn>`;
    expect(cleanUpCan('events:PutEvents', bus)).toBe(true);
    expect(cleanUpCan('events:PutEvents', `arn:aws:events:${REGION}:${ACCOUNT}:event-bus/default`)).toBe(false);
  });
});

describe('the reaper', () => {
  it('runs hourly from the default schedule group, with retries and a dead-letter queue', () => {
    // Assess
    stack.template.hasResourceProperties('AWS::Scheduler::Schedule', {
      Name: `bakehouse-${STAGE}-Reaper`,
      GroupName: 'default',
      ScheduleExpression: REAPER_SCHEDULE,
      State: 'ENABLED',
      Target: Match.objectLike({
        Arn: { 'Fn::GetAtt': [stack.functionId(ReaperFunction.Reaper), 'Arn'] },
        DeadLetterConfig: { Arn: stack.queueArn('ReaperDlq') },
        RetryPolicy: { MaximumRetryAttempts: 2, MaximumEventAgeInSeconds: 3600 },
      }),
    });
    expect(REAPER_SCHEDULE).toBe('rate(1 hour)');
  });

  it("has a schedule role that only invokes the reaper and dead-letters, assumed for the default group's schedules", () => {
    // Prepare
    const roleId = stack.logicalIdOf('AWS::IAM::Role', 'ReaperSchedulerRole');
    const trust = stack.resources[roleId]?.Properties?.AssumeRolePolicyDocument as {
      Statement: { Condition: Record<string, Record<string, unknown>> }[];
    };

    // Act
    const statements = stack.roleStatements(roleId);

    // Assess
    expect(statements.map((s) => [s.Sid, asList(s.Action)])).toEqual([
      ['InvokeReaper', ['lambda:InvokeFunction']],
      ['DeadLetter', ['sqs:SendMessage']],
    ]);
    expect(JSON.stringify(trust.Statement[0]?.Condition.ArnEquals)).toContain(':schedule-group/default');
  });

  it('may terminate managed builders, testers, canaries and baselines only', () => {
    // Assess
    for (const role of ['canary', 'baseline']) {
      expect(
        reaperCan('ec2:TerminateInstances', INSTANCE, tagged({ 'bakehouse:managed': 'true', 'bakehouse:role': role })),
        role,
      ).toBe(true);
    }
  });

  it('may terminate managed builders and testers only', () => {
    // Assess
    expect(
      reaperCan(
        'ec2:TerminateInstances',
        INSTANCE,
        tagged({ 'bakehouse:managed': 'true', 'bakehouse:role': 'builder' }),
      ),
    ).toBe(true);
    expect(
      reaperCan(
        'ec2:TerminateInstances',
        INSTANCE,
        tagged({ 'bakehouse:managed': 'true', 'bakehouse:role': 'tester' }),
      ),
    ).toBe(true);
    expect(
      reaperCan('ec2:TerminateInstances', INSTANCE, tagged({ 'bakehouse:managed': 'true', 'bakehouse:role': 'web' })),
    ).toBe(false);
    expect(reaperCan('ec2:TerminateInstances', INSTANCE, tagged({ 'bakehouse:role': 'builder' }))).toBe(false);
    expect(reaperCan('ec2:TerminateInstances', INSTANCE)).toBe(false);
    expect(reaperCan('ec2:DescribeInstances', '*')).toBe(true);
    expect(reaperCan('ssm:GetAutomationExecution', `arn:aws:ssm:${REGION}:${ACCOUNT}:automation-execution/abc`)).toBe(
      true,
    );
    expect(
      reaperCan('ec2:StopInstances', INSTANCE, tagged({ 'bakehouse:managed': 'true', 'bakehouse:role': 'builder' })),
    ).toBe(false);
  });
});

describe('cdk-nag', () => {
  it('leaves no unsuppressed error or warning', () => {
    // Assess
    expect(stack.nagMessages('error')).toEqual([]);
    expect(stack.nagMessages('warning')).toEqual([]);
  });
});
