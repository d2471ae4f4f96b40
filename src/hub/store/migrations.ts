import type { Db } from './db.js';

/**
 * One schema change; `sql` is a list of statements both SQLite and PostgreSQL accept, or only
 * the one `dialect` names (the other records the version and runs nothing).
 */
export interface Migration {
  version: number;
  name: string;
  sql: string[];
  dialect?: Db['dialect'];
}

/** The hub's schema, in order. Append new migrations; never edit an applied one. */
export const MIGRATIONS: Migration[] = [
  {
    version: 1,
    name: 'initial',
    sql: [
      `CREATE TABLE devices (
        name TEXT PRIMARY KEY,
        signing TEXT NOT NULL,
        enrolled_at BIGINT NOT NULL,
        revoked INTEGER NOT NULL DEFAULT 0,
        last_seen BIGINT,
        last_heartbeat TEXT
      )`,
      `CREATE TABLE enrolment_tokens (
        hash TEXT PRIMARY KEY,
        created_at BIGINT NOT NULL,
        expires_at BIGINT,
        used_at BIGINT,
        used_by TEXT
      )`,
      `CREATE TABLE samples (
        device TEXT NOT NULL REFERENCES devices(name) ON DELETE CASCADE,
        at BIGINT NOT NULL,
        temperature DOUBLE PRECISION,
        cpu DOUBLE PRECISION,
        memory DOUBLE PRECISION,
        disk DOUBLE PRECISION,
        wifi_signal DOUBLE PRECISION,
        PRIMARY KEY (device, at)
      )`,
      `CREATE TABLE deploy_events (
        device TEXT NOT NULL REFERENCES devices(name) ON DELETE CASCADE,
        at TEXT NOT NULL,
        commit_sha TEXT NOT NULL,
        kind TEXT NOT NULL,
        reason TEXT,
        PRIMARY KEY (device, at, commit_sha, kind)
      )`,
      `CREATE TABLE job_runs (
        device TEXT NOT NULL REFERENCES devices(name) ON DELETE CASCADE,
        app TEXT NOT NULL,
        job TEXT NOT NULL,
        started TEXT NOT NULL,
        ended TEXT NOT NULL,
        seconds DOUBLE PRECISION NOT NULL,
        status TEXT NOT NULL,
        exit_code INTEGER,
        attempts INTEGER NOT NULL,
        log TEXT NOT NULL,
        PRIMARY KEY (device, app, job, started)
      )`,
      `CREATE TABLE nonces (
        device TEXT NOT NULL,
        nonce TEXT NOT NULL,
        at BIGINT NOT NULL,
        PRIMARY KEY (device, nonce)
      )`,
      `CREATE INDEX nonces_at ON nonces (at)`,
      `CREATE TABLE users (
        name TEXT PRIMARY KEY,
        password_hash TEXT NOT NULL,
        created_at BIGINT NOT NULL
      )`,
      `CREATE TABLE api_tokens (
        hash TEXT PRIMARY KEY,
        username TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
        label TEXT NOT NULL,
        created_at BIGINT NOT NULL
      )`,
      `CREATE TABLE sessions (
        hash TEXT PRIMARY KEY,
        username TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
        expires_at BIGINT NOT NULL
      )`,
    ],
  },
  {
    version: 2,
    name: 'hourly samples',
    sql: [
      `CREATE TABLE samples_hourly (
        device TEXT NOT NULL REFERENCES devices(name) ON DELETE CASCADE,
        at BIGINT NOT NULL,
        temperature DOUBLE PRECISION,
        cpu DOUBLE PRECISION,
        memory DOUBLE PRECISION,
        disk DOUBLE PRECISION,
        wifi_signal DOUBLE PRECISION,
        PRIMARY KEY (device, at)
      )`,
    ],
  },
  {
    version: 3,
    name: 'commands',
    sql: [
      `CREATE TABLE commands (
        id TEXT PRIMARY KEY,
        device TEXT NOT NULL REFERENCES devices(name) ON DELETE CASCADE,
        kind TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        created_by TEXT NOT NULL,
        delivered_at BIGINT
      )`,
      `CREATE INDEX commands_waiting ON commands (device, delivered_at)`,
    ],
  },
  {
    version: 4,
    name: 'command results and throttling history',
    sql: [
      `ALTER TABLE commands ADD COLUMN args TEXT`,
      `ALTER TABLE commands ADD COLUMN finished_at BIGINT`,
      `ALTER TABLE commands ADD COLUMN result TEXT`,
      `CREATE INDEX commands_recent ON commands (device, created_at)`,
      `ALTER TABLE samples ADD COLUMN throttled BIGINT`,
      `ALTER TABLE samples_hourly ADD COLUMN throttled BIGINT`,
    ],
  },
  {
    version: 5,
    name: 'alerts',
    sql: [
      `CREATE TABLE alerts (
        device TEXT NOT NULL REFERENCES devices(name) ON DELETE CASCADE,
        alert_key TEXT NOT NULL,
        severity TEXT NOT NULL,
        summary TEXT NOT NULL,
        started_at BIGINT NOT NULL,
        resolved_at BIGINT,
        PRIMARY KEY (device, alert_key, started_at)
      )`,
      // At most one active alert per device and key: starting one is an atomic claim.
      `CREATE UNIQUE INDEX alerts_active ON alerts (device, alert_key) WHERE resolved_at IS NULL`,
      `CREATE TABLE alert_restarts (
        device TEXT PRIMARY KEY REFERENCES devices(name) ON DELETE CASCADE,
        data TEXT NOT NULL
      )`,
    ],
  },
  {
    version: 6,
    name: 'device sessions',
    sql: [
      // A device's current session (POST /api/v1/devices/:name/session): requests signed with
      // its key (HMAC) instead of the device's Ed25519 key, until it expires.
      `ALTER TABLE devices ADD COLUMN session_id TEXT`,
      `ALTER TABLE devices ADD COLUMN session_key TEXT`,
      `ALTER TABLE devices ADD COLUMN session_expires BIGINT`,
    ],
  },
  {
    version: 7,
    name: 'device key notifications',
    dialect: 'postgres',
    // Every hub process caches device keys (postgres-keys.ts): a change of a device's key,
    // revocation or session is announced to all of them when it commits.
    sql: [
      `CREATE FUNCTION piot_device_key_changed() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        PERFORM pg_notify('piot_device_keys', COALESCE(NEW.name, OLD.name));
        RETURN NULL;
      END $$`,
      `CREATE TRIGGER device_key_changed
        AFTER DELETE OR UPDATE OF signing, revoked, session_id, session_key, session_expires
        ON devices FOR EACH ROW EXECUTE FUNCTION piot_device_key_changed()`,
    ],
  },
  {
    version: 8,
    name: 'room for heartbeats in place',
    dialect: 'postgres',
    // Every heartbeat rewrites its device's row (about 1 KB with the last heartbeat). With
    // half of each page kept free the new version fits beside the old one (a HOT update: no
    // index entry, and the old version is pruned when the page is next read); in full pages
    // each update went to another page with a new index entry, and 200 devices' rows grew to
    // 64 MB over 60,000 heartbeats, against 0.5 MB with the free half.
    sql: [`ALTER TABLE devices SET (fillfactor = 50)`],
  },
  // Nonces keyed by nonce first (the same pairs are unique): a device's nonces begin with the
  // time they were made (signing.ts), so new ones go to the end of the key, a page for many,
  // where keyed by device first they each dirtied a page of their own.
  {
    version: 9,
    name: 'nonces in the order they are made',
    dialect: 'sqlite',
    sql: [
      `CREATE TABLE nonces_new (
        device TEXT NOT NULL,
        nonce TEXT NOT NULL,
        at BIGINT NOT NULL,
        PRIMARY KEY (nonce, device)
      ) WITHOUT ROWID`,
      `INSERT INTO nonces_new (device, nonce, at) SELECT device, nonce, at FROM nonces`,
      `DROP TABLE nonces`,
      `ALTER TABLE nonces_new RENAME TO nonces`,
      `CREATE INDEX nonces_at ON nonces (at)`,
    ],
  },
  {
    version: 10,
    name: 'nonces in the order they are made',
    dialect: 'postgres',
    sql: [`ALTER TABLE nonces DROP CONSTRAINT nonces_pkey, ADD PRIMARY KEY (nonce, device)`],
  },
];

