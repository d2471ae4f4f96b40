import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { migrate } from './migrations.js';
import { openPostgres } from './postgres.js';
import { sqlStore } from './sql-store.js';
import { openSqlite } from './sqlite.js';
import type { Store } from './store.js';

/** Where the hub keeps its data: a PostgreSQL URL, else `hub.db` in the data directory. */
export interface StoreLocation {
  data?: string;
  database?: string;
  /** PostgreSQL only: the schema to use (tests make a fresh one per run). */
  schema?: string;
}

/** Opens the store and brings its schema up to date. */
export async function openStore(location: StoreLocation): Promise<Store> {
  let db;
  if (location.database) {
    db = openPostgres(location.database, { schema: location.schema });
  } else if (location.data) {
    mkdirSync(location.data, { recursive: true });
    db = openSqlite(join(location.data, 'hub.db'));
  } else {
    throw new Error('openStore needs a data directory or a database URL');
  }
  try {
    await migrate(db);
  } catch (error) {
    await db.close();
    throw error;
  }
  return sqlStore(db);
}
