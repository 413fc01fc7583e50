/**
 * Systems Manager (JSON 1.1, `AmazonSSM.<Action>`): Parameter Store, documents, Run Command and
 * managed instances. Seeds the public parameters (after EC2 seeded the public images) and the
 * AWS-owned command documents; the tick finishes Run Command invocations on the sandbox clock.
 * Automation executions run in the background (automation/), started and stopped with the sandbox.
 */
import type { JsonService } from '../../service';
import { automationActions, startAutomation, stopAutomation } from './automation';
import { commandActions, tickCommands } from './commands';
import { documentActions, seedAmazonDocuments } from './documents';
import { parameterActions } from './parameters';
import { seedPublicParameters } from './public-parameters';

export const ssm: JsonService = {
  signingName: 'ssm',
  protocol: 'json',
  targetPrefix: 'AmazonSSM',
  actions: { ...parameterActions, ...documentActions, ...commandActions, ...automationActions },
  seed: (ctx) => {
    seedPublicParameters(ctx);
    seedAmazonDocuments(ctx);
  },
  tick: tickCommands,
  start: startAutomation,
  stop: stopAutomation,
};
