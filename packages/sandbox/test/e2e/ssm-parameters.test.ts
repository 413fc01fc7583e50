import { DescribeImagesCommand, EC2Client } from '@aws-sdk/client-ec2';
import {
  DeleteParameterCommand,
  DeleteParametersCommand,
  DescribeParametersCommand,
  GetParameterCommand,
  GetParameterHistoryCommand,
  GetParametersByPathCommand,
  GetParametersCommand,
  PutParameterCommand,
  SSMClient,
} from '@aws-sdk/client-ssm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { failure, startTestSandbox, type TestSandbox } from '../../src/testing/sandbox';

let sandbox: TestSandbox;
let ssm: SSMClient;
let ec2: EC2Client;

const PUBLIC_PARAMETERS = [
  '/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64',
  '/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64',
  '/aws/service/canonical/ubuntu/server/24.04/stable/current/amd64/hvm/ebs-gp3/ami-id',
  '/aws/service/ami-windows-latest/Windows_Server-2022-English-Full-Base',
  '/aws/service/ami-windows-latest/Windows_Server-2025-English-Full-Base',
];

beforeAll(async () => {
  sandbox = await startTestSandbox();
  ssm = new SSMClient(sandbox.clientConfig);
  ec2 = new EC2Client(sandbox.clientConfig);
});
afterAll(async () => sandbox.stop());