// Any fixed number: every hub process on one PostgreSQL takes the same lock.
const PG_LOCK = 7_361_902_114;

/**
 * Brings the schema up to the newest migration, each in its own transaction and recorded in
 * `migrations`. Safe with several hub processes at once: PostgreSQL serialises them with an
 * advisory lock, SQLite with its write lock. Resolves to the versions it applied.
 */
export async function migrate(db: Db, migrations = MIGRATIONS): Promise<number[]> {
  const applied: number[] = [];
  for (const migration of migrations) {
    const done = await db.transaction(async (tx) => {
      if (tx.dialect === 'postgres') await tx.all('SELECT pg_advisory_xact_lock(?)', [PG_LOCK]);
      await tx.run(
        `CREATE TABLE IF NOT EXISTS migrations (
          version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)`,
      );
      const rows = await tx.all('SELECT version FROM migrations WHERE version = ?', [
        migration.version,
      ]);
      if (rows.length > 0) return false;
      if (!migration.dialect || migration.dialect === tx.dialect)
        for (const statement of migration.sql) await tx.run(statement);
      await tx.run('INSERT INTO migrations (version, name, applied_at) VALUES (?, ?, ?)', [
        migration.version,
        migration.name,
        Date.now(),
      ]);
      return true;
    });
    if (done) applied.push(migration.version);
  }
  return applied;
}
