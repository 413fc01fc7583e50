/**
 * The sandbox on its own: `tsx packages/sandbox/src/main.ts [options]` (see cli.ts). It
 * provisions only from an assembly named with `--assets DIR`; an application that synthesizes
 * its own (Bakehouse's `npm run sandbox`) passes its assembly hooks to `runSandboxCommand`.
 */
import { runSandboxCommand } from './cli';

runSandboxCommand({ invocation: 'tsx packages/sandbox/src/main.ts' });
