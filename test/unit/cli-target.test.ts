/**
 * Where the CLI talks to (issue 18): `--sandbox` takes a port, host:port or a URL, or nothing
 * (BAKEHOUSE_SANDBOX_PORT, the port `npm run sandbox` listens on, else 4566); a bad value is a
 * usage error naming `--sandbox` and its forms. The target options (--sandbox, --stage, --region,
 * --json) work before the command, between `events` and `tail`, and after the command.
 */
import { describe, expect, it } from 'vitest';
import rawConfig from '../../bakehouse.config';
import { type Clients, resolveTarget, type Target } from '../../cli/context';
import { explainError, UsageError } from '../../cli/errors';
import { main } from '../../cli/main';
import { loadConfig } from '../../functions/commons/families';

const config = loadConfig(rawConfig);

describe('resolveTarget', () => {
  it.each([
    ['4690', 'http://127.0.0.1:4690'],
    ['localhost:4690', 'http://localhost:4690'],
    ['127.0.0.1:4690', 'http://127.0.0.1:4690'],
    ['http://127.0.0.1:4690', 'http://127.0.0.1:4690'],
    ['http://localhost:4566/', 'http://localhost:4566'],
    ['https://sandbox.internal:8443', 'https://sandbox.internal:8443'],
  ])('--sandbox %s talks to %s', (value, endpoint) => {
    expect(resolveTarget({ sandbox: value }, {})).toEqual({ endpoint, sandbox: true, region: 'us-east-1' });
  });

  it('--sandbox without a value uses BAKEHOUSE_SANDBOX_PORT, else 4566', () => {
    expect(resolveTarget({ sandbox: true }, { BAKEHOUSE_SANDBOX_PORT: '4690' }).endpoint).toBe('http://127.0.0.1:4690');
    expect(resolveTarget({ sandbox: true }, {}).endpoint).toBe('http://127.0.0.1:4566');
    expect(resolveTarget({ sandbox: '' }, { BAKEHOUSE_SANDBOX_PORT: '4691' }).endpoint).toBe('http://127.0.0.1:4691');
  });

  it('a value given wins over BAKEHOUSE_SANDBOX_PORT', () => {
    expect(resolveTarget({ sandbox: '4700' }, { BAKEHOUSE_SANDBOX_PORT: '4690' }).endpoint).toBe(
      'http://127.0.0.1:4700',
    );
  });

  it.each(['99999', '0', 'localhost:abc', 'ftp://127.0.0.1:4566', 'not a url', 'localhost'])(
    '--sandbox %s is a usage error naming --sandbox and the forms it takes',
    (value) => {
      const attempt = () => resolveTarget({ sandbox: value }, {});
      expect(attempt).toThrow(UsageError);
      expect(attempt).toThrow(`--sandbox '${value}'`);
      expect(attempt).toThrow('a port (4566), host:port (localhost:4566) or a URL (http://127.0.0.1:4566)');
    },
  );

  it('a BAKEHOUSE_SANDBOX_PORT that is no port is a usage error naming the variable', () => {
    expect(() => resolveTarget({ sandbox: true }, { BAKEHOUSE_SANDBOX_PORT: 'abc' })).toThrow(
      /BAKEHOUSE_SANDBOX_PORT 'abc' is not a port/,
    );
  });
});

/** Runs `main` with clients that record the target and answer nothing (the commands fail after). */
const run = async (argv: string[], env: Record<string, string> = {}) => {
  const out: string[] = [];
  const err: string[] = [];
  let target: Target | undefined;
  const code = await main(
    argv,
    { stdout: { write: (t: string) => out.push(t) }, stderr: { write: (t: string) => err.push(t) }, env },
    {
      config,
      clients: (t) => {
        target = t;
        return {} as Clients;
      },
      sleep: async () => {},
      pollMs: 1,
    },
  );
  return { code, stdout: out.join(''), stderr: err.join(''), target };
};

describe('the target options through main', () => {
  it.each([
    [['--sandbox', '4690', 'families']],
    [['families', '--sandbox', '4690']],
    [['families', '--sandbox=localhost:4690']],
    [['--sandbox', 'localhost:4690', 'events', 'tail', '--for', '1']],
    [['events', '--sandbox', '4690', 'tail', '--for', '1']],
    [['events', 'tail', '--sandbox', 'http://127.0.0.1:4690', '--for', '1']],
    [['--sandbox', '4690', 'bake', 'al2023-base']],
    [['history', 'al2023-base', '--sandbox', '4690']],
    [['promote', '--sandbox', '4690', 'al2023-base', 'dev', 'ami-0123456789abcdef0']],
  ])('%j reaches the sandbox on port 4690', async (argv) => {
    const result = await run(argv);
    expect(result.stderr).not.toMatch(/unknown option|Invalid URL|UnknownError/);
    expect(result.target?.endpoint).toMatch(/^http:\/\/(127\.0\.0\.1|localhost):4690$/);
  });

  it.each([
    [['--sandbox', 'families']],
    [['families', '--sandbox']],
    [['events', 'tail', '--sandbox', '--for', '1']],
    [['--sandbox', 'events', 'tail', '--for', '1']],
    [['bake', '--sandbox', 'al2023-base']],
  ])('%j without a value takes BAKEHOUSE_SANDBOX_PORT and leaves the next argument alone', async (argv) => {
    const result = await run(argv, { BAKEHOUSE_SANDBOX_PORT: '4691' });
    expect(result.stderr).not.toMatch(/unknown option|too many arguments|missing required argument/);
    expect(result.target?.endpoint).toBe('http://127.0.0.1:4691');
  });

  it('--stage, --region and --json work before the command too', async () => {
    const result = await run(['--stage', 'prod', '--region', 'eu-west-1', '--json', '--sandbox', '4690', 'families']);
    expect(result.target).toEqual({ endpoint: 'http://127.0.0.1:4690', sandbox: true, region: 'eu-west-1' });
    // The clients answer nothing, so families fails; --json shows in the error document on stdout.
    expect(JSON.parse(result.stdout)).toMatchObject({ exitCode: 1 });
  });

  it.each([['4690x'], ['localhost:99999'], ['ftp://x:1']])(
    'a bad --sandbox %s exits 2 with the forms, before any client is made',
    async (value) => {
      const result = await run(['families', '--sandbox', value]);
      expect(result.code).toBe(2);
      expect(result.stderr).toContain(`--sandbox '${value}' is not an endpoint`);
      expect(result.stderr).toContain('a port (4566), host:port (localhost:4566) or a URL');
      expect(result.target).toBeUndefined();
    },
  );

  it('bakehouse families --help lists the target options', async () => {
    const result = await run(['families', '--help']);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/--sandbox \[target\]/);
    expect(result.stdout).toContain('--stage <stage>');
  });
});

describe('a sandbox that does not answer', () => {
  it('names the endpoint and the ways to give another port', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:4690'), { code: 'ECONNREFUSED' });
    expect(explainError(refused, { endpoint: 'http://127.0.0.1:4690', sandbox: true, stage: 'dev' }).message).toBe(
      'nothing answers at http://127.0.0.1:4690. Fix: start the sandbox with `npm run sandbox`, or point at the one running: --sandbox <port>, host:port or URL, or BAKEHOUSE_SANDBOX_PORT with a bare --sandbox',
    );
  });
});
