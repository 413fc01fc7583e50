/**
 * `npm run sandbox` follows the configuration: when the file changes, the stacks are synthesized
 * again (dev/synth.ts; cached by a hash of what it reads) and the running sandbox is provisioned
 * from them in place, as `sst deploy` updates a stage: resources are created, updated or left
 * unchanged, state (images, channels, bakes) stays. A configuration that does not validate is
 * reported with its field and fix, and the sandbox keeps serving the stacks it has.
 *
 * The file's directory is watched, not the file: editors save by writing a new file and renaming
 * it over the old one, which a watch on the old file's inode would not see. Changes within
 * `debounceMs` are one change; a change during a re-provisioning runs once that one is done.
 */
import { type FSWatcher, watch } from 'node:fs';
import { basename, dirname } from 'node:path';

export interface ConfigWatchOptions {
  /** The configuration file. */
  readonly file: string;
  /** Re-provisions from the changed file; its lines are printed. A rejection is printed as a failure. */
  readonly apply: () => Promise<readonly string[]>;
  readonly print: (line: string) => void;
  readonly debounceMs?: number;
}

export interface ConfigWatch {
  /** Resolves once no re-provisioning is running or waiting (tests). */
  idle(): Promise<void>;
  close(): void;
}

const errorText = (error: unknown): string => (error instanceof Error ? error.message : String(error));

export const watchConfig = (options: ConfigWatchOptions): ConfigWatch => {
  const name = basename(options.file);
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let again = false;
  let closed = false;

  const run = (): void => {
    if (running) {
      again = true;
      return;
    }
    running = (async () => {
      do {
        again = false;
        options.print(`${name} changed: synthesizing and provisioning the sandbox again…`);
        try {
          for (const line of await options.apply()) options.print(line);
        } catch (error) {
          options.print(`${name}: not applied, the sandbox keeps the stacks it had: ${errorText(error)}`);
        }
      } while (again && !closed);
    })().finally(() => {
      running = undefined;
    });
  };

  const watcher: FSWatcher = watch(dirname(options.file), (_event, changed) => {
    if (closed || (changed !== null && changed !== name)) return;
    clearTimeout(timer);
    timer = setTimeout(() => {
      timer = undefined;
      run();
    }, options.debounceMs ?? 300);
  });

  return {
    idle: async () => {
      while (running || timer) await (running ?? new Promise((resolve) => setTimeout(resolve, 50)));
    },
    close: () => {
      closed = true;
      clearTimeout(timer);
      watcher.close();
    },
  };
};
