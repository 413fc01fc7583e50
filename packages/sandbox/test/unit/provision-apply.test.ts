/**
 * Applying the plan against a recording fake of the AWS calls: what is created, what an existing
 * resource gets instead (update in place, never "already exists"), and the values provisioning
 * generates (secret strings).
 */
import { describe, expect, it } from 'vitest';
import { applyResource, type CallAws, generateSecretString, isSubset } from '../../src/provision/plan';
import { TemplateResolver } from '../../src/provision/resolver';
import type { CfnTemplate } from '../../src/provision/template';

type Props = Record<string, unknown>;

const ENV = { account: '123456789012', region: 'eu-west-1', stackName: 'dev-bakehouse-Test' };

/** An AWS error as the SDK rejects with it: `name` is the AWS code. */
const awsError = (code: string): Error => Object.assign(new Error(code), { name: code });

/** Records every call and answers from `answers` (a function of the input, or an error to throw). */
const fakeAws = (answers: Record<string, (input: Props) => Props | Error>) => {
  const calls: { action: string; input: Props }[] = [];
  const call: CallAws = async (_service, action, input) => {
    calls.push({ action, input });
    const answer = answers[action]?.(input) ?? {};
    if (answer instanceof Error) throw answer;
    return answer;
  };
  return { call, calls, actions: () => calls.map((c) => c.action) };
};

const resolverFor = (resources: CfnTemplate['Resources']) =>
  new TemplateResolver({ Resources: structuredClone(resources) }, ENV);

describe('provision apply: secrets', () => {
  it('creates a secret with a generated value and makes later references use the ARN Secrets Manager gave it', async () => {
    // Prepare
    const resolver = resolverFor({
      Webhook: {
        Type: 'AWS::SecretsManager::Secret',
        Properties: { Name: 'slack', GenerateSecretString: { PasswordLength: 20, ExcludePunctuation: true } },
      },
    });
    const arn = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:slack-Ab12Cd';
    const aws = fakeAws({
      DescribeSecret: () => awsError('ResourceNotFoundException'),
      CreateSecret: () => ({ ARN: arn }),
    });

    // Act
    const outcome = await applyResource(resolver, '/nowhere', 'Webhook', aws.call);

    // Assess
    expect(outcome).toBe('created');
    const created = aws.calls.find((c) => c.action === 'CreateSecret')?.input;
    expect(created?.SecretString).toMatch(/^[A-Za-z0-9]{20}$/);
    expect(resolver.resolve({ Ref: 'Webhook' })).toBe(arn);
  });

  it('keeps the value of an existing secret whose template generates it', async () => {
    // Prepare
    const resolver = resolverFor({
      Webhook: { Type: 'AWS::SecretsManager::Secret', Properties: { Name: 'slack', GenerateSecretString: {} } },
    });
    const aws = fakeAws({ DescribeSecret: () => ({ ARN: 'arn:aws:secretsmanager:eu-west-1:1:secret:slack-x' }) });

    // Act
    const outcome = await applyResource(resolver, '/nowhere', 'Webhook', aws.call);

    // Assess
    expect(outcome).toBe('unchanged');
    expect(aws.actions()).toEqual(['DescribeSecret']);
  });

  it('generates strings by the GenerateSecretString rules: length, exclusions, each class, JSON template', () => {
    // Act
    const plain = Array.from({ length: 50 }, () =>
      generateSecretString({ PasswordLength: 12, ExcludeCharacters: 'aA0' }),
    );
    const json = JSON.parse(
      generateSecretString({ SecretStringTemplate: '{"user":"bake"}', GenerateStringKey: 'password' }),
    ) as Props;

    // Assess
    for (const value of plain) {
      expect(value).toHaveLength(12);
      expect(value).not.toMatch(/[aA0]/);
      expect(value).toMatch(/[a-z]/);
      expect(value).toMatch(/[A-Z]/);
      expect(value).toMatch(/[0-9]/);
      expect(value).toMatch(/[^A-Za-z0-9]/);
    }
    expect(json.user).toBe('bake');
    expect(json.password).toHaveLength(32);
  });
});

