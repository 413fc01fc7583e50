import { createHash } from 'node:crypto';
import {
  CreateDocumentCommand,
  DeleteDocumentCommand,
  DescribeDocumentCommand,
  GetDocumentCommand,
  ListDocumentsCommand,
  SSMClient,
  UpdateDocumentCommand,
} from '@aws-sdk/client-ssm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { failure, startTestSandbox, type TestSandbox } from '../../src/testing/sandbox';

let sandbox: TestSandbox;
let ssm: SSMClient;

const yamlDocument = (command: string): string => `schemaVersion: '2.2'
description: Prints a greeting.
parameters:
  greeting:
    type: String
    default: hello
    description: What to say.
mainSteps:
  - action: aws:runShellScript
    name: greet
    inputs:
      runCommand:
        - ${command}
`;

const jsonDocument = JSON.stringify({
  schemaVersion: '0.3',
  description: 'An automation.',
  parameters: { InstanceId: { type: 'String' } },
  mainSteps: [{ name: 'stop', action: 'aws:changeInstanceState', inputs: { InstanceIds: ['{{ InstanceId }}'] } }],
});

beforeAll(async () => {
  sandbox = await startTestSandbox();
  ssm = new SSMClient(sandbox.clientConfig);
});
afterAll(async () => sandbox.stop());

