import type { RestartMemory, Severity } from '../alerts/rules.js';
import type { Db } from './db.js';
import type { AlertRecord, Store } from './store.js';

type AlertMethods = Pick<
  Store,
  'openAlert' | 'resolveAlert' | 'activeAlerts' | 'alerts' | 'getRestartMemory' | 'setRestartMemory'
>;

const COLUMNS = 'device, alert_key, severity, summary, started_at, resolved_at';

interface AlertRow {
  device: string;
  alert_key: string;
  severity: string;
  summary: string;
  started_at: string | number;
  resolved_at: string | number | null;
}

function toAlert(row: AlertRow): AlertRecord {
  const alert: AlertRecord = {
    device: row.device,
    key: row.alert_key,
    severity: row.severity as Severity,
    summary: row.summary,
    startedAt: Number(row.started_at),
  };
  if (row.resolved_at !== null) alert.resolvedAt = Number(row.resolved_at);
  return alert;
}

/** The Store's alert methods on a migrated Db (see Store for what each promises). */
export function alertMethods(db: Db): AlertMethods {
  return {
    async openAlert({ device, key, severity, summary, startedAt }) {
      // The partial unique index on active alerts turns a second start into no change.
      const added = await db.run(
        `INSERT INTO alerts (device, alert_key, severity, summary, started_at)
         VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
        [device, key, severity, summary, startedAt],
      );
      return added === 1;
    },
    async resolveAlert(device, key, now) {
      const rows = await db.all<AlertRow>(
        `SELECT ${COLUMNS} FROM alerts
         WHERE device = ? AND alert_key = ? AND resolved_at IS NULL`,
        [device, key],
      );
      const active = rows[0];
      if (!active) return undefined;
      const mine = await db.run(
        `UPDATE alerts SET resolved_at = ?
         WHERE device = ? AND alert_key = ? AND started_at = ? AND resolved_at IS NULL`,
        [now, device, key, active.started_at],
      );
      return mine === 1 ? { ...toAlert(active), resolvedAt: now } : undefined;
    },
    async activeAlerts(device) {
      const rows = await db.all<AlertRow>(
        `SELECT ${COLUMNS} FROM alerts WHERE resolved_at IS NULL
         ${device === undefined ? '' : 'AND device = ?'}
         ORDER BY device, started_at, alert_key`,
        device === undefined ? [] : [device],
      );
      return rows.map(toAlert);
    },
    async alerts(device, limit) {
      const rows = await db.all<AlertRow>(
        `SELECT ${COLUMNS} FROM alerts WHERE device = ?
         ORDER BY started_at DESC, alert_key LIMIT ?`,
        [device, limit],
      );
      return rows.map(toAlert);
    },
    async getRestartMemory(device) {
      const rows = await db.all<{ data: string }>(
        'SELECT data FROM alert_restarts WHERE device = ?',
        [device],
      );
      return rows[0] ? (JSON.parse(rows[0].data) as RestartMemory) : undefined;
    },
    async setRestartMemory(device, memory) {
      await db.run(
        `INSERT INTO alert_restarts (device, data) VALUES (?, ?)
         ON CONFLICT (device) DO UPDATE SET data = excluded.data`,
        [device, JSON.stringify(memory)],
      );
    },
  };
}
