import Database from 'better-sqlite3';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Db } from './db.js';

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
 * A Db on one SQLite file (or `:memory:`). better-sqlite3 is synchronous, so one promise
 * chain keeps a transaction's statements from interleaving with another request's.
 */
export function openSqlite(path: string): Db {
  const sqlite = new Database(path);
  sqlite.pragma('journal_mode = WAL');
  // No blocking wait for another writer: it would stall this event loop, and with it a
  // transaction of this process that holds the lock. Busy writes retry asynchronously.
  sqlite.pragma('busy_timeout = 0');
  sqlite.pragma('foreign_keys = ON');
  let queue: Promise<unknown> = Promise.resolve();
  const exclusive = <T>(fn: () => Promise<T>): Promise<T> => {
    const next = queue.then(fn, fn);
    queue = next.catch(() => undefined);
    return next;
  };
  const bind = (params: unknown[]) => params.map((p) => (typeof p === 'boolean' ? Number(p) : p));
  const inner = (): Db => ({
    dialect: 'sqlite',
    all: <T>(sql: string, params: unknown[] = []) =>
      Promise.resolve(sqlite.prepare(sql).all(...bind(params)) as T[]),
    run: (sql, params = []) => Promise.resolve(sqlite.prepare(sql).run(...bind(params)).changes),
    transaction: (fn) => fn(inner()),
    close: () => Promise.resolve(),
  });
  const tx = inner();
  return {
    dialect: 'sqlite',
    all: (sql, params) => exclusive(() => tx.all(sql, params)),
    run: (sql, params) => exclusive(() => whenFree(() => tx.run(sql, params))),
    transaction: (fn) =>
      exclusive(async () => {
        // IMMEDIATE takes the write lock now: two hub processes cannot both read-then-write.
        await whenFree(() => Promise.resolve(sqlite.exec('BEGIN IMMEDIATE')));
        try {
          const result = await fn(tx);
          sqlite.exec('COMMIT');
          return result;
        } catch (error) {
          sqlite.exec('ROLLBACK');
          throw error;
        }
      }),
    close: () => exclusive(() => Promise.resolve(void sqlite.close())),
  };
}