describe('SSM parameters', () => {
  it('creates a String parameter at version 1 in the Standard tier and reads it back', async () => {
    // Act
    const put = await ssm.send(new PutParameterCommand({ Name: '/crud/plain', Value: 'hello', Type: 'String' }));
    const got = await ssm.send(new GetParameterCommand({ Name: '/crud/plain' }));

    // Assess
    expect(put).toMatchObject({ Version: 1, Tier: 'Standard' });
    expect(got.Parameter).toMatchObject({
      Name: '/crud/plain',
      Type: 'String',
      Value: 'hello',
      Version: 1,
      DataType: 'text',
      ARN: 'arn:aws:ssm:us-east-1:000000000000:parameter/crud/plain',
    });
    expect(got.Parameter?.LastModifiedDate).toBeInstanceOf(Date);
  });

  it('refuses to replace a parameter without Overwrite (ParameterAlreadyExists)', async () => {
    // Prepare
    await ssm.send(new PutParameterCommand({ Name: '/crud/exists', Value: 'one', Type: 'String' }));

    // Act
    const error = await failure(
      ssm.send(new PutParameterCommand({ Name: '/crud/exists', Value: 'two', Type: 'String' })),
    );

    // Assess
    expect(error.name).toBe('ParameterAlreadyExists');
  });

  it('increments the version on overwrite and keeps every version in the history with its date and user', async () => {
    // Prepare
    await ssm.send(
      new PutParameterCommand({ Name: '/crud/versions', Value: 'v1', Type: 'String', Description: 'first' }),
    );
    await sandbox.control('POST', '/_sandbox/clock', { advanceSeconds: 60 });

    // Act
    const second = await ssm.send(
      new PutParameterCommand({ Name: '/crud/versions', Value: 'v2', Type: 'String', Overwrite: true }),
    );
    const history = await ssm.send(new GetParameterHistoryCommand({ Name: '/crud/versions' }));

    // Assess
    expect(second.Version).toBe(2);
    expect(history.Parameters?.map((p) => [p.Version, p.Value, p.Description])).toEqual([
      [1, 'v1', 'first'],
      [2, 'v2', 'first'],
    ]);
    const [first, latest] = history.Parameters ?? [];
    expect((latest?.LastModifiedDate?.getTime() ?? 0) - (first?.LastModifiedDate?.getTime() ?? 0)).toBe(60_000);
    expect(latest?.LastModifiedUser).toBe('arn:aws:iam::000000000000:user/sandbox');
  });

  it('reads an older version with a name:version selector', async () => {
    // Prepare
    await ssm.send(new PutParameterCommand({ Name: '/crud/selector', Value: 'old', Type: 'String' }));
    await ssm.send(new PutParameterCommand({ Name: '/crud/selector', Value: 'new', Type: 'String', Overwrite: true }));

    // Act
    const got = await ssm.send(new GetParameterCommand({ Name: '/crud/selector:1' }));

    // Assess
    expect(got.Parameter).toMatchObject({ Value: 'old', Version: 1, Selector: ':1' });
  });

  it('returns SecureString values encrypted unless WithDecryption', async () => {
    // Prepare
    await ssm.send(new PutParameterCommand({ Name: '/crud/secret', Value: 's3cr3t', Type: 'SecureString' }));

    // Act
    const hidden = await ssm.send(new GetParameterCommand({ Name: '/crud/secret' }));
    const shown = await ssm.send(new GetParameterCommand({ Name: '/crud/secret', WithDecryption: true }));

    // Assess
    expect(hidden.Parameter?.Value).not.toContain('s3cr3t');
    expect(hidden.Parameter?.Value).toMatch(/^AQICAH/);
    expect(shown.Parameter?.Value).toBe('s3cr3t');
  });

  it('answers ParameterNotFound for a missing parameter', async () => {
    // Act
    const error = await failure(ssm.send(new GetParameterCommand({ Name: '/crud/nope' })));

    // Assess
    expect(error.name).toBe('ParameterNotFound');
  });

  it('lists missing names of GetParameters as InvalidParameters', async () => {
    // Prepare
    await ssm.send(new PutParameterCommand({ Name: '/many/a', Value: 'a', Type: 'StringList' }));

    // Act
    const got = await ssm.send(new GetParametersCommand({ Names: ['/many/a', '/many/missing'] }));

    // Assess
    expect(got.Parameters?.map((p) => [p.Name, p.Type])).toEqual([['/many/a', 'StringList']]);
    expect(got.InvalidParameters).toEqual(['/many/missing']);
  });

  it('refuses names under the reserved aws and ssm prefixes', async () => {
    // Act
    const error = await failure(ssm.send(new PutParameterCommand({ Name: '/aws/mine', Value: 'x', Type: 'String' })));

    // Assess
    expect(error.name).toBe('ValidationException');
  });

  it('deletes parameters and reports the ones that did not exist', async () => {
    // Prepare
    await ssm.send(new PutParameterCommand({ Name: '/delete/one', Value: '1', Type: 'String' }));
    await ssm.send(new PutParameterCommand({ Name: '/delete/two', Value: '2', Type: 'String' }));
    await ssm.send(new PutParameterCommand({ Name: '/delete/three', Value: '3', Type: 'String' }));

    // Act
    await ssm.send(new DeleteParameterCommand({ Name: '/delete/one' }));
    const many = await ssm.send(
      new DeleteParametersCommand({ Names: ['/delete/two', '/delete/three', '/delete/none'] }),
    );
    const again = await failure(ssm.send(new DeleteParameterCommand({ Name: '/delete/one' })));

    // Assess
    expect(many.DeletedParameters).toEqual(['/delete/two', '/delete/three']);
    expect(many.InvalidParameters).toEqual(['/delete/none']);
    expect(again.name).toBe('ParameterNotFound');
  });
});

