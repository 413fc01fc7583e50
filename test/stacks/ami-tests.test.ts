/**
 * The AMI tests in the synthesized stack: one rendered test document per family with tests, the
 * role the test automations run with, TestAmi and TestResult with their rules, DLQs and on-failure
 * destinations. Synthesized once, offline, with cdk-nag's AWS Solutions checks, over the shipped
 * configuration plus a family without tests.
 */
import { describe, expect, it } from 'vitest';
import { renderTestDocument } from '../../automation/test-documents';
import shippedConfig from '../../bakehouse.config';
import { checkSteps } from '../../functions/commons/ami-tests';
import { TERMINAL_STATUSES } from '../../functions/commons/automation-status';
import { type ConfigInput, type FamilyInput, loadConfig } from '../../functions/commons/families';
import { bakehouseNames } from '../../functions/commons/stage-names';
import { AmiTestFunction } from '../../stacks/names';
import { asList, pipelineStack, type Statement } from './support/pipeline';

const STAGE = 'amitests';
const ACCOUNT = '123456789012';
const REGION = 'eu-central-1';
const names = bakehouseNames(STAGE);

/**
 * Custom builder instance profiles: the profiles' roles carry other names (and a path), as they
 * may on AWS, so a role ARN guessed from a profile's name would be the wrong one.
 */
const TEAM_PROFILE = 'team-images-builder';
const TEAM_ROLE_ARN = `arn:aws:iam::${ACCOUNT}:role/platform/TeamImagesBuilderRole`;
const UNTESTED_PROFILE = 'untested-builder';
const UNTESTED_ROLE_ARN = `arn:aws:iam::${ACCOUNT}:role/UntestedBuilderRole`;

/**
 * The shipped families plus one without tests, which gets no document; ubuntu-2404-base (tested)
 * and the untested family launch with their own instance profiles.
 */
const configInput = (): ConfigInput => {
  const config = structuredClone(shippedConfig);
  const withProfile = (family: FamilyInput, instanceProfile: string, instanceRoleArn: string): FamilyInput =>
    ({ ...family, builder: { ...family.builder, instanceProfile, instanceRoleArn } }) as FamilyInput;
  const families = config.families.map((family) =>
    family.name === 'ubuntu-2404-base' ? withProfile(family, TEAM_PROFILE, TEAM_ROLE_ARN) : family,
  );
  const first = config.families[0] as FamilyInput;
  const untested = withProfile(
    { ...structuredClone(first), name: 'al2023-untested', tests: [], schedule: undefined } as FamilyInput,
    UNTESTED_PROFILE,
    UNTESTED_ROLE_ARN,
  );
  return { ...config, families: [...families, untested] };
};
const config = loadConfig(configInput());
const testedFamilies = config.families.filter((f) => f.tests.length > 0);

const stack = pipelineStack({ stage: STAGE, account: ACCOUNT, region: REGION, config: configInput() });
const { ofType, logicalIdOf, functionId, queueArn, roleStatements, environmentOf } = stack;
const roleId = (id: string) => logicalIdOf('AWS::IAM::Role', id);

const granting = (role: string, action: string): Statement[] =>
  roleStatements(role).filter((s) => s.Effect === 'Allow' && asList(s.Action).includes(action));
const ruleProperties = (prefix: string): Record<string, unknown> => {
  const found = ofType('AWS::Events::Rule').filter(([id]) => id.startsWith(prefix));
  if (found.length !== 1) throw new Error(`expected one rule ${prefix}, found ${found.length}`);
  return found[0]![1].Properties ?? {};
};

