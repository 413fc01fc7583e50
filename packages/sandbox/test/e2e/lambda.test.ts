import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CreateFunctionCommand,
  type CreateFunctionCommandInput,
  DeleteFunctionCommand,
  GetFunctionCommand,
  GetFunctionConfigurationCommand,
  GetFunctionEventInvokeConfigCommand,
  InvokeCommand,
  type InvokeCommandOutput,
  LambdaClient,
  ListFunctionsCommand,
  PutFunctionEventInvokeConfigCommand,
  UpdateFunctionConfigurationCommand,
} from '@aws-sdk/client-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { failure, startTestSandbox, type TestSandbox } from '../../src/testing/sandbox';

const FIXTURES = join(import.meta.dirname, '..', 'fixtures', 'lambda');
const ROLE = 'arn:aws:iam::000000000000:role/fixture';

const functionInput = (name: string, handler: string, extra: Partial<CreateFunctionCommandInput> = {}) =>
  ({
    FunctionName: name,
    Role: ROLE,
    Runtime: 'nodejs24.x',
    Handler: handler,
    Code: { S3Bucket: 'cdk-assets', S3Key: 'basics.zip' },
    Timeout: 5,
    ...extra,
  }) satisfies CreateFunctionCommandInput;

const encode = (value: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(value));
const decode = (output: InvokeCommandOutput): unknown => JSON.parse(new TextDecoder().decode(output.Payload));

