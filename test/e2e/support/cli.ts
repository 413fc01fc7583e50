/**
 * The CLI run in-process against a running sandbox (`--sandbox <url>` appended), its output
 * captured: what most e2e files need to drive `bakehouse` without spawning the bin.
 */
import { main } from '../../../cli/main';

export interface SandboxCliRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** A runner for `bakehouse <args> --sandbox <url()>`, with the CLI's polling at 100 ms. */
export const sandboxCli =
  (url: () => string, env: Record<string, string> = {}) =>
  async (args: readonly string[]): Promise<SandboxCliRun> => {
    const out: string[] = [];
    const err: string[] = [];
    const code = await main(
      [...args, '--sandbox', url()],
      { stdout: { write: (t: string) => out.push(t) }, stderr: { write: (t: string) => err.push(t) }, env },
      { pollMs: 100 },
    );
    return { code, stdout: out.join(''), stderr: err.join('') };
  };
