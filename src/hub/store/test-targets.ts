// Test helper: the stores every contract suite runs against. Not part of the hub.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { describe, it } from 'vitest';
import { openStore } from './open.js';
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
}

const sqlite: StoreTarget = {
  name: 'SQLite',
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
  return {
    name: 'PostgreSQL',
    async open() {
      const schema = `piot_test_${randomBytes(6).toString('hex')}`;
      const admin = new pg.Client({ connectionString: url });
      await admin.connect();
      await admin.query(`CREATE SCHEMA ${schema}`);
      await admin.end();
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
          const drop = new pg.Client({ connectionString: url });
          await drop.connect();
          await drop.query(`DROP SCHEMA ${schema} CASCADE`);
          await drop.end();
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