describe('the test documents', () => {
  const documents = () =>
    ofType('AWS::SSM::Document')
      .map(([, r]) => r.Properties ?? {})
      .filter((p) => String(p.Name).startsWith(names.document('test-')));

  it('are one Automation document per family with tests, named bakehouse-<stage>-test-<family>', () => {
    // Act
    const deployed = documents().map((p) => p.Name);

    // Assess
    expect(testedFamilies.length).toBe(4);
    expect(deployed.sort()).toEqual(testedFamilies.map((f) => `bakehouse-${STAGE}-test-${f.name}`).sort());
    expect(deployed).not.toContain(names.document('test-al2023-untested'));
    for (const properties of documents()) {
      expect(properties).toMatchObject({
        DocumentType: 'Automation',
        DocumentFormat: 'YAML',
        UpdateMethod: 'NewVersion',
      });
    }
  });

  it('deploy the rendered document of each family, with a step per check', () => {
    for (const family of testedFamilies) {
      // Prepare
      const expected = renderTestDocument(family, family.os, STAGE);

      // Act
      const deployed = documents().find((p) => p.Name === names.document(`test-${family.name}`));
      const content = deployed?.Content as { mainSteps: { name: string }[] } | undefined;
      const steps = content?.mainSteps.map((s) => s.name) ?? [];

      // Assess
      expect(deployed?.Content).toEqual(expected.document);
      expect(steps).toEqual(expect.arrayContaining(checkSteps(family.tests).map((c) => c.stepName)));
    }
  });
});

describe('the rules', () => {
  it('send AMI Baked from the Bakehouse bus to TestAmi, with a DLQ and retries', () => {
    // Act
    const properties = ruleProperties('AmiBakedTests');

    // Assess
    expect(properties.EventBusName).toEqual({ Ref: logicalIdOf('AWS::Events::EventBus', 'Bus') });
    expect(properties.EventPattern).toEqual({ source: ['bakehouse'], 'detail-type': ['AMI Baked'] });
    expect(properties.Targets).toEqual([
      expect.objectContaining({
        Arn: { 'Fn::GetAtt': [functionId(AmiTestFunction.TestAmi), 'Arn'] },
        DeadLetterConfig: { Arn: queueArn('AmiBakedTestsDlq') },
        RetryPolicy: { MaximumEventAgeInSeconds: 7200, MaximumRetryAttempts: 8 },
      }),
    ]);
  });

  it('send ended test automations (and only those) from the default bus to TestResult', () => {
    // Act
    const properties = ruleProperties('TestAutomationStatusChanged');
    const pattern = properties.EventPattern as { detail: { Definition: string[]; Status: string[] } };

    // Assess
    expect(properties.EventBusName).toBeUndefined();
    expect(pattern).toMatchObject({
      source: ['aws.ssm'],
      'detail-type': ['EC2 Automation Execution Status-change Notification'],
    });
    expect(pattern.detail.Definition.sort()).toEqual(
      testedFamilies.map((f) => names.document(`test-${f.name}`)).sort(),
    );
    expect(pattern.detail.Status).toEqual([...TERMINAL_STATUSES]);
    expect(properties.Targets).toEqual([
      expect.objectContaining({
        Arn: { 'Fn::GetAtt': [functionId(AmiTestFunction.TestResult), 'Arn'] },
        DeadLetterConfig: { Arn: queueArn('TestAutomationEventsDlq') },
      }),
    ]);
  });

  it('leave the bake rule to the bake documents, so test automations never resume a bake', () => {
    // Act
    const pattern = ruleProperties('AutomationStatusChanged').EventPattern as { detail: { Definition: string[] } };

    // Assess
    expect(pattern.detail.Definition.some((name) => name.includes('-test-'))).toBe(false);
  });

  it('give both functions an on-failure queue after two retries', () => {
    for (const [fn, queue] of [
      [AmiTestFunction.TestAmi, 'TestAmiFailures'],
      [AmiTestFunction.TestResult, 'TestResultFailures'],
    ] as const) {
      // Act
      const config = ofType('AWS::Lambda::EventInvokeConfig').find(
        ([, r]) => JSON.stringify(r.Properties?.FunctionName) === JSON.stringify({ Ref: functionId(fn) }),
      )?.[1].Properties;

      // Assess
      expect(config).toMatchObject({
        MaximumRetryAttempts: 2,
        DestinationConfig: { OnFailure: { Destination: queueArn(queue) } },
      });
    }
  });
});

