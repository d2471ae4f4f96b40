// Prints how much room the hub's SQLite database takes per device and day, so the docs can
// say how large it grows: a day of heartbeats every 30 s (2,880 samples of every metric, the
// device's summary rewritten each time, a deploy event and a job run every hour), measured
// as the file's growth; then the same day compacted to hourly averages, as retention keeps it
// after two days. Steady state per device: two raw days plus 90 hourly days.
// Run: npm run bench:hub-storage
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { createEnrolmentToken } from '../src/hub/admin.js';
import { RETENTION } from '../src/hub/retention.js';
import { openStore } from '../src/hub/store/open.js';
import { hashToken } from '../src/hub/secrets.js';

const DEVICES = Number(process.env.DEVICES ?? 20);
const DAY = 86_400_000;
const HEARTBEAT_MS = 30_000;
const start = Math.floor(Date.now() / DAY) * DAY - 10 * DAY;

const data = await mkdtemp(join(tmpdir(), 'piot-hub-storage-'));
const file = join(data, 'hub.db');
try {
  const store = await openStore({ data });
  const names = Array.from({ length: DEVICES }, (_, i) => `pi-${i}`);
  for (const name of names) {
    const { token } = await createEnrolmentToken(store, { now: start });
    const signing = 'ed25519:' + Buffer.alloc(32, names.indexOf(name) + 1).toString('base64');
    await store.enrol({ tokenHash: hashToken(token), name, signing, now: start });
  }
  const size = async () => {
    // Drop free pages and fold the write-ahead log (VACUUM's too) in: the file is what the data takes.
    const db = new Database(file);
    db.pragma('wal_checkpoint(TRUNCATE)');
    db.exec('VACUUM');
    db.pragma('wal_checkpoint(TRUNCATE)');
    db.close();
    return (await stat(file)).size;
  };
  const empty = await size();
  for (let at = start; at < start + DAY; at += HEARTBEAT_MS) {
    const hourly = (at - start) % 3_600_000 === 0;
    for (const name of names) {
      await store.recordHeartbeat(
        name,
        {
          agent: { version: '0.1.0', uptime: (at - start) / 1000 },
          metrics: {
            temperature: 48.3,
            cpu: 0.071,
            memory: 0.28,
            disk: 0.57,
            wifiSignal: -61,
            throttled: 0,
          },
          health: { readOnlyRoot: false, failedUnits: [] },
          services: [
            {
              app: 'sensor',
              name: 'reader',
              kind: 'service',
              state: 'active',
              sub: 'running',
              restarts: 0,
              memory: 18_000_000,
              cpu: 12.5,
            },
            { app: 'sensor', name: 'upload', kind: 'job', state: 'inactive', sub: 'dead' },
          ],
          deploy: { app: 'sensor', current: 'a'.repeat(40) },
          ...(hourly
            ? {
                events: [
                  {
                    at: new Date(at).toISOString(),
                    commit: 'a'.repeat(40),
                    kind: 'succeeded' as const,
                  },
                ],
                jobRuns: [
                  {
                    app: 'sensor',
                    job: 'upload',
                    start: new Date(at).toISOString(),
                    end: new Date(at + 1200).toISOString(),
                    seconds: 1.2,
                    status: 'succeeded' as const,
                    exitCode: 0,
                    attempts: 1,
                    log: ['upload: 14 readings ready', 'sent 14 readings'],
                  },
                ],
              }
            : {}),
        },
        at,
      );
    }
  }
  const raw = await size();
  await store.compactSamples({ hourlyBefore: start + DAY, dropBefore: 0 });
  const compacted = await size();
  await store.close();

  const perDevice = (bytes: number) => bytes / DEVICES;
  const rawDay = perDevice(raw - empty);
  const hourlyDay = perDevice(compacted - empty);
  const steady = 2 * rawDay + (RETENTION.hourlyMs / DAY) * hourlyDay;
  const kib = (bytes: number) => `${(bytes / 1024).toFixed(1)} KiB`;
  console.log(`${DEVICES} devices, one day of heartbeats every ${HEARTBEAT_MS / 1000} s, SQLite:`);
  console.log(`  raw day (samples, events, job runs)         ${kib(rawDay)} per device`);
  console.log(`  the same day compacted (hourly, kept 90 d)  ${kib(hourlyDay)} per device`);
  console.log(`  steady state (2 raw days + 90 hourly days)  ${kib(steady)} per device`);
} finally {
  await rm(data, { recursive: true, force: true });
}