describe('SSM documents', () => {
  it('creates a YAML command document at version 1 with its SHA-256 hash and declared parameters', async () => {
    // Prepare
    const content = yamlDocument('echo hi');

    // Act
    const created = await ssm.send(
      new CreateDocumentCommand({ Name: 'Greet', Content: content, DocumentFormat: 'YAML', DocumentType: 'Command' }),
    );

    // Assess
    expect(created.DocumentDescription).toMatchObject({
      Name: 'Greet',
      Hash: createHash('sha256').update(content).digest('hex'),
      HashType: 'Sha256',
      DocumentVersion: '1',
      LatestVersion: '1',
      DefaultVersion: '1',
      Status: 'Active',
      Owner: '000000000000',
      DocumentType: 'Command',
      DocumentFormat: 'YAML',
      SchemaVersion: '2.2',
      Parameters: [{ Name: 'greeting', Type: 'String', DefaultValue: 'hello', Description: 'What to say.' }],
    });
  });

  it('creates a JSON automation document', async () => {
    // Act
    const created = await ssm.send(
      new CreateDocumentCommand({ Name: 'StopIt', Content: jsonDocument, DocumentType: 'Automation' }),
    );

    // Assess
    expect(created.DocumentDescription).toMatchObject({ DocumentType: 'Automation', DocumentFormat: 'JSON' });
  });

  it('refuses a second document with the same name (DocumentAlreadyExists)', async () => {
    // Prepare
    await ssm.send(
      new CreateDocumentCommand({ Name: 'Twice', Content: yamlDocument('echo 1'), DocumentFormat: 'YAML' }),
    );

    // Act
    const error = await failure(
      ssm.send(new CreateDocumentCommand({ Name: 'Twice', Content: yamlDocument('echo 2'), DocumentFormat: 'YAML' })),
    );

    // Assess
    expect(error.name).toBe('DocumentAlreadyExists');
  });

  it('refuses content that does not parse (InvalidDocumentContent)', async () => {
    // Act
    const error = await failure(ssm.send(new CreateDocumentCommand({ Name: 'Broken', Content: '{"schemaVersion": ' })));

    // Assess
    expect(error.name).toBe('InvalidDocumentContent');
  });

  it('adds a version on update, keeps the default at 1, and serves $LATEST and $DEFAULT', async () => {
    // Prepare
    await ssm.send(
      new CreateDocumentCommand({ Name: 'Evolving', Content: yamlDocument('echo 1'), DocumentFormat: 'YAML' }),
    );

    // Act
    const updated = await ssm.send(
      new UpdateDocumentCommand({
        Name: 'Evolving',
        Content: yamlDocument('echo 2'),
        DocumentFormat: 'YAML',
        DocumentVersion: '$LATEST',
      }),
    );
    const latest = await ssm.send(new GetDocumentCommand({ Name: 'Evolving', DocumentVersion: '$LATEST' }));
    const byDefault = await ssm.send(new GetDocumentCommand({ Name: 'Evolving', DocumentVersion: '$DEFAULT' }));
    const first = await ssm.send(new GetDocumentCommand({ Name: 'Evolving', DocumentVersion: '1' }));

    // Assess
    expect(updated.DocumentDescription).toMatchObject({
      DocumentVersion: '2',
      LatestVersion: '2',
      DefaultVersion: '1',
    });
    expect(latest).toMatchObject({ DocumentVersion: '2', Content: yamlDocument('echo 2') });
    expect(byDefault).toMatchObject({ DocumentVersion: '1', Content: yamlDocument('echo 1') });
    expect(first.Content).toBe(byDefault.Content);
  });

  it('refuses an update with the same content (DuplicateDocumentContent)', async () => {
    // Prepare
    await ssm.send(
      new CreateDocumentCommand({ Name: 'Same', Content: yamlDocument('echo s'), DocumentFormat: 'YAML' }),
    );

    // Act
    const error = await failure(
      ssm.send(
        new UpdateDocumentCommand({
          Name: 'Same',
          Content: yamlDocument('echo s'),
          DocumentFormat: 'YAML',
          DocumentVersion: '$LATEST',
        }),
      ),
    );

    // Assess
    expect(error.name).toBe('DuplicateDocumentContent');
  });

  it('converts content to the format asked for', async () => {
    // Act
    const asJson = await ssm.send(new GetDocumentCommand({ Name: 'Greet', DocumentFormat: 'JSON' }));

    // Assess
    expect(asJson.DocumentFormat).toBe('JSON');
    expect(JSON.parse(asJson.Content ?? '')).toMatchObject({ schemaVersion: '2.2', mainSteps: [{ name: 'greet' }] });
  });

  it('describes a given version of a document', async () => {
    // Act
    const described = await ssm.send(new DescribeDocumentCommand({ Name: 'Evolving', DocumentVersion: '2' }));

    // Assess
    expect(described.Document).toMatchObject({
      Name: 'Evolving',
      DocumentVersion: '2',
      Hash: createHash('sha256').update(yamlDocument('echo 2')).digest('hex'),
    });
  });

  it('answers InvalidDocument for a document that does not exist and InvalidDocumentVersion for a version', async () => {
    // Act
    const noDocument = await failure(ssm.send(new GetDocumentCommand({ Name: 'Nobody' })));
    const noVersion = await failure(ssm.send(new GetDocumentCommand({ Name: 'Greet', DocumentVersion: '9' })));

    // Assess
    expect(noDocument.name).toBe('InvalidDocument');
    expect(noVersion.name).toBe('InvalidDocumentVersion');
  });

  it('lists the seeded Amazon command documents with Owner Amazon', async () => {
    // Act
    const listed = await ssm.send(
      new ListDocumentsCommand({
        Filters: [
          { Key: 'Owner', Values: ['Amazon'] },
          { Key: 'DocumentType', Values: ['Command'] },
        ],
      }),
    );

    // Assess
    expect(listed.DocumentIdentifiers?.map((d) => d.Name)).toEqual(
      expect.arrayContaining([
        'AWS-RunShellScript',
        'AWS-RunPowerShellScript',
        'AWS-InstallWindowsUpdates',
        'AWS-ConfigureAWSPackage',
      ]),
    );
    expect(listed.DocumentIdentifiers?.every((d) => d.Owner === 'Amazon')).toBe(true);
  });

  it('lists only the account’s own documents with Owner Self, page by page', async () => {
    // Act
    const first = await ssm.send(
      new ListDocumentsCommand({ Filters: [{ Key: 'Owner', Values: ['Self'] }], MaxResults: 2 }),
    );
    const rest = await ssm.send(
      new ListDocumentsCommand({
        Filters: [{ Key: 'Owner', Values: ['Self'] }],
        MaxResults: 50,
        NextToken: first.NextToken,
      }),
    );

    // Assess
    const names = [...(first.DocumentIdentifiers ?? []), ...(rest.DocumentIdentifiers ?? [])].map((d) => d.Name);
    expect(first.DocumentIdentifiers).toHaveLength(2);
    expect(names).toEqual(expect.arrayContaining(['Greet', 'StopIt', 'Twice', 'Evolving', 'Same']));
    expect(names.some((name) => name?.startsWith('AWS-'))).toBe(false);
  });

  it('deletes a document, after which it is gone', async () => {
    // Prepare
    await ssm.send(
      new CreateDocumentCommand({ Name: 'Doomed', Content: yamlDocument('echo x'), DocumentFormat: 'YAML' }),
    );

    // Act
    await ssm.send(new DeleteDocumentCommand({ Name: 'Doomed' }));
    const error = await failure(ssm.send(new DescribeDocumentCommand({ Name: 'Doomed' })));

    // Assess
    expect(error.name).toBe('InvalidDocument');
  });

  it('refuses to delete an Amazon-owned document', async () => {
    // Act
    const error = await failure(ssm.send(new DeleteDocumentCommand({ Name: 'AWS-RunShellScript' })));

    // Assess
    expect(error.name).toBe('InvalidDocumentOperation');
  });
});
