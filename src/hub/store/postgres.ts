import pg from 'pg';
import type { Db } from './db.js';
import type { ListenHandlers } from './postgres-keys.js';

/** `?` placeholders to PostgreSQL's `$1, $2, …` (PioT's SQL has no `?` inside literals). */
export function numberPlaceholders(sql: string): string {
  let n = 0;
  return sql.replace(/\?/g, () => `$${++n}`);
}

type Queryable = Pick<pg.Pool, 'query'>;

/**
 * The hub's SQL is a fixed set of strings: each statement with parameters gets a name, so
 * every connection parses and plans it once (as the SQLite store prepares each once) instead
 * of on every query. Statements without parameters (migrations) stay unnamed.
 */
const named = new Map<string, { name: string; text: string }>();
function statement(sql: string, values: unknown[]): pg.QueryConfig {
  if (values.length === 0) return { text: numberPlaceholders(sql) };
  let known = named.get(sql);
  if (!known && named.size < 1000) {
    known = { name: `piot_${named.size + 1}`, text: numberPlaceholders(sql) };
    named.set(sql, known);
  }
  return known ? { ...known, values } : { text: numberPlaceholders(sql), values };
}

function on(client: Queryable): Omit<Db, 'transaction' | 'close'> {
  return {
    dialect: 'postgres',
    all: async <T>(sql: string, params: unknown[] = []) =>
      (await client.query(statement(sql, params))).rows as T[],
    run: async (sql, params = []) => (await client.query(statement(sql, params))).rowCount ?? 0,
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
  const listeners = new Set<{ close(): Promise<void> }>();
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
    listen(channel, handlers) {
      listeners.add(listenOn(url, channel, handlers));
    },
    close: async () => {
      await Promise.all([...listeners].map((l) => l.close()));
      await pool.end();
    },
  };
}

const RELISTEN_MS = 1000;

/** A connection that LISTENs on `channel`; when it is lost, another one a second later. */
function listenOn(url: string, channel: string, handlers: ListenHandlers) {
  let closed = false;
  let client: pg.Client | undefined;
  let timer: NodeJS.Timeout | undefined;
  /** Lets go of the connection, if there is one: no longer listening. */
  const drop = async () => {
    const c = client;
    if (!c) return;
    client = undefined;
    c.removeAllListeners();
    c.on('error', () => undefined);
    handlers.state(false);
    await c.end().catch(() => undefined);
  };
  const lost = () => {
    if (!client) return;
    void drop();
    if (!closed) timer = setTimeout(connect, RELISTEN_MS).unref();
  };
  const connect = () => {
    const c = new pg.Client({ connectionString: url });
    client = c;
    c.on('notification', (n) => {
      if (n.channel === channel && n.payload !== undefined) handlers.message(n.payload);
    });
    c.on('error', lost);
    c.on('end', lost);
    c.connect()
      .then(() => c.query(`LISTEN ${channel}`))
      .then(() => {
        if (client === c && !closed) handlers.state(true);
      })
      .catch(() => {
        if (client === c) lost();
      });
  };
  connect();
  return {
    async close() {
      closed = true;
      clearTimeout(timer);
      await drop();
    },
  };
}
