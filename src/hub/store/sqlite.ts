import Database from 'better-sqlite3';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Db } from './db.js';
import { RESTART_PAGES, startCheckpointer, type Checkpointer } from './sqlite-checkpointer.js';

const BUSY_WAIT_MS = 10_000;

/** Runs fn, retrying while another connection holds SQLite's write lock (up to 10 s). */
async function whenFree<T>(fn: () => Promise<T>): Promise<T> {
  const start = Date.now();
  for (let delay = 2; ; delay = Math.min(delay * 2, 100)) {
    try {
      return await fn();
    } catch (error) {
      const busy = (error as { code?: string }).code === 'SQLITE_BUSY';
      if (!busy || Date.now() - start > BUSY_WAIT_MS) throw error;
      await sleep(delay * (0.5 + Math.random()));
    }
  }
}

/**
 * A busy hub's writes wait this long (ms) for others to share their commit: "busy" is a
 * commit that ended less than BUSY_MS ago. A quiet hub commits at the end of the turn.
 */
const COMMIT_DELAY_MS = 1;
const BUSY_MS = 5;

/** Writes that arrive while a commit is pending share it, up to this many. */
const MAX_BATCH = 256;

interface Write {
  fn: (tx: Db) => Promise<unknown>;
  resolve(value: unknown): void;
  reject(error: unknown): void;
}

/**
 * A Db on one SQLite file (or `:memory:`). better-sqlite3 is synchronous, so one promise
 * chain keeps a transaction's statements from interleaving with another request's.
 *
 * Group commit: writes (`run` and `transaction`) that arrive in the same turn of the event
 * loop are committed together, each in its own savepoint (one failing rolls back only its
 * own statements), so N concurrent heartbeats cost one commit and one fsync, not N. A write
 * resolves only once its commit is done, as before.
 */
export function openSqlite(path: string): Db {
  const sqlite = new Database(path);
  sqlite.pragma('journal_mode = WAL');
  // A commit is not fsynced; the WAL is at each checkpoint. A power cut can lose the last
  // commits (heartbeats are samples), never the database's consistency. A synced commit
  // would stall this process's event loop for every group of writes.
  sqlite.pragma('synchronous = NORMAL');
  // No blocking wait for another writer: it would stall this event loop, and with it a
  // transaction of this process that holds the lock. Busy writes retry asynchronously.
  sqlite.pragma('busy_timeout = 0');
  sqlite.pragma('foreign_keys = ON');
  // WAL checkpoints run on a thread of their own (a file's database only; `:memory:` has no WAL).
  let checkpointer: Checkpointer | undefined;
  if (!sqlite.memory) {
    sqlite.pragma('wal_autocheckpoint = 0');
    checkpointer = startCheckpointer(path, {
      failed: (error) => {
        process.emitWarning(
          `${(error as Error).message ?? String(error)}; the hub's thread checkpoints instead`,
          'PiotWarning',
        );
        checkpointer = undefined;
        if (sqlite.open) sqlite.pragma(`wal_autocheckpoint = ${RESTART_PAGES}`);
      },
    });
  }
  let queue: Promise<unknown> = Promise.resolve();
  const exclusive = <T>(fn: () => Promise<T>): Promise<T> => {
    const next = queue.then(fn, fn);
    queue = next.catch(() => undefined);
    return next;
  };
  // The hub's SQL is a fixed set of strings: prepare each once.
  const statements = new Map<string, Database.Statement>();
  const prepared = (sql: string) => {
    let statement = statements.get(sql);
    if (!statement) {
      if (statements.size >= 1000) statements.clear();
      statement = sqlite.prepare(sql);
      statements.set(sql, statement);
    }
    return statement;
  };
  const bind = (params: unknown[]) => params.map((p) => (typeof p === 'boolean' ? Number(p) : p));
  const inner = (): Db => ({
    dialect: 'sqlite',
    all: <T>(sql: string, params: unknown[] = []) =>
      Promise.resolve(prepared(sql).all(...bind(params)) as T[]),
    run: (sql, params = []) => Promise.resolve(prepared(sql).run(...bind(params)).changes),
    transaction: (fn) => fn(inner()),
    close: () => Promise.resolve(),
  });
  const tx = inner();

  // Each write's savepoint, prepared once (exec would parse it for every heartbeat).
  const savepoint = {
    open: sqlite.prepare('SAVEPOINT piot_write'),
    release: sqlite.prepare('RELEASE piot_write'),
    rollback: sqlite.prepare('ROLLBACK TO piot_write'),
  };
  const commit = async (writes: Write[]) => {
    try {
      // The checkpointer takes the write lock now and then to start the WAL over: let it.
      await checkpointer?.released();
      // IMMEDIATE takes the write lock now: two hub processes cannot both read-then-write.
      await whenFree(() => Promise.resolve(sqlite.exec('BEGIN IMMEDIATE')));
    } catch (error) {
      for (const write of writes) write.reject(error);
      return;
    }
    const outcomes: (() => void)[] = [];
    try {
      for (const write of writes) {
        savepoint.open.run();
        try {
          const value = await write.fn(tx);
          savepoint.release.run();
          outcomes.push(() => write.resolve(value));
        } catch (error) {
          savepoint.rollback.run();
          savepoint.release.run();
          outcomes.push(() => write.reject(error));
        }
      }
      sqlite.exec('COMMIT');
      checkpointer?.committed();
    } catch (error) {
      if (sqlite.inTransaction) sqlite.exec('ROLLBACK');
      for (const write of writes) write.reject(error);
      return;
    }
    for (const outcome of outcomes) outcome();
  };
  let open: Write[] | undefined;
  let lastCommit = -Infinity;
  const write = <T>(fn: (tx: Db) => Promise<T>): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const entry: Write = { fn, resolve, reject };
      if (open && open.length < MAX_BATCH) {
        open.push(entry);
        return;
      }
      const batch = [entry];
      open = batch;
      void exclusive(async () => {
        // Let this turn's other requests add their writes, then close the batch. Under load
        // (the last commit ended moments ago) wait a millisecond longer for more of them.
        const busy = performance.now() - lastCommit < BUSY_MS;
        await new Promise((resolve) =>
          busy ? setTimeout(resolve, COMMIT_DELAY_MS) : setImmediate(resolve),
        );
        if (open === batch) open = undefined;
        await commit(batch);
        lastCommit = performance.now();
      });
    });
  return {
    dialect: 'sqlite',
    all: (sql, params) => exclusive(() => tx.all(sql, params)),
    run: (sql, params) => write((t) => t.run(sql, params)),
    transaction: (fn) => write(fn),
    close: () =>
      exclusive(async () => {
        await checkpointer?.stop();
        sqlite.close();
      }),
  };
}
