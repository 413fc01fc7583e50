import { existsSync } from 'node:fs';
import { join } from 'node:path';
import {
  CreateImageCommand,
  DescribeImagesCommand,
  DescribeInstancesCommand,
  EC2Client,
  RunInstancesCommand,
  StopInstancesCommand,
  TerminateInstancesCommand,
} from '@aws-sdk/client-ec2';
import {
  CreateDocumentCommand,
  GetAutomationExecutionCommand,
  GetCommandInvocationCommand,
  type GetCommandInvocationCommandOutput,
  GetParameterCommand,
  ListCommandInvocationsCommand,
  SendCommandCommand,
  SSMClient,
  StartAutomationExecutionCommand,
} from '@aws-sdk/client-ssm';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { AL2023_NEWER_RELEASE, resetBubblewrapProbe } from '../../src/guest';
import { startTestSandbox, type TestSandbox } from '../../src/testing/sandbox';

/**
 * Run Command in guests, end to end through SSM and EC2: the sandbox's clock runs at 15× (the
 * Ubuntu boot-time lock lasts 75 sandbox seconds, 5 real ones) and is moved forward where a
 * test waits for something else.
 */

const SPEED = 15;
let sandbox: TestSandbox;
let ssm: SSMClient;
let ec2: EC2Client;
const savedGuests = process.env.BAKEHOUSE_SANDBOX_GUESTS;

const advance = (seconds: number) => sandbox.control('POST', '/_sandbox/clock', { advanceSeconds: seconds });

const imageOf = async (parameter: string): Promise<string> =>
  (await ssm.send(new GetParameterCommand({ Name: parameter }))).Parameter?.Value ?? '';
const AL2023 = '/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64';
const UBUNTU = '/aws/service/canonical/ubuntu/server/24.04/stable/current/amd64/hvm/ebs-gp3/ami-id';

const waitFor = async <T>(probe: () => Promise<T | undefined>, what: string, limitMs = 60_000): Promise<T> => {
  const until = Date.now() + limitMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((done) => setTimeout(done, 100));
  }
};

const stateOf = async (instanceId: string): Promise<string | undefined> => {
  const described = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }));
  return described.Reservations?.[0]?.Instances?.[0]?.State?.Name;
};

const launch = async (imageId: string): Promise<string> => {
  const launched = await ec2.send(
    new RunInstancesCommand({
      ImageId: imageId,
      InstanceType: 't3.micro',
      MinCount: 1,
      MaxCount: 1,
      IamInstanceProfile: { Name: 'bakehouse-builder' },
    }),
  );
  const instanceId = launched.Instances?.[0]?.InstanceId ?? '';
  await waitFor(async () => ((await stateOf(instanceId)) === 'running' ? true : undefined), `${instanceId} running`);
  return instanceId;
};

const runShell = async (instanceId: string, commands: string[]): Promise<GetCommandInvocationCommandOutput> => {
  const sent = await ssm.send(
    new SendCommandCommand({ DocumentName: 'AWS-RunShellScript', InstanceIds: [instanceId], Parameters: { commands } }),
  );
  const commandId = sent.Command?.CommandId ?? '';
  return waitFor(async () => {
    const invocation = await ssm.send(
      new GetCommandInvocationCommand({ CommandId: commandId, InstanceId: instanceId }),
    );
    return ['Pending', 'InProgress', 'Delayed'].includes(invocation.Status ?? '') ? undefined : invocation;
  }, `command ${commandId}`);
};

beforeAll(async () => {
  process.env.BAKEHOUSE_SANDBOX_GUESTS = 'on';
  sandbox = await startTestSandbox({ speed: SPEED });
  ssm = new SSMClient(sandbox.clientConfig);
  ec2 = new EC2Client(sandbox.clientConfig);
});
afterAll(async () => {
  if (savedGuests === undefined) delete process.env.BAKEHOUSE_SANDBOX_GUESTS;
  else process.env.BAKEHOUSE_SANDBOX_GUESTS = savedGuests;
  await sandbox.stop();
});

describe('Run Command in an Ubuntu guest right after boot', () => {
  it('fails apt-get with exit code 100 on the dpkg lock, then succeeds after cloud-init status --wait', async () => {
    // Prepare
    const instanceId = await launch(await imageOf(UBUNTU));

    // Act
    const locked = await runShell(instanceId, ['apt-get update']);
    const waited = await runShell(instanceId, ['cloud-init status --wait > /dev/null', 'apt-get update']);

    // Assess
    expect(locked).toMatchObject({ Status: 'Failed', ResponseCode: 100 });
    expect(locked.StandardErrorContent).toMatch(
      /^E: Could not get lock \/var\/lib\/apt\/lists\/lock\. It is held by process \d+/m,
    );
    expect(waited).toMatchObject({ Status: 'Success', ResponseCode: 0 });
    expect(waited.StandardOutputContent).toContain('Reading package lists... Done');
  });
});

