/**
 * `npm run schemas`: writes schemas/events/<detail-type>.json, one JSON Schema (draft-04) per
 * detail-type of the public contract, from `detailSchemas` in functions/commons/events.ts, and
 * formats them with Biome (as `npm run lint` expects them). Prints each file it changed; with
 * `--check` it writes nothing and exits 1 when a file is stale, missing or left over.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join, relative } from 'node:path';
import { isDeepStrictEqual, parseArgs } from 'node:util';
import { EVENT_SCHEMAS_DIR, generateSchemas } from '../schemas/event-schemas';

const readJson = (path: string): unknown => {
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch {
    return undefined;
  }
};

const main = (): number => {
  const { values } = parseArgs({ options: { check: { type: 'boolean', default: false } }, strict: true });
  const schemas = generateSchemas();
  const wanted = new Set([...schemas.keys()].map((path) => basename(path)));
  const stale = [...schemas].filter(([path, schema]) => !isDeepStrictEqual(readJson(path), schema)).map(([p]) => p);
  mkdirSync(EVENT_SCHEMAS_DIR, { recursive: true });
  const extra = readdirSync(EVENT_SCHEMAS_DIR)
    .filter((name) => name.endsWith('.json') && !wanted.has(name))
    .map((name) => join(EVENT_SCHEMAS_DIR, name));
  const show = (path: string) => relative(process.cwd(), path);
  if (values.check) {
    for (const path of stale) console.error(`stale: ${show(path)}`);
    for (const path of extra) console.error(`not in the contract: ${show(path)}`);
    if (stale.length + extra.length > 0) console.error('run npm run schemas');
    return stale.length + extra.length > 0 ? 1 : 0;
  }
  for (const path of stale) {
    writeFileSync(path, `${JSON.stringify(schemas.get(path), null, 2)}\n`);
    console.log(`wrote ${show(path)}`);
  }
  for (const path of extra) {
    rmSync(path);
    console.log(`removed ${show(path)} (no such detail-type in functions/commons/events.ts)`);
  }
  if (stale.length > 0) {
    const biome = spawnSync('npx', ['biome', 'format', '--write', ...stale], { stdio: 'inherit' });
    if (biome.status !== 0) return 1;
  }
  if (stale.length + extra.length === 0) console.log(`${schemas.size} schema files up to date`);
  return 0;
};

process.exitCode = main();