describe('Lambda with fixture handlers', () => {
  let sandbox: TestSandbox;
  let lambda: LambdaClient;

  const create = (name: string, handler: string, extra: Partial<CreateFunctionCommandInput> = {}) =>
    lambda.send(new CreateFunctionCommand(functionInput(name, handler, extra)));
  const invoke = (name: string, event: unknown = {}, extra: Record<string, unknown> = {}) =>
    lambda.send(new InvokeCommand({ FunctionName: name, Payload: encode(event), ...extra }));
  const asyncInvocations = async (name: string) =>
    (await sandbox.control('GET', `/_sandbox/lambda/invocations?function=${name}`)).body as {
      invocations: { status: string; reason?: string; attempts: { error?: { errorType: string } }[] }[];
    };
  const until = async <T>(read: () => Promise<T>, done: (value: T) => boolean): Promise<T> => {
    for (let i = 0; i < 200; i += 1) {
      const value = await read();
      if (done(value)) return value;
      await new Promise((r) => setTimeout(r, 25));
    }
    throw new Error('timed out waiting for the sandbox');
  };

  beforeAll(async () => {
    sandbox = await startTestSandbox({ assetsDir: FIXTURES });
    lambda = new LambdaClient(sandbox.clientConfig);
    await create('echo', 'echo.handler', { MemorySize: 256, Environment: { Variables: { STAGE: 'test' } } });
    await create('behave', 'behave.handler', { Timeout: 1 });
    await create('env', 'env.handler', { Environment: { Variables: { EVENT_BUS_NAME: 'bakehouse-test' } } });
    await create('sts', 'sts.handler');
  });

  afterAll(async () => {
    lambda?.destroy();
    await sandbox?.stop();
  });

  it('creates a function from an asset directory and describes it as AWS does', async () => {
    const { Configuration, Code } = await lambda.send(new GetFunctionCommand({ FunctionName: 'echo' }));
    expect(Configuration).toMatchObject({
      FunctionName: 'echo',
      FunctionArn: 'arn:aws:lambda:us-east-1:000000000000:function:echo',
      Runtime: 'nodejs24.x',
      Handler: 'echo.handler',
      MemorySize: 256,
      Timeout: 5,
      State: 'Active',
      Version: '$LATEST',
      Environment: { Variables: { STAGE: 'test' } },
    });
    expect(Configuration?.CodeSha256).toMatch(/^[A-Za-z0-9+/]{43}=$/);
    expect(Code?.Location).toBe(`file://${join(FIXTURES, 'asset.basics')}`);
    const config = await lambda.send(
      new GetFunctionConfigurationCommand({ FunctionName: '000000000000:function:echo' }),
    );
    expect(config.RevisionId).toBe(Configuration?.RevisionId);
  });

  it('refuses a second function of the same name, unknown assets, ZipFile and reserved variables', async () => {
    expect((await failure(create('echo', 'echo.handler'))).name).toBe('ResourceConflictException');
    const missing = await failure(
      create('nope', 'echo.handler', { Code: { S3Bucket: 'cdk-assets', S3Key: 'deadbeef.zip' } }),
    );
    expect(missing.name).toBe('InvalidParameterValueException');
    expect(missing.message).toContain('NoSuchKey');
    const zip = await failure(create('zip', 'echo.handler', { Code: { ZipFile: new Uint8Array([80, 75, 3, 4]) } }));
    expect(zip.name).toBe('InvalidParameterValueException');
    expect(zip.message).toContain('does not unpack Code.ZipFile');
    const reserved = await failure(
      create('reserved', 'echo.handler', { Environment: { Variables: { AWS_REGION: 'eu-west-1' } } }),
    );
    expect(reserved.message).toContain('Reserved keys used in this request: AWS_REGION');
    expect((await failure(create('py', 'index.handler', { Runtime: 'python3.13' }))).name).toBe(
      'InvalidParameterValueException',
    );
  });

  it('lists functions a page at a time', async () => {
    const first = await lambda.send(new ListFunctionsCommand({ MaxItems: 2 }));
    expect(first.Functions?.map((f) => f.FunctionName)).toEqual(['behave', 'echo']);
    const second = await lambda.send(new ListFunctionsCommand({ MaxItems: 2, Marker: first.NextMarker }));
    expect(second.Functions?.map((f) => f.FunctionName)).toEqual(['env', 'sts']);
    expect(second.NextMarker).toBeUndefined();
  });

  it('invokes by name, ARN or partial ARN with a Lambda context, keeping the container warm', async () => {
    const first = (await invoke('echo', { family: 'al2023-base' })) as InvokeCommandOutput;
    expect(first.StatusCode).toBe(200);
    expect(first.FunctionError).toBeUndefined();
    expect(first.ExecutedVersion).toBe('$LATEST');
    const arn = 'arn:aws:lambda:us-east-1:000000000000:function:echo';
    const body = decode(first) as { event: unknown; invocations: number; context: Record<string, unknown> };
    expect(body.event).toEqual({ family: 'al2023-base' });
    expect(body.context).toMatchObject({
      functionName: 'echo',
      functionVersion: '$LATEST',
      invokedFunctionArn: arn,
      memoryLimitInMB: '256',
      logGroupName: '/aws/lambda/echo',
      awsRequestId: first.$metadata.requestId,
    });
    expect(body.context.remainingMs).toBeGreaterThan(4000);
    expect(body.context.remainingMs).toBeLessThanOrEqual(5000);
    const byArn = decode(await invoke(arn)) as { invocations: number; context: { invokedFunctionArn: string } };
    const byPartial = decode(await invoke('000000000000:function:echo')) as { invocations: number };
    expect(byArn.context.invokedFunctionArn).toBe(arn);
    expect([byArn.invocations, byPartial.invocations]).toEqual([body.invocations + 1, body.invocations + 2]);
  });

  it('answers an unknown function with ResourceNotFoundException (404)', async () => {
    const error = (await failure(invoke('missing'))) as Error & { $metadata: { httpStatusCode: number } };
    expect(error.name).toBe('ResourceNotFoundException');
    expect(error.$metadata.httpStatusCode).toBe(404);
  });

  it('runs CommonJS callback-style handlers', async () => {
    await create('legacy', 'legacy.handler');
    expect(decode(await invoke('legacy', { a: 1 }))).toEqual({ legacy: true, event: { a: 1 } });
    await lambda.send(new DeleteFunctionCommand({ FunctionName: 'legacy' }));
    expect((await failure(invoke('legacy'))).name).toBe('ResourceNotFoundException');
  });

  it('reports a thrown error as FunctionError Unhandled with its name, message and trace', async () => {
    const output = await invoke('behave', { do: 'throw', family: 'nope' });
    expect(output.StatusCode).toBe(200);
    expect(output.FunctionError).toBe('Unhandled');
    const error = decode(output) as { errorType: string; errorMessage: string; trace: string[] };
    expect(error.errorType).toBe('NoSuchFamilyError');
    expect(error.errorMessage).toBe('no family called nope');
    expect(error.trace[0]).toBe('NoSuchFamilyError: no family called nope');
  });

  it('reports a module that cannot load and an export that is missing as the Node.js runtime does', async () => {
    await create('no-module', 'missing/file.handler');
    await create('no-export', 'echo.nothing');
    const noModule = await invoke('no-module');
    const noExport = await invoke('no-export');
    expect(noModule.FunctionError).toBe('Unhandled');
    expect(decode(noModule)).toMatchObject({ errorType: 'Runtime.ImportModuleError' });
    expect(decode(noExport)).toMatchObject({
      errorType: 'Runtime.HandlerNotFound',
      errorMessage: 'echo.nothing is undefined or not exported',
    });
  });

  it('stops a handler at its timeout (real seconds) and serves the next invocation', async () => {
    const started = Date.now();
    const output = await invoke('behave', { do: 'spin' });
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
    expect(output.FunctionError).toBe('Unhandled');
    expect(decode(output)).toMatchObject({
      errorType: 'Sandbox.Timedout',
      errorMessage: expect.stringContaining('Task timed out after 1.00 seconds'),
    });
    expect(decode(await invoke('behave', {}))).toMatchObject({ ok: true });
  });

  it('survives a handler that exits the process or crashes after returning', async () => {
    const exited = await invoke('behave', { do: 'exit' });
    expect(exited.FunctionError).toBe('Unhandled');
    expect(decode(exited)).toMatchObject({
      errorType: 'Runtime.ExitError',
      errorMessage: expect.stringContaining('exit status 3'),
    });
    expect(decode(await invoke('behave', { do: 'crash-later' }))).toBe('returned before the crash');
    await new Promise((r) => setTimeout(r, 100));
    expect(decode(await invoke('behave', {}))).toMatchObject({ ok: true });
    const health = await sandbox.control('GET', '/_sandbox/health');
    expect(health.status).toBe(200);
  });

  it("gives the handler its environment, Lambda's variables and the sandbox endpoint", async () => {
    const env = decode(await invoke('env')) as Record<string, string>;
    expect(env).toMatchObject({
      EVENT_BUS_NAME: 'bakehouse-test',
      AWS_REGION: 'us-east-1',
      AWS_DEFAULT_REGION: 'us-east-1',
      AWS_LAMBDA_FUNCTION_NAME: 'env',
      AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '128',
      AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
      AWS_LAMBDA_LOG_GROUP_NAME: '/aws/lambda/env',
      AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs24.x',
      LAMBDA_TASK_ROOT: join(FIXTURES, 'asset.basics'),
      TZ: ':UTC',
      AWS_ENDPOINT_URL: sandbox.sandbox.url,
    });
    expect(env.AWS_ACCESS_KEY_ID).toBeTruthy();
    expect(env.AWS_SESSION_TOKEN).toBeTruthy();
    expect(env.HOME).toBeUndefined();
  });

  it('lets the AWS SDK inside a handler call the sandbox', async () => {
    const output = await invoke('sts');
    expect(output.FunctionError).toBeUndefined();
    expect(decode(output)).toMatchObject({ Account: '000000000000' });
  });

  it('starts new containers with the new configuration after UpdateFunctionConfiguration', async () => {
    const before = decode(await invoke('echo')) as { invocations: number };
    expect(before.invocations).toBeGreaterThan(1);
    const updated = await lambda.send(
      new UpdateFunctionConfigurationCommand({ FunctionName: 'echo', Environment: { Variables: { STAGE: 'two' } } }),
    );
    expect(updated.Environment?.Variables).toEqual({ STAGE: 'two' });
    expect((decode(await invoke('echo')) as { invocations: number }).invocations).toBe(1);
    const stale = await failure(
      lambda.send(new UpdateFunctionConfigurationCommand({ FunctionName: 'echo', Timeout: 9, RevisionId: 'stale' })),
    );
    expect(stale.name).toBe('PreconditionFailedException');
  });

  it('returns the last 4 KB of the log with LogType Tail and keeps output in the log ring', async () => {
    const output = await invoke('behave', { do: 'log', lines: 200 }, { LogType: 'Tail' });
    const tail = Buffer.from(output.LogResult ?? '', 'base64').toString('utf8');
    expect(Buffer.byteLength(tail)).toBeLessThanOrEqual(4096);
    expect(tail).toContain('line 199');
    expect(tail).not.toContain('line 0 ');
    expect(tail).toContain('a line on stderr');
    expect(tail).toMatch(/END RequestId: \S+\nREPORT RequestId: \S+\tDuration: /);
    const quiet = await invoke('behave', {});
    expect(quiet.LogResult).toBeUndefined();
    const { body } = await sandbox.control('GET', '/_sandbox/lambda/logs?function=behave');
    const events = (body as { events: { requestId: string; stream: string; message: string }[] }).events;
    const mine = events.filter((e) => e.requestId === output.$metadata.requestId);
    expect(mine[0]?.message).toMatch(/^START RequestId: /);
    expect(mine.filter((e) => e.stream === 'stdout')).toHaveLength(200);
    expect(mine.find((e) => e.stream === 'stderr')?.message).toBe('a line on stderr');
  });

  it('runs concurrent invocations on up to four warm workers, queueing the rest', async () => {
    await create('wait', 'behave.handler', { Timeout: 10 });
    const started = Date.now();
    const outputs = await Promise.all(Array.from({ length: 6 }, () => invoke('wait', { do: 'wait', ms: 400 })));
    const elapsed = Date.now() - started;
    const threads = new Set(outputs.map((o) => (decode(o) as { threadId: number }).threadId));
    expect(outputs.every((o) => o.FunctionError === undefined)).toBe(true);
    expect(threads.size).toBe(4);
    // Six invocations of 400 ms on four workers need two rounds.
    expect(elapsed).toBeGreaterThanOrEqual(800);
  });

  it('answers DryRun with 204 and Event with 202, running the event in the background', async () => {
    const dry = await invoke('echo', {}, { InvocationType: 'DryRun' });
    expect(dry.StatusCode).toBe(204);
    const event = await invoke('echo', { marker: 'event-1' }, { InvocationType: 'Event' });
    expect(event.StatusCode).toBe(202);
    const { invocations } = await until(
      () => asyncInvocations('echo'),
      (v) => v.invocations.some((i) => i.status === 'succeeded'),
    );
    expect(invocations).toHaveLength(1);
    expect(invocations[0]?.attempts).toHaveLength(1);
  });

  it('retries a failed event invocation twice on the sandbox clock, then records it failed', async () => {
    await invoke('behave', { do: 'throw', family: 'async' }, { InvocationType: 'Event' });
    await until(
      () => asyncInvocations('behave'),
      (v) => v.invocations[0]?.attempts.length === 1,
    );
    await sandbox.control('POST', '/_sandbox/clock', { advanceSeconds: 60 });
    await until(
      () => asyncInvocations('behave'),
      (v) => v.invocations[0]?.attempts.length === 2,
    );
    await sandbox.control('POST', '/_sandbox/clock', { advanceSeconds: 120 });
    const { invocations } = await until(
      () => asyncInvocations('behave'),
      (v) => v.invocations[0]?.status === 'failed',
    );
    expect(invocations[0]).toMatchObject({ status: 'failed', reason: 'RetriesExhausted' });
    expect(invocations[0]?.attempts.map((a) => a.error?.errorType)).toEqual([
      'NoSuchFamilyError',
      'NoSuchFamilyError',
      'NoSuchFamilyError',
    ]);
  });

  it('follows PutFunctionEventInvokeConfig: no retries when MaximumRetryAttempts is 0', async () => {
    await create('once', 'behave.handler');
    await lambda.send(new PutFunctionEventInvokeConfigCommand({ FunctionName: 'once', MaximumRetryAttempts: 0 }));
    const config = await lambda.send(new GetFunctionEventInvokeConfigCommand({ FunctionName: 'once' }));
    expect(config.MaximumRetryAttempts).toBe(0);
    await invoke('once', { do: 'throw', family: 'x' }, { InvocationType: 'Event' });
    const { invocations } = await until(
      () => asyncInvocations('once'),
      (v) => v.invocations[0]?.status === 'failed',
    );
    expect(invocations[0]?.attempts).toHaveLength(1);
  });

  it('refuses payloads over 6 MB and payloads that are not JSON', async () => {
    const big = new Uint8Array(6 * 1024 * 1024 + 10).fill(32);
    const tooLarge = (await failure(
      lambda.send(new InvokeCommand({ FunctionName: 'echo', Payload: big })),
    )) as Error & { $metadata: { httpStatusCode: number } };
    expect(tooLarge.name).toBe('RequestTooLargeException');
    expect(tooLarge.$metadata.httpStatusCode).toBe(413);
    const notJson = await failure(
      lambda.send(new InvokeCommand({ FunctionName: 'echo', Payload: new TextEncoder().encode('{nope') })),
    );
    expect(notJson.name).toBe('InvalidRequestContentException');
  });

  it("compiles a cold start's handler into the host's compile cache when it has one (NODE_COMPILE_CACHE)", async () => {
    // Prepare: a cache directory of this test's own, read when the next container starts
    const cache = mkdtempSync(join(tmpdir(), 'sandbox-compile-cache-'));
    const before = process.env.NODE_COMPILE_CACHE;
    process.env.NODE_COMPILE_CACHE = cache;
    try {
      await create('cached', 'echo.handler');

      // Act
      const output = await invoke('cached', { hello: 'cache' });

      // Assess: the handler ran as before, and its module is in the cache
      expect(output.FunctionError).toBeUndefined();
      expect(readdirSync(cache, { recursive: true }).length).toBeGreaterThan(0);
    } finally {
      if (before === undefined) delete process.env.NODE_COMPILE_CACHE;
      else process.env.NODE_COMPILE_CACHE = before;
      rmSync(cache, { recursive: true, force: true });
    }
  });
});

