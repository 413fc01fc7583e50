/**
 * The sandbox's state on disk: tables of JSON records held in memory, made durable by an
 * append-only journal.
 *
 * Every change is a transaction: its records are written to `journal.jsonl` as one line (write(2))
 * before the change becomes visible and before the HTTP response goes out. From then on the
 * kernel holds the line, so a `kill -9` of the sandbox loses nothing a client was told about. A
 * flush to the device (fdatasync) on every commit would add only survival of a host crash or
 * power loss, which an emulator's state does not need, and it blocked the event loop for about
 * a tenth of an e2e run's busy time; `flush: 'disk'` turns it on. On open, the snapshot
 * (`state.json`, replaced atomically by rename) is loaded and the journal replayed; a torn last
 * line, the only damage a crash mid-write can do, is dropped. Compaction writes a new snapshot
 * and empties the journal.
 */
import {
  closeSync,
  existsSync,
  fdatasyncSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';

type Row = Record<string, unknown>;

interface JournalEntry {
  /** sandbox clock reading (ms) when the transaction committed */
  readonly c: number;
  /** changed records: [table, id, record or null for deleted] */
  readonly w: [string, string, Row | null][];
}

interface Snapshot {
  readonly version: 1;
  readonly clockMs: number;
  readonly tables: Record<string, Record<string, Row>>;
}

export interface Transaction {
  get<T extends Row>(table: string, id: string): T | undefined;
  put<T extends Row>(table: string, id: string, record: T): void;
  delete(table: string, id: string): void;
}

/**
 * How far a commit goes before it becomes visible: `kernel` (written with write(2); survives the
 * process being killed) or `disk` (also fdatasync'd; survives a host crash).
 */
export type StoreFlush = 'kernel' | 'disk';

/** Compact once the journal holds this many transactions. */
const COMPACT_AFTER = 20_000;

export class Store {
  private readonly tables = new Map<string, Map<string, Row>>();
  private journalFd: number | undefined;
  private journalLength = 0;
  private lastClockMs = 0;
  private readonly snapshotPath: string;
  private readonly journalPath: string;

  private constructor(
    readonly dir: string,
    private readonly flush: StoreFlush,
  ) {
    this.snapshotPath = join(dir, 'state.json');
    this.journalPath = join(dir, 'journal.jsonl');
  }

  /** Opens (or with `reset`, empties) the store in `dir`. */
  static open(dir: string, options: { reset?: boolean; flush?: StoreFlush } = {}): Store {
    mkdirSync(dir, { recursive: true });
    const store = new Store(dir, options.flush ?? 'kernel');
    if (options.reset) {
      rmSync(store.snapshotPath, { force: true });
      rmSync(store.journalPath, { force: true });
    }
    store.load();
    store.compact();
    return store;
  }

  /** The last sandbox clock reading that was committed (the clock resumes from it). */
  get clockMs(): number {
    return this.lastClockMs;
  }

  /** Read-only view of a table. Change records only through `transact`. */
  table<T extends Row>(name: string): ReadonlyMap<string, T> {
    return (this.tables.get(name) ?? new Map()) as ReadonlyMap<string, T>;
  }

  get<T extends Row>(table: string, id: string): T | undefined {
    return this.tables.get(table)?.get(id) as T | undefined;
  }

  /**
   * Runs `work` against a transaction; if it returns without throwing, its writes are made
   * durable, then visible. If it throws, nothing changes.
   */
  transact<R>(clockMs: number, work: (tx: Transaction) => R): R {
    const writes = new Map<string, [string, string, Row | null]>();
    const tx: Transaction = {
      get: <T extends Row>(table: string, id: string) => {
        const pending = writes.get(`${table}\u0000${id}`);
        if (pending) return (pending[2] ?? undefined) as T | undefined;
        return this.get<T>(table, id);
      },
      put: (table, id, record) => {
        writes.set(`${table}\u0000${id}`, [table, id, structuredClone(record)]);
      },
      delete: (table, id) => {
        writes.set(`${table}\u0000${id}`, [table, id, null]);
      },
    };
    const result = work(tx);
    if (writes.size > 0) this.commit({ c: Math.max(clockMs, this.lastClockMs), w: [...writes.values()] });
    return result;
  }

  /** Records the clock alone (after it was moved), so a restart does not turn it back. */
  recordClock(clockMs: number): void {
    this.commit({ c: Math.max(clockMs, this.lastClockMs), w: [] });
  }

  close(): void {
    this.compact();
    if (this.journalFd !== undefined) closeSync(this.journalFd);
    this.journalFd = undefined;
  }

  /** Counts per table, for the control endpoint. */
  counts(): Record<string, number> {
    return Object.fromEntries([...this.tables].map(([name, rows]) => [name, rows.size]));
  }

  private commit(entry: JournalEntry): void {
    if (this.journalFd === undefined) throw new Error('store is closed');
    const line = `${JSON.stringify(entry)}\n`;
    writeSync(this.journalFd, line);
    if (this.flush === 'disk') fdatasyncSync(this.journalFd);
    this.apply(entry);
    this.journalLength += 1;
    if (this.journalLength >= COMPACT_AFTER) this.compact();
  }

  private apply(entry: JournalEntry): void {
    this.lastClockMs = Math.max(this.lastClockMs, entry.c);
    for (const [table, id, record] of entry.w) {
      let rows = this.tables.get(table);
      if (!rows) {
        rows = new Map();
        this.tables.set(table, rows);
      }
      if (record === null) rows.delete(id);
      else rows.set(id, record);
    }
  }

  private load(): void {
    if (existsSync(this.snapshotPath)) {
      const snapshot = JSON.parse(readFileSync(this.snapshotPath, 'utf8')) as Snapshot;
      this.lastClockMs = snapshot.clockMs;
      for (const [name, rows] of Object.entries(snapshot.tables)) {
        this.tables.set(name, new Map(Object.entries(rows)));
      }
    }
    if (existsSync(this.journalPath)) {
      const lines = readFileSync(this.journalPath, 'utf8').split('\n');
      for (const [index, line] of lines.entries()) {
        if (line.trim() === '') continue;
        try {
          this.apply(JSON.parse(line) as JournalEntry);
        } catch (error) {
          // Only the last line can be torn by a crash; anything earlier is real corruption.
          if (index < lines.length - 2)
            throw new Error(`sandbox journal ${this.journalPath} is corrupt at line ${index + 1}`, { cause: error });
        }
      }
    }
  }

  /** Writes every table to a new snapshot (atomically) and starts an empty journal. */
  private compact(): void {
    if (this.journalFd !== undefined) closeSync(this.journalFd);
    const snapshot: Snapshot = {
      version: 1,
      clockMs: this.lastClockMs,
      tables: Object.fromEntries([...this.tables].map(([name, rows]) => [name, Object.fromEntries(rows)])),
    };
    const temp = `${this.snapshotPath}.tmp`;
    const fd = openSync(temp, 'w');
    writeSync(fd, JSON.stringify(snapshot));
    fsyncSync(fd);
    closeSync(fd);
    renameSync(temp, this.snapshotPath);
    const dirFd = openSync(this.dir, 'r');
    fsyncSync(dirFd);
    closeSync(dirFd);
    this.journalFd = openSync(this.journalPath, 'w');
    fsyncSync(this.journalFd);
    this.journalLength = 0;
  }
}