describe('Run Command in an Amazon Linux 2023 guest', () => {
  let instanceId: string;
  beforeAll(async () => {
    instanceId = await launch(await imageOf(AL2023));
  });

  it("fails the invocation with the script's exit code, and on a syntax error", async () => {
    // Act
    const failing = await runShell(instanceId, ['echo checking', 'test -f /etc/no-such-file || exit 3']);
    const broken = await runShell(instanceId, ['if then fi']);

    // Assess
    expect(failing).toMatchObject({ Status: 'Failed', StatusDetails: 'Failed', ResponseCode: 3 });
    expect(failing.StandardOutputContent).toBe('checking\n');
    expect(broken).toMatchObject({ Status: 'Failed', ResponseCode: 2 });
    expect(broken.StandardErrorContent).toContain('syntax error');
  });

  it('shows 24,000 characters of stdout and 8,000 of stderr, and a plugin Output of at most 2,500', async () => {
    // Act
    const invocation = await runShell(instanceId, ["printf 'o%.0s' $(seq 30000)", "printf 'e%.0s' $(seq 9000) >&2"]);
    const listed = await ssm.send(
      new ListCommandInvocationsCommand({ CommandId: invocation.CommandId, Details: true }),
    );
    const output = listed.CommandInvocations?.[0]?.CommandPlugins?.[0]?.Output ?? '';

    // Assess
    expect(invocation.Status).toBe('Success');
    expect(invocation.StandardOutputContent).toBe('o'.repeat(24_000));
    expect(invocation.StandardErrorContent).toBe('e'.repeat(8_000));
    expect(output.length).toBeLessThanOrEqual(2_500);
    expect(output).toMatch(/^o+\n---Output truncated---\n----------ERROR-------\ne+\n---Error truncated----$/);
  });

  it('keeps dnf on the release the image is locked to, until --releasever=latest moves it', async () => {
    // Prepare
    const inventory = "rpm -qa --queryformat '%{NAME} %{VERSION}-%{RELEASE}.%{ARCH}\\n' | LC_ALL=C sort";

    // Act
    const plain = await runShell(instanceId, [
      `${inventory} > /tmp/before`,
      'dnf -y upgrade',
      `${inventory} | cmp - /tmp/before`,
    ]);
    const latest = await runShell(instanceId, [
      'dnf -y upgrade --releasever=latest > /dev/null',
      "rpm -q system-release --qf '%{VERSION}\\n'",
      'cat /etc/amazon-linux-release',
      `${inventory} | LC_ALL=C comm -13 /tmp/before - | grep '^glibc '`,
    ]);

    // Assess
    expect(plain.Status).toBe('Success');
    expect(plain.StandardOutputContent).toContain('Nothing to do.');
    expect(latest).toMatchObject({
      Status: 'Success',
      StandardOutputContent: [
        AL2023_NEWER_RELEASE,
        `Amazon Linux release ${AL2023_NEWER_RELEASE} (Amazon Linux)`,
        'glibc 2.34-196.amzn2023.0.2.x86_64',
        '',
      ].join('\n'),
    });
  });

  it("gives an automation's aws:runCommand step the plugin Output: at most 2,500 characters", async () => {
    // Prepare
    await ssm.send(
      new CreateDocumentCommand({
        Name: 'GuestOutput',
        DocumentType: 'Automation',
        DocumentFormat: 'YAML',
        Content: [
          "schemaVersion: '0.3'",
          'parameters:',
          '  InstanceId:',
          '    type: String',
          'mainSteps:',
          '  - name: talk',
          '    action: aws:runCommand',
          '    inputs:',
          '      DocumentName: AWS-RunShellScript',
          '      InstanceIds:',
          "        - '{{ InstanceId }}'",
          '      Parameters:',
          '        commands:',
          `          - "printf 'x%.0s' $(seq 3000)"`,
          '',
        ].join('\n'),
      }),
    );

    // Act
    const started = await ssm.send(
      new StartAutomationExecutionCommand({ DocumentName: 'GuestOutput', Parameters: { InstanceId: [instanceId] } }),
    );
    const done = await waitFor(async () => {
      const execution = await ssm.send(
        new GetAutomationExecutionCommand({ AutomationExecutionId: started.AutomationExecutionId }),
      );
      const status = execution.AutomationExecution?.AutomationExecutionStatus ?? '';
      return ['Pending', 'InProgress', 'Waiting'].includes(status) ? undefined : execution.AutomationExecution;
    }, 'the automation');
    const output = done.StepExecutions?.[0]?.Outputs?.Output?.[0] ?? '';

    // Assess
    expect(done.AutomationExecutionStatus).toBe('Success');
    expect(output.length).toBeLessThanOrEqual(2_500);
    expect(output).toMatch(/^x{2000,}\n---Output truncated---$/);
  });

  it('runs the sandbox clock at most 60x while a script runs, and gives it its speed back after', async () => {
    // Prepare
    await sandbox.control('POST', '/_sandbox/clock', { speed: 600 });
    const speed = async () => ((await sandbox.control('GET', '/_sandbox/clock')).body as { speed: number }).speed;

    try {
      // Act
      const sent = await ssm.send(
        new SendCommandCommand({
          DocumentName: 'AWS-RunShellScript',
          InstanceIds: [instanceId],
          Parameters: { commands: ['sleep 2'] },
        }),
      );
      const during = await waitFor(async () => ((await speed()) === 60 ? 60 : undefined), 'the paced clock');
      await waitFor(async () => {
        const invocation = await ssm.send(
          new GetCommandInvocationCommand({ CommandId: sent.Command?.CommandId, InstanceId: instanceId }),
        );
        return invocation.Status === 'Success' ? true : undefined;
      }, 'the sleep');
      const after = await speed();

      // Assess
      expect(during).toBe(60);
      expect(after).toBe(600);
    } finally {
      await sandbox.control('POST', '/_sandbox/clock', { speed: SPEED });
    }
  });

  it('keeps what a command did for the next one, and CreateImage carries it to instances of the image', async () => {
    // Prepare
    const install = await runShell(instanceId, ['dnf -y install jq']);
    await ec2.send(new StopInstancesCommand({ InstanceIds: [instanceId] }));
    await advance(60);
    await waitFor(async () => ((await stateOf(instanceId)) === 'stopped' ? true : undefined), 'stopped');

    // Act
    const created = await ec2.send(new CreateImageCommand({ InstanceId: instanceId, Name: 'guest-carries-jq' }));
    await advance(600);
    await waitFor(async () => {
      const images = await ec2.send(new DescribeImagesCommand({ ImageIds: [created.ImageId ?? ''] }));
      return images.Images?.[0]?.State === 'available' ? true : undefined;
    }, 'image available');
    const child = await launch(created.ImageId ?? '');
    await advance(120);
    const check = await runShell(child, ['jq --version', "rpm -q jq --qf '%{NAME}-%{VERSION}\\n'"]);

    // Assess
    expect(install.Status).toBe('Success');
    expect(check).toMatchObject({ Status: 'Success', StandardOutputContent: 'jq-1.7.1\njq-1.7.1\n' });
  });

  it('removes an instance guest when the instance is terminated', async () => {
    // Prepare
    const doomed = await launch(await imageOf(AL2023));
    await runShell(doomed, ['touch /root/marker']);
    const root = join(sandbox.stateDir, 'guests', 'instances', doomed);
    const existed = existsSync(join(root, 'root/marker'));

    // Act
    await ec2.send(new TerminateInstancesCommand({ InstanceIds: [doomed] }));

    // Assess
    expect(existed).toBe(true);
    expect(existsSync(root)).toBe(false);
  });
});

