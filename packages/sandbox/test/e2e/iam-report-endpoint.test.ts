import { DescribeImagesCommand, DescribeSnapshotsCommand, EC2Client } from '@aws-sdk/client-ec2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LeastPrivilegeReport } from '../../src/authz/report';
import { roleSession } from '../../src/testing/iam';
import { failure, startTestSandbox, type TestSandbox } from '../../src/testing/sandbox';

let sandbox: TestSandbox;

beforeAll(async () => {
  sandbox = await startTestSandbox();
});
afterAll(async () => {
  await sandbox.stop();
});

describe('GET /_sandbox/iam/report', () => {
  it('reports what a role session used, what it was refused and what its policy grants that it never used', async () => {
    // Prepare
    const session = await roleSession(sandbox, {
      roleName: 'reader',
      policy: {
        Version: '2012-10-17',
        Statement: [
          {
            Sid: 'ReadImages',
            Effect: 'Allow',
            Action: ['ec2:DescribeImages', 'ec2:DescribeInstances'],
            Resource: '*',
          },
        ],
      },
    });
    const ec2 = new EC2Client(session.clientConfig);
    await ec2.send(new DescribeImagesCommand({ Owners: ['self'] }));
    await failure(ec2.send(new DescribeSnapshotsCommand({ OwnerIds: ['self'] })));
    ec2.destroy();

    // Act
    const { status, body } = await sandbox.control('GET', '/_sandbox/iam/report');

    // Assess
    const report = body as LeastPrivilegeReport;
    const reader = report.roles.find((role) => role.roleArn === session.roleArn);
    expect(status).toBe(200);
    expect(report.enforcement).toBe('on');
    expect(reader?.used).toEqual({ 'ec2:DescribeImages': ['*'] });
    expect(reader?.denials.map((d) => [d.action, d.enforced])).toEqual([['ec2:DescribeSnapshots', true]]);
    expect(reader?.unusedGrants).toEqual([
      expect.objectContaining({ policy: 'policy', sid: 'ReadImages', unused: ['ec2:DescribeInstances'] }),
    ]);
    expect(report.totals.denials).toBe(1);
  });
});
