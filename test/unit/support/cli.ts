/**
 * The CLI run in-process, as the unit tests drive it: `main()` with its output captured and
 * stand-in clients (aws-sdk-client-mock), so a test reads the exit code, stdout and stderr.
 */
import { type MainOptions, main } from '../../../cli/main';

export interface CliRun {
  readonly code: number;
  readonly out: string;
  readonly err: string;
}

/** A runner for `bakehouse <args>` with these options (config, clients, clock, waits) and environment. */
export const cliRunner =
  (options: () => MainOptions, env: Record<string, string> = {}) =>
  async (args: readonly string[]): Promise<CliRun> => {
    const out: string[] = [];
    const err: string[] = [];
    const code = await main(
      args,
      { stdout: { write: (t: string) => out.push(t) }, stderr: { write: (t: string) => err.push(t) }, env },
      options(),
    );
    return { code, out: out.join(''), err: err.join('') };
  };
