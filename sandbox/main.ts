/**
 * `npm run sandbox`: the local AWS-compatible endpoint.
 *
 *   npm run sandbox -- [--port 4566] [--state DIR] [--reset] [--speed 600] [--account 000000000000]
 *
 * Port from --port or BAKEHOUSE_SANDBOX_PORT (default 4566), state directory from --state or
 * BAKEHOUSE_SANDBOX_STATE (default .sandbox/state in the project). Binds to 127.0.0.1 only.
 * Prints one line with the endpoint when ready; stops cleanly on SIGINT or SIGTERM.
 */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { DEFAULT_ACCOUNT, DEFAULT_SPEED, startSandbox } from './server';

const usage = 'usage: npm run sandbox -- [--port 4566] [--state DIR] [--reset] [--speed 600] [--account 000000000000]';

const main = async (): Promise<number> => {
  const { values } = parseArgs({
    options: {
      port: { type: 'string', default: process.env.BAKEHOUSE_SANDBOX_PORT ?? '4566' },
      state: { type: 'string', default: process.env.BAKEHOUSE_SANDBOX_STATE ?? resolve('.sandbox', 'state') },
      reset: { type: 'boolean', default: false },
      speed: { type: 'string', default: String(DEFAULT_SPEED) },
      account: { type: 'string', default: DEFAULT_ACCOUNT },
      help: { type: 'boolean', default: false },
    },
    strict: true,
  });
  if (values.help) {
    console.log(usage);
    return 0;
  }
  const port = Number(values.port);
  const speed = Number(values.speed);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--port '${values.port}' is not a port`);
  if (!Number.isFinite(speed) || speed < 0) throw new Error(`--speed '${values.speed}' must be a number of 0 or more`);
  if (!/^\d{12}$/.test(values.account)) throw new Error(`--account '${values.account}' is not a 12-digit account id`);

  const sandbox = await startSandbox({
    port,
    stateDir: resolve(values.state),
    reset: values.reset,
    speed,
    account: values.account,
  });
  console.log(`bakehouse sandbox ready at ${sandbox.url} (state ${resolve(values.state)}, speed ${speed}x)`);

  await new Promise<void>((done) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      sandbox.close().then(done, (error: unknown) => {
        console.error('sandbox: error while stopping', error);
        done();
      });
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  return 0;
};

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(`sandbox: ${error instanceof Error ? error.message : String(error)}`);
    console.error(usage);
    process.exit(1);
  },
);
