/**
 * The inventory step of settling a bake (functions/commons/automation-wait.ts `recordInventory`):
 * whichever of WaitForAutomation and AutomationEvents settles a succeeded bake reads
 * captureInventory's command output (GetCommandInvocation) and records it in the state table, keyed
 * by the image, before the task is settled. Nothing about it may fail the bake.
 */
import { gzipSync } from 'node:zlib';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SendTaskSuccessCommand, SFNClient } from '@aws-sdk/client-sfn';
import {
  type AutomationExecution,
  DeleteParameterCommand,
  GetAutomationExecutionCommand,
  GetCommandInvocationCommand,
  GetParameterCommand,
  SSMClient,
} from '@aws-sdk/client-ssm';
import { DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { resume } from '../../functions/automation-events/core';
import type { CallbackDeps } from '../../functions/commons/automation-wait';
import { INVENTORY_HEADER, inventoryRecordOf, packagesOfRecord } from '../../functions/commons/inventory';
import { register } from '../../functions/wait-for-automation/core';
import { awsError, recordingLogger } from './support/bake-factories';

const ssm = mockClient(SSMClient);
const sfn = mockClient(SFNClient);
const table = mockClient(DynamoDBDocumentClient);

const AUTOMATION_ID = '4c5a2c1e-7f3b-4d2a-9e8f-0a1b2c3d4e5f';
const CALLBACK = `/bakehouse/_callbacks/${AUTOMATION_ID}`;
const TOKEN = 'AQCEAAAAKgAAAAMAAAAAAAAAAT0k-task-token';
const IMAGE = 'ami-0123456789abcdef0';
const BUILDER = 'i-0abc1234def567890';
const COMMAND = '7a1c2b3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d';
const BAKE_ID = 'al2023-base-0123456789abcdef0123456789abcdef';
const PACKAGES = ['bash 5.2.15-1.amzn2023.0.2.x86_64', 'glibc 2.34-196.amzn2023.0.2.x86_64'];

const block = (lines: readonly string[]): string =>
  gzipSync(Buffer.from(lines.map((l) => `${l}\n`).join('')))
    .toString('base64')
    .replace(/(.{76})/g, '$1\n')
    .trim();

/** What the Linux captureInventory step prints (automation/bake-linux.yaml). */
const LINUX_OUTPUT = `${INVENTORY_HEADER}\nos linux\nrelease 2023.9.20261122.0\npackages 2 gzip-base64\n${block(PACKAGES)}\nend\n`;

const logger = recordingLogger();

const deps = (overrides: Partial<CallbackDeps> = {}): CallbackDeps => ({
  ssm: new SSMClient({}),
  sfn: new SFNClient({}),
  clock: () => new Date('2026-01-14T09:42:30.000Z'),
  logger,
  parameterPrefix: '/bakehouse/_callbacks',
  inventories: { client: DynamoDBDocumentClient.from(new DynamoDBClient({})), tableName: 'bakehouse-state' },
  ...overrides,
});

const succeeded = (overrides: Partial<AutomationExecution> = {}): AutomationExecution => ({
  AutomationExecutionId: AUTOMATION_ID,
  AutomationExecutionStatus: 'Success',
  Parameters: { Family: ['al2023-base'], BakeId: [BAKE_ID] },
  Outputs: { 'createImage.ImageId': [IMAGE], 'launchBuilder.InstanceId': [BUILDER] },
  StepExecutions: [
    { StepName: 'launchBuilder', StepStatus: 'Success', Outputs: { InstanceId: [BUILDER] } },
    { StepName: 'collectReport', StepStatus: 'Success', Outputs: { CommandId: ['other-command'] } },
    { StepName: 'captureInventory', StepStatus: 'Success', Outputs: { CommandId: [COMMAND], Status: ['Success'] } },
  ],
  ...overrides,
});

const givenAutomation = (execution: AutomationExecution) =>
  ssm.on(GetAutomationExecutionCommand).resolves({ AutomationExecution: execution });

const givenOutput = (stdout: string) =>
  ssm
    .on(GetCommandInvocationCommand, { CommandId: COMMAND, InstanceId: BUILDER })
    .resolves({ Status: 'Success', StandardOutputContent: stdout });

const registerInput = {
  taskToken: TOKEN,
  automationExecutionId: AUTOMATION_ID,
  bakeId: BAKE_ID,
  family: 'al2023-base',
  bakeStartedAt: '2026-01-14T09:00:00.000Z',
};

const warnings = (): unknown[][] => logger.warn.mock.calls;

beforeEach(() => {
  ssm.reset();
  sfn.reset();
  table.reset();
  logger.warn.mockClear();
  logger.info.mockClear();
  ssm.on(GetParameterCommand, { Name: CALLBACK }).resolves({
    Parameter: {
      Name: CALLBACK,
      Value: JSON.stringify({ taskToken: TOKEN, bakeId: BAKE_ID, bakeStartedAt: '2026-01-14T09:00:00.000Z' }),
    },
  });
  ssm.on(DeleteParameterCommand).resolves({});
  sfn.on(SendTaskSuccessCommand).resolves({});
  table.on(PutCommand).resolves({});
});

describe('recording the inventory of a baked image', () => {
  it("records captureInventory's whole output under the image, before the task is settled", async () => {
    // Prepare
    givenAutomation(succeeded());
    givenOutput(LINUX_OUTPUT);

    // Act
    const outcome = await register(registerInput, deps());

    // Assess
    expect(outcome).toBe('succeeded');
    expect(ssm).toHaveReceivedCommandWith(GetCommandInvocationCommand, { CommandId: COMMAND, InstanceId: BUILDER });
    expect(table).toHaveReceivedCommandTimes(PutCommand, 1);
    const put = table.commandCalls(PutCommand)[0];
    const item = put?.args[0].input.Item as Record<string, unknown>;
    expect(put?.args[0].input.TableName).toBe('bakehouse-state');
    expect(put?.args[0].input.ConditionExpression).toBeUndefined();
    expect(item).toMatchObject({
      pk: `image#${IMAGE}#inventory`,
      format: 1,
      imageId: IMAGE,
      family: 'al2023-base',
      bakeId: BAKE_ID,
      automationExecutionId: AUTOMATION_ID,
      recordedAt: '2026-01-14T09:42:30.000Z',
      os: 'linux',
      release: '2023.9.20261122.0',
      packages: { count: 2 },
    });
    const stored = inventoryRecordOf(item);
    expect(stored && [...(packagesOfRecord(stored) ?? new Map()).keys()]).toEqual(['bash', 'glibc']);
    const settledAt = sfn.commandCalls(SendTaskSuccessCommand)[0];
    expect(settledAt && put?.calledBefore(settledAt)).toBe(true);
    expect(warnings()).toEqual([]);
  });

  it('records a Windows image with its hotfixes', async () => {
    // Prepare
    givenAutomation(succeeded({ Parameters: { Family: ['windows-2022-base'], BakeId: ['w-1'] } }));
    givenOutput(
      [
        INVENTORY_HEADER,
        'os windows',
        'kb KB5034439',
        'programs 1 gzip-base64',
        block(['7-Zip\t24.08']),
        'end',
        '',
      ].join('\r\n'),
    );

    // Act
    await resume({ ExecutionId: AUTOMATION_ID, Status: 'Success' }, deps());

    // Assess
    expect(table).toHaveReceivedCommandWith(PutCommand, {
      Item: expect.objectContaining({ os: 'windows', kbs: ['KB5034439'], release: null, programs: expect.anything() }),
    });
  });

  it('records too-large as such, with no list, so the record says why the list is missing', async () => {
    // Prepare
    givenAutomation(succeeded());
    givenOutput(`${INVENTORY_HEADER}\nos linux\ntoo-large packages 31337\nend\n`);

    // Act
    await register(registerInput, deps());

    // Assess
    const item = table.commandCalls(PutCommand)[0]?.args[0].input.Item as Record<string, unknown>;
    expect(item.tooLarge).toEqual({ section: 'packages', bytes: 31337 });
    expect(item).not.toHaveProperty('packages');
  });

  it('settles the bake and warns with the reason when GetCommandInvocation fails', async () => {
    // Prepare
    givenAutomation(succeeded());
    ssm.on(GetCommandInvocationCommand).rejects(awsError('InvocationDoesNotExist'));

    // Act
    const outcome = await register(registerInput, deps());

    // Assess
    expect(outcome).toBe('succeeded');
    expect(sfn).toHaveReceivedCommandWith(SendTaskSuccessCommand, { taskToken: TOKEN });
    expect(table).not.toHaveReceivedCommand(PutCommand);
    expect(warnings()).toEqual([
      [
        'no inventory recorded for the image; the bake goes on',
        expect.objectContaining({ imageId: IMAGE, error: 'InvocationDoesNotExist' }),
      ],
    ]);
  });

  it('settles the bake and warns when the automation has no captureInventory step (a document from before)', async () => {
    // Prepare
    givenAutomation(succeeded({ StepExecutions: succeeded().StepExecutions?.slice(0, 2) }));

    // Act
    const outcome = await register(registerInput, deps());

    // Assess
    expect(outcome).toBe('succeeded');
    expect(ssm).not.toHaveReceivedCommand(GetCommandInvocationCommand);
    expect(table).not.toHaveReceivedCommand(PutCommand);
    expect(warnings()[0]?.[1]).toMatchObject({
      reason: expect.stringContaining('no successful captureInventory step'),
    });
  });

  it('settles the bake and warns with the reason when the output is not an inventory (the sandbox on Windows)', async () => {
    // Prepare
    givenAutomation(succeeded());
    givenOutput('bakehouse sandbox: AWS-RunPowerShellScript would have run 40 lines on i-0abc1234def567890\n');

    // Act
    const outcome = await register(registerInput, deps());

    // Assess
    expect(outcome).toBe('succeeded');
    expect(table).not.toHaveReceivedCommand(PutCommand);
    expect(warnings()[0]?.[1]).toMatchObject({ reason: expect.stringContaining(INVENTORY_HEADER) });
  });

  it('settles the bake and warns when the state table refuses the write', async () => {
    // Prepare
    givenAutomation(succeeded());
    givenOutput(LINUX_OUTPUT);
    table.on(PutCommand).rejects(awsError('AccessDeniedException'));

    // Act
    const outcome = await register(registerInput, deps());

    // Assess
    expect(outcome).toBe('succeeded');
    expect(sfn).toHaveReceivedCommandTimes(SendTaskSuccessCommand, 1);
    expect(warnings()[0]?.[1]).toMatchObject({ error: 'AccessDeniedException' });
  });

  it('writes the same item when both settle paths record the image (the second finds the task settled)', async () => {
    // Prepare
    givenAutomation(succeeded());
    givenOutput(LINUX_OUTPUT);
    sfn.on(SendTaskSuccessCommand).resolvesOnce({}).rejects(awsError('TaskDoesNotExist'));

    // Act
    const first = await register(registerInput, deps());
    const second = await resume({ ExecutionId: AUTOMATION_ID, Status: 'Success' }, deps());

    // Assess
    expect([first, second]).toEqual(['succeeded', 'already-settled']);
    const items = table.commandCalls(PutCommand).map((call) => call.args[0].input.Item);
    expect(items).toHaveLength(2);
    expect(items[1]).toEqual(items[0]);
  });

  it('records nothing, and reads nothing, without a state table', async () => {
    // Prepare
    givenAutomation(succeeded());

    // Act
    const { inventories: _none, ...withoutTable } = deps();
    const outcome = await register(registerInput, withoutTable);

    // Assess
    expect(outcome).toBe('succeeded');
    expect(ssm).not.toHaveReceivedCommand(GetCommandInvocationCommand);
  });
});
