import type { CommandResult } from '../commands.js';
import {
  splitHeartbeat,
  type DeployEventRecord,
  type Heartbeat,
  type JobRunRecord,
  type Metrics,
} from '../heartbeat.js';
import { RETENTION } from '../retention.js';
import { alertMethods } from './alerts-sql.js';
import type { Db } from './db.js';
import {
  DEVICE_COLUMNS,
  DEVICE_KEY_COLUMNS,
  deviceIn,
  enrolIn,
  toDevice,
  toDeviceKey,
  type DeviceKeyRow,
  type DeviceRow,
} from './devices-sql.js';
import { postgresBatches } from './postgres-batch.js';
import { DEVICE_KEYS_CHANNEL, deviceKeyCache } from './postgres-keys.js';
import type { CommandRecord, Sample, Store } from './store.js';

const HOUR = 3_600_000;

/** Remembers a device's request nonce; false if it was used before. */
async function insertNonce(db: Db, device: string, nonce: string, now: number): Promise<boolean> {
  const added = await db.run(
    'INSERT INTO nonces (device, nonce, at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING',
    [device, nonce, now],
  );
  return added === 1;
}

const INSERT_SAMPLE = `INSERT INTO samples
  (device, at, temperature, cpu, memory, disk, wifi_signal, throttled)
  VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`;

const sampleRow = (name: string, at: number, m: Metrics) =>
  [name, at, m.temperature, m.cpu, m.memory, m.disk, m.wifiSignal, m.throttled].map(
    (v) => v ?? null,
  );

