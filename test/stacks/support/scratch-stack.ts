/**
 * Bare CDK stacks for tests that only resolve tokens. `new Stack()` without an app makes an app of
 * its own with a fresh `cdk-test-app-*` directory in the temp dir every time, and nothing removes
 * it (nine per run of the two files that did so); these stacks share one app per test file whose
 * output directory goes when the file ends.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, Stack, type StackProps } from 'aws-cdk-lib';
import { afterAll } from 'vitest';

/** Call at the top of a test file: returns a maker of stacks in that file's app. */
export const useScratchStacks = (): ((props?: StackProps) => Stack) => {
  const outdir = mkdtempSync(join(tmpdir(), 'bakehouse-scratch-stacks-'));
  afterAll(() => rmSync(outdir, { recursive: true, force: true }));
  const app = new App({ outdir });
  let made = 0;
  return (props) => new Stack(app, `Scratch${++made}`, props);
};
