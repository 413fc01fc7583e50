/**
 * A run's launch permission reads, kept for its later parts: each part that leaves work for the
 * next writes the permissions it read, and a later part starts from every earlier part's, so no
 * image's permissions are read twice in one run and every part moves the run forward (without it,
 * each part would read the same first images again). Kept in the state table as records
 * (commons/state-table.ts) under `record#janitor-reads#<run>#<part>#<chunk>`, a chunk holding at
 * most CHUNK_READS images (an item holds 400 KB: DynamoDB Developer Guide, "Service, account, and
 * table quotas in Amazon DynamoDB", item size), with a day's TTL: a run's parts end within hours.
 *
 * A read reused from an earlier part is at most hours old. Permissions only protect (a share keeps
 * an image), so a share added since can at worst let a later part take a step the share would have
 * stopped, as a share added between a single run's read and its action can; the next night's run
 * reads afresh and unmarks a shared image.
 */
import { readRecord, recordKey, type StateTableDeps, writeRecord } from '../commons/state-table';

/** Images per record: ~25 bytes an image with no share, so a record stays far under 400 KB. */
export const CHUNK_READS = 8_000;
/** A chunk record's data: [image id, its launch permissions] pairs. */
type Chunk = readonly (readonly [string, readonly string[]])[];

const DAY_MS = 86_400_000;
const keyOf = (run: string, part: number, chunk: number) => recordKey('janitor-reads', `${run}#${part}#${chunk}`);

export interface Checkpoint {
  /** Every launch permission the run's parts before `part` read. */
  load(run: string, part: number): Promise<Map<string, readonly string[]>>;
  /** Keeps what `part` read (a duplicate delivery of a part finds its records written: kept as they are). */
  save(run: string, part: number, reads: ReadonlyMap<string, readonly string[]>): Promise<void>;
}

export const stateTableCheckpoint = (deps: StateTableDeps): Checkpoint => ({
  load: async (run, part) => {
    const reads = new Map<string, readonly string[]>();
    for (let earlier = 1; earlier < part; earlier++) {
      for (let chunk = 0; ; chunk++) {
        const { current } = await readRecord<Chunk>(deps, keyOf(run, earlier, chunk));
        if (current === undefined) break;
        for (const [id, shares] of current.data) reads.set(id, shares);
      }
    }
    return reads;
  },
  save: async (run, part, reads) => {
    const entries = [...reads];
    const expiresAt = new Date(deps.clock().getTime() + DAY_MS);
    for (let chunk = 0; chunk * CHUNK_READS < entries.length; chunk++) {
      const data: Chunk = entries.slice(chunk * CHUNK_READS, (chunk + 1) * CHUNK_READS);
      await writeRecord(deps, keyOf(run, part, chunk), data, 0, expiresAt);
    }
  },
});
