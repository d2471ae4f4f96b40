import type { HeartbeatSummary, Metrics } from '../heartbeat.js';
import { batcher } from './batcher.js';
import { binaryArray, type ElementType } from './pg-binary.js';
import type { Db } from './db.js';
import { DEVICE_KEY_COLUMNS, toDeviceKey, type DeviceKeyRow } from './devices-sql.js';
import type { DeviceKey } from './store.js';

/** A heartbeat with nothing queued (no events, job runs or history): the common one. */
export interface PlainHeartbeat {
  name: string;
  summary: HeartbeatSummary;
  metrics?: Metrics;
  now: number;
  nonce: string;
}

// Each column of the batch is one array parameter (in binary, ./pg-binary.ts), so the
// statement's text is the same for every batch size. WITH ORDINALITY keeps the order the
// heartbeats arrived in.
const INPUT = `SELECT * FROM unnest(
    ?::text[], ?::text[], ?::int8[], ?::text[], ?::bool[],
    ?::float8[], ?::float8[], ?::float8[], ?::float8[], ?::float8[], ?::int8[]
  ) WITH ORDINALITY AS t(device, nonce, at, summary, has_metrics,
    temperature, cpu, memory, disk, wifi_signal, throttled, n)`;

/**
 * A batch of plain heartbeats as one statement. A heartbeat whose nonce is stored already is
 * not taken (its device and sample stay as they were), nor is one of a device the hub does
 * not know; every other one is. Each device keeps the last of its heartbeats as its last one.
 * Answers, for each heartbeat, whether its device is known and whether it was taken.
 */
const RECORD_HEARTBEATS = `WITH input AS (${INPUT}),
  known AS (SELECT input.* FROM input WHERE EXISTS (SELECT FROM devices WHERE name = device)),
  fresh AS (
    INSERT INTO nonces (device, nonce, at) SELECT device, nonce, at FROM known
    ON CONFLICT DO NOTHING RETURNING device, nonce
  ),
  taken AS (SELECT input.* FROM input JOIN fresh USING (device, nonce)),
  seen AS (
    UPDATE devices SET last_seen = latest.at, last_heartbeat = latest.summary
    FROM (SELECT DISTINCT ON (device) device, at, summary FROM taken ORDER BY device, n DESC) latest
    WHERE devices.name = latest.device
  ),
  sampled AS (
    INSERT INTO samples (device, at, temperature, cpu, memory, disk, wifi_signal, throttled)
    SELECT device, at, temperature, cpu, memory, disk, wifi_signal, throttled FROM taken
    WHERE has_metrics
    ON CONFLICT DO NOTHING
  )
SELECT input.n, known.n IS NOT NULL AS known, fresh.nonce IS NOT NULL AS taken
FROM input LEFT JOIN known ON known.n = input.n
  LEFT JOIN fresh ON fresh.device = input.device AND fresh.nonce = input.nonce
ORDER BY input.n`;

/**
 * Runs a statement again if PostgreSQL broke a deadlock by aborting it (nothing of it was
 * kept). Two batches lock their devices' rows in the same order (by name), so it takes two
 * hub processes and an unusual plan to meet one.
 */
async function retryDeadlock<T>(statement: () => Promise<T>, attempts = 3): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await statement();
    } catch (error) {
      if ((error as { code?: string }).code !== '40P01' || attempt >= attempts) throw error;
    }
  }
}

/** One column of the batch, as a binary array parameter. */
const column = <T extends string | number | boolean>(
  type: ElementType,
  rows: PlainHeartbeat[],
  value: (h: PlainHeartbeat) => T | undefined,
) => binaryArray(type, rows.map(value));

async function recordHeartbeats(db: Db, batch: PlainHeartbeat[]): Promise<(boolean | Error)[]> {
  // A nonce twice in one batch: the first is the heartbeat, the second a replay of it.
  const key = (h: PlainHeartbeat) => `${h.name}\n${h.nonce}`;
  const first = new Map<string, PlainHeartbeat>();
  for (const h of batch) if (!first.has(key(h))) first.set(key(h), h);
  const rows = [...first.values()];
  const sampled = (h: PlainHeartbeat) =>
    h.metrics !== undefined && Object.keys(h.metrics).length > 0;
  const params = [
    column('text', rows, (h) => h.name),
    column('text', rows, (h) => h.nonce),
    column('int8', rows, (h) => h.now),
    column('text', rows, (h) => JSON.stringify(h.summary)),
    column('bool', rows, sampled),
    column('float8', rows, (h) => h.metrics?.temperature),
    column('float8', rows, (h) => h.metrics?.cpu),
    column('float8', rows, (h) => h.metrics?.memory),
    column('float8', rows, (h) => h.metrics?.disk),
    column('float8', rows, (h) => h.metrics?.wifiSignal),
    column('int8', rows, (h) => h.metrics?.throttled),
  ];
  const answers = await retryDeadlock(() =>
    db.all<{ known: boolean; taken: boolean }>(RECORD_HEARTBEATS, params),
  );
  const outcome = new Map(rows.map((h, i) => [h, answers[i]!]));
  return batch.map((h) => {
    const answer = outcome.get(h);
    if (!answer) return false; // the same nonce again in this batch
    if (!answer.known) return new Error(`no device ${JSON.stringify(h.name)} is enrolled`);
    return answer.taken;
  });
}

/** The signing keys of a batch of devices, in one query. */
async function deviceKeys(db: Db, names: string[]): Promise<(DeviceKey | undefined)[]> {
  const rows = await db.all<DeviceKeyRow & { name: string }>(
    `SELECT name, ${DEVICE_KEY_COLUMNS} FROM devices WHERE name = ANY(?::text[])`,
    [[...new Set(names)]],
  );
  const byName = new Map(rows.map((r) => [r.name, r]));
  return names.map((name) => {
    const row = byName.get(name);
    return row && toDeviceKey(row);
  });
}

/**
 * PostgreSQL's hot path, batched: heartbeats and the device-key reads that authenticate them.
 * Under load, a round trip and a statement serve many requests instead of one each; a quiet
 * hub sends each at once. Two batches of each kind at a time, of up to 500.
 */
export function postgresBatches(db: Db) {
  return {
    recordHeartbeat: batcher((batch: PlainHeartbeat[]) => recordHeartbeats(db, batch), {
      maxInFlight: 1,
      maxBatch: 500,
    }),
    deviceKey: batcher((names: string[]) => deviceKeys(db, names), {
      maxInFlight: 2,
      maxBatch: 500,
    }),
  };
}
