/**
 * The template resolver on small templates: every intrinsic function, pseudo parameters,
 * parameters and conditions, and the physical ids and ARNs CloudFormation gives each type.
 */
import { describe, expect, it } from 'vitest';
import { generatedName, physicalSuffix } from '../../src/provision/physical';
import { referencedIds, TemplateResolver } from '../../src/provision/resolver';
import type { CfnTemplate } from '../../src/provision/template';

const ENV = { account: '123456789012', region: 'eu-west-1', stackName: 'dev-bakehouse-Test' };

const RESOURCES: CfnTemplate['Resources'] = {
  Bus: { Type: 'AWS::Events::EventBus', Properties: { Name: 'bakehouse-dev' } },
  Tick: { Type: 'AWS::Lambda::Function', Properties: { FunctionName: 'bakehouse-dev-Tick', Handler: 'h.handler' } },
  Anonymous: { Type: 'AWS::Lambda::Function', Properties: { Handler: 'h.handler' } },
  DefaultBusRule: { Type: 'AWS::Events::Rule', Properties: { Name: 'on-default' } },
  BusRule: { Type: 'AWS::Events::Rule', Properties: { EventBusName: { Ref: 'Bus' } } },
  Machine: { Type: 'AWS::StepFunctions::StateMachine', Properties: { StateMachineName: 'bakehouse-dev-bake' } },
  Group: { Type: 'AWS::Scheduler::ScheduleGroup', Properties: { Name: 'bakehouse-dev' } },
  Schedule: { Type: 'AWS::Scheduler::Schedule', Properties: { Name: 'al2023', GroupName: { Ref: 'Group' } } },
  Queue: { Type: 'AWS::SQS::Queue', Properties: {} },
  Fifo: { Type: 'AWS::SQS::Queue', Properties: { FifoQueue: true } },
  Role: { Type: 'AWS::IAM::Role', Properties: { Path: '/service/' } },
  Profile: { Type: 'AWS::IAM::InstanceProfile', Properties: { Roles: [{ Ref: 'Role' }] } },
  Logs: { Type: 'AWS::Logs::LogGroup', Properties: { LogGroupName: '/aws/lambda/tick' } },
  Param: { Type: 'AWS::SSM::Parameter', Properties: { Type: 'String', Value: { Ref: 'Tick' } } },
  Secret: { Type: 'AWS::SecretsManager::Secret', Properties: { Name: 'slack-webhook' } },
};

const templateWith = (extra: Partial<CfnTemplate> = {}): CfnTemplate => ({
  Resources: structuredClone(RESOURCES),
  ...structuredClone(extra),
});

const resolverFor = (template: CfnTemplate = templateWith(), parameters?: Record<string, string>) =>
  new TemplateResolver(template, ENV, parameters ? { parameters } : {});

const arnOf = (resolver: TemplateResolver, logicalId: string) => resolver.resolve({ 'Fn::GetAtt': [logicalId, 'Arn'] });

