import type { DeployEventRecord, Heartbeat, JobRunRecord } from '../heartbeat.js';
import type { Db } from './db.js';
import type { CommandRecord, DeviceRecord, EnrolResult, Sample, Store } from './store.js';

interface DeviceRow {
  name: string;
  signing: string;
  enrolled_at: string | number;
  revoked: number;
  last_seen: string | number | null;
  last_heartbeat: string | null;
}

// PostgreSQL hands BIGINT back as text; SQLite as a number.
const num = (value: string | number | null | undefined) =>
  value === null || value === undefined ? undefined : Number(value);

function toDevice(row: DeviceRow): DeviceRecord {
  return {
    name: row.name,
    signing: row.signing,
    enrolledAt: Number(row.enrolled_at),
    revoked: Number(row.revoked) === 1,
    lastSeen: num(row.last_seen),
    lastHeartbeat: row.last_heartbeat
      ? (JSON.parse(row.last_heartbeat) as DeviceRecord['lastHeartbeat'])
      : undefined,
  };
}

/** One enrolment in one transaction (see Store.enrol). */
function enrolIn(
  db: Db,
  {
    tokenHash,
    name,
    signing,
    now,
  }: { tokenHash: string; name: string; signing: string; now: number },
): Promise<EnrolResult> {
  return db.transaction(async (tx): Promise<EnrolResult> => {
    const existing = await deviceIn(tx, name);
    const tokens = await tx.all<{ used_by: string | null; expires_at: string | null }>(
      'SELECT used_by, expires_at FROM enrolment_tokens WHERE hash = ?',
      [tokenHash],
    );
    const token = tokens[0];
    if (!token) return { ok: false, reason: 'bad-token' };
    if (token.used_by !== null) {
      const same = token.used_by === name && existing?.signing === signing && !existing.revoked;
      return same
        ? { ok: true, device: existing, again: true }
        : { ok: false, reason: 'bad-token' };
    }
    if (token.expires_at !== null && Number(token.expires_at) <= now) {
      return { ok: false, reason: 'bad-token' };
    }
    if (existing && !existing.revoked) return { ok: false, reason: 'name-taken' };
    const used = await tx.run(
      'UPDATE enrolment_tokens SET used_at = ?, used_by = ? WHERE hash = ? AND used_by IS NULL',
      [now, name, tokenHash],
    );
    if (used !== 1) return { ok: false, reason: 'bad-token' };
    if (existing) {
      // A revoked device enrolling again (a re-flashed card) starts a new identity.
      await tx.run('UPDATE devices SET signing = ?, enrolled_at = ?, revoked = 0 WHERE name = ?', [
        signing,
        now,
        name,
      ]);
    } else {
      await tx.run('INSERT INTO devices (name, signing, enrolled_at) VALUES (?, ?, ?)', [
        name,
        signing,
        now,
      ]);
    }
    return { ok: true, device: (await deviceIn(tx, name))!, again: false };
  });
}

const HOUR = 3_600_000;
const DEVICE_COLUMNS = 'name, signing, enrolled_at, revoked, last_seen, last_heartbeat';

async function deviceIn(db: Db, name: string): Promise<DeviceRecord | undefined> {
  const rows = await db.all<DeviceRow>(`SELECT ${DEVICE_COLUMNS} FROM devices WHERE name = ?`, [
    name,
  ]);
  return rows[0] ? toDevice(rows[0]) : undefined;
}

/** The Store on a migrated Db: the same SQL for SQLite and PostgreSQL. */
export function sqlStore(db: Db): Store {
  return {
    async addEnrolmentToken(hash, { now, expiresAt }) {
      await db.run('INSERT INTO enrolment_tokens (hash, created_at, expires_at) VALUES (?, ?, ?)', [
        hash,
        now,
        expiresAt ?? null,
      ]);
    },
    enrol: ({ tokenHash, name, signing, now }) =>
      enrolIn(db, { tokenHash, name, signing, now }).catch((error: { code?: string }) => {
        // Two tokens racing for one new name on PostgreSQL: the loser's insert hits the key.
        if (error.code === '23505') return { ok: false, reason: 'name-taken' } as const;
        throw error;
      }),
    getDevice: (name) => deviceIn(db, name),
    async listDevices() {
      const rows = await db.all<DeviceRow>(`SELECT ${DEVICE_COLUMNS} FROM devices ORDER BY name`);
      return rows.map(toDevice);
    },
    async revokeDevice(name) {
      return (await db.run('UPDATE devices SET revoked = 1 WHERE name = ?', [name])) === 1;
    },
    recordHeartbeat: (name, heartbeat: Heartbeat, now) =>
      db.transaction(async (tx) => {
        const { events, jobRuns, ...summary } = heartbeat;
        await tx.run('UPDATE devices SET last_seen = ?, last_heartbeat = ? WHERE name = ?', [
          now,
          JSON.stringify({ ...summary, receivedAt: now }),
          name,
        ]);
        const m = heartbeat.metrics;
        if (m && Object.keys(m).length > 0) {
          await tx.run(
            `INSERT INTO samples (device, at, temperature, cpu, memory, disk, wifi_signal)
             VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
            [name, now, m.temperature, m.cpu, m.memory, m.disk, m.wifiSignal].map((v) => v ?? null),
          );
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
      }),
    compactSamples: ({ hourlyBefore, dropBefore }) =>
      db.transaction(async (tx) => {
        const boundary = Math.floor(hourlyBefore / HOUR) * HOUR;
        // Samples carry the hub's receive time, so no sample arrives for an hour already
        // compacted: each hour is averaged once, from all of its raw samples.
        await tx.run(
          `INSERT INTO samples_hourly (device, at, temperature, cpu, memory, disk, wifi_signal)
           SELECT device, (at / ${HOUR}) * ${HOUR}, AVG(temperature), AVG(cpu), AVG(memory),
             AVG(disk), AVG(wifi_signal)
           FROM samples WHERE at < ? GROUP BY device, (at / ${HOUR}) * ${HOUR}
           ON CONFLICT DO NOTHING`,
          [boundary],
        );
        await tx.run('DELETE FROM samples WHERE at < ?', [boundary]);
        await tx.run('DELETE FROM samples_hourly WHERE at < ?', [dropBefore]);
      }),
    async samples(name, { from, to }) {
      const columns = 'at, temperature, cpu, memory, disk, wifi_signal';
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
        'INSERT INTO commands (id, device, kind, created_at, created_by) VALUES (?, ?, ?, ?, ?)',
        [command.id, device, command.kind, command.createdAt, command.createdBy],
      );
    },
    takeCommands: (device, now) =>
      db.transaction(async (tx) => {
        const rows = await tx.all<Record<string, string | number>>(
          `SELECT id, kind, created_at, created_by FROM commands
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
          if (mine === 1) {
            taken.push({
              id: String(row.id),
              kind: String(row.kind),
              createdAt: Number(row.created_at),
              createdBy: String(row.created_by),
            });
          }
        }
        return taken;
      }),
    async useNonce(device, nonce, now) {
      const added = await db.run(
        'INSERT INTO nonces (device, nonce, at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING',
        [device, nonce, now],
      );
      return added === 1;
    },
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
    async sessionUser(hash, now) {
      const rows = await db.all<{ username: string }>(
        'SELECT username FROM sessions WHERE hash = ? AND expires_at > ?',
        [hash, now],
      );
      return rows[0]?.username;
    },
    close: () => db.close(),
  };
}
