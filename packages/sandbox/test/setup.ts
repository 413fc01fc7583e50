import { afterAll, vi } from 'vitest';

// Test files share their worker process (`isolate: false` in vitest.config.ts): what a file stubbed
// is undone when it ends, so the next file in the same worker does not inherit it.
afterAll(() => {
  vi.useRealTimers();
  vi.unstubAllEnvs();
  vi.unstubAllGlobals();
  vi.restoreAllMocks();
});
