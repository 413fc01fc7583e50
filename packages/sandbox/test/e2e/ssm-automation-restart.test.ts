/**
 * An automation a previous sandbox process left running is failed at the next start, and its
 * status change ("EC2 Automation Execution Status-change Notification", Status Failed) reaches the
 * default bus as SSM would send it: rules on it run after a restart too.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CreateDocumentCommand,
  GetAutomationExecutionCommand,
  SSMClient,
  StartAutomationExecutionCommand,
} from '@aws-sdk/client-ssm';
import { describe, expect, it } from 'vitest';
import { startTestSandbox, type TestSandbox } from '../../src/testing/sandbox';

const SLEEPER = `
schemaVersion: '0.3'
mainSteps:
  - name: waiting
    action: aws:sleep
    inputs:
      Duration: PT10H
`;

interface Logged {
  readonly event: { source: string; 'detail-type': string; detail: Record<string, unknown> };
}

const statusChanges = async (box: TestSandbox, executionId: string): Promise<Logged[]> =>
  ((await box.control('GET', '/_sandbox/events')).body as Logged[]).filter(
    (entry) =>
      entry.event.source === 'aws.ssm' &&
      entry.event['detail-type'] === 'EC2 Automation Execution Status-change Notification' &&
      entry.event.detail.ExecutionId === executionId,
  );

describe('a restart with an automation in flight', () => {
  it('fails it and sends its Failed status change to the default bus', async () => {
    const stateDir = mkdtempSync(join(tmpdir(), 'bakehouse-ssm-restart-'));
    try {
      // Prepare
      const first = await startTestSandbox({ stateDir });
      const before = new SSMClient(first.clientConfig);
      await before.send(
        new CreateDocumentCommand({
          Name: 'sleeper',
          Content: SLEEPER,
          DocumentType: 'Automation',
          DocumentFormat: 'YAML',
        }),
      );
      const { AutomationExecutionId: id = '' } = await before.send(
        new StartAutomationExecutionCommand({ DocumentName: 'sleeper' }),
      );
      before.destroy();
      await first.stop();

      // Act
      const second = await startTestSandbox({ stateDir });
      const after = new SSMClient(second.clientConfig);
      try {
        // Assess
        const { AutomationExecution } = await after.send(
          new GetAutomationExecutionCommand({ AutomationExecutionId: id }),
        );
        expect(AutomationExecution?.AutomationExecutionStatus).toBe('Failed');
        const deadline = Date.now() + 5_000;
        const failed = (changes: Logged[]) => changes.some((change) => change.event.detail.Status === 'Failed');
        let changes = await statusChanges(second, id);
        while (!failed(changes) && Date.now() < deadline) {
          await new Promise((resolve) => setTimeout(resolve, 20));
          changes = await statusChanges(second, id);
        }
        // The first process sent InProgress; the restart sends Failed, once.
        expect(changes.map((change) => change.event.detail.Status)).toEqual(['InProgress', 'Failed']);
      } finally {
        after.destroy();
        await second.stop();
      }
    } finally {
      rmSync(stateDir, { recursive: true, force: true });
    }
  });
});