describe('the functions', () => {
  it('tell TestAmi the document prefix, the automation role and the tester profile', () => {
    // Act
    const environment = environmentOf(AmiTestFunction.TestAmi);

    // Assess
    expect(environment).toMatchObject({
      TEST_DOCUMENT_PREFIX: `bakehouse-${STAGE}-test-`,
      TEST_AUTOMATION_ROLE_ARN: { 'Fn::GetAtt': [roleId('TestAutomationRole'), 'Arn'] },
      TESTER_INSTANCE_PROFILE: { Ref: 'BuilderInstanceProfile' },
    });
    expect(environmentOf(AmiTestFunction.TestResult)).toMatchObject({
      TEST_DOCUMENT_PREFIX: `bakehouse-${STAGE}-test-`,
    });
  });

  it('let TestAmi start only the test documents, and pass only the test automation role to SSM', () => {
    // Prepare
    const role = roleId(`${AmiTestFunction.TestAmi}Role`);

    // Act
    const start = granting(role, 'ssm:StartAutomationExecution');
    const pass = granting(role, 'iam:PassRole');

    // Assess
    expect(start).toHaveLength(1);
    const resourcesText = JSON.stringify(start[0]?.Resource);
    for (const family of testedFamilies) expect(resourcesText).toContain(`test-${family.name}`);
    expect(resourcesText).not.toContain('bake-linux');
    expect(pass).toEqual([
      expect.objectContaining({
        Resource: { 'Fn::GetAtt': [roleId('TestAutomationRole'), 'Arn'] },
        Condition: { StringEquals: { 'iam:PassedToService': 'ssm.amazonaws.com' } },
      }),
    ]);
  });

  it('let both functions tag only Bakehouse images, and only with the three test tags', () => {
    for (const fn of [AmiTestFunction.TestAmi, AmiTestFunction.TestResult]) {
      // Act
      const tagging = granting(roleId(`${fn}Role`), 'ec2:CreateTags');

      // Assess
      expect(tagging).toHaveLength(1);
      expect(tagging[0]?.Condition).toEqual({
        StringEquals: { 'aws:ResourceTag/bakehouse:managed': 'true' },
        'ForAllValues:StringEquals': {
          'aws:TagKeys': ['bakehouse:tested', 'bakehouse:test-execution-id', 'bakehouse:tested-at'],
        },
      });
    }
  });

  it('let TestResult read automation executions and their steps, and publish', () => {
    // Prepare
    const role = roleId(`${AmiTestFunction.TestResult}Role`);

    // Assess
    expect(granting(role, 'ssm:GetAutomationExecution')).toHaveLength(1);
    expect(granting(role, 'ssm:DescribeAutomationStepExecutions')).toHaveLength(1);
    expect(granting(role, 'events:PutEvents')).toHaveLength(1);
    expect(granting(role, 'ssm:StartAutomationExecution')).toEqual([]);
  });
});

