import pg from 'pg';
import type { Db } from './db.js';

/** `?` placeholders to PostgreSQL's `$1, $2, …` (PioT's SQL has no `?` inside literals). */
export function numberPlaceholders(sql: string): string {
  let n = 0;
  return sql.replace(/\?/g, () => `$${++n}`);
}

type Queryable = Pick<pg.Pool, 'query'>;

function on(client: Queryable): Omit<Db, 'transaction' | 'close'> {
  return {
    dialect: 'postgres',
    all: async <T>(sql: string, params: unknown[] = []) =>
      (await client.query(numberPlaceholders(sql), params)).rows as T[],
    run: async (sql, params = []) =>
      (await client.query(numberPlaceholders(sql), params)).rowCount ?? 0,
  };
}

/** A Db on a PostgreSQL pool; `schema` sets the search_path (tests use a fresh one). */
export function openPostgres(url: string, options: { schema?: string } = {}): Db {
  const pool = new pg.Pool({
    connectionString: url,
    max: 10,
    // As the SQLite store's synchronous=NORMAL: a commit does not wait for its WAL flush
    // (PostgreSQL flushes within wal_writer_delay). A crash can lose the last commits,
    // never consistency; a heartbeat does not hold a connection through a disk flush.
    options: ['-c synchronous_commit=off', options.schema && `-c search_path=${options.schema}`]
      .filter(Boolean)
      .join(' '),
  });
  // An idle client losing its connection must not crash the hub; the next query reconnects.
  pool.on('error', () => undefined);
  return {
    ...on(pool),
    transaction: async (fn) => {
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        const tx: Db = {
          ...on(client),
          transaction: (inner) => inner(tx),
          close: () => Promise.resolve(),
        };
        const result = await fn(tx);
        await client.query('COMMIT');
        return result;
      } catch (error) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw error;
      } finally {
        client.release();
      }
    },
    close: () => pool.end(),
  };
}
