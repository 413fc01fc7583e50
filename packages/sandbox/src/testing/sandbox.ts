/**
 * Starts a sandbox for a test file: in this process, on a free loopback port, with a fresh
 * state directory. Tests talk to it only through AWS clients and the control endpoint.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Sandbox, type SandboxOptions, startSandbox } from '../server';

export interface TestSandbox {
  readonly sandbox: Sandbox;
  readonly stateDir: string;
  /** Options for any AWS SDK v3 client. */
  readonly clientConfig: {
    endpoint: string;
    region: string;
    credentials: { accessKeyId: string; secretAccessKey: string };
    maxAttempts: number;
  };
  control(method: string, path: string, body?: unknown): Promise<{ status: number; body: unknown }>;
  stop(): Promise<void>;
}

export const startTestSandbox = async (options: Partial<SandboxOptions> = {}): Promise<TestSandbox> => {
  const stateDir = options.stateDir ?? mkdtempSync(join(tmpdir(), 'bakehouse-sandbox-'));
  let sandbox: Sandbox;
  try {
    sandbox = await startSandbox({ port: 0, speed: 0, ...options, stateDir });
  } catch (error) {
    // A sandbox that did not start (a test of a refused option) leaves no state directory behind.
    if (!options.stateDir) rmSync(stateDir, { recursive: true, force: true });
    throw error;
  }
  return {
    sandbox,
    stateDir,
    clientConfig: {
      endpoint: sandbox.url,
      region: 'us-east-1',
      credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
      maxAttempts: 1,
    },
    control: async (method, path, body) => {
      const response = await fetch(`${sandbox.url}${path}`, {
        method,
        ...(body === undefined ? {} : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
      });
      return { status: response.status, body: await response.json() };
    },
    stop: async () => {
      // A request authorized without a resource type the reference requires means the sandbox
      // checked less than AWS would: fail the test file that found it.
      const gaps = sandbox.authorizer.usage.gaps();
      await sandbox.close();
      if (!options.stateDir) rmSync(stateDir, { recursive: true, force: true });
      if (gaps.length > 0) {
        throw new Error(`the sandbox authorized without a required resource type: ${gaps.join('; ')}`);
      }
    },
  };
};

/** The error a call failed with; fails the test when the call succeeds. */
export const failure = async (promise: Promise<unknown>): Promise<Error> => {
  const outcome = await promise.then(
    () => undefined,
    (error: unknown) => error,
  );
  if (!(outcome instanceof Error)) throw new Error('expected the call to fail');
  return outcome;
};