describe('SSM parameters by path and by filter', () => {
  beforeAll(async () => {
    for (let index = 0; index < 12; index += 1) {
      const name = `/tree/level/p${String(index).padStart(2, '0')}`;
      await ssm.send(new PutParameterCommand({ Name: name, Value: `v${index}`, Type: 'String' }));
    }
    await ssm.send(new PutParameterCommand({ Name: '/tree/top', Value: 'top', Type: 'String' }));
  });

  it('returns only the direct children of a path unless Recursive', async () => {
    // Act
    const oneLevel = await ssm.send(new GetParametersByPathCommand({ Path: '/tree' }));

    // Assess
    expect(oneLevel.Parameters?.map((p) => p.Name)).toEqual(['/tree/top']);
  });

  it('pages a recursive path 10 at a time with NextToken', async () => {
    // Act
    const first = await ssm.send(new GetParametersByPathCommand({ Path: '/tree/', Recursive: true }));
    const second = await ssm.send(
      new GetParametersByPathCommand({ Path: '/tree/', Recursive: true, NextToken: first.NextToken }),
    );

    // Assess
    expect(first.Parameters).toHaveLength(10);
    expect(first.NextToken).toBeDefined();
    expect(second.Parameters).toHaveLength(3);
    expect(second.NextToken).toBeUndefined();
  });

  it('refuses a MaxResults above 10 for GetParametersByPath', async () => {
    // Act
    const error = await failure(ssm.send(new GetParametersByPathCommand({ Path: '/tree', MaxResults: 11 })));

    // Assess
    expect(error.name).toBe('ValidationException');
  });

  it('describes parameters whose names begin with a prefix, page by page', async () => {
    // Act
    const first = await ssm.send(
      new DescribeParametersCommand({
        ParameterFilters: [{ Key: 'Name', Option: 'BeginsWith', Values: ['/tree/level/'] }],
        MaxResults: 5,
      }),
    );
    const rest = await ssm.send(
      new DescribeParametersCommand({
        ParameterFilters: [{ Key: 'Name', Option: 'BeginsWith', Values: ['/tree/level/'] }],
        MaxResults: 50,
        NextToken: first.NextToken,
      }),
    );

    // Assess
    expect(first.Parameters?.map((p) => p.Name)).toEqual([
      '/tree/level/p00',
      '/tree/level/p01',
      '/tree/level/p02',
      '/tree/level/p03',
      '/tree/level/p04',
    ]);
    expect(rest.Parameters).toHaveLength(7);
    expect(rest.NextToken).toBeUndefined();
  });

  it('lists every parameter with no filter in pages of at most 50 (SSM API Reference, DescribeParameters: MaxResults 1-50)', async () => {
    // Prepare
    for (let i = 0; i < 60; i++) {
      await ssm.send(
        new PutParameterCommand({ Name: `/paging/p${String(i).padStart(2, '0')}`, Type: 'String', Value: 'v' }),
      );
    }
    const names: string[] = [];
    const sizes: number[] = [];
    let NextToken: string | undefined;

    // Act
    do {
      const page = await ssm.send(new DescribeParametersCommand({ MaxResults: 50, NextToken }));
      sizes.push(page.Parameters?.length ?? 0);
      names.push(...(page.Parameters ?? []).flatMap((p) => (p.Name ? [p.Name] : [])));
      NextToken = page.NextToken;
    } while (NextToken);
    const tooMany = await failure(ssm.send(new DescribeParametersCommand({ MaxResults: 51 })));

    // Assess
    expect(sizes[0]).toBe(50);
    expect(sizes.every((n) => n <= 50)).toBe(true);
    expect(names.filter((n) => n.startsWith('/paging/'))).toHaveLength(60);
    expect(new Set(names).size).toBe(names.length);
    expect(names.some((n) => n.startsWith('/aws/'))).toBe(false);
    expect(tooMany.name).toBe('ValidationException');
  });

  it('refuses GetParameters with more than 10 names (SSM API Reference, GetParameters: Names, 1-10 items)', async () => {
    // Act
    const names = Array.from({ length: 11 }, (_, i) => `/paging/p${String(i).padStart(2, '0')}`);
    const error = await failure(ssm.send(new GetParametersCommand({ Names: names })));
    const ten = await ssm.send(new GetParametersCommand({ Names: names.slice(0, 10) }));

    // Assess
    expect(error.name).toBe('ValidationException');
    expect(ten.Parameters).toHaveLength(10);
    expect(ten.InvalidParameters).toEqual([]);
  });

  it('describes parameters by Path and by exact Name', async () => {
    // Act
    const byPath = await ssm.send(
      new DescribeParametersCommand({ ParameterFilters: [{ Key: 'Path', Option: 'OneLevel', Values: ['/tree'] }] }),
    );
    const byName = await ssm.send(
      new DescribeParametersCommand({
        ParameterFilters: [{ Key: 'Name', Option: 'Equals', Values: ['/tree/level/p03'] }],
      }),
    );

    // Assess
    expect(byPath.Parameters?.map((p) => p.Name)).toEqual(['/tree/top']);
    expect(byName.Parameters?.map((p) => [p.Name, p.Version, p.Type, p.Tier])).toEqual([
      ['/tree/level/p03', 1, 'String', 'Standard'],
    ]);
  });

  it('answers InvalidFilterKey for a filter key SSM does not know', async () => {
    // Act
    const error = await failure(
      ssm.send(new DescribeParametersCommand({ ParameterFilters: [{ Key: 'Colour', Values: ['red'] }] })),
    );

    // Assess
    expect(error.name).toBe('InvalidFilterKey');
  });
});

