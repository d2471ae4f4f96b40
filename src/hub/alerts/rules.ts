import type { DeployEventRecord, JobRunRecord } from '../heartbeat.js';
import { ONLINE_WITHIN_MS } from '../online.js';
import type { DeviceRecord } from '../store/store.js';

/** How urgent an alert is. */
export type Severity = 'warning' | 'critical';

/** Something wrong with a device now; `key` is stable while it lasts (`service:web/api`). */
export interface Condition {
  key: string;
  severity: Severity;
  summary: string;
}

/** The numbers the rules compare against. */
export interface AlertThresholds {
  /** Offline after this long without a heartbeat. */
  offlineAfterMs: number;
  /** SoC temperature, °C, at or above which the temperature alert fires. */
  temperatureC: number;
  /** Root filesystem used share (0–1) at or above which the disk alert fires. */
  diskRatio: number;
}

export const DEFAULT_THRESHOLDS: AlertThresholds = {
  offlineAfterMs: ONLINE_WITHIN_MS,
  temperatureC: 80,
  diskRatio: 0.9,
};

/** What the hub remembers of a device's service restart counts between heartbeats. */
export interface RestartMemory {
  /** The heartbeat (its receivedAt) these counts came from. */
  heartbeatAt: number;
  /** NRestarts per `app/name`. */
  restarts: Record<string, number>;
  /** Services whose count rose at that heartbeat, compared with the one before. */
  rose: string[];
}

type LastHeartbeat = NonNullable<DeviceRecord['lastHeartbeat']>;

/**
 * The restart memory after `heartbeat`: unchanged if it already describes that heartbeat (so
 * evaluating twice is harmless), else the new counts and which of them rose. A count that
 * fell (the device rebooted) or a service seen for the first time did not rise.
 */
export function noteRestarts(
  previous: RestartMemory | undefined,
  heartbeat: LastHeartbeat,
): RestartMemory {
  if (previous?.heartbeatAt === heartbeat.receivedAt) return previous;
  const restarts: Record<string, number> = {};
  for (const s of heartbeat.services ?? []) {
    if (s.kind === 'service' && s.restarts !== undefined)
      restarts[`${s.app}/${s.name}`] = s.restarts;
  }
  const rose = Object.keys(restarts)
    .filter((key) => {
      const before = previous?.restarts[key];
      return before !== undefined && restarts[key]! > before;
    })
    .sort();
  return { heartbeatAt: heartbeat.receivedAt, restarts, rose };
}

/** Everything one device's evaluation looks at. */
export interface AlertInput {
  device: DeviceRecord;
  /** The device's newest job runs, newest first. */
  jobRuns: readonly JobRunRecord[];
  /** The device's newest deploy events, newest first. */
  deployEvents: readonly DeployEventRecord[];
  /** The restart memory for the device's last heartbeat (see noteRestarts). */
  restarts?: RestartMemory;
  now: number;
}

const FAILED_DEPLOY = new Set(['failed', 'rolled-back', 'invalid']);
const JOB_FAILED = { failed: 'failed', 'timed-out': 'timed out', killed: 'was killed' } as const;
const THROTTLING = [
  [0x2, 'ARM frequency capped'],
  [0x4, 'throttled'],
  [0x8, 'soft temperature limit active'],
] as const;

/**
 * The conditions a device is in at `now`, sorted by key. Pure: the same input gives the same
 * set. A revoked device, or one that never sent a heartbeat, has none.
 */
export function evaluate(input: AlertInput, thresholds = DEFAULT_THRESHOLDS): Condition[] {
  const { device, now } = input;
  const hb = device.lastHeartbeat;
  if (device.revoked || device.lastSeen === undefined || !hb) return [];
  const found: Condition[] = [];
  const add = (key: string, severity: Severity, summary: string) =>
    found.push({ key, severity, summary });

  const silentMs = now - device.lastSeen;
  if (silentMs > thresholds.offlineAfterMs) {
    add('offline', 'critical', `no heartbeat for ${Math.round(silentMs / 1000)} s`);
  }
  const m = hb.metrics ?? {};
  if (m.temperature !== undefined && m.temperature >= thresholds.temperatureC) {
    add(
      'temperature',
      'warning',
      `SoC temperature ${m.temperature} °C (alert at ${thresholds.temperatureC} °C)`,
    );
  }
  if (m.throttled !== undefined) {
    if (m.throttled & 0x1)
      add('under-voltage', 'critical', 'under-voltage now (check the power supply)');
    const active = THROTTLING.filter(([bit]) => m.throttled! & bit).map(([, text]) => text);
    if (active.length > 0) add('throttled', 'warning', `${active.join(', ')} now`);
  }
  if (m.disk !== undefined && m.disk >= thresholds.diskRatio) {
    add(
      'disk:/',
      'warning',
      `root filesystem ${Math.round(m.disk * 100)} % full (alert at ${Math.round(thresholds.diskRatio * 100)} %)`,
    );
  }
  if (hb.health?.readOnlyRoot) {
    add('read-only-root', 'critical', 'root filesystem is read-only (failing SD card?)');
  }

  const rose = new Set(input.restarts?.heartbeatAt === hb.receivedAt ? input.restarts.rose : []);
  const serviceUnits = new Set<string>();
  for (const s of hb.services ?? []) {
    if (s.kind !== 'service') continue;
    const id = `${s.app}/${s.name}`;
    serviceUnits.add(`piot-${s.app}-${s.name}.service`);
    const state = s.sub ? `${s.state} (${s.sub})` : s.state;
    if (s.state !== 'active' && s.state !== 'reloading') {
      add(
        `service:${id}`,
        s.state === 'failed' ? 'critical' : 'warning',
        `service ${id} is ${state}`,
      );
    } else if (rose.has(id)) {
      add(`service:${id}`, 'warning', `service ${id} restarted (${s.restarts ?? '?'} restarts)`);
    }
  }
  for (const unit of hb.health?.failedUnits ?? []) {
    if (!serviceUnits.has(unit)) add(`unit:${unit}`, 'warning', `systemd unit ${unit} failed`);
  }

  const seenJobs = new Set<string>();
  for (const run of input.jobRuns) {
    const id = `${run.app}/${run.job}`;
    if (seenJobs.has(id)) continue;
    seenJobs.add(id);
    if (run.status !== 'succeeded') {
      add(`job:${id}`, 'warning', `job ${id} ${JOB_FAILED[run.status]} (run of ${run.start})`);
    }
  }

  const deploy = newestDeployOutcome([
    ...(hb.deploy?.lastDeploy ? [hb.deploy.lastDeploy] : []),
    ...input.deployEvents,
  ]);
  if (deploy && FAILED_DEPLOY.has(deploy.kind)) {
    const reason = deploy.reason ? `: ${deploy.reason.slice(0, 300)}` : '';
    add('deploy', 'warning', `deploy of ${deploy.commit.slice(0, 12)} ${deploy.kind}${reason}`);
  }
  return found.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

/** The newest deploy event that is an outcome (succeeded or a failure), by its time. */
function newestDeployOutcome(events: readonly DeployEventRecord[]): DeployEventRecord | undefined {
  let newest: DeployEventRecord | undefined;
  for (const e of events) {
    if (e.kind !== 'succeeded' && !FAILED_DEPLOY.has(e.kind)) continue;
    if (!newest || e.at > newest.at) newest = e;
  }
  return newest;
}
