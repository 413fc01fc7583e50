import {
  CreateSecretCommand,
  DescribeSecretCommand,
  GetSecretValueCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { failure, startTestSandbox, type TestSandbox } from '../../src/testing/sandbox';

let sandbox: TestSandbox;
let secrets: SecretsManagerClient;

beforeAll(async () => {
  sandbox = await startTestSandbox();
  secrets = new SecretsManagerClient(sandbox.clientConfig);
});
afterAll(async () => sandbox.stop());

describe('Secrets Manager', () => {
  it('creates a secret with an ARN ending in a 6-character suffix and a first version', async () => {
    // Act
    const created = await secrets.send(new CreateSecretCommand({ Name: 'bakehouse/token', SecretString: 'one' }));

    // Assess
    expect(created.ARN).toMatch(
      /^arn:aws:secretsmanager:us-east-1:000000000000:secret:bakehouse\/token-[A-Za-z0-9]{6}$/,
    );
    expect(created.Name).toBe('bakehouse/token');
    expect(created.VersionId).toBeDefined();
  });

  it('refuses a second secret with the same name (ResourceExistsException)', async () => {
    // Prepare
    await secrets.send(new CreateSecretCommand({ Name: 'dup', SecretString: 'a' }));

    // Act
    const error = await failure(secrets.send(new CreateSecretCommand({ Name: 'dup', SecretString: 'b' })));

    // Assess
    expect(error.name).toBe('ResourceExistsException');
  });

  it('reads the current value by name and by ARN', async () => {
    // Prepare
    const created = await secrets.send(new CreateSecretCommand({ Name: 'by-arn', SecretString: 'value' }));

    // Act
    const byName = await secrets.send(new GetSecretValueCommand({ SecretId: 'by-arn' }));
    const byArn = await secrets.send(new GetSecretValueCommand({ SecretId: created.ARN }));

    // Assess
    expect(byName).toMatchObject({
      SecretString: 'value',
      VersionId: created.VersionId,
      VersionStages: ['AWSCURRENT'],
    });
    expect(byArn.SecretString).toBe('value');
  });

  it('makes a new value AWSCURRENT and the one before AWSPREVIOUS', async () => {
    // Prepare
    const created = await secrets.send(new CreateSecretCommand({ Name: 'rotating', SecretString: 'v1' }));

    // Act
    const put = await secrets.send(new PutSecretValueCommand({ SecretId: 'rotating', SecretString: 'v2' }));
    const current = await secrets.send(new GetSecretValueCommand({ SecretId: 'rotating' }));
    const previous = await secrets.send(
      new GetSecretValueCommand({ SecretId: 'rotating', VersionStage: 'AWSPREVIOUS' }),
    );
    const described = await secrets.send(new DescribeSecretCommand({ SecretId: 'rotating' }));

    // Assess
    expect(put.VersionStages).toEqual(['AWSCURRENT']);
    expect(current).toMatchObject({ SecretString: 'v2', VersionId: put.VersionId });
    expect(previous).toMatchObject({
      SecretString: 'v1',
      VersionId: created.VersionId,
      VersionStages: ['AWSPREVIOUS'],
    });
    expect(described.VersionIdsToStages).toEqual({
      [created.VersionId ?? '']: ['AWSPREVIOUS'],
      [put.VersionId ?? '']: ['AWSCURRENT'],
    });
  });

  it('drops AWSPREVIOUS from the oldest version after a third value', async () => {
    // Prepare
    const created = await secrets.send(new CreateSecretCommand({ Name: 'three', SecretString: 'v1' }));
    await secrets.send(new PutSecretValueCommand({ SecretId: 'three', SecretString: 'v2' }));
    await secrets.send(new PutSecretValueCommand({ SecretId: 'three', SecretString: 'v3' }));

    // Act
    const previous = await secrets.send(new GetSecretValueCommand({ SecretId: 'three', VersionStage: 'AWSPREVIOUS' }));
    const oldest = await secrets.send(new GetSecretValueCommand({ SecretId: 'three', VersionId: created.VersionId }));

    // Assess
    expect(previous.SecretString).toBe('v2');
    expect(oldest).toMatchObject({ SecretString: 'v1', VersionStages: [] });
  });

  it('treats a repeated ClientRequestToken with the same value as the same request', async () => {
    // Prepare
    await secrets.send(new CreateSecretCommand({ Name: 'idempotent', SecretString: 'v1' }));
    const token = 'b1a6d2c0-0000-4000-8000-000000000001';

    // Act
    const first = await secrets.send(
      new PutSecretValueCommand({ SecretId: 'idempotent', SecretString: 'v2', ClientRequestToken: token }),
    );
    const again = await secrets.send(
      new PutSecretValueCommand({ SecretId: 'idempotent', SecretString: 'v2', ClientRequestToken: token }),
    );
    const previous = await secrets.send(
      new GetSecretValueCommand({ SecretId: 'idempotent', VersionStage: 'AWSPREVIOUS' }),
    );

    // Assess
    expect(first.VersionId).toBe(token);
    expect(again.VersionId).toBe(token);
    expect(previous.SecretString).toBe('v1');
  });

  it('refuses to change the value of an existing version (same token, other value)', async () => {
    // Prepare
    await secrets.send(new CreateSecretCommand({ Name: 'immutable', SecretString: 'v1' }));
    const token = 'b1a6d2c0-0000-4000-8000-000000000002';
    await secrets.send(
      new PutSecretValueCommand({ SecretId: 'immutable', SecretString: 'v2', ClientRequestToken: token }),
    );

    // Act
    const error = await failure(
      secrets.send(new PutSecretValueCommand({ SecretId: 'immutable', SecretString: 'v3', ClientRequestToken: token })),
    );

    // Assess
    expect(error.name).toBe('ResourceExistsException');
  });

  it('stores binary secrets', async () => {
    // Prepare
    const bytes = new Uint8Array([0, 1, 2, 250, 255]);

    // Act
    await secrets.send(new CreateSecretCommand({ Name: 'binary', SecretBinary: bytes }));
    const got = await secrets.send(new GetSecretValueCommand({ SecretId: 'binary' }));

    // Assess
    expect([...(got.SecretBinary ?? [])]).toEqual([...bytes]);
    expect(got.SecretString).toBeUndefined();
  });

  it('answers ResourceNotFoundException for a secret that does not exist', async () => {
    // Act
    const error = await failure(secrets.send(new GetSecretValueCommand({ SecretId: 'nobody' })));

    // Assess
    expect(error.name).toBe('ResourceNotFoundException');
  });

  it('answers ResourceNotFoundException for a stage no version holds', async () => {
    // Prepare
    await secrets.send(new CreateSecretCommand({ Name: 'single', SecretString: 'v1' }));

    // Act
    const error = await failure(
      secrets.send(new GetSecretValueCommand({ SecretId: 'single', VersionStage: 'AWSPREVIOUS' })),
    );

    // Assess
    expect(error.name).toBe('ResourceNotFoundException');
  });
});
