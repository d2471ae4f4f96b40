// Test helper: the stores every contract suite runs against. Not part of the hub.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { describe, it } from 'vitest';
import type { Db } from './db.js';
import { openStore } from './open.js';
import { openPostgres } from './postgres.js';
import { openSqlite } from './sqlite.js';
import type { Store } from './store.js';

/** A fresh, migrated store and how to throw it away. */
export interface OpenedStore {
  store: Store;
  /** Opens a second hub's store on the same data (as another process would). */
  reopen(): Promise<Store>;
  dispose(): Promise<void>;
  /** PostgreSQL: runs SQL in the store's schema, for what the store does not show. */
  query?(sql: string): Promise<Record<string, unknown>[]>;
}

/** One backend the suites run against. */
export interface StoreTarget {
  name: string;
  open(): Promise<OpenedStore>;
  /** A fresh Db with no schema yet (no migration run), and how to throw it away. */
  openDb(): Promise<{ db: Db; dispose(): Promise<void> }>;
}

const sqlite: StoreTarget = {
  name: 'SQLite',
  async openDb() {
    const data = await mkdtemp(join(tmpdir(), 'piot-hub-'));
    const db = openSqlite(join(data, 'hub.db'));
    return {
      db,
      dispose: async () => {
        await db.close();
        await rm(data, { recursive: true, force: true });
      },
    };
  },
  async open() {
    const data = await mkdtemp(join(tmpdir(), 'piot-hub-'));
    const store = await openStore({ data });
    return {
      store,
      reopen: () => openStore({ data }),
      dispose: async () => {
        await store.close();
        await rm(data, { recursive: true, force: true });
      },
    };
  },
};

function postgres(url: string): StoreTarget {
  const freshSchema = async () => {
    const schema = `piot_test_${randomBytes(6).toString('hex')}`;
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    await admin.query(`CREATE SCHEMA ${schema}`);
    await admin.end();
    return schema;
  };
  const dropSchema = async (schema: string) => {
    const drop = new pg.Client({ connectionString: url });
    await drop.connect();
    await drop.query(`DROP SCHEMA ${schema} CASCADE`);
    await drop.end();
  };
  return {
    name: 'PostgreSQL',
    async openDb() {
      const schema = await freshSchema();
      const db = openPostgres(url, { schema });
      return {
        db,
        dispose: async () => {
          await db.close();
          await dropSchema(schema);
        },
      };
    },
    async open() {
      const schema = await freshSchema();
      const store = await openStore({ database: url, schema });
      return {
        store,
        reopen: () => openStore({ database: url, schema }),
        query: async (sql) => {
          const client = new pg.Client({
            connectionString: url,
            options: `-c search_path=${schema}`,
          });
          await client.connect();
          try {
            return (await client.query<Record<string, unknown>>(sql)).rows;
          } finally {
            await client.end();
          }
        },
        dispose: async () => {
          await store.close();
          await dropSchema(schema);
        },
      };
    },
  };
}

/**
 * Runs `body` once per store: SQLite always; PostgreSQL from PIOT_TEST_POSTGRES. Without
 * that URL the PostgreSQL variant fails under CI and is skipped, visibly, elsewhere.
 */
export function describeEachStore(title: string, body: (target: StoreTarget) => void): void {
  describe(`${title} [SQLite]`, () => body(sqlite));
  const url = process.env.PIOT_TEST_POSTGRES;
  if (url) {
    describe(`${title} [PostgreSQL]`, () => body(postgres(url)));
  } else if (process.env.CI) {
    describe(`${title} [PostgreSQL]`, () => {
      it('needs PIOT_TEST_POSTGRES in CI', () => {
        throw new Error('PIOT_TEST_POSTGRES is not set: CI must test the PostgreSQL store');
      });
    });
  } else {
    describe.skip(`${title} [PostgreSQL] (skipped: set PIOT_TEST_POSTGRES=postgres://…)`, () => {
      it('runs against PostgreSQL', () => undefined);
    });
  }
}
