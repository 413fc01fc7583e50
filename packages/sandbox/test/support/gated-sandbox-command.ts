/**
 * The sandbox command with an application's assembly hooks whose synthesis waits for the test:
 * each line on stdin is the directory of an assembly to provision from, or `fail` to fail the
 * synthesis. Lets a test see the sandbox before, during and after provisioning, deterministically.
 */
import { createInterface } from 'node:readline';
import { runSandboxCommand } from '../../src/cli';

const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();

runSandboxCommand({
  invocation: 'gated-sandbox-command',
  assembly: {
    dirFor: () => 'not-synthesized-yet',
    synthesize: async () => {
      const { value, done } = await lines.next();
      const line = done ? 'fail' : String(value).trim();
      if (line === 'fail') throw new Error('synthesis failed as the test asked');
      return line;
    },
  },
});