describe('CodeSha256 of an asset directory', () => {
  it('follows the files: a changed handler gives another digest, the reverted one the first again', async () => {
    // Prepare: an assets directory of its own, with one asset copied from the fixtures
    const assets = mkdtempSync(join(tmpdir(), 'bakehouse-lambda-digest-'));
    const asset = join(assets, 'asset.digest');
    cpSync(join(FIXTURES, 'asset.basics'), asset, { recursive: true });
    const original = readFileSync(join(asset, 'echo.mjs'), 'utf8');
    const sandbox = await startTestSandbox({ assetsDir: assets });
    const lambda = new LambdaClient(sandbox.clientConfig);
    const digestOf = async (name: string): Promise<string | undefined> =>
      (
        await lambda.send(
          new CreateFunctionCommand(
            functionInput(name, 'echo.handler', { Code: { S3Bucket: 'cdk-assets', S3Key: 'digest.zip' } }),
          ),
        )
      ).CodeSha256;
    try {
      // Act
      const first = await digestOf('first');
      const again = await digestOf('again');
      writeFileSync(join(asset, 'echo.mjs'), `${original}// changed\n`);
      const changed = await digestOf('changed');
      writeFileSync(join(asset, 'echo.mjs'), original);
      const reverted = await digestOf('reverted');

      // Assess
      expect(first).toMatch(/^[A-Za-z0-9+/]{43}=$/);
      expect(again).toBe(first);
      expect(changed).not.toBe(first);
      expect(reverted).toBe(first);
    } finally {
      lambda.destroy();
      await sandbox.stop();
      rmSync(assets, { recursive: true, force: true });
    }
  });
});
