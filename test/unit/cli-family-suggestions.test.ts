/**
 * Unknown family names (issue 18): every command that takes a family (bake, promote, rollback,
 * history, images, canary, families <family>, status <bake-id>) answers with a usage error that
 * names the family, the closest known names (as commander suggests commands and options) and all
 * of them, exits 2 and calls no AWS API.
 */
import { describe, expect, it } from 'vitest';
import rawConfig from '../../bakehouse.config';
import { closestNames, requireFamily } from '../../cli/commands/shared';
import type { Clients } from '../../cli/context';
import { UsageError } from '../../cli/errors';
import { main } from '../../cli/main';
import { loadConfig } from '../../functions/commons/families';

const config = loadConfig(rawConfig);
const KNOWN = ['al2023-base', 'ubuntu-2404-base', 'windows-2022-base', 'al2023-web'];

describe('closestNames', () => {
  it.each([
    ['al2023-bsae', ['al2023-base']],
    ['al2023-bas', ['al2023-base']],
    ['AL2023-BASE', ['al2023-base']],
    ['al2023-wbe', ['al2023-web']],
    ['windows-2022', ['windows-2022-base']],
    ['ubuntu', ['ubuntu-2404-base']],
    ['al2023', ['al2023-base', 'al2023-web']],
    ['debian-12', []],
  ])('%s → %j', (word, expected) => {
    expect(closestNames(word, KNOWN)).toEqual(expected);
  });
});

describe('requireFamily', () => {
  it('names the family, the closest names and every known one', () => {
    const attempt = () => requireFamily({ config }, 'al2023-bsae');
    expect(attempt).toThrow(UsageError);
    expect(attempt).toThrow(
      "no family named 'al2023-bsae'. Did you mean al2023-base? Fix: use one of al2023-base, ubuntu-2404-base, windows-2022-base, al2023-web (bakehouse.config.ts declares them)",
    );
  });

  it('offers several when they are as close', () => {
    expect(() => requireFamily({ config }, 'al2023')).toThrow(
      "no family named 'al2023'. Did you mean one of al2023-base, al2023-web? Fix:",
    );
  });

  it('offers none when nothing is close, and still lists the known ones', () => {
    expect(() => requireFamily({ config }, 'debian-12')).toThrow(
      "no family named 'debian-12'. Fix: use one of al2023-base,",
    );
  });

  it('puts the family and the suggestions in the details for --json', () => {
    try {
      requireFamily({ config }, 'al2023-bsae');
      expect.unreachable();
    } catch (error) {
      expect((error as UsageError).details).toEqual({
        family: 'al2023-bsae',
        suggestions: ['al2023-base'],
        families: KNOWN,
      });
    }
  });
});

/** Clients that fail the test when any is used: an unknown family must not reach AWS. */
const untouchable = (used: string[]): Clients =>
  new Proxy({} as Clients, {
    get: (_target, name) => {
      if (typeof name === 'string' && name !== 'then' && name !== 'close') used.push(name);
      return undefined;
    },
  });

const run = async (argv: string[]) => {
  const out: string[] = [];
  const err: string[] = [];
  const used: string[] = [];
  const code = await main(
    argv,
    { stdout: { write: (t: string) => out.push(t) }, stderr: { write: (t: string) => err.push(t) }, env: {} },
    { config, clients: () => untouchable(used), sleep: async () => {}, pollMs: 1 },
  );
  return { code, stdout: out.join(''), stderr: err.join(''), used };
};

describe('commands taking a family', () => {
  it.each([
    [['bake', 'al2023-bsae']],
    [['bake', 'al2023-bsae', '--wait']],
    [['promote', 'al2023-bsae', 'stable', 'ami-0123456789abcdef0']],
    [['rollback', 'al2023-bsae', 'stable']],
    [['history', 'al2023-bsae']],
    [['images', 'al2023-bsae']],
    [['canary', 'al2023-bsae']],
    [['families', 'al2023-bsae']],
    [['status', 'al2023-bsae-0123456789abcdef0123456789abcdef']],
  ])('%j exits 2 naming the family and the closest one, without calling AWS', async (argv) => {
    const result = await run([...argv, '--sandbox']);
    expect(result.code, result.stderr).toBe(2);
    expect(result.stderr).toContain("no family named 'al2023-bsae'. Did you mean al2023-base?");
    expect(result.used).toEqual([]);
  });

  it('--json puts the suggestions in the error document', async () => {
    const result = await run(['bake', 'al2023-bsae', '--sandbox', '--json']);
    expect(JSON.parse(result.stdout)).toMatchObject({
      exitCode: 2,
      family: 'al2023-bsae',
      suggestions: ['al2023-base'],
    });
  });
});