describe('the test automation role', () => {
  const role = () => roleId('TestAutomationRole');

  it('is assumed only by SSM Automation of this account', () => {
    // Act
    const trust = stack.resources[role()]?.Properties?.AssumeRolePolicyDocument as { Statement: Statement[] };

    // Assess
    expect(trust.Statement).toEqual([
      expect.objectContaining({
        Principal: { Service: 'ssm.amazonaws.com' },
        Condition: expect.objectContaining({ StringEquals: { 'aws:SourceAccount': ACCOUNT } }),
      }),
    ]);
  });

  it('launches only tagged testers, and only from images Bakehouse manages', () => {
    // Act
    const launch = granting(role(), 'ec2:RunInstances');
    const byResource = (fragment: string) => launch.filter((s) => JSON.stringify(s.Resource).includes(fragment));

    // Assess
    expect(byResource('image/*').map((s) => s.Condition)).toEqual([
      { StringEquals: { 'aws:ResourceTag/bakehouse:managed': 'true' } },
    ]);
    expect(byResource('instance/*').map((s) => s.Condition)).toEqual([
      { StringEquals: { 'aws:RequestTag/bakehouse:role': 'tester', 'aws:RequestTag/bakehouse:managed': 'true' } },
    ]);
  });

  it('terminates and commands only instances tagged as testers', () => {
    // Assess
    expect(granting(role(), 'ec2:TerminateInstances').map((s) => s.Condition)).toEqual([
      { StringEquals: { 'aws:ResourceTag/bakehouse:role': 'tester' } },
    ]);
    const onInstances = granting(role(), 'ssm:SendCommand').filter((s) =>
      JSON.stringify(s.Resource).includes('instance/*'),
    );
    expect(onInstances.map((s) => s.Condition)).toEqual([
      { StringEquals: { 'ssm:resourceTag/bakehouse:role': 'tester' } },
    ]);
    const documentsText = JSON.stringify(granting(role(), 'ssm:SendCommand').map((s) => s.Resource));
    expect(documentsText).toContain('document/AWS-RunShellScript');
    expect(documentsText).toContain('document/AWS-RunPowerShellScript');
  });

  it("passes only the builder role and the configured role of a tested family's own profile, and only to EC2", () => {
    // Assess
    expect(granting(role(), 'iam:PassRole')).toEqual([
      expect.objectContaining({
        Resource: [{ 'Fn::GetAtt': [roleId('BuilderRole'), 'Arn'] }, TEAM_ROLE_ARN],
        Condition: { StringEquals: { 'iam:PassedToService': 'ec2.amazonaws.com' } },
      }),
    ]);
  });

  it('writes tags only while launching, and grants no wildcard action', () => {
    // Act
    const actions = roleStatements(role()).flatMap((s) => asList(s.Action));

    // Assess
    expect(granting(role(), 'ec2:CreateTags').map((s) => s.Condition)).toEqual([
      { StringEquals: { 'ec2:CreateAction': 'RunInstances' } },
    ]);
    expect(actions.filter((action) => action.includes('*'))).toEqual([]);
    expect(actions).not.toContain('ec2:CreateImage');
  });
});

describe('families with their own builder instance profile', () => {
  const passRoleStatements = () =>
    ['AutomationRole', 'TestAutomationRole'].flatMap((id) => granting(roleId(id), 'iam:PassRole'));

  it('let the bake automations pass exactly the role ARNs the families configure, and only to EC2', () => {
    // Act
    const pass = granting(roleId('AutomationRole'), 'iam:PassRole');

    // Assess
    expect(pass).toEqual([
      expect.objectContaining({
        Resource: [{ 'Fn::GetAtt': [roleId('BuilderRole'), 'Arn'] }, UNTESTED_ROLE_ARN, TEAM_ROLE_ARN],
        Condition: { StringEquals: { 'iam:PassedToService': 'ec2.amazonaws.com' } },
      }),
    ]);
  });

  it("never pass a role named after a profile: the profile's name is not its role's", () => {
    // Act
    const resources = JSON.stringify(passRoleStatements().map((s) => s.Resource));

    // Assess
    expect(passRoleStatements()).toHaveLength(2);
    expect(resources).not.toContain(`role/${TEAM_PROFILE}`);
    expect(resources).not.toContain(`role/${UNTESTED_PROFILE}`);
  });
});

describe('cdk-nag', () => {
  it('leaves no unsuppressed error or warning', () => {
    // Assess
    expect(stack.nagMessages('info').length).toBeGreaterThan(0);
    expect(stack.nagMessages('error')).toEqual([]);
    expect(stack.nagMessages('warning')).toEqual([]);
  });
});
