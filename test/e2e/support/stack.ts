/**
 * The full stack in a test sandbox: the cloud assembly synthesized (or reused from its cache) for
 * the sandbox account, a sandbox started on it and provisioned from it, and the sandbox's event log.
 */
import { type ProvisionReport, provisionFromAssembly } from '@bakehouse/sandbox';
import { startTestSandbox, type TestSandbox } from '@bakehouse/sandbox/testing';
import type { LoggedEvent } from '../../../dev/start/render';
import { synthesizeForSandbox } from '../../../dev/synth';

export const startProvisionedSandbox = async (
  speed: number,
): Promise<{ sandbox: TestSandbox; report: ProvisionReport }> => {
  const assembly = await synthesizeForSandbox({ account: '000000000000', region: 'us-east-1' });
  const sandbox = await startTestSandbox({ speed, assetsDir: assembly.assemblyDir });
  const report = await provisionFromAssembly({ sandbox: sandbox.sandbox, assemblyDir: assembly.assemblyDir });
  return { sandbox, report };
};

/** Every event the sandbox's buses received, in order, with where each went. */
export const eventLog = async (sandbox: TestSandbox): Promise<LoggedEvent[]> =>
  (await sandbox.control('GET', '/_sandbox/events')).body as LoggedEvent[];
