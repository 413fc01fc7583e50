/**
 * Lambda in the sandbox running one real Bakehouse bundle (ScheduleTick, synthesized offline)
 * putting its event: the function created by hand from its template's properties alone, nothing
 * else of the stack provisioned. The cloud assembly is the one the e2e files share (dev/synth.ts
 * synthesizes it once per change of its inputs), not a synthesis of this file's own.
 */
import {
  CreateFunctionCommand,
  type CreateFunctionCommandInput,
  InvokeCommand,
  type InvokeCommandOutput,
  LambdaClient,
} from '@aws-sdk/client-lambda';
import { type JsonService, readAssemblyStack } from '@bakehouse/sandbox';
import { startTestSandbox, type TestSandbox } from '@bakehouse/sandbox/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { synthesizeForSandbox } from '../../dev/synth';

const encode = (value: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(value));
const decode = (output: InvokeCommandOutput): unknown => JSON.parse(new TextDecoder().decode(output.Payload));

describe('Lambda running a real Bakehouse bundle', () => {
  let sandbox: TestSandbox;
  let lambda: LambdaClient;
  let template: { Resources: Record<string, { Type: string; Properties: Record<string, unknown> }> };
  const putEvents: Record<string, unknown>[] = [];

  /** A stand-in EventBridge (JSON 1.1) that records PutEvents. */
  const fakeEvents: JsonService = {
    signingName: 'events',
    protocol: 'json',
    targetPrefix: 'AWSEvents',
    actions: {
      PutEvents: (input) => {
        const entries = (input.Entries as Record<string, unknown>[]) ?? [];
        putEvents.push(...entries);
        return { FailedEntryCount: 0, Entries: entries.map((_, i) => ({ EventId: `event-${putEvents.length + i}` })) };
      },
    },
  };

  beforeAll(async () => {
    const { assemblyDir } = await synthesizeForSandbox({ account: '000000000000', region: 'us-east-1' });
    template = readAssemblyStack(assemblyDir).template as typeof template;
    sandbox = await startTestSandbox({ assetsDir: assemblyDir, services: [fakeEvents] });
    lambda = new LambdaClient(sandbox.clientConfig);
  });

  afterAll(async () => {
    lambda?.destroy();
    await sandbox?.stop();
  });

  it('creates ScheduleTick from its asset as the template describes it and puts Bake Requested', async () => {
    const [, tick] =
      Object.entries(template.Resources).find(
        ([id, r]) => r.Type === 'AWS::Lambda::Function' && id.startsWith('ScheduleTick'),
      ) ?? [];
    if (!tick) throw new Error('no ScheduleTick function in the template');
    const props = tick.Properties as {
      FunctionName: string;
      Handler: string;
      Runtime: string;
      Timeout: number;
      MemorySize: number;
      Code: { S3Bucket: string; S3Key: string };
      Environment: { Variables: Record<string, unknown> };
    };
    const [, bus] = Object.entries(template.Resources).find(([, r]) => r.Type === 'AWS::Events::EventBus') ?? [];
    const busName = String(bus?.Properties.Name);
    // CloudFormation would resolve the references; here the only one is the bus.
    const variables = Object.fromEntries(
      Object.entries(props.Environment.Variables).map(([key, value]) => [
        key,
        typeof value === 'string' ? value : busName,
      ]),
    );
    await lambda.send(
      new CreateFunctionCommand({
        FunctionName: props.FunctionName,
        Role: 'arn:aws:iam::000000000000:role/ScheduleTick',
        Runtime: props.Runtime as CreateFunctionCommandInput['Runtime'],
        Handler: props.Handler,
        Timeout: props.Timeout,
        MemorySize: props.MemorySize,
        Code: props.Code,
        Environment: { Variables: variables },
      }),
    );

    const output = await lambda.send(
      new InvokeCommand({
        FunctionName: props.FunctionName,
        Payload: encode({ family: 'al2023-base', scheduledTime: '2026-11-29T02:00:00Z' }),
        LogType: 'Tail',
      }),
    );

    expect(output.FunctionError, new TextDecoder().decode(output.Payload)).toBeUndefined();
    const result = decode(output) as { status: string; eventId: string; idempotencyKey: string };
    expect(result).toEqual({
      status: 'requested',
      eventId: 'event-1',
      idempotencyKey: 'schedule:al2023-base:2026-11-29T02:00:00.000Z',
    });
    expect(putEvents).toHaveLength(1);
    expect(putEvents[0]).toMatchObject({ EventBusName: busName, Source: 'bakehouse', DetailType: 'Bake Requested' });
    expect(JSON.parse(String(putEvents[0]?.Detail))).toMatchObject({
      family: 'al2023-base',
      requestedBy: 'bakehouse:schedule',
    });
    // Powertools logs JSON lines to stdout, with the Lambda context injected.
    const tail = Buffer.from(output.LogResult ?? '', 'base64').toString('utf8');
    const line = tail.split('\n').find((l) => l.includes('scheduled bake requested'));
    expect(JSON.parse(line ?? '{}')).toMatchObject({ function_name: props.FunctionName, family: 'al2023-base' });
  });
});