describe('without guests', () => {
  it('keeps the old behaviour, warning once, when bubblewrap cannot run', async () => {
    // Prepare
    const instanceId = await launch(await imageOf(AL2023));
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined);
    process.env.BAKEHOUSE_SANDBOX_BWRAP = '/nonexistent/bwrap';
    resetBubblewrapProbe();

    try {
      // Act
      const first = await runShell(instanceId, ['exit 7']);
      const second = await runShell(instanceId, ['exit 7']);

      // Assess
      expect(first).toMatchObject({ Status: 'Success', ResponseCode: 0 });
      expect(first.StandardOutputContent).toContain('Run Command does not execute scripts in the sandbox');
      expect(second.Status).toBe('Success');
      expect(warn.mock.calls.filter(([message]) => String(message).includes('bubblewrap'))).toHaveLength(1);
    } finally {
      delete process.env.BAKEHOUSE_SANDBOX_BWRAP;
      resetBubblewrapProbe();
      warn.mockRestore();
    }
  });

  it('runs nothing when BAKEHOUSE_SANDBOX_GUESTS is off', async () => {
    // Prepare
    const instanceId = await launch(await imageOf(AL2023));
    process.env.BAKEHOUSE_SANDBOX_GUESTS = 'off';

    try {
      // Act
      const invocation = await runShell(instanceId, ['exit 7']);

      // Assess
      expect(invocation).toMatchObject({ Status: 'Success', ResponseCode: 0 });
      expect(invocation.StandardOutputContent).toContain('Run Command does not execute scripts in the sandbox');
    } finally {
      process.env.BAKEHOUSE_SANDBOX_GUESTS = 'on';
    }
  });
});
