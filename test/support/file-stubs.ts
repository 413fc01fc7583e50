/**
 * Undoing what a test file stubbed, when it ends: test files share their worker process
 * (`isolate: false` in vitest.config.ts), so the next file in the same worker must not inherit it.
 */
import { createRequire } from 'node:module';
import { vi } from 'vitest';

// `mockClient(EC2Client)` replaces `send` on the client class's prototype with a stub from sinon's
// default sandbox, and nothing restores it unless the file does: an e2e file after it in the same
// worker would see every EC2 call answer `undefined`. Restoring the default sandbox undoes every
// such stub; it is the sinon that aws-sdk-client-mock loads, resolved from there, so it is the same
// sandbox.
const sinon = createRequire(createRequire(import.meta.url).resolve('aws-sdk-client-mock'))('sinon') as {
  restore(): void;
};

/** Restores AWS client mocks, Vitest spies, stubbed environment variables and globals, and real timers. */
export const undoFileStubs = (): void => {
  sinon.restore();
  vi.useRealTimers();
  vi.unstubAllEnvs();
  vi.unstubAllGlobals();
  vi.restoreAllMocks();
};
