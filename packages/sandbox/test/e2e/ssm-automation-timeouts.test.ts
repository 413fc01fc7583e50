/**
 * Step timeouts count sandbox time the step spends waiting, not the time an API call is in
 * flight: with the clock at 1200x, a loopback call of 300 ms is six sandbox minutes, which on AWS
 * would be milliseconds of a step's timeout.
 */
import {
  type AutomationExecution,
  CreateDocumentCommand,
  GetAutomationExecutionCommand,
  SSMClient,
  StartAutomationExecutionCommand,
} from '@aws-sdk/client-ssm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RestJsonService } from '../../src/service';
import { startTestSandbox, type TestSandbox } from '../../src/testing/sandbox';

/** A Scheduler whose GetSchedule takes 300 real milliseconds. */
const slowScheduler: RestJsonService = {
  signingName: 'scheduler',
  protocol: 'rest-json',
  routes: [
    {
      method: 'GET',
      path: /^\/schedules\/(?<name>[^/]+)$/,
      action: 'GetSchedule',
      handle: async (request) => {
        await new Promise((resolve) => setTimeout(resolve, 300));
        return { body: { Name: request.params.name, State: 'ENABLED' } };
      },
    },
  ],
};

const document = (timeoutSeconds: number, waitSeconds: number) => `
schemaVersion: '0.3'
mainSteps:
  - name: slowCall
    action: aws:executeAwsApi
    timeoutSeconds: ${timeoutSeconds}
    inputs:
      Service: scheduler
      Api: GetSchedule
      Name: nightly
    outputs:
      - Name: State
        Selector: $.State
        Type: String
  - name: waiting
    action: aws:sleep
    timeoutSeconds: ${timeoutSeconds}
    inputs:
      Duration: PT${waitSeconds}S
`;

let sandbox: TestSandbox;
let ssm: SSMClient;

beforeAll(async () => {
  sandbox = await startTestSandbox({ speed: 1200, services: [slowScheduler] });
  ssm = new SSMClient(sandbox.clientConfig);
});
afterAll(async () => {
  ssm.destroy();
  await sandbox.stop();
});

const run = async (name: string, content: string): Promise<AutomationExecution> => {
  await ssm.send(
    new CreateDocumentCommand({ Name: name, Content: content, DocumentType: 'Automation', DocumentFormat: 'YAML' }),
  );
  const { AutomationExecutionId: id } = await ssm.send(new StartAutomationExecutionCommand({ DocumentName: name }));
  const deadline = Date.now() + 20_000;
  for (;;) {
    const { AutomationExecution: execution = {} } = await ssm.send(
      new GetAutomationExecutionCommand({ AutomationExecutionId: id }),
    );
    if (['Success', 'Failed', 'TimedOut'].includes(execution.AutomationExecutionStatus ?? '')) return execution;
    if (Date.now() > deadline) throw new Error(`automation ${id} did not end`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
};

describe('automation step timeouts on a fast clock', () => {
  it('do not count an API call in flight against the step', async () => {
    // Act: 300 ms of call is 360 sandbox seconds, six times the 60 s timeout; the 5 s sleep keeps
    // 55 sandbox seconds (46 real ms) of margin, so a loaded machine's timer jitter cannot time it out
    const execution = await run('slow-call', document(60, 5));

    // Assess
    expect(execution.AutomationExecutionStatus).toBe('Success');
    expect(execution.StepExecutions?.[0]?.Outputs?.State).toEqual(['ENABLED']);
  });

  it('still time out a step that waits longer than its timeout', async () => {
    // Act
    const execution = await run('slow-wait', document(60, 600));

    // Assess
    expect(execution.StepExecutions?.map((s) => s.StepStatus)).toEqual(['Success', 'TimedOut']);
    expect(execution.AutomationExecutionStatus).toBe('TimedOut');
  });
});
