import type { Db } from './db.js';
import type { DeviceKey, DeviceRecord, EnrolResult } from './store.js';

/** A devices row as either driver returns it. */
export interface DeviceRow {
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

/** A devices row as a DeviceRecord. */
export function toDevice(row: DeviceRow): DeviceRecord {
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
export function enrolIn(
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
      await tx.run(
        `UPDATE devices SET signing = ?, enrolled_at = ?, revoked = 0,
           session_id = NULL, session_key = NULL, session_expires = NULL WHERE name = ?`,
        [signing, now, name],
      );
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

/** The columns toDevice reads. */
export const DEVICE_COLUMNS = 'name, signing, enrolled_at, revoked, last_seen, last_heartbeat';

/** One device by name, read through db (or a transaction). */
export async function deviceIn(db: Db, name: string): Promise<DeviceRecord | undefined> {
  const rows = await db.all<DeviceRow>(`SELECT ${DEVICE_COLUMNS} FROM devices WHERE name = ?`, [
    name,
  ]);
  return rows[0] ? toDevice(rows[0]) : undefined;
}

/** The columns toDeviceKey reads. */
export const DEVICE_KEY_COLUMNS = 'signing, revoked, session_id, session_key, session_expires';

/** A devices row's DEVICE_KEY_COLUMNS. */
export interface DeviceKeyRow {
  signing: string;
  revoked: number;
  session_id: string | null;
  session_key: string | null;
  session_expires: string | number | null;
}

/** A devices row's DEVICE_KEY_COLUMNS as a DeviceKey. */
export function toDeviceKey(row: DeviceKeyRow): DeviceKey {
  const key: DeviceKey = { signing: row.signing, revoked: Number(row.revoked) === 1 };
  if (row.session_id !== null && row.session_key !== null && row.session_expires !== null) {
    key.session = {
      id: row.session_id,
      key: row.session_key,
      expiresAt: Number(row.session_expires),
    };
  }
  return key;
}