describe('provision resolver: intrinsic functions', () => {
  it('resolves Ref to a named resource and the pseudo parameters to the sandbox environment', () => {
    // Prepare
    const resolver = resolverFor();
    const value = {
      'Fn::Join': [
        ':',
        [
          { Ref: 'Bus' },
          { Ref: 'AWS::Region' },
          { Ref: 'AWS::AccountId' },
          { Ref: 'AWS::Partition' },
          { Ref: 'AWS::StackName' },
          { Ref: 'AWS::URLSuffix' },
        ],
      ],
    };

    // Act
    const resolved = resolver.resolve(value);

    // Assess
    expect(resolved).toBe('bakehouse-dev:eu-west-1:123456789012:aws:dev-bakehouse-Test:amazonaws.com');
  });

  it('resolves Fn::Sub with resource, attribute, pseudo-parameter and explicit variables and keeps the escaped literal', () => {
    // Prepare
    const resolver = resolverFor();
    const value = {
      'Fn::Sub': [
        // biome-ignore lint/suspicious/noTemplateCurlyInString: CloudFormation Fn::Sub syntax
        '${Tick}|${Tick.Arn}|${AWS::Region}|${Extra}|${!Literal}',
        { Extra: { 'Fn::Join': ['-', ['a', 'b']] } },
      ],
    };

    // Act
    const resolved = resolver.resolve(value);

    // Assess
    expect(resolved).toBe(
      // biome-ignore lint/suspicious/noTemplateCurlyInString: CloudFormation Fn::Sub syntax
      'bakehouse-dev-Tick|arn:aws:lambda:eu-west-1:123456789012:function:bakehouse-dev-Tick|eu-west-1|a-b|${Literal}',
    );
  });

  it('resolves Fn::Select over Fn::Split, and the string form of Fn::GetAtt', () => {
    // Prepare
    const resolver = resolverFor();
    const value = { 'Fn::Select': [5, { 'Fn::Split': [':', { 'Fn::GetAtt': 'Machine.Arn' }] }] };

    // Act
    const resolved = resolver.resolve(value);

    // Assess
    expect(resolved).toBe('stateMachine');
  });

  it('resolves Fn::If by the template conditions and drops AWS::NoValue from objects and lists', () => {
    // Prepare
    const template = templateWith({
      Parameters: { Stage: { Type: 'String', Default: 'dev' } },
      Conditions: {
        IsProd: { 'Fn::Equals': [{ Ref: 'Stage' }, 'prod'] },
        NotProd: { 'Fn::Not': [{ Condition: 'IsProd' }] },
        Both: { 'Fn::And': [{ Condition: 'NotProd' }, { 'Fn::Or': [{ Condition: 'IsProd' }, true] }] },
      },
    });
    const resolver = resolverFor(template);
    const value = {
      Size: { 'Fn::If': ['IsProd', 100, 10] },
      Extra: { 'Fn::If': ['IsProd', 'x', { Ref: 'AWS::NoValue' }] },
      List: ['a', { 'Fn::If': ['Both', { Ref: 'AWS::NoValue' }, 'b'] }],
    };

    // Act
    const resolved = resolver.resolve(value);

    // Assess
    expect(resolved).toEqual({ Size: 10, List: ['a'] });
  });

  it('uses parameter defaults, given values over them, and splits list parameters', () => {
    // Prepare
    const template = templateWith({
      Parameters: {
        Stage: { Type: 'String', Default: 'dev' },
        Regions: { Type: 'CommaDelimitedList', Default: 'eu-west-1,us-east-1' },
      },
    });

    // Act
    const byDefault = resolverFor(template).resolve({ Ref: 'Stage' });
    const given = resolverFor(template, { Stage: 'prod' }).resolve({ Ref: 'Stage' });
    const list = resolverFor(template).resolve({ 'Fn::Select': [1, { Ref: 'Regions' }] });

    // Assess
    expect([byDefault, given, list]).toEqual(['dev', 'prod', 'us-east-1']);
  });

  it('reads an SSM-typed parameter only from a given value, and says which SSM parameter it needs', () => {
    // Prepare
    const template = templateWith({
      Parameters: { BootstrapVersion: { Type: 'AWS::SSM::Parameter::Value<String>', Default: '/cdk-bootstrap/v' } },
    });

    // Act
    const resolveMissing = () => resolverFor(template).resolve({ Ref: 'BootstrapVersion' });
    const given = resolverFor(template, { BootstrapVersion: '21' }).resolve({ Ref: 'BootstrapVersion' });

    // Assess
    expect(resolveMissing).toThrow(/BootstrapVersion is read from the SSM parameter \/cdk-bootstrap\/v/);
    expect(given).toBe('21');
  });

  it('fails Fn::ImportValue with a clear reason', () => {
    // Prepare
    const resolver = resolverFor();

    // Act
    const resolve = () => resolver.resolve({ 'Fn::ImportValue': 'shared-VpcId' }, 'X.Properties.VpcId');

    // Assess
    expect(resolve).toThrow(/X\.Properties\.VpcId: Fn::ImportValue "shared-VpcId" needs another stack's export/);
  });

  it('fails a reference to a missing resource or an unknown attribute, naming where it is', () => {
    // Prepare
    const resolver = resolverFor();

    // Act
    const missing = () => resolver.resolve({ Ref: 'Nope' }, 'Fn.Properties.Role');
    const attribute = () => resolver.resolve({ 'Fn::GetAtt': ['Bus', 'Policy'] });

    // Assess
    expect(missing).toThrow(/Fn\.Properties\.Role: Ref Nope: no such resource/);
    expect(attribute).toThrow(/does not know the Policy of a AWS::Events::EventBus/);
  });

  it('refuses a reference to a resource whose condition is false', () => {
    // Prepare
    const template = templateWith({ Conditions: { Never: { 'Fn::Equals': ['a', 'b'] } } });
    (template.Resources as Record<string, { Condition?: string }>).Queue!.Condition = 'Never';
    const resolver = resolverFor(template);

    // Act
    const active = resolver.isActive('Queue');
    const reference = () => resolver.resolve({ Ref: 'Queue' });

    // Assess
    expect(active).toBe(false);
    expect(reference).toThrow(/Queue is not created/);
  });

  it('lists the logical ids a value refers to through Ref, GetAtt and Sub, not Sub variables or literals', () => {
    // Prepare
    const value = {
      A: { Ref: 'Bus' },
      B: { 'Fn::GetAtt': ['Tick', 'Arn'] },
      // biome-ignore lint/suspicious/noTemplateCurlyInString: CloudFormation Fn::Sub syntax
      C: { 'Fn::Sub': ['${Machine.Arn}/${Var}/${!Lit}', { Var: { Ref: 'Queue' } }] },
    };

    // Act
    const ids = referencedIds(value);

    // Assess
    expect([...ids].sort()).toEqual(['Bus', 'Machine', 'Queue', 'Tick']);
  });
});

describe('provision resolver: physical ids and ARNs', () => {
  it('gives each type the Ref and ARN CloudFormation gives it', () => {
    // Prepare
    const resolver = resolverFor();
    const partOf = (_service: string) => `${ENV.region}:${ENV.account}`;

    // Act
    const ids = {
      bus: [resolver.resolve({ Ref: 'Bus' }), arnOf(resolver, 'Bus')],
      tick: [resolver.resolve({ Ref: 'Tick' }), arnOf(resolver, 'Tick')],
      machine: [resolver.resolve({ Ref: 'Machine' }), resolver.resolve({ 'Fn::GetAtt': ['Machine', 'Name'] })],
      schedule: arnOf(resolver, 'Schedule'),
      group: arnOf(resolver, 'Group'),
      role: arnOf(resolver, 'Role'),
      logs: arnOf(resolver, 'Logs'),
      profile: resolver.resolve({ Ref: 'Profile' }),
    };

    // Assess
    expect(ids).toEqual({
      bus: ['bakehouse-dev', `arn:aws:events:${partOf('bus')}:event-bus/bakehouse-dev`],
      tick: ['bakehouse-dev-Tick', `arn:aws:lambda:${partOf('fn')}:function:bakehouse-dev-Tick`],
      machine: [`arn:aws:states:${partOf('sm')}:stateMachine:bakehouse-dev-bake`, 'bakehouse-dev-bake'],
      schedule: `arn:aws:scheduler:${partOf('s')}:schedule/bakehouse-dev/al2023`,
      group: `arn:aws:scheduler:${partOf('g')}:schedule-group/bakehouse-dev`,
      role: `arn:aws:iam::123456789012:role/service/${generatedName(ENV.stackName, 'Role', 64)}`,
      logs: `arn:aws:logs:${partOf('l')}:log-group:/aws/lambda/tick:*`,
      profile: generatedName(ENV.stackName, 'Profile', 128),
    });
  });

  it('gives a rule on the default bus its name as Ref and one on a custom bus `bus|rule`, with the bus in its ARN', () => {
    // Prepare
    const resolver = resolverFor();
    const generated = generatedName(ENV.stackName, 'BusRule', 64);

    // Act
    const refs = [resolver.resolve({ Ref: 'DefaultBusRule' }), resolver.resolve({ Ref: 'BusRule' })];
    const arns = [arnOf(resolver, 'DefaultBusRule'), arnOf(resolver, 'BusRule')];

    // Assess
    expect(refs).toEqual(['on-default', `bakehouse-dev|${generated}`]);
    expect(arns).toEqual([
      'arn:aws:events:eu-west-1:123456789012:rule/on-default',
      `arn:aws:events:eu-west-1:123456789012:rule/bakehouse-dev/${generated}`,
    ]);
  });

  it('generates <stack>-<logicalId>-<SUFFIX> names that are stable and fit the type', () => {
    // Prepare
    const resolver = resolverFor();

    // Act
    const name = resolver.resolve({ Ref: 'Anonymous' }) as string;
    const again = resolverFor().resolve({ Ref: 'Anonymous' });
    const long = generatedName(
      'a-very-long-stack-name-for-a-test-of-truncation',
      'AnEvenLongerLogicalIdThanThat0123',
      64,
    );

    // Assess
    expect(name).toBe(`dev-bakehouse-Test-Anonymous-${physicalSuffix(ENV.stackName, 'Anonymous')}`);
    expect(name).toMatch(/-[A-Z0-9]{12}$/);
    expect(again).toBe(name);
    expect(long.length).toBe(64);
    expect(long).toMatch(/^a-very-long-stack-name-fo-AnEvenLongerLogicalIdThan-[A-Z0-9]{12}$/);
  });

  it('gives an SQS queue its URL as Ref and its ARN, with .fifo kept on generated FIFO names', () => {
    // Prepare
    const resolver = resolverFor();
    const name = generatedName(ENV.stackName, 'Queue', 80);

    // Act
    const ref = resolver.resolve({ Ref: 'Queue' });
    const arn = arnOf(resolver, 'Queue');
    const fifo = resolver.resolve({ 'Fn::GetAtt': ['Fifo', 'QueueName'] });

    // Assess
    expect(ref).toBe(`https://sqs.eu-west-1.amazonaws.com/123456789012/${name}`);
    expect(arn).toBe(`arn:aws:sqs:eu-west-1:123456789012:${name}`);
    expect(fifo).toMatch(/^dev-bakehouse-Test-Fifo-[A-Z0-9]{12}\.fifo$/);
  });

  it('gives an SSM parameter its value as an attribute and a generated CFN- name', () => {
    // Prepare
    const resolver = resolverFor();

    // Act
    const ref = resolver.resolve({ Ref: 'Param' });
    const value = resolver.resolve({ 'Fn::GetAtt': ['Param', 'Value'] });

    // Assess
    expect(ref).toBe(`CFN-Param-${physicalSuffix(ENV.stackName, 'Param')}`);
    expect(value).toBe('bakehouse-dev-Tick');
  });

  it("lets provisioning replace a secret's predicted ARN with the one Secrets Manager gave it", () => {
    // Prepare
    const resolver = resolverFor();
    const predicted = resolver.resolve({ Ref: 'Secret' });
    const real = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:slack-webhook-AbCdEf';

    // Act
    resolver.override('Secret', { ref: real });
    const after = resolver.resolve({ Ref: 'Secret' });

    // Assess
    expect(predicted).toMatch(/^arn:aws:secretsmanager:eu-west-1:123456789012:secret:slack-webhook-[A-Z0-9]{6}$/);
    expect(after).toBe(real);
  });
});