describe('provision apply: documents, parameters and bus policies that exist', () => {
  const documentTemplate = (description: string): CfnTemplate['Resources'] => ({
    Doc: {
      Type: 'AWS::SSM::Document',
      Properties: {
        Name: 'bake-linux',
        DocumentType: 'Automation',
        DocumentFormat: 'YAML',
        UpdateMethod: 'NewVersion',
        Content: { schemaVersion: '0.3', description, mainSteps: [] },
      },
    },
  });

  it('leaves a document whose default version has the same content', async () => {
    // Prepare
    const aws = fakeAws({
      GetDocument: () => ({
        Content: 'schemaVersion: "0.3"\ndescription: same\nmainSteps: []\n',
        DocumentType: 'Automation',
      }),
    });

    // Act
    const outcome = await applyResource(resolverFor(documentTemplate('same')), '/nowhere', 'Doc', aws.call);

    // Assess
    expect(outcome).toBe('unchanged');
    expect(aws.actions()).toEqual(['GetDocument']);
  });

  it('adds a new default version of a changed document, and replaces it where the default cannot be set', async () => {
    // Prepare
    const existing = { Content: 'schemaVersion: "0.3"\ndescription: old\nmainSteps: []\n', DocumentType: 'Automation' };
    const settable = fakeAws({
      GetDocument: () => existing,
      UpdateDocument: () => ({ DocumentDescription: { DocumentVersion: '2' } }),
    });
    const unsettable = fakeAws({
      GetDocument: () => existing,
      UpdateDocument: () => ({ DocumentDescription: { DocumentVersion: '2' } }),
      UpdateDocumentDefaultVersion: () => awsError('UnknownOperationException'),
    });

    // Act
    await applyResource(resolverFor(documentTemplate('new')), '/nowhere', 'Doc', settable.call);
    await applyResource(resolverFor(documentTemplate('new')), '/nowhere', 'Doc', unsettable.call);

    // Assess
    expect(settable.actions()).toEqual(['GetDocument', 'UpdateDocument', 'UpdateDocumentDefaultVersion']);
    expect(settable.calls[2]?.input).toEqual({ Name: 'bake-linux', DocumentVersion: '2' });
    expect(unsettable.actions()).toEqual([
      'GetDocument',
      'UpdateDocument',
      'UpdateDocumentDefaultVersion',
      'DeleteDocument',
      'CreateDocument',
    ]);
  });

  it('overwrites a parameter whose value changed, without tags, and leaves one that did not', async () => {
    // Prepare
    const resources: CfnTemplate['Resources'] = {
      P: { Type: 'AWS::SSM::Parameter', Properties: { Name: '/p', Type: 'String', Value: 'new', Tags: { a: 'b' } } },
    };
    const changed = fakeAws({ GetParameter: () => ({ Parameter: { Value: 'old', Type: 'String' } }) });
    const same = fakeAws({ GetParameter: () => ({ Parameter: { Value: 'new', Type: 'String' } }) });

    // Act
    const outcomes = [
      await applyResource(resolverFor(resources), '/nowhere', 'P', changed.call),
      await applyResource(resolverFor(resources), '/nowhere', 'P', same.call),
    ];

    // Assess
    expect(outcomes).toEqual(['updated', 'unchanged']);
    expect(changed.calls[1]).toEqual({
      action: 'PutParameter',
      input: { Name: '/p', Value: 'new', Type: 'String', Overwrite: true },
    });
  });

  it("merges the statement into the bus's policy, keeping the other statements", async () => {
    // Prepare
    const resources: CfnTemplate['Resources'] = {
      Policy: {
        Type: 'AWS::Events::EventBusPolicy',
        Properties: {
          EventBusName: 'bus',
          StatementId: 'mine',
          Statement: { Effect: 'Allow', Action: 'events:PutEvents', Principal: { AWS: '111122223333' } },
        },
      },
    };
    const other = { Sid: 'other', Effect: 'Allow', Action: 'events:PutEvents', Principal: '*' };
    const old = { Sid: 'mine', Effect: 'Deny' };
    const aws = fakeAws({
      DescribeEventBus: () => ({ Policy: JSON.stringify({ Version: '2012-10-17', Statement: [other, old] }) }),
    });

    // Act
    const outcome = await applyResource(resolverFor(resources), '/nowhere', 'Policy', aws.call);

    // Assess
    expect(outcome).toBe('updated');
    const put = aws.calls.find((c) => c.action === 'PutPermission')?.input;
    expect(JSON.parse(String(put?.Policy)).Statement).toEqual([
      other,
      { Sid: 'mine', Effect: 'Allow', Action: 'events:PutEvents', Principal: { AWS: '111122223333' } },
    ]);
  });

  it('removes targets a rule no longer has and puts the rest', async () => {
    // Prepare
    const resources: CfnTemplate['Resources'] = {
      Rule: {
        Type: 'AWS::Events::Rule',
        Properties: { Name: 'r', EventPattern: { source: ['x'] }, Targets: [{ Id: 'keep', Arn: 'arn:f' }] },
      },
    };
    const aws = fakeAws({
      DescribeRule: () => ({ Name: 'r', EventPattern: '{"source":["x"]}' }),
      ListTargetsByRule: () => ({
        Targets: [
          { Id: 'keep', Arn: 'arn:f' },
          { Id: 'gone', Arn: 'arn:g' },
        ],
      }),
    });

    // Act
    const outcome = await applyResource(resolverFor(resources), '/nowhere', 'Rule', aws.call);

    // Assess
    expect(outcome).toBe('updated');
    expect(aws.actions()).toEqual(['DescribeRule', 'ListTargetsByRule', 'RemoveTargets', 'PutRule', 'PutTargets']);
    expect(aws.calls[2]?.input).toEqual({ Rule: 'r', Ids: ['gone'] });
  });
});

describe('provision apply: comparing with what exists', () => {
  it('treats members the API adds as defaults as no change, and any differing member as one', () => {
    // Act
    const results = [
      isSubset({ A: 1, B: { C: 'x' } }, { A: 1, B: { C: 'x', D: 2 }, E: 3 }),
      isSubset({ A: [1, 2] }, { A: [1, 2, 3] }),
      isSubset({ A: { C: 'x' } }, { A: { C: 'y' } }),
      isSubset({ D: new Date(0) }, { D: new Date(0) }),
    ];

    // Assess
    expect(results).toEqual([true, false, false, true]);
  });
});