describe('aws:ec2:image parameters and the seeded public parameters', () => {
  it('resolves every seeded public parameter to a describable, available Amazon image', async () => {
    // Act
    const got = await ssm.send(new GetParametersCommand({ Names: PUBLIC_PARAMETERS }));
    const imageIds = (got.Parameters ?? []).map((p) => p.Value ?? '');
    const images = await ec2.send(new DescribeImagesCommand({ ImageIds: imageIds }));

    // Assess
    expect(got.InvalidParameters).toEqual([]);
    expect(got.Parameters?.every((p) => p.DataType === 'aws:ec2:image')).toBe(true);
    expect(images.Images).toHaveLength(PUBLIC_PARAMETERS.length);
    expect(images.Images?.every((image) => image.State === 'available')).toBe(true);
  });

  it('finds the public parameters by path', async () => {
    // Act
    const listed = await ssm.send(new GetParametersByPathCommand({ Path: '/aws/service/ami-amazon-linux-latest' }));

    // Assess
    expect(listed.Parameters?.map((p) => p.Name)).toEqual([
      '/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64',
      '/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64',
    ]);
  });

  it('accepts an aws:ec2:image parameter naming an available image', async () => {
    // Prepare
    const source = await ssm.send(new GetParameterCommand({ Name: PUBLIC_PARAMETERS[0] }));

    // Act
    const put = await ssm.send(
      new PutParameterCommand({
        Name: '/bakehouse/golden/al2023',
        Value: source.Parameter?.Value,
        Type: 'String',
        DataType: 'aws:ec2:image',
      }),
    );
    const got = await ssm.send(new GetParameterCommand({ Name: '/bakehouse/golden/al2023' }));

    // Assess
    expect(put.Version).toBe(1);
    expect(got.Parameter).toMatchObject({ Value: source.Parameter?.Value, DataType: 'aws:ec2:image' });
  });

  it('refuses an aws:ec2:image value that is not an AMI id', async () => {
    // Act
    const error = await failure(
      ssm.send(
        new PutParameterCommand({
          Name: '/bakehouse/bad-format',
          Value: 'ami-zzz',
          Type: 'String',
          DataType: 'aws:ec2:image',
        }),
      ),
    );

    // Assess
    expect(error.name).toBe('ValidationException');
    expect(error.message).toContain('ami-zzz');
  });

  it('refuses an aws:ec2:image value naming an image that does not exist, and creates nothing', async () => {
    // Act
    const error = await failure(
      ssm.send(
        new PutParameterCommand({
          Name: '/bakehouse/missing-image',
          Value: 'ami-0123456789abcdef0',
          Type: 'String',
          DataType: 'aws:ec2:image',
        }),
      ),
    );
    const lookup = await failure(ssm.send(new GetParameterCommand({ Name: '/bakehouse/missing-image' })));

    // Assess
    expect(error.name).toBe('ValidationException');
    expect(lookup.name).toBe('ParameterNotFound');
  });
});