/** The Store on a migrated Db: the same SQL for SQLite and PostgreSQL. */
export function sqlStore(db: Db): Store {
  const batches = db.dialect === 'postgres' ? postgresBatches(db) : undefined;
  const keys =
    batches && db.listen
      ? deviceKeyCache(batches.deviceKey, (handlers) => db.listen!(DEVICE_KEYS_CHANNEL, handlers))
      : undefined;
  return {
    async addEnrolmentToken(hash, { now, expiresAt }) {
      await db.run('INSERT INTO enrolment_tokens (hash, created_at, expires_at) VALUES (?, ?, ?)', [
        hash,
        now,
        expiresAt ?? null,
      ]);
    },
    enrol: ({ tokenHash, name, signing, now }) =>
      enrolIn(db, { tokenHash, name, signing, now })
        .catch((error: { code?: string }) => {
          // Two tokens racing for one new name on PostgreSQL: the loser's insert hits the key.
          if (error.code === '23505') return { ok: false, reason: 'name-taken' } as const;
          throw error;
        })
        .finally(() => keys?.forget(name)),
    getDevice: (name) => deviceIn(db, name),
    async deviceKey(name, options) {
      if (keys) return keys.get(name, options);
      if (batches) return batches.deviceKey(name);
      const rows = await db.all<DeviceKeyRow>(
        `SELECT ${DEVICE_KEY_COLUMNS} FROM devices WHERE name = ?`,
        [name],
      );
      return rows[0] && toDeviceKey(rows[0]);
    },
    async openDeviceSession(name, { id, key, expiresAt }) {
      const changed = await db.run(
        `UPDATE devices SET session_id = ?, session_key = ?, session_expires = ?
         WHERE name = ? AND revoked = 0`,
        [id, key, expiresAt, name],
      );
      keys?.forget(name);
      return changed === 1;
    },
    async listDevices() {
      const rows = await db.all<DeviceRow>(`SELECT ${DEVICE_COLUMNS} FROM devices ORDER BY name`);
      return rows.map(toDevice);
    },
    async revokeDevice(name) {
      const changed = await db.run(
        `UPDATE devices SET revoked = 1, session_id = NULL, session_key = NULL,
           session_expires = NULL WHERE name = ?`,
        [name],
      );
      keys?.forget(name);
      return changed === 1;
    },
    recordHeartbeat: (name, heartbeat: Heartbeat, now, nonce) => {
      const { events, jobRuns, history } = heartbeat;
      const { summary, carried } = splitHeartbeat(heartbeat, now);
      if (batches && !carried && nonce !== undefined)
        return batches.recordHeartbeat({ name, summary, metrics: heartbeat.metrics, now, nonce });
      return db.transaction(async (tx) => {
        if (nonce !== undefined && !(await insertNonce(tx, name, nonce, now))) return false;
        await tx.run('UPDATE devices SET last_seen = ?, last_heartbeat = ? WHERE name = ?', [
          now,
          JSON.stringify(summary),
          name,
        ]);
        // Queued samples are kept at the time they were taken, if that is plausible: not in
        // the future, and not older than the raw samples the hub still keeps.
        const points = (history ?? []).filter((p) => p.at <= now && p.at > now - RETENTION.rawMs);
        if (heartbeat.metrics) points.push({ at: now, metrics: heartbeat.metrics });
        for (const { at, metrics: m } of points) {
          if (Object.keys(m).length > 0) await tx.run(INSERT_SAMPLE, sampleRow(name, at, m));
        }
        for (const e of events ?? []) {
          await tx.run(
            `INSERT INTO deploy_events (device, at, commit_sha, kind, reason)
             VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
            [name, e.at, e.commit, e.kind, e.reason ?? null],
          );
        }
        for (const r of jobRuns ?? []) {
          await tx.run(
            `INSERT INTO job_runs
               (device, app, job, started, ended, seconds, status, exit_code, attempts, log)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
            [name, r.app, r.job, r.start, r.end, r.seconds, r.status, r.exitCode ?? null].concat([
              r.attempts,
              JSON.stringify(r.log),
            ]),
          );
        }
        return true;
      });
    },
    compactSamples: ({ hourlyBefore, dropBefore }) =>
      db.transaction(async (tx) => {
        const boundary = Math.floor(hourlyBefore / HOUR) * HOUR;
        // Samples carry the hub's receive time, so no sample arrives for an hour already
        // compacted: each hour is averaged once, from all of its raw samples. Throttling keeps
        // the hour's highest value: its since-boot bits (16-19) only ever rise until a reboot.
        await tx.run(
          `INSERT INTO samples_hourly
             (device, at, temperature, cpu, memory, disk, wifi_signal, throttled)
           SELECT device, (at / ${HOUR}) * ${HOUR}, AVG(temperature), AVG(cpu), AVG(memory),
             AVG(disk), AVG(wifi_signal), MAX(throttled)
           FROM samples WHERE at < ? GROUP BY device, (at / ${HOUR}) * ${HOUR}
           ON CONFLICT DO NOTHING`,
          [boundary],
        );
        await tx.run('DELETE FROM samples WHERE at < ?', [boundary]);
        await tx.run('DELETE FROM samples_hourly WHERE at < ?', [dropBefore]);
      }),
    pruneHistory: (before) =>
      db.transaction(async (tx) => {
        // Events and runs carry the device's ISO 8601 times, which sort as text.
        const iso = new Date(before).toISOString();
        await tx.run('DELETE FROM deploy_events WHERE at < ?', [iso]);
        await tx.run('DELETE FROM job_runs WHERE ended < ?', [iso]);
        await tx.run('DELETE FROM commands WHERE created_at < ?', [before]);
        await tx.run('DELETE FROM alerts WHERE resolved_at IS NOT NULL AND resolved_at < ?', [
          before,
        ]);
      }),
    async samples(name, { from, to }) {
      const columns = 'at, temperature, cpu, memory, disk, wifi_signal, throttled';
      const rows = await db.all<Record<string, number | string | null>>(
        `SELECT ${columns} FROM samples_hourly WHERE device = ? AND at >= ? AND at < ?
         UNION ALL
         SELECT ${columns} FROM samples WHERE device = ? AND at >= ? AND at < ?
         ORDER BY at`,
        [name, from, to, name, from, to],
      );
      return rows.map((row) => {
        const sample: Sample = { at: Number(row.at) };
        const set = (key: keyof Sample, value: unknown) => {
          if (value !== null && value !== undefined) sample[key] = Number(value);
        };
        set('temperature', row.temperature);
        set('cpu', row.cpu);
        set('memory', row.memory);
        set('disk', row.disk);
        set('wifiSignal', row.wifi_signal);
        set('throttled', row.throttled);
        return sample;
      });
    },
    async deployEvents(name, limit) {
      const rows = await db.all<{
        at: string;
        commit_sha: string;
        kind: string;
        reason: string | null;
      }>(
        `SELECT at, commit_sha, kind, reason FROM deploy_events WHERE device = ?
         ORDER BY at DESC LIMIT ?`,
        [name, limit],
      );
      return rows.map((r) => ({
        at: r.at,
        commit: r.commit_sha,
        kind: r.kind as DeployEventRecord['kind'],
        ...(r.reason === null ? {} : { reason: r.reason }),
      }));
    },
    async jobRuns(name, limit) {
      const rows = await db.all<Record<string, string | number | null>>(
        `SELECT app, job, started, ended, seconds, status, exit_code, attempts, log FROM job_runs
         WHERE device = ? ORDER BY started DESC LIMIT ?`,
        [name, limit],
      );
      return rows.map((r): JobRunRecord => ({
        app: String(r.app),
        job: String(r.job),
        start: String(r.started),
        end: String(r.ended),
        seconds: Number(r.seconds),
        status: r.status as JobRunRecord['status'],
        ...(r.exit_code === null ? {} : { exitCode: Number(r.exit_code) }),
        attempts: Number(r.attempts),
        log: JSON.parse(String(r.log)) as string[],
      }));
    },
    async addCommand(device, command) {
      await db.run(
        `INSERT INTO commands (id, device, kind, args, created_at, created_by)
         VALUES (?, ?, ?, ?, ?, ?)`,
        [
          command.id,
          device,
          command.kind,
          command.args ? JSON.stringify(command.args) : null,
          command.createdAt,
          command.createdBy,
        ],
      );
    },
    takeCommands: (device, now) =>
      db.transaction(async (tx) => {
        const rows = await tx.all<CommandRow>(
          `SELECT ${COMMAND_COLUMNS} FROM commands
           WHERE device = ? AND delivered_at IS NULL ORDER BY created_at, id LIMIT 100`,
          [device],
        );
        const taken: CommandRecord[] = [];
        for (const row of rows) {
          // Another hub process may have handed it out since the SELECT.
          const mine = await tx.run(
            'UPDATE commands SET delivered_at = ? WHERE id = ? AND delivered_at IS NULL',
            [now, row.id],
          );
          if (mine === 1) taken.push(toCommand({ ...row, delivered_at: now }));
        }
        return taken;
      }),
    async finishCommand(device, id, result, now) {
      const changed = await db.run(
        `UPDATE commands SET finished_at = ?, result = ?
         WHERE device = ? AND id = ? AND delivered_at IS NOT NULL AND finished_at IS NULL`,
        [now, JSON.stringify(result), device, id],
      );
      return changed === 1;
    },
    async getCommand(device, id) {
      const rows = await db.all<CommandRow>(
        `SELECT ${COMMAND_COLUMNS} FROM commands WHERE device = ? AND id = ?`,
        [device, id],
      );
      return rows[0] && toCommand(rows[0]);
    },
    async commands(device, limit) {
      const rows = await db.all<CommandRow>(
        `SELECT ${COMMAND_COLUMNS} FROM commands WHERE device = ?
         ORDER BY created_at DESC, id DESC LIMIT ?`,
        [device, limit],
      );
      return rows.map(toCommand);
    },
    useNonce: (device, nonce, now) => insertNonce(db, device, nonce, now),
    async pruneNonces(before) {
      await db.run('DELETE FROM nonces WHERE at < ?', [before]);
    },
    async setUser(name, passwordHash, now) {
      await db.run(
        `INSERT INTO users (name, password_hash, created_at) VALUES (?, ?, ?)
         ON CONFLICT (name) DO UPDATE SET password_hash = excluded.password_hash`,
        [name, passwordHash, now],
      );
    },
    async getUserPasswordHash(name) {
      const rows = await db.all<{ password_hash: string }>(
        'SELECT password_hash FROM users WHERE name = ?',
        [name],
      );
      return rows[0]?.password_hash;
    },
    async addApiToken(hash, user, { label, now }) {
      await db.run(
        'INSERT INTO api_tokens (hash, username, label, created_at) VALUES (?, ?, ?, ?)',
        [hash, user, label, now],
      );
    },
    async apiTokenUser(hash) {
      const rows = await db.all<{ username: string }>(
        'SELECT username FROM api_tokens WHERE hash = ?',
        [hash],
      );
      return rows[0]?.username;
    },
    async addSession(hash, user, expiresAt) {
      await db.run('INSERT INTO sessions (hash, username, expires_at) VALUES (?, ?, ?)', [
        hash,
        user,
        expiresAt,
      ]);
    },
    async pruneSessions(now) {
      await db.run('DELETE FROM sessions WHERE expires_at <= ?', [now]);
    },
    async sessionUser(hash, now) {
      const rows = await db.all<{ username: string }>(
        'SELECT username FROM sessions WHERE hash = ? AND expires_at > ?',
        [hash, now],
      );
      return rows[0]?.username;
    },
    async deleteSession(hash) {
      await db.run('DELETE FROM sessions WHERE hash = ?', [hash]);
    },
    ...alertMethods(db),
    close: () => db.close(),
  };
}

const COMMAND_COLUMNS = 'id, kind, args, created_at, created_by, delivered_at, finished_at, result';

interface CommandRow {
  id: string;
  kind: string;
  args: string | null;
  created_at: string | number;
  created_by: string;
  delivered_at: string | number | null;
  finished_at: string | number | null;
  result: string | null;
}

function toCommand(row: CommandRow): CommandRecord {
  const command: CommandRecord = {
    id: row.id,
    kind: row.kind,
    createdAt: Number(row.created_at),
    createdBy: row.created_by,
  };
  if (row.args !== null) command.args = JSON.parse(row.args) as Record<string, unknown>;
  if (row.delivered_at !== null) command.deliveredAt = Number(row.delivered_at);
  if (row.finished_at !== null) command.finishedAt = Number(row.finished_at);
  if (row.result !== null) command.result = JSON.parse(row.result) as CommandResult;
  return command;
}
