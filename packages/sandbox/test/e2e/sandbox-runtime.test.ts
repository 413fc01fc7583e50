import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { AwsError } from '../../src/errors';
import type { RestJsonService } from '../../src/service';
import { failure, startTestSandbox, type TestSandbox } from '../../src/testing/sandbox';

const pumped: number[] = [];

/** A REST-JSON service in the shape of Lambda's Invoke route, answering from the path. */
const echo: RestJsonService = {
  signingName: 'lambda',
  protocol: 'rest-json',
  routes: [
    {
      method: 'POST',
      path: /^\/2015-03-31\/functions\/(?<name>[^/]+)\/invocations$/,
      action: 'Invoke',
      handle: (request) => {
        if (request.params.name === 'missing') {
          throw new AwsError('ResourceNotFoundException', 'Function not found: missing', 404);
        }
        return { status: 200, body: { name: request.params.name, payload: JSON.parse(request.body || 'null') } };
      },
    },
  ],
  unsignedRoutes: [
    {
      method: 'GET',
      path: /^\/_sandbox\/echo\/(?<word>[a-z]+)$/,
      action: 'Echo',
      handle: (request) => ({ status: 200, body: { word: request.params.word } }),
    },
  ],
  pump: () => {
    pumped.push(Date.now());
  },
};

let sandbox: TestSandbox;

beforeAll(async () => {
  sandbox = await startTestSandbox({ services: [echo] });
});
afterAll(async () => sandbox.stop());

describe('the sandbox runtime', () => {
  it("calls the sandbox's own query API through an SDK client and returns the SDK's output shape", async () => {
    // Act
    const output = await sandbox.sandbox.runtime.callAws('ec2', 'describeImages', {
      Owners: ['amazon'],
      Filters: [{ Name: 'name', Values: ['al2023-ami-2023*'] }],
    });

    // Assess
    expect(output).not.toHaveProperty('$metadata');
    expect((output.Images as { ImageId: string }[]).length).toBeGreaterThan(0);
    expect((output.Images as { ImageId: string }[])[0]?.ImageId).toMatch(/^ami-/);
  });

  it('passes the AWS error code through as the error name', async () => {
    // Act
    const error = await failure(
      sandbox.sandbox.runtime.callAws('ssm', 'GetParameter', { Name: '/bakehouse/nothing-here' }),
    );

    // Assess
    expect(error.name).toBe('ParameterNotFound');
  });

  it('names the service or action it cannot call', async () => {
    // Act
    const service = await failure(sandbox.sandbox.runtime.callAws('s3', 'GetObject', {}));
    const action = await failure(sandbox.sandbox.runtime.callAws('ssm', 'PetTheCat', {}));

    // Assess
    expect(service.message).toMatch(/cannot call service 's3'.*ec2, ssm/);
    expect(action.message).toBe("The ssm API has no action 'PetTheCat'");
  });

  it('routes REST-JSON requests by method and path, with path parameters decoded', async () => {
    // Act
    const output = await sandbox.sandbox.runtime.callAws('lambda', 'Invoke', {
      FunctionName: 'arn:aws:lambda:us-east-1:000000000000:function:hello',
      Payload: new TextEncoder().encode('{"a":1}'),
    });

    // Assess
    const payload = JSON.parse(new TextDecoder().decode(output.Payload as Uint8Array));
    expect(payload).toEqual({ name: 'arn:aws:lambda:us-east-1:000000000000:function:hello', payload: { a: 1 } });
  });

  it('renders an AwsError from a REST-JSON route as AWS does, so the SDK names it', async () => {
    // Act
    const error = await failure(sandbox.sandbox.runtime.callAws('lambda', 'Invoke', { FunctionName: 'missing' }));

    // Assess
    expect(error.name).toBe('ResourceNotFoundException');
    expect(error.message).toBe('Function not found: missing');
  });

  it('serves unsigned routes and runs background pumps', async () => {
    // Act
    const reply = await sandbox.control('GET', '/_sandbox/echo/hello');
    const before = pumped.length;
    await new Promise((resolve) => setTimeout(resolve, 120));

    // Assess
    expect(reply).toEqual({ status: 200, body: { word: 'hello' } });
    expect(pumped.length).toBeGreaterThan(before);
  });

  it('keeps a failing background task away from the server and logs it with its label', async () => {
    // Prepare
    const logged = vi.spyOn(console, 'error').mockImplementation(() => undefined);

    // Act
    sandbox.sandbox.runtime.spawn('doomed work', async () => {
      throw new Error('boom');
    });
    await vi.waitFor(() => expect(sandbox.sandbox.runtime.busy).toBe(0));
    const ssm = new SSMClient(sandbox.clientConfig);
    const stillServing = await failure(ssm.send(new GetParameterCommand({ Name: '/nope' })));

    // Assess
    expect(logged).toHaveBeenCalledWith('sandbox: doomed work failed', expect.any(Error));
    expect(stillServing.name).toBe('ParameterNotFound');
    logged.mockRestore();
  });
});
