/**
 * The DynamoDB engine behind the sandbox's `dynamodb` service: dynalite (an implementation of
 * DynamoDB in Node over LevelDB), started on an ephemeral loopback port and reached over its own
 * JSON 1.0 wire protocol. Keys, conditions, update expressions, queries and their errors are
 * dynalite's; the sandbox only authorizes, injects faults and answers what dynalite lacks.
 *
 * The data lives in LevelDB under the sandbox's state directory (`<state>/dynamodb`), so a restart
 * keeps tables and items; without a path dynalite keeps them in memory.
 */
import { rmSync } from 'node:fs';
import type { Server } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import dynalite from 'dynalite';

export interface BackendReply {
  readonly status: number;
  readonly body: Record<string, unknown>;
}

export interface DynamoBackend {
  /** Sends `DynamoDB_20120810.<action>` with `input`; resolves to dynalite's status and body. */
  call(action: string, input: Record<string, unknown>): Promise<BackendReply>;
  close(): Promise<void>;
}

/**
 * A signature dynalite accepts: it checks that one is present, never what it signs (the sandbox
 * endpoint has authorized the request already).
 */
const PLACEHOLDER_AUTHORIZATION =
  'AWS4-HMAC-SHA256 Credential=sandbox/20260101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0';

export interface BackendOptions {
  /** LevelDB directory; in memory when undefined. */
  readonly path?: string;
  /** Empty the directory first (the sandbox was started with reset, or its store is new). */
  readonly wipe?: boolean;
}

interface LevelDatabase {
  open(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Opens and closes the LevelDB with dynalite's own `level` (the same copy dynalite opens it with):
 * a database another running sandbox holds is refused here with the fix, where dynalite would
 * crash the process on its first read.
 */
const probe = async (path: string): Promise<void> => {
  const fromDynalite = createRequire(createRequire(import.meta.url).resolve('dynalite'));
  const { Level } = fromDynalite('level') as { Level: new (path: string) => LevelDatabase };
  const db = new Level(path);
  try {
    await db.open();
  } catch (error) {
    const locked = (error as { cause?: { code?: unknown } }).cause?.code === 'LEVEL_LOCKED';
    throw new Error(
      locked
        ? `the sandbox DynamoDB data in ${path} is in use by another running sandbox: stop it, or give this one another state directory (--state)`
        : `the sandbox DynamoDB data in ${path} cannot be opened: ${(error as Error).message}; start with --reset to begin again`,
      { cause: error },
    );
  }
  await db.close();
};

/**
 * How long (real time) a new table stays CREATING. The CreateTable API reference: "You can perform
 * read and write operations only on an ACTIVE table"; until then reads and writes answer
 * ResourceNotFoundException. AWS takes seconds; a tenth of one keeps provisioning quick.
 */
const TABLE_CREATION_MS = 100;

export const startBackend = async (options: BackendOptions): Promise<DynamoBackend> => {
  if (options.path !== undefined && options.wipe) rmSync(options.path, { recursive: true, force: true });
  if (options.path !== undefined) await probe(options.path);
  // CreateTable answers CREATING, as AWS does, and the table is ACTIVE TABLE_CREATION_MS later:
  // long enough that a caller who writes before it waits fails every time, not only on a loaded
  // machine (deletes and updates take no time).
  const server: Server = dynalite({
    ...(options.path === undefined ? {} : { path: options.path }),
    createTableMs: TABLE_CREATION_MS,
    deleteTableMs: 0,
    updateTableMs: 0,
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  // Calls under way: close waits for them, as dynalite's close does not wait for a Scan or Query's
  // iterator, which then fails unhandled (LEVEL_ITERATOR_NOT_OPEN) and takes the process down.
  const inFlight = new Set<Promise<unknown>>();
  const send = async (action: string, input: Record<string, unknown>): Promise<BackendReply> => {
    const response = await fetch(url, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-amz-json-1.0',
        'x-amz-target': `DynamoDB_20120810.${action}`,
        'x-amz-date': '20260101T000000Z',
        authorization: PLACEHOLDER_AUTHORIZATION,
      },
      body: JSON.stringify(input),
    });
    const text = await response.text();
    let body: Record<string, unknown> = {};
    try {
      body = text === '' ? {} : (JSON.parse(text) as Record<string, unknown>);
    } catch {
      body = { __type: 'com.amazonaws.dynamodb.v20120810#InternalServerError', message: text };
    }
    return { status: response.status, body };
  };
  // The first call waits for LevelDB to open: the sandbox is ready only once it is, and a close
  // never races the open.
  const opened = await send('ListTables', { Limit: 1 });
  if (opened.status !== 200) throw new Error(`the sandbox DynamoDB did not start: ${JSON.stringify(opened.body)}`);
  return {
    call: (action, input) => {
      const call = send(action, input);
      const settled = call.catch(() => undefined);
      inFlight.add(settled);
      void settled.then(() => inFlight.delete(settled));
      return call;
    },
    close: async () => {
      await Promise.all(inFlight);
      await new Promise<void>((resolve, reject) => {
        server.close((error?: Error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      });
    },
  };
};
